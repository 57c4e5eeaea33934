// Felix's base iptables rules, rendered as Calico's felix renders them: the hooks into the kernel chains, the static
// chains of the filter, nat and raw tables, the workload dispatch tree, the per-workload chains with a place for
// policy, NAT outgoing, and the ipsets they match on. Pure data for the iptables and ipset engines to apply.
export {
  ALL_MARK_BITS,
  CHAIN_FROM_WORKLOAD_DISPATCH,
  CHAIN_NAT_OUTGOING,
  CHAIN_TO_WORKLOAD_DISPATCH,
  IP_SET_ALL_HOSTS,
  IP_SET_ALL_POOLS,
  IP_SET_ALL_VXLAN_SOURCES,
  IP_SET_MASQ_POOLS,
  MARK_ACCEPT,
  MARK_PASS,
  MARK_SCRATCH0,
  MARK_SCRATCH1,
  WORKLOAD_FROM_ENDPOINT_PREFIX,
  WORKLOAD_TO_ENDPOINT_PREFIX,
} from './defs';
export { MAX_LINEAR_DISPATCH } from './dispatch';
export { type EndpointPolicyHook, endpointChainName, type PolicyDirection } from './endpoints';
export { type BaseRules, type BaseRulesInput, RenderMemo, renderBaseRules, type TableRules } from './render';
export type { EndpointToHostAction } from './static';
