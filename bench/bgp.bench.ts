// BGP ingest and propagation: tabby-bgp against BIRD 2 and GoBGP on the same feed, in one run (DESIGN §4: ingest of
// 1,000,000 prefixes no slower than BIRD and far ahead of GoBGP, ≤ 300 bytes per path; propagation ≤ 1.2 × BIRD).
//
// Per daemon a topology (namespaces feeder 192.0.2.1, daemon 192.0.2.2, sink 192.0.2.3 on one segment; removed
// in finally). Feeder (AS 65001) → daemon (AS 64512) → sink (AS 65002), all eBGP; feeder and sink are our own
// processes (support/update-feeder). Per case (prefix count N, number of distinct attribute sets):
//   ingest     a fresh daemon, only the feeder connected. Time from the feeder's first UPDATE byte until the
//              daemon's RIB holds all N (polled: see DaemonUnderTest.pollIntervalMs), and the daemon's peak RSS
//              (VmHWM); bytes per path = (peak RSS − RSS before the feed) / N.
//   propagate  a fresh daemon, sink connected before the feed. Time from the feeder's first UPDATE byte until
//              the sink has received all N (timestamped by the sink itself: no polling).
// Each case is the median of --rounds runs (one run when its ingest takes over 1 s). Prints a table (markdown, for
// bench/RESULTS.md) and tabby's ratios to BIRD; asserts nothing.
//
//   node dist/bench/bgp.bench.js [--prefixes 100000,1000000] [--attribute-sets 1,1000] [--only tabby,bird,gobgp]
//                                [--timeout 60] [--rounds 3] [--cpu-prof DIR]
// --timeout bounds each phase (GoBGP needs about 100 s to pass 1,000,000 prefixes on: "> 60 s" keeps the whole
// run near 4 minutes). --cpu-prof runs tabby-bgp under `node --cpu-prof` (profiles in DIR) and prints its top
// self-time functions during the feed.
import * as fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { type ProcessHandle, type Topology, withTopology } from '../test/harness';
import {
  commandPid,
  DAEMON_KINDS,
  type DaemonKind,
  type DaemonPeer,
  type DaemonUnderTest,
  startDaemon,
} from './support/bench-daemons';
import { type CpuProfile, type TimeWindow, topSelfTime } from './support/cpu-profile';
import { machine, markdownTable, memoryOf, monotonicUs, now, positiveInteger, ratio } from './support/report';
import { DAEMON_AS, FEEDER_AS, SINK_AS } from './support/update-feed';

const FEEDER_JS = path.join(__dirname, 'support', 'update-feeder.js');
const DAEMON_ADDRESS = '192.0.2.2';
const FEEDER: DaemonPeer = { name: 'feeder', address: '192.0.2.1', asNumber: FEEDER_AS };
const SINK: DaemonPeer = { name: 'sink', address: '192.0.2.3', asNumber: SINK_AS };
/** After the handshake, before the feed: the daemon finishes setting the session up and its memory settles. */
const SETTLE_MS = 500;
/** The feeder encodes the whole feed before it connects. */
const HANDSHAKE_TIMEOUT_MS = 30_000;
const PROFILE_TOP = 15;
/**
 * Cases are run `--rounds` times and the median reported, except those whose first ingest took this long: their
 * noise is small next to them, and repeating them would make the run long.
 */
const REPEAT_BELOW_MS = 1_000;

interface Options {
  sizes: number[];
  attributeSets: number[];
  kinds: DaemonKind[];
  timeoutMs: number;
  rounds: number;
  cpuProfileDir: string | undefined;
}

/** What the feeder sends: N prefixes spread over this many distinct attribute sets. */
interface FeedSpec {
  prefixes: number;
  attributeSets: number;
}

/** One run of one case against one daemon. */
interface CaseRun {
  topo: Topology;
  kind: DaemonKind;
  feed: FeedSpec;
  timeoutMs: number;
  /** tabby only: where its CPU profile of each phase goes. */
  cpuProfileDir(phase: 'ingest' | 'propagate'): string | undefined;
}

interface Measurement extends FeedSpec {
  kind: DaemonKind;
  /** undefined: not done within the timeout. */
  ingestMs: number | undefined;
  propagateMs: number | undefined;
  peakRssBytes: number;
  /** (peak RSS − RSS before the feed) / N. */
  bytesPerPath: number;
}

/** The monotonic clock CPU profiles are stamped with, in µs. */

function numberList(flag: string, text: string): number[] {
  return text.split(',').map((item) => positiveInteger(flag, item));
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      prefixes: { type: 'string', default: '100000,1000000' },
      'attribute-sets': { type: 'string', default: '1,1000' },
      only: { type: 'string', default: DAEMON_KINDS.join(',') },
      timeout: { type: 'string', default: '60' },
      rounds: { type: 'string', default: '3' },
      'cpu-prof': { type: 'string' },
    },
  });
  const kinds = values.only.split(',').map((kind) => {
    if (!DAEMON_KINDS.includes(kind as DaemonKind)) throw new Error(`--only: "${kind}" is not one of ${DAEMON_KINDS}`);
    return kind as DaemonKind;
  });
  return {
    sizes: numberList('prefixes', values.prefixes),
    attributeSets: numberList('attribute-sets', values['attribute-sets']),
    kinds,
    timeoutMs: numberList('timeout', values.timeout)[0] * 1000,
    rounds: numberList('rounds', values.rounds)[0],
    cpuProfileDir: values['cpu-prof'] && path.resolve(values['cpu-prof']),
  };
}

/** The numbers a peer process reported on its line starting with `word`, or undefined after `timeoutMs`. */
async function reported(handle: ProcessHandle, word: string, timeoutMs: number): Promise<number[] | undefined> {
  const pattern = new RegExp(`^${word} (.+)$`, 'm');
  const deadline = now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(handle.output());
    if (match) return match[1].split(' ').map(Number);
    if (!handle.running) throw new Error(`${handle.commandLine}: exited: ${handle.output().slice(-2000)}`);
    if (now() > deadline) return undefined;
    await sleep(10);
  }
}

async function mustReport(handle: ProcessHandle, word: string, timeoutMs: number): Promise<number[]> {
  const numbers = await reported(handle, word, timeoutMs);
  if (!numbers) throw new Error(`${handle.commandLine}: no "${word}" within ${timeoutMs} ms: ${handle.output()}`);
  return numbers;
}

function spawnPeer(topo: Topology, peer: DaemonPeer, mode: 'feed' | 'sink', feed: FeedSpec): Promise<ProcessHandle> {
  return topo.spawn(peer.name, process.execPath, [
    FEEDER_JS,
    mode,
    '--peer',
    DAEMON_ADDRESS,
    '--local',
    peer.address,
    '--as',
    String(peer.asNumber),
    '--prefixes',
    String(feed.prefixes),
    '--attribute-sets',
    String(feed.attributeSets),
  ]);
}

/** VmRSS and VmHWM of a process, in bytes. */

/**
 * A fresh daemon with its feeder (and, for propagation, its sink) established and settled; `body` runs the feed;
 * everything stops afterwards. Returns what body returned.
 */
async function withSessions<T>(
  run: CaseRun,
  phase: 'ingest' | 'propagate',
  body: (daemon: DaemonUnderTest, start: () => Promise<number>, sink: ProcessHandle | undefined) => Promise<T>,
): Promise<T> {
  const cpuProfileDir = run.cpuProfileDir(phase);
  const daemon = await startDaemon(run.kind, {
    topo: run.topo,
    node: 'daemon',
    address: DAEMON_ADDRESS,
    asNumber: DAEMON_AS,
    peers: [FEEDER, SINK],
    ...(cpuProfileDir ? { cpuProfileDir } : {}),
  });
  const peers: ProcessHandle[] = [];
  try {
    const sink = phase === 'propagate' ? await spawnPeer(run.topo, SINK, 'sink', run.feed) : undefined;
    if (sink) peers.push(sink);
    const feeder = await spawnPeer(run.topo, FEEDER, 'feed', run.feed);
    peers.push(feeder);
    for (const peer of peers) await mustReport(peer, 'established', HANDSHAKE_TIMEOUT_MS);
    await sleep(SETTLE_MS);
    const feederPid = await commandPid(feeder, 'node');
    /** Starts the feed; resolves with the time of its first byte. */
    const start = async () => {
      process.kill(feederPid, 'SIGUSR1');
      return (await mustReport(feeder, 'sending', 5_000))[0];
    };
    return await body(daemon, start, sink);
  } finally {
    // The daemon first: a daemon that saw its feeder go away would first withdraw every route it learned.
    await daemon.stop();
    for (const peer of peers) await peer.stop();
  }
}

async function measureIngest(
  run: CaseRun,
): Promise<{ ingestMs: number | undefined; peakRssBytes: number; rssBeforeBytes: number; window: TimeWindow }> {
  return withSessions(run, 'ingest', async (daemon, start) => {
    const rssBeforeBytes = memoryOf(daemon.pid).rss;
    const fromUs = monotonicUs();
    const started = await start();
    let ingestMs: number | undefined;
    for (;;) {
      const prefixes = await daemon.ribPrefixes();
      const elapsed = now() - started;
      if (prefixes >= run.feed.prefixes) {
        ingestMs = elapsed;
        break;
      }
      if (elapsed > run.timeoutMs) break;
      await sleep(daemon.pollIntervalMs(elapsed));
    }
    return {
      ingestMs,
      peakRssBytes: memoryOf(daemon.pid).peak,
      rssBeforeBytes,
      window: { fromUs, toUs: monotonicUs() },
    };
  });
}

async function measurePropagation(run: CaseRun): Promise<{ propagateMs: number | undefined; window: TimeWindow }> {
  return withSessions(run, 'propagate', async (_daemon, start, sink) => {
    const fromUs = monotonicUs();
    const started = await start();
    const complete = await reported(sink!, 'complete', started + run.timeoutMs - now());
    return { propagateMs: complete && complete[0] - started, window: { fromUs, toUs: monotonicUs() } };
  });
}

/** Prints the top self-time functions, during the feed, of the profile tabby-bgp wrote into `dir`. */
function printProfile(dir: string, what: string, window: TimeWindow): void {
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')) : [];
  if (files.length === 0) {
    console.log(`  (no CPU profile in ${dir})`);
    return;
  }
  const profile = JSON.parse(fs.readFileSync(path.join(dir, files[0]), 'utf8')) as CpuProfile;
  const { busyMs, top } = topSelfTime(profile, PROFILE_TOP, window);
  console.log(
    `  tabby-bgp CPU profile, ${what}: ${(busyMs / 1000).toFixed(2)} s busy during the feed (${path.join(dir, files[0])})`,
  );
  for (const row of top) {
    console.log(
      `    ${row.selfMs.toFixed(0).padStart(7)} ms ${(row.busyShare * 100).toFixed(1).padStart(5)} %  ${row.where}`,
    );
  }
}

/** One run of a case: ingest, then propagation; prints tabby's CPU profiles when asked for. */
async function measureOnce(
  topo: Topology,
  kind: DaemonKind,
  feed: FeedSpec,
  options: Options,
  profile: boolean,
): Promise<Measurement> {
  const label = `${kind}-${feed.prefixes}-${feed.attributeSets}`;
  const run: CaseRun = {
    topo,
    kind,
    feed,
    timeoutMs: options.timeoutMs,
    cpuProfileDir: (phase) =>
      profile && kind === 'tabby' && options.cpuProfileDir
        ? path.join(options.cpuProfileDir, `${label}-${phase}`)
        : undefined,
  };
  const ingest = await measureIngest(run);
  // Propagation cannot finish before ingest: after an ingest timeout it is not tried.
  const propagation = ingest.ingestMs === undefined ? undefined : await measurePropagation(run);
  const measurement: Measurement = {
    kind,
    ...feed,
    ingestMs: ingest.ingestMs,
    propagateMs: propagation?.propagateMs,
    peakRssBytes: ingest.peakRssBytes,
    bytesPerPath: (ingest.peakRssBytes - ingest.rssBeforeBytes) / feed.prefixes,
  };
  console.log(`  ${formatRow(measurement, options.timeoutMs).join('  ')}`);
  const ingestProfile = run.cpuProfileDir('ingest');
  if (ingestProfile) printProfile(ingestProfile, `${label} ingest`, ingest.window);
  const propagateProfile = run.cpuProfileDir('propagate');
  if (propagateProfile && propagation) printProfile(propagateProfile, `${label} propagate`, propagation.window);
  return measurement;
}

/** The median, a timeout (undefined) counting as the longest. */
function median(values: (number | undefined)[]): number | undefined {
  const sorted = values.map((v) => v ?? Number.POSITIVE_INFINITY).sort((a, b) => a - b);
  const middle = sorted[Math.floor(sorted.length / 2)];
  return Number.isFinite(middle) ? middle : undefined;
}

async function measureDaemon(kind: DaemonKind, options: Options): Promise<Measurement[]> {
  return withTopology(async (topo) => {
    await topo.addSegment('lan');
    for (const [name, address] of [
      [FEEDER.name, FEEDER.address],
      ['daemon', DAEMON_ADDRESS],
      [SINK.name, SINK.address],
    ]) {
      await topo.addNode(name, { segment: 'lan', address: `${address}/24` });
    }
    const results: Measurement[] = [];
    for (const prefixes of options.sizes) {
      for (const attributeSets of options.attributeSets) {
        const runs: Measurement[] = [];
        do {
          runs.push(await measureOnce(topo, kind, { prefixes, attributeSets }, options, runs.length === 0));
        } while (runs.length < options.rounds && (runs[0].ingestMs ?? Number.POSITIVE_INFINITY) < REPEAT_BELOW_MS);
        results.push({
          kind,
          prefixes,
          attributeSets,
          ingestMs: median(runs.map((r) => r.ingestMs)),
          propagateMs: median(runs.map((r) => r.propagateMs)),
          peakRssBytes: median(runs.map((r) => r.peakRssBytes))!,
          bytesPerPath: median(runs.map((r) => r.bytesPerPath))!,
        });
      }
    }
    return results;
  });
}

function seconds(ms: number | undefined, timeoutMs: number): string {
  return ms === undefined ? `> ${timeoutMs / 1000} s` : (ms / 1000).toFixed(3);
}

const HEADER = ['daemon', 'N', 'attr sets', 'ingest s', 'propagate s', 'peak RSS MB', 'bytes/path'];

function formatRow(m: Measurement, timeoutMs: number): string[] {
  return [
    m.kind,
    m.prefixes.toLocaleString('en'),
    m.attributeSets.toLocaleString('en'),
    seconds(m.ingestMs, timeoutMs),
    seconds(m.propagateMs, timeoutMs),
    (m.peakRssBytes / 2 ** 20).toFixed(0),
    m.bytesPerPath.toFixed(0),
  ];
}

/** tabby's ratios to BIRD (and GoBGP's ingest time), per feed, with DESIGN §4's goals. */
function ratioRows(results: Measurement[]): string[][] {
  const find = (kind: DaemonKind, m: Measurement) =>
    results.find((r) => r.kind === kind && r.prefixes === m.prefixes && r.attributeSets === m.attributeSets);
  return results
    .filter((m) => m.kind === 'tabby')
    .map((tabby) => {
      const bird = find('bird', tabby);
      const gobgp = find('gobgp', tabby);
      return [
        tabby.prefixes.toLocaleString('en'),
        tabby.attributeSets.toLocaleString('en'),
        ratio(tabby.ingestMs, bird?.ingestMs),
        ratio(gobgp?.ingestMs, tabby.ingestMs),
        ratio(tabby.propagateMs, bird?.propagateMs),
        ratio(tabby.bytesPerPath, bird?.bytesPerPath),
      ];
    });
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  console.log(`BGP ingest and propagation, ${new Date().toISOString()}, ${machine()}`);
  console.log(
    `feeds: ${options.sizes.map((n) => n.toLocaleString('en')).join(', ')} IPv4 prefixes (3 in 4 /24s, 1 in 4 /32s) ` +
      `× ${options.attributeSets.join(', ')} attribute set(s); timeout ${options.timeoutMs / 1000} s; ` +
      `median of ${options.rounds} run(s) where ingest takes under ${REPEAT_BELOW_MS / 1000} s`,
  );
  const results: Measurement[] = [];
  for (const kind of options.kinds) results.push(...(await measureDaemon(kind, options)));

  console.log(
    `\n${markdownTable(
      HEADER,
      results.map((m) => formatRow(m, options.timeoutMs)),
    )}\n`,
  );
  console.log(
    markdownTable(
      ['N', 'attr sets', 'ingest tabby/BIRD', 'ingest GoBGP/tabby', 'propagate tabby/BIRD', 'bytes/path tabby/BIRD'],
      ratioRows(results),
    ),
  );
  console.log('\ngoals (DESIGN §4): ingest tabby/BIRD ≤ 1, ≤ 300 bytes/path, propagate tabby/BIRD ≤ 1.2');
}

main().catch((err: Error) => {
  console.error(`bgp.bench: ${err.stack ?? err.message}`);
  process.exitCode = 1;
});
