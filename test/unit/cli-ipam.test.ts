import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatCount, formatPercent, renderAddress, renderCheckReport, renderUtilization } from '../../cli/ipam';
import { type KvStore, type KvWrite, kindByAlias, MemoryBackend, type Resource, ResourceClient } from '../../datastore';
import {
  type AllocationBlock,
  affinityKey,
  blockKey,
  checkIpam,
  checkPoolDeletion,
  IpamService,
  ipamUtilization,
  ipPoolDeletionHooks,
  readIpamSnapshot,
  readUsage,
  releasePoolAffinities,
} from '../../ipam';

const v3 = 'projectcalico.org/v3';
const ippool = kindByAlias('ippool')!;

function pool(name: string, cidr: string, spec: Record<string, unknown> = {}): Resource {
  return { apiVersion: v3, kind: 'IPPool', metadata: { name }, spec: { cidr, ...spec } };
}

function workload(name: string, address: string): Resource {
  return {
    apiVersion: v3,
    kind: 'WorkloadEndpoint',
    metadata: { name: `n1-k8s-${name}-eth0`, namespace: 'default' },
    spec: {
      node: 'n1',
      orchestrator: 'k8s',
      pod: name,
      endpoint: 'eth0',
      interfaceName: 'cali0',
      ipNetworks: [`${address}/32`],
    },
  };
}

async function store(...docs: Resource[]) {
  const backend = new MemoryBackend();
  const client = new ResourceClient(backend);
  for (const d of docs) await client.create(d);
  return { backend, client };
}

const ipAddrs = (...addresses: string[]) => ({ 'cni.projectcalico.org/ipAddrs': JSON.stringify(addresses) });

/** Takes each address exactly (as a pod's ipAddrs annotation does), one handle each. */
async function takeExactly(svc: IpamService, addresses: string[]): Promise<void> {
  for (const address of addresses) await svc.assign({ handleId: `net.${address}`, podAnnotations: ipAddrs(address) });
}

async function blocksOf(backend: MemoryBackend): Promise<AllocationBlock[]> {
  return (await readIpamSnapshot(backend)).blocks.map((b) => b.block);
}

describe("calicoctl's number formats", () => {
  it("prints counts as Go's %.5g", () => {
    assert.equal(formatCount(0), '0');
    assert.equal(formatCount(65536), '65536');
    assert.equal(formatCount(100000), '1e+05');
    assert.equal(formatCount(131072), '1.3107e+05');
    assert.equal(formatCount(16777216), '1.6777e+07');
    assert.equal(formatCount(2 ** 80), '1.2089e+24');
    assert.equal(formatCount(100005), '1e+05', 'an exact half rounds to even');
    assert.equal(formatCount(100015), '1.0002e+05');
    assert.equal(formatCount(999995), '1e+06', 'rounding up carries into the exponent');
  });

  it("prints percentages as Go's %.f, an exact half to even", () => {
    assert.equal(formatPercent(5, 65536), '0%');
    assert.equal(formatPercent(5, 64), '8%');
    assert.equal(formatPercent(3, 8), '38%');
    assert.equal(formatPercent(5, 8), '62%');
    assert.equal(formatPercent(1, 8), '12%');
    assert.equal(formatPercent(8, 8), '100%');
  });
});

describe('ipam show', () => {
  async function populated() {
    const { backend, client } = await store(
      pool('pool-a', '10.0.0.0/26'),
      pool('pool-b', '10.1.0.0/24', { blockSize: 29 }),
      pool('pool-c', '10.2.0.0/26'),
      pool('pool-v6', 'fd5f:abcd:64::/48'),
    );
    const svc = new IpamService(backend, 'n1');
    for (let i = 0; i < 5; i++) await svc.assign({ handleId: `net.a${i}`, configuredPools: ['pool-a'] });
    await takeExactly(
      svc,
      [8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18].map((n) => `10.1.0.${n}`),
    );
    await takeExactly(svc, ['10.2.0.9']);
    // Deleted without the IPAM hooks, pool-c leaves its block behind: an orphan.
    await client.delete(ippool, 'pool-c');
    const pools = await client.list(ippool);
    return { usage: ipamUtilization(pools, await blocksOf(backend)), blocks: await blocksOf(backend) };
  }

  it("renders calicoctl's table of pools and blocks", async () => {
    const { usage } = await populated();
    assert.equal(
      renderUtilization(usage, true),
      `+----------+-------------------+------------+------------+-------------------+
| GROUPING | CIDR              | IPS TOTAL  | IPS IN USE | IPS FREE          |
+----------+-------------------+------------+------------+-------------------+
| IP Pool  | 10.0.0.0/26       |         64 |     5 (8%) |          59 (92%) |
| Block    | 10.0.0.0/26       |         64 |     5 (8%) |          59 (92%) |
| IP Pool  | 10.1.0.0/24       |        256 |    11 (4%) |         245 (96%) |
| Block    | 10.1.0.8/29       |          8 |   8 (100%) |            0 (0%) |
| Block    | 10.1.0.16/29      |          8 |    3 (38%) |           5 (62%) |
| IP Pool  | fd5f:abcd:64::/48 | 1.2089e+24 |     0 (0%) | 1.2089e+24 (100%) |
| Block    | 10.2.0.0/26       |         64 |     1 (2%) |          63 (98%) |
+----------+-------------------+------------+------------+-------------------+
`,
    );
  });

  it('shows only the pools without --show-blocks', async () => {
    const { usage } = await populated();
    const rows = renderUtilization(usage, false)
      .split('\n')
      .filter((l) => l.startsWith('| ') && !l.startsWith('| GROUPING'));
    assert.deepEqual(
      rows.map((r) => r.split('|').map((c) => c.trim())[2]),
      ['10.0.0.0/26', '10.1.0.0/24', 'fd5f:abcd:64::/48'],
    );
  });

  it('tells whether one address is allocated, with its handle and sorted attributes', async () => {
    const { blocks } = await populated();
    assert.match(
      renderAddress('10.1.0.9', blocks),
      /^IP 10\.1\.0\.9 is in use\nHandle ID: net\.10\.1\.0\.9\nActive Owner Attributes:\n {2}node: n1\n {2}timestamp: \d{4}-[^\n]+\n$/,
    );
    assert.equal(renderAddress('10.1.0.19', blocks), 'IP 10.1.0.19 is not assigned\n');
    assert.equal(renderAddress('10.9.9.9', blocks), 'IP 10.9.9.9 is not assigned\n');
    assert.equal(renderAddress('fd5f:abcd:64::1', blocks), 'IP fd5f:abcd:64::1 is not assigned\n');
  });
});

describe('ipam check report', () => {
  async function checked() {
    const { backend, client } = await store(pool('p', '10.0.0.0/24'));
    const svc = new IpamService(backend, 'n1');
    const used = await svc.assign({ handleId: 'net.used', namespace: 'default', pod: 'used' });
    const leaked = await svc.assign({ handleId: 'net.leak', namespace: 'default', pod: 'gone' });
    await client.create(workload('used', used.address));
    await client.create(workload('unallocated', '10.0.0.200'));
    await client.create(workload('outside', '192.168.7.7'));
    return { report: checkIpam(await readIpamSnapshot(backend), await readUsage(backend)), leaked: leaked.address };
  }

  it('counts each class of problem and ends with the total', async () => {
    const { report } = await checked();
    const text = renderCheckReport(report, false);
    const lines = text.trimEnd().split('\n');
    assert.equal(lines[0], 'Checking IPAM for inconsistencies...');
    assert.ok(lines.includes('Found 1 IPAM blocks.'), text);
    assert.ok(lines.includes('IPAM blocks record 2 allocations.'), text);
    assert.ok(lines.includes('Found 1 IPs that are allocated in IPAM but not actually in use.'), text);
    assert.ok(
      lines.includes('Found 1 in-use IPs that are in IP pools but have no corresponding IPAM allocation.'),
      text,
    );
    assert.ok(lines.includes('Found 1 in-use IPs that are not in active IP pools.'), text);
    assert.ok(lines.includes('Found 0 handles that disagree with the blocks.'), text);
    assert.equal(lines.at(-1), 'Check complete; found 3 problems.');
    assert.ok(!text.includes('10.0.0.200'), 'no addresses without --show-problem-ips');
  });

  it('lists the problem addresses with --show-problem-ips', async () => {
    const { report, leaked } = await checked();
    const text = renderCheckReport(report, true);
    assert.match(text, new RegExp(`\\n {2}${leaked.replace(/\./g, '\\.')} leaked; handle net\\.leak; .*pod=gone`));
    assert.match(
      text,
      /\n {2}10\.0\.0\.200 in use by WorkloadEndpoint default\/n1-k8s-unallocated-eth0 has no IPAM allocation\.\n/,
    );
    assert.match(
      text,
      /\n {2}192\.168\.7\.7 in use by WorkloadEndpoint default\/n1-k8s-outside-eth0 is not in an active IP pool\.\n/,
    );
  });
});

describe('IPPool deletion guard', () => {
  /** pool-a with addresses on n1 in one block and an empty block of n1; pool-b with one address. */
  async function twoPools() {
    const { backend, client } = await store(pool('pool-a', '10.0.0.0/24'), pool('pool-b', '10.1.0.0/24'));
    const svc = new IpamService(backend, 'n1');
    await takeExactly(svc, ['10.0.0.5', '10.0.0.6', '10.0.0.7', '10.0.0.70', '10.1.0.1']);
    await svc.release('net.10.0.0.70');
    const guarded = new ResourceClient(backend, ipPoolDeletionHooks(backend));
    return { backend, client, guarded, svc };
  }

  it('refuses to delete an enabled pool with allocations, naming the count and the way out', async () => {
    const { client, guarded } = await twoPools();
    await assert.rejects(guarded.delete(ippool, 'pool-a'), {
      message: 'IPPool "pool-a" has 3 allocated addresses: disable it first (spec.disabled: true), then delete it',
    });
    assert.equal((await client.get(ippool, 'pool-a')).metadata.name, 'pool-a', 'the pool is still there');
  });

  it('allows an enabled pool with nothing allocated and a disabled pool', async () => {
    const { backend } = await twoPools();
    await checkPoolDeletion(backend, pool('empty', '10.5.0.0/24'));
    await checkPoolDeletion(backend, pool('pool-a', '10.0.0.0/24', { disabled: true }));
    await checkPoolDeletion(backend, pool('v6', 'fd00::/64'));
    await assert.rejects(checkPoolDeletion(backend, pool('wide', '10.0.0.0/8')), /has 4 allocated addresses/);
    await assert.rejects(checkPoolDeletion(backend, pool('narrow', '10.0.0.6/31')), /has 2 allocated addresses/);
  });

  it("deletes a disabled pool and releases its blocks' affinities", async () => {
    const { backend, client, guarded } = await twoPools();
    // A stale affinity record of the pool (its block is gone) is cleaned up too.
    await backend.kvCommit(
      [],
      [{ key: affinityKey('n2', '10.0.0.128/26'), value: '{"state":"confirmed","deleted":false}' }],
    );
    const current = await client.get(ippool, 'pool-a');
    await client.replace({ ...current, spec: { ...current.spec, disabled: true } });
    await guarded.delete(ippool, 'pool-a');

    await assert.rejects(client.get(ippool, 'pool-a'), /not found/);
    const snapshot = await readIpamSnapshot(backend);
    const blocks = new Map(snapshot.blocks.map((b) => [b.block.cidr, b.block]));
    assert.equal(blocks.has('10.0.0.64/26'), false, 'the empty block is deleted');
    assert.equal(blocks.get('10.0.0.0/26')?.affinity, null, 'the block in use stays, affine to no node');
    assert.equal(blocks.get('10.0.0.0/26')?.allocations.filter((a) => a !== null).length, 3);
    assert.equal(blocks.get('10.1.0.0/26')?.affinity, 'host:n1', "pool-b's block is untouched");
    assert.deepEqual(
      snapshot.affinities.map((a) => `${a.node} ${a.cidr}`),
      ['n1 10.1.0.0/26'],
    );
    const report = checkIpam(snapshot, await readUsage(backend));
    assert.deepEqual(report.blocksWithoutAffinity, []);
    assert.deepEqual(report.affinitiesWithoutBlock, []);
  });

  it('never deletes a block that gained an allocation after it was read', async () => {
    const { backend, svc } = await twoPools();
    // The first commit finds the empty block changed under it: n1 allocated there meanwhile.
    let raced = false;
    const racing: KvStore = {
      kvGet: (key) => backend.kvGet(key),
      kvList: (prefix) => backend.kvList(prefix),
      kvWatch: (prefix, after, handlers) => backend.kvWatch(prefix, after, handlers),
      async kvCommit(guards, writes: readonly KvWrite[]) {
        if (!raced && writes.some((w) => w.key === blockKey('10.0.0.64/26'))) {
          raced = true;
          await takeExactly(svc, ['10.0.0.71']);
        }
        return backend.kvCommit(guards, writes);
      },
    };
    const released = await releasePoolAffinities(racing, '10.0.0.0/24');
    assert.ok(raced);
    assert.deepEqual(released.deletedBlocks, []);
    assert.deepEqual(released.unaffinedBlocks.sort(), ['10.0.0.0/26', '10.0.0.64/26']);
    const block = (await blocksOf(backend)).find((b) => b.cidr === '10.0.0.64/26');
    assert.equal(block?.affinity, null);
    assert.equal(block?.allocations.filter((a) => a !== null).length, 1);
  });

  it('leaves other kinds alone', async () => {
    const { backend, guarded } = await twoPools();
    const tier = { apiVersion: v3, kind: 'Tier', metadata: { name: 't' }, spec: { order: 10 } };
    await guarded.create(tier);
    await guarded.delete(kindByAlias('tier')!, 't');
    assert.equal((await readIpamSnapshot(backend)).affinities.length, 3);
  });
});
