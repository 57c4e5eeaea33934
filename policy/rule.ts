// A policy rule as felix renders it: Calico's proto.Rule (felix/proto/felixbackend.proto), the form the calculation
// hands the dataplane. Selectors are already resolved to the ids of the IP sets holding their members (and named
// ports to (IP, protocol, port) sets), namespaces and service accounts folded into those selectors, so rendering
// needs nothing but this.

/** An IP protocol by name (tcp, udp, icmp, sctp, udplite, icmpv6) or by number. */
export type RuleProtocol = { name: string } | { number: number };

/** A port or an inclusive range (first === last for one port). */
export interface PortRange {
  first: number;
  last: number;
}

/** ICMP type alone, or type and code. */
export interface IcmpMatch {
  type: number;
  code?: number;
}

export type RuleAction = 'allow' | 'deny' | 'pass' | 'log';

export interface ProtoRule {
  action: RuleAction;
  protocol?: RuleProtocol;
  notProtocol?: RuleProtocol;
  srcNet: string[];
  notSrcNet: string[];
  dstNet: string[];
  notDstNet: string[];
  /** A packet matches the ports if it matches any range or any named-port IP set. */
  srcPorts: PortRange[];
  srcNamedPortIpSetIds: string[];
  dstPorts: PortRange[];
  dstNamedPortIpSetIds: string[];
  notSrcPorts: PortRange[];
  notSrcNamedPortIpSetIds: string[];
  notDstPorts: PortRange[];
  notDstNamedPortIpSetIds: string[];
  icmp?: IcmpMatch;
  notIcmp?: IcmpMatch;
  /** Every one of these sets must hold the address (selector, service accounts, network sets by selector). */
  srcIpSetIds: string[];
  dstIpSetIds: string[];
  notSrcIpSetIds: string[];
  notDstIpSetIds: string[];
  /** The rule's own annotations (metadata.annotations), shown as comments. */
  annotations?: Record<string, string>;
}

/** A rule with every list empty: what a rule matching all traffic with `action` is. */
export function emptyRule(action: RuleAction): ProtoRule {
  return {
    action,
    srcNet: [],
    notSrcNet: [],
    dstNet: [],
    notDstNet: [],
    srcPorts: [],
    srcNamedPortIpSetIds: [],
    dstPorts: [],
    dstNamedPortIpSetIds: [],
    notSrcPorts: [],
    notSrcNamedPortIpSetIds: [],
    notDstPorts: [],
    notDstNamedPortIpSetIds: [],
    srcIpSetIds: [],
    dstIpSetIds: [],
    notSrcIpSetIds: [],
    notDstIpSetIds: [],
  };
}

/** A policy as felix renders it: its tier and name (the chain's identity), its rules per direction. */
export interface ProtoPolicy {
  tier: string;
  /** Calico's policy name in its chain id: `<namespace>/<name>` for namespaced policies, else the name. */
  name: string;
  inboundRules: ProtoRule[];
  outboundRules: ProtoRule[];
}

/** A profile (`kns.<namespace>`, `ksa.<namespace>.<sa>`, or a user's) as felix renders it. */
export interface ProtoProfile {
  name: string;
  inboundRules: ProtoRule[];
  outboundRules: ProtoRule[];
}
