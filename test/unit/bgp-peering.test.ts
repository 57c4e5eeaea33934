import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import type { SpeakerPeerConfig } from '../../bgp/config';
import { type PeeringInput, type PeeringPlan, planPeering } from '../../bgp/peering';
import type { Resource } from '../../datastore/resource';

// The cases are Calico's confd template tests (confd/tests/mock_data/calicoctl/<case>/input.yaml, rendered for
// NODENAME kube-master, or node1 where the test says so, into confd/tests/compiled_templates/<case>/bird.cfg).
// Each expected peer is one BIRD protocol of the golden file, written as
//   <protocol name> <neighbor>[:<port>] as <AS> [source <source address>] [passive] [ttl-security <multihop>]
//   [rr-client] [next-hop-self] [password <password>] [restart <graceful restart time>] [keepalive <time>]
// Where tabby departs from the golden file (one session per address, settings its speaker lacks), the case says
// so and `problems` holds what the plan reports.

/** The three nodes of Calico's fixtures. */
const MASTER = 'kind: Node\nmetadata: {name: kube-master}\nspec: {bgp: {ipv4Address: 10.192.0.2/16}}';
const NODE_1 = 'kind: Node\nmetadata: {name: kube-node-1}\nspec: {bgp: {ipv4Address: 10.192.0.3/16}}';
const NODE_2 = 'kind: Node\nmetadata: {name: kube-node-2}\nspec: {bgp: {ipv4Address: 10.192.0.4/16}}';
const THREE_NODES = [MASTER, NODE_1, NODE_2].join('\n---\n');
const MESH_OFF = 'kind: BGPConfiguration\nmetadata: {name: default}\nspec: {nodeToNodeMeshEnabled: false}';

/** The four nodes and three BGPPeers of confd's password test, rendered for node1. */
const PASSWORD_FIXTURE = `
${MESH_OFF}
---
kind: Node
metadata: {name: node1, labels: {node: 'yes'}}
spec: {bgp: {ipv4Address: 10.24.0.1/24}}
---
kind: Node
metadata: {name: node2, labels: {node: 'yes'}}
spec: {bgp: {ipv4Address: 10.24.0.2/24}}
---
kind: Node
metadata: {name: node3, labels: {node: 'yes'}}
spec: {bgp: {ipv4Address: 10.24.0.3/24}}
---
kind: Node
metadata: {name: node4, labels: {node: 'yes'}}
spec: {bgp: {ipv4Address: 10.24.0.4/24}}
---
kind: BGPPeer
metadata: {name: bgppeer-1}
spec: {nodeSelector: has(node), peerIP: 10.24.0.2, asNumber: 64512, password: {secretKeyRef: {name: my-secrets-1, key: a}}}
---
kind: BGPPeer
metadata: {name: bgppeer-2}
spec: {nodeSelector: has(node), peerIP: 10.24.0.3, asNumber: 64512, password: {secretKeyRef: {name: my-secrets-1, key: b}}}
---
kind: BGPPeer
metadata: {name: bgppeer-3}
spec: {node: node1, peerIP: 10.24.10.10, asNumber: 64512, password: {secretKeyRef: {name: my-secrets-2, key: c}}}
`;

const MESH_PASSWORD_FIXTURE = `
kind: BGPConfiguration
metadata: {name: default}
spec: {nodeToNodeMeshEnabled: true, nodeMeshPassword: {secretKeyRef: {name: my-secrets-1, key: a}}}
---
${THREE_NODES}
`;

/** confd's sourceaddr_gracefulrestart test, rendered for node1; each step edits bgppeer-1. */
function sourceAddressFixture(peerSettings: string): string {
  return `
${MESH_OFF}
---
kind: Node
metadata: {name: node1}
spec: {bgp: {ipv4Address: 172.17.0.5/24}}
---
kind: Node
metadata: {name: node2}
spec: {bgp: {ipv4Address: 172.17.0.6/24}}
---
kind: BGPPeer
metadata: {name: bgppeer-1}
spec: {node: node1, peerIP: 172.17.0.6, asNumber: 64512${peerSettings}}
`;
}

/** The route reflector fixture: kube-master reflects (cluster 10.0.0.1) to the two other nodes. */
const ROUTE_REFLECTOR_NODES = `
kind: Node
metadata: {name: kube-master, labels: {routeReflector: 'true'}}
spec: {bgp: {ipv4Address: 10.192.0.2/16, ipv6Address: fe0a::2/96, routeReflectorClusterID: 10.0.0.1}}
---
${NODE_1}
---
${NODE_2}
`;

/** The external peers of confd's next_hop_mode and reachable_by tests; `extra` goes into every spec. */
function externalRouteReflectors(extra: string, ipv4Modes: [string, string], ipv6Modes: [string, string]): string {
  return [
    ['a-ipv4', '10.225.0.4', 65515, ipv4Modes[0]],
    ['b-ipv4', '10.225.0.5', 64512, ipv4Modes[1]],
    ['a-ipv6', 'ffee::10', 65515, ipv6Modes[0]],
    ['b-ipv6', 'ffee::11', 64512, ipv6Modes[1]],
  ]
    .map(
      ([suffix, ip, as, mode]) =>
        `kind: BGPPeer\nmetadata: {name: external-route-reflector-${suffix}}\n` +
        `spec: {peerIP: '${ip}', asNumber: ${as}, ${mode}${extra}}`,
    )
    .join('\n---\n');
}

interface PlanCase {
  name: string;
  nodeName?: string;
  resources: string;
  secrets?: PeeringInput['secrets'];
  peers: string[];
  /** Each problem, in order, contains the corresponding text. */
  problems?: string[];
  plan?: Partial<Omit<PeeringPlan, 'peers' | 'problems'>>;
}

const CASES: PlanCase[] = [
  {
    name: 'mesh/ipip-off: every other node, passive toward greater addresses, from our address',
    resources: `kind: BGPConfiguration\nmetadata: {name: default}\nspec: {logSeverityScreen: Info}\n---\n${THREE_NODES}`,
    peers: [
      'Mesh_10_192_0_3 10.192.0.3 as 64512 source 10.192.0.2 passive',
      'Mesh_10_192_0_4 10.192.0.4 as 64512 source 10.192.0.2 passive',
    ],
    plan: { asNumber: 64512, routerId: '10.192.0.2', listenAddress: '0.0.0.0', listenPort: 179 },
  },
  {
    name: 'mesh/ipip-off rendered for kube-node-2: active toward lower addresses',
    nodeName: 'kube-node-2',
    resources: THREE_NODES,
    peers: [
      'Mesh_10_192_0_2 10.192.0.2 as 64512 source 10.192.0.4',
      'Mesh_10_192_0_3 10.192.0.3 as 64512 source 10.192.0.4',
    ],
  },
  {
    name: 'mesh/restart-time: nodeMeshMaxRestartTime',
    resources: `kind: BGPConfiguration\nmetadata: {name: default}\nspec: {nodeMeshMaxRestartTime: 10s}\n---\n${THREE_NODES}`,
    peers: [
      'Mesh_10_192_0_3 10.192.0.3 as 64512 source 10.192.0.2 passive restart 10',
      'Mesh_10_192_0_4 10.192.0.4 as 64512 source 10.192.0.2 passive restart 10',
    ],
  },
  {
    name: 'mesh/communities: listenPort for us and the mesh; communities by name and by value',
    resources: `
kind: BGPConfiguration
metadata: {name: default}
spec:
  communities: [{name: bgp-comm-standard, value: '100:6532'}, {name: bgp-comm-large, value: '100:555:107'}]
  prefixAdvertisements:
    - {cidr: 192.168.0.0/16, communities: [bgp-comm-standard, '5663:12', bgp-comm-large]}
    - {cidr: 'fd00:96::/112', communities: [bgp-comm-large, bgp-comm-large]}
  listenPort: 177
---
${THREE_NODES}`,
    peers: [
      'Mesh_10_192_0_3 10.192.0.3:177 as 64512 source 10.192.0.2 passive',
      'Mesh_10_192_0_4 10.192.0.4:177 as 64512 source 10.192.0.2 passive',
    ],
    problems: ['spec.prefixAdvertisements[1].cidr "fd00:96::/112": only IPv4 prefixes are supported'],
    plan: {
      listenPort: 177,
      prefixAdvertisements: [
        {
          cidr: '192.168.0.0/16',
          communities: [((100 << 16) | 6532) >>> 0, ((5663 << 16) | 12) >>> 0],
          largeCommunities: [[100, 555, 107]],
        },
      ],
    },
  },
  {
    // Not a confd fixture: the mesh with per-node AS numbers (a mesh peer in another AS is eBGP) and Calico's
    // passive rule, which compares addresses as text: "10.192.0.10" sorts before "10.192.0.2".
    name: 'mesh with an AS per node, and the textual address comparison',
    resources: `
kind: BGPConfiguration
metadata: {name: default}
spec: {asNumber: 64600}
---
kind: Node
metadata: {name: kube-master}
spec: {bgp: {ipv4Address: 10.192.0.2/16, asNumber: 65002}}
---
kind: Node
metadata: {name: kube-node-1}
spec: {bgp: {ipv4Address: 10.192.0.3/16, asNumber: '1.10'}}
---
kind: Node
metadata: {name: kube-node-10}
spec: {bgp: {ipv4Address: 10.192.0.10/16}}
---
kind: Node
metadata: {name: no-bgp}
spec: {}`,
    peers: [
      'Mesh_10_192_0_10 10.192.0.10 as 64600 source 10.192.0.2',
      'Mesh_10_192_0_3 10.192.0.3 as 65546 source 10.192.0.2 passive',
    ],
    plan: { asNumber: 65002 },
  },
  {
    name: 'mesh/route-reflector-mesh-enabled: the mesh leaves the reflector out; it peers by BGPPeer',
    resources: `
kind: BGPConfiguration
metadata: {name: default}
spec: {asNumber: 64532, nodeToNodeMeshEnabled: true}
---
kind: BGPPeer
metadata: {name: bgppeer-1}
spec: {peerIP: 172.19.4.87, asNumber: 64533, nodeSelector: has(routeReflector)}
---
kind: BGPPeer
metadata: {name: bgppeer-v6}
spec: {peerIP: '[ac13::57]:50', asNumber: 64533, nodeSelector: has(routeReflector)}
---
kind: BGPPeer
metadata: {name: bgppeer-other-nodes}
spec: {nodeSelector: has(routeReflector), peerSelector: '!has(routeReflector)'}
---
${MASTER}
---
${NODE_1}
---
kind: Node
metadata: {name: kube-node-2, labels: {routeReflector: 'true'}}
spec: {bgp: {ipv4Address: 10.192.0.4/16, routeReflectorClusterID: 10.0.0.1}}`,
    peers: [
      'Mesh_10_192_0_3 10.192.0.3 as 64532 source 10.192.0.2 passive',
      'Node_10_192_0_4 10.192.0.4 as 64532 source 10.192.0.2',
    ],
  },
  {
    // The same fixture seen from the reflector (no golden file; Calico's rules applied): no mesh, its clients
    // by peerSelector, the external peer eBGP and so not a client.
    name: 'mesh/route-reflector-mesh-enabled rendered for the reflector kube-node-2',
    nodeName: 'kube-node-2',
    resources: `
kind: BGPConfiguration
metadata: {name: default}
spec: {asNumber: 64532}
---
kind: BGPPeer
metadata: {name: bgppeer-1}
spec: {peerIP: 172.19.4.87, asNumber: 64533, nodeSelector: has(routeReflector)}
---
kind: BGPPeer
metadata: {name: bgppeer-v6}
spec: {peerIP: '[ac13::57]:50', asNumber: 64533, nodeSelector: has(routeReflector)}
---
kind: BGPPeer
metadata: {name: bgppeer-other-nodes}
spec: {nodeSelector: has(routeReflector), peerSelector: '!has(routeReflector)'}
---
${MASTER}
---
${NODE_1}
---
kind: Node
metadata: {name: kube-node-2, labels: {routeReflector: 'true'}}
spec: {bgp: {ipv4Address: 10.192.0.4/16, routeReflectorClusterID: 10.0.0.1}}`,
    peers: [
      'Node_10_192_0_2 10.192.0.2 as 64532 source 10.192.0.4 rr-client',
      'Node_10_192_0_3 10.192.0.3 as 64532 source 10.192.0.4 rr-client',
      'Node_172_19_4_87 172.19.4.87 as 64533 source 10.192.0.4',
    ],
    problems: ['BGPPeer "bgppeer-v6": spec.peerIP: "[ac13::57]:50" is IPv6'],
    plan: { routeReflectorClusterId: '10.0.0.1' },
  },
  {
    // Calico renders Global_10_192_0_1_port_166 too: two sessions to 10.192.0.1. tabby keeps one per address.
    name: 'explicit_peering/global: ports of Calico nodes, sourceAddress None, bindMode NodeIP',
    resources: `
kind: BGPConfiguration
metadata: {name: default}
spec: {nodeToNodeMeshEnabled: false, asNumber: 64567, listenPort: 150, bindMode: NodeIP}
---
kind: BGPPeer
metadata: {name: bgppeer-1}
spec: {peerIP: 10.192.0.3, asNumber: 64567, sourceAddress: None}
---
kind: BGPPeer
metadata: {name: bgppeer-2}
spec: {peerIP: '10.192.0.1:166', asNumber: 64567}
---
kind: BGPPeer
metadata: {name: bgppeer-3}
spec: {peerIP: 10.192.0.1, asNumber: 64567}
---
${MASTER}
---
${NODE_1}
---
kind: Node
metadata: {name: kube-node-2}
spec: {bgp: {ipv4Address: 10.192.0.1/16}}`,
    peers: [
      'Global_10_192_0_1_port_150 10.192.0.1:150 as 64567 source 10.192.0.2',
      'Global_10_192_0_3_port_150 10.192.0.3:150 as 64567 passive',
    ],
    problems: ['peering Global_10_192_0_1_port_166 dropped: Global_10_192_0_1_port_150 already peers with 10.192.0.1'],
    plan: { asNumber: 64567, listenAddress: '10.192.0.2', listenPort: 150 },
  },
  {
    name: 'explicit_peering/global-external: an address that is no Calico node keeps port 179 and is active',
    resources: `
kind: BGPConfiguration
metadata: {name: default}
spec: {nodeToNodeMeshEnabled: false, asNumber: 64567, listenPort: 150}
---
kind: BGPPeer
metadata: {name: bgppeer-1}
spec: {peerIP: 10.192.0.3, asNumber: 64567, sourceAddress: None}
---
kind: BGPPeer
metadata: {name: bgppeer-2}
spec: {peerIP: '10.192.0.4:166', asNumber: 64567}
---
kind: BGPPeer
metadata: {name: bgppeer-3}
spec: {peerIP: 10.192.0.4, asNumber: 64567}
---
${MASTER}
---
${NODE_1}
---
kind: Node
metadata: {name: kube-node-2}
spec: {bgp: {ipv4Address: 10.192.0.5/16}}`,
    peers: [
      'Global_10_192_0_3_port_150 10.192.0.3:150 as 64567 passive',
      'Global_10_192_0_4 10.192.0.4 as 64567 source 10.192.0.2',
    ],
    problems: ['peering Global_10_192_0_4_port_166 dropped: Global_10_192_0_4 already peers with 10.192.0.4'],
    plan: { listenAddress: '0.0.0.0', listenPort: 150 },
  },
  {
    name: 'explicit_peering/specific_node: node-specific peers are never passive',
    resources: `
${MESH_OFF}
---
kind: BGPPeer
metadata: {name: bgppeer-1}
spec: {peerIP: 10.192.0.3, asNumber: 64512, node: kube-master}
---
kind: BGPPeer
metadata: {name: bgppeer-2}
spec: {peerIP: 10.192.0.4, asNumber: 64566, node: kube-master}
---
${THREE_NODES}`,
    peers: [
      'Node_10_192_0_3 10.192.0.3 as 64512 source 10.192.0.2',
      'Node_10_192_0_4 10.192.0.4 as 64566 source 10.192.0.2',
    ],
  },
  {
    name: 'explicit_peering/selectors: peerSelector, a node-specific listenPort',
    resources: selectorsFixture(
      '\n---\nkind: BGPConfiguration\nmetadata: {name: node.kube-node-1}\nspec: {listenPort: 500}',
    ),
    peers: [
      'Node_10_192_0_3_port_500 10.192.0.3:500 as 64512 source 10.192.0.2',
      'Node_10_192_0_4 10.192.0.4 as 64512 source 10.192.0.2',
    ],
  },
  {
    name: 'explicit_peering/selectors/step2: the node-specific listenPort removed',
    resources: selectorsFixture('\n---\nkind: BGPConfiguration\nmetadata: {name: node.kube-node-1}\nspec: {}'),
    peers: [
      'Node_10_192_0_3 10.192.0.3 as 64512 source 10.192.0.2',
      'Node_10_192_0_4 10.192.0.4 as 64512 source 10.192.0.2',
    ],
  },
  {
    // The far end of the same fixture: the automatic reverse peering, and its own listen port.
    name: 'explicit_peering/selectors rendered for kube-node-1: the reverse peering',
    nodeName: 'kube-node-1',
    resources: selectorsFixture(
      '\n---\nkind: BGPConfiguration\nmetadata: {name: node.kube-node-1}\nspec: {listenPort: 500}',
    ),
    peers: ['Node_10_192_0_2 10.192.0.2 as 64512 source 10.192.0.3'],
    plan: { listenPort: 500 },
  },
  {
    name: 'explicit_peering/route_reflector: iBGP peers outside the cluster are clients',
    resources: `
kind: BGPConfiguration
metadata: {name: default}
spec: {asNumber: 64532, nodeToNodeMeshEnabled: false}
---
kind: BGPPeer
metadata: {name: bgppeer-1}
spec: {peerIP: 172.19.4.87, asNumber: 64533, nodeSelector: has(routeReflector)}
---
kind: BGPPeer
metadata: {name: bgppeer-v6}
spec: {peerIP: '[ac13::57]:50', asNumber: 64533, nodeSelector: has(routeReflector)}
---
kind: BGPPeer
metadata: {name: bgppeer-other-nodes}
spec: {nodeSelector: has(routeReflector), peerSelector: '!has(routeReflector)'}
---
${ROUTE_REFLECTOR_NODES}`,
    peers: [
      'Node_10_192_0_3 10.192.0.3 as 64532 source 10.192.0.2 rr-client',
      'Node_10_192_0_4 10.192.0.4 as 64532 source 10.192.0.2 rr-client',
      'Node_172_19_4_87 172.19.4.87 as 64533 source 10.192.0.2',
    ],
    problems: ['BGPPeer "bgppeer-v6": spec.peerIP: "[ac13::57]:50" is IPv6; tabby peers over IPv4 only: skipped'],
    plan: { asNumber: 64532, routeReflectorClusterId: '10.0.0.1' },
  },
  {
    // Calico renders "next hop keep" for the eBGP peer; tabby's speaker always sends itself as next hop to eBGP.
    name: 'explicit_peering/keepnexthop: the reflector reached through reverse peering from all()',
    resources: `
kind: BGPConfiguration
metadata: {name: default}
spec: {asNumber: 64532, nodeToNodeMeshEnabled: false}
---
kind: BGPPeer
metadata: {name: bgppeer-1}
spec: {peerIP: 172.19.4.87, asNumber: 64533, nodeSelector: has(routeReflector), keepOriginalNextHop: true}
---
kind: BGPPeer
metadata: {name: bgppeer-v6}
spec: {peerIP: '[ac13::57]:50', asNumber: 64533, nodeSelector: has(routeReflector), keepOriginalNextHop: true}
---
kind: BGPPeer
metadata: {name: bgppeer-other-nodes}
spec: {nodeSelector: all(), peerSelector: has(routeReflector)}
---
${ROUTE_REFLECTOR_NODES}`,
    peers: [
      'Node_10_192_0_3 10.192.0.3 as 64532 source 10.192.0.2 rr-client',
      'Node_10_192_0_4 10.192.0.4 as 64532 source 10.192.0.2 rr-client',
      'Node_172_19_4_87 172.19.4.87 as 64533 source 10.192.0.2',
    ],
    problems: [
      'BGPPeer "bgppeer-v6": spec.peerIP',
      'BGPPeer "bgppeer-1": keeping the next hop towards an eBGP peer is not supported',
    ],
  },
  {
    name: 'explicit_peering/keepnexthop-global',
    resources: `
kind: BGPConfiguration
metadata: {name: default}
spec: {asNumber: 64532, nodeToNodeMeshEnabled: false}
---
kind: BGPPeer
metadata: {name: bgppeer-1}
spec: {peerIP: 172.19.4.87, asNumber: 64533, keepOriginalNextHop: true}
---
kind: BGPPeer
metadata: {name: bgppeer-v6}
spec: {peerIP: '[ac13::57]:50', asNumber: 64533, keepOriginalNextHop: true}
---
${ROUTE_REFLECTOR_NODES}`,
    peers: ['Global_172_19_4_87 172.19.4.87 as 64533 source 10.192.0.2'],
    problems: ['BGPPeer "bgppeer-v6": spec.peerIP', 'BGPPeer "bgppeer-1": keeping the next hop'],
  },
  {
    // Calico renders Node_10_192_0_4 with "local as 65001"; tabby's speaker has one AS, so the peer is skipped.
    name: 'explicit_peering/local-as: localASNumber equal to ours is fine; another one is not supported',
    resources: `
${MESH_OFF}
---
kind: BGPPeer
metadata: {name: bgppeer-1}
spec: {peerIP: 10.192.0.3, asNumber: 64512, localASNumber: 64512, node: kube-master, numAllowedLocalASNumbers: 1}
---
kind: BGPPeer
metadata: {name: bgppeer-2}
spec: {peerIP: 10.192.0.4, asNumber: 64566, localASNumber: 65001, node: kube-master}
---
${THREE_NODES}`,
    peers: ['Node_10_192_0_3 10.192.0.3 as 64512 source 10.192.0.2'],
    problems: [
      'BGPPeer "bgppeer-1": spec.numAllowedLocalASNumbers is not supported: ignored',
      'BGPPeer "bgppeer-2": spec.localASNumber 65001: a local AS other than the node\'s (64512) is not supported: skipped',
    ],
  },
  {
    name: 'ttl_security/explicit_node',
    resources: `
${MESH_OFF}
---
${THREE_NODES}
---
kind: BGPPeer
metadata: {name: ttl-explicit-peer-1}
spec: {node: kube-master, peerIP: 10.192.0.3, asNumber: 64517, ttlSecurity: 1}
---
kind: BGPPeer
metadata: {name: ttl-explicit-peer-2}
spec: {node: kube-master, peerIP: 10.192.0.4, asNumber: 64517, ttlSecurity: 2}`,
    peers: [
      'Node_10_192_0_3 10.192.0.3 as 64517 source 10.192.0.2 ttl-security 1',
      'Node_10_192_0_4 10.192.0.4 as 64517 source 10.192.0.2 ttl-security 2',
    ],
  },
  {
    name: 'ttl_security/global: a global peerSelector peering; selected nodes are not made passive',
    resources: `
${MESH_OFF}
---
${ttlNodes(['kube-master', 'kube-node-1', 'kube-node-2'])}
---
kind: BGPPeer
metadata: {name: ttl-selector-peers}
spec: {peerSelector: has(ttl-security-node), ttlSecurity: 1}`,
    peers: [
      'Global_10_192_0_3 10.192.0.3 as 64512 source 10.192.0.2 ttl-security 1',
      'Global_10_192_0_4 10.192.0.4 as 64512 source 10.192.0.2 ttl-security 1',
    ],
  },
  {
    name: 'ttl_security/peer_selector',
    resources: `
${MESH_OFF}
---
${ttlNodes(['kube-node-1', 'kube-node-2'])}
---
kind: BGPPeer
metadata: {name: ttl-selector-peers}
spec: {node: kube-master, peerSelector: has(ttl-security-node), ttlSecurity: 1}`,
    peers: [
      'Node_10_192_0_3 10.192.0.3 as 64512 source 10.192.0.2 ttl-security 1',
      'Node_10_192_0_4 10.192.0.4 as 64512 source 10.192.0.2 ttl-security 1',
    ],
  },
  {
    name: 'next_hop_mode/global_peers',
    resources: `${MESH_OFF}\n---\n${THREE_NODES}\n---\n${externalRouteReflectors(
      '',
      ['nextHopMode: Keep', 'nextHopMode: Self'],
      ['nextHopMode: Keep', 'nextHopMode: Self'],
    )}`,
    peers: [
      'Global_10_225_0_4 10.225.0.4 as 65515 source 10.192.0.2',
      'Global_10_225_0_5 10.225.0.5 as 64512 source 10.192.0.2 next-hop-self',
    ],
    problems: [
      'BGPPeer "external-route-reflector-a-ipv6": spec.peerIP: "ffee::10" is IPv6',
      'BGPPeer "external-route-reflector-b-ipv6": spec.peerIP: "ffee::11" is IPv6',
      'BGPPeer "external-route-reflector-a-ipv4": keeping the next hop towards an eBGP peer',
    ],
  },
  {
    name: 'next_hop_mode/route_reflectors: node-specific external peers, the nodes by reverse peering',
    resources: `${MESH_OFF}
---
kind: Node
metadata: {name: kube-master, labels: {route-reflector: 'true'}}
spec: {bgp: {ipv4Address: 10.192.0.2/16}}
---
${NODE_1}
---
${NODE_2}
---
kind: BGPPeer
metadata: {name: peer-with-route-reflectors}
spec: {nodeSelector: all(), peerSelector: route-reflector == 'true'}
---
${externalRouteReflectors(
  ", nodeSelector: route-reflector == 'true'",
  ['nextHopMode: Keep', 'nextHopMode: Self'],
  ['nextHopMode: Keep', 'nextHopMode: Self'],
)}`,
    peers: [
      'Node_10_192_0_3 10.192.0.3 as 64512 source 10.192.0.2',
      'Node_10_192_0_4 10.192.0.4 as 64512 source 10.192.0.2',
      'Node_10_225_0_4 10.225.0.4 as 65515 source 10.192.0.2',
      'Node_10_225_0_5 10.225.0.5 as 64512 source 10.192.0.2 next-hop-self',
    ],
    problems: [
      'BGPPeer "external-route-reflector-a-ipv6": spec.peerIP',
      'BGPPeer "external-route-reflector-b-ipv6": spec.peerIP',
      'BGPPeer "external-route-reflector-a-ipv4": keeping the next hop',
    ],
  },
  {
    name: 'reachable_by/global_peers: a host route to each peer through its gateway',
    resources: `${MESH_OFF}\n---\n${THREE_NODES}\n---\n${externalRouteReflectors(
      ', keepOriginalNextHop: true',
      ['reachableBy: 10.224.0.1', 'reachableBy: 10.224.0.1'],
      ["reachableBy: 'ffee::1:1'", "reachableBy: 'ffee::1:1'"],
    )}`,
    peers: [
      'Global_10_225_0_4 10.225.0.4 as 65515 source 10.192.0.2',
      'Global_10_225_0_5 10.225.0.5 as 64512 source 10.192.0.2',
    ],
    problems: [
      'BGPPeer "external-route-reflector-a-ipv6": spec.peerIP',
      'BGPPeer "external-route-reflector-b-ipv6": spec.peerIP',
      'BGPPeer "external-route-reflector-a-ipv4": keeping the next hop',
    ],
    plan: {
      peerRoutes: [
        { destination: '10.225.0.4/32', gateway: '10.224.0.1' },
        { destination: '10.225.0.5/32', gateway: '10.224.0.1' },
      ],
    },
  },
  {
    name: 'reverse_peering/auto',
    resources: reversePeeringFixture('Auto'),
    peers: [
      'Node_10_192_0_3 10.192.0.3 as 64512 source 10.192.0.2',
      'Node_10_192_0_4 10.192.0.4 as 64512 source 10.192.0.2',
    ],
  },
  {
    name: 'reverse_peering/manual: no peering back',
    resources: reversePeeringFixture('Manual'),
    peers: [],
  },
  {
    name: 'password/step1 (node1): no secrets, no passwords',
    nodeName: 'node1',
    resources: PASSWORD_FIXTURE,
    peers: [
      'Node_10_24_0_2 10.24.0.2 as 64512 source 10.24.0.1',
      'Node_10_24_0_3 10.24.0.3 as 64512 source 10.24.0.1',
      'Node_10_24_10_10 10.24.10.10 as 64512 source 10.24.0.1',
    ],
    problems: [
      'BGPPeer "bgppeer-1": spec.password: secret "my-secrets-1" has no key "a": peering without a password',
      'BGPPeer "bgppeer-2": spec.password: secret "my-secrets-1" has no key "b"',
      'BGPPeer "bgppeer-3": spec.password: secret "my-secrets-2" has no key "c"',
    ],
  },
  {
    name: 'password/step3 (node1): every secret',
    nodeName: 'node1',
    resources: PASSWORD_FIXTURE,
    secrets: { 'my-secrets-1': { a: 'password-a', b: 'password-b' }, 'my-secrets-2': { c: 'password-c' } },
    peers: [
      'Node_10_24_0_2 10.24.0.2 as 64512 source 10.24.0.1 password password-a',
      'Node_10_24_0_3 10.24.0.3 as 64512 source 10.24.0.1 password password-b',
      'Node_10_24_10_10 10.24.10.10 as 64512 source 10.24.0.1 password password-c',
    ],
  },
  {
    name: 'password/step6 (node1): key "a" removed, my-secrets-2 deleted',
    nodeName: 'node1',
    resources: PASSWORD_FIXTURE,
    secrets: { 'my-secrets-1': { b: 'new-password-b' } },
    peers: [
      'Node_10_24_0_2 10.24.0.2 as 64512 source 10.24.0.1',
      'Node_10_24_0_3 10.24.0.3 as 64512 source 10.24.0.1 password new-password-b',
      'Node_10_24_10_10 10.24.10.10 as 64512 source 10.24.0.1',
    ],
    problems: ['BGPPeer "bgppeer-1": spec.password', 'BGPPeer "bgppeer-3": spec.password'],
  },
  {
    name: 'mesh/password/step1: nodeMeshPassword before its secret exists',
    resources: MESH_PASSWORD_FIXTURE,
    peers: [
      'Mesh_10_192_0_3 10.192.0.3 as 64512 source 10.192.0.2 passive',
      'Mesh_10_192_0_4 10.192.0.4 as 64512 source 10.192.0.2 passive',
    ],
    problems: ['BGPConfiguration "default": spec.nodeMeshPassword: secret "my-secrets-1" has no key "a"'],
  },
  {
    name: 'mesh/password/step2: nodeMeshPassword',
    resources: MESH_PASSWORD_FIXTURE,
    secrets: { 'my-secrets-1': { a: 'password-a' } },
    peers: [
      'Mesh_10_192_0_3 10.192.0.3 as 64512 source 10.192.0.2 passive password password-a',
      'Mesh_10_192_0_4 10.192.0.4 as 64512 source 10.192.0.2 passive password password-a',
    ],
  },
  {
    name: 'sourceaddr_gracefulrestart/step1 (node1): the node address as source by default',
    nodeName: 'node1',
    resources: sourceAddressFixture(''),
    peers: ['Node_172_17_0_6 172.17.0.6 as 64512 source 172.17.0.5'],
  },
  {
    name: 'sourceaddr_gracefulrestart/step2 (node1): sourceAddress None',
    nodeName: 'node1',
    resources: sourceAddressFixture(', sourceAddress: None'),
    peers: ['Node_172_17_0_6 172.17.0.6 as 64512'],
  },
  {
    name: 'sourceaddr_gracefulrestart/step3 (node1): maxRestartTime',
    nodeName: 'node1',
    resources: sourceAddressFixture(', sourceAddress: None, maxRestartTime: 10s'),
    peers: ['Node_172_17_0_6 172.17.0.6 as 64512 restart 10'],
  },
  {
    name: 'mesh/static-routes-no-ipv4-address: a node without an IPv4 address peers with nobody',
    resources: `
kind: BGPConfiguration
metadata: {name: default}
spec: {serviceClusterIPs: [{cidr: 10.101.0.0/16}]}
---
kind: Node
metadata: {name: kube-master}
spec: {}
---
${NODE_1}`,
    peers: [],
    problems: [
      'BGPConfiguration "default": spec.serviceClusterIPs: advertising service addresses is not supported',
      'Node "kube-master": spec.bgp.ipv4Address is not set: no IPv4 peerings',
    ],
    plan: { routerId: '' },
  },
];

function selectorsFixture(nodeConfiguration: string): string {
  return `
${MESH_OFF}${nodeConfiguration}
---
kind: BGPPeer
metadata: {name: bgppeer-1}
spec: {nodeSelector: group=='one', peerSelector: group=='two'}
---
kind: Node
metadata: {name: kube-master, labels: {group: one}}
spec: {bgp: {ipv4Address: 10.192.0.2/16}}
---
kind: Node
metadata: {name: kube-node-1, labels: {group: two}}
spec: {bgp: {ipv4Address: 10.192.0.3/16}}
---
kind: Node
metadata: {name: kube-node-2, labels: {group: two}}
spec: {bgp: {ipv4Address: 10.192.0.4/16}}`;
}

/** The three fixture nodes, those named carrying the label ttl-security-node. */
function ttlNodes(labelled: string[]): string {
  return [
    ['kube-master', '10.192.0.2/16'],
    ['kube-node-1', '10.192.0.3/16'],
    ['kube-node-2', '10.192.0.4/16'],
  ]
    .map(([name, address]) => {
      const labels = labelled.includes(name as string) ? ", labels: {ttl-security-node: 'yes'}" : '';
      return `kind: Node\nmetadata: {name: ${name}${labels}}\nspec: {bgp: {ipv4Address: ${address}}}`;
    })
    .join('\n---\n');
}

function reversePeeringFixture(mode: 'Auto' | 'Manual'): string {
  return `
${MESH_OFF}
---
kind: Node
metadata: {name: kube-master, labels: {route-reflector: 'true'}}
spec: {bgp: {ipv4Address: 10.192.0.2/16}}
---
${NODE_1}
---
${NODE_2}
---
kind: BGPPeer
metadata: {name: peer-with-route-reflectors}
spec: {nodeSelector: all(), peerSelector: route-reflector == 'true', reversePeering: ${mode}}`;
}

function inputFrom(text: string, nodeName = 'kube-master', secrets?: PeeringInput['secrets']): PeeringInput {
  const resources = parseAllDocuments(text).map((document) => {
    const resource = document.toJS() as Resource;
    return { ...resource, apiVersion: resource.apiVersion ?? 'projectcalico.org/v3' };
  });
  const ofKind = (kind: string) => resources.filter((resource) => resource.kind === kind);
  return {
    nodeName,
    nodes: ofKind('Node'),
    bgpPeers: ofKind('BGPPeer'),
    bgpConfigurations: ofKind('BGPConfiguration'),
    ...(secrets ? { secrets } : {}),
  };
}

/** One line per peer, in the words of BIRD's protocol (see the top of this file); defaults left out. */
function describePeer(peer: SpeakerPeerConfig): string {
  const words = [`${peer.name} ${peer.address}${peer.port === 179 ? '' : `:${peer.port}`} as ${peer.asNumber}`];
  if (peer.localAddress) words.push(`source ${peer.localAddress}`);
  if (peer.passive) words.push('passive');
  if (peer.ttlSecurity) words.push(`ttl-security ${peer.ttlSecurity}`);
  if (peer.routeReflectorClient) words.push('rr-client');
  if (peer.nextHopSelf) words.push('next-hop-self');
  if (peer.password) words.push(`password ${peer.password}`);
  if (peer.restartTimeSec !== 120) words.push(`restart ${peer.restartTimeSec}`);
  if (peer.keepaliveTimeSec !== 80) words.push(`keepalive ${peer.keepaliveTimeSec}`);
  return words.join(' ');
}

const TYPE_BY_NAME_PREFIX: Record<string, string> = {
  Mesh: 'node-to-node mesh',
  Global: 'global',
  Node: 'node specific',
};

function assertProblems(actual: string[], expected: string[]): void {
  assert.equal(actual.length, expected.length, `problems: ${JSON.stringify(actual, null, 2)}`);
  expected.forEach((text, i) => {
    assert.ok(actual[i]?.includes(text), `problem ${i}: ${JSON.stringify(actual[i])} should contain ${text}`);
  });
}

describe('planPeering: Calico confd fixtures', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const plan = planPeering(inputFrom(c.resources, c.nodeName, c.secrets));
      assert.deepEqual(plan.peers.map(describePeer), c.peers);
      assertProblems(plan.problems, c.problems ?? []);
      for (const [field, value] of Object.entries(c.plan ?? {})) {
        assert.deepEqual(plan[field as keyof PeeringPlan], value, field);
      }
      for (const peer of plan.peers) {
        assert.equal(peer.type, TYPE_BY_NAME_PREFIX[peer.name.split('_')[0] as string], peer.name);
        // DESIGN §2: Calico's bgp_template (BIRD's defaults and "connect retry time 5", "graceful restart").
        assert.equal(peer.holdTimeSec, 240);
        assert.equal(peer.connectRetrySec, 5);
        assert.equal(peer.gracefulRestart, true);
        assert.deepEqual(peer.families, [[1, 1]]);
      }
    });
  }
});

describe('planPeering: beyond the fixtures', () => {
  it('gives the speaker a complete peer with the defaults of DESIGN §2', () => {
    const plan = planPeering(inputFrom(THREE_NODES));
    assert.deepEqual(plan.peers[0], {
      address: '10.192.0.3',
      port: 179,
      asNumber: 64512,
      localAddress: '10.192.0.2',
      passive: true,
      password: '',
      holdTimeSec: 240,
      keepaliveTimeSec: 80,
      connectRetrySec: 5,
      ttlSecurity: 0,
      gracefulRestart: true,
      restartTimeSec: 120,
      families: [[1, 1]],
      routeReflectorClient: false,
      nextHopSelf: false,
      type: 'node-to-node mesh',
      name: 'Mesh_10_192_0_3',
    });
    assert.deepEqual(plan.problems, []);
  });

  it('takes the AS from defaultAsNumber when no resource sets one', () => {
    const plan = planPeering({ ...inputFrom(THREE_NODES), defaultAsNumber: 65100 });
    assert.equal(plan.asNumber, 65100);
    assert.deepEqual(
      plan.peers.map((peer) => peer.asNumber),
      [65100, 65100],
    );
  });

  it('keeps one session per address: an explicit peering wins over the mesh', () => {
    const plan = planPeering(
      inputFrom(`${THREE_NODES}
---
kind: BGPPeer
metadata: {name: everyone}
spec: {peerSelector: all(), ttlSecurity: 1}`),
    );
    assert.deepEqual(plan.peers.map(describePeer), [
      'Global_10_192_0_3 10.192.0.3 as 64512 source 10.192.0.2 ttl-security 1',
      'Global_10_192_0_4 10.192.0.4 as 64512 source 10.192.0.2 ttl-security 1',
    ]);
    assertProblems(plan.problems, [
      'peering Mesh_10_192_0_3 dropped: Global_10_192_0_3 already peers with 10.192.0.3',
      'peering Mesh_10_192_0_4 dropped: Global_10_192_0_4 already peers with 10.192.0.4',
    ]);
  });

  it('lets a global peering shadow a node-specific one to the same address and port, as Calico does', () => {
    const plan = planPeering(
      inputFrom(`${MESH_OFF}
---
${THREE_NODES}
---
kind: BGPPeer
metadata: {name: a-node-specific}
spec: {node: kube-master, peerIP: 192.0.2.1, asNumber: 65000, ttlSecurity: 3}
---
kind: BGPPeer
metadata: {name: b-global}
spec: {peerIP: 192.0.2.1, asNumber: 65000}`),
    );
    assert.deepEqual(plan.peers.map(describePeer), ['Global_192_0_2_1 192.0.2.1 as 65000 source 10.192.0.2']);
    assert.deepEqual(plan.problems, []);
  });

  it('skips a BGPPeer it cannot read and says why, whichever node it names', () => {
    const plan = planPeering(
      inputFrom(`${MESH_OFF}
---
${THREE_NODES}
---
kind: BGPPeer
metadata: {name: bad-node-selector}
spec: {nodeSelector: 'a ==', peerIP: 192.0.2.1, asNumber: 65000}
---
kind: BGPPeer
metadata: {name: bad-peer-selector}
spec: {node: kube-node-1, peerSelector: 'has('}
---
kind: BGPPeer
metadata: {name: no-as}
spec: {peerIP: 192.0.2.2}
---
kind: BGPPeer
metadata: {name: no-peer}
spec: {node: kube-master}
---
kind: BGPPeer
metadata: {name: workloads}
spec: {localWorkloadSelector: has(bgp), asNumber: 65001}
---
kind: BGPPeer
metadata: {name: elsewhere}
spec: {node: kube-node-1, peerIP: 'not-an-ip', asNumber: 65000}
---
kind: BGPPeer
metadata: {name: good}
spec: {peerIP: 192.0.2.3, asNumber: 65000, keepaliveTime: 30s, filters: [only-default]}`),
    );
    assert.deepEqual(plan.peers.map(describePeer), [
      'Global_192_0_2_3 192.0.2.3 as 65000 source 10.192.0.2 keepalive 30',
    ]);
    assertProblems(plan.problems, [
      'BGPPeer "bad-node-selector": spec.nodeSelector: selector "a =="',
      'BGPPeer "bad-peer-selector": spec.peerSelector: selector "has("',
      'BGPPeer "no-as": spec.asNumber: required with peerIP: skipped',
      'BGPPeer "no-peer": spec.peerIP: neither peerIP nor peerSelector is set: skipped',
      'BGPPeer "workloads": spec.localWorkloadSelector: peering with local workloads is not supported: skipped',
      'BGPPeer "good": spec.filters (BGPFilter) are not supported: ignored',
    ]);
  });

  it('reports durations out of range and unreadable values', () => {
    const plan = planPeering(
      inputFrom(`${MESH_OFF}
---
${THREE_NODES}
---
kind: BGPPeer
metadata: {name: long}
spec: {peerIP: 192.0.2.1, asNumber: 65000, maxRestartTime: 2h, keepaliveTime: 100ms}
---
kind: BGPPeer
metadata: {name: password-text}
spec: {peerIP: 192.0.2.2, asNumber: 65000, password: secret, reachableBy: 'fe80::1'}`),
    );
    assert.deepEqual(plan.peers.map(describePeer), [
      'Global_192_0_2_1 192.0.2.1 as 65000 source 10.192.0.2 restart 4095',
      'Global_192_0_2_2 192.0.2.2 as 65000 source 10.192.0.2',
    ]);
    assertProblems(plan.problems, [
      'BGPPeer "long": spec.maxRestartTime: 2h is more than 4095s: 4095s used',
      'BGPPeer "long": spec.keepaliveTime: must be at least 1s: ignored',
      'BGPPeer "password-text": spec.password: must be {secretKeyRef: {name, key}}: peering without a password',
      'BGPPeer "password-text": spec.reachableBy "fe80::1" is not an IPv4 address: ignored',
    ]);
  });

  it('says when this node is not among the Nodes', () => {
    const plan = planPeering(inputFrom(THREE_NODES, 'elsewhere'));
    assert.deepEqual(plan.peers, []);
    assertProblems(plan.problems, ['Node "elsewhere" not found: no peerings']);
  });

  it("prefers the node's own prefixAdvertisements, with the communities that resource defines", () => {
    const plan = planPeering(
      inputFrom(`
kind: BGPConfiguration
metadata: {name: default}
spec:
  communities: [{name: everywhere, value: '65000:1'}]
  prefixAdvertisements: [{cidr: 10.0.0.0/8, communities: [everywhere]}]
---
kind: BGPConfiguration
metadata: {name: node.kube-master}
spec:
  communities: [{name: here, value: '65000:2'}]
  prefixAdvertisements:
    - {cidr: 192.168.0.0/16, communities: [here, '65000:3:4', here, everywhere]}
    - {cidr: 172.16.0.0/12, communities: [nothing]}
---
kind: BGPConfiguration
metadata: {name: misnamed}
spec: {}
---
${THREE_NODES}`),
    );
    assert.deepEqual(plan.prefixAdvertisements, [
      { cidr: '192.168.0.0/16', communities: [65000 * 65536 + 2], largeCommunities: [[65000, 3, 4]] },
    ]);
    assertProblems(plan.problems, [
      'BGPConfiguration "misnamed": ignored',
      'BGPConfiguration "node.kube-master": spec.prefixAdvertisements[0].communities: "everywhere" is neither',
      'BGPConfiguration "node.kube-master": spec.prefixAdvertisements[1].communities: "nothing" is neither',
    ]);
  });
});
