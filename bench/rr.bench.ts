// Route reflector: tabby-bgp against BIRD 2 reflecting for N iBGP clients that announce 10 prefixes each
// (DESIGN §4: 500 client sessions × 10 prefixes, all sessions Established and converged no later than BIRD).
//
// Per daemon a topology (removed in finally): one segment, the reflector `rr` on 192.0.2.2 (also 198.51.100.254/24
// and 203.0.113.254/24, so every client is on a connected network) and `clients` with client addresses
// 198.51.100.1–250 and 203.0.113.1–250. All sessions are iBGP in AS 64512; the reflector is passive and has every
// client as a route-reflector client. One process of ours (support/rr-clients) opens all sessions, each from its
// own address; every client announces its 10 /24s (NEXT_HOP = its address) as soon as it is Established, and
// counts the distinct client prefixes reflected to it. Times run from the first connect():
//   established  every session is Established
//   converged    every client holds all (N − 1) × 10 prefixes of the others
// Both are timestamped by the client process itself (no polling). Peak RSS is the reflector's VmHWM. Prints a
// table (markdown, for bench/RESULTS.md) and tabby's ratios to BIRD; asserts nothing.
//
//   node dist/bench/rr.bench.js [--clients 500] [--only tabby,bird] [--timeout 120] [--cpu-prof DIR]
// --cpu-prof runs tabby-bgp under `node --cpu-prof` (profile in DIR) and prints its top self-time functions while
// the clients connect and converge.
import * as fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { type ProcessHandle, type Topology, withTopology } from '../test/harness';
import { type DaemonKind, type DaemonPeer, startDaemon } from './support/bench-daemons';
import { type CpuProfile, type TimeWindow, topSelfTime } from './support/cpu-profile';
import { machine, markdownTable, memoryOf, monotonicUs, now, positiveInteger, ratio } from './support/report';
import { DAEMON_AS } from './support/update-feed';

const CLIENTS_JS = path.join(__dirname, 'support', 'rr-clients.js');
const RR_KINDS: readonly DaemonKind[] = ['tabby', 'bird'];
const RR_ADDRESS = '192.0.2.2';
const CLIENTS_NODE_ADDRESS = '192.0.2.1';
const CLUSTER_ID = '192.0.2.254';
/** The client networks, each shared by the reflector (.254) and up to 250 clients (.1–.250). */
const CLIENT_NETWORKS = ['198.51.100', '203.0.113'];
const CLIENTS_PER_NETWORK = 250;
const REFLECTOR_HOST = 254;
const PROFILE_TOP = 15;
/**
 * Between starting the daemon and the first connect(): BIRD brings its protocols up (and starts accepting) only
 * after its first interface scan, and a refused SYN would cost the clients a 1 s retransmission.
 */
const SETTLE_MS = 1_000;

interface Options {
  clients: number;
  kinds: DaemonKind[];
  timeoutMs: number;
  cpuProfileDir: string | undefined;
}

interface Measurement {
  kind: DaemonKind;
  clients: number;
  /** undefined: not done within the timeout. */
  establishedMs: number | undefined;
  convergedMs: number | undefined;
  peakRssBytes: number;
  /** The clients' last progress line when they did not converge in time. */
  progress: string | undefined;
  /** Why the clients ended early, when a session failed. */
  failure: string | undefined;
}

/** The monotonic clock CPU profiles are stamped with, in µs. */

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      clients: { type: 'string', default: '500' },
      only: { type: 'string', default: RR_KINDS.join(',') },
      timeout: { type: 'string', default: '120' },
      'cpu-prof': { type: 'string' },
    },
  });
  const clients = positiveInteger('clients', values.clients);
  const maxClients = CLIENT_NETWORKS.length * CLIENTS_PER_NETWORK;
  if (clients < 2 || clients > maxClients) throw new Error(`--clients: from 2 to ${maxClients}`);
  const kinds = values.only.split(',').map((kind) => {
    if (!RR_KINDS.includes(kind as DaemonKind)) throw new Error(`--only: "${kind}" is not one of ${RR_KINDS}`);
    return kind as DaemonKind;
  });
  return {
    clients,
    kinds,
    timeoutMs: positiveInteger('timeout', values.timeout) * 1000,
    cpuProfileDir: values['cpu-prof'] && path.resolve(values['cpu-prof']),
  };
}

/** Client i's address: the first 250 in 198.51.100.0/24, the next in 203.0.113.0/24. */
function clientAddress(i: number): string {
  return `${CLIENT_NETWORKS[Math.floor(i / CLIENTS_PER_NETWORK)]}.${(i % CLIENTS_PER_NETWORK) + 1}`;
}

/** Runs `ip` commands in one process in a node of the topology. */
async function ipBatch(topo: Topology, node: string, commands: string[]): Promise<void> {
  await topo.exec(node, 'ip', ['-batch', '-'], { input: `${commands.join('\n')}\n` });
}

async function buildTopology(topo: Topology, clients: string[]): Promise<void> {
  await topo.addSegment('lan');
  await topo.addNode('rr', { segment: 'lan', address: `${RR_ADDRESS}/24` });
  await topo.addNode('clients', { segment: 'lan', address: `${CLIENTS_NODE_ADDRESS}/24` });
  await ipBatch(
    topo,
    'rr',
    CLIENT_NETWORKS.map((network) => `addr add ${network}.${REFLECTOR_HOST}/24 dev eth0`),
  );
  await ipBatch(
    topo,
    'clients',
    clients.map((address) => `addr add ${address}/24 dev eth0`),
  );
}

/** The clients ended before the measurement did: a session failed (their last line says which). */
class ClientsExited extends Error {}

/** The time on a line `<word> <t>` the clients reported, or undefined when `deadline` passes first. */
async function reportedTime(handle: ProcessHandle, word: string, deadline: number): Promise<number | undefined> {
  const pattern = new RegExp(`^${word} (\\S+)$`, 'm');
  for (;;) {
    const match = pattern.exec(handle.output());
    if (match) return Number(match[1]);
    if (!handle.running) throw new ClientsExited(handle.output().trim().split('\n').at(-1));
    if (now() > deadline) return undefined;
    await sleep(10);
  }
}

function lastProgress(handle: ProcessHandle): string | undefined {
  const lines = handle.output().match(/^progress \S+ (\d+) (\d+) (\d+)$/gm);
  const last = lines?.at(-1)?.split(' ');
  return last && `${last[2]} established, ${last[3]} converged, ${last[4]} prefixes received in all`;
}

/** Prints the top self-time functions, in `window`, of the profile tabby-bgp wrote into `dir`. */
function printProfile(dir: string, window: TimeWindow): void {
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')) : [];
  if (files.length === 0) {
    console.log(`  (no CPU profile in ${dir})`);
    return;
  }
  const profile = JSON.parse(fs.readFileSync(path.join(dir, files[0]), 'utf8')) as CpuProfile;
  const { busyMs, top } = topSelfTime(profile, PROFILE_TOP, window);
  console.log(
    `  tabby-bgp CPU profile: ${(busyMs / 1000).toFixed(2)} s busy while measured (${path.join(dir, files[0])})`,
  );
  for (const row of top) {
    console.log(
      `    ${row.selfMs.toFixed(0).padStart(7)} ms ${(row.busyShare * 100).toFixed(1).padStart(5)} %  ${row.where}`,
    );
  }
}

async function measure(kind: DaemonKind, options: Options): Promise<Measurement> {
  const addresses = Array.from({ length: options.clients }, (_, i) => clientAddress(i));
  const peers: DaemonPeer[] = addresses.map((address, i) => ({ name: `client${i}`, address, asNumber: DAEMON_AS }));
  const cpuProfileDir = kind === 'tabby' && options.cpuProfileDir ? options.cpuProfileDir : undefined;
  let window: TimeWindow | undefined;
  const measurement = await withTopology(async (topo) => {
    await buildTopology(topo, addresses);
    const daemon = await startDaemon(kind, {
      topo,
      node: 'rr',
      address: RR_ADDRESS,
      asNumber: DAEMON_AS,
      peers,
      routeReflectorClusterId: CLUSTER_ID,
      ...(cpuProfileDir ? { cpuProfileDir } : {}),
    });
    let clients: ProcessHandle | undefined;
    try {
      await sleep(SETTLE_MS);
      const fromUs = monotonicUs();
      clients = await topo.spawn('clients', process.execPath, [
        CLIENTS_JS,
        '--peer',
        RR_ADDRESS,
        '--as',
        String(DAEMON_AS),
        '--local',
        addresses.join(','),
      ]);
      const started = await reportedTime(clients, 'connecting', now() + 10_000);
      if (started === undefined) throw new Error(`rr-clients did not start: ${clients.output()}`);
      const deadline = started + options.timeoutMs;
      let established: number | undefined;
      let converged: number | undefined;
      let failure: string | undefined;
      try {
        established = await reportedTime(clients, 'established', deadline);
        converged = established === undefined ? undefined : await reportedTime(clients, 'converged', deadline);
      } catch (err) {
        if (!(err instanceof ClientsExited)) throw err;
        failure = err.message;
      }
      window = { fromUs, toUs: monotonicUs() };
      return {
        kind,
        clients: options.clients,
        establishedMs: established && established - started,
        convergedMs: converged && converged - started,
        peakRssBytes: memoryOf(daemon.pid).peak,
        progress: converged === undefined ? lastProgress(clients) : undefined,
        failure,
      };
    } finally {
      // The daemon first: clients going away would make it withdraw and re-advertise to all the others.
      await daemon.stop();
      await clients?.stop();
    }
  });
  console.log(`  ${formatRow(measurement, options.timeoutMs).join('  ')}`);
  if (measurement.failure) console.log(`  a session failed: ${measurement.failure}`);
  if (measurement.progress) console.log(`  last progress: ${measurement.progress}`);
  if (cpuProfileDir && window) printProfile(cpuProfileDir, window);
  return measurement;
}

function seconds(ms: number | undefined, m: Measurement, timeoutMs: number): string {
  if (ms !== undefined) return (ms / 1000).toFixed(3);
  return m.failure ? 'failed' : `> ${timeoutMs / 1000} s`;
}

const HEADER = ['daemon', 'sessions', 'established s', 'converged s', 'peak RSS MB'];

function formatRow(m: Measurement, timeoutMs: number): string[] {
  return [
    m.kind,
    String(m.clients),
    seconds(m.establishedMs, m, timeoutMs),
    seconds(m.convergedMs, m, timeoutMs),
    (m.peakRssBytes / 2 ** 20).toFixed(0),
  ];
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  console.log(`Route reflector, ${new Date().toISOString()}, ${machine()}`);
  console.log(
    `${options.clients} iBGP clients × 10 prefixes, all route-reflector clients; timeout ${options.timeoutMs / 1000} s`,
  );
  const results: Measurement[] = [];
  for (const kind of options.kinds) results.push(await measure(kind, options));

  console.log(
    `\n${markdownTable(
      HEADER,
      results.map((m) => formatRow(m, options.timeoutMs)),
    )}\n`,
  );
  const tabby = results.find((m) => m.kind === 'tabby');
  const bird = results.find((m) => m.kind === 'bird');
  if (tabby && bird) {
    console.log(
      markdownTable(
        ['established tabby/BIRD', 'converged tabby/BIRD', 'peak RSS tabby/BIRD'],
        [
          [
            ratio(tabby.establishedMs, bird.establishedMs),
            ratio(tabby.convergedMs, bird.convergedMs),
            ratio(tabby.peakRssBytes, bird.peakRssBytes),
          ],
        ],
      ),
    );
  }
  console.log('\ngoal (DESIGN §4): all sessions Established and converged, tabby/BIRD ≤ 1');
}

main().catch((err: Error) => {
  console.error(`rr.bench: ${err.stack ?? err.message}`);
  process.exitCode = 1;
});
