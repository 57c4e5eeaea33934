import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DocumentRejected,
  etcdKey,
  isDatastoreError,
  KvSyncer,
  kindByAlias,
  MemoryBackend,
  parseEtcdKey,
  type Resource,
  ResourceClient,
  Syncer,
} from '../../datastore';
import { backendContract } from '../support/backend-contract';
import { SyncRecorder } from '../support/sync-recorder';

const ippools = kindByAlias('ippools')!;
const weps = kindByAlias('wep')!;

function pool(name: string, cidr = '10.1.0.0/16'): Resource {
  return { apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name }, spec: { cidr } };
}

describe('etcd key layout', () => {
  it("is Calico's: /calico/resources/v3/<group>/<plural>/[<ns>/]<name>", () => {
    assert.equal(etcdKey(ippools, 'pool-a'), '/calico/resources/v3/projectcalico.org/ippools/pool-a');
    assert.equal(
      etcdKey(weps, 'n1-k8s-a-eth0', 'x'),
      '/calico/resources/v3/projectcalico.org/workloadendpoints/x/n1-k8s-a-eth0',
    );
    const knp = kindByAlias('knp')!;
    assert.equal(etcdKey(knp, 'deny', 'x'), '/calico/resources/v3/networking.k8s.io/networkpolicies/x/deny');
  });

  it('parses keys back and rejects foreign ones', () => {
    const parsed = parseEtcdKey('/calico/resources/v3/projectcalico.org/workloadendpoints/x/w1');
    assert.equal(parsed?.kind.kind, 'WorkloadEndpoint');
    assert.deepEqual(parsed?.key, {
      apiVersion: 'projectcalico.org/v3',
      kind: 'WorkloadEndpoint',
      namespace: 'x',
      name: 'w1',
    });
    assert.equal(parseEtcdKey('/calico/ipam/v2/assignment/ipv4/block/10.0.0.0-26'), undefined);
    assert.equal(parseEtcdKey('/calico/resources/v3/projectcalico.org/ippools/x/extra'), undefined);
  });

  it('resolves calicoctl aliases case-insensitively', () => {
    for (const alias of ['IPPool', 'ippools', 'ipp', 'POOLS']) assert.equal(kindByAlias(alias)?.kind, 'IPPool');
    assert.equal(kindByAlias('gnp')?.kind, 'GlobalNetworkPolicy');
    assert.equal(kindByAlias('policy')?.apiVersion, 'projectcalico.org/v3');
    assert.equal(kindByAlias('knp')?.apiVersion, 'networking.k8s.io/v1');
    assert.equal(kindByAlias('nonsense'), undefined);
  });
});

describe('MemoryBackend', () => {
  backendContract(async () => new MemoryBackend());

  it('fails a watch from a compacted revision', async () => {
    const b = new MemoryBackend();
    const { revision } = await b.list();
    await b.create(pool('c'));
    b.compact();
    const err = await new Promise<Error>((resolve) =>
      b.watch({ afterRevision: revision }, { onEvents: () => {}, onError: resolve }),
    );
    assert.ok(isDatastoreError(err, 'Compacted'));
  });
});

describe('Syncer', () => {
  it('delivers a snapshot, then in-sync, then updates in order', async () => {
    const b = new MemoryBackend();
    await b.create(pool('p1', '10.1.0.0/16'));
    await b.create(pool('p2', '10.2.0.0/16'));
    const rec = new SyncRecorder();
    const syncer = new Syncer(b, rec);
    syncer.start();
    await rec.until(() => rec.statuses.includes('in-sync'));
    assert.deepEqual(
      rec.updates.map((u) => `${u.type} ${u.object.metadata.name}`),
      ['ADDED p1', 'ADDED p2'],
    );
    const p1 = await b.get(ippools, 'p1');
    await b.update({ ...p1, spec: { cidr: '10.3.0.0/16' } });
    await b.delete(ippools, 'p2');
    await rec.until(() => rec.updates.length === 4);
    syncer.stop();
    assert.deepEqual(
      rec.updates.slice(2).map((u) => `${u.type} ${u.object.metadata.name}`),
      ['MODIFIED p1', 'DELETED p2'],
    );
    assert.deepEqual(rec.problems, []);
  });

  it('relists and sends only the difference when the watch breaks and history is compacted', async () => {
    const b = new MemoryBackend();
    await b.create(pool('keep'));
    await b.create(pool('change'));
    await b.create(pool('remove'));
    const rec = new SyncRecorder();
    const syncer = new Syncer(b, rec, { retryInitialMs: 10 });
    syncer.start();
    await rec.until(() => rec.statuses.includes('in-sync'));
    b.setDown(true);
    await rec.until(() => rec.statuses.includes('resync'));
    b.setDown(false);
    // Changes the syncer cannot see as events: made, then compacted away, before it relists.
    const change = await b.get(ippools, 'change');
    await b.update({ ...change, spec: { cidr: '10.5.0.0/16' } });
    await b.delete(ippools, 'remove');
    await b.create(pool('new'));
    b.compact();
    await rec.until(() => rec.mirror.size === 3 && rec.mirror.has('IPPool//new'), 10_000, 'resync');
    syncer.stop();
    const after = rec.updates
      .slice(3)
      .map((u) => `${u.type} ${u.object.metadata.name}`)
      .sort();
    assert.deepEqual(after, ['ADDED new', 'DELETED remove', 'MODIFIED change']);
    assert.deepEqual(rec.mirror.get('IPPool//change')?.spec, { cidr: '10.5.0.0/16' });
    assert.deepEqual(rec.problems, []);
  });

  it('waits for an unreachable datastore and syncs when it comes back', async () => {
    const b = new MemoryBackend();
    await b.create(pool('p'));
    b.setDown(true);
    const rec = new SyncRecorder();
    const syncer = new Syncer(b, rec, { retryInitialMs: 10, retryMaxMs: 20 });
    syncer.start();
    await new Promise((r) => setTimeout(r, 60));
    assert.ok(!rec.statuses.includes('in-sync'));
    assert.ok(rec.statuses.every((s) => s === 'wait-for-datastore'));
    b.setDown(false);
    await rec.until(() => rec.statuses.includes('in-sync'));
    syncer.stop();
    assert.deepEqual([...rec.mirror.keys()], ['IPPool//p']);
  });

  it('filters by kind', async () => {
    const b = new MemoryBackend();
    await b.create(pool('p'));
    await b.create({ apiVersion: 'projectcalico.org/v3', kind: 'Tier', metadata: { name: 't' }, spec: { order: 100 } });
    const rec = new SyncRecorder();
    const syncer = new Syncer(b, rec, { kinds: [kindByAlias('tier')!, kindByAlias('node')!] });
    syncer.start();
    await rec.until(() => rec.statuses.includes('in-sync'));
    await b.create(pool('q', '10.8.0.0/16'));
    await b.create({ apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name: 'n1' }, spec: {} });
    await rec.until(() => rec.mirror.size === 2);
    syncer.stop();
    assert.deepEqual([...rec.mirror.keys()].sort(), ['Node//n1', 'Tier//t']);
  });
});

describe('KvSyncer', () => {
  it('mirrors raw keys under a prefix across a broken watch and a compaction', async () => {
    const b = new MemoryBackend();
    await b.kvCommit(
      [],
      [
        { key: '/calico/ipam/v2/handle/a', value: '1' },
        { key: '/calico/ipam/v2/handle/b', value: '1' },
        { key: '/calico/other', value: 'x' },
      ],
    );
    const mirror = new Map<string, string>();
    const statuses: string[] = [];
    const syncer = new KvSyncer(
      b,
      '/calico/ipam/v2/',
      {
        onUpdates: (updates) => {
          for (const u of updates) {
            if (u.type === 'DELETED') mirror.delete(u.object.key);
            else mirror.set(u.object.key, u.object.value);
          }
        },
        onStatus: (status) => statuses.push(status),
      },
      { retryInitialMs: 5 },
    );
    syncer.start();
    const until = async (p: () => boolean) => {
      for (let i = 0; i < 200 && !p(); i++) await new Promise((r) => setTimeout(r, 5));
      assert.ok(p(), `mirror ${JSON.stringify([...mirror])}`);
    };
    await until(() => mirror.size === 2);
    await b.kvCommit(
      [],
      [
        { key: '/calico/ipam/v2/handle/a', value: '2' },
        { key: '/calico/ipam/v2/handle/b', delete: true },
      ],
    );
    await until(() => mirror.get('/calico/ipam/v2/handle/a') === '2' && mirror.size === 1);
    b.setDown(true);
    b.setDown(false);
    await b.kvCommit([], [{ key: '/calico/ipam/v2/handle/c', value: '3' }]);
    b.compact();
    await until(() => mirror.size === 2 && mirror.get('/calico/ipam/v2/handle/c') === '3');
    syncer.stop();
    assert.ok(statuses.includes('resync'));
    assert.ok(!mirror.has('/calico/other'));
  });
});

describe('ResourceClient', () => {
  const client = () => new ResourceClient(new MemoryBackend());

  it('fills defaults and server metadata on create, keeps them across apply', async () => {
    const c = client();
    const created = await c.create(pool('p', '10.1.0.0/16'));
    assert.equal((created.spec as { blockSize: number }).blockSize, 26);
    assert.ok(created.metadata.uid && created.metadata.creationTimestamp);
    const applied = await c.apply({ ...pool('p', '10.1.0.0/16'), metadata: { name: 'p', labels: { a: 'b' } } });
    assert.equal(applied.metadata.uid, created.metadata.uid);
    assert.equal(applied.metadata.creationTimestamp, created.metadata.creationTimestamp);
    assert.deepEqual(applied.metadata.labels, { a: 'b' });
  });

  it('checks a whole batch first and writes nothing when one document is bad', async () => {
    const c = client();
    const docs = [
      pool('ok', '10.1.0.0/16'),
      { ...pool('bad', '10.2.0.0/16'), spec: { cidr: '10.2.0.0/16', blockSize: 33 } },
    ];
    await assert.rejects(c.write(docs, 'apply'), (e) => {
      assert.ok(e instanceof DocumentRejected);
      assert.equal(e.index, 1);
      assert.equal(e.message, 'IPPool "bad": spec.blockSize: must be between 20 and 32, got 33');
      return true;
    });
    assert.deepEqual(await c.list(ippools), []);
  });

  it('checks documents of one batch against each other', async () => {
    const c = client();
    await assert.rejects(c.write([pool('a', '10.1.0.0/16'), pool('b', '10.1.64.0/18')], 'create'), (e) => {
      assert.ok(e instanceof DocumentRejected);
      assert.equal(e.index, 1);
      assert.match(e.message, /^IPPool "b": spec\.cidr: /);
      return true;
    });
  });

  it('create refuses an existing object, replace a missing one; namespaced kinds default to "default"', async () => {
    const c = client();
    await c.create(pool('p'));
    await assert.rejects(c.create(pool('p')), /IPPool "p" already exists/);
    await assert.rejects(c.replace(pool('q', '10.9.0.0/16')), /IPPool "q" not found/);
    const set = await c.create({
      apiVersion: 'projectcalico.org/v3',
      kind: 'NetworkSet',
      metadata: { name: 'ns1', labels: { role: 'db' } },
      spec: { nets: ['198.51.100.0/28'] },
    });
    assert.equal(set.metadata.namespace, 'default');
    const sets = kindByAlias('networksets')!;
    assert.equal((await c.list(sets, { labelSelector: 'role == "db"' })).length, 1);
    assert.equal((await c.list(sets, { labelSelector: 'role == "web"' })).length, 0);
  });
});
