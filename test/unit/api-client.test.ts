// tabby-apiserver and its client end to end on loopback, over the in-memory datastore: what tabbyctl's `--server`
// relies on (errors mapped back to the datastore's and IPAM's own, paging with limit/continue, watch, /ipam/v1).
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ApiClient, buildApiServer, TokenTable } from '../../api';
import { ListCache } from '../../api/list-cache';
import {
  isDatastoreError,
  kindByAlias,
  type ListOptions,
  MemoryBackend,
  type Resource,
  ResourceClient,
  type WatchEvent,
} from '../../datastore';
import { IpamService, isIpamError } from '../../ipam';

const ippools = kindByAlias('ippool')!;
const TOKEN = 'unit-test-token-0123456789';

function pool(name: string, cidr: string, labels: Record<string, string> = {}): Resource {
  return { apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name, labels }, spec: { cidr } };
}

describe('ApiClient against tabby-apiserver (in-memory datastore)', () => {
  const backend = new MemoryBackend();
  const app = buildApiServer({ backend, tokens: TokenTable.parse(`${TOKEN},tester\n`) });
  let api: ApiClient;
  let client: ResourceClient;

  before(async () => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    api = new ApiClient({ server: `http://127.0.0.1:${port}`, token: TOKEN });
    client = new ResourceClient(api);
  });
  after(async () => {
    await api.close();
    await app.close();
  });

  it("writes through the server's validation and maps its Status codes back to datastore errors", async () => {
    const created = await client.create(pool('a', '10.1.0.0/16'));
    assert.equal(created.spec?.blockSize, 26, "Calico's defaults");
    await assert.rejects(api.create(created), (e) => isDatastoreError(e, 'AlreadyExists'));
    await assert.rejects(api.get(ippools, 'nope'), (e) => isDatastoreError(e, 'NotFound'));
    const updated = await client.replace({ ...created, spec: { ...created.spec, natOutgoing: true } });
    // The version read before is stale now: compare-and-swap through HTTP.
    await assert.rejects(api.update(created), (e) => isDatastoreError(e, 'Conflict'));
    await assert.rejects(api.delete(ippools, 'a', undefined, created.metadata.resourceVersion), (e) =>
      isDatastoreError(e, 'Conflict'),
    );
    assert.equal((await api.delete(ippools, 'a', undefined, updated.metadata.resourceVersion)).metadata.name, 'a');
    // What the server refuses that the client did not check (a raw store write): 422 with the field.
    await assert.rejects(
      api.create({ ...pool('bad', '10.2.0.0/16'), spec: { cidr: '10.2.0.0/16', blockSize: 99 } }),
      (e) => isDatastoreError(e, 'Invalid') && /spec\.blockSize/.test(e.message),
    );
  });

  it('takes a DELETE that names JSON and sends nothing, and refuses a body that poisons __proto__', async () => {
    await client.create(pool('empty-delete', '10.90.0.0/16'));
    const base = api.description.replace('tabby-apiserver at ', '');
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    const url = `${base}/apis/projectcalico.org/v3/ippools/empty-delete`;
    await client.create(pool('poisoned', '10.91.0.0/16'));
    const poisoned = await fetch(`${base}/apis/projectcalico.org/v3/ippools/poisoned`, {
      method: 'PATCH',
      headers: { ...headers, 'content-type': 'application/merge-patch+json' },
      body: '{"__proto__": {"polluted": true}}',
    });
    assert.equal(poisoned.status, 400);
    assert.equal(({} as { polluted?: boolean }).polluted, undefined);
    assert.equal((await fetch(url, { method: 'DELETE', headers })).status, 200);
    await assert.rejects(api.get(ippools, 'empty-delete'), (e) => isDatastoreError(e, 'NotFound'));
  });

  it('refuses a request without the token, saying so', async () => {
    const anonymous = new ApiClient({ server: api.description.replace('tabby-apiserver at ', '') });
    await assert.rejects(anonymous.list(ippools), /a valid bearer token is required \(HTTP 401\)/);
    await anonymous.close();
  });

  it('pages a filtered list with limit and continue, consistent across writes in between', async () => {
    for (let i = 0; i < 7; i++) await client.create(pool(`page-${i}`, `10.${10 + i}.0.0/16`, { odd: String(i % 2) }));
    const options = { labelSelector: 'odd == "1"' };
    const first = await client.listPage(ippools, options, 2);
    assert.deepEqual(
      first.items.map((r) => r.metadata.name),
      ['page-1', 'page-3'],
    );
    assert.ok(first.next);
    await client.delete(ippools, 'page-5');
    await client.create(pool('page-9', '10.30.0.0/16', { odd: '1' }));
    const second = await client.listPage(ippools, options, 2, first.next);
    assert.deepEqual(
      second.items.map((r) => r.metadata.name),
      ['page-5'],
      'read at the first page: page-5 still there, page-9 not yet',
    );
    assert.equal(second.next, undefined);
  });

  it('answers a malformed continue token with 400 and a compacted one with 410', async () => {
    const base = api.description.replace('tabby-apiserver at ', '');
    const get = (query: string) =>
      fetch(`${base}/apis/projectcalico.org/v3/ippools?${query}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal((await get('limit=1&continue=garbage')).status, 400);
    assert.equal((await get('limit=x')).status, 400);
    const page = (await (await get('limit=1')).json()) as { metadata: { continue: string } };
    await client.create(pool('after-page', '10.40.0.0/16'));
    backend.compact();
    const expired = await get(`limit=1&continue=${page.metadata.continue}`);
    assert.equal(expired.status, 410);
    assert.equal(((await expired.json()) as { reason: string }).reason, 'Expired');
  });

  it('watches from a revision, one event per change', async () => {
    const { revision } = await api.list(ippools);
    const events: WatchEvent[] = [];
    const watch = api.watch(
      { kind: ippools, afterRevision: revision },
      { onEvents: (evs) => events.push(...evs), onError: (err) => assert.fail(err) },
    );
    const w = await client.create(pool('watched', '10.50.0.0/16'));
    await client.delete(ippools, 'watched');
    const deadline = Date.now() + 5000;
    while (events.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    watch.close();
    assert.deepEqual(
      events.map((e) => `${e.type} ${e.object.metadata.name}`),
      ['ADDED watched', 'DELETED watched'],
    );
    assert.equal(events[0]!.revision, w.metadata.resourceVersion);
  });

  it('serves IPAM: utilization, blocks, release (NotAssigned for a free address)', async () => {
    await client.create(pool('ipam-pool', '10.60.0.0/24'));
    const assigned = await new IpamService(backend, 'node-1').assign({
      handleId: 'net.pod1',
      namespace: 'default',
      pod: 'pod1',
      configuredPools: ['ipam-pool'],
    });
    const ip = assigned.address;
    const usage = await api.utilization();
    const mine = usage.pools.find((p) => p.name === 'ipam-pool')!;
    assert.equal(mine.capacity, 256);
    assert.equal(mine.inUse, 1);
    assert.match(mine.blocks[0]!.cidr, /^10\.60\.0\.(0|64|128|192)\/26$/);
    assert.equal((await api.blocks()).length, 1);
    assert.equal((await api.check()).leaked.length, 1, 'no endpoint uses the address');
    await api.releaseAddress(ip);
    assert.equal((await api.utilization()).pools.find((p) => p.name === 'ipam-pool')!.inUse, 0);
    await assert.rejects(api.releaseAddress(ip), (e) => isIpamError(e, 'NotAssigned'));
  });

  it('streams several kinds in one watch (/watch/v1): the objects at one revision, a BOOKMARK, then changes', async () => {
    const base = api.description.replace('tabby-apiserver at ', '');
    const headers = { authorization: `Bearer ${TOKEN}` };
    const get = (query: string) => fetch(`${base}/watch/v1?${query}`, { headers });
    assert.equal((await get('')).status, 400);
    assert.equal((await get('resources=widgets.projectcalico.org')).status, 404);

    await client.create(pool('multi-pool', '10.80.0.0/16'));
    const set = await client.create({
      apiVersion: 'projectcalico.org/v3',
      kind: 'GlobalNetworkSet',
      metadata: { name: 'multi-set' },
      spec: { nets: ['198.51.100.0/24'] },
    });
    const abort = new AbortController();
    const res = await fetch(
      `${base}/watch/v1?resources=globalnetworksets.projectcalico.org,ippools.projectcalico.org&allowWatchBookmarks=true`,
      { headers, signal: abort.signal },
    );
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const lines: { type: string; object: Resource }[] = [];
    let buffered = '';
    const until = async (done: () => boolean) => {
      const deadline = Date.now() + 5000;
      while (!done() && Date.now() < deadline) {
        const chunk = await reader.read();
        if (chunk.done) break;
        buffered += Buffer.from(chunk.value).toString();
        const parts = buffered.split('\n');
        buffered = parts.pop()!;
        for (const part of parts) if (part) lines.push(JSON.parse(part));
      }
    };
    await until(() => lines.some((l) => l.type === 'BOOKMARK'));
    const bookmark = lines.findIndex((l) => l.type === 'BOOKMARK');
    const initial = lines.slice(0, bookmark).map((l) => `${l.type} ${l.object.kind} ${l.object.metadata.name}`);
    assert.ok(initial.includes('ADDED GlobalNetworkSet multi-set'), initial.join());
    assert.ok(initial.includes('ADDED IPPool multi-pool'), initial.join());
    assert.equal(lines[bookmark]!.object.metadata.annotations?.['k8s.io/initial-events-end'], 'true');

    const other = await client.create({
      apiVersion: 'projectcalico.org/v3',
      kind: 'NetworkSet',
      metadata: { name: 'not-watched', namespace: 'default' },
      spec: {},
    });
    await client.delete(kindByAlias('globalnetworkset')!, 'multi-set');
    await client.delete(ippools, 'multi-pool');
    await until(() => lines.length >= bookmark + 3);
    abort.abort();
    const after = lines.slice(bookmark + 1).map((l) => `${l.type} ${l.object.kind} ${l.object.metadata.name}`);
    assert.deepEqual(after, ['DELETED GlobalNetworkSet multi-set', 'DELETED IPPool multi-pool']);
    const deletedAt = Number(lines[bookmark + 1]!.object.metadata.resourceVersion);
    assert.ok(deletedAt > Number(other.metadata.resourceVersion), 'a DELETED object carries its deletion revision');
    assert.ok(deletedAt > Number(set.metadata.resourceVersion));
  });
});

describe('ListCache', () => {
  it('answers what ResourceClient.listAt does, through creates, changes, deletes, namespaces and selectors', async () => {
    const backend = new MemoryBackend();
    const client = new ResourceClient(backend);
    const cache = new ListCache(backend);
    const sets = kindByAlias('networkset')!;
    const set = (name: string, namespace: string, role: string): Resource => ({
      apiVersion: 'projectcalico.org/v3',
      kind: 'NetworkSet',
      metadata: { name, namespace, labels: { role } },
      spec: { nets: ['198.51.100.0/24'] },
    });
    const same = async (options: ListOptions) => {
      const cached = JSON.parse(await cache.list(sets, options)) as { kind: string; metadata: object; items: unknown };
      const { items, revision } = await client.listAt(sets, options);
      assert.deepEqual(cached, {
        apiVersion: 'projectcalico.org/v3',
        kind: 'NetworkSetList',
        metadata: { resourceVersion: revision },
        items,
      });
    };
    await same({});
    await client.create(set('a', 'x', 'web'));
    await client.create(set('b', 'y', 'db'));
    await same({});
    await same({ namespace: 'x' });
    const a = await client.get(sets, 'a', 'x');
    await client.replace({ ...a, metadata: { ...a.metadata, labels: { role: 'db' } } });
    await same({});
    await same({ labelSelector: 'role == "db"' });
    await client.delete(sets, 'b', 'y');
    await same({});
    await same({ namespace: 'y' });
  });
});
