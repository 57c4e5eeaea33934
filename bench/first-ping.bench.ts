// How soon a new pod answers a pod on another node (DESIGN §4: ≤ 300 ms p99; Calico waits on BIRD's 2 s kernel
// scan for a new block). Root: network namespaces. Two tabby-nodes on one segment (BGP mesh, routed pool), a probe
// pod on n1; then, one at a time, a pod is added on n2 through the CNI plugin as a runtime calls it, and from the
// moment its ADD returns the probe pings it every 10 ms (`ping -c 1 -w 5 -i 0.01`) until the first reply. Two
// cases, each in a fresh topology:
//   block26  the pool's blocks are /26: the new pod lands in a block n1 already routes (the common case); what
//            it waits for is n2's felix programming the pod's interface into its chains
//   block32  /32 blocks: every pod claims a block of its own, which n2 must advertise over BGP and n1 install
//            first (the worst case)
// Prints ADD latency and time to first reply (p50/p99/max); asserts nothing.
//
//   node dist/bench/first-ping.bench.js [--pods 60]
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import { runIn, Topology } from '../test/harness';
import { Fabric } from '../test/support/fabric';
import { machine, markdownTable, positiveInteger } from './support/report';

const NODES = { n1: '192.0.2.11', n2: '192.0.2.12' } as const;
const ETCD_ADDRESS = '192.0.2.10';
const POOL_CIDR = '10.73.0.0/16';

interface Sample {
  addMs: number;
  reachMs: number;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function runCase(blockSize: number, pods: number): Promise<Sample[]> {
  const topo = await Topology.create();
  let fabric: Fabric | undefined;
  try {
    await topo.addSegment('lan');
    await topo.addNode('etcd', { segment: 'lan', address: `${ETCD_ADDRESS}/24` });
    for (const [name, address] of Object.entries(NODES)) {
      await topo.addNode(name, { segment: 'lan', address: `${address}/24`, gateway: ETCD_ADDRESS });
    }
    fabric = await Fabric.start(topo, 'etcd', ETCD_ADDRESS);
    await fabric.apply({
      apiVersion: 'projectcalico.org/v3',
      kind: 'IPPool',
      metadata: { name: 'bench' },
      spec: { cidr: POOL_CIDR, blockSize, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: false },
    });
    for (const node of Object.keys(NODES)) await fabric.startNode(node);
    await fabric.addPod('n1', 'probe');
    await fabric.addPod('n2', 'first');
    await fabric.allReach([['probe', 'first']], 'the probe reaching the first pod on n2');

    const samples: Sample[] = [];
    for (let i = 0; i < pods; i++) {
      const started = performance.now();
      const pod = await fabric.addPod('n2', `p${i}`);
      const added = performance.now();
      const ping = await runIn(fabric.pod('probe').ns, 'ping', ['-c', '1', '-w', '5', '-i', '0.01', pod.ip], {
        allowFail: true,
      });
      if (ping.code !== 0) throw new Error(`pod p${i} (${pod.ip}) did not answer within 5 s: ${ping.stdout}`);
      samples.push({ addMs: added - started, reachMs: performance.now() - added });
    }
    return samples;
  } finally {
    await topo.destroy();
    await fabric?.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ args: process.argv.slice(2), options: { pods: { type: 'string', default: '60' } } });
  const pods = positiveInteger('pods', values.pods!);
  if (process.getuid?.() !== 0) throw new Error('needs root: creates network namespaces');
  console.log(`machine: ${machine()}; load average at start ${os.loadavg()[0]!.toFixed(2)}`);
  const rows: string[][] = [];
  let worstP99 = 0;
  for (const [name, blockSize] of [
    ['block26', 26],
    ['block32', 32],
  ] as const) {
    const samples = await runCase(blockSize, pods);
    const reach = samples.map((s) => s.reachMs);
    const add = samples.map((s) => s.addMs);
    worstP99 = Math.max(worstP99, percentile(reach, 99));
    const ms = (v: number) => v.toFixed(0);
    rows.push([
      name,
      String(samples.length),
      ms(percentile(add, 50)),
      ms(percentile(reach, 50)),
      ms(percentile(reach, 99)),
      ms(Math.max(...reach)),
    ]);
    console.log(`${name}: reachable p50 ${ms(percentile(reach, 50))} ms, p99 ${ms(percentile(reach, 99))} ms`);
  }
  console.log(
    `\n${markdownTable(['case', 'pods', 'ADD p50 ms', 'first reply p50 ms', 'first reply p99 ms', 'max ms'], rows)}\n`,
  );
  console.log(
    `goal: reachable ≤ 300 ms p99: ${worstP99 <= 300 ? 'met' : 'NOT met'} (worst p99 ${worstP99.toFixed(0)} ms)`,
  );
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exit(1);
});
