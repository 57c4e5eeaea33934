// Per-workload chains, after Calico's felix/rules/endpoints.go: `cali-tw-<iface>` for traffic to the workload (its
// ingress policy) and `cali-fw-<iface>` for traffic from it (its egress policy). Each lets established flows through,
// drops invalid ones, clears the verdict bits, runs the endpoint's policy, and drops what no policy allowed. A
// verdict of allow is the accept mark and a RETURN, so forwarded traffic between two local workloads passes the
// sender's egress chain and then the receiver's ingress chain before cali-FORWARD accepts it.
import { createHash } from 'node:crypto';
import { Actions, type Chain, MAX_CHAIN_NAME_LENGTH, type Rule } from '../iptables';
import {
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
  endpointPolicy: EndpointPolicyHook;
}

/** The two chains of one workload interface: to it (`cali-tw-`), then from it (`cali-fw-`). */
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
  const policy = (direction: PolicyDirection) => opts.endpointPolicy(iface, direction);
  return [
    endpointChain(endpointChainName(WORKLOAD_TO_ENDPOINT_PREFIX, iface), [], policy('ingress')),
    endpointChain(endpointChainName(WORKLOAD_FROM_ENDPOINT_PREFIX, iface), encapsulationGuards, policy('egress')),
  ];
}

function endpointChain(name: string, guards: readonly Rule[], policy: readonly Rule[]): Chain {
  return {
    name,
    rules: [
      { match: conntrackState('RELATED,ESTABLISHED'), action: Actions.accept() },
      { match: conntrackState('INVALID'), action: Actions.drop() },
      // Policy chains report their verdict in these bits: none may be left over from an earlier chain.
      { match: '', action: Actions.clearMark(MARK_ACCEPT | MARK_PASS) },
      ...guards,
      ...policy,
      { match: '', action: Actions.drop(), comment: [NO_PROFILE_MATCHED_COMMENT] },
    ],
  };
}
