// tabby-node's memory with 1,000 local endpoints in a cluster of 100 nodes (DESIGN §4: ≤ 150 MB RSS). Root:
// network namespaces. etcd and node n1 (a real tabby-node: felix, BGP full mesh, IPAM) on one segment; 99 more
// nodes exist in the datastore only, each with a VXLAN tunnel address and a block of the pool (VXLAN Always), so
// n1's felix programs a route, an ARP and an FDB entry per block of theirs and its BGP speaker keeps a session
// per node (to addresses nobody answers on the segment: the sessions stay in Connect/Active, as to nodes that are
// down). n1 gets 1,000 workload endpoints: a veth each (made with `ip -batch`) and a WorkloadEndpoint with an
// address its IPAM allocated, written with tabbyctl. Once felix reports all 1,000 in sync, tabby-node's RSS is
// read from /proc (then again after SETTLE_S seconds, and the peak, VmHWM). Asserts nothing.
//
//   node dist/bench/node-memory.bench.js [--endpoints 1000] [--nodes 100]
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import { addEndpoints, addRemoteNodes, BENCH_NODE, felixInSync, withBenchNode } from './support/node-seed';
import { machine, markdownTable, memoryOf, positiveInteger } from './support/report';

const POOL_CIDR = '10.74.0.0/16';
const SETTLE_S = 10;
const MB = 1024 * 1024;
async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { endpoints: { type: 'string', default: '1000' }, nodes: { type: 'string', default: '100' } },
  });
  const endpointCount = positiveInteger('endpoints', values.endpoints!);
  const nodeCount = positiveInteger('nodes', values.nodes!);
  if (process.getuid?.() !== 0) throw new Error('needs root: creates network namespaces');
  console.log(`machine: ${machine()}; load average at start ${os.loadavg()[0]!.toFixed(2)}`);
  await withBenchNode({ cidr: POOL_CIDR, vxlanMode: 'Always', natOutgoing: true }, async (fabric) => {
    const node = await fabric.startNode(BENCH_NODE);
    const idle = memoryOf(node.pid);
    await addRemoteNodes(fabric, nodeCount - 1);
    const started = performance.now();
    await addEndpoints(fabric, BENCH_NODE, endpointCount);
    const status = await felixInSync(
      fabric,
      BENCH_NODE,
      `${endpointCount} endpoints`,
      (s) => s.endpoints === endpointCount,
      300_000,
      500,
    );
    const inSyncS = (performance.now() - started) / 1000;
    const atSync = memoryOf(node.pid);
    await new Promise((resolve) => setTimeout(resolve, SETTLE_S * 1000));
    const settled = memoryOf(node.pid);
    const mb = (bytes: number) => (bytes / MB).toFixed(0);
    console.log(
      `\n${markdownTable(
        [
          'nodes',
          'local endpoints',
          'RSS idle MB',
          'RSS at sync MB',
          `RSS +${SETTLE_S} s MB`,
          'peak MB',
          'endpoints → in sync s',
          'last apply ms',
        ],
        [
          [
            String(nodeCount),
            String(endpointCount),
            mb(idle.rss),
            mb(atSync.rss),
            mb(settled.rss),
            mb(settled.peak),
            inSyncS.toFixed(1),
            String(status.lastApplyMs),
          ],
        ],
      )}\n`,
    );
    const met = settled.rss <= 150 * MB;
    console.log(`goal: RSS ≤ 150 MB: ${met ? 'met' : 'NOT met'} (${mb(settled.rss)} MB, peak ${mb(settled.peak)} MB)`);
  });
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exit(1);
});
