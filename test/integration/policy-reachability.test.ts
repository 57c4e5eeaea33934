// Policy enforced across two nodes, checked as the Kubernetes network-policy e2e suite checks it: namespaces x, y
// and z (labelled ns=<name> through their kns profiles), pods a, b and c in each (labelled pod=<name>), spread over
// two tabby-nodes; every pod serves TCP and UDP on ports 80 and 81; after each policy change the full 9×9 truth
// table of TCP port 80 (and the port-81 / UDP cases a policy is about) must come out as the policy says, within
// a few seconds. Return traffic is always allowed (conntrack). Kubernetes NetworkPolicies and Calico's own
// (GlobalNetworkPolicy, tiers with Pass, Deny, Log, order, GlobalNetworkSets, notPorts) both.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { type ProcessHandle, runIn, spawnProcess, Topology } from '../harness';
import { Fabric } from '../support/fabric';
import { waitFor } from '../support/wait';

const isRoot = process.getuid?.() === 0;
const REACH = path.join(__dirname, '..', 'support', 'reach.js');
const NAMESPACES = ['x', 'y', 'z'] as const;
const PODS = ['a', 'b', 'c'] as const;
const NODES = { n1: '192.0.2.11', n2: '192.0.2.12' } as const;
const ETCD = '192.0.2.10';

type PodName = `${(typeof NAMESPACES)[number]}/${(typeof PODS)[number]}`;
const ALL: PodName[] = NAMESPACES.flatMap((ns) => PODS.map((p) => `${ns}/${p}` as PodName));

/** Which (from, to) pairs may connect: a predicate over the two pods' names. */
type Expectation = (from: PodName, to: PodName) => boolean;

const v3 = 'projectcalico.org/v3';
const knp = 'networking.k8s.io/v1';

describe('policy across two nodes: the Kubernetes e2e truth tables and Calico tiers', {
  skip: isRoot ? false : 'needs root',
}, () => {
  let topo: Topology;
  let fabric: Fabric;
  const servers: ProcessHandle[] = [];

  const podKey = (pod: PodName) => pod.replace('/', '-');

  /** The truth table of `proto:port` from every pod to every pod, as `from → to` lines that differ from `expected`. */
  async function mismatches(expected: Expectation, proto = 'tcp', port = 80): Promise<string[]> {
    const rows = await Promise.all(
      ALL.map(async (from) => {
        const targets = ALL.map((to) => `${proto}:${fabric.pod(podKey(to)).ip}:${port}`);
        const res = await runIn(fabric.pod(podKey(from)).ns, process.execPath, [REACH, 'probe', '1000', ...targets]);
        const got = JSON.parse(res.stdout) as Record<string, boolean>;
        return ALL.flatMap((to, i) => {
          // A pod's traffic to itself never leaves it: no policy applies to it.
          const want = from === to || expected(from, to);
          return got[targets[i]!] === want ? [] : [`${from} → ${to} ${proto}/${port}: ${want ? 'blocked' : 'allowed'}`];
        });
      }),
    );
    return rows.flat();
  }

  /** Waits until the table matches (policies take a moment to reach both nodes), else fails listing the misses. */
  async function expectTable(what: string, expected: Expectation, proto = 'tcp', port = 80): Promise<void> {
    let last: string[] = [];
    try {
      await waitFor(
        async () => {
          last = await mismatches(expected, proto, port);
          return last.length === 0;
        },
        what,
        15_000,
        500,
      );
    } catch {
      // What felix says on each node is the first thing to look at.
      const felix = await Promise.all(
        Object.keys(NODES).map(async (node) => `${node}: ${JSON.stringify(await felixStatus(node))}`),
      );
      assert.fail(`${what}: ${last.length} pairs differ:\n${last.join('\n')}\n${felix.join('\n')}`);
    }
  }

  async function felixStatus(node: string): Promise<{ inSync?: boolean; problems?: string[] }> {
    const socket = path.join(fabric.runDir(node), 'status.sock');
    const res = await topo.exec(node, 'curl', ['-s', '--unix-socket', socket, 'http://x/status'], { allowFail: true });
    return (JSON.parse(res.stdout || '{}') as { felix?: { inSync?: boolean; problems?: string[] } }).felix ?? {};
  }

  // A table that fails to apply leaves felix retrying while the tables before it work: every case ends with both
  // nodes in sync and without problems.
  afterEach(async () => {
    for (const node of Object.keys(NODES)) {
      let last = {};
      await waitFor(
        async () => {
          const s = await felixStatus(node);
          last = s;
          return s.inSync === true && s.problems?.length === 0;
        },
        `felix on ${node} in sync without problems (last ${JSON.stringify(last)})`,
        15_000,
        500,
      ).catch(() => assert.fail(`felix on ${node} not in sync without problems: ${JSON.stringify(last)}`));
    }
  });

  const all: Expectation = () => true;
  const ns = (pod: PodName) => pod.split('/')[0]!;

  async function remove(kind: string, name: string, namespace?: string): Promise<void> {
    await fabric.ctl(['delete', kind, name, ...(namespace ? ['-n', namespace] : [])]);
  }

  before(async () => {
    topo = await Topology.create();
    await topo.addSegment('lan');
    await topo.addNode('etcd', { segment: 'lan', address: `${ETCD}/24` });
    for (const [name, address] of Object.entries(NODES)) {
      await topo.addNode(name, { segment: 'lan', address: `${address}/24`, gateway: ETCD });
    }
    fabric = await Fabric.start(topo, 'etcd', ETCD);
    await fabric.apply(
      {
        apiVersion: v3,
        kind: 'IPPool',
        metadata: { name: 'pods' },
        spec: { cidr: '10.75.0.0/16', blockSize: 26, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: false },
      },
      // The namespaces as Calico's controllers write them: allow-all profiles handing down the namespace's labels.
      ...NAMESPACES.map((name) => ({
        apiVersion: v3,
        kind: 'Profile',
        metadata: { name: `kns.${name}` },
        spec: {
          ingress: [{ action: 'Allow' }],
          egress: [{ action: 'Allow' }],
          labelsToApply: { 'pcns.projectcalico.org/name': name, 'pcns.ns': name },
        },
      })),
    );
    for (const node of Object.keys(NODES)) await fabric.startNode(node);
    let i = 0;
    for (const pod of ALL) {
      const [namespace, name] = pod.split('/') as [string, string];
      const node = i++ % 2 === 0 ? 'n1' : 'n2';
      const p = await fabric.addPod(node, podKey(pod), namespace, { pod: name });
      // What the loopback plugin does for a runtime: a pod can reach its own address.
      await runIn(p.ns, 'ip', ['link', 'set', 'lo', 'up']);
      const server = await spawnProcess(process.execPath, [REACH, 'serve', '80,81'], { netns: p.ns });
      servers.push(server);
      await waitFor(async () => server.output().includes('listening'), `the server in ${pod}`, 10_000);
    }
  });

  after(async () => {
    for (const s of servers) await s.stop();
    await topo?.destroy();
    await fabric?.stop();
  });

  it('without policy every pod reaches every pod, TCP and UDP', async () => {
    await expectTable('no policy', all);
    await expectTable('no policy, UDP', all, 'udp', 81);
  });

  it('Kubernetes: default deny ingress in x, then allow from pod b, then from namespace y on port 80 only', async () => {
    const base = { apiVersion: knp, kind: 'NetworkPolicy' };
    await fabric.apply({
      ...base,
      metadata: { name: 'deny', namespace: 'x' },
      spec: { podSelector: {}, policyTypes: ['Ingress'] },
    });
    await expectTable('default deny ingress in x', (_, to) => ns(to) !== 'x');

    await fabric.apply({
      ...base,
      metadata: { name: 'allow-b', namespace: 'x' },
      spec: {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['b'] }] } }] }],
      },
    });
    await expectTable('x/a open to x/b only', (from, to) => ns(to) !== 'x' || (to === 'x/a' && from === 'x/b'));

    await fabric.apply({
      ...base,
      metadata: { name: 'allow-y-80', namespace: 'x' },
      spec: {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [{ port: 80 }] }],
      },
    });
    const withY: Expectation = (from, to) => ns(to) !== 'x' || (to === 'x/a' && (from === 'x/b' || ns(from) === 'y'));
    await expectTable('x/a open to x/b and namespace y on 80', withY);
    // Port 81: namespace y is not let in; x/b still is (its rule names no port).
    await expectTable('port 81', (from, to) => ns(to) !== 'x' || (to === 'x/a' && from === 'x/b'), 'tcp', 81);
    // UDP 80: the policy's port is TCP (the default protocol).
    await expectTable('UDP 80', (from, to) => ns(to) !== 'x' || (to === 'x/a' && from === 'x/b'), 'udp', 80);

    for (const name of ['deny', 'allow-b', 'allow-y-80']) await remove('knp', name, 'x');
    await expectTable('policies deleted', all);
  });

  it('Kubernetes: default deny egress in x, stacked egress allows, one of them updated in place', async () => {
    const base = { apiVersion: knp, kind: 'NetworkPolicy' };
    await fabric.apply({
      ...base,
      metadata: { name: 'deny-egress', namespace: 'x' },
      spec: { podSelector: {}, policyTypes: ['Egress'] },
    });
    await expectTable('x reaches nobody', (from) => ns(from) !== 'x');

    const toNamespace = (target: string) => ({
      ...base,
      metadata: { name: 'to-namespace', namespace: 'x' },
      spec: {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: target } } }] }],
      },
    });
    await fabric.apply(toNamespace('y'), {
      ...base,
      metadata: { name: 'a-to-zc', namespace: 'x' },
      spec: {
        podSelector: { matchLabels: { pod: 'a' } },
        policyTypes: ['Egress'],
        egress: [
          { to: [{ namespaceSelector: { matchLabels: { ns: 'z' } }, podSelector: { matchLabels: { pod: 'c' } } }] },
        ],
      },
    });
    const stacked =
      (target: string): Expectation =>
      (from, to) =>
        ns(from) !== 'x' || ns(to) === target || (from === 'x/a' && to === 'z/c');
    await expectTable('x reaches y; x/a also z/c', stacked('y'));

    // The same policy, now to z: y is closed again without a deletion in between.
    await fabric.apply(toNamespace('z'));
    await expectTable('x reaches z; x/a still z/c', stacked('z'));

    for (const name of ['deny-egress', 'to-namespace', 'a-to-zc']) await remove('knp', name, 'x');
    await expectTable('policies deleted', all);
  });

  it('Kubernetes: ingress to a named port only (the pod says which port the name is)', async () => {
    // Named ports come from the pod's containers; here from the endpoint, as Calico's Kubernetes datastore fills it.
    const ports = [
      { name: 'serve-80-tcp', protocol: 'TCP', port: 80 },
      { name: 'serve-81-tcp', protocol: 'TCP', port: 81 },
    ];
    await fabric.ctl([
      'patch',
      'workloadendpoint',
      'n1-k8s-x--a-eth0',
      '-n',
      'x',
      '-p',
      JSON.stringify({ spec: { ports } }),
    ]);
    await fabric.apply({
      apiVersion: knp,
      kind: 'NetworkPolicy',
      metadata: { name: 'named-81', namespace: 'x' },
      spec: { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ port: 'serve-81-tcp' }] }] },
    });
    await expectTable('x/a open on 81 to everyone', all, 'tcp', 81);
    await expectTable('x/a closed on 80', (_, to) => to !== 'x/a');
    await remove('knp', 'named-81', 'x');
    await expectTable('policy deleted', all);
  });

  it('Kubernetes: egress deny in y with an ipBlock exception, and a label change moving a pod in and out', async () => {
    const base = { apiVersion: knp, kind: 'NetworkPolicy' };
    await fabric.apply({
      ...base,
      metadata: { name: 'egress-to-z', namespace: 'y' },
      spec: {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [{ to: [{ ipBlock: { cidr: '10.75.0.0/16', except: [`${fabric.pod('z-c').ip}/32`] } }] }],
      },
    });
    // y may send anywhere in the pool but to z/c.
    await expectTable('y egress except z/c', (from, to) => ns(from) !== 'y' || to !== 'z/c');

    await fabric.apply({
      ...base,
      metadata: { name: 'only-labelled', namespace: 'z' },
      spec: {
        podSelector: { matchLabels: { pod: 'b' } },
        policyTypes: ['Ingress'],
        ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { role: 'client' } } }] }],
      },
    });
    const before: Expectation = (from, to) => (ns(from) !== 'y' || to !== 'z/c') && to !== 'z/b';
    await expectTable('z/b closed: nobody is a client', before);
    // x/a runs on n1: its endpoint is n1-k8s-<pod name with - doubled>-eth0.
    await fabric.ctl(['label', 'workloadendpoint', 'n1-k8s-x--a-eth0', '-n', 'x', 'role=client']);
    const labelled = (from: PodName, to: PodName) => before(from, to) || (to === 'z/b' && from === 'x/a');
    await expectTable('x/a labelled client reaches z/b', labelled);
    await fabric.ctl(['label', 'workloadendpoint', 'n1-k8s-x--a-eth0', '-n', 'x', 'role', '--remove']);
    await expectTable('the label removed, z/b is closed again', before);
    for (const [name, namespace] of [
      ['egress-to-z', 'y'],
      ['only-labelled', 'z'],
    ] as const) {
      await remove('knp', name, namespace);
    }
    await expectTable('policies deleted', all);
  });

  it('Calico: a namespaced NetworkSet by label, then notNets', async () => {
    await fabric.apply(
      {
        apiVersion: v3,
        kind: 'NetworkSet',
        metadata: { name: 'partners', namespace: 'y', labels: { role: 'partner' } },
        spec: { nets: [`${fabric.pod('x-a').ip}/32`] },
      },
      {
        apiVersion: v3,
        kind: 'NetworkPolicy',
        metadata: { name: 'from-partners', namespace: 'y' },
        spec: {
          selector: 'all()',
          types: ['Ingress'],
          ingress: [{ action: 'Allow', source: { selector: "role == 'partner'" } }],
        },
      },
    );
    await expectTable('y open to x/a, in its network set, only', (from, to) => ns(to) !== 'y' || from === 'x/a');

    await fabric.apply({
      apiVersion: v3,
      kind: 'NetworkPolicy',
      metadata: { name: 'from-partners', namespace: 'y' },
      spec: {
        selector: 'all()',
        types: ['Ingress'],
        ingress: [{ action: 'Allow', source: { notNets: [`${fabric.pod('x-b').ip}/32`] } }],
      },
    });
    await expectTable('y open to all but x/b', (from, to) => ns(to) !== 'y' || from !== 'x/b');
    await fabric.ctl(['delete', 'networkpolicy', 'from-partners', '-n', 'y']);
    await fabric.ctl(['delete', 'networkset', 'partners', '-n', 'y']);
    await expectTable('policies deleted', all);
  });

  it('Calico: a GlobalNetworkSet by label with Log then Deny, and notPorts', async () => {
    await fabric.apply(
      {
        apiVersion: v3,
        kind: 'GlobalNetworkSet',
        metadata: { name: 'quarantined', labels: { role: 'quarantine' } },
        spec: { nets: [`${fabric.pod('z-c').ip}/32`] },
      },
      {
        apiVersion: v3,
        kind: 'GlobalNetworkPolicy',
        metadata: { name: 'quarantine' },
        spec: {
          order: 1,
          selector: 'all()',
          types: ['Ingress'],
          ingress: [
            { action: 'Log', source: { selector: "role == 'quarantine'" } },
            { action: 'Deny', source: { selector: "role == 'quarantine'" } },
            { action: 'Allow', protocol: 'TCP', destination: { notPorts: [81] } },
          ],
        },
      },
    );
    await expectTable('z/c, in the network set, is denied everywhere', (from) => from !== 'z/c');
    await expectTable('nothing is allowed on TCP 81', () => false, 'tcp', 81);
    // The Log rule saw z/c's attempts before the Deny dropped them.
    let logged = 0;
    for (const node of Object.keys(NODES)) {
      const saved = (await topo.exec(node, 'iptables-save', ['-c', '-t', 'filter'])).stdout;
      for (const line of saved.split('\n').filter((l) => l.includes('-j LOG'))) {
        logged += Number(/^\[(\d+):/.exec(line)?.[1] ?? 0);
      }
    }
    assert.ok(logged > 0, 'the LOG rule counted packets');
    await remove('globalnetworkpolicy', 'quarantine');
    await remove('globalnetworkset', 'quarantined');
    await expectTable('policies deleted', all);
  });

  it('Calico: a tier that denies z and passes the rest, a GlobalNetworkPolicy, and order within a tier', async () => {
    await fabric.apply(
      { apiVersion: v3, kind: 'Tier', metadata: { name: 'security' }, spec: { order: 100 } },
      {
        apiVersion: v3,
        kind: 'GlobalNetworkPolicy',
        metadata: { name: 'security.quarantine-z' },
        spec: {
          tier: 'security',
          order: 10,
          selector: 'all()',
          types: ['Ingress'],
          ingress: [{ action: 'Deny', source: { namespaceSelector: "ns == 'z'" } }, { action: 'Pass' }],
        },
      },
    );
    await expectTable('z denied everywhere, the rest passes to the (empty) default tier', (from) => ns(from) !== 'z');

    // In the default tier, an earlier Deny from y wins over a later Allow of everything.
    await fabric.apply(
      {
        apiVersion: v3,
        kind: 'GlobalNetworkPolicy',
        metadata: { name: 'deny-y' },
        spec: {
          order: 1,
          selector: 'all()',
          types: ['Ingress'],
          ingress: [{ action: 'Deny', source: { namespaceSelector: "ns == 'y'" } }],
        },
      },
      {
        apiVersion: v3,
        kind: 'GlobalNetworkPolicy',
        metadata: { name: 'allow-all' },
        spec: { order: 2, selector: 'all()', types: ['Ingress'], ingress: [{ action: 'Allow' }] },
      },
    );
    await expectTable('only x reaches', (from) => ns(from) === 'x');

    await remove('globalnetworkpolicy', 'security.quarantine-z');
    await remove('globalnetworkpolicy', 'deny-y');
    await expectTable('allow-all alone', all);
    await remove('globalnetworkpolicy', 'allow-all');
    await remove('tier', 'security');
  });

  it('Calico: a HostEndpoint denies the host all but the failsafe ports, a policy opens one, applyOnForward polices what it forwards', async () => {
    const host = topo.nsName('n1');
    const server = await spawnProcess(process.execPath, [REACH, 'serve', '22,9090'], { netns: host });
    servers.push(server);
    await waitFor(async () => server.output().includes('listening'), 'the server on n1', 10_000);
    /** TCP to n1's own ports 22 (a failsafe inbound port) and 9090, from node n2. */
    const hostPorts = async () => {
      const targets = [`tcp:${NODES.n1}:22`, `tcp:${NODES.n1}:9090`];
      const res = await runIn(topo.nsName('n2'), process.execPath, [REACH, 'probe', '1000', ...targets]);
      const got = JSON.parse(res.stdout) as Record<string, boolean>;
      return { ssh: got[targets[0]!], other: got[targets[1]!] };
    };
    const expectHostPorts = async (what: string, want: { ssh: boolean; other: boolean }) => {
      let last = {};
      await waitFor(
        async () => {
          last = await hostPorts();
          return JSON.stringify(last) === JSON.stringify(want);
        },
        `${what}: n1 ports ${JSON.stringify(want)} (last ${JSON.stringify(last)})`,
        15_000,
        500,
      );
    };
    await expectHostPorts('no host endpoint', { ssh: true, other: true });

    await fabric.apply({
      apiVersion: v3,
      kind: 'HostEndpoint',
      metadata: { name: 'n1-eth0', labels: { role: 'node' } },
      spec: { node: 'n1', interfaceName: 'eth0', expectedIPs: [NODES.n1] },
    });
    await expectHostPorts('a host endpoint and no policy', { ssh: true, other: false });
    // BGP (a failsafe port both ways) keeps the routes, and forwarded traffic is no host endpoint policy's business.
    await expectTable('pods through the host endpoint', all);

    // Untracked (raw table): both directions must be allowed, replies are not tracked. The filter table's policy
    // still denies port 9090: only the raw table's accept lets it through.
    const untracked = {
      apiVersion: v3,
      kind: 'GlobalNetworkPolicy',
      metadata: { name: 'untracked-9090' },
      spec: {
        selector: "role == 'node'",
        doNotTrack: true,
        applyOnForward: true,
        ingress: [
          { action: 'Allow', protocol: 'TCP', source: { nets: [`${NODES.n2}/32`] }, destination: { ports: [9090] } },
        ],
        egress: [
          { action: 'Allow', protocol: 'TCP', source: { ports: [9090] }, destination: { nets: [`${NODES.n2}/32`] } },
        ],
      },
    };
    await fabric.apply(untracked);
    await expectHostPorts('port 9090 allowed untracked', { ssh: true, other: true });
    await remove('globalnetworkpolicy', 'untracked-9090');
    await expectHostPorts('the untracked policy gone', { ssh: true, other: false });

    await fabric.apply({
      apiVersion: v3,
      kind: 'GlobalNetworkPolicy',
      metadata: { name: 'node-9090' },
      spec: {
        selector: "role == 'node'",
        types: ['Ingress'],
        ingress: [
          { action: 'Allow', protocol: 'TCP', source: { nets: [`${NODES.n2}/32`] }, destination: { ports: [9090] } },
        ],
      },
    });
    await expectHostPorts('port 9090 allowed from n2', { ssh: true, other: true });

    // Pre-DNAT policy (the mangle table) sees the packet before the filter table's allow: its Deny wins.
    await fabric.apply({
      apiVersion: v3,
      kind: 'GlobalNetworkPolicy',
      metadata: { name: 'pre-dnat-9090' },
      spec: {
        selector: "role == 'node'",
        preDNAT: true,
        applyOnForward: true,
        ingress: [
          { action: 'Deny', protocol: 'TCP', source: { nets: [`${NODES.n2}/32`] }, destination: { ports: [9090] } },
        ],
      },
    });
    await expectHostPorts('port 9090 denied before DNAT', { ssh: true, other: false });
    await remove('globalnetworkpolicy', 'pre-dnat-9090');
    await expectHostPorts('the pre-DNAT policy gone', { ssh: true, other: true });

    // Forwarded in through n1's eth0: namespace x's pods on n2 may no longer reach n1's pods.
    const nodeOf = (pod: PodName) => (ALL.indexOf(pod) % 2 === 0 ? 'n1' : 'n2');
    await fabric.apply({
      apiVersion: v3,
      kind: 'GlobalNetworkPolicy',
      metadata: { name: 'forward-no-x' },
      spec: {
        order: 10,
        selector: "role == 'node'",
        applyOnForward: true,
        types: ['Ingress'],
        ingress: [{ action: 'Deny', source: { namespaceSelector: "ns == 'x'" } }, { action: 'Allow' }],
      },
    });
    await expectTable(
      "x's pods on n2 cut off from n1's pods",
      (from, to) => !(ns(from) === 'x' && nodeOf(from) === 'n2' && nodeOf(to) === 'n1'),
    );

    await remove('hostendpoint', 'n1-eth0');
    await expectTable('host endpoint gone: all again', all);
    await expectHostPorts('host endpoint gone', { ssh: true, other: true });
    await remove('globalnetworkpolicy', 'node-9090');
    await remove('globalnetworkpolicy', 'forward-no-x');
  });
});
