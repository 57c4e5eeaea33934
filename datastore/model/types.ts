// The schemas of every kind tabby stores, as TypeBox values (JSON Schema) and the TypeScript types they imply.
// Field names, types, enums and documented defaults are Calico v3.32's (api/pkg/apis/projectcalico/v3, and
// libcalico-go's internalapi for Node and WorkloadEndpoint) and Kubernetes networking/v1's. The same schemas
// check documents here, validate REST requests and make up the OpenAPI document.
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { KINDS, type KindInfo, kindId } from '../kinds';
import {
  AsNumber,
  BGPPasswordSchema,
  ConditionSchema,
  Duration,
  IntOrString,
  ObjectMetaSchema,
  OneOf,
  POLICY_TYPES,
  Protocol,
  RuleSchema,
  SelectorText,
  StringMap,
  Struct,
} from './common';
import { FelixConfigurationSpecSchema } from './felix';

export type { EntityRule, Rule } from './common';
export type { FelixConfigurationSpec } from './felix';

const Opt = Type.Optional;
const ENCAP_MODES = ['Never', 'Always', 'CrossSubnet'] as const;
const IPPOOL_ALLOWED_USES = ['Workload', 'Tunnel', 'LoadBalancer'] as const;

// ---- IPPool

const IPPoolSpecSchema = Struct({
  cidr: Type.String({ maxLength: 48, description: 'The pool CIDR, e.g. 192.168.0.0/16 (no host bits)' }),
  vxlanMode: Opt(OneOf(ENCAP_MODES, { default: 'Never' })),
  ipipMode: Opt(OneOf(ENCAP_MODES, { default: 'Never' })),
  natOutgoing: Opt(Type.Boolean()),
  disabled: Opt(Type.Boolean()),
  disableBGPExport: Opt(Type.Boolean()),
  blockSize: Opt(
    Type.Integer({
      description: 'Prefix length of IPAM blocks: 20-32 (IPv4, default 26), 116-128 (IPv6, default 122)',
    }),
  ),
  nodeSelector: Opt(SelectorText({ default: 'all()' })),
  namespaceSelector: Opt(SelectorText()),
  allowedUses: Opt(Type.Array(OneOf(IPPOOL_ALLOWED_USES), { maxItems: 10, default: ['Workload', 'Tunnel'] })),
  assignmentMode: Opt(OneOf(['Automatic', 'Manual'], { default: 'Automatic' })),
});
const IPPoolStatusSchema = Struct({ conditions: Opt(Type.Array(ConditionSchema)) });

// ---- BGPPeer

const BGPPeerSpecSchema = Struct({
  node: Opt(Type.String({ maxLength: 253 })),
  nodeSelector: Opt(SelectorText()),
  peerIP: Opt(Type.String({ maxLength: 64, description: 'IP, "IPv4:port" or "[IPv6]:port"' })),
  asNumber: Opt(AsNumber()),
  localASNumber: Opt(AsNumber()),
  peerSelector: Opt(SelectorText()),
  keepOriginalNextHop: Opt(Type.Boolean()),
  nextHopMode: Opt(OneOf(['Auto', 'Self', 'Keep'])),
  password: Opt(BGPPasswordSchema),
  sourceAddress: Opt(OneOf(['UseNodeIP', 'None'])),
  maxRestartTime: Opt(Duration()),
  keepaliveTime: Opt(Duration()),
  numAllowedLocalASNumbers: Opt(Type.Integer({ minimum: 0, maximum: 2147483647 })),
  ttlSecurity: Opt(Type.Integer({ minimum: 0, maximum: 255 })),
  reachableBy: Opt(Type.String({ maxLength: 64 })),
  filters: Opt(Type.Array(Type.String())),
  localWorkloadSelector: Opt(SelectorText()),
  reversePeering: Opt(OneOf(['Auto', 'Manual'])),
});

// ---- BGPConfiguration

const CidrBlockSchema = Struct({ cidr: Opt(Type.String()) });

const BGPConfigurationSpecSchema = Struct({
  logSeverityScreen: Opt(
    Type.String({
      default: 'Info',
      pattern:
        '^([tT][rR][aA][cC][eE]|[dD][eE][bB][uU][gG]|[iI][nN][fF][oO]|[wW][aA][rR][nN][iI][nN][gG]|[eE][rR][rR][oO][rR]|[fF][aA][tT][aA][lL])?$',
      errorMessage: 'must be one of Trace, Debug, Info, Warning, Error, Fatal (any case)',
    }),
  ),
  nodeToNodeMeshEnabled: Opt(Type.Boolean()),
  asNumber: Opt(AsNumber()),
  serviceLoadBalancerIPs: Opt(Type.Array(CidrBlockSchema)),
  serviceExternalIPs: Opt(Type.Array(CidrBlockSchema)),
  serviceClusterIPs: Opt(Type.Array(CidrBlockSchema)),
  serviceLoadBalancerAggregation: Opt(OneOf(['Enabled', 'Disabled'], { default: 'Enabled' })),
  communities: Opt(
    Type.Array(Struct({ name: Opt(Type.String({ maxLength: 253 })), value: Opt(Type.String({ maxLength: 40 })) }), {
      maxItems: 500,
    }),
  ),
  prefixAdvertisements: Opt(
    Type.Array(Struct({ cidr: Opt(Type.String()), communities: Opt(Type.Array(Type.String(), { maxItems: 50 })) }), {
      maxItems: 500,
    }),
  ),
  listenPort: Opt(Type.Integer({ minimum: 1, maximum: 65535 })),
  nodeMeshPassword: Opt(BGPPasswordSchema),
  nodeMeshMaxRestartTime: Opt(Duration()),
  bindMode: Opt(OneOf(['None', 'NodeIP'])),
  ignoredInterfaces: Opt(Type.Array(Type.String())),
  localWorkloadPeeringIPV4: Opt(Type.String()),
  localWorkloadPeeringIPV6: Opt(Type.String()),
  programClusterRoutes: Opt(OneOf(['Enabled', 'Disabled', 'EnabledIPIPOnly', 'EnabledNoEncapOnly'])),
  ipv4NormalRoutePriority: Opt(Type.Integer({ minimum: 1, maximum: 2147483646 })),
  ipv6NormalRoutePriority: Opt(Type.Integer({ minimum: 1, maximum: 2147483646 })),
});

// ---- Node (libcalico-go internalapi)

const NodeBGPSpecSchema = Struct({
  asNumber: Opt(AsNumber()),
  ipv4Address: Opt(Type.String({ description: "The node's IPv4 address with its subnet, e.g. 10.0.0.5/24" })),
  ipv6Address: Opt(Type.String()),
  ipv4IPIPTunnelAddr: Opt(Type.String()),
  routeReflectorClusterID: Opt(Type.String()),
});

const NodeSpecSchema = Struct({
  bgp: Opt(NodeBGPSpecSchema),
  ipv4VXLANTunnelAddr: Opt(Type.String()),
  vxlanTunnelMACAddr: Opt(Type.String()),
  ipv6VXLANTunnelAddr: Opt(Type.String()),
  vxlanTunnelMACAddrV6: Opt(Type.String()),
  orchRefs: Opt(Type.Array(Struct({ nodeName: Opt(Type.String()), orchestrator: Type.String() }))),
  wireguard: Opt(Struct({ interfaceIPv4Address: Opt(Type.String()), interfaceIPv6Address: Opt(Type.String()) })),
  addresses: Opt(
    Type.Array(Struct({ address: Type.String(), type: Opt(OneOf(['CalicoNodeIP', 'InternalIP', 'ExternalIP'])) })),
  ),
  interfaces: Opt(Type.Array(Struct({ name: Opt(Type.String()), addresses: Opt(Type.Array(Type.String())) }))),
});

const NodeStatusSchema = Struct({
  wireguardPublicKey: Opt(Type.String()),
  wireguardPublicKeyV6: Opt(Type.String()),
  podCIDRs: Opt(Type.Array(Type.String())),
});

// ---- WorkloadEndpoint (libcalico-go internalapi) and HostEndpoint

const QoSControlsSchema = Struct({
  ingressBandwidth: Opt(Type.Integer()),
  ingressBurst: Opt(Type.Integer()),
  ingressPeakrate: Opt(Type.Integer()),
  ingressMinburst: Opt(Type.Integer()),
  egressBandwidth: Opt(Type.Integer()),
  egressBurst: Opt(Type.Integer()),
  egressPeakrate: Opt(Type.Integer()),
  egressMinburst: Opt(Type.Integer()),
  ingressPacketRate: Opt(Type.Integer()),
  ingressPacketBurst: Opt(Type.Integer()),
  egressPacketRate: Opt(Type.Integer()),
  egressPacketBurst: Opt(Type.Integer()),
  ingressMaxConnections: Opt(Type.Integer()),
  egressMaxConnections: Opt(Type.Integer()),
  dscp: Opt(IntOrString({ description: 'A DSCP value 0-63 or a name such as "EF"' })),
});

const WorkloadEndpointSpecSchema = Struct({
  orchestrator: Opt(Type.String()),
  workload: Opt(Type.String()),
  node: Opt(Type.String()),
  containerID: Opt(Type.String()),
  pod: Opt(Type.String()),
  endpoint: Opt(Type.String()),
  serviceAccountName: Opt(Type.String()),
  ipNetworks: Opt(Type.Array(Type.String())),
  ipNATs: Opt(Type.Array(Struct({ internalIP: Type.String(), externalIP: Type.String() }))),
  ipv4Gateway: Opt(Type.String()),
  ipv6Gateway: Opt(Type.String()),
  profiles: Opt(Type.Array(Type.String())),
  interfaceName: Opt(Type.String()),
  mac: Opt(Type.String()),
  ports: Opt(
    Type.Array(
      Struct({
        name: Opt(Type.String()),
        protocol: Protocol(),
        port: Type.Integer({ minimum: 1, maximum: 65535 }),
        hostPort: Opt(Type.Integer({ minimum: 0, maximum: 65535 })),
        hostIP: Opt(Type.String()),
      }),
    ),
  ),
  allowSpoofedSourcePrefixes: Opt(Type.Array(Type.String())),
  qosControls: Opt(QoSControlsSchema),
});

const HostEndpointSpecSchema = Struct({
  node: Opt(Type.String({ maxLength: 253 })),
  interfaceName: Opt(Type.String({ maxLength: 15, description: 'An interface name, or "*" for all of them' })),
  expectedIPs: Opt(Type.Array(Type.String())),
  profiles: Opt(Type.Array(Type.String())),
  ports: Opt(
    Type.Array(
      Struct({ name: Type.String(), protocol: Protocol(), port: Type.Integer({ minimum: 1, maximum: 65535 }) }),
    ),
  ),
});

// ---- Policy kinds

const policyCommon = {
  tier: Opt(Type.String({ default: 'default' })),
  order: Opt(Type.Number()),
  ingress: Opt(Type.Array(RuleSchema, { maxItems: 1024 })),
  egress: Opt(Type.Array(RuleSchema, { maxItems: 1024 })),
  selector: Opt(SelectorText()),
  types: Opt(
    Type.Array(OneOf(POLICY_TYPES), {
      minItems: 1,
      maxItems: 2,
      description: 'Default: Ingress, plus Egress when there are egress rules (Egress alone without ingress rules)',
    }),
  ),
  serviceAccountSelector: Opt(SelectorText()),
  performanceHints: Opt(Type.Array(OneOf(['AssumeNeededOnEveryNode']))),
};

const NetworkPolicySpecSchema = Struct(policyCommon);

const GlobalNetworkPolicySpecSchema = Struct({
  ...policyCommon,
  doNotTrack: Opt(Type.Boolean()),
  preDNAT: Opt(Type.Boolean()),
  applyOnForward: Opt(Type.Boolean()),
  namespaceSelector: Opt(SelectorText()),
});

const NetworkSetSpecSchema = Struct({ nets: Opt(Type.Array(Type.String())) });
const GlobalNetworkSetSpecSchema = NetworkSetSpecSchema;

const ProfileSpecSchema = Struct({
  ingress: Opt(Type.Array(RuleSchema)),
  egress: Opt(Type.Array(RuleSchema)),
  labelsToApply: Opt(StringMap()),
});

const TierSpecSchema = Struct({
  order: Opt(Type.Number()),
  defaultAction: Opt(OneOf(['Deny', 'Pass'], { default: 'Deny' })),
});
const TierStatusSchema = Struct({ conditions: Opt(Type.Array(ConditionSchema)) });

// ---- IPAMConfiguration

const IPAMConfigurationSpecSchema = Struct({
  strictAffinity: Opt(Type.Boolean({ default: false })),
  maxBlocksPerHost: Opt(Type.Integer({ minimum: 0, maximum: 1000000 })),
  autoAllocateBlocks: Opt(Type.Boolean({ default: true })),
  kubeVirtVMAddressPersistence: Opt(OneOf(['Enabled', 'Disabled'])),
  ipCooldownSeconds: Opt(Type.Integer({ minimum: 0, maximum: 1200 })),
});

// ---- CalicoNodeStatus: what a node reports about itself when asked to (Calico's nodestatus.go). The spec says
// which classes of information, for which node, how often; the node writes the status.

const NODE_STATUS_CLASSES = ['Agent', 'BGP', 'Routes'] as const;
const BGP_PEER_TYPES = ['NodeMesh', 'NodePeer', 'GlobalPeer'] as const;
const BGP_SESSION_STATES = ['Idle', 'Connect', 'Active', 'OpenSent', 'OpenConfirm', 'Established', 'Close'] as const;
/** Calico: "Maximum update period is one day". */
const MAX_UPDATE_PERIOD_SECONDS = 86400;

const CalicoNodeStatusSpecSchema = Struct({
  node: Opt(Type.String({ description: 'The node whose status is reported' })),
  classes: Opt(Type.Array(OneOf(NODE_STATUS_CLASSES), { description: 'What to report: Agent, BGP, Routes' })),
  updatePeriodSeconds: Opt(
    Type.Integer({
      minimum: 0,
      maximum: MAX_UPDATE_PERIOD_SECONDS,
      description: 'How often the status is refreshed; 0 turns refreshing off',
    }),
  ),
});

const BGPDaemonStatusSchema = Struct({
  state: Opt(OneOf(['Ready', 'NotReady'])),
  version: Opt(Type.String()),
  routerID: Opt(Type.String()),
  lastBootTime: Opt(Type.String()),
  lastReconfigurationTime: Opt(Type.String()),
});

/** tabby's extension of the Agent class: felix's view of the dataplane, which Calico reports nowhere. */
const FelixAgentStatusSchema = Struct({
  inSync: Opt(Type.Boolean()),
  endpoints: Opt(Type.Integer({ minimum: 0 })),
  policies: Opt(Type.Integer({ minimum: 0 })),
  lastApplyAt: Opt(Type.String({ description: 'When the last dataplane apply ended (RFC 3339)' })),
});

const CalicoNodePeerSchema = Struct({
  peerIP: Opt(Type.String()),
  type: Opt(OneOf(BGP_PEER_TYPES)),
  state: Opt(OneOf(BGP_SESSION_STATES)),
  since: Opt(Type.String()),
});

const CalicoNodeRouteSchema = Struct({
  type: Opt(OneOf(['FIB', 'RIB'])),
  destination: Opt(Type.String()),
  gateway: Opt(Type.String()),
  interface: Opt(Type.String()),
  learnedFrom: Opt(
    Struct({
      sourceType: Opt(OneOf(['Kernel', 'Static', 'Direct', 'NodeMesh', 'BGPPeer'])),
      peerIP: Opt(Type.String()),
    }),
  ),
});

const CalicoNodeStatusStatusSchema = Struct({
  // metav1.Time: Go writes a zero time as null.
  lastUpdated: Opt(Type.Union([Type.String(), Type.Null()])),
  agent: Opt(
    Struct({
      birdV4: Opt(BGPDaemonStatusSchema),
      birdV6: Opt(BGPDaemonStatusSchema),
      felix: Opt(FelixAgentStatusSchema),
    }),
  ),
  bgp: Opt(
    Struct({
      numberEstablishedV4: Opt(Type.Integer({ minimum: 0 })),
      numberNotEstablishedV4: Opt(Type.Integer({ minimum: 0 })),
      numberEstablishedV6: Opt(Type.Integer({ minimum: 0 })),
      numberNotEstablishedV6: Opt(Type.Integer({ minimum: 0 })),
      peersV4: Opt(Type.Array(CalicoNodePeerSchema)),
      peersV6: Opt(Type.Array(CalicoNodePeerSchema)),
    }),
  ),
  routes: Opt(
    Struct({
      routesV4: Opt(Type.Array(CalicoNodeRouteSchema)),
      routesV6: Opt(Type.Array(CalicoNodeRouteSchema)),
    }),
  ),
});

// ---- Kubernetes networking.k8s.io/v1 NetworkPolicy

const LabelSelectorSchema = Struct({
  matchLabels: Opt(StringMap()),
  matchExpressions: Opt(
    Type.Array(
      Struct({
        key: Type.String(),
        operator: OneOf(['In', 'NotIn', 'Exists', 'DoesNotExist']),
        values: Opt(Type.Array(Type.String())),
      }),
    ),
  ),
});

const KubernetesNetworkPolicyPortSchema = Struct({
  protocol: Opt(OneOf(['TCP', 'UDP', 'SCTP'], { default: 'TCP' })),
  port: Opt(IntOrString({ description: 'A port number or a named port' })),
  endPort: Opt(Type.Integer()),
});

const KubernetesNetworkPolicyPeerSchema = Struct({
  podSelector: Opt(LabelSelectorSchema),
  namespaceSelector: Opt(LabelSelectorSchema),
  ipBlock: Opt(Struct({ cidr: Type.String(), except: Opt(Type.Array(Type.String())) })),
});

const KubernetesNetworkPolicySpecSchema = Struct({
  podSelector: Opt(LabelSelectorSchema),
  ingress: Opt(
    Type.Array(
      Struct({
        ports: Opt(Type.Array(KubernetesNetworkPolicyPortSchema)),
        from: Opt(Type.Array(KubernetesNetworkPolicyPeerSchema)),
      }),
    ),
  ),
  egress: Opt(
    Type.Array(
      Struct({
        ports: Opt(Type.Array(KubernetesNetworkPolicyPortSchema)),
        to: Opt(Type.Array(KubernetesNetworkPolicyPeerSchema)),
      }),
    ),
  ),
  policyTypes: Opt(Type.Array(OneOf(POLICY_TYPES), { maxItems: 2 })),
});

// ---- The registry: kind id → whole-document schema

interface KindSchemas {
  spec: TSchema;
  status?: TSchema;
}

const SCHEMAS_BY_KIND: Record<string, KindSchemas> = {
  'projectcalico.org/IPPool': { spec: IPPoolSpecSchema, status: IPPoolStatusSchema },
  'projectcalico.org/BGPPeer': { spec: BGPPeerSpecSchema },
  'projectcalico.org/BGPConfiguration': { spec: BGPConfigurationSpecSchema },
  'projectcalico.org/FelixConfiguration': { spec: FelixConfigurationSpecSchema },
  'projectcalico.org/Node': { spec: NodeSpecSchema, status: NodeStatusSchema },
  'projectcalico.org/WorkloadEndpoint': { spec: WorkloadEndpointSpecSchema },
  'projectcalico.org/HostEndpoint': { spec: HostEndpointSpecSchema },
  'projectcalico.org/NetworkPolicy': { spec: NetworkPolicySpecSchema },
  'projectcalico.org/GlobalNetworkPolicy': { spec: GlobalNetworkPolicySpecSchema },
  'projectcalico.org/NetworkSet': { spec: NetworkSetSpecSchema },
  'projectcalico.org/GlobalNetworkSet': { spec: GlobalNetworkSetSpecSchema },
  'projectcalico.org/Profile': { spec: ProfileSpecSchema },
  'projectcalico.org/IPAMConfiguration': { spec: IPAMConfigurationSpecSchema },
  'projectcalico.org/Tier': { spec: TierSpecSchema, status: TierStatusSchema },
  'projectcalico.org/CalicoNodeStatus': { spec: CalicoNodeStatusSpecSchema, status: CalicoNodeStatusStatusSchema },
  'networking.k8s.io/NetworkPolicy': { spec: KubernetesNetworkPolicySpecSchema },
};

function resourceSchema(kind: KindInfo): TSchema {
  const schemas = SCHEMAS_BY_KIND[kindId(kind)];
  if (!schemas) throw new Error(`no schema for kind ${kindId(kind)}`);
  return Struct(
    {
      apiVersion: Type.Literal(kind.apiVersion),
      kind: Type.Literal(kind.kind),
      metadata: ObjectMetaSchema,
      spec: Opt(schemas.spec),
      ...(schemas.status ? { status: Opt(schemas.status) } : {}),
    },
    { title: `${kind.kind} (${kind.apiVersion})` },
  );
}

/** The schema of a whole document of each kind, keyed by `kindId` (e.g. `projectcalico.org/IPPool`). */
export const RESOURCE_SCHEMAS: Record<string, TSchema> = Object.fromEntries(
  KINDS.map((kind) => [kindId(kind), resourceSchema(kind)]),
);

export type IPPoolSpec = Static<typeof IPPoolSpecSchema>;
export type BGPPeerSpec = Static<typeof BGPPeerSpecSchema>;
export type BGPConfigurationSpec = Static<typeof BGPConfigurationSpecSchema>;
export type NodeSpec = Static<typeof NodeSpecSchema>;
export type NodeBGPSpec = Static<typeof NodeBGPSpecSchema>;
export type NodeStatus = Static<typeof NodeStatusSchema>;
export type WorkloadEndpointSpec = Static<typeof WorkloadEndpointSpecSchema>;
export type HostEndpointSpec = Static<typeof HostEndpointSpecSchema>;
export type NetworkPolicySpec = Static<typeof NetworkPolicySpecSchema>;
export type GlobalNetworkPolicySpec = Static<typeof GlobalNetworkPolicySpecSchema>;
export type NetworkSetSpec = Static<typeof NetworkSetSpecSchema>;
export type GlobalNetworkSetSpec = Static<typeof GlobalNetworkSetSpecSchema>;
export type ProfileSpec = Static<typeof ProfileSpecSchema>;
export type TierSpec = Static<typeof TierSpecSchema>;
export type IPAMConfigurationSpec = Static<typeof IPAMConfigurationSpecSchema>;
export type CalicoNodeStatusSpec = Static<typeof CalicoNodeStatusSpecSchema>;
export type CalicoNodeStatusStatus = Static<typeof CalicoNodeStatusStatusSchema>;
export type NodeStatusClass = (typeof NODE_STATUS_CLASSES)[number];
export type CalicoNodePeer = Static<typeof CalicoNodePeerSchema>;
export type CalicoNodeRoute = Static<typeof CalicoNodeRouteSchema>;
export type KubernetesNetworkPolicySpec = Static<typeof KubernetesNetworkPolicySpecSchema>;
export type LabelSelector = Static<typeof LabelSelectorSchema>;
