// Two tabby-nodes with a pod each, for the throughput benchmarks: etcd and nodes n1, n2 on one segment (BGP mesh),
// one pool in the given encapsulation mode, pod `pa` on n1 and `pb` on n2 made by the real CNI plugin, resolved
// once they reach each other.
import type { Topology } from '../../test/harness';
import { Fabric } from '../../test/support/fabric';

const FABRIC_NODES = { n1: '192.0.2.11', n2: '192.0.2.12' } as const;
const ETCD_ADDRESS = '192.0.2.10';
const POOL_CIDR = '10.70.0.0/24';

export interface PoolModes {
  ipipMode: 'Always' | 'Never';
  vxlanMode: 'Always' | 'Never';
}

export async function buildTwoNodeFabric(
  topo: Topology,
  modes: PoolModes,
  labels: { pa?: Record<string, string>; pb?: Record<string, string> } = {},
): Promise<Fabric> {
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
  await fabric.addPod('n1', 'pa', 'default', labels.pa);
  await fabric.addPod('n2', 'pb', 'default', labels.pb);
  await fabric.allReach(
    [
      ['pa', 'pb'],
      ['pb', 'pa'],
    ],
    'the two pods reaching each other',
  );
  return fabric;
}
