// Felix's base iptables rules as data: every chain, hook and ipset a node needs before any policy, from what the
// calculation and the settings say. Pure: no I/O, the same input always gives the same rules. Input that cannot be
// rendered safely (an interface name that would change the rule text, an address that is not one) is left out and
// reported in `warnings`, so one bad WorkloadEndpoint or setting does not stop the rest from being programmed.
import { formatIp, parseCidrOrIp, parseIp } from '../../datastore/model/net';
import { IPIP_DEVICE, VXLAN_DEVICE } from '../calc/dataplane';
import type { ProtoPort } from '../config';
import { canonicalMember, type IpSetSpec } from '../ipsets';
import { Actions, type Chain, type Rule } from '../iptables';
import {
  CHAIN_FILTER_FORWARD,
  CHAIN_FILTER_INPUT,
  CHAIN_FILTER_OUTPUT,
  CHAIN_MANGLE_PREROUTING,
  CHAIN_NAT_OUTPUT,
  CHAIN_NAT_POSTROUTING,
  CHAIN_NAT_PREROUTING,
  CHAIN_RAW_OUTPUT,
  CHAIN_RAW_PREROUTING,
} from './defs';
import { hostDispatchChains, workloadDispatchChains } from './dispatch';
import {
  type EndpointPolicyHook,
  type HostEndpointPolicyHook,
  hostEndpointChains,
  hostEndpointMangleChains,
  hostEndpointRawChains,
  workloadEndpointChains,
} from './endpoints';
import { baseIpSets } from './ipsets';
import { natOutgoingChain } from './nat';
import {
  type EndpointToHostAction,
  filterStaticChains,
  mangleStaticChains,
  natStaticChains,
  rawStaticChains,
} from './static';

export interface BaseRulesInput {
  /** Host-side names of this node's workload interfaces (DesiredDataplane.workloads[].name), in any order. */
  workloadInterfaces: readonly string[];
  /** FelixSettings.interfacePrefix: `cali`, or several, comma-separated, as Calico takes them (`cali,tap`). */
  interfacePrefix: string;
  failsafeInbound: readonly ProtoPort[];
  failsafeOutbound: readonly ProtoPort[];
  defaultEndpointToHostAction: EndpointToHostAction;
  ipipEnabled: boolean;
  /** This node's address on tunl0 (DesiredDataplane.ipip.address), if it has one. */
  ipipTunnelAddress: string | undefined;
  vxlanEnabled: boolean;
  /** Also used when VXLAN is off: workloads may never send VXLAN to this port. */
  vxlanPort: number;
  /** This node's address on vxlan.calico (DesiredDataplane.vxlan.address), if it has one. */
  vxlanTunnelAddress: string | undefined;
  /** This node's underlay address (`ip` or `ip/prefix`). */
  nodeAddress: string | undefined;
  /** Every node's underlay address (`ip` or `ip/prefix`), this node's included: IPIP and VXLAN come only from these. */
  hostAddresses: readonly string[];
  /** CIDRs of the pools with natOutgoing, and of every pool (DesiredDataplane.natPools, allPools). */
  natPools: readonly string[];
  allPools: readonly string[];
  /** FelixSettings.natOutgoingAddress: SNAT to it instead of MASQUERADE. */
  natOutgoingAddress: string | undefined;
  /** NAT with `--random-fully`; default true, as Calico on every kernel and iptables tabby runs on. */
  randomFully?: boolean;
  /** The policy engine's rules in each endpoint chain (felix/rules/policy.ts, endpointPolicyRules). */
  endpointPolicy: EndpointPolicyHook;
  /** This node's host endpoint interfaces (HostEndpoints with an interfaceName), in any order. */
  hostEndpointInterfaces?: readonly string[];
  /** Their policy rules (felix/rules/policy.ts); none given: their chains allow only the failsafe ports. */
  hostEndpointPolicy?: HostEndpointPolicyHook;
  /** The chains of doNotTrack policies, which the host endpoints' raw-table chains jump to. */
  untrackedPolicyChains?: readonly Chain[];
  /** The chains of preDNAT policies, which the host endpoints' mangle-table chains jump to. */
  preDnatPolicyChains?: readonly Chain[];
  /** The policy and profile chains the endpoint chains jump to, and the IP sets their rules match on. */
  policyChains?: readonly Chain[];
  policyIpSets?: readonly IpSetSpec[];
  /**
   * Kept across calls by a caller that renders again and again (felix, every apply): endpoint chains whose policy
   * rules are the same arrays as last time, and dispatch chains of the same interfaces, are reused, not rendered
   * again. The result is the same with or without it.
   */
  memo?: RenderMemo;
}

/** What renderBaseRules rendered last time, for the parts whose input has not changed (BaseRulesInput.memo). */
export class RenderMemo {
  readonly endpointChains = new Map<
    string,
    { ingress: readonly Rule[]; egress: readonly Rule[]; vxlanPort: number; chains: Chain[] }
  >();
  dispatch: { interfaces: readonly string[]; chains: Chain[] } | undefined;
  /** The interfaces as given (the same array: the same interfaces), checked and sorted, with what was left out. */
  interfaces: { given: readonly string[]; valid: string[]; warnings: string[] } | undefined;
}

function memoisedValidInterfaces(input: BaseRulesInput, memo: RenderMemo, warnings: string[]): string[] {
  if (memo.interfaces?.given !== input.workloadInterfaces) {
    const found: string[] = [];
    const valid = validInterfaces(input.workloadInterfaces, found);
    memo.interfaces = { given: input.workloadInterfaces, valid, warnings: found };
  }
  warnings.push(...memo.interfaces.warnings);
  return memo.interfaces.valid;
}

function workloadChains(interfaces: readonly string[], input: BaseRulesInput, memo: RenderMemo): Chain[] {
  // The same array from memoisedValidInterfaces: the same interfaces.
  if (memo.dispatch?.interfaces !== interfaces) {
    memo.dispatch = { interfaces, chains: workloadDispatchChains(interfaces) };
  }
  const chains = [...memo.dispatch.chains];
  if (memo.endpointChains.size > interfaces.length) {
    const present = new Set(interfaces);
    for (const iface of memo.endpointChains.keys()) if (!present.has(iface)) memo.endpointChains.delete(iface);
  }
  const vxlanPort = input.vxlanPort;
  for (const iface of interfaces) {
    const ingress = input.endpointPolicy(iface, 'ingress');
    const egress = input.endpointPolicy(iface, 'egress');
    let kept = memo.endpointChains.get(iface);
    if (kept?.ingress !== ingress || kept.egress !== egress || kept.vxlanPort !== vxlanPort) {
      kept = { ingress, egress, vxlanPort, chains: workloadEndpointChains(iface, { vxlanPort, ingress, egress }) };
      memo.endpointChains.set(iface, kept);
    }
    chains.push(...kept.chains);
  }
  return chains;
}

/** One table's part: chains of ours (IptablesTable.setChains) and rules at the top of kernel chains (setInsertions). */
export interface TableRules {
  chains: Chain[];
  insertions: Record<string, Rule[]>;
}

export interface BaseRules {
  filter: TableRules;
  nat: TableRules;
  raw: TableRules;
  mangle: TableRules;
  /** To be applied before the tables: their rules refer to these sets. */
  ipSets: IpSetSpec[];
  /** What was left out and why, one sentence each (for the log). */
  warnings: string[];
}

/** A Linux interface name that reads as one word in a rule: no wildcard `+`, no `/`, `:` or whitespace. */
const INTERFACE_NAME = /^[A-Za-z0-9_.-]{1,15}$/;
const DEFAULT_INTERFACE_PREFIX = 'cali';

const NO_HOST_POLICY: HostEndpointPolicyHook = () => [];

function jumpTo(chain: string): Rule[] {
  return [{ match: '', action: Actions.jump(chain) }];
}

export function renderBaseRules(input: BaseRulesInput): BaseRules {
  const warnings: string[] = [];
  const randomFully = input.randomFully ?? true;
  const interfacePrefixes = validInterfacePrefixes(input.interfacePrefix, warnings);
  // A caller that renders once gets a memo of its own: the same code either way.
  const memo = input.memo ?? new RenderMemo();
  const interfaces = memoisedValidInterfaces(input, memo, warnings);
  const hostInterfaces = validInterfaces(input.hostEndpointInterfaces ?? [], warnings);
  const staticOptions = {
    interfacePrefixes,
    ipipEnabled: input.ipipEnabled,
    vxlanEnabled: input.vxlanEnabled,
    vxlanPort: input.vxlanPort,
    endpointToHostAction: input.defaultEndpointToHostAction,
    failsafeInbound: validFailsafePorts('failsafeInbound', input.failsafeInbound, warnings),
    failsafeOutbound: validFailsafePorts('failsafeOutbound', input.failsafeOutbound, warnings),
    // Calico masquerades into a tunnel only once the tunnel has an address to masquerade to.
    addressedTunnels: [
      ...(input.ipipEnabled && input.ipipTunnelAddress ? [IPIP_DEVICE] : []),
      ...(input.vxlanEnabled && input.vxlanTunnelAddress ? [VXLAN_DEVICE] : []),
    ],
    randomFully,
  };
  const natPools = validPools('natPools', input.natPools, warnings);

  const filterChains = [
    ...filterStaticChains(staticOptions),
    ...workloadChains(interfaces, input, memo),
    ...hostDispatchChains(hostInterfaces, 'filter'),
    ...hostInterfaces.flatMap((iface) => hostEndpointChains(iface, input.hostEndpointPolicy ?? NO_HOST_POLICY)),
    ...(input.policyChains ?? []),
  ];
  const natChains = [
    ...natStaticChains(staticOptions),
    natOutgoingChain({
      active: natPools.length > 0,
      natOutgoingAddress: validNatOutgoingAddress(input.natOutgoingAddress, warnings),
      randomFully,
    }),
  ];
  const hostAddresses = validHostAddresses(input.hostAddresses, warnings);
  return {
    filter: {
      chains: filterChains,
      insertions: {
        INPUT: jumpTo(CHAIN_FILTER_INPUT),
        FORWARD: jumpTo(CHAIN_FILTER_FORWARD),
        OUTPUT: jumpTo(CHAIN_FILTER_OUTPUT),
      },
    },
    nat: {
      chains: natChains,
      insertions: {
        PREROUTING: jumpTo(CHAIN_NAT_PREROUTING),
        OUTPUT: jumpTo(CHAIN_NAT_OUTPUT),
        // Calico appends this one, to MASQUERADE after kube-proxy's chains have cleared their mark; the iptables
        // engine only inserts, so it goes first here (and its hash differs from Calico's).
        POSTROUTING: jumpTo(CHAIN_NAT_POSTROUTING),
      },
    },
    raw: {
      chains: [
        ...rawStaticChains(staticOptions),
        ...hostDispatchChains(hostInterfaces, 'raw'),
        ...hostInterfaces.flatMap((iface) => hostEndpointRawChains(iface, input.hostEndpointPolicy ?? NO_HOST_POLICY)),
        ...(input.untrackedPolicyChains ?? []),
      ],
      insertions: { PREROUTING: jumpTo(CHAIN_RAW_PREROUTING), OUTPUT: jumpTo(CHAIN_RAW_OUTPUT) },
    },
    mangle: {
      chains: [
        ...mangleStaticChains(staticOptions),
        ...hostDispatchChains(hostInterfaces, 'mangle'),
        ...hostInterfaces.flatMap((iface) =>
          hostEndpointMangleChains(iface, input.hostEndpointPolicy ?? NO_HOST_POLICY),
        ),
        ...(input.preDnatPolicyChains ?? []),
      ],
      insertions: { PREROUTING: jumpTo(CHAIN_MANGLE_PREROUTING) },
    },
    ipSets: [
      ...baseIpSets({
        allPools: validPools('allPools', input.allPools, warnings),
        natPools,
        ipipEnabled: input.ipipEnabled,
        vxlanEnabled: input.vxlanEnabled,
        hostAddresses,
        nodeAddress: input.nodeAddress === undefined ? undefined : bareAddress(input.nodeAddress),
      }),
      ...(input.policyIpSets ?? []),
    ],
    warnings,
  };
}

function validInterfacePrefixes(setting: string, warnings: string[]): string[] {
  const prefixes: string[] = [];
  for (const prefix of setting.split(',').map((p) => p.trim())) {
    // The prefix is followed by `+` in the rules: at most 14 characters leave room for an interface of its own.
    if (INTERFACE_NAME.test(prefix) && prefix.length < 15) prefixes.push(prefix);
    else warnings.push(`interface prefix "${prefix}" left out: not the start of a valid interface name`);
  }
  if (prefixes.length > 0) return prefixes;
  warnings.push(`no valid interface prefix in "${setting}": using "${DEFAULT_INTERFACE_PREFIX}"`);
  return [DEFAULT_INTERFACE_PREFIX];
}

/** Sorted, each once, as the dispatch chains need them. */
function validInterfaces(names: readonly string[], warnings: string[]): string[] {
  const valid = new Set<string>();
  for (const name of names) {
    if (!INTERFACE_NAME.test(name)) warnings.push(`workload interface "${name}" left out: not a valid interface name`);
    else if (valid.has(name)) warnings.push(`workload interface "${name}" belongs to more than one endpoint`);
    else valid.add(name);
  }
  return [...valid].sort();
}

function validFailsafePorts(field: string, ports: readonly ProtoPort[], warnings: string[]): ProtoPort[] {
  return ports.filter((p) => {
    if (!Number.isInteger(p.port) || p.port < 0 || p.port > 65535) {
      warnings.push(`${field} ${p.protocol}:${p.port} left out: not a port`);
      return false;
    }
    if (p.net === undefined || p.net === '') return true;
    const net = parseCidrOrIp(p.net);
    if (net === undefined) warnings.push(`${field} ${p.protocol}:${p.port} left out: net "${p.net}" is not a CIDR`);
    // An IPv6 net belongs to IPv6 rules, which tabby does not render (as Calico leaves it out of its IPv4 rules).
    return net?.version === 4;
  });
}

function validNatOutgoingAddress(address: string | undefined, warnings: string[]): string | undefined {
  if (address === undefined) return undefined;
  if (parseIp(address)?.version === 4) return address;
  warnings.push(`natOutgoingAddress "${address}" is not an IPv4 address: masquerading instead`);
  return undefined;
}

/** `ip/prefix` → `ip`, as Calico's hosts manager strips the prefix. */
function bareAddress(address: string): string {
  return address.split('/')[0]!;
}

function validHostAddresses(addresses: readonly string[], warnings: string[]): string[] {
  const valid = new Set<string>();
  for (const address of addresses) {
    const ip = parseIp(bareAddress(address));
    if (ip?.version === 4) valid.add(formatIp(ip));
    else warnings.push(`node address "${address}" left out: not an IPv4 address`);
  }
  return [...valid].sort();
}

function validPools(field: string, cidrs: readonly string[], warnings: string[]): string[] {
  return cidrs.filter((cidr) => {
    try {
      canonicalMember('hash:net', cidr);
      return true;
    } catch (err) {
      warnings.push(`${field} "${cidr}" left out: ${(err as Error).message}`);
      return false;
    }
  });
}
