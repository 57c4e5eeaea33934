// felix's policy calculation: which policies apply to which local endpoint, in which order, with rule selectors
// scoped as Calico's calculation scopes them and IP sets holding the addresses they match.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Resource } from '../../datastore';
import { computePolicy, emptyPolicyInputs, entitySelector, type PolicyInputs } from '../../felix/calc/policy';
import { parseSelector } from '../../policy';

const v3 = 'projectcalico.org/v3';

function wep(namespace: string, name: string, ip: string, labels: Record<string, string> = {}): Resource {
  return {
    apiVersion: v3,
    kind: 'WorkloadEndpoint',
    metadata: {
      name,
      namespace,
      labels: { ...labels, 'projectcalico.org/namespace': namespace, 'projectcalico.org/orchestrator': 'k8s' },
    },
    spec: { node: 'n1', interfaceName: `cali-${name}`, ipNetworks: [`${ip}/32`], profiles: [`kns.${namespace}`] },
  };
}

function profile(namespace: string, labels: Record<string, string> = {}): Resource {
  const labelsToApply: Record<string, string> = { 'pcns.projectcalico.org/name': namespace };
  for (const [k, v] of Object.entries(labels)) labelsToApply[`pcns.${k}`] = v;
  return {
    apiVersion: v3,
    kind: 'Profile',
    metadata: { name: `kns.${namespace}` },
    spec: { ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }], labelsToApply },
  };
}

function inputsWith(resources: Resource[]): PolicyInputs {
  const inputs = emptyPolicyInputs();
  for (const r of resources) {
    const ns = r.metadata.namespace ? `${r.metadata.namespace}/` : '';
    if (r.kind === 'WorkloadEndpoint') inputs.endpoints.set(`${ns}${r.metadata.name}`, r);
    else if (r.kind === 'Profile') inputs.profiles.set(r.metadata.name, r);
    else if (r.kind === 'Tier') inputs.tiers.set(r.metadata.name, r);
    else if (r.kind.endsWith('NetworkSet')) inputs.networkSets.set(`${r.kind}/${ns}${r.metadata.name}`, r);
    else if (r.kind === 'HostEndpoint') inputs.hostEndpoints.set(r.metadata.name, r);
    else inputs.policies.set(`${r.apiVersion}/${r.kind}/${ns}${r.metadata.name}`, r);
  }
  return inputs;
}

const pods = [
  wep('x', 'a', '10.0.0.1', { pod: 'a' }),
  wep('x', 'b', '10.0.0.2', { pod: 'b' }),
  wep('y', 'a', '10.0.1.1', { pod: 'a' }),
  profile('x', { ns: 'x' }),
  profile('y', { ns: 'y' }),
];
const localA = [{ iface: 'cali-a', endpoint: 'x/a' }];

describe('felix policy calculation', () => {
  it('leaves an endpoint no policy selects to its profiles, and renders nothing for a policy of other pods', () => {
    const other = {
      apiVersion: v3,
      kind: 'NetworkPolicy',
      metadata: { name: 'only-b', namespace: 'x' },
      spec: {
        selector: "pod == 'b'",
        types: ['Ingress'],
        ingress: [{ action: 'Allow', source: { selector: 'all()' } }],
      },
    };
    const d = computePolicy(inputsWith([...pods, other]), localA);
    assert.deepEqual(d.endpoints.get('cali-a'), { ingress: [], egress: [], profiles: ['kns.x'] });
    assert.deepEqual(d.policies, []);
    assert.deepEqual(d.ipSets, [], 'no set for a policy that selects no local endpoint');
  });

  it('a Kubernetes default-deny selects every pod of its namespace, in the default tier, for ingress only', () => {
    const deny = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'deny', namespace: 'x' },
      spec: { podSelector: {}, policyTypes: ['Ingress'] },
    };
    const d = computePolicy(inputsWith([...pods, deny]), localA);
    assert.deepEqual(d.endpoints.get('cali-a')!.ingress, [
      {
        name: 'default',
        order: 1_000_000,
        defaultAction: 'Deny',
        policies: [{ kind: 'KubernetesNetworkPolicy', name: 'x/deny', order: 1000 }],
      },
    ]);
    assert.deepEqual(d.endpoints.get('cali-a')!.egress, []);
    assert.deepEqual(d.policies[0]!.policy.inboundRules, []);
    // The same policy does not reach namespace y.
    const inY = computePolicy(inputsWith([...pods, deny]), [{ iface: 'cali-ya', endpoint: 'y/a' }]);
    assert.deepEqual(inY.endpoints.get('cali-ya')!.ingress, []);
  });

  it('scopes rule selectors to the namespace, resolves namespaceSelectors through the profiles, and fills the sets', () => {
    const policy = {
      apiVersion: v3,
      kind: 'NetworkPolicy',
      metadata: { name: 'from-a', namespace: 'x' },
      spec: {
        selector: "pod == 'a'",
        types: ['Ingress'],
        ingress: [
          { action: 'Allow', source: { selector: "pod == 'b'" } },
          {
            action: 'Allow',
            source: { namespaceSelector: "ns == 'y'" },
            protocol: 'TCP',
            destination: { ports: [80] },
          },
        ],
      },
    };
    const d = computePolicy(inputsWith([...pods, policy]), localA);
    const [sameNamespace, otherNamespace] = d.policies[0]!.policy.inboundRules;
    const setOf = (id: string) => d.ipSets.find((s) => s.id === id)!;
    assert.equal(
      setOf(sameNamespace!.srcIpSetIds[0]!).selector,
      parseSelector("(projectcalico.org/namespace == 'x') && (pod == 'b')").canonical,
    );
    assert.deepEqual(setOf(sameNamespace!.srcIpSetIds[0]!).members, ['10.0.0.2/32']);
    assert.deepEqual(setOf(otherNamespace!.srcIpSetIds[0]!).members, ['10.0.1.1/32']);
    assert.deepEqual(otherNamespace!.protocol, { name: 'tcp' });
    assert.deepEqual(otherNamespace!.dstPorts, [{ first: 80, last: 80 }]);
  });

  it('orders tiers by order, policies by order then name, and keeps a Pass tier without its end-of-tier drop', () => {
    const tier = {
      apiVersion: v3,
      kind: 'Tier',
      metadata: { name: 'security' },
      spec: { order: 100, defaultAction: 'Pass' },
    };
    const gnp = (name: string, order: number | undefined, tierName?: string) => ({
      apiVersion: v3,
      kind: 'GlobalNetworkPolicy',
      metadata: { name: tierName ? `${tierName}.${name}` : name },
      spec: {
        ...(tierName ? { tier: tierName } : {}),
        ...(order === undefined ? {} : { order }),
        selector: 'all()',
        types: ['Egress'],
        egress: [{ action: 'Pass' }],
      },
    });
    const d = computePolicy(
      inputsWith([
        ...pods,
        tier,
        gnp('b', 10),
        gnp('a', 10),
        gnp('z', undefined),
        gnp('first', 5),
        gnp('sec', 1, 'security'),
      ]),
      localA,
    );
    assert.deepEqual(
      d.endpoints.get('cali-a')!.egress.map((t) => [t.name, t.defaultAction, t.policies.map((p) => p.name)]),
      [
        ['security', 'Pass', ['security.sec']],
        ['default', 'Deny', ['first', 'a', 'b', 'z']],
      ],
    );
  });

  it("applies a GlobalNetworkPolicy's namespaceSelector to the namespaces' labels the endpoints inherit", () => {
    const gnp = {
      apiVersion: v3,
      kind: 'GlobalNetworkPolicy',
      metadata: { name: 'only-y' },
      spec: { selector: 'all()', namespaceSelector: "ns == 'y'", types: ['Ingress'] },
    };
    const locals = [...localA, { iface: 'cali-ya', endpoint: 'y/a' }];
    const d = computePolicy(inputsWith([...pods, gnp]), locals);
    assert.deepEqual(d.endpoints.get('cali-a')!.ingress, []);
    assert.deepEqual(
      d.endpoints.get('cali-ya')!.ingress[0]!.policies.map((p) => p.name),
      ['only-y'],
    );
  });

  it('ignores policies of a tier that does not exist, and rules that only IPv6 can match', () => {
    const ghost = {
      apiVersion: v3,
      kind: 'GlobalNetworkPolicy',
      metadata: { name: 'ghost.p' },
      spec: { tier: 'ghost', selector: 'all()', types: ['Ingress'] },
    };
    const v6 = {
      apiVersion: v3,
      kind: 'GlobalNetworkPolicy',
      metadata: { name: 'v6' },
      spec: {
        selector: 'all()',
        types: ['Ingress'],
        ingress: [{ action: 'Deny', source: { nets: ['2001:db8::/32'] } }, { action: 'Allow' }],
      },
    };
    const d = computePolicy(inputsWith([...pods, ghost, v6]), localA);
    assert.deepEqual(d.endpoints.get('cali-a')!.ingress[0]!.policies, [
      { kind: 'GlobalNetworkPolicy', name: 'v6', order: Number.POSITIVE_INFINITY },
    ]);
    assert.deepEqual(
      d.policies[0]!.policy.inboundRules.map((r) => r.action),
      ['allow'],
    );
  });

  it("resolves named ports to (address, protocol, port) sets of the side's endpoints, with Calico's set id", () => {
    const withPorts = (r: Resource, ports: { name: string; protocol: string; port: number }[]) => ({
      ...r,
      spec: { ...(r.spec as object), ports },
    });
    const web = [
      withPorts(wep('x', 'a', '10.0.0.1', { pod: 'a' }), [{ name: 'http', protocol: 'TCP', port: 8080 }]),
      withPorts(wep('x', 'b', '10.0.0.2', { pod: 'b' }), [
        { name: 'http', protocol: 'TCP', port: 80 },
        { name: 'dns', protocol: 'UDP', port: 53 },
      ]),
      withPorts(wep('y', 'a', '10.0.1.1', { pod: 'a' }), [{ name: 'http', protocol: 'TCP', port: 81 }]),
      profile('x'),
      profile('y'),
    ];
    const policy = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'http', namespace: 'x' },
      spec: { podSelector: {}, ingress: [{ ports: [{ port: 'http' }] }] },
    };
    const d = computePolicy(inputsWith([...web, policy]), localA);
    const [rule] = d.policies[0]!.policy.inboundRules;
    assert.deepEqual(rule!.dstPorts, []);
    assert.deepEqual(rule!.dstIpSetIds, [], "the named port's set already holds only the selected endpoints");
    const set = d.ipSets.find((s) => s.id === rule!.dstNamedPortIpSetIds[0])!;
    assert.equal(set.type, 'hash:ip,port');
    assert.match(set.id, /^n:/);
    // Any endpoint with a TCP port called http: the policy's destination is not narrowed by a selector.
    assert.deepEqual(set.members, ['10.0.0.1,tcp:8080', '10.0.0.2,tcp:80', '10.0.1.1,tcp:81']);
  });

  it('puts network sets in the sets their labels match (namespaced ones with their namespace)', () => {
    const set = {
      apiVersion: v3,
      kind: 'NetworkSet',
      metadata: { name: 'ext', namespace: 'x', labels: { role: 'ext' } },
      spec: { nets: ['198.51.100.0/24', '2001:db8::/64'] },
    };
    const policy = {
      apiVersion: v3,
      kind: 'NetworkPolicy',
      metadata: { name: 'ext', namespace: 'x' },
      spec: {
        selector: 'all()',
        types: ['Egress'],
        egress: [{ action: 'Allow', destination: { selector: "role == 'ext'" } }],
      },
    };
    const d = computePolicy(inputsWith([...pods, set, policy]), localA);
    assert.deepEqual(d.ipSets[0]!.members, ['198.51.100.0/24']);
  });

  it("builds Calico's entity selectors (namespace, namespaceSelector all()/global(), service accounts)", () => {
    assert.equal(entitySelector({ nets: ['10.0.0.0/8'] }, 'x'), '', 'nets alone: no selector');
    assert.equal(entitySelector({ selector: "a == 'b'" }, 'x'), "(projectcalico.org/namespace == 'x') && (a == 'b')");
    assert.equal(entitySelector({ namespaceSelector: 'all()' }, 'x'), 'has(projectcalico.org/namespace)');
    assert.equal(entitySelector({ namespaceSelector: 'global()' }, ''), '!has(projectcalico.org/namespace)');
    assert.equal(
      entitySelector({ serviceAccounts: { names: ['sa'] } }, 'x'),
      '(projectcalico.org/namespace == \'x\') && (projectcalico.org/serviceaccount in {"sa"})',
    );
  });

  it("polices this node's host endpoints: normal, applyOnForward, doNotTrack, preDNAT policy apart; their IPs in sets", () => {
    const hep = (name: string, node: string, iface: string, ip: string): Resource => ({
      apiVersion: v3,
      kind: 'HostEndpoint',
      metadata: { name, labels: { role: 'host' } },
      spec: { node, interfaceName: iface, expectedIPs: [ip] },
    });
    const gnp = (name: string, extra: object): Resource => ({
      apiVersion: v3,
      kind: 'GlobalNetworkPolicy',
      metadata: { name },
      spec: {
        selector: "role == 'host'",
        ingress: [{ action: 'Allow', source: { selector: "role == 'host'" } }],
        ...extra,
      },
    });
    const resources = [
      ...pods,
      hep('n1-eth0', 'n1', 'eth0', '192.0.2.11'),
      hep('n2-eth0', 'n2', 'eth0', '192.0.2.12'),
      gnp('hosts', { order: 10 }),
      gnp('forward', { order: 20, applyOnForward: true }),
      gnp('untracked', { order: 30, applyOnForward: true, doNotTrack: true }),
      gnp('pre-dnat', { order: 40, applyOnForward: true, preDNAT: true }),
    ];
    const d = computePolicy(inputsWith(resources), localA, 'n1');
    assert.deepEqual(d.hostInterfaces, ['eth0'], "only this node's host endpoint");
    const plan = d.endpoints.get('eth0')!;
    assert.deepEqual(
      plan.ingress[0]!.policies.map((p) => p.name),
      ['hosts', 'forward'],
    );
    assert.deepEqual(
      plan.forward!.ingress[0]!.policies.map((p) => p.name),
      ['forward'],
    );
    assert.deepEqual(plan.egress, [], 'ingress policies only');
    assert.equal(d.endpoints.get('cali-a')!.forward, undefined, 'a workload has no forward chains');
    assert.deepEqual(
      plan.untracked!.ingress,
      [
        {
          name: 'default',
          order: 1_000_000,
          defaultAction: 'Pass',
          policies: [{ kind: 'GlobalNetworkPolicy', name: 'untracked', order: 30 }],
        },
      ],
      'doNotTrack policy in its own tiers, which pass at their end',
    );
    assert.deepEqual(
      plan.preDnat!.ingress.map((t) => [t.defaultAction, t.policies.map((p) => p.name)]),
      [['Pass', ['pre-dnat']]],
    );
    const tableOf = (name: string) => d.policies.find((p) => p.policy.name === name)!.table;
    assert.deepEqual(['hosts', 'untracked', 'pre-dnat'].map(tableOf), ['filter', 'raw', 'mangle']);
    assert.deepEqual(d.notEnforced, []);
    const [rule] = d.policies.find((p) => p.policy.name === 'hosts')!.policy.inboundRules;
    const set = d.ipSets.find((s) => s.id === rule!.srcIpSetIds[0])!;
    assert.deepEqual(set.members, ['192.0.2.11/32', '192.0.2.12/32'], 'every host endpoint the selector matches');
    assert.deepEqual(computePolicy(inputsWith(resources), localA).hostInterfaces, [], 'no node name: no host endpoint');
    const all = hep('n1-all', 'n1', '*', '192.0.2.13');
    assert.deepEqual(computePolicy(inputsWith([...resources, all]), localA, 'n1').notEnforced, [
      'HostEndpoint n1-all (interfaceName "*": all interfaces)',
    ]);
  });
});
