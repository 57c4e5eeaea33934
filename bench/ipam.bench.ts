// IPAM allocation throughput against a single client's sequential etcd write rate, in one run against one fresh
// real etcd (DESIGN §4: 16 concurrent CNI ADDs on one node ≥ 2 × that rate, never a duplicate address).
//
//   etcd    one client (EtcdBackend.kvCommit, the call and transaction shape the allocator commits with): N
//           sequential guarded creates of one 500-byte value. The reference rate. Also with 16 loops on that
//           client, for context (etcd puts concurrent proposals into one WAL fsync).
//   socket  the node allocator (support/ipam-node: an IpamService behind ipam.sock, in its own process); C loops,
//           each doing sequential POST /v1/assign until N allocations in all.
//   direct  an IpamService in this process, C loops calling assign(): what batching gives without the socket.
//   cni     C loops, each spawning dist/cni-bin/tabby-ipam ADD (which asks the node allocator on its socket), and
//           the same with the reference host-local plugin (its own range and data dir), with a smaller N.
// One pool (10.128.0.0/12, /26 blocks) created beforehand. Each path runs one uncounted warm-up round (it claims
// the node's blocks and compiles the code: a long-running node has both), then --rounds rounds per concurrency;
// each row is the round with the median rate. After every round the N addresses must be distinct and, for tabby,
// be what etcd holds for their handles, or the bench fails; then everything is released (not timed). Besides the
// rate, each round counts etcd's WAL fsyncs (its /metrics), CPU time per process (/proc), and the allocator's
// batches and datastore calls. Asserts no goal: prints the ratios.
//
//   node dist/bench/ipam.bench.js [--allocations 1000] [--cni-allocations 200] [--rounds 3] [--concurrency 1,16]
//                                 [--cpu-prof DIR]
// --cpu-prof runs the node allocator under `node --cpu-prof` (profile in DIR) and prints its top self-time
// functions during the socket path's median round at the highest concurrency.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { type Backend, kindByAlias, openBackend, ResourceClient } from '../datastore';
import { type Assigned, allocationsIn, IpamService, readIpamSnapshot } from '../ipam';
import { IPAM_SOCKET } from '../node/ipam-server';
import { callUnix } from '../node/unix-http';
import { type EtcdHandle, type ProcessHandle, run, spawnProcess, startEtcd } from '../test/harness';
import { registerEmergencyCleanup } from '../test/harness/exec';
import { type CpuProfile, type TimeWindow, topSelfTime } from './support/cpu-profile';
import { type AllocatorCounters, countersBetween, countingBackend, STATS_SOCKET } from './support/ipam-stats';
import { machine, markdownTable, monotonicUs, positiveInteger, ratio } from './support/report';

const IPAM_NODE_JS = path.join(__dirname, 'support', 'ipam-node.js');
const CNI_BIN = path.join(__dirname, '..', 'cni-bin');
const TABBY_IPAM = path.join(CNI_BIN, 'tabby-ipam');
const REFERENCE_CNI_BIN = '/usr/lib/cni';
const HOST_LOCAL = path.join(REFERENCE_CNI_BIN, 'host-local');

const POOL = { name: 'bench-pool', cidr: '10.128.0.0/12', blockSize: 26 };
const HOST_LOCAL_SUBNET = '10.200.0.0/16';
const SOCKET_NODE = 'bench-node';
/** The direct path's allocator is another node, so neither path finds the other's writes in its block cache. */
const DIRECT_NODE = 'bench-direct';
const NETWORK = 'benchnet';
const PUT_VALUE = JSON.stringify({ filler: 'x'.repeat(500 - 13) });
const PUT_PREFIX = '/tabby-bench/put/';
/** Releases are not what is measured: they run this many at a time. */
const RELEASE_CONCURRENCY = 16;
const NODE_READY_TIMEOUT_MS = 10_000;
const PROFILE_TOP = 20;
const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

const ETCD_PATH = 'etcd kvCommit';
const SOCKET_PATH = 'socket';
const DIRECT_PATH = 'direct';
const TABBY_CNI_PATH = 'cni tabby-ipam';
const HOST_LOCAL_PATH = 'cni host-local';

interface Options {
  allocations: number;
  cniAllocations: number;
  rounds: number;
  concurrency: number[];
  cpuProfileDir: string | undefined;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      allocations: { type: 'string', default: '1000' },
      'cni-allocations': { type: 'string', default: '200' },
      rounds: { type: 'string', default: '3' },
      concurrency: { type: 'string', default: '1,16' },
      'cpu-prof': { type: 'string' },
    },
  });
  return {
    allocations: positiveInteger('allocations', values.allocations),
    cniAllocations: positiveInteger('cni-allocations', values['cni-allocations']),
    rounds: positiveInteger('rounds', values.rounds),
    concurrency: values.concurrency.split(',').map((c) => positiveInteger('concurrency', c)),
    cpuProfileDir: values['cpu-prof'] && path.resolve(values['cpu-prof']),
  };
}

/** What a round's measurement window sees besides the time: etcd, the node allocator, the allocator's counters. */
interface Probes {
  etcd: EtcdHandle;
  /** The node allocator process, on the paths that go through it. */
  nodePid?: number;
  /** The allocator's counters, on the paths that have an IpamService. */
  counters?: () => Promise<AllocatorCounters>;
}

/** What one round of one path measured. */
interface Round {
  operations: number;
  ms: number;
  latenciesMs: number[];
  /** WAL fsyncs etcd did in the round (its /metrics). */
  walFsyncs: number;
  /** CPU time in the round: the node allocator's, etcd's, and this process's with the plugins it ran. */
  cpuMs: { node?: number; etcd: number; bench: number };
  counters?: AllocatorCounters;
  span: TimeWindow;
}

interface Row {
  /** Which path: ETCD_PATH, SOCKET_PATH, ... */
  route: string;
  concurrency: number;
  round: Round;
}

function perSecond(round: Round): number {
  return round.operations / (round.ms / 1000);
}

function percentile(values: number[], share: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * share))]!;
}

/** The round with the median rate (the rates of all rounds are printed as they run). */
function medianRound(rounds: Round[]): Round {
  return [...rounds].sort((a, b) => perSecond(a) - perSecond(b))[Math.floor(rounds.length / 2)]!;
}

/** CPU time a process has used so far, in ms; with its waited-for children (the CNI plugins this bench ran). */
function cpuMsOf(pid: number, withChildren = false): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // After the command name: field 3 (state) is index 0, so utime, stime, cutime, cstime are indexes 11–14.
  const fields = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  const ticks = fields[11]! + fields[12]! + (withChildren ? fields[13]! + fields[14]! : 0);
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

/** etcd's WAL fsync count so far, from its Prometheus metrics on the client URL. */
async function walFsyncs(etcd: EtcdHandle): Promise<number> {
  const text = await (await fetch(`${etcd.endpoints[0]}/metrics`)).text();
  const match = /^etcd_disk_wal_fsync_duration_seconds_count (\d+)$/m.exec(text);
  if (!match) throw new Error(`${etcd.endpoints[0]}/metrics: no etcd_disk_wal_fsync_duration_seconds_count`);
  return Number(match[1]);
}

/**
 * Runs `total` operations as `concurrency` loops, each starting its next operation when its previous one has
 * finished, and measures the whole. Returns each operation's result (by index) and the round.
 */
async function timedLoops<T>(
  probes: Probes,
  total: number,
  concurrency: number,
  operation: (index: number) => Promise<T>,
): Promise<{ results: T[]; round: Round }> {
  const results: T[] = new Array(total);
  const latenciesMs: number[] = new Array(total);
  let next = 0;
  const loop = async () => {
    for (let i = next++; i < total; i = next++) {
      const started = performance.now();
      results[i] = await operation(i);
      latenciesMs[i] = performance.now() - started;
    }
  };
  const reading = async () => ({
    fsyncs: await walFsyncs(probes.etcd),
    counters: await probes.counters?.(),
    node: probes.nodePid === undefined ? undefined : cpuMsOf(probes.nodePid),
    etcd: cpuMsOf(probes.etcd.process.pid),
    bench: cpuMsOf(process.pid, true),
  });
  const before = await reading();
  const fromUs = monotonicUs();
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, loop));
  const ms = performance.now() - started;
  const toUs = monotonicUs();
  const after = await reading();
  const round: Round = {
    operations: total,
    ms,
    latenciesMs,
    walFsyncs: after.fsyncs - before.fsyncs,
    cpuMs: {
      ...(after.node !== undefined ? { node: after.node - before.node! } : {}),
      etcd: after.etcd - before.etcd,
      bench: after.bench - before.bench,
    },
    ...(after.counters ? { counters: countersBetween(before.counters!, after.counters) } : {}),
    span: { fromUs, toUs },
  };
  return { results, round };
}

/** Fails the bench, loudly, when two operations got one address. */
function assertDistinct(what: string, addresses: string[]): void {
  const holders = new Map<string, number[]>();
  addresses.forEach((address, i) => {
    holders.set(address, [...(holders.get(address) ?? []), i]);
  });
  const duplicates = [...holders.entries()].filter(([, indexes]) => indexes.length > 1);
  if (duplicates.length > 0) {
    const sample = duplicates.slice(0, 10).map(([address, indexes]) => `${address} (operations ${indexes.join(', ')})`);
    throw new Error(
      `DUPLICATE ADDRESSES in ${what}: ${duplicates.length} addresses handed out more than once: ${sample.join('; ')}`,
    );
  }
}

/** Fails the bench when etcd does not hold exactly `addresses[i]` for `handles[i]`. */
async function assertStored(what: string, store: Backend, handles: string[], addresses: string[]): Promise<void> {
  const stored = new Map<string, string[]>();
  for (const a of allocationsIn(await readIpamSnapshot(store))) {
    if (a.handle !== null) stored.set(a.handle, [...(stored.get(a.handle) ?? []), a.address]);
  }
  const wrong = handles.flatMap((h, i) =>
    stored.get(h)?.length === 1 && stored.get(h)![0] === addresses[i]
      ? []
      : [`${h}: got ${addresses[i]}, etcd has ${stored.get(h)?.join(', ') ?? 'nothing'}`],
  );
  if (wrong.length > 0) {
    throw new Error(`${what}: ${wrong.length} handles do not hold in etcd what they were given: ${wrong.slice(0, 5)}`);
  }
}

/** One round of allocations through `assign`: timed, checked against etcd, then released. */
async function allocationRound(
  what: string,
  probes: Probes,
  store: Backend,
  handles: string[],
  concurrency: number,
  assign: (handleId: string) => Promise<string>,
  release: (handleId: string) => Promise<unknown>,
): Promise<Round> {
  const { results, round } = await timedLoops(probes, handles.length, concurrency, (i) => assign(handles[i]!));
  assertDistinct(what, results);
  await assertStored(what, store, handles, results);
  await Promise.all(
    Array.from({ length: RELEASE_CONCURRENCY }, async (_, loop) => {
      for (let i = loop; i < handles.length; i += RELEASE_CONCURRENCY) await release(handles[i]!);
    }),
  );
  return round;
}

/** Names unique per path, round and concurrency, so no round can find another's leftovers. */
function names(route: string, round: string, concurrency: number, count: number): string[] {
  const slug = route.replace(/\W+/g, '-');
  return Array.from({ length: count }, (_, i) => `${slug}-${round}-c${concurrency}-${i}`);
}

/**
 * Runs a path's warm-up round, then `rounds` rounds per concurrency; prints each round's rate as it goes and
 * returns the median round per concurrency.
 */
async function measurePath(
  route: string,
  options: Options,
  operations: number,
  body: (ids: string[], round: string, concurrency: number) => Promise<Round>,
): Promise<Row[]> {
  const highest = Math.max(...options.concurrency);
  await body(names(route, 'warmup', highest, operations), 'warmup', highest);
  const rows: Row[] = [];
  for (const concurrency of options.concurrency) {
    const rounds: Round[] = [];
    for (let r = 0; r < options.rounds; r++) {
      rounds.push(await body(names(route, `r${r}`, concurrency, operations), `r${r}`, concurrency));
    }
    console.log(`  ${route} c${concurrency}: ${rounds.map((r) => perSecond(r).toFixed(0)).join(', ')} per s`);
    rows.push({ route, concurrency, round: medianRound(rounds) });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------------------------
// The paths.

/** Everything a path needs: etcd, a client of it, the node allocator and its run dir, scratch space. */
interface Bench {
  options: Options;
  etcd: EtcdHandle;
  store: Backend;
  node: ProcessHandle;
  runDir: string;
  scratch: string;
}

function measureEtcdPuts({ options, etcd, store }: Bench): Promise<Row[]> {
  return measurePath(ETCD_PATH, options, options.allocations, async (keys, _round, concurrency) => {
    const { round } = await timedLoops({ etcd }, keys.length, concurrency, async (i) => {
      const key = PUT_PREFIX + keys[i]!;
      const revision = await store.kvCommit([{ key, modRevision: undefined }], [{ key, value: PUT_VALUE }]);
      if (revision === undefined) throw new Error(`etcd put of ${key}: the key already existed`);
    });
    return round;
  });
}

async function socketCall(runDir: string, route: string, handleId: string): Promise<Record<string, unknown>> {
  const reply = await callUnix(path.join(runDir, IPAM_SOCKET), 'POST', route, { handleId }, 30_000);
  if (reply.status !== 200) throw new Error(`POST ${route} ${handleId}: ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body as Record<string, unknown>;
}

/** The probes of the paths that go through the node allocator. */
function nodeProbes({ etcd, node, runDir }: Bench): Probes {
  const counters = async () =>
    (await callUnix(path.join(runDir, STATS_SOCKET), 'GET', '/stats')).body as AllocatorCounters;
  return { etcd, nodePid: node.pid, counters };
}

function measureSocket(bench: Bench): Promise<Row[]> {
  const { options, store, runDir } = bench;
  return measurePath(SOCKET_PATH, options, options.allocations, (ids, round, concurrency) =>
    allocationRound(
      `${SOCKET_PATH} ${round} c${concurrency}`,
      nodeProbes(bench),
      store,
      ids.map((id) => `${NETWORK}.${id}`),
      concurrency,
      async (handleId) => ((await socketCall(runDir, '/v1/assign', handleId)) as unknown as Assigned).address,
      (handleId) => socketCall(runDir, '/v1/release', handleId),
    ),
  );
}

function measureDirect({ options, etcd, store }: Bench): Promise<Row[]> {
  const counted = countingBackend(store);
  const service = new IpamService(counted.backend, DIRECT_NODE);
  const counters = async () => ({ ...service.stats, calls: { ...counted.calls } });
  return measurePath(DIRECT_PATH, options, options.allocations, (ids, round, concurrency) =>
    allocationRound(
      `${DIRECT_PATH} ${round} c${concurrency}`,
      { etcd, counters },
      store,
      ids.map((id) => `${NETWORK}.${id}`),
      concurrency,
      async (handleId) => (await service.assign({ handleId })).address,
      (handleId) => service.release(handleId),
    ),
  );
}

/** One CNI ADD as a runtime makes it: the plugin's executable, CNI_* variables, the network config on stdin. */
async function cniAdd(plugin: string, cniPath: string, containerId: string, config: object): Promise<string> {
  const env = {
    PATH: process.env.PATH,
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: containerId,
    CNI_NETNS: '/dev/null',
    CNI_IFNAME: 'eth0',
    CNI_PATH: cniPath,
  };
  const { stdout, stderr, code } = await run(plugin, [], { input: JSON.stringify(config), env, allowFail: true });
  let address: string | undefined;
  try {
    address = (JSON.parse(stdout) as { ips?: { address?: string }[] }).ips?.[0]?.address?.split('/')[0];
  } catch {
    // Reported below with the output.
  }
  if (code !== 0 || !address) throw new Error(`${plugin} ADD ${containerId}: exit ${code}: ${stdout} ${stderr}`);
  return address;
}

function measureTabbyCni(bench: Bench): Promise<Row[]> {
  const { options, store, runDir } = bench;
  const config = { cniVersion: '1.0.0', name: NETWORK, type: 'tabby', run_dir: runDir, ipam: { type: 'tabby-ipam' } };
  return measurePath(TABBY_CNI_PATH, options, options.cniAllocations, (ids, round, concurrency) => {
    // The plugin's handle for a container: `<network name>.<container id>`.
    const containerOf = new Map(ids.map((id) => [`${NETWORK}.${id}`, id]));
    return allocationRound(
      `${TABBY_CNI_PATH} ${round} c${concurrency}`,
      nodeProbes(bench),
      store,
      [...containerOf.keys()],
      concurrency,
      (handleId) => cniAdd(TABBY_IPAM, CNI_BIN, containerOf.get(handleId)!, config),
      (handleId) => socketCall(runDir, '/v1/release', handleId),
    );
  });
}

function measureHostLocal({ options, etcd, scratch }: Bench): Promise<Row[]> {
  return measurePath(HOST_LOCAL_PATH, options, options.cniAllocations, async (ids, round, concurrency) => {
    const dataDir = fs.mkdtempSync(path.join(scratch, `host-local-${round}-c${concurrency}-`));
    const config = {
      cniVersion: '1.0.0',
      name: NETWORK,
      type: 'bridge',
      ipam: { type: 'host-local', ranges: [[{ subnet: HOST_LOCAL_SUBNET }]], dataDir },
    };
    const { results, round: measured } = await timedLoops({ etcd }, ids.length, concurrency, (i) =>
      cniAdd(HOST_LOCAL, REFERENCE_CNI_BIN, ids[i]!, config),
    );
    assertDistinct(`${HOST_LOCAL_PATH} ${round} c${concurrency}`, results);
    // Its allocations are files in its data dir: removing the dir releases them all.
    fs.rmSync(dataDir, { recursive: true, force: true });
    return measured;
  });
}

const PARTS: [string, (bench: Bench) => Promise<Row[]>][] = [
  ['etcd: one client, guarded puts (EtcdBackend.kvCommit, 500-byte value)', measureEtcdPuts],
  ['socket: the node allocator process, clients on its ipam.sock', measureSocket],
  ['direct: an IpamService in this process, no socket', measureDirect],
  [
    'cni: one plugin process per ADD',
    async (bench) => [...(await measureTabbyCni(bench)), ...(await measureHostLocal(bench))],
  ],
];

// ---------------------------------------------------------------------------------------------------------------
// Setup, report, teardown.

async function startNodeAllocator(etcd: EtcdHandle, runDir: string, cpuProfileDir: string | undefined) {
  const profiling = cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfileDir}`] : [];
  const node = await spawnProcess(process.execPath, [
    ...profiling,
    IPAM_NODE_JS,
    '--etcd-endpoints',
    etcd.endpoints.join(','),
    '--run-dir',
    runDir,
    '--node',
    SOCKET_NODE,
  ]);
  const deadline = Date.now() + NODE_READY_TIMEOUT_MS;
  while (!/^ready$/m.test(node.output())) {
    if (!node.running) throw new Error(`${node.commandLine}: exited: ${node.output()}`);
    if (Date.now() > deadline) throw new Error(`${node.commandLine}: not ready within ${NODE_READY_TIMEOUT_MS} ms`);
    await sleep(20);
  }
  return node;
}

async function createPool(store: Backend): Promise<void> {
  await new ResourceClient(store).create({
    apiVersion: 'projectcalico.org/v3',
    kind: 'IPPool',
    metadata: { name: POOL.name },
    spec: { cidr: POOL.cidr, blockSize: POOL.blockSize, ipipMode: 'Never', natOutgoing: true },
  });
  if ((await store.list(kindByAlias('ippool')!)).items.length !== 1) throw new Error('the bench pool was not created');
}

const HEADER = [
  'path',
  'concurrency',
  'N',
  'per s',
  'p50 ms',
  'p99 ms',
  'WAL fsyncs',
  'batches',
  'requests/batch',
  'etcd calls/batch',
  'CPU ms/op node',
  'CPU ms/op etcd',
  'CPU ms/op bench',
];

function formatRow({ route, concurrency, round }: Row): string[] {
  const { counters, cpuMs, operations } = round;
  const etcdCalls =
    counters && Object.entries(counters.calls).reduce((sum, [c, n]) => sum + (c === 'close' ? 0 : n), 0);
  const perBatch = (n: number | undefined) =>
    counters?.batches && n !== undefined ? (n / counters.batches).toFixed(2) : '–';
  const perOperation = (ms: number | undefined) => (ms === undefined ? '–' : (ms / operations).toFixed(2));
  return [
    route,
    String(concurrency),
    operations.toLocaleString('en'),
    perSecond(round).toFixed(0),
    percentile(round.latenciesMs, 0.5).toFixed(2),
    percentile(round.latenciesMs, 0.99).toFixed(2),
    String(round.walFsyncs),
    counters ? String(counters.batches) : '–',
    perBatch(counters?.requests),
    perBatch(etcdCalls),
    perOperation(cpuMs.node),
    perOperation(cpuMs.etcd),
    perOperation(cpuMs.bench),
  ];
}

function findRow(rows: Row[], route: string, concurrency: number): Row | undefined {
  return rows.find((r) => r.route === route && r.concurrency === concurrency);
}

function summary(rows: Row[], concurrency: number): string {
  const rate = (route: string, c: number) => {
    const row = findRow(rows, route, c);
    return row && perSecond(row.round);
  };
  const putRate = rate(ETCD_PATH, 1);
  const cells: [string, string][] = [
    ['etcd puts/s (1 client)', putRate?.toFixed(0) ?? 'n/a'],
    [`socket c${concurrency} / etcd (goal ≥ 2)`, ratio(rate(SOCKET_PATH, concurrency), putRate)],
    [`direct c${concurrency} / etcd`, ratio(rate(DIRECT_PATH, concurrency), putRate)],
    [`socket c${concurrency} / socket c1`, ratio(rate(SOCKET_PATH, concurrency), rate(SOCKET_PATH, 1))],
    [`CNI tabby-ipam c${concurrency} / etcd`, ratio(rate(TABBY_CNI_PATH, concurrency), putRate)],
    [
      `CNI tabby-ipam / host-local, c${concurrency}`,
      ratio(rate(TABBY_CNI_PATH, concurrency), rate(HOST_LOCAL_PATH, concurrency)),
    ],
  ];
  return markdownTable(
    cells.map(([name]) => name),
    [cells.map(([, value]) => value)],
  );
}

/** Prints the node allocator's top self-time functions during `window`. */
function printProfile(dir: string, what: string, window: TimeWindow): void {
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')) : [];
  if (files.length === 0) {
    console.log(`(no CPU profile in ${dir})`);
    return;
  }
  const file = path.join(dir, files[0]!);
  const { busyMs, top } = topSelfTime(JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile, PROFILE_TOP, window);
  const seconds = (window.toUs - window.fromUs) / 1e6;
  console.log(
    `\nnode allocator CPU profile, ${what}: ${(busyMs / 1000).toFixed(2)} s busy in ${seconds.toFixed(2)} s (${file})`,
  );
  for (const row of top) {
    console.log(
      `  ${row.selfMs.toFixed(0).padStart(7)} ms ${(row.busyShare * 100).toFixed(1).padStart(5)} %  ${row.where}`,
    );
  }
}

function fileSystemOf(dir: string): string {
  return execFileSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).trim();
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  for (const file of [TABBY_IPAM, HOST_LOCAL, IPAM_NODE_JS]) {
    if (!fs.existsSync(file))
      throw new Error(`${file} is missing (npm run build; host-local: containernetworking-plugins)`);
  }
  console.log(`IPAM allocation throughput, ${new Date().toISOString()}, ${machine()}`);
  console.log(
    `load average at the start: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'tabby-ipam-bench-'));
  const removeScratch = () => fs.rmSync(scratch, { recursive: true, force: true });
  const unregister = registerEmergencyCleanup(removeScratch);
  const runDir = path.join(scratch, 'run');
  fs.mkdirSync(runDir);
  let etcd: EtcdHandle | undefined;
  let node: ProcessHandle | undefined;
  let store: Backend | undefined;
  try {
    etcd = await startEtcd();
    const version = execFileSync('etcd', ['--version'], { encoding: 'utf8' }).split('\n')[0];
    console.log(
      `${version}, data dir ${etcd.dataDir} (${fileSystemOf(path.dirname(etcd.dataDir))}, fsync on); ` +
        `pool ${POOL.cidr}, /${POOL.blockSize} blocks; N = ${options.allocations} (CNI: ${options.cniAllocations}); ` +
        `median of ${options.rounds} round(s) after a warm-up`,
    );
    store = openBackend({ type: 'etcdv3', etcdEndpoints: etcd.endpoints });
    await createPool(store);
    node = await startNodeAllocator(etcd, runDir, options.cpuProfileDir);
    const bench: Bench = { options, etcd, store, node, runDir, scratch };
    const rows: Row[] = [];
    for (const [title, measure] of PARTS) {
      console.log(`\n${title}`);
      const partRows = await measure(bench);
      console.log(`\n${markdownTable(HEADER, partRows.map(formatRow))}`);
      rows.push(...partRows);
    }
    const highest = Math.max(...options.concurrency);
    console.log(`\nsummary\n\n${summary(rows, highest)}`);
    console.log(
      `\ngoal (DESIGN §4): ${highest} concurrent allocations on one node ≥ 2 × the etcd put rate, no duplicate`,
    );
    await node.stop();
    const profiled = findRow(rows, SOCKET_PATH, highest);
    if (options.cpuProfileDir && profiled) {
      printProfile(options.cpuProfileDir, `${SOCKET_PATH} c${highest} (median round)`, profiled.round.span);
    }
  } finally {
    await node?.stop();
    await store?.close();
    await etcd?.stop();
    removeScratch();
    unregister();
  }
}

main().catch((err: Error) => {
  console.error(`ipam.bench: ${err.stack ?? err.message}`);
  process.exitCode = 1;
});
