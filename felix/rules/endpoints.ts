// Per-workload chains, after Calico's felix/rules/endpoints.go: `cali-tw-<iface>` for traffic to the workload (its
// ingress policy) and `cali-fw-<iface>` for traffic from it (its egress policy). Each lets established flows through,
// drops invalid ones, clears the verdict bits, runs the endpoint's policy, and drops what no policy allowed. A
// verdict of allow is the accept mark and a RETURN, so forwarded traffic between two local workloads passes the
// sender's egress chain and then the receiver's ingress chain before cali-FORWARD accepts it.
import { createHash } from 'node:crypto';
import { Actions, type Chain, MAX_CHAIN_NAME_LENGTH, type Rule } from '../iptables';
import {
  CHAIN_FAILSAFE_IN,
  CHAIN_FAILSAFE_OUT,
  HOST_FROM_ENDPOINT_FORWARD_PREFIX,
  HOST_FROM_ENDPOINT_PREFIX,
  HOST_TO_ENDPOINT_FORWARD_PREFIX,
  HOST_TO_ENDPOINT_PREFIX,
  MARK_ACCEPT,
  MARK_PASS,
  PROTO_IPIP,
  PROTO_UDP,
  WORKLOAD_FROM_ENDPOINT_PREFIX,
  WORKLOAD_TO_ENDPOINT_PREFIX,
} from './defs';
import { all, conntrackState, destPorts, protocolNumber } from './match';

/** The comment of an endpoint chain's last rule, the drop of what no policy or profile allowed. */
export const NO_PROFILE_MATCHED_COMMENT = 'Drop if no profiles matched';

/** Ingress: traffic to the workload (`cali-tw-`); egress: traffic from it (`cali-fw-`). */
export type PolicyDirection = 'ingress' | 'egress';

/**
 * The rules of an endpoint's policy in one direction, placed in its endpoint chain after the prologue (conntrack,
 * mark clearing, encapsulation guards) and before the final drop: jumps to tier, policy and profile chains that set
 * the accept mark and RETURN on allow (felix/rules/policy.ts, endpointPolicyRules). No rules: the endpoint is denied.
 */
export type EndpointPolicyHook = (iface: string, direction: PolicyDirection) => readonly Rule[];

/**
 * Calico's GetLengthLimitedID: prefix + interface name, or, when that is longer than iptables allows (or exactly as
 * long and the name starts with the `_` that marks a shortened name), prefix + `_` + base64url(sha256(name)) cut to fit.
 */
export function endpointChainName(prefix: string, iface: string): string {
  const length = prefix.length + iface.length;
  if (length > MAX_CHAIN_NAME_LENGTH || (length === MAX_CHAIN_NAME_LENGTH && iface.startsWith('_'))) {
    const digest = createHash('sha256').update(iface).digest('base64url');
    return `${prefix}_${digest.slice(0, MAX_CHAIN_NAME_LENGTH - 1 - prefix.length)}`;
  }
  return prefix + iface;
}

export interface WorkloadChainOptions {
  /** UDP port of VXLAN: a workload may not send VXLAN itself (it could carry what its egress policy denies). */
  vxlanPort: number;
  /** The endpoint's policy rules (felix/rules/policy.ts, endpointPolicyRules); none: the endpoint is denied. */
  ingress: readonly Rule[];
  egress: readonly Rule[];
}

export function workloadEndpointChains(iface: string, opts: WorkloadChainOptions): Chain[] {
  // Calico's defaults AllowVXLANPacketsFromWorkloads and AllowIPIPPacketsFromWorkloads (false): a workload's own
  // encapsulated packets would reach other nodes without its egress policy seeing what is inside.
  const encapsulationGuards: Rule[] = [
    {
      match: all(protocolNumber(PROTO_UDP), destPorts(opts.vxlanPort)),
      action: Actions.drop(),
      comment: ['Drop VXLAN encapped packets originating in workloads'],
    },
    {
      match: protocolNumber(PROTO_IPIP),
      action: Actions.drop(),
      comment: ['Drop IPinIP encapped packets originating in workloads'],
    },
  ];
  return [
    endpointChain(endpointChainName(WORKLOAD_TO_ENDPOINT_PREFIX, iface), { policy: opts.ingress }),
    endpointChain(endpointChainName(WORKLOAD_FROM_ENDPOINT_PREFIX, iface), {
      guards: encapsulationGuards,
      policy: opts.egress,
    }),
  ];
}

/**
 * The policy rules of a host endpoint in one direction: for traffic to or from the host itself (its policies and
 * profiles), or for traffic forwarded through it (its applyOnForward policies alone).
 */
export type HostEndpointPolicyHook = (
  iface: string,
  direction: PolicyDirection,
  chain: HostEndpointChainKind,
) => readonly Rule[];

/** Normal (filter), forwarded (filter), untracked (raw: doNotTrack) and pre-DNAT (mangle: preDNAT) policy. */
export type HostEndpointChainKind = 'normal' | 'forward' | 'untracked' | 'preDnat';

/**
 * The four chains of a host endpoint interface, as Calico's HostEndpointToFilterChains: traffic leaving the host
 * through it (`cali-th-`: egress policy, after the failsafe outbound ports), arriving at the host through it
 * (`cali-fh-`: ingress policy, after the failsafe inbound ports, so no policy can cut off SSH, BGP or the
 * datastore), and forwarded out of it (`cali-thfw-`) or in through it (`cali-fhfw-`): there only applyOnForward
 * policies apply, no profile, and with none forwarded traffic is allowed.
 */
export function hostEndpointChains(iface: string, policy: HostEndpointPolicyHook): Chain[] {
  const forwardChain = (prefix: string, direction: PolicyDirection): Chain => {
    const rules = policy(iface, direction, 'forward');
    return endpointChain(endpointChainName(prefix, iface), {
      policy: rules.length > 0 ? rules : ALLOW_FORWARDED_BY_DEFAULT,
      drop: false,
    });
  };
  return [
    ...toAndFromHost(iface, policy, 'normal', {}),
    forwardChain(HOST_TO_ENDPOINT_FORWARD_PREFIX, 'egress'),
    forwardChain(HOST_FROM_ENDPOINT_FORWARD_PREFIX, 'ingress'),
  ];
}

/**
 * A host endpoint's `cali-th-` chain (traffic leaving the host through it: egress policy after the failsafe
 * outbound ports) and `cali-fh-` chain (traffic arriving: ingress policy after the failsafe inbound ports).
 */
function toAndFromHost(
  iface: string,
  policy: HostEndpointPolicyHook,
  kind: HostEndpointChainKind,
  parts: Pick<EndpointChainParts, 'conntrack' | 'drop'>,
): Chain[] {
  return [
    endpointChain(endpointChainName(HOST_TO_ENDPOINT_PREFIX, iface), {
      ...parts,
      failsafe: CHAIN_FAILSAFE_OUT,
      policy: policy(iface, 'egress', kind),
    }),
    endpointChain(endpointChainName(HOST_FROM_ENDPOINT_PREFIX, iface), {
      ...parts,
      failsafe: CHAIN_FAILSAFE_IN,
      policy: policy(iface, 'ingress', kind),
    }),
  ];
}

/**
 * A host endpoint's raw-table chains, as Calico's HostEndpointToRawChains: its doNotTrack policy, before conntrack
 * sees the packet. No conntrack rules (nothing is tracked yet), the failsafe chains first, no profile and no final
 * drop: what no untracked policy accepts goes on to the filter table's policy.
 */
export function hostEndpointRawChains(iface: string, policy: HostEndpointPolicyHook): Chain[] {
  return toAndFromHost(iface, policy, 'untracked', { conntrack: false, drop: false });
}

/**
 * A host endpoint's mangle-table chain, as Calico's HostEndpointToMangleIngressChains: its preDNAT policy, for
 * traffic arriving through it before DNAT (a NodePort's original destination). Conntrack rules, the failsafe
 * chain, no profile and no drop: what no pre-DNAT policy accepts goes on to the filter table's policy.
 */
export function hostEndpointMangleChains(iface: string, policy: HostEndpointPolicyHook): Chain[] {
  return [
    endpointChain(endpointChainName(HOST_FROM_ENDPOINT_PREFIX, iface), {
      failsafe: CHAIN_FAILSAFE_IN,
      policy: policy(iface, 'ingress', 'preDnat'),
      drop: false,
    }),
  ];
}

const ALLOW_FORWARDED_BY_DEFAULT: readonly Rule[] = [
  { match: '', action: Actions.setMark(MARK_ACCEPT), comment: ['Allow forwarded traffic by default'] },
  { match: '', action: Actions.return(), comment: ['Return for accepted forward traffic'] },
];

/** Established flows pass (their first packet was policed), invalid ones do not. */
const CONNTRACK_RULES: readonly Rule[] = [
  { match: conntrackState('RELATED,ESTABLISHED'), action: Actions.accept() },
  { match: conntrackState('INVALID'), action: Actions.drop() },
];

interface EndpointChainParts {
  /** Jumped to before anything else but conntrack: what it accepts, no policy can drop. */
  failsafe?: string;
  guards?: readonly Rule[];
  policy: readonly Rule[];
  /** Default true; false in the raw table, where nothing is tracked yet. */
  conntrack?: boolean;
  /**
   * Default true: what policy did not allow is dropped. False where other policy follows (raw, mangle), and for
   * forward chains: what they did not allow, cali-FORWARD does not accept.
   */
  drop?: boolean;
}

function endpointChain(name: string, parts: EndpointChainParts): Chain {
  return {
    name,
    rules: [
      ...(parts.conntrack === false ? [] : CONNTRACK_RULES),
      ...(parts.failsafe ? [{ match: '', action: Actions.jump(parts.failsafe) }] : []),
      // Policy chains report their verdict in these bits: none may be left over from an earlier chain.
      { match: '', action: Actions.clearMark(MARK_ACCEPT | MARK_PASS) },
      ...(parts.guards ?? []),
      ...parts.policy,
      ...(parts.drop === false ? [] : [{ match: '', action: Actions.drop(), comment: [NO_PROFILE_MATCHED_COMMENT] }]),
    ],
  };
}
