// IPIP CrossSubnet across two underlay subnets joined by a router (DESIGN §2): pods of nodes in one subnet talk
// routed (plain packets, BGP routes), pods of nodes in different subnets through tunl0 (IP protocol 4 on the wire).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Topology } from '../harness';
import { Fabric } from '../support/fabric';

const isRoot = process.getuid?.() === 0;

describe('IPIP CrossSubnet over two underlay subnets', { skip: isRoot ? false : 'needs root' }, () => {
  let topo: Topology;
  let fabric: Fabric;

  before(async () => {
    topo = await Topology.create();
    await topo.addSegment('a');
    await topo.addSegment('b');
    await topo.addRouter('router', {
      links: [
        { segment: 'a', address: '192.0.2.1/24' },
        { segment: 'b', address: '198.51.100.1/24' },
      ],
    });
    await topo.addNode('etcd', { segment: 'a', address: '192.0.2.10/24', gateway: '192.0.2.1' });
    await topo.addNode('n1', { segment: 'a', address: '192.0.2.11/24', gateway: '192.0.2.1' });
    await topo.addNode('n2', { segment: 'a', address: '192.0.2.12/24', gateway: '192.0.2.1' });
    await topo.addNode('n3', { segment: 'b', address: '198.51.100.13/24', gateway: '198.51.100.1' });
    fabric = await Fabric.start(topo, 'etcd', '192.0.2.10');
    await fabric.apply({
      apiVersion: 'projectcalico.org/v3',
      kind: 'IPPool',
      metadata: { name: 'cross' },
      spec: { cidr: '10.52.0.0/24', blockSize: 26, ipipMode: 'CrossSubnet' },
    });
    for (const node of ['n1', 'n2', 'n3']) await fabric.startNode(node);
    await fabric.addPod('n1', 'p1');
    await fabric.addPod('n2', 'p2');
    await fabric.addPod('n3', 'p3');
  });

  after(async () => {
    await topo?.destroy();
    await fabric?.stop();
  });

  it('routes within a subnet and tunnels across subnets', async () => {
    await fabric.allReach(
      [
        ['p1', 'p2'],
        ['p1', 'p3'],
        ['p3', 'p2'],
      ],
      'every pod reaching every other',
    );
    const routes = (await topo.exec('n1', 'ip', ['route', 'show'])).stdout;
    assert.match(routes, /10\.52\.0\.\d+\/26 via 198\.51\.100\.13 dev tunl0 proto 80 onlink/, routes);
    assert.match(routes, /10\.52\.0\.\d+\/26 via 192\.0\.2\.12 dev eth0 proto bgp/, routes);
    assert.doesNotMatch(routes, /via 192\.0\.2\.12 dev tunl0/, 'no tunnel within the subnet');

    // On the router's side of subnet a: pod traffic to n3 is IPIP between the nodes, with the pods' packet inside.
    const capture = await topo.spawn('router', 'tcpdump', ['-l', '-n', '-i', 'eth0', 'ip', 'proto', '4']);
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(await fabric.reaches('p1', 'p3'));
    await new Promise((r) => setTimeout(r, 300));
    await capture.stop();
    const p1 = fabric.pod('p1').ip.replace(/\./g, '\\.');
    const p3 = fabric.pod('p3').ip.replace(/\./g, '\\.');
    assert.match(
      capture.output(),
      new RegExp(`192\\.0\\.2\\.11 > 198\\.51\\.100\\.13: IP ${p1} > ${p3}: ICMP echo request`),
    );

    // Within subnet a nothing is encapsulated: n2 sees the pods' own addresses.
    const plain = await topo.spawn('n2', 'tcpdump', ['-l', '-n', '-i', 'eth0', 'icmp']);
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(await fabric.reaches('p1', 'p2'));
    await new Promise((r) => setTimeout(r, 300));
    await plain.stop();
    const p2 = fabric.pod('p2').ip.replace(/\./g, '\\.');
    assert.match(plain.output(), new RegExp(`IP ${p1} > ${p2}: ICMP echo request`));
  });
});
