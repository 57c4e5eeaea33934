// The datastore against a real etcd: the backend contract, CRUD and watch of every kind through the
// ResourceClient, and a syncer that loses and repeats nothing across an etcd restart and a compaction.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  EtcdBackend,
  isDatastoreError,
  KvSyncer,
  kindByAlias,
  kindOf,
  type Resource,
  ResourceClient,
  Syncer,
  type WatchEvent,
} from '../../datastore';
import { type EtcdHandle, startEtcd } from '../harness';
import { backendContract } from '../support/backend-contract';
import { EXAMPLES } from '../support/examples';
import { SyncRecorder } from '../support/sync-recorder';
import { waitFor } from '../support/wait';

const isRoot = process.getuid?.() === 0;

describe('etcd backend', { skip: isRoot ? false : 'needs root: runs etcd' }, () => {
  let etcd: EtcdHandle;
  const backends: EtcdBackend[] = [];
  const open = async () => {
    const b = new EtcdBackend(etcd.endpoints);
    backends.push(b);
    // Each contract test starts from an empty store.
    await etcd.etcdctl(['del', '--prefix', '/calico/']);
    return b;
  };

  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    for (const b of backends) await b.close();
    await etcd?.stop();
  });

  describe('backend contract', () => backendContract(open));

  it("stores every kind under Calico's key, and a stale resourceVersion conflicts", async () => {
    const client = new ResourceClient(await open());
    for (const example of EXAMPLES) {
      const kind = kindOf(example.apiVersion, example.kind)!;
      const created = await client.create(example);
      assert.ok(created.metadata.uid, `${example.kind}: uid set`);
      assert.ok(created.metadata.creationTimestamp, `${example.kind}: creationTimestamp set`);
      const ns = kind.namespaced ? `${example.metadata.namespace}/` : '';
      const key = `/calico/resources/v3/${kind.group}/${kind.plural}/${ns}${example.metadata.name}`;
      const raw = await etcd.etcdctl(['get', key, '--print-value-only']);
      assert.equal(JSON.parse(raw.stdout).metadata.name, example.metadata.name, `${example.kind} at ${key}`);
      const got = await client.get(kind, example.metadata.name, example.metadata.namespace);
      assert.deepEqual(got, created);
      const labelled = await client.replace({ ...got, metadata: { ...got.metadata, labels: { touched: 'yes' } } });
      await assert.rejects(client.replace(got), (e) => isDatastoreError(e, 'Conflict'), `${example.kind}: stale`);
      assert.equal(labelled.metadata.uid, created.metadata.uid);
      await client.delete(kind, example.metadata.name, example.metadata.namespace);
      await assert.rejects(client.get(kind, example.metadata.name, example.metadata.namespace), (e) =>
        isDatastoreError(e, 'NotFound'),
      );
    }
  });

  it('watches every kind: ADDED, MODIFIED, DELETED in order', async () => {
    const backend = await open();
    const client = new ResourceClient(backend);
    const { revision } = await backend.list();
    const events: WatchEvent[] = [];
    const watch = backend.watch({ afterRevision: revision }, { onEvents: (e) => events.push(...e), onError: () => {} });
    try {
      for (const example of EXAMPLES) {
        const kind = kindOf(example.apiVersion, example.kind)!;
        const created = await client.create(example);
        await client.replace({ ...created, metadata: { ...created.metadata, labels: { v: '2' } } });
        await client.delete(kind, example.metadata.name, example.metadata.namespace);
      }
      const deadline = Date.now() + 10_000;
      while (events.length < EXAMPLES.length * 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    } finally {
      watch.close();
    }
    const expected = EXAMPLES.flatMap((e) =>
      ['ADDED', 'MODIFIED', 'DELETED'].map((t) => `${t} ${e.kind} ${e.metadata.name}`),
    );
    assert.deepEqual(
      events.map((e) => `${e.type} ${e.object.kind} ${e.object.metadata.name}`),
      expected,
    );
    const revisions = events.map((e) => BigInt(e.revision));
    assert.ok(
      revisions.every((r, i) => i === 0 || r > revisions[i - 1]!),
      'revisions increase',
    );
  });

  it('reports a watch from a compacted revision as Compacted', async () => {
    const backend = await open();
    const { revision } = await backend.list();
    await backend.create({ apiVersion: 'projectcalico.org/v3', kind: 'Tier', metadata: { name: 'c1' }, spec: {} });
    await backend.create({ apiVersion: 'projectcalico.org/v3', kind: 'Tier', metadata: { name: 'c2' }, spec: {} });
    await etcd.compact();
    const err = await new Promise<Error>((resolve) =>
      backend.watch({ afterRevision: revision }, { onEvents: () => {}, onError: resolve }),
    );
    assert.ok(isDatastoreError(err, 'Compacted'), err.message);
  });

  it('syncer loses and repeats nothing across an etcd restart and a compaction', async () => {
    const backend = await open();
    const writer = new EtcdBackend(etcd.endpoints);
    backends.push(writer);
    const tiers = kindByAlias('tier')!;
    const tier = (name: string, order: number): Resource => ({
      apiVersion: 'projectcalico.org/v3',
      kind: 'Tier',
      metadata: { name },
      spec: { order },
    });
    for (let i = 0; i < 5; i++) await writer.create(tier(`t${i}`, i));
    const rec = new SyncRecorder();
    const syncer = new Syncer(backend, rec, { retryInitialMs: 50, retryMaxMs: 500 });
    syncer.start();
    try {
      await rec.until(() => rec.statuses.includes('in-sync'), 10_000, 'first sync');
      assert.equal(rec.mirror.size, 5);
      // Changes while the watch runs.
      await writer.update({ ...(await writer.get(tiers, 't0')), spec: { order: 100 } });
      await writer.delete(tiers, 't1');
      await rec.until(() => rec.mirror.size === 4, 10_000, 'live updates');

      await etcd.restart();
      // Changes right after the restart, compacted away so the syncer can only learn them by relisting.
      await writer.update({ ...(await writer.get(tiers, 't2')), spec: { order: 200 } });
      await writer.delete(tiers, 't3');
      await writer.create(tier('t9', 9));
      await etcd.compact();
      const expected = new Map(
        (await writer.list()).items.map((r) => [SyncRecorder.keyOf(r), r.metadata.resourceVersion]),
      );
      await rec.until(
        () =>
          rec.mirror.size === expected.size &&
          [...expected].every(([k, v]) => rec.mirror.get(k)?.metadata.resourceVersion === v),
        20_000,
        'resync after restart',
      );
      assert.ok(rec.statuses.includes('resync') || rec.statuses.lastIndexOf('wait-for-datastore') > 0);
      // And the watch is live again afterwards.
      await writer.create(tier('t10', 10));
      await rec.until(() => rec.mirror.has('Tier//t10'), 10_000, 'update after resync');
    } finally {
      syncer.stop();
    }
    assert.deepEqual(rec.problems, []);
    const t2 = rec.mirror.get('Tier//t2')?.spec as { order: number };
    assert.equal(t2.order, 200);
    assert.ok(!rec.mirror.has('Tier//t3'));
  });

  it('raw-key syncer follows IPAM keys across an etcd restart and a compaction', async () => {
    const backend = await open();
    const writer = new EtcdBackend(etcd.endpoints);
    backends.push(writer);
    const key = (n: number) => `/calico/ipam/v2/handle/kv-${n}`;
    await writer.kvCommit(
      [],
      [
        { key: key(1), value: 'one' },
        { key: key(2), value: 'two' },
      ],
    );
    const mirror = new Map<string, string>();
    const syncer = new KvSyncer(
      backend,
      '/calico/ipam/v2/handle/kv-',
      {
        onUpdates: (updates) => {
          for (const u of updates) {
            if (u.type === 'DELETED') mirror.delete(u.object.key);
            else mirror.set(u.object.key, u.object.value);
          }
        },
      },
      { retryInitialMs: 50, retryMaxMs: 500 },
    );
    syncer.start();
    const until = (p: () => boolean, what: string) => waitFor(() => p(), what, 20_000, 20);
    try {
      await until(() => mirror.size === 2, 'the snapshot');
      await writer.kvCommit(
        [],
        [
          { key: key(1), delete: true },
          { key: key(3), value: 'three' },
        ],
      );
      await until(() => !mirror.has(key(1)) && mirror.get(key(3)) === 'three', 'live changes');
      await etcd.restart();
      await writer.kvCommit(
        [],
        [
          { key: key(2), value: 'two again' },
          { key: key(4), value: 'four' },
        ],
      );
      await etcd.compact();
      await until(() => mirror.get(key(2)) === 'two again' && mirror.has(key(4)), 'the resync');
    } finally {
      syncer.stop();
    }
    assert.deepEqual([...mirror.keys()].sort(), [key(2), key(3), key(4)]);
  });

  it('reports an unreachable etcd quickly, naming it', async () => {
    const b = new EtcdBackend(['http://127.0.0.1:1'], { requestTimeoutMs: 2000 });
    const started = Date.now();
    await assert.rejects(b.list(), (e) => isDatastoreError(e, 'Unavailable') && /127\.0\.0\.1:1/.test(e.message));
    assert.ok(Date.now() - started < 5000);
    await b.close();
  });
});
