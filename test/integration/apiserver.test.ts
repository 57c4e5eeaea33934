// tabby-apiserver over a real etcd, through HTTP on loopback: CRUD of cluster-scoped and namespaced kinds (both
// NetworkPolicy groups), the Kubernetes Status of each error (400, 401, 403, 404, 409, 413, 422), health.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiClient, buildApiServer, collectionPath, objectPath, TokenTable } from '../../api';
import { EtcdBackend, kindByAlias, resolveKind } from '../../datastore';
import { type EtcdHandle, run, startEtcd } from '../harness';
import { type ApiServerHandle, startApiServer } from '../support/apiserver';
import { EXAMPLES } from '../support/examples';

const V3 = '/apis/projectcalico.org/v3';

/** What the server answers: a resource, a list of them, or a Status. */
interface Reply {
  apiVersion?: string;
  kind?: string;
  reason?: string;
  message?: string;
  details?: { causes: { field: string }[] };
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
  spec: Record<string, unknown>;
  items: Reply[];
}
const WRITER = 'writer-token-0123456789';
const READER = 'reader-token-0123456789';

describe('tabby-apiserver against etcd', () => {
  let etcd: EtcdHandle;
  let backend: EtcdBackend;
  let app: ReturnType<typeof buildApiServer>;
  let base: string;

  const call = async (method: string, path: string, body?: unknown, opts: { token?: string; type?: string } = {}) => {
    const headers: Record<string, string> = {};
    if (opts.token !== '') headers.authorization = `Bearer ${opts.token ?? WRITER}`;
    if (body !== undefined) headers['content-type'] = opts.type ?? 'application/json';
    const res = await fetch(`${base}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json: Reply;
    try {
      json = JSON.parse(text) as Reply;
    } catch {
      json = { message: text } as Reply;
    }
    return { code: res.status, body: json };
  };

  /** A watch stream: its HTTP status, and its events one at a time (failing after a few seconds without one). */
  const openWatch = async (path: string) => {
    const abort = new AbortController();
    const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${WRITER}` }, signal: abort.signal });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffered = '';
    const next = async (): Promise<{ type: string; object: Reply }> => {
      for (;;) {
        const newline = buffered.indexOf('\n');
        if (newline >= 0) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          return JSON.parse(line) as { type: string; object: Reply };
        }
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no watch event within 5 s on ${path}`)), 5000);
        });
        const chunk = await Promise.race([reader.read(), timeout]).finally(() => clearTimeout(timer));
        if (chunk.done) throw new Error(`watch on ${path} ended`);
        buffered += decoder.decode(chunk.value, { stream: true });
      }
    };
    return { code: res.status, next, close: () => abort.abort() };
  };

  const pool = (name: string, cidr: string, extra: object = {}) => ({
    apiVersion: 'projectcalico.org/v3',
    kind: 'IPPool',
    metadata: { name, labels: { tier: 'gold' } },
    spec: { cidr, ...extra },
  });

  before(async () => {
    etcd = await startEtcd();
    backend = new EtcdBackend(etcd.endpoints);
    app = buildApiServer({
      backend,
      tokens: TokenTable.parse(`${WRITER},alice\n# a comment\n${READER},bob,readonly\n`),
      bodyLimit: 64 * 1024,
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await app?.close();
    await backend?.close();
    await etcd?.stop();
  });

  it('serves health to anyone, everything else only with a valid bearer token, writes only to writers', async () => {
    assert.equal((await call('GET', '/healthz', undefined, { token: '' })).code, 200);
    assert.equal((await call('GET', '/readyz', undefined, { token: '' })).code, 200);
    const anonymous = await call('GET', `${V3}/ippools`, undefined, { token: '' });
    assert.deepEqual([anonymous.code, anonymous.body.kind, anonymous.body.reason], [401, 'Status', 'Unauthorized']);
    assert.equal((await call('GET', `${V3}/ippools`, undefined, { token: 'wrong' })).code, 401);
    assert.equal((await call('GET', `${V3}/ippools`, undefined, { token: READER })).code, 200);
    const denied = await call('POST', `${V3}/ippools`, pool('p-ro', '10.10.0.0/16'), { token: READER });
    assert.deepEqual([denied.code, denied.body.reason], [403, 'Forbidden']);
    assert.equal((await call('GET', `${V3}/ippools/p-ro`)).code, 404, 'the refused write wrote nothing');
  });

  it('creates, reads, lists by label, replaces, merge-patches and deletes a cluster-scoped resource', async () => {
    const created = await call('POST', `${V3}/ippools`, pool('p1', '10.11.0.0/16'));
    assert.equal(created.code, 201, JSON.stringify(created.body));
    assert.equal(created.body.spec.blockSize, 26, "Calico's default filled in");
    assert.ok(created.body.metadata.resourceVersion);
    await call('POST', `${V3}/ippools`, { ...pool('p2', '10.12.0.0/16'), metadata: { name: 'p2' } });

    const one = await call('GET', `${V3}/ippools/p1`);
    assert.equal(one.body.spec.cidr, '10.11.0.0/16');
    const list = await call('GET', `${V3}/ippools`);
    assert.deepEqual(
      [list.body.kind, list.body.items.map((i) => i.metadata.name).sort()],
      ['IPPoolList', ['p1', 'p2']],
    );
    const gold = await call('GET', `${V3}/ippools?labelSelector=${encodeURIComponent("tier == 'gold'")}`);
    assert.deepEqual(
      gold.body.items.map((i) => i.metadata.name),
      ['p1'],
    );

    const replaced = await call('PUT', `${V3}/ippools/p1`, {
      ...one.body,
      spec: { ...one.body.spec, natOutgoing: true },
    });
    assert.equal(replaced.code, 200, JSON.stringify(replaced.body));
    assert.equal(replaced.body.spec.natOutgoing, true);
    const stale = await call('PUT', `${V3}/ippools/p1`, one.body);
    assert.deepEqual(
      [stale.code, stale.body.reason],
      [409, 'Conflict'],
      'the version read before the replace is stale',
    );

    const patched = await call(
      'PATCH',
      `${V3}/ippools/p1`,
      { spec: { disabled: true }, metadata: { labels: { tier: null } } },
      {
        type: 'application/merge-patch+json',
      },
    );
    assert.equal(patched.code, 200, JSON.stringify(patched.body));
    assert.deepEqual([patched.body.spec.disabled, patched.body.spec.natOutgoing], [true, true]);
    assert.equal(patched.body.metadata.labels?.tier, undefined, 'null deletes');

    assert.equal((await call('DELETE', `${V3}/ippools/p2`)).code, 200);
    const gone = await call('GET', `${V3}/ippools/p2`);
    assert.deepEqual([gone.code, gone.body.reason], [404, 'NotFound']);
  });

  it('keeps namespaced kinds under their namespace, Calico and Kubernetes NetworkPolicy apart', async () => {
    const policy = { metadata: { name: 'allow' }, spec: { selector: 'all()', ingress: [{ action: 'Allow' }] } };
    assert.equal((await call('POST', `${V3}/namespaces/x/networkpolicies`, policy)).code, 201);
    const knp = { metadata: { name: 'allow' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } };
    const k8s = await call('POST', '/apis/networking.k8s.io/v1/namespaces/x/networkpolicies', knp);
    assert.equal(k8s.code, 201, JSON.stringify(k8s.body));
    assert.equal(k8s.body.apiVersion, 'networking.k8s.io/v1');

    const inX = await call('GET', `${V3}/namespaces/x/networkpolicies/allow`);
    assert.deepEqual([inX.body.kind, inX.body.metadata.namespace], ['NetworkPolicy', 'x']);
    assert.equal((await call('GET', `${V3}/namespaces/y/networkpolicies/allow`)).code, 404);
    const everywhere = await call('GET', `${V3}/networkpolicies`);
    assert.deepEqual(
      everywhere.body.items.map((i) => `${i.metadata.namespace}/${i.metadata.name}`),
      ['x/allow'],
    );
    const mismatch = await call('POST', `${V3}/namespaces/x/networkpolicies`, {
      ...policy,
      metadata: { name: 'other', namespace: 'y' },
    });
    assert.deepEqual([mismatch.code, mismatch.body.reason], [400, 'BadRequest']);
    assert.equal((await call('GET', `${V3}/namespaces/x/ippools`)).code, 404, 'IPPool is cluster-scoped');
  });

  it('answers each kind of bad request with a Status naming what is wrong', async () => {
    const invalid = await call('POST', `${V3}/ippools`, pool('bad', '10.13.0.0/16', { blockSize: 19 }));
    assert.deepEqual([invalid.code, invalid.body.reason], [422, 'Invalid']);
    assert.equal(invalid.body.details!.causes[0]!.field, 'spec.blockSize');
    assert.match(invalid.body.message!, /^IPPool "bad": spec\.blockSize: /);

    const twice = await call('POST', `${V3}/ippools`, pool('dup', '10.14.0.0/16'));
    assert.equal(twice.code, 201);
    const again = await call('POST', `${V3}/ippools`, pool('dup', '10.14.0.0/16'));
    assert.deepEqual([again.code, again.body.reason], [409, 'AlreadyExists']);

    const malformed = await call('POST', `${V3}/ippools`, '{"metadata": ');
    assert.deepEqual([malformed.code, malformed.body.kind], [400, 'Status']);
    const yaml = await call('POST', `${V3}/ippools`, 'metadata: {name: y1}\nspec: {cidr: 10.15.0.0/16}\n', {
      type: 'application/yaml',
    });
    assert.equal(yaml.code, 201, JSON.stringify(yaml.body));
    const badYaml = await call('POST', `${V3}/ippools`, 'metadata: [unclosed', { type: 'application/yaml' });
    assert.equal(badYaml.code, 400);

    const unknown = await call('GET', `${V3}/frobnicators`);
    assert.deepEqual([unknown.code, unknown.body.reason], [404, 'NotFound']);
    const huge = await call('POST', `${V3}/ippools`, { ...pool('huge', '10.16.0.0/16'), padding: 'x'.repeat(100_000) });
    assert.deepEqual([huge.code, huge.body.reason], [413, 'RequestEntityTooLarge']);
    const selector = await call('GET', `${V3}/ippools?labelSelector=${encodeURIComponent('tier ==')}`);
    assert.deepEqual([selector.code, selector.body.reason], [400, 'BadRequest']);
  });

  it('streams changes from a resourceVersion, resumes across a restart of the server, and says 410 when compacted', async () => {
    const listed = await call('GET', `${V3}/ippools`);
    const from = listed.body.metadata.resourceVersion!;
    const watch = await openWatch(`${V3}/ippools?watch=true&resourceVersion=${from}`);
    await call('POST', `${V3}/ippools`, pool('w1', '10.20.0.0/16'));
    await call('PATCH', `${V3}/ippools/w1`, { spec: { disabled: true } }, { type: 'application/merge-patch+json' });
    await call('DELETE', `${V3}/ippools/w1`);
    assert.equal(watch.code, 200);
    const seen = [await watch.next(), await watch.next(), await watch.next()];
    assert.deepEqual(
      seen.map((e) => [e.type, e.object.metadata.name]),
      [
        ['ADDED', 'w1'],
        ['MODIFIED', 'w1'],
        ['DELETED', 'w1'],
      ],
    );
    assert.equal(seen[1]!.object.spec.disabled, true);
    watch.close();

    // Without a resourceVersion: what exists, as ADDED, first. A namespaced watch sees its namespace only.
    const fresh = await openWatch(`${V3}/namespaces/x/networkpolicies?watch=true`);
    const existing = await fresh.next();
    assert.deepEqual(
      [existing.type, existing.object.metadata.namespace, existing.object.metadata.name],
      ['ADDED', 'x', 'allow'],
    );
    fresh.close();

    // The server restarts; what was written meanwhile arrives when the client resumes from the last version it had.
    const last = (await call('GET', `${V3}/ippools`)).body.metadata.resourceVersion!;
    await app.close();
    app = buildApiServer({ backend, tokens: TokenTable.parse(`${WRITER},alice\n`) });
    const offline = new EtcdBackend(etcd.endpoints);
    await offline.create({
      apiVersion: 'projectcalico.org/v3',
      kind: 'IPPool',
      metadata: { name: 'w2' },
      spec: { cidr: '10.21.0.0/16' },
    });
    await offline.close();
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const resumed = await openWatch(`${V3}/ippools?watch=true&resourceVersion=${last}`);
    const missed = await resumed.next();
    assert.deepEqual([missed.type, missed.object.metadata.name], ['ADDED', 'w2']);
    resumed.close();

    // Compacted past the client's version: 410, and the client relists.
    const now = (await call('GET', `${V3}/ippools`)).body.metadata.resourceVersion!;
    await etcd.etcdctl(['compact', now]);
    const expired = await call('GET', `${V3}/ippools?watch=true&resourceVersion=${from}`);
    assert.deepEqual([expired.code, expired.body.kind, expired.body.reason], [410, 'Status', 'Expired']);
  });

  it("creates, reads, lists, watches, patches and deletes every kind (Calico's examples)", async () => {
    for (const example of EXAMPLES) {
      const kind = resolveKind(example);
      const { name, namespace } = example.metadata;
      const what = `${kind.apiVersion} ${kind.kind} ${name}`;
      const from = (await call('GET', collectionPath(kind, namespace))).body.metadata.resourceVersion;
      const watch = await openWatch(`${collectionPath(kind, namespace)}?watch=true&resourceVersion=${from}`);
      const created = await call('POST', collectionPath(kind, namespace), example);
      assert.equal(created.code, 201, `${what}: ${JSON.stringify(created.body)}`);
      assert.deepEqual((await call('GET', objectPath(kind, name, namespace))).body.spec, created.body.spec, what);
      const listed = await call('GET', collectionPath(kind, namespace));
      assert.ok(
        listed.body.items.some((i) => i.metadata.name === name),
        what,
      );
      const patched = await call(
        'PATCH',
        objectPath(kind, name, namespace),
        { metadata: { labels: { via: 'api' } } },
        {
          type: 'application/merge-patch+json',
        },
      );
      assert.equal(patched.code, 200, `${what}: ${JSON.stringify(patched.body)}`);
      assert.equal(patched.body.metadata.labels?.via, 'api', what);
      assert.equal((await call('DELETE', objectPath(kind, name, namespace))).code, 200, what);
      const events = [await watch.next(), await watch.next(), await watch.next()];
      watch.close();
      assert.deepEqual(
        events.map((e) => `${e.type} ${e.object.metadata.name}`),
        [`ADDED ${name}`, `MODIFIED ${name}`, `DELETED ${name}`],
        what,
      );
    }
  });

  it('pages with limit and continue at one revision, and 410 once that revision is compacted', async () => {
    for (let i = 0; i < 5; i++)
      await call('POST', `${V3}/globalnetworksets`, { metadata: { name: `gns-${i}` }, spec: {} });
    const first = await call('GET', `${V3}/globalnetworksets?limit=2`);
    const token = (first.body.metadata as { continue?: string }).continue!;
    assert.ok(token);
    await call('DELETE', `${V3}/globalnetworksets/gns-2`);
    const second = await call('GET', `${V3}/globalnetworksets?limit=2&continue=${token}`);
    assert.deepEqual(
      second.body.items.map((i) => i.metadata.name),
      ['gns-2', 'gns-3'],
      'the deleted one still shows: same revision as the first page',
    );
    assert.equal(second.body.metadata.resourceVersion, first.body.metadata.resourceVersion);
    await etcd.etcdctl(['compact', (await call('GET', `${V3}/globalnetworksets`)).body.metadata.resourceVersion!]);
    const expired = await call('GET', `${V3}/globalnetworksets?limit=2&continue=${token}`);
    assert.deepEqual([expired.code, expired.body.reason], [410, 'Expired']);
  });
});

describe('tabby-apiserver over TLS with client certificates', () => {
  let etcd: EtcdHandle;
  let server: ApiServerHandle;
  let dir: string;
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  /** An EC key and a certificate for `cn` signed by the test CA, with extensions from `ext`. */
  const issue = (name: string, cn: string, ext: string) => {
    const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`];
    openssl('req', ...key, '-subj', `/CN=${cn}`, '-out', `${name}.csr`);
    writeFileSync(file(`${name}.ext`), ext);
    const ca = ['-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1'];
    openssl('x509', '-req', '-in', `${name}.csr`, ...ca, '-extfile', `${name}.ext`, '-out', `${name}.crt`);
  };

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tabby-tls-test-'));
    openssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '1',
      '-subj',
      '/CN=tabby test CA',
    );
    issue('server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    issue('client', 'alice', 'extendedKeyUsage=clientAuth\n');
    etcd = await startEtcd();
    server = await startApiServer(etcd, [
      '--tls-cert',
      file('server.crt'),
      '--tls-key',
      file('server.key'),
      '--client-ca',
      file('ca.crt'),
    ]);
  });
  after(async () => {
    await server?.stop();
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves a client with a certificate from the CA, without a token; refuses one without', async () => {
    assert.match(server.url, /^https:/);
    const ca = readFileSync(file('ca.crt'));
    const alice = new ApiClient({
      server: server.url,
      ca,
      cert: readFileSync(file('client.crt')),
      key: readFileSync(file('client.key')),
    });
    const ippools = kindByAlias('ippool')!;
    assert.deepEqual((await alice.list(ippools)).items, []);
    await alice.close();

    const anonymous = new ApiClient({ server: server.url, ca });
    await assert.rejects(anonymous.list(ippools), /: TLS handshake failed: ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED$/);
    await anonymous.close();
    const untrusting = new ApiClient({ server: server.url });
    await assert.rejects(
      untrusting.list(ippools),
      /: TLS handshake failed: (SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/,
    );
    await untrusting.close();
  });

  it('runs tabbyctl through it with --certificate-authority, --client-certificate and --client-key', async () => {
    const tls = [
      '--server',
      server.url,
      '--certificate-authority',
      file('ca.crt'),
      '--client-certificate',
      file('client.crt'),
      '--client-key',
      file('client.key'),
    ];
    const doc = JSON.stringify({
      apiVersion: 'projectcalico.org/v3',
      kind: 'IPPool',
      metadata: { name: 'tls-pool' },
      spec: { cidr: '10.77.0.0/16' },
    });
    const tabbyctl = path.join(__dirname, '..', '..', 'bin', 'tabbyctl');
    const env = { ...process.env, ETCD_ENDPOINTS: 'http://127.0.0.1:9' };
    const applied = await run(tabbyctl, ['apply', '-f', '-', ...tls], { input: doc, env, allowFail: true });
    assert.equal(applied.code, 0, applied.stderr);
    const got = await run(tabbyctl, ['get', 'ippools', ...tls], { env, allowFail: true });
    assert.match(got.stdout, /tls-pool\s+10\.77\.0\.0\/16/);
    const withoutCert = await run(
      tabbyctl,
      ['get', 'ippools', '--server', server.url, '--certificate-authority', file('ca.crt')],
      { env, allowFail: true },
    );
    assert.equal(withoutCert.code, 1);
    assert.equal(withoutCert.stderr.trim().split('\n').length, 1, withoutCert.stderr);
  });
});
