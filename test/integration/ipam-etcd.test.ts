// IPAM against a real etcd: racing allocator processes (one killed mid-way), an etcd restart during
// allocation, and the CNI IPAM plugin as a runtime calls it, directly and through tabby-node's socket.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type Backend,
  isDatastoreError,
  kindByAlias,
  openBackend,
  type Resource,
  ResourceClient,
} from '../../datastore';
import {
  allocationsIn,
  checkIpam,
  IpamGarbageCollector,
  IpamService,
  ipv4InCidr,
  parseIpv4,
  parseIpv4Cidr,
  readIpamSnapshot,
  readUsage,
} from '../../ipam';
import { type EtcdHandle, type ProcessHandle, run, spawnProcess, startEtcd } from '../harness';
import { waitFor } from '../support/wait';

const isRoot = process.getuid?.() === 0;
const DIST = path.join(__dirname, '..', '..');
const WORKER = path.join(DIST, 'test', 'support', 'ipam-worker.js');
const PLUGIN = path.join(DIST, 'cni-bin', 'tabby-ipam');
const TABBY_NODE = path.join(DIST, 'bin', 'tabby-node');
const v3 = 'projectcalico.org/v3';

function pool(name: string, cidr: string, spec: Record<string, unknown> = {}): Resource {
  return { apiVersion: v3, kind: 'IPPool', metadata: { name }, spec: { cidr, ...spec } };
}

function inCidr(address: string, cidr: string): boolean {
  return ipv4InCidr(parseIpv4(address)!, parseIpv4Cidr(cidr)!);
}

interface WorkerLine {
  handleId: string;
  address?: string;
  exhausted?: string;
}

function linesOf(p: ProcessHandle): WorkerLine[] {
  return p
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as WorkerLine);
}

describe('IPAM on a real etcd', { skip: isRoot ? false : 'needs root: runs etcd' }, () => {
  let etcd: EtcdHandle;
  let backend: Backend;
  let client: ResourceClient;
  let dir: string;

  before(async () => {
    etcd = await startEtcd();
    backend = openBackend({ type: 'etcdv3', etcdEndpoints: etcd.endpoints });
    client = new ResourceClient(backend);
    dir = mkdtempSync(path.join(tmpdir(), 'tabby-ipam-test-'));
  });
  after(async () => {
    await backend?.close();
    await etcd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('16 allocator processes on two nodes, one SIGKILLed mid-way: no duplicate, no half-written state, no leak after GC', async () => {
    await client.create(pool('race', '10.64.0.0/22', { blockSize: 28 }));
    const workers: ProcessHandle[] = [];
    try {
      for (let i = 0; i < 16; i++) {
        const node = i < 8 ? 'node-a' : 'node-b';
        workers.push(
          await spawnProcess(process.execPath, [WORKER, etcd.endpoints.join(','), node, '30', `race.w${i}`]),
        );
      }
      const victim = workers[3]!;
      await waitFor(() => linesOf(victim).length >= 5, 'the victim to allocate 5 addresses', 30_000, 20);
      process.kill(victim.pid, 'SIGKILL');
      for (const w of workers) {
        const status = await w.exited;
        if (w !== victim) assert.equal(status.code, 0, `${w.commandLine} failed:\n${w.output()}`);
      }
    } finally {
      for (const w of workers) if (w.running) await w.stop(500);
    }

    const reported = workers.flatMap(linesOf).filter((l) => l.address !== undefined);
    const addresses = reported.map((l) => l.address!);
    assert.equal(new Set(addresses).size, addresses.length, 'an address was handed out twice');
    assert.ok(addresses.every((a) => inCidr(a, '10.64.0.0/22')));
    const survivorsFinished = workers.filter((w) => w !== workers[3]).every((w) => linesOf(w).length === 30);
    assert.ok(survivorsFinished, 'every surviving allocator got all its 30 addresses');

    const snapshot = await readIpamSnapshot(backend);
    const stored = allocationsIn(snapshot);
    const byAddress = new Map(stored.map((a) => [a.address, a.handle]));
    for (const l of reported)
      assert.equal(byAddress.get(l.address!), l.handleId, `${l.address} is stored for its handle`);
    assert.ok(
      stored.length - reported.length <= 1,
      'at most the one allocation the victim had not yet printed is extra',
    );
    const report = checkIpam(snapshot, await readUsage(backend));
    assert.deepEqual(report.handleMismatches, []);
    assert.deepEqual(report.duplicateAffinities, []);
    assert.deepEqual(report.blocksWithoutAffinity, []);
    assert.deepEqual(report.affinitiesWithoutBlock, []);

    // The survivors' pods go away (CNI DEL); the victim's addresses have no endpoint and are collected.
    const releaser = new IpamService(backend, 'node-a');
    const survivorHandles = reported.filter((l) => !l.handleId.startsWith('race.w3.')).map((l) => l.handleId);
    await Promise.all(survivorHandles.map((h) => releaser.release(h)));
    for (const node of ['node-a', 'node-b']) {
      const gc = new IpamGarbageCollector(backend, new IpamService(backend, node).allocator, 1000);
      await gc.run(Date.now());
      await gc.run(Date.now() + 1000);
    }
    const end = checkIpam(await readIpamSnapshot(backend), await readUsage(backend));
    assert.equal(end.allocations, 0, 'nothing leaked');
    assert.equal(end.problems, 0, JSON.stringify(end));
    const blocksLeft = (await readIpamSnapshot(backend)).blocks.map((b) => b.block.affinity);
    assert.ok(blocksLeft.length <= 2, `each node keeps at most one empty block: ${blocksLeft}`);
    await client.delete(kindByAlias('ippool')!, 'race');
  });

  it('loses nothing when etcd restarts during allocations', async () => {
    await client.create(pool('restart', '10.65.0.0/24'));
    const service = new IpamService(backend, 'node-r');
    const succeeded = new Map<string, string>();
    let failures = 0;
    const loop = async (n: number) => {
      for (let i = 0; i < 12; i++) {
        const handleId = `restart.l${n}.${i}`;
        for (;;) {
          try {
            succeeded.set(handleId, (await service.assign({ handleId })).address);
            break;
          } catch (err) {
            if (!isDatastoreError(err, 'Unavailable')) throw err;
            failures++;
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      }
    };
    const loops = Promise.all(Array.from({ length: 16 }, (_, n) => loop(n)));
    await waitFor(() => succeeded.size >= 40, '40 allocations before the restart', 20_000, 5);
    await etcd.restart();
    await loops;
    assert.ok(failures > 0, 'the restart was felt (requests failed while etcd was down)');
    assert.equal(succeeded.size, 16 * 12);
    assert.equal(new Set(succeeded.values()).size, succeeded.size, 'no address twice');
    const stored = allocationsIn(await readIpamSnapshot(backend)).filter((a) => inCidr(a.address, '10.65.0.0/24'));
    assert.equal(
      stored.length,
      succeeded.size,
      'a retried request found its first allocation instead of taking a second',
    );
    for (const a of stored) assert.equal(succeeded.get(a.handle!), a.address);
  });

  describe('the CNI IPAM plugin', () => {
    let container = 0;
    const cni = async (command: string, conf: Record<string, unknown>, extra: { id?: string; args?: string } = {}) => {
      const id = extra.id ?? `c${++container}`;
      const res = await run(PLUGIN, [], {
        allowFail: true,
        input: JSON.stringify(conf),
        env: {
          PATH: process.env.PATH,
          CNI_COMMAND: command,
          CNI_CONTAINERID: id,
          CNI_NETNS: '/var/run/netns/none',
          CNI_IFNAME: 'eth0',
          CNI_PATH: path.dirname(PLUGIN),
          CNI_ARGS: extra.args ?? '',
        },
      });
      return {
        id,
        code: res.code,
        out: res.stdout.trim() === '' ? undefined : JSON.parse(res.stdout),
        stderr: res.stderr,
      };
    };
    const netconf = (runDir: string, ipam: Record<string, unknown> = {}) => ({
      cniVersion: '1.0.0',
      name: 'testnet',
      type: 'tabby',
      etcd_endpoints: etcd.endpoints.join(','),
      nodename: 'cni-node',
      run_dir: runDir,
      ipam: { type: 'tabby-ipam', ...ipam },
    });

    before(async () => {
      await client.create(
        pool('cni-main', '10.70.0.0/24', { namespaceSelector: '!has(team)', allowedUses: ['Workload'] }),
      );
      await client.create(pool('cni-tiny', '10.71.0.0/30', { blockSize: 30 }));
      await client.create(
        pool('cni-green', '10.72.0.0/24', { namespaceSelector: 'team == "nobody"', allowedUses: ['Workload'] }),
      );
      await client.create(
        pool('cni-blue', '10.73.0.0/24', { namespaceSelector: 'team == "blue"', allowedUses: ['Workload'] }),
      );
      await client.create({
        apiVersion: v3,
        kind: 'Profile',
        metadata: { name: 'kns.green', annotations: { 'cni.projectcalico.org/ipv4pools': '["cni-green"]' } },
        spec: { labelsToApply: { 'pcns.projectcalico.org/name': 'green' } },
      });
      await client.create({
        apiVersion: v3,
        kind: 'Profile',
        metadata: { name: 'kns.blue' },
        spec: { labelsToApply: { 'pcns.team': 'blue', 'pcns.projectcalico.org/name': 'blue' } },
      });
    });

    it('answers VERSION', async () => {
      const v = await cni('VERSION', { cniVersion: '1.0.0' });
      assert.equal(v.code, 0);
      assert.ok(v.out.supportedVersions.includes('1.0.0') && v.out.supportedVersions.includes('0.3.1'));
    });

    it('ADD, CHECK, DEL (twice) without a node: allocates against etcd directly', async () => {
      const conf = netconf(path.join(dir, 'no-node'));
      const add = await cni('ADD', conf);
      assert.equal(add.code, 0, JSON.stringify(add.out) + add.stderr);
      assert.equal(add.out.cniVersion, '1.0.0');
      const address: string = add.out.ips[0].address;
      assert.match(address, /^10\.70\.0\.\d+\/32$/);
      assert.equal((await cni('CHECK', { ...conf, prevResult: add.out }, { id: add.id })).code, 0);
      assert.equal((await cni('DEL', conf, { id: add.id })).code, 0);
      assert.equal((await cni('DEL', conf, { id: add.id })).code, 0, 'DEL is idempotent');
      const check = await cni('CHECK', conf, { id: add.id });
      assert.equal(check.code, 1);
      assert.equal(check.out.code, 3);
      const old = await cni('ADD', { ...conf, cniVersion: '0.3.1' });
      assert.equal(old.out.ips[0].version, '4', '0.3.x results carry the IP version');
    });

    it('reports an exhausted pool with a CNI error that says why', async () => {
      const conf = netconf(path.join(dir, 'no-node'), { ipv4_pools: ['cni-tiny'] });
      for (let i = 0; i < 4; i++) assert.equal((await cni('ADD', conf)).code, 0);
      const full = await cni('ADD', conf);
      assert.equal(full.code, 1);
      assert.equal(full.out.code, 100);
      assert.equal(full.out.msg, 'no free address in pools [cni-tiny] for node cni-node (cni-tiny: 4 of 4 in use)');
      const bad = await cni('ADD', netconf(path.join(dir, 'no-node'), { ipv4_pools: ['no-such-pool'] }));
      assert.equal(bad.out.code, 7);
      assert.match(bad.out.msg, /pool no-such-pool .* does not exist/);
    });

    it("honours the namespace's ipv4pools annotation and pools' namespaceSelector", async () => {
      const conf = netconf(path.join(dir, 'no-node'));
      const green = await cni('ADD', conf, { args: 'K8S_POD_NAMESPACE=green;K8S_POD_NAME=g1' });
      assert.match(green.out.ips[0].address, /^10\.72\.0\./);
      const blue = await cni('ADD', conf, { args: 'K8S_POD_NAMESPACE=blue;K8S_POD_NAME=b1' });
      assert.match(blue.out.ips[0].address, /^10\.73\.0\./);
      const plain = await cni('ADD', conf, { args: 'K8S_POD_NAMESPACE=plain;K8S_POD_NAME=p1' });
      assert.match(plain.out.ips[0].address, /^10\.70\.0\./);
      const pinned = await cni(
        'ADD',
        { ...conf, args: { cni: { annotations: { 'cni.projectcalico.org/ipAddrs': '["10.70.0.200"]' } } } },
        { args: 'K8S_POD_NAMESPACE=plain;K8S_POD_NAME=p2' },
      );
      assert.equal(pinned.out.ips[0].address, '10.70.0.200/32');
    });

    it("goes through tabby-node's socket, and directly again once the node is gone", async () => {
      const runDir = path.join(dir, 'node-run');
      const node = await spawnProcess(TABBY_NODE, ['--node-name', 'sock-node', '--run-dir', runDir], {
        // On this host's own namespace: IPAM only, no dataplane.
        env: {
          ...process.env,
          ETCD_ENDPOINTS: etcd.endpoints.join(','),
          TABBY_DISABLE_FELIX: 'true',
          TABBY_NETWORKING_BACKEND: 'none',
          IP: '192.0.2.99/24',
          TABBY_HEALTH_PORT: '0',
          TABBY_METRICS_PORT: '0',
        },
      });
      try {
        await waitFor(() => node.output().includes('ready'), 'tabby-node to be ready', 15_000);
        const conf = { ...netconf(runDir), nodename: undefined };
        const adds = await Promise.all(Array.from({ length: 16 }, () => cni('ADD', conf)));
        for (const a of adds) assert.equal(a.code, 0, JSON.stringify(a.out));
        const got = adds.map((a) => a.out.ips[0].address);
        assert.equal(new Set(got).size, 16);
        const snapshot = await readIpamSnapshot(backend);
        const mine = allocationsIn(snapshot).filter(
          (a) => a.handle?.startsWith('testnet.') && got.includes(`${a.address}/32`),
        );
        assert.equal(mine.length, 16);
        assert.ok(
          mine.every((a) => a.attrs.node === 'sock-node'),
          'the node name came from the run dir',
        );
        process.kill(node.pid, 'SIGKILL');
        await node.exited;
        const after = await cni('ADD', conf);
        assert.equal(after.code, 0, `a stale socket falls back to etcd: ${JSON.stringify(after.out)}`);
      } finally {
        await node.stop(500);
      }
    });
  });

  it('tabby-node creates the default pool on an empty datastore', async () => {
    const fresh = await startEtcd();
    const node = await spawnProcess(TABBY_NODE, ['--run-dir', path.join(dir, 'fresh-run'), '--node-name', 'first'], {
      env: {
        ...process.env,
        ETCD_ENDPOINTS: fresh.endpoints.join(','),
        TABBY_IPV4POOL_CIDR: '10.99.0.0/16',
        CALICO_IPV4POOL_IPIP: 'Never',
        CALICO_DISABLE_FELIX: 'true',
        CALICO_NETWORKING_BACKEND: 'none',
        IP: '192.0.2.98/24',
        TABBY_HEALTH_PORT: '0',
        TABBY_METRICS_PORT: '0',
      },
    });
    const b = openBackend({ type: 'etcdv3', etcdEndpoints: fresh.endpoints });
    try {
      const created = await waitFor(
        () => b.get(kindByAlias('ippool')!, 'default-ipv4-ippool').catch(() => undefined),
        'the default pool',
      );
      assert.equal((created.spec as { cidr: string }).cidr, '10.99.0.0/16');
      assert.equal((created.spec as { ipipMode: string }).ipipMode, 'Never');
      assert.equal((created.spec as { natOutgoing: boolean }).natOutgoing, true);
    } finally {
      await node.stop();
      await b.close();
      await fresh.stop();
    }
  });
});
