// Kernel route programming against the reference, in one run (DESIGN §4: ≤ 1.3 × `ip -batch`).
// In a namespace of its own (prefix tbrt<6 hex>-, deleted in finally): for N /32 routes to one device,
//   ip -batch    one `ip -batch -` of N `route add` lines (text built beforehand)
//   RouteTable   setDesired(N routes) + apply() on an empty table (includes reading the kernel's empty table)
// then, with the N routes in place: one route changed (set + apply, and setDesired of all N + apply), and a periodic
// resync (read back the kernel + apply, nothing to write). Medians of ROUNDS runs, reference and RouteTable
// alternating; prints numbers, asserts nothing.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import {
  FELIX_ROUTE_PROTOCOL,
  formatOp,
  MAIN_TABLE,
  parseRouteListing,
  type RouteOp,
  type RouteSpec,
  RouteState,
  RouteTable,
} from '../felix/routes';
import { registerEmergencyCleanup, run } from '../test/harness/exec';
import { median } from './support/report';

const SIZES = [10_000, 100_000];
const ROUNDS = 5;
const DEVICE = 'rt0';

/** Route i: a /32 in the pool 10.64.0.0/14 (inside the namespace only). */
function destination(i: number): string {
  return `10.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`;
}

async function timed(work: () => Promise<unknown> | unknown): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

/** Garbage-collection pauses of this process, as [start, end] in performance.now() time. */
const gcPauses: [number, number][] = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcPauses.push([entry.startTime, entry.startTime + entry.duration]);
}).observe({ entryTypes: ['gc'] });

/** Time spent in garbage collection between `from` and `to` (entries arrive asynchronously: ask after a tick). */
function gcMsBetween(from: number, to: number): number {
  let total = 0;
  for (const [start, end] of gcPauses) total += Math.max(0, Math.min(end, to) - Math.max(start, from));
  return total;
}

const CLOCK_TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK']).stdout.toString().trim()) || 100;

/**
 * CPU time used so far by this process and its finished children (ip), in ms. The machine may be shared: wall time
 * then depends on what else runs, CPU time much less.
 */
function cpuMs(): number {
  const own = process.cpuUsage();
  // /proc/self/stat fields 16 and 17: cutime and cstime, in clock ticks; counted from after the command name.
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const children = (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS_PER_SECOND;
  return (own.user + own.system) / 1000 + children * 1000;
}

/** A device to route through: dummy where the module exists, else a veth pair (both ends up, so carrier is on). */
async function addDevice(ns: string): Promise<string> {
  const dummy = await run('ip', ['-n', ns, 'link', 'add', DEVICE, 'type', 'dummy'], { allowFail: true });
  if (dummy.code === 0) {
    await run('ip', ['-n', ns, 'link', 'set', DEVICE, 'up']);
    return 'dummy';
  }
  await run('ip', ['-n', ns, 'link', 'add', DEVICE, 'type', 'veth', 'peer', 'name', `${DEVICE}p`]);
  await run('ip', ['-n', ns, 'link', 'set', DEVICE, 'up']);
  await run('ip', ['-n', ns, 'link', 'set', `${DEVICE}p`, 'up']);
  return 'veth (no dummy module)';
}

async function countRoutes(ns: string): Promise<number> {
  const { stdout } = await run('ip', ['-n', ns, '-4', 'route', 'show', 'proto', String(FELIX_ROUTE_PROTOCOL)]);
  return stdout.split('\n').filter((line) => line !== '').length;
}

async function flush(ns: string): Promise<void> {
  await run('ip', ['-n', ns, '-4', 'route', 'flush', 'proto', String(FELIX_ROUTE_PROTOCOL)]);
}

interface Sample {
  reference: number;
  referenceCpu: number;
  full: number;
  fullCpu: number;
  fullGc: number;
  setDesired: number;
  fullRead: number;
  fullDiff: number;
  fullWrite: number;
  setOne: number;
  setDesiredOne: number;
  resync: number;
  resyncRead: number;
}

/** The inputs of both sides, built once per N: the reference's batch text and RouteTable's route list. */
interface Workload {
  n: number;
  specs: RouteSpec[];
  referenceText: string;
}

function workload(n: number): Workload {
  const specs: RouteSpec[] = [];
  for (let i = 0; i < n; i++) specs.push({ dst: destination(i), dev: DEVICE });
  const referenceText = specs.map((s) => `route add ${s.dst} dev ${DEVICE} proto ${FELIX_ROUTE_PROTOCOL}\n`).join('');
  return { n, specs, referenceText };
}

async function measure(ns: string, { n, specs, referenceText }: Workload): Promise<Sample> {
  let cpuStarted = cpuMs();
  const reference = await timed(() =>
    run('ip', ['-n', ns, '-batch', '-'], { input: referenceText, timeoutMs: 300_000 }),
  );
  const referenceCpu = cpuMs() - cpuStarted;
  if ((await countRoutes(ns)) !== n) throw new Error('reference batch did not install every route');
  await flush(ns);

  const table = new RouteTable({ protocol: FELIX_ROUTE_PROTOCOL, netns: ns });
  let fullResult = { readMs: 0, diffMs: 0, writeMs: 0, added: 0 };
  cpuStarted = cpuMs();
  const fullStarted = performance.now();
  const setDesired = await timed(() => table.setDesired(specs));
  const full =
    setDesired +
    (await timed(async () => {
      fullResult = await table.apply();
    }));
  const fullCpu = cpuMs() - cpuStarted;
  await new Promise((resolve) => setImmediate(resolve));
  const fullGc = gcMsBetween(fullStarted, fullStarted + full);
  if (fullResult.added !== n || (await countRoutes(ns)) !== n)
    throw new Error('RouteTable did not install every route');

  const setOne = await timed(async () => {
    table.set({ dst: destination(7), dev: DEVICE, mtu: 1400 });
    const result = await table.apply();
    if (result.replaced !== 1) throw new Error('one changed route: expected one replace');
  });
  const changed = specs.slice();
  changed[7] = { dst: destination(7), dev: DEVICE, mtu: 1300 };
  const setDesiredOne = await timed(async () => {
    table.setDesired(changed);
    const result = await table.apply();
    if (result.replaced !== 1) throw new Error('setDesired with one change: expected one replace');
  });

  let resyncRead = 0;
  const resync = await timed(async () => {
    resyncRead = await timed(() => table.resync());
    const result = await table.apply();
    if (result.added + result.replaced + result.deleted !== 0) throw new Error('resync found drift where none was');
  });
  await flush(ns);
  return {
    reference,
    referenceCpu,
    full,
    fullCpu,
    fullGc,
    setDesired,
    fullRead: fullResult.readMs,
    fullDiff: fullResult.diffMs,
    fullWrite: fullResult.writeMs,
    setOne,
    setDesiredOne,
    resync,
    resyncRead,
  };
}

/** The in-process parts of a full apply, alone: canonicalising, diffing, formatting the batch, parsing a listing. */
function cpuBreakdown(n: number): string {
  const specs: RouteSpec[] = [];
  for (let i = 0; i < n; i++) specs.push({ dst: destination(i), dev: DEVICE });
  const time = (work: () => void) => {
    const started = performance.now();
    work();
    return performance.now() - started;
  };
  const state = new RouteState(FELIX_ROUTE_PROTOCOL, new Set([FELIX_ROUTE_PROTOCOL]));
  const canonicalise = time(() => state.setDesired(specs));
  state.loadKernel([]);
  let ops: RouteOp[] = [];
  const diff = time(() => {
    ops = [...state.diff()];
  });
  let bytes = 0;
  // In 64 KiB pieces, as the ip backend hands them over.
  const format = time(() => {
    let text = '';
    for (const op of ops) {
      text += formatOp(op, MAIN_TABLE);
      if (text.length >= 64 * 1024) {
        bytes += Buffer.from(text).length;
        text = '';
      }
    }
    bytes += Buffer.from(text).length;
  });
  const settle = time(() => state.settle(new Map()));
  const routes = ops.map((op) => op.route);
  const listing = JSON.stringify(routes.map((r) => ({ dst: r.dst.slice(0, -3), dev: r.dev, scope: '253', flags: [] })));
  const parse = time(() => parseRouteListing(listing, FELIX_ROUTE_PROTOCOL));
  return [
    `setDesired ${canonicalise.toFixed(1)} ms`,
    `diff ${diff.toFixed(1)} ms`,
    `batch text ${format.toFixed(1)} ms (${(bytes / 1e6).toFixed(1)} MB)`,
    `settle ${settle.toFixed(1)} ms`,
    `parse listing ${parse.toFixed(1)} ms (${(listing.length / 1e6).toFixed(1)} MB)`,
  ].join(', ');
}

async function main(): Promise<void> {
  const ns = `tbrt${randomBytes(3).toString('hex')}-bench`;
  const removeNamespace = () => run('ip', ['netns', 'delete', ns], { allowFail: true });
  const unregister = registerEmergencyCleanup(() => spawnSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' }));
  try {
    await run('ip', ['netns', 'add', ns]);
    const device = await addDevice(ns);
    const load = os.loadavg()[0].toFixed(2);
    console.log(
      `kernel routes: /32 routes to one ${device} device in namespace ${ns}; median of ${ROUNDS} rounds after one warm-up round; ` +
        `${os.cpus().length} CPUs, load average ${load} at the start`,
    );
    const ms = (value: number) => `${value.toFixed(1)} ms`;
    for (const n of SIZES) {
      const samples: Sample[] = [];
      const inputs = workload(n);
      // A long-running node has its code compiled: the first round (JIT warm-up) is not counted.
      await measure(ns, inputs);
      for (let round = 0; round < ROUNDS; round++) samples.push(await measure(ns, inputs));
      const m = (key: keyof Sample) => median(samples.map((sample) => sample[key]));
      const best = (key: keyof Sample) => Math.min(...samples.map((sample) => sample[key]));
      const ratio = (of: (key: keyof Sample) => number, key: keyof Sample, reference: keyof Sample) =>
        `${(of(key) / of(reference)).toFixed(2)}x`;
      console.log(`N = ${n}`);
      console.log(
        `  full apply: ip -batch ${ms(m('reference'))}, RouteTable ${ms(m('full'))} ` +
          `(setDesired ${ms(m('setDesired'))}, read ${ms(m('fullRead'))}, diff ${ms(m('fullDiff'))}, ` +
          `write ${ms(m('fullWrite'))}; GC pauses ${ms(m('fullGc'))}): ratio ${ratio(m, 'full', 'reference')} ` +
          `(best of each: ${ratio(best, 'full', 'reference')}); ` +
          `CPU ${ms(m('referenceCpu'))} vs ${ms(m('fullCpu'))}: ${ratio(m, 'fullCpu', 'referenceCpu')}`,
      );
      console.log(
        `  one route changed: set + apply ${ms(m('setOne'))}; setDesired(all ${n}) + apply ${ms(m('setDesiredOne'))}`,
      );
      console.log(`  resync + apply (nothing to write): ${ms(m('resync'))}, of which reading ${ms(m('resyncRead'))}`);
      console.log(`  in-process parts alone: ${cpuBreakdown(n)}`);
    }
    console.log('goal: RouteTable ≤ 1.3 × ip -batch; one changed route in milliseconds');
  } finally {
    await removeNamespace();
    unregister();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
