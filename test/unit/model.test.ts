import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { KINDS, kindId } from '../../datastore/kinds';
import {
  applyDefaults,
  cidrContains,
  cidrsOverlap,
  formatCidr,
  formatIp,
  isValidIp,
  maskCidr,
  parseCidr,
  parseIp,
  parseIpPort,
  RESOURCE_SCHEMAS,
  ValidationError,
  validateChange,
  validateResource,
} from '../../datastore/model';
import { parseGoDuration } from '../../datastore/model/duration';
import { workloadEndpointName } from '../../datastore/model/names';
import type { Resource } from '../../datastore/resource';

type Doc = Resource;
type Spec = Record<string, unknown>;

function yamlDocs(text: string): Doc[] {
  return parseAllDocuments(text).map((d) => d.toJS() as Doc);
}

function calico(kind: string, metadata: Doc['metadata'], spec?: Spec): Doc {
  return { apiVersion: 'projectcalico.org/v3', kind, metadata, ...(spec ? { spec } : {}) };
}

const k8sPolicy = (spec: Spec, name = 'np'): Doc => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name, namespace: 'default' },
  spec,
});
const pool = (spec: Spec, name = 'pool-a') => calico('IPPool', { name }, spec);
const peer = (spec: Spec) => calico('BGPPeer', { name: 'peer' }, spec);
const bgpConfig = (spec: Spec, name = 'default') => calico('BGPConfiguration', { name }, spec);
const felix = (spec: Spec, name = 'default') => calico('FelixConfiguration', { name }, spec);
const node = (spec: Spec, name = 'node1') => calico('Node', { name }, spec);
const hostEndpoint = (spec: Spec) => calico('HostEndpoint', { name: 'hep' }, spec);
/** A CalicoNodeStatus, and the status a node reported into it (a field the generic Resource type does not name). */
const nodeStatus = (spec: Spec, status?: Spec): Doc => ({
  ...calico(
    'CalicoNodeStatus',
    { name: 'node1' },
    { node: 'node1', classes: ['Agent'], updatePeriodSeconds: 10, ...spec },
  ),
  ...(status ? { status } : {}),
});
const policy = (spec: Spec, name = 'pol') => calico('NetworkPolicy', { name, namespace: 'default' }, spec);
const globalPolicy = (spec: Spec, name = 'gpol') => calico('GlobalNetworkPolicy', { name }, spec);
const ingressRule = (rule: Spec) => policy({ ingress: [{ action: 'Allow', ...rule }] });
const workloadEndpoint = (spec: Spec, name = 'node1-k8s-my--pod-eth0') =>
  calico(
    'WorkloadEndpoint',
    { name, namespace: 'default' },
    {
      node: 'node1',
      orchestrator: 'k8s',
      pod: 'my-pod',
      endpoint: 'eth0',
      interfaceName: 'cali0ef24ba',
      ...spec,
    },
  );

/** Defaults then validation, as the ResourceClient runs them. */
function accept(doc: Doc): Doc {
  const defaulted = applyDefaults(doc);
  validateResource(defaulted);
  return defaulted;
}

function rejection(run: () => void): ValidationError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ValidationError, `expected a ValidationError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a ValidationError, nothing was thrown');
}

function who(doc: Doc): string {
  return doc.metadata.namespace ? `${doc.metadata.namespace}/${doc.metadata.name}` : doc.metadata.name;
}

// ---- Calico's documentation examples (calico/reference/resources/*.md, confd's calicoctl test data,
// the Kubernetes NetworkPolicy concept page): every one must be accepted.

const DOC_EXAMPLES = yamlDocs(`
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: my.ippool-1
spec:
  cidr: 10.1.0.0/16
  ipipMode: CrossSubnet
  natOutgoing: true
  disabled: false
  nodeSelector: all()
  allowedUses:
  - Workload
  - Tunnel
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: some.name
spec:
  node: rack1-host1
  peerIP: 192.168.1.1
  asNumber: 63400
---
kind: BGPPeer
apiVersion: projectcalico.org/v3
metadata:
  name: bgppeer-v6
spec:
  peerIP: "[ac13::57]:50"
  asNumber: 64533
  nodeSelector: has(routeReflector)
---
kind: BGPPeer
apiVersion: projectcalico.org/v3
metadata:
  name: bgppeer-other-nodes
spec:
  nodeSelector: has(routeReflector)
  peerSelector: "!has(routeReflector)"
---
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata:
  name: default
spec:
  logSeverityScreen: Info
  nodeToNodeMeshEnabled: true
  nodeMeshMaxRestartTime: 120s
  asNumber: 63400
  serviceClusterIPs:
  - cidr: 10.96.0.0/12
  serviceExternalIPs:
  - cidr: 104.244.42.129/32
  - cidr: 172.217.3.0/24
  listenPort: 178
  bindMode: NodeIP
  communities:
  - name: bgp-large-community
    value: 63400:300:100
  prefixAdvertisements:
  - cidr: 172.218.4.0/26
    communities:
    - bgp-large-community
    - 63400:120
---
apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata:
  name: default
spec:
  ipv6Support: false
  ipipMTU: 1400
  chainInsertMode: Append
---
apiVersion: projectcalico.org/v3
kind: Node
metadata:
  name: node-hostname
spec:
  bgp:
    asNumber: 64512
    ipv4Address: 10.244.0.1/24
    ipv6Address: 2001:db8:85a3::8a2e:370:7334/120
    ipv4IPIPTunnelAddr: 192.168.0.1
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata:
  name: node1-k8s-my--nginx--b1337a-eth0
  namespace: default
  labels:
    app: frontend
    projectcalico.org/namespace: default
    projectcalico.org/orchestrator: k8s
spec:
  node: node1
  orchestrator: k8s
  containerID: "1337495556942031415926535"
  pod: my-nginx-b1337a
  endpoint: eth0
  interfaceName: cali0ef24ba
  mac: ca:fe:1d:52:bb:e9
  ipNetworks:
  - 192.168.0.0/32
  profiles:
  - profile1
  ports:
  - name: some-port
    port: 1234
    protocol: TCP
  - name: another-port
    port: 5432
    protocol: UDP
---
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata:
  name: some.name
  labels:
    type: production
spec:
  interfaceName: eth0
  node: myhost
  expectedIPs:
  - 192.168.0.1
  - 192.168.0.2
  profiles:
  - profile1
  - profile2
  ports:
  - name: some-port
    port: 1234
    protocol: TCP
  - name: another-port
    port: 5432
    protocol: UDP
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: allow-tcp-6379
  namespace: production
spec:
  selector: role == 'database'
  types:
  - Ingress
  - Egress
  ingress:
  - action: Allow
    metadata:
      annotations:
        from: frontend
        to: database
    protocol: TCP
    source:
      selector: role == 'frontend'
    destination:
      ports:
      - 6379
  egress:
  - action: Allow
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: allow-tcp-6379
spec:
  selector: role == 'database'
  types:
  - Ingress
  - Egress
  ingress:
  - action: Allow
    metadata:
      annotations:
        from: frontend
        to: database
    protocol: TCP
    source:
      selector: role == 'frontend'
    destination:
      ports:
      - 6379
  egress:
  - action: Allow
---
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata:
  name: external-database
  namespace: staging
  labels:
    role: db
spec:
  nets:
  - 198.51.100.0/28
  - 203.0.113.0/24
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata:
  name: a-name-for-the-set
  labels:
    role: external-database
spec:
  nets:
  - 198.51.100.0/28
  - 203.0.113.0/24
---
apiVersion: projectcalico.org/v3
kind: Profile
metadata:
  name: dev-apps
spec:
  ingress:
  - action: Deny
    source:
      nets:
      - 10.0.20.0/24
  - action: Allow
    source:
      selector: stage == 'development'
  egress:
  - action: Allow
  labelsToApply:
    stage: development
---
apiVersion: projectcalico.org/v3
kind: IPAMConfiguration
metadata:
  name: default
spec:
  strictAffinity: false
  maxBlocksPerHost: 4
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata:
  name: internal-access
spec:
  order: 100
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: test-network-policy
  namespace: default
spec:
  podSelector:
    matchLabels:
      role: db
  policyTypes:
  - Ingress
  - Egress
  ingress:
  - from:
    - ipBlock:
        cidr: 172.17.0.0/16
        except:
        - 172.17.1.0/24
    - namespaceSelector:
        matchLabels:
          project: myproject
    - podSelector:
        matchLabels:
          role: frontend
    ports:
    - protocol: TCP
      port: 6379
  egress:
  - to:
    - ipBlock:
        cidr: 10.0.0.0/24
    ports:
    - protocol: TCP
      port: 5978
---
apiVersion: projectcalico.org/v3
kind: CalicoNodeStatus
metadata:
  name: my-caliconodestatus-1
spec:
  classes:
    - Agent
    - BGP
    - Routes
  node: my-kadm-node-0
  updatePeriodSeconds: 10
status:
  agent:
    birdV4:
      lastBootTime: "2021-09-19 20:48:56"
      lastReconfigurationTime: "2021-09-19 20:48:56"
      routerID: 10.128.0.240
      state: Ready
      version: v0.3.3+birdv1.6.8
    birdV6: {}
  bgp:
    numberEstablishedV6: 0
    numberEstablishedV4: 0
    numberNotEstablishedV6: 0
    numberNotEstablishedV4: 1
    peersV4:
      - peerIP: 10.128.0.241
        since: "20:48:59"
        state: OpenSent
        type: NodeMesh
  lastUpdated: "2021-09-19T20:49:06Z"
  routes:
    routesV4:
      - destination: 0.0.0.0/0
        gateway: 10.128.0.1
        interface: eth0
        learnedFrom:
          sourceType: Kernel
        type: FIB
      - destination: 192.168.196.0/26
        gateway: 10.128.0.241
        interface: eth0
        learnedFrom:
          peerIP: 10.128.0.241
          sourceType: NodeMesh
        type: FIB
`);

describe('documentation examples', () => {
  it('cover every kind', () => {
    const covered = new Set(DOC_EXAMPLES.map((d) => `${d.apiVersion}/${d.kind}`));
    for (const kind of KINDS) assert.ok(covered.has(`${kind.apiVersion}/${kind.kind}`), kind.kind);
  });
  for (const doc of DOC_EXAMPLES) {
    it(`accepts ${doc.apiVersion} ${doc.kind} "${who(doc)}"`, () => {
      accept(doc);
    });
  }
});

// Further documents Calico accepts, each exercising a rule's permitted edge.
const ALSO_VALID: Array<[string, Doc]> = [
  ['an IPv6 pool with VXLAN', pool({ cidr: 'fd00:10::/64', vxlanMode: 'Always' })],
  ['a disabled pool smaller than a block', pool({ cidr: '10.0.0.0/28', disabled: true })],
  ['a LoadBalancer pool', pool({ cidr: '10.9.0.0/24', allowedUses: ['LoadBalancer'] })],
  ['a peer with a dotted AS number', peer({ peerIP: '192.0.2.1:1790', asNumber: '1.10' })],
  ['a peer reachable by a gateway', peer({ peerIP: '192.0.2.1', asNumber: 65000, reachableBy: '10.0.0.1' })],
  ['a peer with timers', peer({ peerIP: '192.0.2.1', asNumber: 65000, keepaliveTime: '80s', maxRestartTime: '2m' })],
  ['a per-node BGPConfiguration', bgpConfig({ listenPort: 1790 }, 'node.node1')],
  ['Felix enums in any case', felix({ bpfLogLevel: 'debug', iptablesBackend: 'NFT', logSeverityScreen: 'WARNING' })],
  ['Felix durations and ranges', felix({ iptablesRefreshInterval: '1m30s', routeTableRanges: [{ min: 1, max: 250 }] })],
  ['a FelixConfiguration with a nodeSelector', felix({ nodeSelector: 'rack == "a"' }, 'rack-a')],
  ['a named port without a protocol', ingressRule({ destination: { ports: ['http'] } })],
  ['a port range', ingressRule({ protocol: 'UDP', destination: { ports: ['1000:2000', 53] } })],
  ['a protocol number', ingressRule({ protocol: 132, destination: { ports: [9000] } })],
  ['ICMP type and code', ingressRule({ protocol: 'ICMP', icmp: { type: 8, code: 0 } })],
  ['ICMPv6 with ipVersion 6', ingressRule({ protocol: 'ICMPv6', ipVersion: 6, icmp: { type: 128 } })],
  ['a global() namespaceSelector', ingressRule({ source: { namespaceSelector: 'global()', selector: 'a == "b"' } })],
  [
    'a policy named after its tier',
    calico('NetworkPolicy', { name: 'security.allow', namespace: 'ns' }, { tier: 'security' }),
  ],
  [
    'a converted Kubernetes policy name',
    calico('NetworkPolicy', { name: 'knp.default.allow-all.v2', namespace: 'ns' }, {}),
  ],
  [
    'an untracked host policy',
    globalPolicy({ doNotTrack: true, applyOnForward: true, ingress: [{ action: 'Allow' }] }),
  ],
  ['the default tier', calico('Tier', { name: 'default' }, { order: 1000000, defaultAction: 'Deny' })],
  ['a wildcard host endpoint', hostEndpoint({ node: 'node1', interfaceName: '*' })],
  ['a Kubernetes port range', k8sPolicy({ ingress: [{ ports: [{ port: 32000, endPort: 32768 }] }] })],
  ['a Kubernetes named port', k8sPolicy({ egress: [{ ports: [{ port: 'dns', protocol: 'UDP' }] }] })],
  [
    'Kubernetes selector expressions',
    k8sPolicy({
      podSelector: {
        matchExpressions: [
          { key: 'app', operator: 'In', values: ['a', 'b'] },
          { key: 'tier', operator: 'DoesNotExist' },
        ],
      },
    }),
  ],
];

describe('other valid documents', () => {
  for (const [what, doc] of ALSO_VALID) {
    it(`accepts ${what}`, () => {
      accept(doc);
    });
  }
});

describe('applyDefaults', () => {
  it('fills in an IPv4 pool as libcalico-go does', () => {
    assert.deepEqual(accept(pool({ cidr: '10.1.0.0/16' })).spec, {
      cidr: '10.1.0.0/16',
      blockSize: 26,
      ipipMode: 'Never',
      vxlanMode: 'Never',
      nodeSelector: 'all()',
      allowedUses: ['Workload', 'Tunnel'],
      assignmentMode: 'Automatic',
    });
  });

  it('gives an IPv6 pool blocks of /122 and writes its CIDR canonically', () => {
    const spec = accept(pool({ cidr: 'FD00:0:0:10::/64' })).spec!;
    assert.equal(spec.blockSize, 122);
    assert.equal(spec.cidr, 'fd00:0:0:10::/64');
  });

  it('keeps what was set, and treats empty strings as unset', () => {
    const spec = accept(pool({ cidr: '10.1.0.0/16', blockSize: 24, ipipMode: '', nodeSelector: 'rack == "a"' })).spec!;
    assert.equal(spec.blockSize, 24);
    assert.equal(spec.ipipMode, 'Never');
    assert.equal(spec.nodeSelector, 'rack == "a"');
  });

  it('does not modify its argument', () => {
    const doc = pool({ cidr: '10.1.0.0/16' });
    const before = structuredClone(doc);
    applyDefaults(doc);
    assert.deepEqual(doc, before);
  });

  const typesCases: Array<[string, Spec, string[]]> = [
    ['no rules', {}, ['Ingress']],
    ['ingress rules only', { ingress: [{ action: 'Allow' }] }, ['Ingress']],
    ['egress rules only', { egress: [{ action: 'Allow' }] }, ['Egress']],
    ['both', { ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }] }, ['Ingress', 'Egress']],
    ['explicit types', { types: ['Egress'], ingress: [{ action: 'Allow' }] }, ['Egress']],
  ];
  for (const [what, spec, types] of typesCases) {
    it(`infers policy types from ${what}`, () => {
      assert.deepEqual(accept(policy(spec)).spec!.types, types);
      assert.deepEqual(accept(globalPolicy(spec)).spec!.types, types);
    });
  }

  it('puts policies in the default tier and labels them with their tier', () => {
    const doc = accept(policy({}));
    assert.equal(doc.spec!.tier, 'default');
    assert.equal(doc.metadata.labels?.['projectcalico.org/tier'], 'default');
    const tiered = accept(
      calico('GlobalNetworkPolicy', { name: 'security.a', labels: { x: 'y' } }, { tier: 'security' }),
    );
    assert.deepEqual(tiered.metadata.labels, { x: 'y', 'projectcalico.org/tier': 'security' });
  });

  it('stores ports, protocols and AS numbers in the form Calico stores them', () => {
    const rule = accept(
      ingressRule({ protocol: '6', destination: { ports: ['80', '8080:8080', '1000:2000', 'http'] } }),
    ).spec!.ingress as Spec[];
    assert.equal(rule[0]!.protocol, 6);
    assert.deepEqual((rule[0]!.destination as Spec).ports, [80, 8080, '1000:2000', 'http']);
    assert.equal(accept(peer({ peerIP: '192.0.2.1', asNumber: '1.10' })).spec!.asNumber, 65546);
    const bgp = accept(node({ bgp: { asNumber: '65000', ipv4Address: '10.0.0.1/24' } })).spec!.bgp as Spec;
    assert.equal(bgp.asNumber, 65000);
  });

  it('fills in the defaults of the other kinds', () => {
    assert.equal(accept(calico('Tier', { name: 'app' }, {})).spec!.defaultAction, 'Deny');
    const bgp = accept(bgpConfig({})).spec!;
    assert.equal(bgp.logSeverityScreen, 'Info');
    assert.equal(bgp.serviceLoadBalancerAggregation, 'Enabled');
    const ipam = accept(calico('IPAMConfiguration', { name: 'default' })).spec!;
    assert.deepEqual(ipam, { strictAffinity: false, autoAllocateBlocks: true });
    const felixSpec = accept(felix({})).spec!;
    assert.equal(felixSpec.nftablesMode, 'Auto');
    assert.equal(felixSpec.nftablesFlowTableOffload, 'Disabled');
  });

  it('names a workload endpoint from its identifiers and sets its namespace and orchestrator labels', () => {
    const doc = accept(workloadEndpoint({}, ''));
    assert.equal(doc.metadata.name, 'node1-k8s-my--pod-eth0');
    assert.deepEqual(doc.metadata.labels, {
      'projectcalico.org/namespace': 'default',
      'projectcalico.org/orchestrator': 'k8s',
    });
  });

  it('defaults a Kubernetes policy as the API server does', () => {
    const doc = accept(k8sPolicy({ egress: [{ ports: [{ port: 53 }] }] }));
    assert.deepEqual(doc.spec, {
      podSelector: {},
      egress: [{ ports: [{ port: 53, protocol: 'TCP' }] }],
      policyTypes: ['Ingress', 'Egress'],
    });
    assert.deepEqual(accept(k8sPolicy({ ingress: [{}] })).spec!.policyTypes, ['Ingress']);
  });

  it('leaves documents it cannot understand for validation to reject', () => {
    const odd = { apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'p' }, spec: 'nonsense' };
    assert.deepEqual(applyDefaults(odd as unknown as Doc), odd);
    assert.throws(() => validateResource(applyDefaults(odd as unknown as Doc)), ValidationError);
  });
});

// ---- Rejections: [what, document, field at fault, detail (exact or a pattern)]. The message must be
// `<Kind> "<name>": <field>: <detail>`, with the namespace in front of the name for namespaced kinds.

type Rejection = [string, Doc, string, (string | RegExp)?];

const REJECTED: Rejection[] = [
  // Kinds and metadata
  ['an unknown kind', calico('IPPools', { name: 'x' }, {}), 'kind', /unknown kind "IPPools"/],
  [
    'an unknown apiVersion',
    { apiVersion: 'crd.projectcalico.org/v1', kind: 'IPPool', metadata: { name: 'x' }, spec: {} },
    'kind',
    'kind IPPool has apiVersion projectcalico.org/v3, not "crd.projectcalico.org/v1"',
  ],
  ['no kind at all', { metadata: { name: 'x' } } as Doc, 'kind', 'apiVersion and kind are required'],
  ['an unknown top-level field', { ...pool({ cidr: '10.0.0.0/16' }), status2: {} } as Doc, 'status2', 'unknown field'],
  ['an upper-case name', pool({ cidr: '10.0.0.0/16' }, 'Pool_A'), 'metadata.name'],
  ['an empty name', pool({ cidr: '10.0.0.0/16' }, ''), 'metadata.name', 'is required'],
  ['a 254-character name', pool({ cidr: '10.0.0.0/16' }, 'a'.repeat(254)), 'metadata.name'],
  [
    'a namespace on a cluster-wide kind',
    calico('IPPool', { name: 'p', namespace: 'ns' }, { cidr: '10.0.0.0/16' }),
    'metadata.namespace',
  ],
  ['no namespace on a namespaced kind', calico('NetworkPolicy', { name: 'p' }, {}), 'metadata.namespace'],
  [
    'an invalid label key',
    calico('IPPool', { name: 'p', labels: { 'Bad.Domain/x': 'v' } }, { cidr: '10.0.0.0/16' }),
    'metadata.labels',
  ],
  [
    'an invalid label value',
    calico('IPPool', { name: 'p', labels: { k: 'not ok' } }, { cidr: '10.0.0.0/16' }),
    'metadata.labels.k',
  ],
  [
    'a non-string label value',
    calico('IPPool', { name: 'p', labels: { k: true } } as never, { cidr: '10.0.0.0/16' }),
    'metadata.labels.k',
    'must be a string, got true',
  ],
  [
    'an invalid annotation key',
    calico('IPPool', { name: 'p', annotations: { a$b: 'v' } }, { cidr: '10.0.0.0/16' }),
    'metadata.annotations',
  ],
  [
    'oversized annotations',
    calico('IPPool', { name: 'p', annotations: { key: 'x'.repeat(256 * 1024) } }, { cidr: '10.0.0.0/16' }),
    'metadata.annotations',
  ],

  // IPPool
  [
    'a block size out of range',
    pool({ cidr: '10.0.0.0/16', blockSize: 33 }),
    'spec.blockSize',
    'must be between 20 and 32, got 33',
  ],
  [
    'an IPv4 block size on an IPv6 pool',
    pool({ cidr: 'fd00::/64', blockSize: 26 }),
    'spec.blockSize',
    'must be between 116 and 128, got 26',
  ],
  [
    'a block size that is not a number',
    pool({ cidr: '10.0.0.0/16', blockSize: '26' }),
    'spec.blockSize',
    'must be an integer, got "26"',
  ],
  ['no CIDR', pool({}), 'spec.cidr', 'is required'],
  ['a CIDR without a prefix', pool({ cidr: '10.0.0.0' }), 'spec.cidr'],
  ['a malformed CIDR', pool({ cidr: '10.0.0.256/24' }), 'spec.cidr'],
  [
    'a CIDR with host bits',
    pool({ cidr: '10.1.0.1/16' }),
    'spec.cidr',
    '"10.1.0.1/16" has host bits set (did you mean 10.1.0.0/16?)',
  ],
  ['a link-local pool', pool({ cidr: '169.254.0.0/20' }), 'spec.cidr'],
  ['an IPv6 link-local pool', pool({ cidr: 'fe80::/64' }), 'spec.cidr'],
  ['a pool smaller than its block', pool({ cidr: '10.0.0.0/28' }), 'spec.cidr'],
  [
    'both IPIP and VXLAN',
    pool({ cidr: '10.0.0.0/16', ipipMode: 'Always', vxlanMode: 'CrossSubnet' }),
    'spec.vxlanMode',
    'ipipMode and vxlanMode cannot both be enabled',
  ],
  ['IPIP on IPv6', pool({ cidr: 'fd00::/64', ipipMode: 'Always' }), 'spec.ipipMode'],
  [
    'an unknown encapsulation mode',
    pool({ cidr: '10.0.0.0/16', ipipMode: 'always' }),
    'spec.ipipMode',
    'must be one of Never, Always, CrossSubnet, got "always"',
  ],
  ['a misspelt field', pool({ cidr: '10.0.0.0/16', natOutgoin: true }), 'spec.natOutgoin', 'unknown field'],
  ['an invalid node selector', pool({ cidr: '10.0.0.0/16', nodeSelector: 'rack ==' }), 'spec.nodeSelector'],
  ['global() in a pool selector', pool({ cidr: '10.0.0.0/16', nodeSelector: 'global()' }), 'spec.nodeSelector'],
  ['an unknown allowed use', pool({ cidr: '10.0.0.0/16', allowedUses: ['Pods'] }), 'spec.allowedUses[0]'],
  [
    'LoadBalancer with Workload',
    pool({ cidr: '10.0.0.0/16', allowedUses: ['LoadBalancer', 'Workload'] }),
    'spec.allowedUses',
  ],
  [
    'a LoadBalancer pool with IPIP',
    pool({ cidr: '10.0.0.0/16', allowedUses: ['LoadBalancer'], ipipMode: 'Always' }),
    'spec.allowedUses',
  ],
  [
    'a Tunnel pool with a namespaceSelector',
    pool({ cidr: '10.0.0.0/16', namespaceSelector: 'a == "b"' }),
    'spec.namespaceSelector',
  ],
  [
    'a duplicate allowed use',
    pool({ cidr: '10.0.0.0/16', allowedUses: ['Workload', 'Workload'] }),
    'spec.allowedUses[1]',
  ],

  // BGPPeer
  [
    'node and nodeSelector',
    peer({ node: 'n1', nodeSelector: 'all()' }),
    'spec.nodeSelector',
    'node and nodeSelector cannot both be set',
  ],
  [
    'peerIP and peerSelector',
    peer({ peerIP: '192.0.2.1', peerSelector: 'all()' }),
    'spec.peerSelector',
    'peerIP and peerSelector cannot both be set',
  ],
  ['an AS number with a peerSelector', peer({ peerSelector: 'all()', asNumber: 65000 }), 'spec.asNumber'],
  ['an invalid peer address', peer({ peerIP: '192.0.2.300', asNumber: 65000 }), 'spec.peerIP'],
  ['an IPv4 peer in brackets', peer({ peerIP: '[192.0.2.1]:179', asNumber: 65000 }), 'spec.peerIP'],
  ['peer port 0', peer({ peerIP: '192.0.2.1:0', asNumber: 65000 }), 'spec.peerIP'],
  ['a dotted AS number out of range', peer({ peerIP: '192.0.2.1', asNumber: '1.70000' }), 'spec.asNumber'],
  ['a negative AS number', peer({ peerIP: '192.0.2.1', asNumber: -1 }), 'spec.asNumber'],
  ['an AS number above 32 bits', peer({ peerIP: '192.0.2.1', asNumber: 4294967296 }), 'spec.asNumber'],
  [
    'a duration without a unit',
    peer({ peerIP: '192.0.2.1', asNumber: 65000, keepaliveTime: '10' }),
    'spec.keepaliveTime',
    'must be a duration such as "90s", "1m30s" or "1.5h", got "10"',
  ],
  ['a negative duration', peer({ peerIP: '192.0.2.1', asNumber: 65000, maxRestartTime: '-5s' }), 'spec.maxRestartTime'],
  ['reachableBy without peerIP', peer({ peerSelector: 'all()', reachableBy: '10.0.0.1' }), 'spec.reachableBy'],
  [
    'reachableBy of another family',
    peer({ peerIP: '192.0.2.1', asNumber: 1, reachableBy: 'fd00::1' }),
    'spec.reachableBy',
  ],
  [
    'keepOriginalNextHop with nextHopMode',
    peer({ peerIP: '192.0.2.1', asNumber: 1, keepOriginalNextHop: true, nextHopMode: 'Self' }),
    'spec.nextHopMode',
  ],
  ['a local workload peer without AS number', peer({ localWorkloadSelector: 'app == "bgp"' }), 'spec.asNumber'],
  ['an invalid node name', peer({ node: 'Node_1', peerIP: '192.0.2.1', asNumber: 1 }), 'spec.node'],
  [
    'a TTL above 255',
    peer({ peerIP: '192.0.2.1', asNumber: 1, ttlSecurity: 256 }),
    'spec.ttlSecurity',
    'must be at most 255, got 256',
  ],

  // BGPConfiguration
  ['a cluster setting on a per-node configuration', bgpConfig({ asNumber: 65000 }, 'node.node1'), 'spec.asNumber'],
  [
    'a mesh setting without the mesh',
    bgpConfig({ nodeToNodeMeshEnabled: false, nodeMeshMaxRestartTime: '60s' }),
    'spec.nodeMeshMaxRestartTime',
  ],
  [
    'a restart time that is not a duration',
    bgpConfig({ nodeMeshMaxRestartTime: '2 minutes' }),
    'spec.nodeMeshMaxRestartTime',
  ],
  [
    'a standard community with a 17-bit part',
    bgpConfig({
      communities: [{ name: 'c', value: '65536:1' }],
      prefixAdvertisements: [{ cidr: '10.0.0.0/24', communities: ['c'] }],
    }),
    'spec.communities[0].value',
  ],
  ['communities nobody uses', bgpConfig({ communities: [{ name: 'c', value: '1:1' }] }), 'spec.communities'],
  [
    'an undefined community name',
    bgpConfig({ prefixAdvertisements: [{ cidr: '10.0.0.0/24', communities: ['nope'] }] }),
    'spec.prefixAdvertisements[0].communities[0]',
  ],
  ['listen port 0', bgpConfig({ listenPort: 0 }), 'spec.listenPort', 'must be at least 1, got 0'],
  ['ignoring every interface', bgpConfig({ ignoredInterfaces: ['*'] }), 'spec.ignoredInterfaces[0]'],
  [
    'a service CIDR with host bits',
    bgpConfig({ serviceClusterIPs: [{ cidr: '10.96.0.1/12' }] }),
    'spec.serviceClusterIPs[0].cidr',
  ],
  ['an unknown log level', bgpConfig({ logSeverityScreen: 'Verbose' }), 'spec.logSeverityScreen'],

  // FelixConfiguration
  ['a refresh interval without a unit', felix({ iptablesRefreshInterval: '90' }), 'spec.iptablesRefreshInterval'],
  [
    'an unknown chain insert mode',
    felix({ chainInsertMode: 'Prepend' }),
    'spec.chainInsertMode',
    'must be one of Insert, Append (any case), got "Prepend"',
  ],
  ['a misspelt Felix field', felix({ ipipMtu: 1400 }), 'spec.ipipMtu', 'unknown field'],
  ['a route table range beyond 250', felix({ routeTableRange: { min: 1, max: 251 } }), 'spec.routeTableRange'],
  [
    'both route table settings',
    felix({ routeTableRange: { min: 1, max: 250 }, routeTableRanges: [{ min: 1, max: 250 }] }),
    'spec.routeTableRanges',
  ],
  ['a named node port range', felix({ kubeNodePortRanges: ['http'] }), 'spec.kubeNodePortRanges[0]'],
  ['an IPv6 NAT address', felix({ natOutgoingAddress: 'fd00::1' }), 'spec.natOutgoingAddress'],
  [
    'a failsafe port without TCP/UDP/SCTP',
    felix({ failsafeInboundHostPorts: [{ protocol: 'ICMP', port: 0 }] }),
    'spec.failsafeInboundHostPorts[0].protocol',
  ],
  ['a nodeSelector on the default configuration', felix({ nodeSelector: 'all()' }), 'spec.nodeSelector'],
  ['an invalid regular expression', felix({ logDebugFilenameRegex: '(' }), 'spec.logDebugFilenameRegex'],
  [
    'a WireGuard routing priority of 32766',
    felix({ wireguardRoutingRulePriority: 32766 }),
    'spec.wireguardRoutingRulePriority',
  ],

  // Node
  ['an empty bgp section', node({ bgp: {} }), 'spec.bgp'],
  ['an IPv6 ipv4Address', node({ bgp: { ipv4Address: 'fd00::1/64' } }), 'spec.bgp.ipv4Address'],
  [
    'an invalid route reflector cluster ID',
    node({ bgp: { ipv4Address: '10.0.0.1/24', routeReflectorClusterID: '224.0.0' } }),
    'spec.bgp.routeReflectorClusterID',
  ],
  ['an invalid VXLAN MAC', node({ vxlanTunnelMACAddr: 'ee:ee:ee' }), 'spec.vxlanTunnelMACAddr'],
  ['a host name in upper case', node({}, 'Node1'), 'metadata.name'],

  // WorkloadEndpoint
  [
    'a name that does not match the identifiers',
    workloadEndpoint({}, 'node1-k8s-my-pod-eth0'),
    'metadata.name',
    'does not match the endpoint\'s identifiers in spec: expected "node1-k8s-my--pod-eth0"',
  ],
  ['an endpoint without node', workloadEndpoint({ node: '' }), 'spec.node'],
  [
    'an endpoint network wider than one address',
    workloadEndpoint({ ipNetworks: ['10.65.0.0/24'] }),
    'spec.ipNetworks[0]',
  ],
  [
    'a named port over ICMP',
    workloadEndpoint({ ports: [{ name: 'ping', protocol: 'ICMP', port: 1 }] }),
    'spec.ports[0].protocol',
  ],
  [
    'an unnamed port without host port',
    workloadEndpoint({ ports: [{ protocol: 'TCP', port: 80 }] }),
    'spec.ports[0].name',
  ],
  [
    'an interface name over 15 characters',
    workloadEndpoint({ interfaceName: 'cali0123456789abc' }),
    'spec.interfaceName',
  ],
  ['an invalid MAC', workloadEndpoint({ mac: 'ee:ee:ee:ee:ee:gg' }), 'spec.mac'],
  [
    'a NAT for an address the endpoint does not have',
    workloadEndpoint({ ipNetworks: ['10.65.0.1/32'], ipNATs: [{ internalIP: '10.65.0.2', externalIP: '192.0.2.9' }] }),
    'spec.ipNATs[0].internalIP',
  ],
  ['an IPv6 ipv4Gateway', workloadEndpoint({ ipv4Gateway: 'fd00::1' }), 'spec.ipv4Gateway'],

  // HostEndpoint
  ['a host endpoint without node', hostEndpoint({ interfaceName: 'eth0' }), 'spec.node', 'is required'],
  ['a host endpoint without interface or IPs', hostEndpoint({ node: 'node1' }), 'spec.interfaceName'],
  ['an invalid expected IP', hostEndpoint({ node: 'node1', expectedIPs: ['10.0.0.1/24'] }), 'spec.expectedIPs[0]'],
  [
    'an invalid port name',
    hostEndpoint({ node: 'node1', interfaceName: 'eth0', ports: [{ name: 'Some_Port', protocol: 'TCP', port: 1 }] }),
    'spec.ports[0].name',
  ],

  // Calico policy rules
  ['a policy name with two dots', calico('NetworkPolicy', { name: 'a.b.c', namespace: 'ns' }, {}), 'metadata.name'],
  [
    'an unknown action',
    ingressRule({ action: 'Accept' }),
    'spec.ingress[0].action',
    'must be one of Allow, Deny, Log, Pass, got "Accept"',
  ],
  ['a rule without action', policy({ egress: [{ protocol: 'TCP' }] }), 'spec.egress[0].action', 'is required'],
  ['a protocol in lower case', ingressRule({ protocol: 'tcp' }), 'spec.ingress[0].protocol'],
  ['protocol number 0', ingressRule({ protocol: 0 }), 'spec.ingress[0].protocol'],
  ['protocol number 256', ingressRule({ notProtocol: 256 }), 'spec.ingress[0].notProtocol'],
  [
    'a numeric port without protocol',
    ingressRule({ destination: { ports: ['http', 80] } }),
    'spec.ingress[0].destination.ports[1]',
    'rules with numeric ports or port ranges must set protocol to TCP, UDP or SCTP',
  ],
  [
    'ports with ICMP',
    ingressRule({ protocol: 'ICMP', source: { ports: [80] } }),
    'spec.ingress[0].source.ports',
    'rules that specify ports must set protocol to TCP, UDP or SCTP',
  ],
  [
    'a reversed port range',
    ingressRule({ protocol: 'TCP', destination: { notPorts: ['2000:1000'] } }),
    'spec.ingress[0].destination.notPorts[0]',
  ],
  ['port 0', ingressRule({ protocol: 'TCP', destination: { ports: [0] } }), 'spec.ingress[0].destination.ports[0]'],
  [
    'port 65536',
    ingressRule({ protocol: 'TCP', destination: { ports: ['65536'] } }),
    'spec.ingress[0].destination.ports[0]',
  ],
  [
    'an invalid named port',
    ingressRule({ protocol: 'TCP', destination: { ports: ['my port'] } }),
    'spec.ingress[0].destination.ports[0]',
  ],
  ['an ICMP code without type', ingressRule({ protocol: 'ICMP', icmp: { code: 1 } }), 'spec.ingress[0].icmp.code'],
  [
    'ICMP type 255',
    ingressRule({ protocol: 'ICMP', icmp: { type: 255 } }),
    'spec.ingress[0].icmp.type',
    'must be at most 254, got 255',
  ],
  ['ICMP fields without ICMP', ingressRule({ protocol: 'TCP', icmp: { type: 8 } }), 'spec.ingress[0].icmp'],
  ['ICMP with ipVersion 6', ingressRule({ protocol: 'ICMP', ipVersion: 6 }), 'spec.ingress[0].protocol'],
  ['ipVersion 5', ingressRule({ ipVersion: 5 }), 'spec.ingress[0].ipVersion'],
  ['an invalid net', ingressRule({ source: { nets: ['10.0.0.0/33'] } }), 'spec.ingress[0].source.nets[0]'],
  ['a net without prefix', ingressRule({ source: { nets: ['10.0.0.1'] } }), 'spec.ingress[0].source.nets[0]'],
  ['a net with host bits', ingressRule({ source: { nets: ['10.0.0.1/24'] } }), 'spec.ingress[0].source.nets[0]'],
  [
    'IPv4 and IPv6 nets in one rule',
    ingressRule({ source: { nets: ['10.0.0.0/8'] }, destination: { notNets: ['fd00::/8'] } }),
    'spec.ingress[0].destination.notNets[0]',
  ],
  [
    'a net of the other IP version',
    ingressRule({ ipVersion: 6, source: { nets: ['10.0.0.0/8'] } }),
    'spec.ingress[0].source.nets[0]',
  ],
  ['a catch-all notNets', ingressRule({ source: { notNets: ['0.0.0.0/0'] } }), 'spec.ingress[0].source.notNets[0]'],
  ['an invalid rule selector', ingressRule({ source: { selector: "role == 'db" } }), 'spec.ingress[0].source.selector'],
  [
    'global() combined in a namespaceSelector',
    ingressRule({ source: { namespaceSelector: 'global() && a == "b"' } }),
    'spec.ingress[0].source.namespaceSelector',
  ],
  ['global() in a rule selector', ingressRule({ source: { selector: 'global()' } }), 'spec.ingress[0].source.selector'],
  ['an invalid policy selector', policy({ selector: 'has(' }), 'spec.selector'],
  ['global() in a policy selector', policy({ selector: 'global()' }), 'spec.selector'],
  ['a repeated policy type', policy({ types: ['Ingress', 'Ingress'] }), 'spec.types[1]'],
  ['an unknown policy type', policy({ types: ['Both'] }), 'spec.types[0]'],
  ['an invalid tier name', policy({ tier: 'My_Tier' }), 'spec.tier'],
  [
    'an HTTP match on egress',
    policy({ egress: [{ action: 'Allow', http: { methods: ['GET'] } }] }),
    'spec.egress[0].http',
  ],
  ['an HTTP match on a Deny rule', ingressRule({ action: 'Deny', http: { methods: ['GET'] } }), 'spec.ingress[0].http'],
  [
    'an HTTP path without a slash',
    ingressRule({ http: { paths: [{ exact: 'foo' }] } }),
    'spec.ingress[0].http.paths[0]',
  ],
  [
    'services as an ingress destination',
    ingressRule({ destination: { services: { name: 'svc' } } }),
    'spec.ingress[0].destination.services',
  ],
  [
    'services with a selector',
    ingressRule({ source: { services: { name: 'svc' }, selector: 'a == "b"' } }),
    'spec.ingress[0].source.services',
  ],
  [
    'an unknown entity field',
    ingressRule({ source: { net: ['10.0.0.0/8'] } }),
    'spec.ingress[0].source.net',
    'unknown field',
  ],

  // GlobalNetworkPolicy
  ['a global policy name with two dots', calico('GlobalNetworkPolicy', { name: 'a.b.c' }, {}), 'metadata.name'],
  [
    'a Kubernetes policy name on a global policy',
    calico('GlobalNetworkPolicy', { name: 'knp.default.x' }, {}),
    'metadata.name',
  ],
  ['doNotTrack without applyOnForward', globalPolicy({ doNotTrack: true }), 'spec.applyOnForward'],
  ['preDNAT with doNotTrack', globalPolicy({ doNotTrack: true, preDNAT: true, applyOnForward: true }), 'spec.preDNAT'],
  [
    'preDNAT with egress rules',
    globalPolicy({ preDNAT: true, applyOnForward: true, egress: [{ action: 'Allow' }] }),
    'spec.egress',
  ],
  [
    'a global service match without namespace',
    globalPolicy({ ingress: [{ action: 'Allow', source: { services: { name: 'svc' } } }] }),
    'spec.ingress[0].source.services.namespace',
  ],
  ['an invalid global namespaceSelector', globalPolicy({ namespaceSelector: 'a in' }), 'spec.namespaceSelector'],

  // Tier, Profile, IPAMConfiguration, network sets
  ['a tier name with a dot', calico('Tier', { name: 'a.b' }, {}), 'metadata.name'],
  ['a tier default action of Allow', calico('Tier', { name: 'app' }, { defaultAction: 'Allow' }), 'spec.defaultAction'],
  ['the default tier out of place', calico('Tier', { name: 'default' }, { order: 100 }), 'spec.order'],
  [
    'an invalid label to apply',
    calico('Profile', { name: 'p' }, { labelsToApply: { 'a b': 'c' } }),
    'spec.labelsToApply',
  ],
  ['an IPAMConfiguration not named default', calico('IPAMConfiguration', { name: 'other' }, {}), 'metadata.name'],
  [
    'a negative block limit',
    calico('IPAMConfiguration', { name: 'default' }, { maxBlocksPerHost: -1 }),
    'spec.maxBlocksPerHost',
  ],
  [
    'an invalid network set entry',
    calico('NetworkSet', { name: 's', namespace: 'ns' }, { nets: ['10.0.0.0/40'] }),
    'spec.nets[0]',
  ],
  [
    'the reserved namespace label on a network set',
    calico('GlobalNetworkSet', { name: 's', labels: { 'projectcalico.org/namespace': 'x' } }, {}),
    'metadata.labels',
  ],

  // Kubernetes NetworkPolicy
  [
    'a Kubernetes port over ICMP',
    k8sPolicy({ ingress: [{ ports: [{ protocol: 'ICMP', port: 1 }] }] }),
    'spec.ingress[0].ports[0].protocol',
    'must be one of TCP, UDP, SCTP, got "ICMP"',
  ],
  [
    'endPort below port',
    k8sPolicy({ ingress: [{ ports: [{ port: 80, endPort: 79 }] }] }),
    'spec.ingress[0].ports[0].endPort',
  ],
  [
    'endPort with a named port',
    k8sPolicy({ ingress: [{ ports: [{ port: 'http', endPort: 90 }] }] }),
    'spec.ingress[0].ports[0].endPort',
    'may not be specified when port is non-numeric',
  ],
  ['endPort without port', k8sPolicy({ egress: [{ ports: [{ endPort: 90 }] }] }), 'spec.egress[0].ports[0].endPort'],
  ['Kubernetes port 0', k8sPolicy({ ingress: [{ ports: [{ port: 0 }] }] }), 'spec.ingress[0].ports[0].port'],
  [
    'a Kubernetes port name with an underscore',
    k8sPolicy({ ingress: [{ ports: [{ port: 'my_port' }] }] }),
    'spec.ingress[0].ports[0].port',
  ],
  [
    'an except outside the block',
    k8sPolicy({ ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.1.0.0/24'] } }] }] }),
    'spec.ingress[0].from[0].ipBlock.except[0]',
  ],
  [
    'an except equal to the block',
    k8sPolicy({ egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.0.0.0/16'] } }] }] }),
    'spec.egress[0].to[0].ipBlock.except[0]',
  ],
  [
    'an invalid ipBlock CIDR',
    k8sPolicy({ ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0' } }] }] }),
    'spec.ingress[0].from[0].ipBlock.cidr',
  ],
  [
    'ipBlock with a podSelector',
    k8sPolicy({ ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] }] }),
    'spec.ingress[0].from[0]',
  ],
  ['an empty peer', k8sPolicy({ ingress: [{ from: [{}] }] }), 'spec.ingress[0].from[0]'],
  [
    'In without values',
    k8sPolicy({ podSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] } }),
    'spec.podSelector.matchExpressions[0].values',
  ],
  [
    'Exists with values',
    k8sPolicy({ podSelector: { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] } }),
    'spec.podSelector.matchExpressions[0].values',
  ],
  [
    'an unknown selector operator',
    k8sPolicy({ podSelector: { matchExpressions: [{ key: 'a', operator: 'Has' }] } }),
    'spec.podSelector.matchExpressions[0].operator',
  ],
  [
    'an invalid matchLabels value',
    k8sPolicy({ podSelector: { matchLabels: { app: '-x' } } }),
    'spec.podSelector.matchLabels.app',
  ],
  ['an unknown policy type', k8sPolicy({ policyTypes: ['ingress'] }), 'spec.policyTypes[0]'],
  ['a misspelt peer list', k8sPolicy({ ingress: [{ form: [] }] }), 'spec.ingress[0].form', 'unknown field'],
  ['a Kubernetes policy name with upper case', k8sPolicy({}, 'Allow-All'), 'metadata.name'],
  ['a node status without a node', nodeStatus({ node: undefined }), 'spec.node', 'is required'],
  ['a node status for an invalid node name', nodeStatus({ node: 'Node_1' }), 'spec.node'],
  ['a node status without classes', nodeStatus({ classes: undefined }), 'spec.classes', 'is required'],
  ['a class asked for twice', nodeStatus({ classes: ['BGP', 'Agent', 'BGP'] }), 'spec.classes[2]'],
  ['an unknown class', nodeStatus({ classes: ['Felix'] }), 'spec.classes[0]', /must be one of Agent, BGP, Routes/],
  ['a node status without a period', nodeStatus({ updatePeriodSeconds: undefined }), 'spec.updatePeriodSeconds'],
  ['an update period over a day', nodeStatus({ updatePeriodSeconds: 86401 }), 'spec.updatePeriodSeconds'],
  [
    'a reported peer that is not an address',
    nodeStatus({}, { bgp: { peersV4: [{ peerIP: 'mesh-1', state: 'Idle' }] } }),
    'status.bgp.peersV4[0].peerIP',
  ],
  [
    'an unknown session state',
    nodeStatus({}, { bgp: { peersV4: [{ peerIP: '192.0.2.1', state: 'Up' }] } }),
    'status.bgp.peersV4[0].state',
  ],
];

describe('validateResource rejects', () => {
  for (const [what, doc, field, detail] of REJECTED) {
    it(`${what} (${field})`, () => {
      const error = rejection(() => validateResource(applyDefaults(doc)));
      assert.equal(error.field, field, error.message);
      const prefix = `${doc.kind ?? 'Resource'} "${who(doc)}": ${field}: `;
      assert.ok(error.message.startsWith(prefix), `${error.message} should start with ${prefix}`);
      assert.equal(error.detail, error.message.slice(prefix.length));
      if (typeof detail === 'string') assert.equal(error.detail, detail);
      else if (detail) assert.match(error.detail, detail);
    });
  }

  it('with the exact message for a block size out of range', () => {
    const error = rejection(() => validateResource(applyDefaults(pool({ cidr: '10.0.0.0/16', blockSize: 33 }))));
    assert.equal(error.message, 'IPPool "pool-a": spec.blockSize: must be between 20 and 32, got 33');
    assert.deepEqual(
      { kind: error.kind, name: error.name, namespace: error.namespace, field: error.field, detail: error.detail },
      {
        kind: 'IPPool',
        name: 'pool-a',
        namespace: undefined,
        field: 'spec.blockSize',
        detail: 'must be between 20 and 32, got 33',
      },
    );
  });

  it('with the namespace in the message of a namespaced kind', () => {
    const error = rejection(() => validateResource(applyDefaults(ingressRule({ action: 'Accept' }))));
    assert.equal(error.namespace, 'default');
    assert.ok(error.message.startsWith('NetworkPolicy "default/pol": spec.ingress[0].action: '));
  });
});

describe('validateChange', () => {
  const stored = accept(pool({ cidr: '10.1.0.0/16' }, 'pool-a'));
  const other = accept(pool({ cidr: '10.2.0.0/16' }, 'pool-b'));

  it('accepts an update that keeps the CIDR and block size', () => {
    const update = accept(pool({ cidr: '10.1.0.0/16', natOutgoing: true, disabled: true }));
    validateChange(update, { existing: stored, siblings: [other] });
  });

  it('accepts the same network written differently', () => {
    const v6 = accept(pool({ cidr: 'fd00:0::/64' }, 'v6'));
    validateChange(accept(pool({ cidr: 'fd00::/64' }, 'v6')), {
      existing: { ...v6, spec: { ...v6.spec, cidr: 'fd00:0::/64' } },
      siblings: [],
    });
  });

  const changes: Array<[string, Doc, Doc | undefined, Doc[], string, string]> = [
    ['a changed CIDR', pool({ cidr: '10.1.0.0/17' }), stored, [], 'spec.cidr', 'cannot be changed (was 10.1.0.0/16)'],
    [
      'a changed block size',
      pool({ cidr: '10.1.0.0/16', blockSize: 24 }),
      stored,
      [],
      'spec.blockSize',
      'cannot be changed (was 26)',
    ],
    [
      'a LoadBalancer pool turned into a workload pool',
      pool({ cidr: '10.9.0.0/24', allowedUses: ['Workload'] }),
      accept(pool({ cidr: '10.9.0.0/24', allowedUses: ['LoadBalancer'] })),
      [],
      'spec.allowedUses',
      'cannot be changed from LoadBalancer to Workload or Tunnel',
    ],
    [
      'a new pool inside another',
      pool({ cidr: '10.2.128.0/17' }, 'pool-c'),
      undefined,
      [stored, other],
      'spec.cidr',
      '10.2.128.0/17 overlaps IPPool "pool-b" (10.2.0.0/16)',
    ],
    [
      'a new pool around another',
      pool({ cidr: '10.0.0.0/8' }, 'pool-c'),
      undefined,
      [stored],
      'spec.cidr',
      '10.0.0.0/8 overlaps IPPool "pool-a" (10.1.0.0/16)',
    ],
  ];
  for (const [what, doc, existing, siblings, field, detail] of changes) {
    it(`rejects ${what}`, () => {
      const error = rejection(() => validateChange(accept(doc), existing ? { existing, siblings } : { siblings }));
      assert.equal(error.field, field);
      assert.equal(error.detail, detail);
    });
  }

  it('allows disjoint pools, and pools of the other IP version', () => {
    validateChange(accept(pool({ cidr: '10.3.0.0/16' }, 'pool-c')), { siblings: [stored, other] });
    validateChange(accept(pool({ cidr: 'fd00::/48' }, 'pool-c')), { siblings: [stored, other] });
  });

  it('ignores kinds without change rules', () => {
    validateChange(accept(policy({})), { existing: accept(policy({ order: 1 })), siblings: [] });
  });
});

describe('RESOURCE_SCHEMAS', () => {
  it('has a closed document schema for every kind', () => {
    for (const kind of KINDS) {
      const schema = RESOURCE_SCHEMAS[kindId(kind)];
      assert.ok(schema, kindId(kind));
      assert.equal(schema.additionalProperties, false);
      assert.equal(schema.properties.kind.const, kind.kind);
      assert.equal(schema.properties.apiVersion.const, kind.apiVersion);
    }
  });

  it('documents Calico defaults', () => {
    const spec = RESOURCE_SCHEMAS['projectcalico.org/IPPool']!.properties.spec;
    assert.equal(spec.properties.nodeSelector.default, 'all()');
    assert.equal(spec.properties.ipipMode.default, 'Never');
  });
});

describe('net helpers', () => {
  it('parse addresses as Go does', () => {
    const valid = [
      '10.0.0.1',
      '0.0.0.0',
      '255.255.255.255',
      '::',
      '::1',
      'fd00::1',
      '2001:db8::8a2e:370:7334',
      '::ffff:10.0.0.1',
      '1:2:3:4:5:6:7:8',
    ];
    const invalid = [
      '',
      '10.0.0',
      '10.0.0.256',
      '010.0.0.1',
      '10.0.0.1/32',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      'fe80::1%eth0',
      'g::1',
      ':1',
      '1:',
    ];
    for (const text of valid) assert.ok(isValidIp(text), text);
    for (const text of invalid) assert.ok(!isValidIp(text), text);
    assert.ok(isValidIp('10.0.0.1', 4));
    assert.ok(!isValidIp('10.0.0.1', 6));
  });

  it('parse CIDRs to numbers', () => {
    assert.deepEqual(parseCidr('10.1.2.3/16'), { version: 4, address: 0x0a010203, prefix: 16 });
    assert.deepEqual(parseCidr('255.255.255.255/32'), { version: 4, address: 0xffffffff, prefix: 32 });
    assert.deepEqual(parseCidr('fd00::/8'), { version: 6, address: 0xfdn << 120n, prefix: 8 });
    for (const text of ['10.0.0.0', '10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/a', 'fd00::/129', '/8']) {
      assert.equal(parseCidr(text), undefined, text);
    }
  });

  it('mask, contain and overlap', () => {
    const net = (text: string) => parseCidr(text)!;
    assert.equal(formatCidr(maskCidr(net('10.1.2.3/16'))), '10.1.0.0/16');
    assert.equal(formatCidr(maskCidr(net('fd00::1234/120'))), 'fd00::1200/120');
    assert.equal(formatCidr(maskCidr(net('10.1.2.3/0'))), '0.0.0.0/0');
    assert.ok(cidrContains(net('10.0.0.0/8'), net('10.1.0.0/16')));
    assert.ok(!cidrContains(net('10.1.0.0/16'), net('10.0.0.0/8')));
    assert.ok(cidrContains(net('10.0.0.0/8'), parseIp('10.255.255.255')!));
    assert.ok(!cidrContains(net('10.0.0.0/8'), parseIp('11.0.0.0')!));
    assert.ok(cidrContains(net('0.0.0.0/0'), parseIp('200.1.1.1')!));
    assert.ok(cidrContains(net('192.168.0.0/16'), parseIp('192.168.255.1')!));
    assert.ok(!cidrContains(net('10.0.0.0/8'), parseIp('::a00:1')!));
    assert.ok(cidrsOverlap(net('10.0.0.0/8'), net('10.2.0.0/16')));
    assert.ok(cidrsOverlap(net('10.2.0.0/16'), net('10.0.0.0/8')));
    assert.ok(!cidrsOverlap(net('10.1.0.0/16'), net('10.2.0.0/16')));
    assert.ok(cidrsOverlap(net('fd00::/8'), net('fd12::/16')));
    assert.ok(!cidrsOverlap(net('fd00::/16'), net('fd01::/16')));
  });

  it('format addresses as Go does', () => {
    const cases: Array<[string, string]> = [
      ['10.0.0.1', '10.0.0.1'],
      ['FD00:0:0:0:0:0:0:1', 'fd00::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
      ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
      ['::', '::'],
      ['fd00::', 'fd00::'],
    ];
    for (const [input, output] of cases) assert.equal(formatIp(parseIp(input)!), output, input);
  });

  it('parse a peer address with an optional port', () => {
    assert.deepEqual(parseIpPort('192.0.2.1'), { ip: { version: 4, address: 0xc0000201 } });
    assert.equal(parseIpPort('192.0.2.1:1790')?.port, 1790);
    assert.equal(parseIpPort('[fd00::1]:179')?.port, 179);
    assert.equal(parseIpPort('fd00::1')?.ip.version, 6);
    for (const text of ['192.0.2.1:', '192.0.2.1:65536', '[192.0.2.1]:179', 'fd00::1:', '[fd00::1]', 'host:179']) {
      assert.equal(parseIpPort(text), undefined, text);
    }
  });
});

describe('durations and names', () => {
  it('parse Go durations', () => {
    const cases: Array<[string, number | undefined]> = [
      ['0', 0],
      ['90s', 90_000],
      ['1m30s', 90_000],
      ['1.5h', 5_400_000],
      ['300ms', 300],
      ['.5s', 500],
      ['10us', 0.01],
      ['10', undefined],
      ['', undefined],
      ['-1s', undefined],
      ['1d', undefined],
      ['s', undefined],
    ];
    for (const [text, ms] of cases) assert.equal(parseGoDuration(text), ms, text);
  });

  it('name workload endpoints as Calico does', () => {
    assert.equal(
      workloadEndpointName({ node: 'n-1', orchestrator: 'k8s', pod: 'web-0', endpoint: 'eth0' }),
      'n--1-k8s-web--0-eth0',
    );
    assert.equal(
      workloadEndpointName({ node: 'n1', orchestrator: 'cni', containerID: 'abc', endpoint: 'eth0' }),
      'n1-cni-abc-eth0',
    );
    assert.deepEqual(workloadEndpointName({ node: 'n1', orchestrator: 'k8s', endpoint: 'eth0' }), {
      field: 'pod',
      problem: 'is required to name the endpoint',
    });
  });
});
