// The CNI plugin tabby as a runtime calls it inside a node (CONTRACT §6, §7): nodes are network namespaces on an
// underlay segment with etcd on it, tabby-node (felix) runs on n1 and n2, n3 has none (the plugin does the
// datastore work itself there); pods are namespaces the test makes and passes as CNI_NETNS. ADD/CHECK/DEL/VERSION,
// what the pod and the node hold afterwards, the WorkloadEndpoint under Calico's name, pods reaching each other on
// one node and across nodes over VXLAN, a chain with the reference portmap and bandwidth plugins, IPAM delegated to
// host-local, failed ADDs that leave nothing behind, and the plugin handing its calls to tabby-node.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HANDLES_PREFIX } from '../../ipam';
import { type EtcdHandle, type ProcessHandle, run, runIn, spawnProcess, startEtcd, Topology } from '../harness';
import { type CniCall, type CniOutcome, callList, callPlugin, type NetworkConfigList } from '../support/cni-runtime';
import { waitFor } from '../support/wait';

const isRoot = process.getuid?.() === 0;
const DIST = path.join(__dirname, '..', '..');
const TABBYCTL = path.join(DIST, 'bin', 'tabbyctl');
const TABBY_NODE = path.join(DIST, 'bin', 'tabby-node');
const ECHO = path.join(DIST, 'test', 'support', 'tcp-echo.js');
/** Our plugins first, then the reference plugins (portmap, bandwidth, host-local). */
const CNI_PATH = [path.join(DIST, 'cni-bin'), '/usr/lib/cni'];
const NETWORK = 'tabbynet';
const MTU = 1450;

type NodeName = 'n1' | 'n2' | 'n3';

interface Pod {
  node: NodeName;
  name: string;
  /** The namespace's name (for runIn) and path (CNI_NETNS). */
  ns: string;
  netns: string;
  containerId: string;
  call: CniCall;
  conf: Record<string, unknown>;
  result: Record<string, unknown>;
  ip: string;
  veth: string;
}

interface Wep {
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: Record<string, unknown>;
}

const vethOf = (namespace: string, pod: string) =>
  `cali${createHash('sha1').update(`${namespace}.${pod}`).digest('hex').slice(0, 11)}`;

describe('the CNI plugin tabby in network namespaces', { skip: isRoot ? false : 'needs root' }, () => {
  let topo: Topology;
  let etcd: EtcdHandle;
  let endpoints: string;
  const nodes = new Map<NodeName, ProcessHandle>();
  let containers = 0;

  const runDir = (node: NodeName) => path.join(topo.dir, `run-${node}`);
  const inNode = async (node: NodeName, cmd: string, args: string[]) => (await topo.exec(node, cmd, args)).stdout;
  const ctl = async (args: string[], input?: string) =>
    topo.exec('etcd', TABBYCTL, args, {
      allowFail: true,
      env: { ...process.env, ETCD_ENDPOINTS: endpoints },
      ...(input !== undefined ? { input } : {}),
    });
  const apply = async (docs: unknown[]) => {
    const res = await ctl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: docs }));
    assert.equal(res.code, 0, res.stderr);
  };
  const wep = async (name: string, namespace = 'default'): Promise<Wep | undefined> => {
    const res = await ctl(['get', 'workloadendpoint', name, '-n', namespace, '-o', 'json']);
    return res.code === 0 ? (JSON.parse(res.stdout) as Wep) : undefined;
  };
  const handles = async (containerId: string) =>
    (
      await etcd.etcdctl(['get', '--prefix', '--keys-only', `${HANDLES_PREFIX}${NETWORK}.${containerId}`])
    ).stdout.trim();
  const linkExists = async (node: NodeName, name: string) =>
    (await topo.exec(node, 'ip', ['link', 'show', 'dev', name], { allowFail: true })).code === 0;

  /** The network config of a node: through its tabby-node on n1/n2; n3 names itself, having no node to ask. */
  const netconf = (node: NodeName, extra: Record<string, unknown> = {}) => ({
    cniVersion: '1.0.0',
    name: NETWORK,
    type: 'tabby',
    etcd_endpoints: endpoints,
    run_dir: runDir(node),
    ...(node === 'n3' ? { nodename: 'n3' } : {}),
    mtu: MTU,
    ipam: { type: 'tabby-ipam', ipv4_pools: ['pods'] },
    ...extra,
  });
  const runner = (node: NodeName) => (file: string, opts: Parameters<Topology['exec']>[3]) =>
    topo.exec(node, file, [], opts);
  const cni = (node: NodeName, command: string, conf: Record<string, unknown>, call: CniCall) =>
    callPlugin(runner(node), command, conf, call);

  /** A namespace for a pod, made from the host (one made under `ip netns exec` would exist in that mount namespace only). */
  const podNamespace = async (name: string) => {
    const ns = `${topo.prefix}${name}`;
    await run('ip', ['netns', 'add', ns]);
    return { ns, netns: `/var/run/netns/${ns}` };
  };
  const podCall = (name: string, netns: string, containerId: string): CniCall => ({
    containerId,
    netns,
    args: {
      IgnoreUnknown: '1',
      K8S_POD_NAMESPACE: 'default',
      K8S_POD_NAME: name,
      K8S_POD_INFRA_CONTAINER_ID: containerId,
    },
    path: CNI_PATH,
  });
  const addPod = async (node: NodeName, name: string, conf = netconf(node)): Promise<Pod> => {
    const { ns, netns } = await podNamespace(name);
    const containerId = `c${++containers}-${name}`;
    const call = podCall(name, netns, containerId);
    const add = await cni(node, 'ADD', conf, call);
    assert.equal(add.code, 0, `ADD ${name} on ${node}: ${JSON.stringify(add.out)} ${add.stderr}`);
    const result = add.out!;
    const ip = (result.ips as { address: string }[])[0]!.address.split('/')[0]!;
    return { node, name, ns, netns, containerId, call, conf, result, ip, veth: vethOf('default', name) };
  };
  const ping = (from: Pod, to: Pod) =>
    waitFor(
      async () => (await runIn(from.ns, 'ping', ['-c', '1', '-W', '1', to.ip], { allowFail: true })).code === 0,
      `${from.name} (${from.node}) → ${to.name} (${to.node}) ${to.ip}`,
      15_000,
    );
  const assertGone = async (pod: Pod) => {
    assert.equal(await linkExists(pod.node, pod.veth), false, `${pod.veth} is gone`);
    assert.equal(
      await wep(`${pod.node}-k8s-${pod.name.replaceAll('-', '--')}-eth0`),
      undefined,
      'the endpoint is gone',
    );
    assert.equal(await handles(pod.containerId), '', 'the address is released');
  };

  before(async () => {
    topo = await Topology.create();
    await topo.addSegment('lan');
    await topo.addNode('etcd', { segment: 'lan', address: '192.0.2.10/24' });
    // A default route, as real nodes have: proxy ARP answers for 169.254.1.1 only when the node has a route to it.
    for (const [n, address] of [
      ['n1', '192.0.2.11/24'],
      ['n2', '192.0.2.12/24'],
      ['n3', '192.0.2.13/24'],
    ] as const) {
      await topo.addNode(n, { segment: 'lan', address, gateway: '192.0.2.10' });
    }
    await topo.waitUntilLinksUp();
    etcd = await startEtcd({ netns: topo.nsName('etcd'), host: '192.0.2.10' });
    endpoints = etcd.endpoints.join(',');
    await apply([
      {
        apiVersion: 'projectcalico.org/v3',
        kind: 'IPPool',
        metadata: { name: 'pods' },
        spec: { cidr: '10.66.0.0/20', blockSize: 26, vxlanMode: 'Always', ipipMode: 'Never', natOutgoing: false },
      },
      {
        apiVersion: 'projectcalico.org/v3',
        kind: 'IPPool',
        metadata: { name: 'tiny' },
        spec: { cidr: '10.67.0.0/30', blockSize: 30, ipipMode: 'Never', vxlanMode: 'Never', allowedUses: ['Workload'] },
      },
      // What Calico's controllers write for a namespace: its pods may talk to anyone.
      {
        apiVersion: 'projectcalico.org/v3',
        kind: 'Profile',
        metadata: { name: 'kns.default' },
        spec: { ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }] },
      },
    ]);
    mkdirSync(runDir('n3'), { recursive: true });
    for (const n of ['n1', 'n2'] as const) {
      nodes.set(
        n,
        await topo.spawn(n, TABBY_NODE, ['--node-name', n, '--run-dir', runDir(n)], {
          env: { ...process.env, ETCD_ENDPOINTS: endpoints },
        }),
      );
    }
    const inSync = async (n: NodeName) => {
      const res = await topo.exec(
        n,
        'curl',
        ['-s', '--unix-socket', path.join(runDir(n), 'status.sock'), 'http://x/status'],
        { allowFail: true },
      );
      return res.code === 0 && (JSON.parse(res.stdout) as { felix: { inSync: boolean } }).felix.inSync;
    };
    await waitFor(async () => (await inSync('n1')) && (await inSync('n2')), 'felix in sync on n1 and n2', 20_000);
  });

  after(async () => {
    if (process.env.TABBY_TEST_VERBOSE) for (const [n, p] of nodes) console.log(`--- ${n}\n${p.output()}`);
    await topo?.destroy();
    await etcd?.stop();
  });

  it('ADD plumbs the pod, CHECK accepts it and says what broke, DEL (twice) removes it, VERSION answers', async () => {
    const pod = await addPod('n1', 'pod-a');
    const interfaces = pod.result.interfaces as { name: string; mac?: string; sandbox?: string }[];
    assert.equal(interfaces[0]!.name, pod.veth);
    assert.equal(interfaces[0]!.mac, 'ee:ee:ee:ee:ee:ee');
    assert.deepEqual({ ...interfaces[1], mac: undefined }, { name: 'eth0', mac: undefined, sandbox: pod.netns });
    assert.match(pod.ip, /^10\.66\.\d+\.\d+$/);
    assert.deepEqual(pod.result.ips, [{ address: `${pod.ip}/32`, interface: 1 }]);
    assert.deepEqual(pod.result.routes, [{ dst: '0.0.0.0/0' }]);

    // In the pod: the address /32, the MTU, the link route to 169.254.1.1 and the default route via it.
    const [link] = JSON.parse((await runIn(pod.ns, 'ip', ['-j', 'addr', 'show', 'dev', 'eth0'])).stdout) as {
      mtu: number;
      address: string;
      operstate: string;
      addr_info: { family: string; local: string; prefixlen: number }[];
    }[];
    assert.equal(link!.mtu, MTU);
    assert.equal(link!.address, interfaces[1]!.mac);
    assert.deepEqual(
      link!.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
      [`${pod.ip}/32`],
    );
    const podRoutes = (await runIn(pod.ns, 'ip', ['route', 'show'])).stdout;
    assert.match(podRoutes, /^default via 169\.254\.1\.1 dev eth0/m);
    assert.match(podRoutes, /^169\.254\.1\.1 dev eth0 scope link/m);

    // On the node: the veth with Calico's name and MAC, its sysctls, the /32 route (felix's protocol).
    const hostLink = JSON.parse(await inNode('n1', 'ip', ['-j', 'link', 'show', 'dev', pod.veth])) as {
      address: string;
      mtu: number;
      flags: string[];
    }[];
    assert.equal(hostLink[0]!.address, 'ee:ee:ee:ee:ee:ee');
    assert.equal(hostLink[0]!.mtu, MTU);
    assert.ok(hostLink[0]!.flags.includes('UP'));
    for (const [key, value] of [
      [`ipv4/conf/${pod.veth}/proxy_arp`, '1'],
      [`ipv4/neigh/${pod.veth}/proxy_delay`, '0'],
      [`ipv4/conf/${pod.veth}/route_localnet`, '1'],
      [`ipv4/conf/${pod.veth}/forwarding`, '1'],
    ]) {
      assert.equal((await inNode('n1', 'cat', [`/proc/sys/net/${key}`])).trim(), value, key);
    }
    await waitFor(
      async () =>
        (await inNode('n1', 'ip', ['route', 'show', `${pod.ip}/32`])).includes(`dev ${pod.veth} proto 80 scope link`),
      'the host route to the pod',
    );

    // The WorkloadEndpoint, under Calico's name.
    const endpoint = await wep('n1-k8s-pod--a-eth0');
    assert.ok(endpoint, 'WorkloadEndpoint default/n1-k8s-pod--a-eth0');
    assert.deepEqual(endpoint.spec, {
      orchestrator: 'k8s',
      node: 'n1',
      pod: 'pod-a',
      endpoint: 'eth0',
      containerID: pod.containerId,
      interfaceName: pod.veth,
      ipNetworks: [`${pod.ip}/32`],
      mac: interfaces[1]!.mac,
      profiles: ['kns.default'],
    });
    assert.equal(endpoint.metadata.labels['projectcalico.org/namespace'], 'default');
    assert.equal(endpoint.metadata.labels['projectcalico.org/orchestrator'], 'k8s');
    await waitFor(
      async () =>
        (await inNode('n1', 'ip', ['neigh', 'show', 'nud', 'permanent'])).includes(`${pod.ip} dev ${pod.veth}`),
      'felix programs the endpoint (its ARP entry)',
    );

    const checkConf = { ...pod.conf, prevResult: pod.result };
    const check = await cni('n1', 'CHECK', checkConf, pod.call);
    assert.equal(check.code, 0, JSON.stringify(check.out));
    await runIn(pod.ns, 'ip', ['route', 'del', 'default']);
    const broken = await cni('n1', 'CHECK', checkConf, pod.call);
    assert.equal(broken.code, 1);
    assert.equal(broken.out?.msg, `${pod.netns} has no default route via 169.254.1.1 dev eth0`);
    await runIn(pod.ns, 'ip', ['route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0']);

    for (const attempt of ['DEL', 'DEL again']) {
      const del = await cni('n1', 'DEL', pod.conf, pod.call);
      assert.equal(del.code, 0, `${attempt}: ${JSON.stringify(del.out)}`);
    }
    await assertGone(pod);
    assert.match((await ctl(['ipam', 'show', '--ip', pod.ip])).stdout, /is not assigned/);
    const missing = await cni('n1', 'CHECK', checkConf, pod.call);
    assert.equal(missing.out?.msg, 'WorkloadEndpoint default/n1-k8s-pod--a-eth0 does not exist');
    const unknown = await cni('n1', 'DEL', pod.conf, { ...podCall('never-added', '', 'c-unknown'), netns: '' });
    assert.equal(unknown.code, 0, `a DEL for an unknown container succeeds: ${JSON.stringify(unknown.out)}`);

    const version = await cni('n1', 'VERSION', { cniVersion: '1.0.0', type: 'tabby' }, pod.call);
    assert.equal(version.code, 0);
    assert.ok((version.out!.supportedVersions as string[]).includes('1.0.0'));
  });

  it('answers in the shape of older versions (0.3.1, 0.4.0)', async () => {
    for (const cniVersion of ['0.3.1', '0.4.0']) {
      const pod = await addPod('n1', `pod-v${cniVersion.replaceAll('.', '')}`, { ...netconf('n1'), cniVersion });
      assert.equal(pod.result.cniVersion, cniVersion);
      assert.deepEqual(pod.result.ips, [{ version: '4', address: `${pod.ip}/32`, interface: 1 }]);
      assert.equal((await cni('n1', 'DEL', pod.conf, pod.call)).code, 0);
    }
  });

  it('pods reach each other on one node and across nodes over VXLAN', async () => {
    const b = await addPod('n1', 'pod-b');
    const c = await addPod('n1', 'pod-c');
    const d = await addPod('n2', 'pod-d');
    await ping(b, c);
    await ping(c, b);
    await ping(b, d);
    await ping(d, c);
    for (const pod of [b, c, d]) assert.equal((await cni(pod.node, 'DEL', pod.conf, pod.call)).code, 0);
    for (const pod of [b, c, d]) await assertGone(pod);
  });

  it('chained with the reference portmap and bandwidth plugins', async () => {
    const { ns, netns } = await podNamespace('pod-web');
    const { cniVersion: _v, name: _n, ...tabby } = netconf('n1');
    const list: NetworkConfigList = {
      cniVersion: '1.0.0',
      name: NETWORK,
      plugins: [
        tabby,
        { type: 'portmap', capabilities: { portMappings: true }, snat: true },
        { type: 'bandwidth', capabilities: { bandwidth: true } },
      ],
    };
    const runtimeConfig = {
      portMappings: [{ hostPort: 8080, containerPort: 7000, protocol: 'tcp' }],
      bandwidth: {
        ingressRate: 100_000_000,
        ingressBurst: 10_000_000,
        egressRate: 100_000_000,
        egressBurst: 10_000_000,
      },
    };
    const call = podCall('pod-web', netns, 'c-web');
    const add: CniOutcome = await callList(runner('n1'), 'ADD', list, call, runtimeConfig);
    assert.equal(add.code, 0, JSON.stringify(add.out) + add.stderr);
    const ip = (add.out!.ips as { address: string }[])[0]!.address.split('/')[0]!;
    const veth = vethOf('default', 'pod-web');

    const nat = await inNode('n1', 'iptables-save', ['-t', 'nat']);
    assert.match(nat, new RegExp(`-j DNAT --to-destination ${ip.replaceAll('.', '\\.')}:7000`), nat);
    assert.match(await inNode('n1', 'tc', ['qdisc', 'show', 'dev', veth]), /qdisc tbf/);

    // Through the mapping: n2 → 192.0.2.11:8080 → the pod's port 7000.
    const server = await spawnProcess(process.execPath, [ECHO, 'server', '0.0.0.0', '7000'], { netns: ns });
    try {
      await waitFor(() => server.output().includes('listening'), 'the echo server in the pod');
      const client = await topo.exec('n2', process.execPath, [ECHO, 'client', '192.0.2.11', '8080', '100000'], {
        allowFail: true,
      });
      assert.equal(client.code, 0, client.stderr);
      assert.equal((JSON.parse(client.stdout) as { identical: boolean }).identical, true);
    } finally {
      await server.stop();
    }

    // portmap's own CHECK fails for a workload without IPv6, looking for an ip6tables chain it never made
    // (containernetworking/plugins#819): the others are checked.
    const checked = { ...list, plugins: list.plugins.filter((p) => p.type !== 'portmap') };
    const check = await callList(runner('n1'), 'CHECK', checked, call, runtimeConfig, add.out);
    assert.equal(check.code, 0, JSON.stringify(check.out) + check.stderr);
    const del = await callList(runner('n1'), 'DEL', list, call, runtimeConfig, add.out);
    assert.equal(del.code, 0, JSON.stringify(del.out) + del.stderr);
    assert.ok(!(await inNode('n1', 'iptables-save', ['-t', 'nat'])).includes(`${ip}:7000`), 'the DNAT rule is gone');
    assert.equal(await linkExists('n1', veth), false);
    assert.equal(await handles('c-web'), '');
  });

  it('a failing ADD leaves no veth, no allocation and no endpoint', async () => {
    // An exhausted pool: tabby-ipam takes the four addresses of "tiny" first.
    const tiny = netconf('n1', { ipam: { type: 'tabby-ipam', ipv4_pools: ['tiny'] } });
    for (let i = 0; i < 4; i++) {
      const fill = await cni('n1', 'ADD', { ...tiny, type: 'tabby-ipam' }, { ...podCall('x', 'x', `c-fill${i}`) });
      assert.equal(fill.code, 0, JSON.stringify(fill.out));
    }
    const full = await podNamespace('pod-full');
    const exhausted = await cni('n1', 'ADD', tiny, podCall('pod-full', full.netns, 'c-full'));
    assert.equal(exhausted.code, 1);
    assert.equal(exhausted.out?.code, 100);
    assert.match(String(exhausted.out?.msg), /^allocating an address: no free address in pools \[tiny\]/);

    const noNetns = await cni(
      'n1',
      'ADD',
      netconf('n1'),
      podCall('pod-lost', `/var/run/netns/${topo.prefix}nope`, 'c-lost'),
    );
    assert.equal(noNetns.out?.code, 4);
    assert.equal(noNetns.out?.msg, `CNI_NETNS /var/run/netns/${topo.prefix}nope does not exist`);

    // Refused by the datastore after the address and the veth were made (a container id it does not accept).
    const late = await podNamespace('pod-late');
    const rejected = await cni('n1', 'ADD', netconf('n1'), podCall('pod-late', late.netns, 'c_late'));
    assert.equal(rejected.out?.code, 7, JSON.stringify(rejected.out));
    assert.match(String(rejected.out?.msg), /^writing WorkloadEndpoint default\/n1-k8s-pod--late-eth0: .*containerID/);
    assert.equal(await linkExists('n1', vethOf('default', 'pod-late')), false);
    assert.equal((await runIn(late.ns, 'ip', ['link', 'show', 'eth0'], { allowFail: true })).code, 1);

    for (const [name, containerId] of [
      ['pod-full', 'c-full'],
      ['pod-lost', 'c-lost'],
      ['pod-late', 'c_late'],
    ] as const) {
      assert.equal(await linkExists('n1', vethOf('default', name)), false, `${name}: no veth`);
      assert.equal(await wep(`n1-k8s-${name.replaceAll('-', '--')}-eth0`), undefined, `${name}: no endpoint`);
      assert.equal(await handles(containerId), '', `${name}: no allocation`);
    }
  });

  it('without tabby-node the plugin does the datastore work itself; other IPAM plugins are delegated to', async () => {
    assert.ok(!existsSync(path.join(runDir('n3'), 'ipam.sock')));
    const e = await addPod('n3', 'pod-e');
    const f = await addPod('n3', 'pod-f');
    const endpoint = await wep('n3-k8s-pod--e-eth0');
    assert.equal(endpoint?.spec.node, 'n3');
    assert.equal(endpoint?.spec.interfaceName, e.veth);
    const check = await cni('n3', 'CHECK', { ...e.conf, prevResult: e.result }, e.call);
    assert.equal(check.code, 0, JSON.stringify(check.out));
    // No felix here: the plugin's own route and sysctls carry the traffic between the node's pods.
    await ping(e, f);
    await ping(f, e);

    // A container outside Kubernetes: orchestrator cni, named by its container id, labels from the config.
    const plain = await podNamespace('plain');
    const plainCall: CniCall = { containerId: 'c-plain1', netns: plain.netns, path: CNI_PATH };
    const plainConf = netconf('n3', { args: { cni: { labels: { app: 'batch' } } } });
    const added = await cni('n3', 'ADD', plainConf, plainCall);
    assert.equal(added.code, 0, JSON.stringify(added.out));
    const plainEndpoint = await wep('n3-cni-c--plain1-eth0');
    assert.equal(plainEndpoint?.spec.orchestrator, 'cni');
    assert.equal(plainEndpoint?.spec.containerID, 'c-plain1');
    assert.equal(plainEndpoint?.metadata.labels.app, 'batch');
    assert.equal(
      (added.out!.interfaces as { name: string }[])[0]!.name,
      `cali${createHash('sha1').update('c-plain1').digest('hex').slice(0, 11)}`,
    );
    assert.equal((await cni('n3', 'DEL', plainConf, plainCall)).code, 0);
    assert.equal(await wep('n3-cni-c--plain1-eth0'), undefined);

    // host-local, exec'd from CNI_PATH with the same config: its address, given as /32 without its gateway.
    const dataDir = path.join(topo.dir, 'host-local');
    const hostLocal = netconf('n3', {
      ipam: { type: 'host-local', ranges: [[{ subnet: '10.68.0.0/24' }]], dataDir },
    });
    const g = await addPod('n3', 'pod-g', hostLocal);
    assert.match(g.ip, /^10\.68\.0\.\d+$/);
    assert.deepEqual(g.result.ips, [{ address: `${g.ip}/32`, interface: 1 }]);
    assert.ok(existsSync(path.join(dataDir, NETWORK, g.ip)), 'host-local recorded the allocation');
    await ping(g, e);
    assert.equal((await cni('n3', 'CHECK', { ...hostLocal, prevResult: g.result }, g.call)).code, 0);
    assert.equal((await cni('n3', 'DEL', hostLocal, g.call)).code, 0);
    assert.ok(!existsSync(path.join(dataDir, NETWORK, g.ip)), 'host-local released it');
    assert.equal(await linkExists('n3', g.veth), false);

    // A failure after the veth is undone here too.
    const late = await podNamespace('pod-late3');
    const rejected = await cni('n3', 'ADD', netconf('n3'), podCall('pod-late3', late.netns, 'c_late3'));
    assert.equal(rejected.out?.code, 7, JSON.stringify(rejected.out));
    assert.equal(await linkExists('n3', vethOf('default', 'pod-late3')), false);
    assert.equal(await handles('c_late3'), '');

    for (const pod of [e, f]) {
      assert.equal((await cni('n3', 'DEL', pod.conf, pod.call)).code, 0);
      assert.equal((await cni('n3', 'DEL', pod.conf, pod.call)).code, 0, 'DEL is idempotent');
      await assertGone(pod);
    }
  });

  it('the plugin hands calls to tabby-node, which runs them; where the node cannot, the plugin runs them itself', async () => {
    // What n1's node did with the calls it was handed, from its Prometheus metrics.
    const handed = async () => {
      const metrics = await inNode('n1', 'curl', ['-s', 'http://192.0.2.11:9091/metrics']);
      const counts = new Map<string, number>();
      for (const m of metrics.matchAll(/^tabby_cni_calls_total\{command="(\w+)",result="([\w-]+)"\} (\d+)$/gm)) {
        counts.set(`${m[1]} ${m[2]}`, Number(m[3]));
      }
      return counts;
    };
    const grew = (before: Map<string, number>, after: Map<string, number>) =>
      [...after]
        .filter(([key, n]) => n !== (before.get(key) ?? 0))
        .map(([key, n]) => `${key} +${n - (before.get(key) ?? 0)}`);

    let before = await handed();
    const pod = await addPod('n1', 'pod-front');
    assert.deepEqual(grew(before, await handed()), ['ADD ok +1'], 'the node ran the ADD');
    before = await handed();
    const refused = await cni('n1', 'ADD', netconf('n1', { ipam: { type: 'tabby-ipam', ipv4_pools: ['nosuch'] } }), {
      ...pod.call,
      containerId: 'c-front-refused',
    });
    assert.equal(refused.code, 1);
    assert.equal(refused.out?.code, 7, JSON.stringify(refused.out));
    assert.match(String(refused.out?.msg), /nosuch/);
    assert.deepEqual(grew(before, await handed()), ['ADD error +1'], 'the node ran the refused ADD and said why');
    before = await handed();
    assert.equal((await cni('n1', 'DEL', pod.conf, pod.call)).code, 0);
    assert.deepEqual(grew(before, await handed()), ['DEL ok +1']);
    await assertGone(pod);

    // A runtime whose pod namespaces live in a mount namespace that tabby-node does not share (the node runs in a
    // container of its own): the node hands the ADD back and the plugin does it in the runtime's view.
    const hidden = await podNamespace('pod-hidden');
    const privateDir = path.join(topo.dir, 'runtime-only');
    mkdirSync(privateDir);
    const inRuntimeView = (file: string, opts: Parameters<Topology['exec']>[3]) =>
      topo.exec(
        'n1',
        'unshare',
        [
          '--mount',
          '--propagation',
          'private',
          'sh',
          '-c',
          `mount -t tmpfs runtime ${privateDir} && touch ${privateDir}/netns && mount --bind ${hidden.netns} ${privateDir}/netns && exec "$0"`,
          file,
        ],
        opts,
      );
    const call = podCall('pod-hidden', `${privateDir}/netns`, 'c-hidden');
    before = await handed();
    const add = await callPlugin(inRuntimeView, 'ADD', netconf('n1'), call);
    assert.equal(add.code, 0, `${JSON.stringify(add.out)} ${add.stderr}`);
    assert.deepEqual(grew(before, await handed()), ['ADD handed-back +1']);
    const address = (add.out!.ips as { address: string }[])[0]!.address;
    const inside = await runIn(hidden.ns, 'ip', ['-o', 'addr', 'show', 'dev', 'eth0']);
    assert.ok(inside.stdout.includes(address), `eth0 in the pod holds ${address}: ${inside.stdout}`);
    assert.equal((await callPlugin(inRuntimeView, 'DEL', netconf('n1'), call)).code, 0);
    assert.equal(await linkExists('n1', vethOf('default', 'pod-hidden')), false);
    assert.equal(await handles('c-hidden'), '');
  });
});
