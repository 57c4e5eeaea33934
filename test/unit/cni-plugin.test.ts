// The CNI plugin's pure parts and its node API without root: workload identity from CNI_ARGS, Calico's veth and
// WorkloadEndpoint names (the examples of libcalico-go's tests), the endpoint as the datastore validates it,
// result shapes per CNI version, delegation to another IPAM plugin, and tabby-node's endpoint routes on its socket.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execPlugin, findPlugin } from '../../cni/delegate';
import { WorkloadEndpointStore } from '../../cni/endpoint-store';
import type { TabbyNetConf } from '../../cni/netconf';
import { checkTabbyConf } from '../../cni/netconf';
import { openNodeApi } from '../../cni/node-api';
import { CniError, readEnvironment } from '../../cni/protocol';
import { addResult, firstIpv4, HOST_SIDE_MAC, ipamAddress } from '../../cni/result';
import {
  buildEndpoint,
  endpointNameOf,
  hostVethName,
  type WorkloadIdentity,
  workloadIdentity,
} from '../../cni/workload';
import { kindByAlias, MemoryBackend, type Resource, ResourceClient } from '../../datastore';
import { IpamService } from '../../ipam';
import { serveIpam } from '../../node/ipam-server';

const conf = (extra: Record<string, unknown> = {}): TabbyNetConf =>
  checkTabbyConf({ cniVersion: '1.0.0', name: 'net', type: 'tabby', ipam: { type: 'tabby-ipam' }, ...extra });

function cniEnv(args: string, extra: NodeJS.ProcessEnv = {}) {
  return readEnvironment({
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: 'abcdefa0123456',
    CNI_NETNS: '/var/run/netns/pod',
    CNI_IFNAME: 'eth0',
    CNI_ARGS: args,
    ...extra,
  });
}

const k8s = (namespace: string, pod: string, node = 'node-1'): WorkloadIdentity => ({
  node,
  orchestrator: 'k8s',
  namespace,
  pod,
  containerId: 'abcdefa0123456',
  ifname: 'eth0',
});

function rejects(fn: () => unknown, code: number, message: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof CniError && err.code === code && message.test(err.message));
}

describe('CNI_ARGS: who the call is for', () => {
  it('a Kubernetes pod when both K8S_POD_NAMESPACE and K8S_POD_NAME are given; other keys ignored', () => {
    const id = workloadIdentity(
      cniEnv('IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u'),
      conf(),
      'node-1',
    );
    assert.deepEqual(id, {
      node: 'node-1',
      orchestrator: 'k8s',
      namespace: 'shop',
      pod: 'web-0',
      containerId: 'abcdefa0123456',
      ifname: 'eth0',
    });
  });

  it('a plain container otherwise, in namespace default or the one its labels name', () => {
    const half = workloadIdentity(cniEnv('K8S_POD_NAMESPACE=shop'), conf(), 'n');
    assert.equal(half.orchestrator, 'cni');
    assert.equal(half.namespace, 'default');
    assert.equal(half.pod, undefined);
    const labelled = workloadIdentity(
      cniEnv(''),
      conf({ args: { cni: { labels: { 'projectcalico.org/namespace': 'batch', app: 'x' } } } }),
      'n',
    );
    assert.equal(labelled.namespace, 'batch');
  });

  it('refuses CNI_ARGS that are not KEY=VALUE pairs and a missing CNI_IFNAME or CNI_CONTAINERID', () => {
    rejects(() => cniEnv('K8S_POD_NAME'), 4, /CNI_ARGS: "K8S_POD_NAME" is not KEY=VALUE/);
    rejects(() => workloadIdentity(cniEnv('', { CNI_IFNAME: '' }), conf(), 'n'), 4, /CNI_IFNAME is not set/);
    rejects(() => workloadIdentity(cniEnv('', { CNI_CONTAINERID: '' }), conf(), 'n'), 4, /CNI_CONTAINERID is not set/);
  });

  it('keeps "=" inside values', () => {
    assert.equal(cniEnv('K8S_POD_NAME=a=b').args.K8S_POD_NAME, 'a=b');
  });
});

describe("Calico's names", () => {
  it('host veth: cali + 11 hex of sha1("<namespace>.<pod>") (libcalico-go conversion tests)', () => {
    assert.equal(hostVethName(k8s('namespace', 'podname')), 'cali82111e10a96');
    assert.equal(hostVethName(k8s('default', 'podA')), 'cali7f94ce7c295');
    assert.equal(hostVethName(k8s('default', 'podB')), 'cali92cf1f5e9f6');
  });

  it('host veth of a plain container: of sha1(container id), always 15 characters', () => {
    const id: WorkloadIdentity = { ...k8s('default', 'x'), orchestrator: 'cni', pod: undefined, containerId: 'c_1.a' };
    assert.match(hostVethName(id), /^cali[0-9a-f]{11}$/);
    assert.notEqual(hostVethName(id), hostVethName({ ...id, containerId: 'c_1.b' }));
  });

  it('WorkloadEndpoint names with dashes doubled (libcalico-go names tests)', () => {
    assert.equal(endpointNameOf(k8s('default', 'pod-name')), 'node--1-k8s-pod--name-eth0');
    assert.equal(
      endpointNameOf({ ...k8s('default', 'x'), orchestrator: 'cni', pod: undefined }),
      'node--1-cni-abcdefa0123456-eth0',
    );
    assert.equal(endpointNameOf(k8s('default', 'web', 'n1')), 'n1-k8s-web-eth0');
  });

  it('a part that begins or ends with a dash cannot be named, and the error names its source', () => {
    rejects(
      () => endpointNameOf({ ...k8s('default', 'x'), orchestrator: 'cni', pod: undefined, containerId: '-abc' }),
      4,
      /CNI_CONTAINERID must not begin or end with '-'/,
    );
    rejects(() => endpointNameOf(k8s('default', 'pod-')), 4, /K8S_POD_NAME/);
  });
});

describe('the WorkloadEndpoint', () => {
  const attachment = { hostVeth: 'cali7f94ce7c295', ipNetworks: ['10.65.0.2/32'], mac: '02:11:22:33:44:55' };

  it('carries the identity, the attachment, the labels and the namespace profile', () => {
    const wep = buildEndpoint(
      k8s('default', 'poda', 'n1'),
      conf({ args: { cni: { labels: { app: 'web' } } } }),
      attachment,
    );
    assert.deepEqual(wep.metadata, {
      name: 'n1-k8s-poda-eth0',
      namespace: 'default',
      labels: { app: 'web', 'projectcalico.org/namespace': 'default', 'projectcalico.org/orchestrator': 'k8s' },
    });
    assert.deepEqual(wep.spec, {
      orchestrator: 'k8s',
      node: 'n1',
      pod: 'poda',
      endpoint: 'eth0',
      containerID: 'abcdefa0123456',
      interfaceName: 'cali7f94ce7c295',
      ipNetworks: ['10.65.0.2/32'],
      mac: '02:11:22:33:44:55',
      profiles: ['kns.default'],
    });
  });

  it('passes the datastore validation, for pods and plain containers', async () => {
    const store = new WorkloadEndpointStore(new ResourceClient(new MemoryBackend()));
    const pod = buildEndpoint(k8s('shop', 'web-0', 'n1'), conf(), attachment);
    const plain = buildEndpoint(
      { ...k8s('default', 'x', 'n1'), orchestrator: 'cni', pod: undefined },
      conf(),
      attachment,
    );
    for (const wep of [pod, plain]) {
      const stored = await store.apply(wep);
      assert.equal(stored.metadata.name, wep.metadata.name);
    }
    assert.equal(plain.metadata.name, 'n1-cni-abcdefa0123456-eth0');
    assert.equal((plain.spec as { pod?: string }).pod, undefined);
  });

  it("creates the namespace's allow-all profile with its first endpoint, and leaves an existing one alone", async () => {
    const client = new ResourceClient(new MemoryBackend());
    const profiles = kindByAlias('profile')!;
    const custom = {
      apiVersion: 'projectcalico.org/v3',
      kind: 'Profile',
      metadata: { name: 'kns.shop' },
      spec: { labelsToApply: { 'pcns.team': 'shop' } },
    };
    await client.create(custom);
    const store = new WorkloadEndpointStore(client);
    await store.apply(buildEndpoint(k8s('default', 'poda', 'n1'), conf(), attachment));
    await store.apply(buildEndpoint(k8s('shop', 'web-0', 'n1'), conf(), attachment));
    const created = await client.get(profiles, 'kns.default');
    assert.deepEqual(created.spec, {
      ingress: [{ action: 'Allow' }],
      egress: [{ action: 'Allow' }],
      labelsToApply: { 'pcns.projectcalico.org/name': 'default' },
    });
    assert.deepEqual((await client.get(profiles, 'kns.shop')).spec, custom.spec, 'an existing profile is not changed');
    // Pods of a new namespace starting together: one creates the profile, none fails.
    const stores = [new WorkloadEndpointStore(client), new WorkloadEndpointStore(client)];
    await Promise.all(
      ['web-1', 'web-2'].map((pod, i) => stores[i]!.apply(buildEndpoint(k8s('batch', pod, 'n1'), conf(), attachment))),
    );
    assert.ok(await client.get(profiles, 'kns.batch'));
  });

  it('a DEL spares the endpoint of another container, and finds nothing twice', async () => {
    const client = new ResourceClient(new MemoryBackend());
    const store = new WorkloadEndpointStore(client);
    const wep = buildEndpoint(k8s('default', 'poda', 'n1'), conf(), attachment);
    await store.apply(wep);
    assert.equal(await store.delete('default', 'n1-k8s-poda-eth0', 'an-older-sandbox'), 'another-container');
    assert.ok(await store.get('default', 'n1-k8s-poda-eth0'));
    assert.equal(await store.delete('default', 'n1-k8s-poda-eth0', 'abcdefa0123456'), 'deleted');
    assert.equal(await store.delete('default', 'n1-k8s-poda-eth0', 'abcdefa0123456'), 'absent');
    assert.equal(await store.get('default', 'n1-k8s-poda-eth0'), undefined);
  });
});

describe('results', () => {
  const input = {
    hostVeth: 'cali7f94ce7c295',
    ifname: 'eth0',
    mac: '02:11:22:33:44:55',
    mtu: 1450,
    netns: '/var/run/netns/pod',
    address: '10.65.0.2/32',
    dns: {},
  };

  it('1.0.0: host and workload interfaces, the address on the workload interface, the default route', () => {
    assert.deepEqual(addResult('1.0.0', input), {
      cniVersion: '1.0.0',
      interfaces: [
        { name: 'cali7f94ce7c295', mac: HOST_SIDE_MAC },
        { name: 'eth0', mac: '02:11:22:33:44:55', sandbox: '/var/run/netns/pod' },
      ],
      ips: [{ address: '10.65.0.2/32', interface: 1 }],
      routes: [{ dst: '0.0.0.0/0' }],
      dns: {},
    });
  });

  it('0.3.1 and 0.4.0 addresses carry their version; 1.1.0 interfaces their MTU', () => {
    for (const version of ['0.3.0', '0.3.1', '0.4.0']) {
      assert.deepEqual(addResult(version, input).ips, [{ version: '4', address: '10.65.0.2/32', interface: 1 }]);
    }
    assert.equal((addResult('1.1.0', input).interfaces[1] as { mtu?: number }).mtu, 1450);
    assert.equal((addResult('1.0.0', input).interfaces[1] as { mtu?: number }).mtu, undefined);
  });

  it("reads the IPv4 address of another IPAM plugin's result, or says there is none", () => {
    const hostLocal = {
      cniVersion: '1.0.0',
      ips: [
        { address: 'fd00::5/64', gateway: 'fd00::1' },
        { address: '10.22.0.5/16', gateway: '10.22.0.1' },
      ],
    };
    assert.equal(ipamAddress(hostLocal, 'host-local'), '10.22.0.5');
    assert.equal(firstIpv4({ ips: [{ version: '4', address: '10.1.0.9/32' }] }), '10.1.0.9');
    rejects(() => ipamAddress({ ips: [{ address: 'fd00::5/64' }] }, 'host-local'), 7, /no IPv4 address/);
    rejects(() => ipamAddress(undefined, 'x'), 7, /returned no IPv4 address/);
  });

  it('the config: mtu must be a sane integer', () => {
    assert.equal(conf({ mtu: 1450 }).mtu, 1450);
    rejects(() => conf({ mtu: 20 }), 7, /mtu must be an integer from 68 to 65535/);
    rejects(() => conf({ mtu: '1500' }), 7, /mtu/);
  });
});

describe('delegation to another IPAM plugin', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'tabby-cni-delegate-'));
    // A fake IPAM plugin: ADD prints a result naming what it was given; DEL fails as a plugin does.
    writeFileSync(
      path.join(dir, 'fake-ipam'),
      `#!/bin/sh
input=$(cat)
if [ "$CNI_COMMAND" = ADD ]; then
  printf '{"cniVersion":"1.0.0","ips":[{"address":"10.9.0.7/24","gateway":"10.9.0.1"}],"dns":{"nameservers":["10.9.0.53"]},"seen":"%s %s"}' "$CNI_CONTAINERID" "$(echo "$input" | tr -d '"{}: ' | head -c 20)"
else
  printf '{"cniVersion":"1.0.0","code":11,"msg":"busy","details":"try later"}'
  exit 1
fi
`,
    );
    chmodSync(path.join(dir, 'fake-ipam'), 0o755);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('execs <CNI_PATH>/<type> with the same config and environment, CNI_COMMAND set', async () => {
    const result = (await execPlugin('fake-ipam', 'ADD', '{"cniVersion":"1.0.0"}', ['/nonexistent', dir], {
      PATH: process.env.PATH,
      CNI_CONTAINERID: 'c1',
    })) as { seen: string; ips: unknown[] };
    assert.equal(result.seen, 'c1 cniVersion1.0.0');
    assert.equal(ipamAddress(result, 'fake-ipam'), '10.9.0.7');
  });

  it("turns the plugin's error object into a CniError with its code", async () => {
    await assert.rejects(
      execPlugin('fake-ipam', 'DEL', '{}', [dir], { PATH: process.env.PATH }),
      (err: unknown) =>
        err instanceof CniError &&
        err.code === 11 &&
        err.message === 'fake-ipam DEL: busy' &&
        err.details === 'try later',
    );
  });

  it('says when the plugin is not on CNI_PATH, and refuses a type that is a path', () => {
    rejects(() => findPlugin('host-local', [dir]), 4, /plugin host-local not found in CNI_PATH/);
    rejects(() => findPlugin('../bin/sh', [dir]), 7, /is not a file name/);
  });
});

describe("tabby-node's endpoint routes on its socket", () => {
  let dir: string;
  let backend: MemoryBackend;
  const servers: http.Server[] = [];
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'tabby-cni-api-'));
    backend = new MemoryBackend();
  });
  after(() => {
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const serve = async (runDir: string, withEndpoints: boolean) => {
    servers.push(
      await serveIpam(
        path.join(runDir, 'ipam.sock'),
        new IpamService(backend, 'n1'),
        withEndpoints ? new ResourceClient(backend) : undefined,
      ),
    );
    return openNodeApi(conf({ run_dir: runDir }), {});
  };

  it('writes, reads and deletes endpoints through the node', async () => {
    const api = await serve(dir, true);
    const wep = buildEndpoint(k8s('default', 'poda', 'n1'), conf(), {
      hostVeth: 'cali7f94ce7c295',
      ipNetworks: ['10.65.0.2/32'],
      mac: '02:11:22:33:44:55',
    });
    await api.applyEndpoint(wep);
    const stored = (await api.getEndpoint('default', 'n1-k8s-poda-eth0')) as Resource;
    assert.equal((stored.spec as { interfaceName: string }).interfaceName, 'cali7f94ce7c295');
    assert.ok(await backend.get(kindByAlias('wep')!, 'n1-k8s-poda-eth0', 'default'));
    await api.applyEndpoint({ ...wep, spec: { ...(wep.spec as object), mac: '02:00:00:00:00:01' } });
    assert.equal(await api.deleteEndpoint('default', 'n1-k8s-poda-eth0', 'other'), 'another-container');
    assert.equal(await api.deleteEndpoint('default', 'n1-k8s-poda-eth0', 'abcdefa0123456'), 'deleted');
    assert.equal(await api.deleteEndpoint('default', 'n1-k8s-poda-eth0', 'abcdefa0123456'), 'absent');
    assert.equal(await api.getEndpoint('default', 'n1-k8s-poda-eth0'), undefined);
    await api.close();
  });

  it("keeps the datastore's verdict on a bad endpoint, with its code", async () => {
    const api = openNodeApi(conf({ run_dir: dir }), {});
    const wep = buildEndpoint(k8s('default', 'poda', 'n1'), conf(), {
      hostVeth: 'cali7f94ce7c295',
      ipNetworks: ['10.65.0.2/24'],
      mac: '02:11:22:33:44:55',
    });
    await assert.rejects(api.applyEndpoint(wep), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'Invalid');
      assert.match(err.message, /spec\.ipNetworks\[0\]: "10\.65\.0\.2\/24" has host bits set/);
      return true;
    });
  });

  it('a node without the endpoint routes: the call goes to the datastore directly', async () => {
    const oldNode = path.join(dir, 'old');
    mkdirSync(oldNode);
    const api = await serve(oldNode, false);
    await assert.rejects(
      api.getEndpoint('default', 'x'),
      (err: unknown) =>
        err instanceof CniError &&
        /tabby-node on .*old\/ipam\.sock does not serve GET \/v1\/endpoints\/\.\.\., and the network config has no etcd_endpoints/.test(
          err.message,
        ),
    );
    // The allocator is still the node's.
    assert.deepEqual(await api.addressesOf('net.none'), []);
  });
});
