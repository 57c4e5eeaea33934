// The routed fabric end to end, three tabby-nodes in network namespaces with pods made by the CNI plugin, and the
// BGP topologies of Calico's docs, switched live through the datastore: the node-to-node mesh; the mesh off with a
// tabby node as route reflector; a BIRD 2 top-of-rack router as route reflector. Also an address borrowed from
// another node's block, reached through its /32.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Topology } from '../harness';
import { Bird } from '../support/bgp-daemons';
import { Fabric, TABBYCTL } from '../support/fabric';
import { waitFor } from '../support/wait';

const isRoot = process.getuid?.() === 0;
const NODES = { n1: '192.0.2.11', n2: '192.0.2.12', n3: '192.0.2.13' } as const;

describe('the routed fabric: mesh, tabby route reflector, BIRD route reflector', {
  skip: isRoot ? false : 'needs root',
}, () => {
  let topo: Topology;
  let fabric: Fabric;
  let bird: Bird | undefined;

  before(async () => {
    topo = await Topology.create();
    await topo.addSegment('lan');
    await topo.addNode('etcd', { segment: 'lan', address: '192.0.2.10/24' });
    await topo.addNode('tor', { segment: 'lan', address: '192.0.2.1/24' });
    for (const [name, address] of Object.entries(NODES)) {
      // A default route, as real nodes have (proxy ARP needs a route to 169.254.1.1); the etcd namespace forwards nothing.
      await topo.addNode(name, { segment: 'lan', address: `${address}/24`, gateway: '192.0.2.10' });
    }
    fabric = await Fabric.start(topo, 'etcd', '192.0.2.10');
    await fabric.apply(
      {
        apiVersion: 'projectcalico.org/v3',
        kind: 'IPPool',
        metadata: { name: 'main' },
        spec: { cidr: '10.50.0.0/24', blockSize: 26, ipipMode: 'Never' },
      },
      // One block only: a second node's pod must borrow from the first node's block.
      {
        apiVersion: 'projectcalico.org/v3',
        kind: 'IPPool',
        metadata: { name: 'tiny' },
        spec: { cidr: '10.51.0.0/28', blockSize: 28, ipipMode: 'Never', allowedUses: ['Workload'] },
      },
      {
        apiVersion: 'projectcalico.org/v3',
        kind: 'Profile',
        metadata: { name: 'kns.tiny', annotations: { 'cni.projectcalico.org/ipv4pools': '["tiny"]' } },
        // As Calico's controllers write a namespace's profile: its pods may talk until a policy selects them.
        spec: {
          ingress: [{ action: 'Allow' }],
          egress: [{ action: 'Allow' }],
          labelsToApply: { 'pcns.projectcalico.org/name': 'tiny' },
        },
      },
    );
    for (const node of Object.keys(NODES)) await fabric.startNode(node);
    await fabric.addPod('n1', 'p1');
    await fabric.addPod('n2', 'p2');
    await fabric.addPod('n3', 'p3');
    await fabric.addPod('n1', 't1', 'tiny');
    await fabric.addPod('n2', 't2', 'tiny');
  });

  after(async () => {
    await topo?.destroy();
    await fabric?.stop();
  });

  it('the node-to-node mesh carries pods between all nodes, and a borrowed address as its /32', async () => {
    await fabric.allReach(
      [
        ['p1', 'p2'],
        ['p1', 'p3'],
        ['p2', 'p3'],
        ['p1', 't2'],
        ['p3', 't1'],
      ],
      'every pod reaching every other over the mesh',
    );
    const t2 = fabric.pod('t2').ip;
    // t2's address lies in n1's block (n1 blackholes it): n2 advertises it as a /32, which wins.
    const routes = (await topo.exec('n1', 'ip', ['route', 'show'])).stdout;
    assert.match(routes, /blackhole 10\.51\.0\.0\/28/);
    assert.match(routes, new RegExp(`${t2.replace(/\./g, '\\.')} via 192\\.0\\.2\\.12 dev eth0 proto bgp`));
  });

  it('with the mesh off, a tabby node reflects routes between the others', async () => {
    await fabric.ctl(['label', 'node', 'n1', 'route-reflector=true']);
    await fabric.ctl(['patch', 'node', 'n1', '--patch', '{"spec":{"bgp":{"routeReflectorClusterID":"224.0.0.1"}}}']);
    await fabric.apply(
      {
        apiVersion: 'projectcalico.org/v3',
        kind: 'BGPConfiguration',
        metadata: { name: 'default' },
        spec: { nodeToNodeMeshEnabled: false },
      },
      {
        apiVersion: 'projectcalico.org/v3',
        kind: 'BGPPeer',
        metadata: { name: 'peer-with-route-reflectors' },
        spec: { nodeSelector: 'all()', peerSelector: 'route-reflector == "true"' },
      },
    );
    // n2 and n3 no longer peer with each other: n3's block reaches n2 only through n1.
    await waitFor(
      async () => {
        const routes = (await topo.exec('n2', 'ip', ['route', 'show', 'proto', 'bgp'])).stdout;
        const status = (await topo.exec('n2', TABBYCTL, ['node', 'status', '--run-dir', fabric.runDir('n2')])).stdout;
        return routes.includes('via 192.0.2.13') && status.includes('192.0.2.11') && !status.includes('192.0.2.13');
      },
      'n2 peering with n1 only, still routing to n3',
      40_000,
      500,
    );
    await fabric.allReach(
      [
        ['p2', 'p3'],
        ['p3', 'p2'],
        ['p1', 'p3'],
        ['p3', 't2'],
      ],
      'pods reaching each other through the tabby route reflector',
    );
  });

  it('a BIRD top-of-rack route reflector carries the blocks, with each node as its client', async () => {
    bird = await Bird.start(topo, 'tor', {
      routerId: '192.0.2.1',
      asNumber: 64512,
      clusterId: '192.0.2.1',
      peers: Object.entries(NODES).map(([name, address]) => ({ name, address, asNumber: 64512, rrClient: true })),
    });
    await fabric.ctl(['delete', 'bgppeer', 'peer-with-route-reflectors']);
    await fabric.ctl(['patch', 'node', 'n1', '--patch', '{"spec":{"bgp":{"routeReflectorClusterID":""}}}']);
    await fabric.apply({
      apiVersion: 'projectcalico.org/v3',
      kind: 'BGPPeer',
      metadata: { name: 'tor' },
      spec: { peerIP: '192.0.2.1', asNumber: 64512 },
    });
    await waitFor(
      async () => {
        for (const name of Object.keys(NODES)) if (!(await bird!.established(name))) return false;
        return true;
      },
      'BIRD Established with the three nodes',
      40_000,
      500,
    );
    const t2 = fabric.pod('t2').ip;
    await waitFor(async () => (await bird!.route(`${t2}/32`)) !== '', `BIRD holding ${t2}/32`, 20_000, 500);
    const table = await bird.birdc('show', 'route');
    for (const address of Object.values(NODES)) {
      assert.match(
        table,
        new RegExp(
          `10\\.50\\.0\\.\\d+/26 +unicast \\[\\w+ [^\\]]*\\] \\* \\(100\\) \\[i\\]\\s+via ${address.replace(/\./g, '\\.')}`,
        ),
        table,
      );
    }
    assert.match(await bird.route(`${t2}/32`), /via 192\.0\.2\.12/);
    await fabric.allReach(
      [
        ['p1', 'p2'],
        ['p2', 'p3'],
        ['p3', 'p1'],
        ['p1', 't2'],
      ],
      'pods reaching each other with routes reflected by BIRD',
    );
  });

  it('an etcd outage leaves established traffic alone, and the nodes pick up changes when it is back', async () => {
    const pinger = await topo.spawn('n1', 'ip', [
      'netns',
      'exec',
      fabric.pod('p1').ns,
      'ping',
      '-i',
      '0.2',
      fabric.pod('p3').ip,
    ]);
    // Frozen rather than stopped: unreachable to its clients, with its data kept.
    process.kill(fabric.etcd.process.pid, 'SIGSTOP');
    try {
      await new Promise((r) => setTimeout(r, 6000));
      assert.ok(await fabric.reaches('p2', 't1'), 'a new flow still passes during the outage');
    } finally {
      process.kill(fabric.etcd.process.pid, 'SIGCONT');
    }
    await new Promise((r) => setTimeout(r, 500));
    await pinger.stop();
    const seqs = [...pinger.output().matchAll(/icmp_seq=(\d+) ttl/g)].map((m) => Number(m[1]));
    assert.ok(seqs.length >= 25, pinger.output());
    assert.equal(Math.max(...seqs) - seqs.length, 0, `no ping lost during the etcd outage: ${pinger.output()}`);
    // And the datastore is followed again: a new pod on n3 is reachable from n1.
    await fabric.addPod('n3', 'p4');
    await fabric.allReach([['p1', 'p4']], 'a pod added after the outage reachable from another node');
  });
});
