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
import { type ProcessHandle, run, runIn, spawnProcess, Topology } from '../test/harness';
import { Fabric } from '../test/support/fabric';
import { IPIP_NODES, ipBatch, PodPair } from '../test/support/ipip-topology';
import { waitFor } from '../test/support/wait';
import { machine, markdownTable, positiveInteger } from './support/report';

const IPERF_PORT = 5201;
const VETH = { client: '10.99.0.1', server: '10.99.0.2' };
const FABRIC_NODES = { n1: '192.0.2.11', n2: '192.0.2.12' } as const;
const ETCD_ADDRESS = '192.0.2.10';
const POOL_CIDR = '10.70.0.0/24';

type CaseName = 'veth' | 'static' | 'routed' | 'vxlan' | 'ipip';

/** Where iperf3 runs in a case's topology. */
interface Endpoints {
  clientNs: string;
  serverNs: string;
  serverAddress: string;
}

/** The pool modes of the tabby cases; the others are built by hand. */
const TABBY_MODES: Partial<Record<CaseName, { ipipMode: 'Always' | 'Never'; vxlanMode: 'Always' | 'Never' }>> = {
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

function parseArgs(argv: string[]): { seconds: number; rounds: number } {
  const options = { seconds: 3, rounds: 3 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if ((flag !== '--seconds' && flag !== '--rounds') || value === undefined) {
      throw new Error(`unknown or incomplete flag "${flag}": use --seconds N --rounds N`);
    }
    options[flag === '--seconds' ? 'seconds' : 'rounds'] = positiveInteger(flag.slice(2), value);
  }
  return options;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function gbits(bitsPerSecond: number): string {
  return (bitsPerSecond / 1e9).toFixed(2);
}

function percent(share: number): string {
  return `${(100 * share).toFixed(0)} %`;
}

async function buildVeth(topo: Topology): Promise<Endpoints> {
  const clientNs = `${topo.prefix}veth-a`;
  const serverNs = `${topo.prefix}veth-b`;
  await run('ip', ['netns', 'add', clientNs]);
  await run('ip', ['netns', 'add', serverNs]);
  await ipBatch(clientNs, [
    'link set lo up',
    `link add eth0 type veth peer name eth0 netns ${serverNs}`,
    `addr add ${VETH.client}/30 dev eth0`,
    'link set eth0 up',
  ]);
  await ipBatch(serverNs, ['link set lo up', `addr add ${VETH.server}/30 dev eth0`, 'link set eth0 up']);
  return { clientNs, serverNs, serverAddress: VETH.server };
}

async function buildStatic(topo: Topology): Promise<Endpoints> {
  const pair = await PodPair.create(topo, 'routed');
  return { clientNs: pair.podNs('a'), serverNs: pair.podNs('b'), serverAddress: IPIP_NODES.b.pod };
}

/** etcd and two tabby-nodes on one segment, a pool in `modes`, a pod per node; resolves once the pods reach. */
async function buildTabby(topo: Topology, modes: NonNullable<(typeof TABBY_MODES)[CaseName]>): Promise<Fabric> {
  await topo.addSegment('lan');
  await topo.addNode('etcd', { segment: 'lan', address: `${ETCD_ADDRESS}/24` });
  for (const [name, address] of Object.entries(FABRIC_NODES)) {
    // A default route, as real nodes have: proxy ARP for 169.254.1.1 needs one. The etcd namespace forwards nothing.
    await topo.addNode(name, { segment: 'lan', address: `${address}/24`, gateway: ETCD_ADDRESS });
  }
  const fabric = await Fabric.start(topo, 'etcd', ETCD_ADDRESS);
  await fabric.apply({
    apiVersion: 'projectcalico.org/v3',
    kind: 'IPPool',
    metadata: { name: 'bench' },
    spec: { cidr: POOL_CIDR, blockSize: 26, natOutgoing: false, ...modes },
  });
  for (const node of Object.keys(FABRIC_NODES)) await fabric.startNode(node);
  await fabric.addPod('n1', 'pa');
  await fabric.addPod('n2', 'pb');
  await fabric.allReach(
    [
      ['pa', 'pb'],
      ['pb', 'pa'],
    ],
    'the two pods reaching each other',
  );
  return fabric;
}

async function startServer(at: Endpoints): Promise<ProcessHandle> {
  const server = await spawnProcess('iperf3', ['-s', '-B', at.serverAddress, '-p', String(IPERF_PORT)], {
    netns: at.serverNs,
  });
  await waitFor(async () => {
    if (!server.running) throw new Error(`iperf3 -s in ${at.serverNs} exited: ${server.output()}`);
    const listening = await runIn(at.serverNs, 'ss', ['-Htln', `sport = :${IPERF_PORT}`]);
    return listening.stdout.trim() !== '';
  }, `iperf3 to listen in ${at.serverNs}`);
  return server;
}

/** The receiver's rate of one iperf3 run, in bits per second. */
async function measure(at: Endpoints, seconds: number): Promise<number> {
  const args = ['-c', at.serverAddress, '-p', String(IPERF_PORT), '-t', String(seconds), '-J'];
  const { stdout } = await runIn(at.clientNs, 'iperf3', args, { timeoutMs: (seconds + 30) * 1000 });
  const report = JSON.parse(stdout) as { end: { sum_received: { bits_per_second: number } } };
  return report.end.sum_received.bits_per_second;
}

/** Builds `name` in a fresh topology, measures it `rounds` times, and tears it all down, also on failure. */
async function runCase(name: CaseName, seconds: number, rounds: number): Promise<number[]> {
  const topo = await Topology.create();
  let fabric: Fabric | undefined;
  let server: ProcessHandle | undefined;
  try {
    let at: Endpoints;
    const modes = TABBY_MODES[name];
    if (modes) {
      fabric = await buildTabby(topo, modes);
      const [a, b] = [fabric.pod('pa'), fabric.pod('pb')];
      at = { clientNs: a.ns, serverNs: b.ns, serverAddress: b.ip };
    } else {
      at = name === 'veth' ? await buildVeth(topo) : await buildStatic(topo);
    }
    server = await startServer(at);
    const rates: number[] = [];
    for (let round = 1; round <= rounds; round++) {
      rates.push(await measure(at, seconds));
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
  const { seconds, rounds } = parseArgs(process.argv.slice(2));
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
