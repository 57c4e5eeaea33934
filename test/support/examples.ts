// One valid example of every kind, taken from Calico's documentation, for round-trip tests across the datastore,
// tabbyctl and (later) the API server.
import type { Resource } from '../../datastore';

const v3 = 'projectcalico.org/v3';

export const EXAMPLES: Resource[] = [
  {
    apiVersion: v3,
    kind: 'IPPool',
    metadata: { name: 'my.ippool-1' },
    spec: { cidr: '10.1.0.0/16', ipipMode: 'CrossSubnet', natOutgoing: true, disabled: false, nodeSelector: 'all()' },
  },
  {
    apiVersion: v3,
    kind: 'BGPPeer',
    metadata: { name: 'some.name' },
    spec: { node: 'rack1-host1', peerIP: '192.0.2.1', asNumber: 63400 },
  },
  {
    apiVersion: v3,
    kind: 'BGPConfiguration',
    metadata: { name: 'default' },
    spec: { logSeverityScreen: 'Info', nodeToNodeMeshEnabled: true, asNumber: 63400 },
  },
  {
    apiVersion: v3,
    kind: 'FelixConfiguration',
    metadata: { name: 'default' },
    spec: { ipv6Support: false, ipipMTU: 1400, chainInsertMode: 'Append' },
  },
  {
    apiVersion: v3,
    kind: 'Node',
    metadata: { name: 'node-hostname' },
    spec: { bgp: { asNumber: 64512, ipv4Address: '192.0.2.10/24', ipv4IPIPTunnelAddr: '192.168.0.1' } },
  },
  {
    apiVersion: v3,
    kind: 'WorkloadEndpoint',
    metadata: { name: 'node1-k8s-my--nginx--b1337a-eth0', namespace: 'default', labels: { app: 'frontend' } },
    spec: {
      node: 'node1',
      orchestrator: 'k8s',
      pod: 'my-nginx-b1337a',
      endpoint: 'eth0',
      containerID: '1337495556942031415926535',
      interfaceName: 'cali0ef24ba',
      mac: 'ca:fe:1d:52:bb:e9',
      ipNetworks: ['192.168.0.0/32'],
      profiles: ['kns.default'],
      ports: [{ name: 'some-port', port: 1234, protocol: 'TCP' }],
    },
  },
  {
    apiVersion: v3,
    kind: 'HostEndpoint',
    metadata: { name: 'some.name', labels: { type: 'production' } },
    spec: { interfaceName: 'eth0', node: 'myhost', expectedIPs: ['192.0.2.1', '192.0.2.2'], profiles: ['profile1'] },
  },
  {
    apiVersion: v3,
    kind: 'NetworkPolicy',
    metadata: { name: 'allow-tcp-6379', namespace: 'production' },
    spec: {
      selector: "role == 'database'",
      types: ['Ingress', 'Egress'],
      ingress: [
        {
          action: 'Allow',
          metadata: { annotations: { from: 'frontend', to: 'database' } },
          protocol: 'TCP',
          source: { selector: "role == 'frontend'" },
          destination: { ports: [6379] },
        },
      ],
      egress: [{ action: 'Allow' }],
    },
  },
  {
    apiVersion: v3,
    kind: 'GlobalNetworkPolicy',
    metadata: { name: 'allow-tcp-6379' },
    spec: {
      selector: "role == 'database'",
      types: ['Ingress', 'Egress'],
      ingress: [
        {
          action: 'Allow',
          protocol: 'TCP',
          source: { selector: "role == 'frontend'" },
          destination: { ports: [6379] },
        },
      ],
      egress: [{ action: 'Allow' }],
    },
  },
  {
    apiVersion: v3,
    kind: 'NetworkSet',
    metadata: { name: 'external-database', namespace: 'staging', labels: { role: 'db' } },
    spec: { nets: ['198.51.100.0/28', '203.0.113.0/24'] },
  },
  {
    apiVersion: v3,
    kind: 'GlobalNetworkSet',
    metadata: { name: 'a-name-for-the-set', labels: { role: 'external-database' } },
    spec: { nets: ['198.51.100.0/28', '203.0.113.0/24'] },
  },
  {
    apiVersion: v3,
    kind: 'Profile',
    metadata: { name: 'dev-apps' },
    spec: {
      ingress: [
        { action: 'Deny', source: { nets: ['10.0.20.0/24'] } },
        { action: 'Allow', source: { selector: 'stage == "development"' } },
      ],
      egress: [{ action: 'Allow' }],
      labelsToApply: { stage: 'development' },
    },
  },
  {
    apiVersion: v3,
    kind: 'IPAMConfiguration',
    metadata: { name: 'default' },
    spec: { strictAffinity: false, maxBlocksPerHost: 4 },
  },
  {
    apiVersion: v3,
    kind: 'Tier',
    metadata: { name: 'internal-access' },
    spec: { order: 100 },
  },
  {
    apiVersion: v3,
    kind: 'CalicoNodeStatus',
    metadata: { name: 'my-caliconodestatus-1' },
    spec: { classes: ['Agent', 'BGP', 'Routes'], node: 'my-kadm-node-0', updatePeriodSeconds: 10 },
  },
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'test-network-policy', namespace: 'default' },
    spec: {
      podSelector: { matchLabels: { role: 'db' } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        {
          from: [
            { ipBlock: { cidr: '172.17.0.0/16', except: ['172.17.1.0/24'] } },
            { namespaceSelector: { matchLabels: { project: 'myproject' } } },
            { podSelector: { matchLabels: { role: 'frontend' } } },
          ],
          ports: [{ protocol: 'TCP', port: 6379 }],
        },
      ],
      egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/24' } }], ports: [{ protocol: 'TCP', port: 5978 }] }],
    },
  },
];
