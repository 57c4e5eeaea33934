// The resource model: Calico v3's kinds (and Kubernetes' NetworkPolicy) as schemas and types, Calico's
// defaulting, and Calico's validation rules. Pure functions of the documents they are given.
export { applyDefaults } from './defaults';
export { parseGoDuration } from './duration';
export { ValidationError } from './errors';
export {
  type Cidr,
  cidrContains,
  cidrsOverlap,
  formatCidr,
  formatIp,
  hasHostBits,
  type IpAddress,
  type IpVersion,
  isValidIp,
  maskCidr,
  parseCidr,
  parseCidrOrIp,
  parseIp,
  parseIpPort,
} from './net';
export type {
  BGPConfigurationSpec,
  BGPPeerSpec,
  CalicoNodePeer,
  CalicoNodeRoute,
  CalicoNodeStatusSpec,
  CalicoNodeStatusStatus,
  EntityRule,
  FelixConfigurationSpec,
  GlobalNetworkPolicySpec,
  GlobalNetworkSetSpec,
  HostEndpointSpec,
  IPAMConfigurationSpec,
  IPPoolSpec,
  KubernetesNetworkPolicySpec,
  LabelSelector,
  NetworkPolicySpec,
  NetworkSetSpec,
  NodeBGPSpec,
  NodeSpec,
  NodeStatus,
  NodeStatusClass,
  ProfileSpec,
  Rule,
  TierSpec,
  WorkloadEndpointSpec,
} from './types';
export { RESOURCE_SCHEMAS } from './types';
export { type ChangeContext, checkedAgainstSiblings, validateChange, validateResource } from './validate';
