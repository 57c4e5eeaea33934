// The route manager against the real kernel, inside a network namespace of its own (run prefix, removed afterwards).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BGP_ROUTE_PROTOCOL, FELIX_ROUTE_PROTOCOL, type RouteSpec, RouteTable } from '../../felix/routes';
import { run, withTopology } from '../harness';

const skip = process.getuid?.() === 0 ? false : 'needs root: creates network namespaces';

const WORKLOAD_A = 'caliaaaaaaaaaaa';
const WORKLOAD_B = 'calibbbbbbbbbbb';

/**
 * A node's namespace: eth0 192.0.2.11/24 (underlay), two workload veths, and vxlan.calico (VNI 4096) for onlink
 * routes. Destroyed with the topology, whatever happens.
 */
async function withNode(body: (ns: string) => Promise<void>): Promise<void> {
  await withTopology(async (topo) => {
    const ns = `${topo.prefix}routes`;
    await run('ip', ['netns', 'add', ns]);
    await ip(ns, [
      'link set lo up',
      'link add eth0 type veth peer name eth0-peer',
      'addr add 192.0.2.11/24 dev eth0',
      'link set eth0 up',
      'link set eth0-peer up',
      `link add ${WORKLOAD_A} type veth peer name pod-a`,
      `link add ${WORKLOAD_B} type veth peer name pod-b`,
      'link add vxlan.calico type vxlan id 4096 dstport 4789 dev eth0',
      ...[WORKLOAD_A, WORKLOAD_B, 'pod-a', 'pod-b', 'vxlan.calico'].map((dev) => `link set ${dev} up`),
    ]);
    await body(ns);
  });
}

async function ip(ns: string, commands: string[]): Promise<void> {
  await run('ip', ['-n', ns, '-batch', '-'], { input: `${commands.join('\n')}\n` });
}

/** `ip route show` of a table, one trimmed line per route, sorted. */
async function routes(ns: string, table: string | number = 'main'): Promise<string[]> {
  const { stdout } = await run('ip', ['-n', ns, '-4', 'route', 'show', 'table', String(table)]);
  return stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .sort();
}

const felixRoutes: RouteSpec[] = [
  { dst: '10.65.0.2', dev: WORKLOAD_A },
  { dst: '10.65.0.3/32', dev: WORKLOAD_B, scope: 'link' },
  { dst: '10.65.0.0/26', type: 'blackhole' },
  // A remote block over VXLAN: the gateway is the remote tunnel address, reachable only because of onlink.
  { dst: '10.65.1.0/26', via: '10.65.1.0', dev: 'vxlan.calico', onlink: true },
  // A remote block without encapsulation, through an ordinary gateway on the underlay.
  { dst: '10.65.2.0/26', via: '192.0.2.12', dev: 'eth0', mtu: 1450 },
];

const felixKernelLines = [
  '10.65.0.2 dev caliaaaaaaaaaaa proto 80 scope link',
  '10.65.0.3 dev calibbbbbbbbbbb proto 80 scope link',
  '10.65.1.0/26 via 10.65.1.0 dev vxlan.calico proto 80 onlink',
  '10.65.2.0/26 via 192.0.2.12 dev eth0 proto 80 mtu 1450',
  '192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.11',
  'blackhole 10.65.0.0/26 proto 80',
];

test('routes: apply writes the routes with our protocol; nothing more until something changes', { skip }, async () => {
  await withNode(async (ns) => {
    const table = new RouteTable({ protocol: FELIX_ROUTE_PROTOCOL, netns: ns });
    table.setDesired(felixRoutes);
    const first = await table.apply();
    assert.deepEqual([first.added, first.replaced, first.deleted, first.failed], [5, 0, 0, []]);
    assert.deepEqual(await routes(ns), felixKernelLines);

    const again = await table.apply();
    assert.deepEqual([again.added, again.replaced, again.deleted], [0, 0, 0]);
    // What the kernel reports reads back equal to what we asked for: a resync finds nothing to rewrite.
    await table.resync();
    const afterResync = await table.apply();
    assert.deepEqual([afterResync.added, afterResync.replaced, afterResync.deleted], [0, 0, 0]);

    // A second table object (felix restarted) takes over the routes as they are.
    const restarted = new RouteTable({ protocol: FELIX_ROUTE_PROTOCOL, netns: ns });
    restarted.setDesired(felixRoutes.slice(1));
    const restart = await restarted.apply();
    assert.deepEqual([restart.added, restart.replaced, restart.deleted], [0, 0, 1]);
    assert.ok(!(await routes(ns)).includes(felixKernelLines[0]));

    restarted.set({ dst: '10.65.0.3', dev: WORKLOAD_A });
    const moved = await restarted.apply();
    assert.deepEqual([moved.added, moved.replaced, moved.deleted], [0, 1, 0]);
    assert.ok((await routes(ns)).includes('10.65.0.3 dev caliaaaaaaaaaaa proto 80 scope link'));

    // A metric change is a new kernel key: the old route goes, the new one comes.
    restarted.set({ dst: '10.65.0.3', dev: WORKLOAD_A, metric: 10 });
    const metric = await restarted.apply();
    assert.deepEqual([metric.added, metric.deleted], [1, 1]);
    assert.ok((await routes(ns)).includes('10.65.0.3 dev caliaaaaaaaaaaa proto 80 scope link metric 10'));
  });
});

test('routes: foreign routes are never deleted; a wanted route takes over a foreign one at its key', {
  skip,
}, async () => {
  await withNode(async (ns) => {
    await ip(ns, [
      'route add 203.0.113.0/24 via 192.0.2.1 proto static',
      'route add 10.65.2.0/26 via 192.0.2.1 proto static',
      'route add 10.65.0.2 dev eth0 proto static metric 100',
    ]);
    const table = new RouteTable({ protocol: FELIX_ROUTE_PROTOCOL, netns: ns });
    table.setDesired(felixRoutes);
    const result = await table.apply();
    assert.deepEqual([result.added, result.replaced, result.failed], [5, 0, []]);
    const lines = await routes(ns);
    // Not wanted by us: left alone, also at a destination we route at another metric.
    assert.ok(lines.includes('203.0.113.0/24 via 192.0.2.1 dev eth0 proto static'));
    assert.ok(lines.includes('10.65.0.2 dev eth0 proto static scope link metric 100'));
    // Same (dst, metric) as a route we want: the kernel holds one route per key, and ours replaced it (felix's rule).
    assert.ok(lines.includes('10.65.2.0/26 via 192.0.2.12 dev eth0 proto 80 mtu 1450'));
    assert.ok(!lines.some((line) => line.startsWith('10.65.2.0/26 via 192.0.2.1 ')));

    // Wanting nothing deletes ours only.
    table.setDesired([]);
    await table.resync();
    const cleared = await table.apply();
    assert.equal(cleared.deleted, 5);
    assert.deepEqual(await routes(ns), [
      '10.65.0.2 dev eth0 proto static scope link metric 100',
      '192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.11',
      '203.0.113.0/24 via 192.0.2.1 dev eth0 proto static',
    ]);
  });
});

test('routes: resync + apply repairs drift (a route deleted, one changed, a stray of ours)', { skip }, async () => {
  await withNode(async (ns) => {
    const table = new RouteTable({ protocol: FELIX_ROUTE_PROTOCOL, netns: ns });
    table.setDesired(felixRoutes);
    await table.apply();
    await ip(ns, [
      'route del 10.65.0.2/32',
      'route del blackhole 10.65.0.0/26',
      'route replace 10.65.0.3 dev caliaaaaaaaaaaa proto 80',
      'route add 10.65.9.9 dev calibbbbbbbbbbb proto 80',
    ]);
    await table.resync();
    const repaired = await table.apply();
    assert.deepEqual([repaired.added, repaired.replaced, repaired.deleted, repaired.failed], [2, 1, 1, []]);
    assert.deepEqual(await routes(ns), felixKernelLines);
  });
});

test('routes: a route to a missing device fails alone and is retried; a device that came back is repaired', {
  skip,
}, async () => {
  await withNode(async (ns) => {
    const table = new RouteTable({ protocol: FELIX_ROUTE_PROTOCOL, netns: ns });
    table.setDesired([...felixRoutes, { dst: '10.65.0.4', dev: 'caliccccccccccc' }]);
    const first = await table.apply();
    assert.equal(first.added, 5);
    assert.deepEqual(first.failed, [{ dst: '10.65.0.4/32', error: 'Cannot find device "caliccccccccccc"' }]);
    assert.deepEqual(await routes(ns), felixKernelLines);

    await ip(ns, [
      'link add caliccccccccccc type veth peer name pod-c',
      'link set caliccccccccccc up',
      'link set pod-c up',
    ]);
    const retried = await table.apply();
    assert.deepEqual([retried.added, retried.failed], [1, []]);
    assert.ok((await routes(ns)).includes('10.65.0.4 dev caliccccccccccc proto 80 scope link'));

    // Down, the kernel drops the device's routes; back up, the table rewrites them once told.
    await ip(ns, [`link set ${WORKLOAD_A} down`]);
    assert.ok(!(await routes(ns)).includes(felixKernelLines[0]));
    await ip(ns, [`link set ${WORKLOAD_A} up`]);
    table.deviceChanged(WORKLOAD_A);
    const restored = await table.apply();
    assert.deepEqual([restored.added, restored.replaced, restored.failed], [1, 0, []]);
    assert.ok((await routes(ns)).includes(felixKernelLines[0]));
  });
});

test('routes: felix and BGP share the main table by protocol; another table stays separate', { skip }, async () => {
  await withNode(async (ns) => {
    const felix = new RouteTable({ protocol: FELIX_ROUTE_PROTOCOL, netns: ns });
    const bgp = new RouteTable({ protocol: BGP_ROUTE_PROTOCOL, netns: ns });
    const other = new RouteTable({ protocol: FELIX_ROUTE_PROTOCOL, table: 100, netns: ns });
    felix.setDesired(felixRoutes);
    for (let i = 0; i < 50; i++) bgp.set({ dst: `198.51.100.${i * 4}/30`, via: '192.0.2.1', dev: 'eth0' });
    other.setDesired([
      { dst: '0.0.0.0/0', via: '192.0.2.1', dev: 'eth0' },
      { dst: '10.65.3.0/26', dev: 'eth0', scope: 'global' },
    ]);
    assert.equal((await other.apply()).added, 2, 'table 100 is created on the first write');
    await other.resync();
    assert.equal((await other.apply()).replaced, 0, 'a scope that is not the default reads back equal');
    assert.equal((await bgp.apply()).added, 50);
    assert.equal((await felix.apply()).added, 5);

    for (let i = 0; i < 25; i++) bgp.delete(`198.51.100.${i * 4}/30`);
    assert.equal((await bgp.apply()).deleted, 25);
    felix.setDesired([]);
    assert.equal((await felix.apply()).deleted, 5);
    const lines = await routes(ns);
    assert.equal(lines.filter((line) => line.includes('proto bgp')).length, 25);
    assert.equal(lines.filter((line) => line.includes('proto 80')).length, 0);
    assert.deepEqual(await routes(ns, 100), [
      '10.65.3.0/26 dev eth0 proto 80',
      'default via 192.0.2.1 dev eth0 proto 80',
    ]);

    // A table that was never written reads as empty.
    const unused = new RouteTable({ protocol: FELIX_ROUTE_PROTOCOL, table: 4000, netns: ns });
    await unused.resync();
    assert.deepEqual((await unused.apply()).failed, []);
  });
});
