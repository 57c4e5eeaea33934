// The behaviour every datastore Backend must have: run in unit tests on MemoryBackend and in integration
// tests on a real etcd, so the in-memory stand-in cannot drift from the real thing.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { type Backend, etcdKey, isDatastoreError, kindByAlias, type Resource } from '../../datastore';

const ippools = kindByAlias('ippools')!;
const weps = kindByAlias('wep')!;

function pool(name: string, cidr = '10.1.0.0/16'): Resource {
  return { apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name }, spec: { cidr } };
}

/** Behaviour every Backend must have; run here on memory and in integration on a real etcd. */
export function backendContract(open: () => Promise<Backend>) {
  it('creates once, then refuses a second create', async () => {
    const b = await open();
    const created = await b.create(pool('a'));
    assert.match(created.metadata.resourceVersion!, /^\d+$/);
    await assert.rejects(b.create(pool('a')), (e) => isDatastoreError(e, 'AlreadyExists'));
    const got = await b.get(ippools, 'a');
    assert.equal(got.metadata.resourceVersion, created.metadata.resourceVersion);
    assert.deepEqual(got.spec, { cidr: '10.1.0.0/16' });
  });

  it('updates by compare-and-swap on resourceVersion', async () => {
    const b = await open();
    const v1 = await b.create(pool('cas'));
    const v2 = await b.update({ ...v1, spec: { cidr: '10.2.0.0/16' } });
    assert.notEqual(v2.metadata.resourceVersion, v1.metadata.resourceVersion);
    await assert.rejects(b.update({ ...v1, spec: { cidr: '10.3.0.0/16' } }), (e) => isDatastoreError(e, 'Conflict'));
    assert.deepEqual((await b.get(ippools, 'cas')).spec, { cidr: '10.2.0.0/16' });
    await assert.rejects(b.update(pool('missing')), (e) => isDatastoreError(e, 'NotFound'));
  });

  it('deletes, with an optional version guard, and returns the last state', async () => {
    const b = await open();
    const v1 = await b.create(pool('del'));
    await b.update({ ...v1, spec: { cidr: '10.9.0.0/16' } });
    await assert.rejects(b.delete(ippools, 'del', undefined, v1.metadata.resourceVersion), (e) =>
      isDatastoreError(e, 'Conflict'),
    );
    const last = await b.delete(ippools, 'del');
    assert.deepEqual(last.spec, { cidr: '10.9.0.0/16' });
    await assert.rejects(b.get(ippools, 'del'), (e) => isDatastoreError(e, 'NotFound'));
    await assert.rejects(b.delete(ippools, 'del'), (e) => isDatastoreError(e, 'NotFound'));
  });

  it('lists by kind and namespace, at a revision a watch continues from', async () => {
    const b = await open();
    const wep = (ns: string, name: string): Resource => ({
      apiVersion: 'projectcalico.org/v3',
      kind: 'WorkloadEndpoint',
      metadata: { name, namespace: ns },
      spec: {},
    });
    await b.create(wep('x', 'w1'));
    await b.create(wep('y', 'w2'));
    assert.deepEqual(
      (await b.list(weps, 'x')).items.map((r) => r.metadata.name),
      ['w1'],
    );
    const all = await b.list(weps);
    assert.equal(all.items.length, 2);
    const seen: string[] = [];
    const watch = b.watch(
      { kind: weps, afterRevision: all.revision },
      { onEvents: (evs) => seen.push(...evs.map((e) => `${e.type} ${e.object.metadata.name}`)), onError: () => {} },
    );
    await b.create(wep('x', 'w3'));
    await b.delete(weps, 'w1', 'x');
    await b.create(pool('not-a-wep', '10.7.0.0/16'));
    const deadline = Date.now() + 5000;
    while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    watch.close();
    assert.deepEqual(seen, ['ADDED w3', 'DELETED w1']);
  });

  it('pages a list at one revision: the pages fit together whatever is written in between', async () => {
    const b = await open();
    const names = (r: { items: Resource[] }) => r.items.map((i) => i.metadata.name);
    for (const n of ['p1', 'p2', 'p3', 'p4', 'p5']) await b.create(pool(n));
    const first = await b.list(ippools, undefined, { limit: 2 });
    assert.deepEqual(names(first), ['p1', 'p2']);
    assert.equal(first.more, true);
    await b.create(pool('p0'));
    await b.delete(ippools, 'p3');
    const at = (afterKey: string) => b.list(ippools, undefined, { revision: first.revision, afterKey, limit: 2 });
    const second = await at(etcdKey(ippools, 'p2'));
    assert.deepEqual(names(second), ['p3', 'p4']);
    assert.equal(second.revision, first.revision);
    assert.equal(second.more, true);
    const third = await at(etcdKey(ippools, 'p4'));
    assert.deepEqual(names(third), ['p5']);
    assert.ok(!third.more);
    assert.deepEqual(names(await b.list(ippools)), ['p0', 'p1', 'p2', 'p4', 'p5']);
  });
}
