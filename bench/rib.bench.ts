// RIB ingest: 1,000,000 IPv4 prefixes from one eBGP peer, in UPDATE-sized batches, through Adj-RIB-In, the
// decision process and the Loc-RIB, then drained as the Adj-RIB-Out of one eBGP peer. Prints time and heap
// bytes per path (DESIGN §4: ≤ 300 bytes per path; insert + best + out ≤ 400 ms).
// Needs --expose-gc for the heap numbers; without it, it runs itself again with the flag.

import { spawnSync } from 'node:child_process';
import { AsPathSegmentType, ipv4PrefixKey, Origin, type PathAttributes } from '../bgp/packet/types';
import { type AttrSet, IPV4_UNICAST, type PeerInfo, Rib } from '../bgp/rib';

const PREFIXES = 1_000_000;
/** A 4096-byte UPDATE holds about 900 /24s after ~60 bytes of attributes. */
const PREFIXES_PER_UPDATE = 900;

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  const rerun = spawnSync(process.execPath, ['--expose-gc', ...process.execArgv, __filename], { stdio: 'inherit' });
  process.exit(rerun.status ?? 1);
}

const textEncoder = new TextEncoder();
/** The RIB only needs some injective encoding here: outgoing sets are encoded once per (path, peer group). */
const encodeAttributes = (attributes: PathAttributes) =>
  textEncoder.encode(JSON.stringify(attributes, (_key, value) => (value instanceof Uint8Array ? [...value] : value)));

function peer(id: number): PeerInfo {
  return {
    id,
    address: `192.0.2.${id}`,
    asn: 65000 + id,
    routerId: `192.0.2.${id}`,
    ibgp: false,
    routeReflectorClient: false,
    nextHopSelf: false,
    localAddress: '192.0.2.100',
  };
}

/** The JavaScript heap plus the off-heap typed-array stores the prefix tables live in. */
function heapUsed(): number {
  gc?.();
  gc?.();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

interface Result {
  ingestMs: number;
  drainMs: number;
  bytesPerPath: number;
  attrSets: number;
  sent: number;
}

function run(distinctSets: number): Result {
  // The feed as a session would hand it over: decoded UPDATEs, prefixes as packed keys.
  const updates: { attributes: PathAttributes; raw: Uint8Array; nlri: number[] }[] = [];
  for (let first = 0, n = 0; first < PREFIXES; first += PREFIXES_PER_UPDATE, n++) {
    const attributes: PathAttributes = {
      origin: Origin.Igp,
      asPath: [{ type: AsPathSegmentType.AsSequence, asns: [65001, 100000 + (n % distinctSets)] }],
      nextHop: '192.0.2.1',
      communities: [(65001 << 16) | (n % distinctSets)],
    };
    const nlri: number[] = [];
    for (let i = first; i < Math.min(first + PREFIXES_PER_UPDATE, PREFIXES); i++) {
      nlri.push(ipv4PrefixKey(0x0b000000 + i * 256, 24));
    }
    updates.push({ attributes, raw: encodeAttributes(attributes), nlri });
  }

  const before = heapUsed();
  const rib = new Rib({
    local: { asn: 64512, routerId: '192.0.2.100' },
    family: IPV4_UNICAST,
    encodeAttributes,
    recordBestPathChanges: true,
  });
  rib.addPeer(peer(1));
  rib.addPeer(peer(2));
  rib.peerUp(1, { fourOctetAs: true });
  rib.peerUp(2, { fourOctetAs: true });

  const start = performance.now();
  for (const update of updates) {
    const attrs: AttrSet = rib.attrSets.intern(update.raw, update.attributes);
    rib.update(1, attrs, update.nlri);
  }
  // Handed to the kernel route programming in the speaker; here only counted.
  const bestChanges = rib.takeBestPathChanges().length;
  const ingested = performance.now();
  let sent = 0;
  for (;;) {
    const batch = rib.drainOutbound(2, 100_000);
    if (batch.announced.length === 0 && batch.withdrawn.length === 0) break;
    for (const announcement of batch.announced) sent += announcement.prefixes.length;
  }
  const drained = performance.now();

  if (bestChanges !== PREFIXES || sent !== PREFIXES || rib.counters.prefixes !== PREFIXES) {
    throw new Error(`expected ${PREFIXES} changes and sends, got ${bestChanges} and ${sent}`);
  }
  const after = heapUsed();
  const result = {
    ingestMs: ingested - start,
    drainMs: drained - ingested,
    bytesPerPath: (after - before) / PREFIXES,
    attrSets: rib.counters.attrSets,
    sent,
  };
  // Keep the RIB alive through the measurement.
  if (rib.counters.paths !== PREFIXES) throw new Error('paths miscounted');
  return result;
}

/** Runs after one warm-up (which pays for compiling the hot paths); the machine may be shared, so best and median. */
const RUNS = 5;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const cell = (values: number[]) => `${Math.min(...values).toFixed(0)} / ${median(values).toFixed(0)}`.padStart(11);

console.log('RIB: 1,000,000 IPv4 prefixes from one eBGP peer → best path → Adj-RIB-Out of one eBGP peer');
console.log(`ms as best / median of ${RUNS} runs`);
console.log('attribute sets | ingest+best |    out ms   |   total ms  | bytes/path | sets held (in + out)');
for (const distinctSets of [1, 1000]) {
  run(distinctSets);
  const results = Array.from({ length: RUNS }, () => run(distinctSets));
  console.log(
    [
      String(distinctSets).padStart(14),
      cell(results.map((r) => r.ingestMs)),
      cell(results.map((r) => r.drainMs)),
      cell(results.map((r) => r.ingestMs + r.drainMs)),
      median(results.map((r) => r.bytesPerPath))
        .toFixed(0)
        .padStart(10),
      String(results[0].attrSets).padStart(20),
    ].join(' | '),
  );
}
console.log('goals: total ≤ 400 ms, ≤ 300 bytes per path (BIRD 2: ~110 bytes per route)');
