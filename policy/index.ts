// The policy module's public API. Selector language: Calico v3's, with the same canonical text and IP set ids.

export {
  K8S_NETWORK_POLICY_NAME_PREFIX,
  K8S_NETWORK_POLICY_ORDER,
  k8sNetworkPolicyToCalico,
  k8sSelectorToCalico,
  type SelectorKind,
  simplifyPorts,
} from './k8s-network-policy';
export type { IcmpMatch, PortRange, ProtoPolicy, ProtoProfile, ProtoRule, RuleAction, RuleProtocol } from './rule';
export { emptyRule } from './rule';
export type {
  AllNode,
  BooleanNode,
  ComparisonKind,
  ComparisonNode,
  GlobalNode,
  HasNode,
  NotNode,
  SelectorNode,
  SetMembershipNode,
} from './selector/ast';
export { SelectorParseError } from './selector/errors';
export type { LabelPredicate, Labels } from './selector/evaluate';
export {
  IPV4_MAIN_IP_SET_NAME_PREFIX,
  ipSetNameForId,
  MAX_IP_SET_NAME_LENGTH,
  makeUniqueId,
  SELECTOR_IP_SET_ID_PREFIX,
  selectorIpSetId,
} from './selector/ipset';
export { selectorWithLabelPrefix } from './selector/prefix';
export { parseSelector, Selector, validateSelector } from './selector/selector';
