// Pod-to-pod TCP throughput across two nodes through tabby, against the kernel's own limit (DESIGN §4: routed ≥ 95 %
// of hand-made static routes without tabby, VXLAN ≥ 60 %, userspace IPIP ≥ 1 Gbit/s). Root: network namespaces,
// iperf3. Each case is built in its own fresh Topology, measured, and torn down before the next:
//   veth     two namespaces joined by one veth pair (10.99.0.1/30 ↔ 10.99.0.2/30): the ceiling on this machine
//   static   test/support/ipip-topology.ts's routed PodPair: two nodes on one segment, pods plumbed by hand as
//            Calico's CNI plugin does, static routes `<other block> via <other node>`, no tabby (the baseline)
//   routed   two tabby-nodes (BGP mesh), etcd on the same segment, pool ipipMode/vxlanMode Never, pods made by the
//            real CNI plugin (test/support/fabric.ts)
//   vxlan    the same with vxlanMode Always
//   ipip     the same with ipipMode Always (no ipip module here: tabby's userspace datapath)
// Per case: `iperf3 -c <pod b> -t SECONDS -J` from pod a, ROUNDS runs, the median of the receiver's bits per second.
// Prints a table and whether the goals are met; asserts nothing.
//
//   node dist/bench/fabric.bench.js [--seconds 3] [--rounds 3]
import * as os from 'node:os';
import { type ProcessHandle, Topology } from '../test/harness';
import type { Fabric } from '../test/support/fabric';
import { IPIP_NODES, PodPair } from '../test/support/ipip-topology';
import {
  addVethPair,
  gbits,
  type IperfEndpoints,
  parseThroughputArgs,
  runIperf,
  startIperfServer,
} from './support/iperf';
import { machine, markdownTable, median } from './support/report';
import { buildTwoNodeFabric, type PoolModes } from './support/two-node-fabric';

type CaseName = 'veth' | 'static' | 'routed' | 'vxlan' | 'ipip';

/** The pool modes of the tabby cases; the others are built by hand. */
const TABBY_MODES: Partial<Record<CaseName, PoolModes>> = {
  routed: { ipipMode: 'Never', vxlanMode: 'Never' },
  vxlan: { ipipMode: 'Never', vxlanMode: 'Always' },
  ipip: { ipipMode: 'Always', vxlanMode: 'Never' },
};

/** DESIGN §4's goals: a share of static (routed, VXLAN) or an absolute rate (userspace IPIP). */
const GOALS: { name: CaseName; ofStatic?: number; bitsPerSecond?: number }[] = [
  { name: 'routed', ofStatic: 0.95 },
  { name: 'vxlan', ofStatic: 0.6 },
  { name: 'ipip', bitsPerSecond: 1e9 },
];

function percent(share: number): string {
  return `${(100 * share).toFixed(0)} %`;
}

async function buildStatic(topo: Topology): Promise<IperfEndpoints> {
  const pair = await PodPair.create(topo, 'routed');
  return { clientNs: pair.podNs('a'), serverNs: pair.podNs('b'), serverAddress: IPIP_NODES.b.pod };
}

/** Builds `name` in a fresh topology, measures it `rounds` times, and tears it all down, also on failure. */
async function runCase(name: CaseName, seconds: number, rounds: number): Promise<number[]> {
  const topo = await Topology.create();
  let fabric: Fabric | undefined;
  let server: ProcessHandle | undefined;
  try {
    let at: IperfEndpoints;
    const modes = TABBY_MODES[name];
    if (modes) {
      fabric = await buildTwoNodeFabric(topo, modes);
      const [a, b] = [fabric.pod('pa'), fabric.pod('pb')];
      at = { clientNs: a.ns, serverNs: b.ns, serverAddress: b.ip };
    } else {
      at = name === 'veth' ? await addVethPair(topo) : await buildStatic(topo);
    }
    server = await startIperfServer(at);
    const rates: number[] = [];
    for (let round = 1; round <= rounds; round++) {
      rates.push((await runIperf(at, seconds)).bitsPerSecond);
      console.log(`${name} run ${round}: ${gbits(rates[rates.length - 1]!)} Gbit/s`);
    }
    return rates;
  } finally {
    await server?.stop();
    await topo.destroy();
    await fabric?.stop();
  }
}

async function main(): Promise<void> {
  const { seconds, rounds } = parseThroughputArgs(process.argv.slice(2), { seconds: 3, rounds: 3 });
  if (process.getuid?.() !== 0) throw new Error('needs root: creates network namespaces');
  console.log(`machine: ${machine()}; load average at start ${os.loadavg()[0]!.toFixed(2)}`);
  const cases: CaseName[] = ['veth', 'static', 'routed', 'vxlan', 'ipip'];
  const results = new Map<CaseName, number[]>();
  for (const name of cases) results.set(name, await runCase(name, seconds, rounds));

  const medianOf = (name: CaseName) => median(results.get(name)!);
  const rows = cases.map((name) => [
    name,
    ...results.get(name)!.map(gbits),
    `**${gbits(medianOf(name))}**`,
    percent(medianOf(name) / medianOf('static')),
    percent(medianOf(name) / medianOf('veth')),
  ]);
  const runColumns = Array.from({ length: rounds }, (_, i) => `run ${i + 1} Gbit/s`);
  console.log(`\n${markdownTable(['case', ...runColumns, 'median Gbit/s', 'of static', 'of veth'], rows)}\n`);
  for (const goal of GOALS) {
    const rate = medianOf(goal.name);
    const [met, wanted] =
      goal.ofStatic !== undefined
        ? [rate >= goal.ofStatic * medianOf('static'), `≥ ${percent(goal.ofStatic)} of static`]
        : [rate >= goal.bitsPerSecond!, `≥ ${gbits(goal.bitsPerSecond!)} Gbit/s`];
    const share = percent(rate / medianOf('static'));
    console.log(`${goal.name}: ${gbits(rate)} Gbit/s (${share} of static), goal ${wanted}: ${met ? 'met' : 'NOT met'}`);
  }
  console.log(`load average at end ${os.loadavg()[0]!.toFixed(2)}`);
}

main().catch((err: Error) => {
  console.error(`fabric.bench: ${err.message}`);
  process.exit(1);
});
