import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kindByAlias, MemoryBackend, type Resource, ResourceClient } from '../../datastore';
import {
  type AllocationBlock,
  assignNext,
  blockKey,
  checkIpam,
  choosePools,
  IpamGarbageCollector,
  IpamService,
  isIpamError,
  namespaceFromProfile,
  newBlock,
  ordinalsOfHandle,
  parseBlock,
  parseIpv4Cidr,
  readIpamSnapshot,
  readUsage,
  releaseOrdinals,
  tunnelAddressRequest,
} from '../../ipam';

const v3 = 'projectcalico.org/v3';

function pool(name: string, cidr: string, spec: Record<string, unknown> = {}): Resource {
  return { apiVersion: v3, kind: 'IPPool', metadata: { name }, spec: { cidr, ...spec } };
}

async function store(...docs: Resource[]) {
  const backend = new MemoryBackend();
  const client = new ResourceClient(backend);
  for (const d of docs) await client.create(d);
  return { backend, client };
}

/** The WorkloadEndpoint of pod p1 on node n1, using one address. */
function podEndpoint(ipNetwork: string): Resource {
  return {
    apiVersion: v3,
    kind: 'WorkloadEndpoint',
    metadata: { name: 'n1-k8s-p1-eth0', namespace: 'default' },
    spec: {
      node: 'n1',
      orchestrator: 'k8s',
      pod: 'p1',
      endpoint: 'eth0',
      interfaceName: 'cali0',
      ipNetworks: [ipNetwork],
    },
  };
}

async function blocksIn(backend: MemoryBackend): Promise<AllocationBlock[]> {
  return (await readIpamSnapshot(backend)).blocks.map((b) => b.block);
}

describe('allocation block', () => {
  it('hands out ordinals in order, puts freed ones at the back and drops unused attributes', () => {
    const b = newBlock(parseIpv4Cidr('10.0.0.0/30')!, 'n1', false);
    assert.equal(assignNext(b, 'h1', { node: 'n1' }), 0);
    assert.equal(assignNext(b, 'h2', { node: 'n1' }), 1);
    assert.equal(assignNext(b, 'h1', { node: 'n1' }), 2);
    assert.deepEqual(b.attributes.length, 2, 'h1 with equal attributes shares one entry');
    releaseOrdinals(b, [1]);
    assert.deepEqual(b.unallocated, [3, 1]);
    assert.equal(b.attributes.length, 1);
    assert.deepEqual(ordinalsOfHandle(b, 'h1'), [0, 2]);
    assert.equal(assignNext(b, 'h3', {}), 3);
    assert.equal(assignNext(b, 'h4', {}), 1);
    assert.equal(assignNext(b, 'h5', {}), undefined);
  });

  it("round-trips Calico's stored JSON", () => {
    // A block as Calico v3.30 writes it to etcd.
    const calico =
      '{"cidr":"192.168.95.0/26","affinity":"host:node1","allocations":[0,null,1],"unallocated":[1],' +
      '"attributes":[{"handle_id":"ipip-tunnel-addr-node1","secondary":{"node":"node1","type":"ipipTunnelAddress"}},' +
      '{"handle_id":"k8s-pod-network.abc","secondary":{"namespace":"default","node":"node1","pod":"p","timestamp":"t"}}],' +
      '"deleted":false,"sequenceNumber":2,"sequenceNumberForAllocation":{"0":1,"2":2}}';
    const b = parseBlock(calico);
    assert.deepEqual(ordinalsOfHandle(b, 'k8s-pod-network.abc'), [2]);
    assert.equal(b.strictAffinity, undefined);
  });
});

describe('pool selection', () => {
  const pools = [
    pool('a', '10.1.0.0/24'),
    pool('b', '10.2.0.0/24', { namespaceSelector: 'team == "green"' }),
    pool('c', '10.3.0.0/24', { nodeSelector: 'rack == "r2"' }),
    pool('off', '10.4.0.0/24', { disabled: true }),
  ];
  const node = { name: 'n1', labels: { rack: 'r1' } };
  const green = namespaceFromProfile('g', {
    apiVersion: v3,
    kind: 'Profile',
    metadata: { name: 'kns.g', annotations: {} },
    spec: { labelsToApply: { 'pcns.team': 'green', 'pcns.projectcalico.org/name': 'g' } },
  });

  it('uses enabled pools whose node and namespace selectors match', () => {
    assert.deepEqual(
      choosePools({ pools, node, use: 'Workload' }).pools.map((p) => p.name),
      ['a'],
    );
    assert.deepEqual(
      choosePools({ pools, node, namespace: green, use: 'Workload' }).pools.map((p) => p.name),
      ['a', 'b'],
    );
  });

  it('prefers the pod annotation over the namespace one over the CNI config, unconditionally', () => {
    const ns = { ...green, annotations: { 'cni.projectcalico.org/ipv4pools': '["c"]' } };
    const ctx = { pools, node, namespace: ns, use: 'Workload' as const, configuredPools: ['a'] };
    assert.deepEqual(
      choosePools(ctx).pools.map((p) => p.name),
      ['c'],
    );
    const pod = { podAnnotations: { 'cni.projectcalico.org/ipv4pools': '["10.2.0.0/24"]' } };
    assert.deepEqual(
      choosePools({ ...ctx, ...pod }).pools.map((p) => p.name),
      ['b'],
    );
    assert.deepEqual(
      choosePools({ pools, node, use: 'Workload', configuredPools: ['c'] }).pools.map((p) => p.name),
      ['c'],
    );
  });

  it('rejects disabled, unknown and malformed requests clearly', () => {
    assert.throws(
      () => choosePools({ pools, node, use: 'Workload', configuredPools: ['off'] }),
      /pool off .* disabled/,
    );
    assert.throws(
      () => choosePools({ pools, node, use: 'Workload', configuredPools: ['nope'] }),
      /pool nope .* does not exist/,
    );
    assert.throws(
      () => choosePools({ pools, node, use: 'Workload', podAnnotations: { 'cni.projectcalico.org/ipv4pools': 'a' } }),
      /not a JSON list/,
    );
    assert.throws(
      () =>
        choosePools({
          pools,
          node,
          use: 'Workload',
          podAnnotations: { 'cni.projectcalico.org/ipAddrs': '["10.9.0.1"]' },
        }),
      /in no enabled IP pool/,
    );
  });
});

describe('IpamService on the in-memory datastore', () => {
  it('fills a /26 pool and then fails with a clear message', async () => {
    const { backend } = await store(pool('pool-a', '10.0.0.0/26'));
    const svc = new IpamService(backend, 'node-1');
    const got = await Promise.all(Array.from({ length: 64 }, (_, i) => svc.assign({ handleId: `net.c${i}` })));
    assert.equal(new Set(got.map((g) => g.address)).size, 64);
    assert.ok(svc.stats.batches < 10, `64 concurrent requests took ${svc.stats.batches} batches`);
    await assert.rejects(svc.assign({ handleId: 'net.extra' }), (err: Error) => {
      assert.ok(isIpamError(err, 'Exhausted'));
      assert.equal(err.message, 'no free address in pools [pool-a] for node node-1 (pool-a: 64 of 64 in use)');
      return true;
    });
  });

  it('gives a repeated handle its address again and releases idempotently', async () => {
    const { backend } = await store(pool('p', '10.0.0.0/24'));
    const svc = new IpamService(backend, 'n1');
    const a = await svc.assign({ handleId: 'net.x' });
    const again = await svc.assign({ handleId: 'net.x' });
    assert.equal(again.address, a.address);
    assert.equal(again.existing, true);
    assert.deepEqual(await svc.release('net.x'), [a.address]);
    assert.deepEqual(await svc.release('net.x'), []);
    assert.deepEqual(await svc.addressesOf('net.x'), []);
  });

  it('borrows from another node only without strict affinity', async () => {
    const { backend, client } = await store(pool('p', '10.0.0.0/26'));
    const n1 = new IpamService(backend, 'n1');
    const n2 = new IpamService(backend, 'n2');
    await n1.assign({ handleId: 'net.a' });
    const borrowed = await n2.assign({ handleId: 'net.b' });
    assert.match(borrowed.address, /^10\.0\.0\./);
    const blocks = await blocksIn(backend);
    assert.equal(blocks.length, 1);
    assert.equal(blocks[0]!.affinity, 'host:n1', "the block stays n1's");
    await client.apply({
      apiVersion: v3,
      kind: 'IPAMConfiguration',
      metadata: { name: 'default' },
      spec: { strictAffinity: true },
    });
    await assert.rejects(n2.assign({ handleId: 'net.c' }), /strictAffinity forbids borrowing/);
  });

  it('follows pools and IPAMConfiguration from a syncer once watching, with no reads per batch', async () => {
    const { backend, client } = await store(pool('p', '10.0.0.0/26'));
    const n1 = new IpamService(backend, 'n1');
    const n2 = new IpamService(backend, 'n2');
    n2.watchContext();
    await n1.assign({ handleId: 'net.a' });
    await new Promise((r) => setTimeout(r, 10));
    let poolReads = 0;
    const list = backend.list.bind(backend);
    backend.list = (kind, namespace) => {
      if (kind?.kind === 'IPPool') poolReads++;
      return list(kind, namespace);
    };
    assert.match((await n2.assign({ handleId: 'net.b' })).address, /^10\.0\.0\./, 'borrowed');
    await client.apply({
      apiVersion: v3,
      kind: 'IPAMConfiguration',
      metadata: { name: 'default' },
      spec: { strictAffinity: true },
    });
    await assert.rejects(
      n2.assign({ handleId: 'net.c' }),
      /strictAffinity forbids borrowing/,
      'the change is seen at once',
    );
    assert.equal(poolReads, 0, 'no batch read the pools');
    n2.stop();
  });

  it("claims a new block when the node's blocks are full, up to maxBlocksPerHost", async () => {
    const { backend, client } = await store(pool('p', '10.0.0.0/24', { blockSize: 30 }));
    await client.create({
      apiVersion: v3,
      kind: 'IPAMConfiguration',
      metadata: { name: 'default' },
      spec: { strictAffinity: true, maxBlocksPerHost: 2 },
    });
    const svc = new IpamService(backend, 'n1');
    for (let i = 0; i < 8; i++) await svc.assign({ handleId: `net.${i}` });
    const blocks = await blocksIn(backend);
    assert.equal(blocks.length, 2);
    assert.ok(blocks.every((b) => b.affinity === 'host:n1' && b.strictAffinity));
    await assert.rejects(svc.assign({ handleId: 'net.9' }), /maximum of 2 blocks/);
  });

  it('assigns an exact address from the ipAddrs annotation and refuses one in use', async () => {
    const { backend } = await store(pool('p', '10.0.0.0/24'));
    const svc = new IpamService(backend, 'n1');
    const ipAddrs = (ip: string) => ({ 'cni.projectcalico.org/ipAddrs': `["${ip}"]` });
    const got = await svc.assign({ handleId: 'net.a', podAnnotations: ipAddrs('10.0.0.77') });
    assert.equal(got.address, '10.0.0.77');
    await assert.rejects(
      svc.assign({ handleId: 'net.b', podAnnotations: ipAddrs('10.0.0.77') }),
      /already in use \(handle net.a\)/,
    );
  });

  it('keeps two nodes from ever sharing an address while they race', async () => {
    const { backend } = await store(pool('p', '10.0.0.0/26', { blockSize: 28 }));
    const nodes = [new IpamService(backend, 'n1'), new IpamService(backend, 'n2'), new IpamService(backend, 'n2')];
    const results = await Promise.allSettled(
      Array.from({ length: 70 }, (_, i) => nodes[i % 3]!.assign({ handleId: `net.${i}` })),
    );
    const addresses = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.address] : []));
    assert.equal(addresses.length, 64, 'every address of the pool is handed out once');
    assert.equal(new Set(addresses).size, 64);
    const report = checkIpam(await readIpamSnapshot(backend), await readUsage(backend));
    assert.equal(report.handleMismatches.length, 0);
    assert.equal(report.duplicateAffinities.length, 0);
  });
});

describe('garbage collection and check', () => {
  it('releases addresses no endpoint uses after the grace period, and surplus empty blocks', async () => {
    const { backend, client } = await store(pool('p', '10.0.0.0/24', { blockSize: 30 }));
    const svc = new IpamService(backend, 'n1');
    const used = await svc.assign({ handleId: 'net.used', namespace: 'default', pod: 'p1' });
    const leaked = await Promise.all([1, 2, 3, 4].map((i) => svc.assign({ handleId: `net.leak${i}` })));
    await client.create(podEndpoint(`${used.address}/32`));
    const before = checkIpam(await readIpamSnapshot(backend), await readUsage(backend));
    assert.deepEqual(before.leaked.map((l) => l.address).sort(), leaked.map((l) => l.address).sort());

    const gc = new IpamGarbageCollector(backend, svc.allocator, 60_000);
    const first = await gc.run(1_000_000);
    assert.deepEqual(first.released, [], 'nothing is released within the grace period');
    assert.equal(first.suspected, 4);
    const second = await gc.run(1_000_000 + 60_000);
    assert.equal(second.released.length, 4);
    assert.equal(second.blocksReleased.length, 1, 'the block emptied by the release goes back');
    const after = checkIpam(await readIpamSnapshot(backend), await readUsage(backend));
    assert.equal(after.problems, 0);
    assert.equal(after.allocations, 1);
    assert.ok((await backend.kvGet(blockKey(used.block))) !== undefined, 'the block in use stays');
  });

  it('reports affinities without blocks and endpoints without allocations', async () => {
    const { backend, client } = await store(pool('p', '10.0.0.0/24'));
    await backend.kvCommit(
      [],
      [{ key: '/calico/ipam/v2/host/n9/ipv4/block/10.0.0.64-26', value: '{"state":"pending","deleted":false}' }],
    );
    await client.create(podEndpoint('10.0.0.9/32'));
    const report = checkIpam(await readIpamSnapshot(backend), await readUsage(backend));
    assert.deepEqual(report.affinitiesWithoutBlock, [{ node: 'n9', cidr: '10.0.0.64/26' }]);
    assert.deepEqual(
      report.unallocated.map((u) => u.address),
      ['10.0.0.9'],
    );
    assert.equal(report.problems, 2);
    assert.ok(kindByAlias('wep'));
  });
});

describe('tunnel addresses', () => {
  it("come from a pool with the encapsulation on, under Calico's handle", async () => {
    const { backend } = await store(
      pool('routed', '10.1.0.0/24', { ipipMode: 'Never' }),
      pool('ipip', '10.2.0.0/24', { ipipMode: 'CrossSubnet' }),
      pool('vx', '10.3.0.0/24', { vxlanMode: 'Always' }),
    );
    const svc = new IpamService(backend, 'n1');
    const ipip = await svc.assign(tunnelAddressRequest('n1', 'ipip'));
    assert.match(ipip.address, /^10\.2\.0\./);
    const vxlan = await svc.assign(tunnelAddressRequest('n1', 'vxlan'));
    assert.match(vxlan.address, /^10\.3\.0\./);
    assert.deepEqual(await svc.addressesOf('ipip-tunnel-addr-n1'), [ipip.address]);
    const again = await svc.assign(tunnelAddressRequest('n1', 'ipip'));
    assert.equal(again.address, ipip.address, 'a node keeps its tunnel address');
    const stored = (await readIpamSnapshot(backend)).blocks.flatMap((b) => b.block.attributes);
    assert.ok(stored.some((a) => a.handle_id === 'ipip-tunnel-addr-n1' && a.secondary?.type === 'ipipTunnelAddress'));
  });
});
