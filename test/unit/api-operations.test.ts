// tabby-apiserver's operations endpoints over an in-memory datastore: Prometheus /metrics (requests by route and
// code, bounded route labels, watch streams up and down and counted once), the OpenAPI document (a path for every
// kind, references that resolve, component schemas that accept Calico's examples and refuse a bad one, checked
// with a JSON Schema validator on the served document itself), the /docs page with its local assets, and auth.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Ajv2020 from 'ajv/dist/2020';
import { buildApiServer, TokenTable } from '../../api';
import { schemaName } from '../../api/openapi';
import { KINDS, type KindInfo, MemoryBackend } from '../../datastore';
import { EXAMPLES } from '../support/examples';
import { waitFor } from '../support/wait';

const V3 = '/apis/projectcalico.org/v3';

/** One sample of the Prometheus text format: `name{labels}`, matched on exactly these labels. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (JSON.stringify(found, Object.keys(found).sort()) === JSON.stringify(labels, Object.keys(labels).sort())) {
      return Number(match[3]);
    }
  }
  return undefined;
}

const pool = (name: string, cidr: string) => ({
  apiVersion: 'projectcalico.org/v3',
  kind: 'IPPool',
  metadata: { name },
  spec: { cidr },
});

describe('tabby-apiserver /metrics', () => {
  const backend = new MemoryBackend();
  const app = buildApiServer({ backend });
  let base: string;
  const metrics = async () => (await app.inject('/metrics')).body;

  before(async () => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  after(() => app.close());

  it('counts requests by method, route pattern and code, with the kind filled in and never the raw URL', async () => {
    assert.equal(
      (await app.inject({ method: 'POST', url: `${V3}/ippools`, payload: pool('p1', '10.1.0.0/16') })).statusCode,
      201,
    );
    assert.equal((await app.inject(`${V3}/ippools`)).statusCode, 200);
    assert.equal((await app.inject(`${V3}/ippools`)).statusCode, 200);
    assert.equal((await app.inject(`${V3}/ippools/no-such-pool`)).statusCode, 404);
    assert.equal((await app.inject(`${V3}/namespaces/prod/networkpolicies`)).statusCode, 200);
    assert.equal((await app.inject('/apis/networking.k8s.io/v1/namespaces/prod/networkpolicies')).statusCode, 200);
    assert.equal((await app.inject('/apis/example.com/v1/widgets/w1')).statusCode, 404);
    assert.equal((await app.inject('/wp-admin/login.php')).statusCode, 404);

    const res = await app.inject('/metrics');
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const text = res.body;
    const requests = (method: string, route: string, code: string) =>
      sample(text, 'tabby_apiserver_requests_total', { method, route, code });
    assert.equal(requests('POST', `${V3}/ippools`, '201'), 1);
    assert.equal(requests('GET', `${V3}/ippools`, '200'), 2);
    assert.equal(requests('GET', `${V3}/ippools/:name`, '404'), 1);
    assert.equal(requests('GET', `${V3}/namespaces/:namespace/networkpolicies`, '200'), 1);
    assert.equal(requests('GET', '/apis/networking.k8s.io/v1/namespaces/:namespace/networkpolicies', '200'), 1);
    assert.equal(requests('GET', '/apis/:group/:version/:plural/:name', '404'), 1, 'an unknown kind: the pattern');
    assert.equal(requests('GET', 'unmatched', '404'), 1, 'no route: one label for all');
    for (const raw of ['no-such-pool', 'prod', 'example.com', 'widgets', 'wp-admin']) {
      assert.ok(!text.includes(raw), `the raw URL part "${raw}" is in no label`);
    }

    const latency = (suffix: string, labels: Record<string, string>) =>
      sample(text, `tabby_apiserver_request_duration_seconds${suffix}`, {
        method: 'GET',
        route: `${V3}/ippools`,
        ...labels,
      });
    assert.equal(latency('_count', {}), 2);
    assert.equal(latency('_bucket', { le: '10' }), 2, 'buckets reach 10 s');
    assert.ok(latency('_bucket', { le: '0.001' }) !== undefined, 'buckets start at 1 ms');
    assert.ok(sample(text, 'process_cpu_seconds_total', {}) !== undefined, "prom-client's process metrics");
  });

  it('keeps a registry per server: a second server starts from zero', async () => {
    const other = buildApiServer({ backend });
    try {
      await other.inject(`${V3}/ippools`);
      const text = (await other.inject('/metrics')).body;
      assert.equal(
        sample(text, 'tabby_apiserver_requests_total', { method: 'GET', route: `${V3}/ippools`, code: '200' }),
        1,
      );
    } finally {
      await other.close();
    }
  });

  it('shows open watch streams by resource, and counts each watch once, when its stream closes', async () => {
    const streams = async (resource: string) => sample(await metrics(), 'tabby_apiserver_watch_streams', { resource });
    const watched = async (route: string, code: string) =>
      sample(await metrics(), 'tabby_apiserver_requests_total', { method: 'GET', route, code });

    const listed = (await watched(`${V3}/ippools`, '200')) ?? 0;
    const pools = new AbortController();
    const policies = new AbortController();
    assert.equal((await fetch(`${base}${V3}/ippools?watch=true`, { signal: pools.signal })).status, 200);
    const k8s = '/apis/networking.k8s.io/v1/namespaces/prod/networkpolicies?watch=1';
    assert.equal((await fetch(`${base}${k8s}`, { signal: policies.signal })).status, 200);
    assert.equal(await streams('ippools.projectcalico.org'), 1);
    assert.equal(await streams('networkpolicies.networking.k8s.io'), 1);
    assert.equal((await watched(`${V3}/ippools`, '200')) ?? 0, listed, 'an open watch is not counted yet');

    // The client hangs up: fastify's onResponse never runs for this reply, the watch counts itself.
    pools.abort();
    await waitFor(async () => (await streams('ippools.projectcalico.org')) === 0, 'the pool watch to close');
    assert.equal(await watched(`${V3}/ippools`, '200'), listed + 1);
    assert.equal(await streams('networkpolicies.networking.k8s.io'), 1);
    policies.abort();
    await waitFor(async () => (await streams('networkpolicies.networking.k8s.io')) === 0, 'the policy watch to close');

    // The server ends the stream (410 for a compacted revision): onResponse runs too, and still one count.
    await app.inject({ method: 'POST', url: `${V3}/ippools`, payload: pool('p2', '10.2.0.0/16') });
    backend.compact();
    const gone = await fetch(`${base}${V3}/ippools?watch=true&resourceVersion=1`);
    assert.equal(gone.status, 410);
    await gone.text();
    await waitFor(async () => (await watched(`${V3}/ippools`, '410')) !== undefined, 'the 410 watch to be counted');
    assert.equal(await watched(`${V3}/ippools`, '410'), 1);
    assert.equal(await streams('ippools.projectcalico.org'), 0);
  });
});

/** A datastore that takes its time to list: a watch's client can hang up before the watch has begun. */
class SlowListBackend extends MemoryBackend {
  override async list(...args: Parameters<MemoryBackend['list']>) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    return super.list(...args);
  }
}

describe('tabby-apiserver /metrics, a watch whose client leaves while it lists', () => {
  const app = buildApiServer({ backend: new SlowListBackend() });
  after(() => app.close());

  it('still closes its stream and counts it once', async () => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}${V3}/ippools?watch=true`;
    const gone = new AbortController();
    const watch = fetch(url, { signal: gone.signal }).catch((err: Error) => err.name);
    setTimeout(() => gone.abort(), 50);
    assert.equal(await watch, 'AbortError');
    const counted = async () => {
      const text = (await app.inject('/metrics')).body;
      const requests = { method: 'GET', route: `${V3}/ippools`, code: '200' };
      return sample(text, 'tabby_apiserver_requests_total', requests) === 1 && text;
    };
    const text = await waitFor(counted, 'the watch to be counted');
    assert.equal(sample(text, 'tabby_apiserver_watch_streams', { resource: 'ippools.projectcalico.org' }), 0);
  });
});

/** The JSON value a `#/a/b` reference names in the document, or undefined. */
function resolve(document: unknown, pointer: string): unknown {
  if (!pointer.startsWith('#/')) return undefined;
  let value = document;
  for (const raw of pointer.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
  }
  return value;
}

/** Every value of a key anywhere in a JSON value. */
function valuesOf(json: unknown, key: string): unknown[] {
  if (Array.isArray(json)) return json.flatMap((item) => valuesOf(item, key));
  if (json === null || typeof json !== 'object') return [];
  return Object.entries(json).flatMap(([k, v]) => (k === key ? [v] : []).concat(valuesOf(v, key)));
}

interface Operation {
  parameters?: { $ref: string }[];
  requestBody?: { content: Record<string, unknown> };
  responses: Record<string, { $ref?: string }>;
}
type PathItem = Record<string, Operation>;
interface OpenApi {
  openapi: string;
  paths: Record<string, PathItem>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, { scheme: string }> };
  security: unknown[];
}

describe('tabby-apiserver /openapi.json', () => {
  const app = buildApiServer({ backend: new MemoryBackend() });
  let document: OpenApi;
  /** A validator of the served document's component schema, its references resolved within the document. */
  let validator: (name: string) => (value: unknown) => boolean;

  before(async () => {
    const res = await app.inject('/openapi.json');
    assert.equal(res.statusCode, 200);
    document = JSON.parse(res.body) as OpenApi;
    const ajv = new Ajv2020({ strict: true });
    // The document's own top-level fields, and TypeBox's errorMessage annotation: not validation keywords.
    ajv.addVocabulary(['openapi', 'info', 'tags', 'security', 'paths', 'components', 'errorMessage']);
    ajv.addSchema(document, 'openapi.json');
    validator = (name) => {
      const check = ajv.getSchema(`openapi.json#/components/schemas/${name}`);
      assert.ok(check, `component ${name}`);
      return (value) => check(value) as boolean;
    };
  });
  after(() => app.close());

  const collectionOf = (kind: KindInfo) =>
    `/apis/${kind.apiVersion}${kind.namespaced ? '/namespaces/{namespace}' : ''}/${kind.plural}`;

  it('is OpenAPI 3.1 with bearer tokens, and /docs serves the same document', async () => {
    assert.equal(document.openapi, '3.1.0');
    assert.equal(document.components.securitySchemes.bearerToken?.scheme, 'bearer');
    assert.deepEqual(document.security, [{ bearerToken: [] }]);
    assert.deepEqual(JSON.parse((await app.inject('/docs/json')).body), document);
  });

  it('has every verb of every kind, cluster-scoped and namespaced, both NetworkPolicy groups', () => {
    assert.ok(document.paths['/apis/projectcalico.org/v3/namespaces/{namespace}/networkpolicies/{name}']);
    assert.ok(document.paths['/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies/{name}']);
    assert.ok(document.paths['/apis/projectcalico.org/v3/ippools/{name}']);
    for (const kind of KINDS) {
      const collection = document.paths[collectionOf(kind)];
      const item = document.paths[`${collectionOf(kind)}/{name}`];
      assert.deepEqual(Object.keys(collection ?? {}).sort(), ['get', 'parameters', 'post'], collectionOf(kind));
      assert.deepEqual(Object.keys(item ?? {}).sort(), ['delete', 'get', 'parameters', 'patch', 'put']);
      const list = collection!.get!;
      assert.deepEqual(
        list.parameters!.map((p) => p.$ref.split('/').pop()),
        ['watch', 'labelSelector', 'limit', 'continue', 'resourceVersion', 'allowWatchBookmarks'],
      );
      assert.deepEqual(Object.keys(item!.patch!.requestBody!.content), ['application/merge-patch+json']);
      const codes = new Set(
        [list, collection!.post!, item!.put!, item!.delete!].flatMap((op) => Object.keys(op.responses)),
      );
      for (const code of ['400', '401', '403', '404', '409', '410', '413', '422']) assert.ok(codes.has(code), code);
      if (kind.namespaced) assert.ok(document.paths[`/apis/${kind.apiVersion}/${kind.plural}`]?.get, 'all namespaces');
    }
    for (const path of ['/healthz', '/readyz', '/metrics', '/ipam/v1/utilization', '/ipam/v1/check']) {
      assert.ok(document.paths[path]?.get, path);
    }
    assert.ok(document.paths['/ipam/v1/release']?.post);
    assert.deepEqual(
      (document.paths['/watch/v1']!.get as unknown as { parameters: { $ref: string }[] }).parameters.map((p) =>
        p.$ref.split('/').pop(),
      ),
      ['resources', 'labelSelector', 'resourceVersion', 'allowWatchBookmarks'],
    );
    assert.deepEqual((document.paths['/healthz']!.get as unknown as { security: unknown[] }).security, []);
  });

  it('resolves every $ref within itself, and carries no $id that would move their base', () => {
    const refs = valuesOf(document, '$ref') as string[];
    assert.ok(refs.length > 100);
    for (const ref of new Set(refs)) assert.ok(resolve(document, ref) !== undefined, ref);
    assert.deepEqual(valuesOf(document, '$id'), []);
    for (const response of ['NotFound', 'Conflict', 'Expired', 'Invalid', 'RequestEntityTooLarge']) {
      assert.deepEqual(valuesOf(resolve(document, `#/components/responses/${response}`), '$ref'), [
        '#/components/schemas/Status',
      ]);
    }
  });

  it("accepts Calico's example of every kind with its kind's schema, and refuses bad ones", () => {
    for (const example of EXAMPLES) {
      const kind = KINDS.find((k) => k.apiVersion === example.apiVersion && k.kind === example.kind)!;
      assert.ok(validator(schemaName(kind))(example), `${kind.apiVersion} ${kind.kind}`);
    }
    const isPool = validator('projectcalico.org.v3.IPPool');
    const example = EXAMPLES.find((r) => r.kind === 'IPPool')!;
    assert.ok(isPool(example));
    assert.ok(!isPool({ ...example, spec: { ...example.spec, blockSize: '26' } }), 'a string blockSize');
    assert.ok(!isPool({ ...example, spec: { ...example.spec, ipipMode: 'Sometimes' } }), 'not an encapsulation mode');
    assert.ok(!isPool({ ...example, spec: { ...example.spec, cidrs: ['10.0.0.0/8'] } }), 'an unknown field');
    assert.ok(!isPool({ ...example, kind: 'BGPPeer' }), 'another kind');
    assert.ok(!isPool({ ...example, metadata: {} }), 'no name');
    assert.ok(!validator('networking.k8s.io.v1.NetworkPolicy')(EXAMPLES.find((r) => r.kind === 'IPPool')));
  });

  it("describes the server's own answers: a list of its items, and a Status", async () => {
    const created = await app.inject({ method: 'POST', url: `${V3}/ippools`, payload: pool('p1', '10.1.0.0/16') });
    assert.equal(created.statusCode, 201);
    const list = JSON.parse((await app.inject(`${V3}/ippools`)).body) as { items: unknown[] };
    assert.equal(list.items.length, 1);
    assert.ok(validator('projectcalico.org.v3.IPPoolList')(list));
    assert.ok(!validator('projectcalico.org.v3.IPPoolList')({ ...list, items: [{ kind: 'IPPool' }] }), 'items checked');
    const invalid = await app.inject({ method: 'POST', url: `${V3}/ippools`, payload: pool('bad', 'not-a-cidr') });
    assert.equal(invalid.statusCode, 422);
    assert.ok(validator('Status')(JSON.parse(invalid.body)));
    assert.ok(!validator('Status')({ ...JSON.parse(invalid.body), code: '422' }));
  });
});

describe('tabby-apiserver /docs', () => {
  const app = buildApiServer({ backend: new MemoryBackend() });
  after(() => app.close());

  it('serves the swagger-ui page and every asset it loads from this server, none from elsewhere', async () => {
    const page = await app.inject('/docs');
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    assert.ok(assets.includes('/docs/static/swagger-ui-bundle.js'), assets.join(' '));
    assert.ok(assets.includes('/docs/static/swagger-ui.css'));
    for (const asset of assets) {
      assert.ok(asset.startsWith('/docs/static/'), `${asset} is local`);
      const res = await app.inject(asset);
      assert.equal(res.statusCode, 200, asset);
      assert.ok(res.rawPayload.length > 0, asset);
    }
    const initializer = (await app.inject('/docs/static/swagger-initializer.js')).body;
    assert.match(initializer, /resolveUrl\('\.\/json'\)/, 'the page loads the document from /docs/json');
    assert.match(initializer, /validatorUrl: null/, 'no call to the online validator');
  });
});

describe('tabby-apiserver operations endpoints with a token file', () => {
  const app = buildApiServer({
    backend: new MemoryBackend(),
    tokens: TokenTable.parse('ops-token,prometheus,readonly\n'),
  });
  after(() => app.close());

  it('serves health to anyone, metrics, the document and the page only with a token', async () => {
    for (const url of ['/healthz', '/readyz']) assert.equal((await app.inject(url)).statusCode, 200, url);
    for (const url of ['/metrics', '/openapi.json', '/docs', '/docs/static/swagger-ui-bundle.js', '/docs/json']) {
      const anonymous = await app.inject(url);
      assert.deepEqual([anonymous.statusCode, JSON.parse(anonymous.body).reason], [401, 'Unauthorized'], url);
      const res = await app.inject({ url, headers: { authorization: 'Bearer ops-token' } });
      assert.equal(res.statusCode, 200, url);
    }
    const text = (await app.inject({ url: '/metrics', headers: { authorization: 'Bearer ops-token' } })).body;
    assert.equal(sample(text, 'tabby_apiserver_requests_total', { method: 'GET', route: '/metrics', code: '401' }), 1);
  });
});
