// tabbyctl as a user runs it: the built executable against a real etcd.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { type EtcdHandle, run, startEtcd } from '../harness';
import { TABBYCTL_ROUTES, type TabbyctlRoute, tabbyctlRoute } from '../support/apiserver';
import { EXAMPLES } from '../support/examples';

const isRoot = process.getuid?.() === 0;
const TABBYCTL = path.join(__dirname, '..', '..', 'bin', 'tabbyctl');

// Every command the same through the datastore and through tabby-apiserver (`--server URL`, TABBY_TOKEN).
for (const via of TABBYCTL_ROUTES)
  describe(`tabbyctl via ${via}`, { skip: isRoot ? false : 'needs root: runs etcd' }, () => {
    let etcd: EtcdHandle;
    let route: TabbyctlRoute;
    let dir: string;
    const ctl = (args: string[], input?: string) =>
      run(TABBYCTL, [...args, ...route.args], {
        allowFail: true,
        env: route.env,
        ...(input !== undefined ? { input } : {}),
      });
    const file = (name: string, text: string) => {
      const p = path.join(dir, name);
      writeFileSync(p, text);
      return p;
    };

    before(async () => {
      etcd = await startEtcd();
      route = await tabbyctlRoute(via, etcd);
      dir = mkdtempSync(path.join(tmpdir(), 'tabbyctl-test-'));
    });
    after(async () => {
      await route?.stop();
      await etcd?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it("applies several documents and gets them back with Calico's defaults", async () => {
      const pools = file(
        'pools.yaml',
        `apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: pool-a
spec:
  cidr: 10.10.0.0/16
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: pool-b
spec:
  cidr: 10.20.0.0/16
  ipipMode: Always
  natOutgoing: true
`,
      );
      const applied = await ctl(['apply', '-f', pools]);
      assert.equal(applied.code, 0, applied.stderr);
      assert.equal(applied.stdout.trim(), "Successfully applied 2 'IPPool' resource(s)");
      const got = await ctl(['get', 'ippool', 'pool-a', '-o', 'yaml']);
      assert.equal(got.code, 0, got.stderr);
      const pool = parseYaml(got.stdout);
      assert.equal(pool.kind, 'IPPool');
      assert.equal(pool.spec.cidr, '10.10.0.0/16');
      assert.equal(pool.spec.blockSize, 26);
      assert.equal(pool.spec.ipipMode, 'Never');
      assert.equal(pool.spec.vxlanMode, 'Never');
      assert.equal(pool.spec.nodeSelector, 'all()');
      assert.match(pool.metadata.resourceVersion, /^\d+$/);
      const table = await ctl(['get', 'ipp', '-o', 'wide']);
      assert.equal(table.code, 0, table.stderr);
      const lines = table.stdout.trim().split('\n');
      assert.match(lines[0]!, /^NAME\s+CIDR\s+NAT\s+IPIPMODE\s+VXLANMODE\s+DISABLED\s+DISABLEBGPEXPORT\s+SELECTOR/);
      assert.match(lines[2]!, /^pool-b\s+10\.20\.0\.0\/16\s+true\s+Always\s+Never\s+false/);
      const list = JSON.parse((await ctl(['get', 'pools', '-o', 'json'])).stdout);
      assert.equal(list.kind, 'IPPoolList');
      assert.deepEqual(
        list.items.map((i: { metadata: { name: string } }) => i.metadata.name),
        ['pool-a', 'pool-b'],
      );
    });

    it('round-trips one example of every kind through apply and get -o yaml', async () => {
      const text = EXAMPLES.map((e) => JSON.stringify(e)).join('\n---\n');
      const applied = await ctl(['create', '-f', '-'], text);
      assert.equal(applied.code, 0, applied.stderr);
      for (const e of EXAMPLES) {
        const kindArg = e.apiVersion === 'networking.k8s.io/v1' ? 'knp' : e.kind;
        const ns = e.metadata.namespace ? ['-n', e.metadata.namespace] : [];
        const got = await ctl(['get', kindArg, e.metadata.name, ...ns, '-o', 'yaml']);
        assert.equal(got.code, 0, `${e.kind}: ${got.stderr}`);
        const back = parseYaml(got.stdout);
        assert.equal(back.apiVersion, e.apiVersion);
        assert.equal(back.kind, e.kind);
        for (const [label, value] of Object.entries(e.metadata.labels ?? {})) {
          assert.equal(back.metadata.labels[label], value, `${e.kind} label ${label}`);
        }
        for (const [field, value] of Object.entries(e.spec ?? {})) {
          assert.deepEqual(back.spec[field], value, `${e.kind} spec.${field}`);
        }
      }
    });

    it('applies nothing from a file with one invalid document, naming document and field', async () => {
      const bad = file(
        'bad.yaml',
        `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool-ok}
spec: {cidr: 10.30.0.0/16}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool-bad}
spec: {cidr: 10.40.0.0/16, blockSize: 33}
`,
      );
      const res = await ctl(['apply', '-f', bad]);
      assert.equal(res.code, 1);
      assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr);
      assert.match(res.stderr, /document 2: IPPool "pool-bad": spec\.blockSize: must be between 20 and 32, got 33/);
      const gone = await ctl(['get', 'ippool', 'pool-ok']);
      assert.equal(gone.code, 1, 'the valid document was not applied');
    });

    it('reports malformed YAML with its line', async () => {
      const res = await ctl([
        'apply',
        '-f',
        file('broken.yaml', 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: [x\n'),
      ]);
      assert.equal(res.code, 1);
      assert.match(res.stderr, /broken\.yaml: line \d+, column \d+: invalid YAML/);
    });

    it('rejects an overlapping pool and a change of an immutable field', async () => {
      const overlap = await ctl(
        ['create', '-f', '-'],
        JSON.stringify({
          apiVersion: 'projectcalico.org/v3',
          kind: 'IPPool',
          metadata: { name: 'inside-a' },
          spec: { cidr: '10.10.128.0/24' },
        }),
      );
      assert.equal(overlap.code, 1);
      assert.match(overlap.stderr, /IPPool "inside-a": spec\.cidr/);
      const patched = await ctl(['patch', 'ippool', 'pool-a', '-p', '{"spec":{"blockSize":28}}']);
      assert.equal(patched.code, 1);
      assert.match(patched.stderr, /spec\.blockSize/);
    });

    it('labels, selects by label, patches and deletes', async () => {
      assert.equal((await ctl(['label', 'ippool', 'pool-a', 'tier=gold'])).code, 0);
      const again = await ctl(['label', 'ippool', 'pool-a', 'tier=silver']);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /--overwrite/);
      assert.equal((await ctl(['label', 'ippool', 'pool-a', 'tier=silver', '--overwrite'])).code, 0);
      const selected = await ctl(['get', 'ippools', '-l', 'tier == "silver"', '-o', 'json']);
      assert.deepEqual(
        JSON.parse(selected.stdout).items.map((i: { metadata: { name: string } }) => i.metadata.name),
        ['pool-a'],
      );
      const none = await ctl(['get', 'ippools', '--selector', 'has(nothing)']);
      assert.equal(none.stdout.trim(), 'NAME   CIDR   SELECTOR');
      const badSel = await ctl(['get', 'ippools', '-l', 'tier ==']);
      assert.equal(badSel.code, 1);
      assert.match(badSel.stderr, /--selector: .*position/);
      assert.equal((await ctl(['label', 'ippool', 'pool-a', 'tier', '--remove'])).code, 0);
      const patched = await ctl(['patch', 'ippool', 'pool-b', '--patch', '{"spec":{"natOutgoing":false}}']);
      assert.equal(patched.code, 0, patched.stderr);
      assert.equal(parseYaml((await ctl(['get', 'ippool', 'pool-b', '-o', 'yaml'])).stdout).spec.natOutgoing, false);
      const deleted = await ctl(['delete', 'ippool', 'pool-b']);
      assert.equal(deleted.stdout.trim(), "Successfully deleted 1 'IPPool' resource(s)");
      assert.equal((await ctl(['delete', 'ippool', 'pool-b'])).code, 1);
      assert.equal((await ctl(['delete', 'ippool', 'pool-b', '--skip-not-exists'])).code, 0);
    });

    it('fails with one clear line on bad flags, kinds and commands', async () => {
      for (const [args, pattern] of [
        [['get', 'widgets'], /unknown resource kind "widgets"/],
        [['get', 'ippools', '-o', 'xml'], /-o: output format must be one of/],
        [['get', 'ippools', '--frobnicate'], /Unknown option '--frobnicate'/],
        [['frob'], /unknown command "frob"/],
        [['apply'], /-f FILE is required/],
        [['apply', '-f', path.join(dir, 'missing.yaml')], /missing\.yaml: cannot read: ENOENT/],
      ] as [string[], RegExp][]) {
        const res = await ctl(args);
        assert.equal(res.code, 1, args.join(' '));
        assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr);
        assert.match(res.stderr, pattern);
      }
    });

    it('reports an unreachable datastore or API server within 5 s, naming it', async () => {
      const started = Date.now();
      const [flags, pattern] =
        via === 'etcd'
          ? [['--etcd-endpoints', 'http://127.0.0.1:9'], /etcd at http:\/\/127\.0\.0\.1:9: unreachable/]
          : [
              ['--server', 'http://127.0.0.1:9'],
              /tabby-apiserver at http:\/\/127\.0\.0\.1:9 is unreachable: ECONNREFUSED/,
            ];
      const res = await run(TABBYCTL, ['get', 'ippools', ...flags], { allowFail: true, env: route.env });
      assert.equal(res.code, 1);
      assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr);
      assert.match(res.stderr, pattern);
      assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    });

    it('through the API server: a wrong token is refused, and --server excludes the datastore flags', {
      skip: via === 'etcd' ? 'API server only' : false,
    }, async () => {
      const refused = await run(TABBYCTL, ['get', 'ippools', ...route.args, '--token', 'not-a-token'], {
        allowFail: true,
        env: route.env,
      });
      assert.equal(refused.code, 1);
      assert.match(
        refused.stderr.trim(),
        /^tabbyctl: tabby-apiserver at http:\/\/127\.0\.0\.1:\d+: a valid bearer token is required \(HTTP 401\)$/,
      );
      const both = await ctl(['get', 'ippools', '--etcd-endpoints', 'http://127.0.0.1:2379']);
      assert.equal(both.code, 1);
      assert.match(both.stderr, /give either --server or the datastore flags, not both/);
    });
  });
