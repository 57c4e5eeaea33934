// Kubernetes NetworkPolicy → Calico NetworkPolicy. Most cases are Calico's own
// (libcalico-go/lib/backend/k8s/conversion/conversion_test.go), with the expected Calico objects written as the
// JSON Calico's Go types encode to.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateResource } from '../../datastore/model';
import type { PortMatch } from '../../datastore/model/numorstring';
import type { KubernetesNetworkPolicySpec, LabelSelector, NetworkPolicySpec } from '../../datastore/model/types';
import type { Resource } from '../../datastore/resource';
import { parseSelector } from '../../policy';
import {
  k8sNetworkPolicyToCalico,
  k8sSelectorToCalico,
  type SelectorKind,
  simplifyPorts,
} from '../../policy/k8s-network-policy';

const K8S = "projectcalico.org/orchestrator == 'k8s'";
const UID = '30316465-6365-4463-ad63-3564622d3638';

function knp(spec: KubernetesNetworkPolicySpec, metadata: Partial<Resource['metadata']> = {}): Resource {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'test.policy', namespace: 'default', ...metadata },
    spec: spec as Record<string, unknown>,
  };
}

/** Converts an admissible policy, checks the result passes tabby's validation too, and returns its spec. */
function convert(spec: KubernetesNetworkPolicySpec): NetworkPolicySpec {
  const policy = knp(spec);
  validateResource(policy);
  const calico = k8sNetworkPolicyToCalico(policy);
  validateResource(calico);
  return calico.spec!;
}

const podsWith = (matchLabels: Record<string, string>) => ({ podSelector: { matchLabels } });

describe('k8sSelectorToCalico (Calico: selector conversion table)', () => {
  const cases: [string, LabelSelector | undefined, SelectorKind, string][] = [
    ['an empty pod selector', {}, 'pod', K8S],
    ['an empty namespace selector', {}, 'namespace', 'all()'],
    [
      'a DoesNotExist namespace selector',
      { matchExpressions: [{ key: 'toast', operator: 'DoesNotExist' }] },
      'namespace',
      '! has(toast)',
    ],
    [
      'an Exists namespace selector',
      { matchExpressions: [{ key: 'toast', operator: 'Exists' }] },
      'namespace',
      'has(toast)',
    ],
    [
      'an In namespace selector',
      { matchExpressions: [{ key: 'toast', operator: 'In', values: ['butter', 'jam'] }] },
      'namespace',
      "toast in { 'butter', 'jam' }",
    ],
    [
      'a NotIn namespace selector',
      { matchExpressions: [{ key: 'toast', operator: 'NotIn', values: ['marmite', 'milk'] }] },
      'namespace',
      "toast not in { 'marmite', 'milk' }",
    ],
    [
      'a DoesNotExist pod selector',
      { matchExpressions: [{ key: 'toast', operator: 'DoesNotExist' }] },
      'pod',
      `${K8S} && ! has(toast)`,
    ],
    ['a nil pod selector', undefined, 'pod', K8S],
    ['a nil namespace selector', undefined, 'namespace', ''],
  ];
  for (const [what, selector, kind, expected] of cases) {
    it(`handles ${what}`, () => {
      assert.equal(k8sSelectorToCalico(selector, kind), expected);
    });
  }

  it('sorts matchLabels by key, then keeps matchExpressions in their order, with prefixed keys as they are', () => {
    const selector: LabelSelector = {
      matchLabels: { 'app.kubernetes.io/name': 'web', tier: 'front', env: '' },
      matchExpressions: [
        { key: 'zone', operator: 'NotIn', values: ['a'] },
        { key: 'kubernetes.io/metadata.name', operator: 'In', values: ['prod'] },
      ],
    };
    const text = k8sSelectorToCalico(selector, 'namespace');
    assert.equal(
      text,
      "app.kubernetes.io/name == 'web' && env == '' && tier == 'front' && zone not in { 'a' } && " +
        "kubernetes.io/metadata.name in { 'prod' }",
    );
    // Namespace selectors are over the namespace's own labels: Calico adds `pcns.` only inside felix.
    const parsed = parseSelector(text);
    const labels = { 'app.kubernetes.io/name': 'web', env: '', tier: 'front', 'kubernetes.io/metadata.name': 'prod' };
    assert.equal(parsed.evaluate(labels), true);
    assert.equal(parsed.evaluate({ ...labels, zone: 'a' }), false);
  });

  it('gives text that means what the Kubernetes selector means', () => {
    const selector = parseSelector(
      k8sSelectorToCalico(
        {
          matchLabels: { role: 'db' },
          matchExpressions: [
            { key: 'tier', operator: 'In', values: ['a', 'b'] },
            { key: 'canary', operator: 'DoesNotExist' },
            { key: 'team', operator: 'Exists' },
          ],
        },
        'pod',
      ),
    );
    const pod = { 'projectcalico.org/orchestrator': 'k8s', role: 'db', tier: 'b', team: 'x' };
    assert.equal(selector.evaluate(pod), true);
    assert.equal(selector.evaluate({ ...pod, 'projectcalico.org/orchestrator': 'openstack' }), false);
    assert.equal(selector.evaluate({ ...pod, tier: 'c' }), false);
    assert.equal(selector.evaluate({ ...pod, canary: 'true' }), false);
    const { team: _team, ...withoutTeam } = pod;
    assert.equal(selector.evaluate(withoutTeam), false);
  });
});

describe('k8sNetworkPolicyToCalico (Calico: NetworkPolicy conversion)', () => {
  it('parses a basic k8s NetworkPolicy to a NetworkPolicy', () => {
    const calico = k8sNetworkPolicyToCalico(
      knp(
        {
          podSelector: { matchLabels: { label: 'value', label2: 'value2' } },
          ingress: [{ ports: [{ port: 80 }, { port: 'foo' }], from: [podsWith({ k: 'v', k2: 'v2' })] }],
          policyTypes: ['Ingress'],
        },
        { uid: UID },
      ),
    );
    assert.deepEqual(calico, {
      apiVersion: 'projectcalico.org/v3',
      kind: 'NetworkPolicy',
      metadata: { name: 'knp.default.test.policy', namespace: 'default', uid: '0c8c26a6-c6a6-44c6-adc6-ac2646b46c1c' },
      spec: {
        tier: 'default',
        order: 1000,
        ingress: [
          {
            action: 'Allow',
            protocol: 'TCP',
            source: { selector: `${K8S} && k == 'v' && k2 == 'v2'` },
            destination: { ports: [80, 'foo'] },
          },
        ],
        selector: `${K8S} && label == 'value' && label2 == 'value2'`,
        types: ['Ingress'],
      },
    });
    validateResource(calico);
  });

  it('parses a k8s NetworkPolicy with no ports (no protocol: TCP is only defaulted for ports)', () => {
    const spec = convert({
      podSelector: { matchLabels: { label: 'value', label2: 'value2' } },
      ingress: [{ from: [podsWith({ k: 'v', k2: 'v2' })] }],
      policyTypes: ['Ingress'],
    });
    assert.deepEqual(spec.ingress, [{ action: 'Allow', source: { selector: `${K8S} && k == 'v' && k2 == 'v2'` } }]);
  });

  it('parses a k8s NetworkPolicy with blank ports (a blank port allows every TCP port)', () => {
    const spec = convert({
      podSelector: { matchLabels: { label: 'value', label2: 'value2' } },
      ingress: [{ ports: [{ port: 80 }, {}], from: [podsWith({ k: 'v', k2: 'v2' })] }],
      policyTypes: ['Ingress'],
    });
    assert.deepEqual(spec.ingress, [
      { action: 'Allow', protocol: 'TCP', source: { selector: `${K8S} && k == 'v' && k2 == 'v2'` } },
    ]);
  });

  it('parses a k8s egress NetworkPolicy with blank ports', () => {
    const spec = convert({
      podSelector: { matchLabels: { label: 'value', label2: 'value2' } },
      egress: [
        { ports: [{}, { port: 80 }], to: [podsWith({ k: 'v', k2: 'v2' })] },
        { ports: [{ port: 53, protocol: 'UDP' }] },
      ],
      policyTypes: ['Egress'],
    });
    assert.deepEqual(spec.egress, [
      { action: 'Allow', protocol: 'TCP', destination: { selector: `${K8S} && k == 'v' && k2 == 'v2'` } },
      { action: 'Allow', protocol: 'UDP', destination: { ports: [53] } },
    ]);
    assert.equal(spec.ingress, undefined);
    assert.deepEqual(spec.types, ['Egress']);
  });

  it('drops rules with invalid ports, keeping the others', () => {
    // The API server never admits these ports; Calico drops the rules it cannot convert.
    const from = [podsWith({ k: 'v', k2: 'v2' })];
    const valid = { ports: [{ port: 80 }, { port: 'foo' }] };
    const ingress = k8sNetworkPolicyToCalico(
      knp({
        podSelector: { matchLabels: { label: 'value', label2: 'value2' } },
        ingress: [
          { ...valid, from },
          { ports: [{ port: 80 }, { port: '-50:-1' }], from },
        ],
        policyTypes: ['Ingress'],
      }),
    ).spec!;
    assert.deepEqual(ingress.ingress, [
      {
        action: 'Allow',
        protocol: 'TCP',
        source: { selector: `${K8S} && k == 'v' && k2 == 'v2'` },
        destination: { ports: [80, 'foo'] },
      },
    ]);

    const egress = k8sNetworkPolicyToCalico(
      knp({
        podSelector: { matchLabels: { label: 'value', label2: 'value2' } },
        egress: [
          { ...valid, to: from },
          { ports: [{ port: 80 }, { port: '-50:-1' }], to: from },
          { ports: [{ port: 80 }, { port: '-22:-3' }], to: from },
        ],
        policyTypes: ['Ingress'],
      }),
    ).spec!;
    assert.deepEqual(egress.egress, [
      {
        action: 'Allow',
        protocol: 'TCP',
        destination: { selector: `${K8S} && k == 'v' && k2 == 'v2'`, ports: [80, 'foo'] },
      },
    ]);
    // Egress rules of a policy whose types say Ingress only are kept (and unused), as Calico keeps them.
    assert.deepEqual(egress.types, ['Ingress']);
  });

  it('parses a NetworkPolicy with no rules', () => {
    const spec = convert({ podSelector: { matchLabels: { label: 'value' } }, policyTypes: ['Ingress'] });
    assert.deepEqual(spec, {
      tier: 'default',
      order: 1000,
      selector: `${K8S} && label == 'value'`,
      types: ['Ingress'],
    });
  });

  it('parses a default-deny egress NetworkPolicy', () => {
    const calico = k8sNetworkPolicyToCalico(knp({ podSelector: {}, policyTypes: ['Egress'] }, { name: 'test-policy' }));
    validateResource(calico);
    assert.deepEqual(calico.metadata, { name: 'knp.default.test-policy', namespace: 'default' });
    assert.deepEqual(calico.spec, { tier: 'default', order: 1000, selector: K8S, types: ['Egress'] });
  });

  it('parses a NetworkPolicy with multiple peers', () => {
    const spec = convert({
      podSelector: { matchLabels: { label: 'value' } },
      ingress: [{ ports: [{}], from: [podsWith({ k: 'v' }), podsWith({ k2: 'v2' })] }],
      policyTypes: ['Ingress'],
    });
    assert.equal(spec.selector, `${K8S} && label == 'value'`);
    assert.deepEqual(spec.ingress, [
      { action: 'Allow', protocol: 'TCP', source: { selector: `${K8S} && k == 'v'` } },
      { action: 'Allow', protocol: 'TCP', source: { selector: `${K8S} && k2 == 'v2'` } },
    ]);
    assert.equal(spec.egress, undefined);
    assert.deepEqual(spec.types, ['Ingress']);
  });

  it('parses a k8s NetworkPolicy with a DoesNotExist expression', () => {
    const spec = convert({
      podSelector: { matchLabels: { label: 'value', label2: 'value2' } },
      ingress: [
        {
          ports: [{ port: 80 }, { port: 'foo' }],
          from: [{ podSelector: { matchExpressions: [{ key: 'toast', operator: 'DoesNotExist' }] } }],
        },
      ],
      policyTypes: ['Ingress'],
    });
    assert.deepEqual(spec.ingress, [
      {
        action: 'Allow',
        protocol: 'TCP',
        source: { selector: `${K8S} && ! has(toast)` },
        destination: { ports: [80, 'foo'] },
      },
    ]);
  });

  it('parses a NetworkPolicy with multiple peers and ports: one rule per protocol (sorted) and peer', () => {
    const spec = convert({
      podSelector: { matchLabels: { label: 'value' } },
      ingress: [
        {
          ports: [
            { port: 90, protocol: 'UDP' },
            { port: 80, protocol: 'TCP' },
          ],
          from: [podsWith({ k: 'v' }), podsWith({ k2: 'v2' })],
        },
      ],
      policyTypes: ['Ingress'],
    });
    assert.deepEqual(spec.ingress, [
      { action: 'Allow', protocol: 'TCP', source: { selector: `${K8S} && k == 'v'` }, destination: { ports: [80] } },
      { action: 'Allow', protocol: 'TCP', source: { selector: `${K8S} && k2 == 'v2'` }, destination: { ports: [80] } },
      { action: 'Allow', protocol: 'UDP', source: { selector: `${K8S} && k == 'v'` }, destination: { ports: [90] } },
      { action: 'Allow', protocol: 'UDP', source: { selector: `${K8S} && k2 == 'v2'` }, destination: { ports: [90] } },
    ]);
  });

  it('parses a NetworkPolicy with an empty podSelector', () => {
    const spec = convert({ podSelector: {}, policyTypes: ['Ingress'] });
    assert.deepEqual(spec, { tier: 'default', order: 1000, selector: K8S, types: ['Ingress'] });
  });

  it('parses a NetworkPolicy with a namespaceSelector (any pod of the selected namespaces)', () => {
    const spec = convert({
      podSelector: { matchLabels: { label: 'value' } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { namespaceRole: 'dev', namespaceFoo: 'bar' } } }] }],
      policyTypes: ['Ingress'],
    });
    assert.deepEqual(spec.ingress, [
      {
        action: 'Allow',
        source: { selector: K8S, namespaceSelector: "namespaceFoo == 'bar' && namespaceRole == 'dev'" },
      },
    ]);
  });

  it('parses a NetworkPolicy with a nil namespace selector (the policy’s own namespace)', () => {
    const spec = convert({
      podSelector: { matchLabels: { label: 'value' } },
      ingress: [{ from: [{ podSelector: {} }] }],
      policyTypes: ['Ingress'],
    });
    assert.deepEqual(spec.ingress, [{ action: 'Allow', source: { selector: K8S } }]);
  });

  it('parses a NetworkPolicy with an empty namespaceSelector (every namespace)', () => {
    const spec = convert({
      podSelector: { matchLabels: { label: 'value' } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: {} } }] }],
      policyTypes: ['Ingress'],
    });
    assert.deepEqual(spec.ingress, [{ action: 'Allow', source: { selector: K8S, namespaceSelector: 'all()' } }]);
  });

  it('parses a NetworkPolicy with pod and namespace selectors', () => {
    const spec = convert({
      podSelector: { matchLabels: { label: 'value' } },
      ingress: [
        {
          from: [
            {
              namespaceSelector: { matchLabels: { namespaceRole: 'dev', namespaceFoo: 'bar' } },
              podSelector: { matchLabels: { podA: 'B', podC: 'D' } },
            },
          ],
        },
      ],
      policyTypes: ['Ingress'],
    });
    assert.deepEqual(spec.ingress, [
      {
        action: 'Allow',
        source: {
          selector: `${K8S} && podA == 'B' && podC == 'D'`,
          namespaceSelector: "namespaceFoo == 'bar' && namespaceRole == 'dev'",
        },
      },
    ]);
  });

  it('parses a NetworkPolicy with podSelector.matchExpressions', () => {
    const spec = convert({
      podSelector: { matchExpressions: [{ key: 'k', operator: 'In', values: ['v1', 'v2'] }] },
      policyTypes: ['Ingress'],
    });
    assert.equal(spec.selector, `${K8S} && k in { 'v1', 'v2' }`);
    assert.equal(spec.ingress, undefined);
  });

  for (const direction of ['ingress', 'egress'] as const) {
    const type = direction === 'ingress' ? 'Ingress' : 'Egress';
    it(`parses a NetworkPolicy with ports only (${direction})`, () => {
      const spec = convert({
        podSelector: {},
        [direction]: [{ ports: [{ protocol: 'TCP', port: 80 }] }],
        policyTypes: [type],
      });
      assert.deepEqual(spec[direction], [{ action: 'Allow', protocol: 'TCP', destination: { ports: [80] } }]);
      assert.deepEqual(spec.types, [type]);
    });

    it(`parses a NetworkPolicy with a port range only (${direction}): endPort makes "port:endPort"`, () => {
      const spec = convert({
        podSelector: {},
        [direction]: [{ ports: [{ protocol: 'TCP', port: 32000, endPort: 32768 }] }],
        policyTypes: [type],
      });
      assert.deepEqual(spec[direction], [
        { action: 'Allow', protocol: 'TCP', destination: { ports: ['32000:32768'] } },
      ]);
    });
  }

  it('parses a NetworkPolicy with an ingress rule with an ipBlock peer', () => {
    const spec = convert({
      podSelector: {},
      ingress: [{ from: [{ ipBlock: { cidr: '192.168.0.0/16', except: ['192.168.3.0/24', '192.168.4.0/24'] } }] }],
      policyTypes: ['Ingress'],
    });
    assert.deepEqual(spec.ingress, [
      {
        action: 'Allow',
        source: { nets: ['192.168.0.0/16'], notNets: ['192.168.3.0/24', '192.168.4.0/24'] },
      },
    ]);
  });

  it('parses a NetworkPolicy with an egress rule with an ipBlock peer', () => {
    const spec = convert({
      podSelector: {},
      egress: [
        {
          to: [{ ipBlock: { cidr: '192.168.0.0/16', except: ['192.168.3.0/24', '192.168.4.0/24', '192.168.5.0/24'] } }],
        },
      ],
      policyTypes: ['Egress'],
    });
    assert.deepEqual(spec.egress, [
      {
        action: 'Allow',
        destination: { nets: ['192.168.0.0/16'], notNets: ['192.168.3.0/24', '192.168.4.0/24', '192.168.5.0/24'] },
      },
    ]);
  });

  it('parses a NetworkPolicy with an egress rule with an ipBlock and ports', () => {
    const except = ['192.168.3.0/24', '192.168.4.0/24', '192.168.5.0/24'];
    const spec = convert({
      podSelector: {},
      egress: [
        {
          ports: [
            { port: 90, protocol: 'UDP' },
            { port: 80, protocol: 'TCP' },
          ],
          to: [{ ipBlock: { cidr: '192.168.0.0/16', except } }],
        },
      ],
      policyTypes: ['Egress'],
    });
    assert.deepEqual(spec.egress, [
      {
        action: 'Allow',
        protocol: 'TCP',
        destination: { nets: ['192.168.0.0/16'], ports: [80], notNets: except },
      },
      {
        action: 'Allow',
        protocol: 'UDP',
        destination: { nets: ['192.168.0.0/16'], ports: [90], notNets: except },
      },
    ]);
  });

  it('parses an ipBlock peer without except (no notNets), and drops a CIDR that does not parse', () => {
    const source = (cidr: string) =>
      k8sNetworkPolicyToCalico(knp({ ingress: [{ from: [{ ipBlock: { cidr } }] }] })).spec!.ingress![0]!.source;
    assert.deepEqual(source('192.168.0.0/16'), { nets: ['192.168.0.0/16'] });
    // Never admitted by the API server; Calico then leaves the peer empty.
    assert.equal(source('192.168.0.0/55'), undefined);
  });

  it('parses a NetworkPolicy with both an egress and an ingress rule (types Ingress, then Egress)', () => {
    // Calico's case has excepts outside the egress CIDR, which the API server would refuse: converted unchecked.
    const calico = k8sNetworkPolicyToCalico(
      knp({
        podSelector: {},
        ingress: [{ from: [{ ipBlock: { cidr: '192.168.0.0/16', except: ['192.168.3.0/24', '192.168.4.0/24'] } }] }],
        egress: [
          {
            to: [
              { ipBlock: { cidr: '10.10.0.0/16', except: ['192.168.13.0/24', '192.168.14.0/24', '192.168.15.0/24'] } },
            ],
          },
        ],
        policyTypes: ['Egress', 'Ingress'],
      }),
    );
    validateResource(calico);
    const spec = calico.spec!;
    assert.deepEqual(spec.ingress, [
      {
        action: 'Allow',
        source: { nets: ['192.168.0.0/16'], notNets: ['192.168.3.0/24', '192.168.4.0/24'] },
      },
    ]);
    assert.deepEqual(spec.egress, [
      {
        action: 'Allow',
        destination: { nets: ['10.10.0.0/16'], notNets: ['192.168.13.0/24', '192.168.14.0/24', '192.168.15.0/24'] },
      },
    ]);
    assert.deepEqual(spec.types, ['Ingress', 'Egress']);
  });
});

describe('k8sNetworkPolicyToCalico (Calico: k8s <= 1.7, no policyTypes)', () => {
  it('parses a basic NetworkPolicy to a policy for ingress', () => {
    const spec = convert({
      podSelector: { matchLabels: { label: 'value', label2: 'value2' } },
      ingress: [{ ports: [{ port: 80 }, { port: 'foo' }], from: [podsWith({ k: 'v', k2: 'v2' })] }],
    });
    assert.deepEqual(spec, {
      tier: 'default',
      order: 1000,
      ingress: [
        {
          action: 'Allow',
          protocol: 'TCP',
          source: { selector: `${K8S} && k == 'v' && k2 == 'v2'` },
          destination: { ports: [80, 'foo'] },
        },
      ],
      selector: `${K8S} && label == 'value' && label2 == 'value2'`,
      types: ['Ingress'],
    });
  });

  it('parses a NetworkPolicy with no rules (types Ingress)', () => {
    assert.deepEqual(convert({ podSelector: { matchLabels: { label: 'value' } } }).types, ['Ingress']);
    assert.deepEqual(convert({}).types, ['Ingress']);
  });

  it('adds Egress when there are egress rules, as the API server defaults policyTypes', () => {
    const spec = convert({ egress: [{ ports: [{ port: 53, protocol: 'UDP' }] }] });
    assert.deepEqual(spec.types, ['Ingress', 'Egress']);
    assert.equal(spec.ingress, undefined);
    assert.deepEqual(convert({ egress: [], policyTypes: [] }).types, ['Ingress']);
  });
});

describe('k8sNetworkPolicyToCalico: Kubernetes semantics', () => {
  it('an ingress rule with no from and no ports allows everything (empty source and destination left out)', () => {
    const spec = convert({ podSelector: {}, ingress: [{}] });
    assert.deepEqual(spec.ingress, [{ action: 'Allow' }]);
    assert.deepEqual(spec.types, ['Ingress']);
  });

  it('ingress: [] with the Ingress type denies everything (no rules at all)', () => {
    const spec = convert({ podSelector: {}, ingress: [], policyTypes: ['Ingress', 'Egress'], egress: [{}] });
    assert.equal(spec.ingress, undefined);
    assert.deepEqual(spec.egress, [{ action: 'Allow' }]);
    assert.deepEqual(spec.types, ['Ingress', 'Egress']);
  });

  it('normalises CIDRs with host bits to their network, as Go does (IPv4-mapped IPv6 written as IPv4)', () => {
    const spec = convert({
      ingress: [
        { from: [{ ipBlock: { cidr: '192.168.1.5/16', except: ['192.168.3.7/24'] } }] },
        { from: [{ ipBlock: { cidr: '2001:DB8::1/32', except: ['2001:db8:0:0:1::/80'] } }] },
        { from: [{ ipBlock: { cidr: '::ffff:10.1.2.3/104' } }] },
      ],
    });
    assert.deepEqual(
      spec.ingress!.map((rule) => rule.source),
      [
        { nets: ['192.168.0.0/16'], notNets: ['192.168.3.0/24'] },
        { nets: ['2001:db8::/32'], notNets: ['2001:db8:0:0:1::/80'] },
        { nets: ['10.0.0.0/8'] },
      ],
    );
  });

  it('merges one protocol’s ports, a port-less entry allowing every port of its protocol, and sorts protocols', () => {
    const spec = convert({
      ingress: [
        {
          ports: [
            { protocol: 'UDP', port: 53 },
            { protocol: 'TCP', port: 'http' },
            { protocol: 'TCP', port: 81 },
            { protocol: 'TCP', port: 80 },
            { protocol: 'TCP', port: 82, endPort: 90 },
            { protocol: 'UDP' },
            { protocol: 'UDP', port: 5353 },
            { protocol: 'SCTP', port: 9 },
          ],
        },
      ],
    });
    assert.deepEqual(spec.ingress, [
      { action: 'Allow', protocol: 'SCTP', destination: { ports: [9] } },
      { action: 'Allow', protocol: 'TCP', destination: { ports: ['http', '80:90'] } },
      { action: 'Allow', protocol: 'UDP' },
    ]);
  });

  it('writes an endPort equal to the port as that one port', () => {
    const spec = convert({ egress: [{ ports: [{ port: 443, endPort: 443 }] }] });
    assert.deepEqual(spec.egress, [{ action: 'Allow', protocol: 'TCP', destination: { ports: [443] } }]);
  });

  it('serialises with the field order of Calico’s JSON', () => {
    const calico = k8sNetworkPolicyToCalico(
      knp(
        {
          podSelector: { matchLabels: { app: 'web' } },
          egress: [
            {
              ports: [{ port: 5432 }],
              to: [{ podSelector: { matchLabels: { app: 'db' } }, namespaceSelector: {} }],
            },
          ],
          policyTypes: ['Egress'],
        },
        { name: 'web', namespace: 'shop', resourceVersion: '42', creationTimestamp: '2024-01-01T00:00:00Z', uid: UID },
      ),
    );
    assert.equal(
      JSON.stringify(calico),
      '{"apiVersion":"projectcalico.org/v3","kind":"NetworkPolicy","metadata":{"name":"knp.default.web",' +
        '"namespace":"shop","uid":"0c8c26a6-c6a6-44c6-adc6-ac2646b46c1c","resourceVersion":"42",' +
        '"creationTimestamp":"2024-01-01T00:00:00Z"},"spec":{"tier":"default","order":1000,"egress":[{"action":' +
        '"Allow","protocol":"TCP","destination":{"selector":"projectcalico.org/orchestrator == \'k8s\' && ' +
        'app == \'db\'","namespaceSelector":"all()","ports":[5432]}}],"selector":"projectcalico.org/orchestrator == ' +
        '\'k8s\' && app == \'web\'","types":["Egress"]}}',
    );
    validateResource(calico);
  });

  it('leaves out the metadata Calico does not carry over (labels, annotations)', () => {
    const calico = k8sNetworkPolicyToCalico(
      knp({}, { labels: { a: 'b' }, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } }),
    );
    assert.deepEqual(calico.metadata, { name: 'knp.default.test.policy', namespace: 'default' });
  });

  it('converts the UID as Calico does (bits of every byte reversed but the version and variant bytes)', () => {
    const uidOf = (uid: string) => k8sNetworkPolicyToCalico(knp({}, { uid })).metadata.uid;
    assert.equal(uidOf(UID), '0c8c26a6-c6a6-44c6-adc6-ac2646b46c1c');
    // Its own inverse.
    assert.equal(uidOf('0c8c26a6-c6a6-44c6-adc6-ac2646b46c1c'), UID);
    assert.equal(uidOf(UID.toUpperCase()), '0c8c26a6-c6a6-44c6-adc6-ac2646b46c1c');
    assert.throws(() => uidOf('not-a-uid'), /failed to parse UID/);
  });

  it('refuses a document that is not a Kubernetes NetworkPolicy', () => {
    assert.throws(
      () =>
        k8sNetworkPolicyToCalico({
          apiVersion: 'projectcalico.org/v3',
          kind: 'NetworkPolicy',
          metadata: { name: 'x' },
        }),
      /not a networking.k8s.io\/v1 NetworkPolicy/,
    );
  });
});

describe('simplifyPorts (Calico: port simplification)', () => {
  const port = (text: string): PortMatch => {
    const range = /^(\d+)(?::(\d+))?$/.exec(text);
    if (!range) return { kind: 'named', name: text };
    return { kind: 'range', min: Number(range[1]), max: Number(range[2] ?? range[1]) };
  };
  const show = (p: PortMatch) => (p.kind === 'named' ? p.name : p.min === p.max ? `${p.min}` : `${p.min}:${p.max}`);
  const cases: [string, string][] = [
    ['', ''],
    ['0', '0'],
    ['1', '1'],
    ['65535', '65535'],
    ['0:65535', '0:65535'],
    ['1,2', '1:2'],
    ['2,1', '1:2'],
    ['1,2,4', '1:2,4'],
    ['1,2,3,4,80:81,81:90,9090', '1:4,80:90,9090'],
    ['81:90,4,2,80:81,3,1,9090', '1:4,80:90,9090'],
    ['81:90,4,2,foo,80:81,3,1,9090,http', 'foo,http,1:4,80:90,9090'],
    ['foo', 'foo'],
    // At most one numeric port: the list is left as it is, order included.
    ['80,foo', '80,foo'],
    ['80,80', '80'],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)} -> ${JSON.stringify(expected)}`, () => {
      const ports = input === '' ? [] : input.split(',').map(port);
      assert.equal(simplifyPorts(ports).map(show).join(','), expected);
    });
  }
});
