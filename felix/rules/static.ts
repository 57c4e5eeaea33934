// The chains every node has whatever its workloads, after Calico's felix/rules/static.go (v3.32.0, iptables mode,
// no kube-proxy IPVS, no WireGuard, no OpenStack, no BPF): rule for rule Calico's, so their hashes are Calico's.
// The host endpoint, floating-IP, service-loop and RPF-skip chains they jump to are rendered empty (see defs).

import type { ProtoPort } from '../config';
import { Actions, type Chain, type Rule } from '../iptables';
import {
  ALL_MARK_BITS,
  CHAIN_CIDR_BLOCK,
  CHAIN_FAILSAFE_IN,
  CHAIN_FAILSAFE_OUT,
  CHAIN_FILTER_FORWARD,
  CHAIN_FILTER_INPUT,
  CHAIN_FILTER_OUTPUT,
  CHAIN_FIP_DNAT,
  CHAIN_FIP_SNAT,
  CHAIN_FROM_HOST_ENDPOINT,
  CHAIN_FROM_HOST_ENDPOINT_FORWARD,
  CHAIN_FROM_WORKLOAD_DISPATCH,
  CHAIN_MANGLE_PREROUTING,
  CHAIN_NAT_OUTGOING,
  CHAIN_NAT_OUTPUT,
  CHAIN_NAT_POSTROUTING,
  CHAIN_NAT_PREROUTING,
  CHAIN_RAW_OUTPUT,
  CHAIN_RAW_PREROUTING,
  CHAIN_RPF_SKIP,
  CHAIN_TO_HOST_ENDPOINT,
  CHAIN_TO_HOST_ENDPOINT_FORWARD,
  CHAIN_TO_WORKLOAD_DISPATCH,
  CHAIN_WORKLOAD_TO_HOST,
  IP_SET_ALL_HOSTS,
  IP_SET_ALL_VXLAN_SOURCES,
  MARK_ACCEPT,
  MARK_SCRATCH0,
  PROTO_IPIP,
  PROTO_UDP,
} from './defs';
import {
  all,
  conntrackState,
  destAddrTypeLocal,
  destIpSet,
  destNet,
  destPort,
  destPorts,
  inInterface,
  markClear,
  markSet,
  notConntrackState,
  notSrcAddrTypeLocalOfOutInterface,
  outInterface,
  protocol,
  protocolNumber,
  rpfCheckFailed,
  sourceIpSet,
  sourceNet,
  sourcePorts,
  srcAddrTypeLocal,
} from './match';
import { masquerade } from './nat';

/** FelixConfiguration defaultEndpointToHostAction: what becomes of workload traffic to the host that policy allowed. */
export type EndpointToHostAction = 'Drop' | 'Accept' | 'Return';

/** What the static chains depend on (validated by the caller). */
export interface StaticChainOptions {
  /** Workload interface name prefixes, e.g. ['cali']: each matched as `<prefix>+`. */
  interfacePrefixes: readonly string[];
  ipipEnabled: boolean;
  vxlanEnabled: boolean;
  vxlanPort: number;
  endpointToHostAction: EndpointToHostAction;
  failsafeInbound: readonly ProtoPort[];
  failsafeOutbound: readonly ProtoPort[];
  /** Tunnel devices with an address of ours: host traffic leaving through one gets that address as its source. */
  addressedTunnels: readonly string[];
  /** MASQUERADE/SNAT with --random-fully. */
  randomFully: boolean;
}

const acceptIfAccepted: Rule = { match: markSet(MARK_ACCEPT), action: Actions.accept() };

const hostEndpointAccepted: Rule = {
  match: markSet(MARK_ACCEPT),
  action: Actions.accept(),
  comment: ['Host endpoint policy accepted packet.'],
};

function empty(name: string): Chain {
  return { name, rules: [] };
}

export function filterStaticChains(opts: StaticChainOptions): Chain[] {
  return [
    filterForwardChain(opts),
    filterInputChain(opts),
    workloadToHostChain(opts),
    failsafeInChain('filter', opts),
    filterOutputChain(opts),
    failsafeOutChain('filter', opts),
    empty(CHAIN_CIDR_BLOCK),
  ];
}

function filterInputChain(opts: StaticChainOptions): Chain {
  const rules: Rule[] = [];
  if (opts.ipipEnabled) {
    rules.push(
      {
        match: all(protocolNumber(PROTO_IPIP), sourceIpSet(IP_SET_ALL_HOSTS), destAddrTypeLocal()),
        action: Actions.accept(),
        comment: ['Allow IPIP packets from Calico hosts'],
      },
      {
        match: protocolNumber(PROTO_IPIP),
        action: Actions.drop(),
        comment: ['Drop IPIP packets from non-Calico hosts'],
      },
    );
  }
  if (opts.vxlanEnabled) {
    const vxlanToUs = [protocolNumber(PROTO_UDP), destPorts(opts.vxlanPort)];
    rules.push(
      {
        match: all(...vxlanToUs, sourceIpSet(IP_SET_ALL_VXLAN_SOURCES), destAddrTypeLocal()),
        action: Actions.accept(),
        comment: ['Allow IPv4 VXLAN packets from allowed hosts'],
      },
      {
        match: all(...vxlanToUs, destAddrTypeLocal()),
        action: Actions.drop(),
        comment: ['Drop IPv4 VXLAN packets from non-allowed hosts'],
      },
    );
  }
  // Workload traffic to the host: the workload's egress policy, then the configured action (cali-wl-to-host). A
  // goto: what that chain RETURNs goes back to INPUT, past the host endpoint rules below.
  for (const prefix of opts.interfacePrefixes) {
    rules.push({ match: inInterface(`${prefix}+`), action: Actions.goto(CHAIN_WORKLOAD_TO_HOST) });
  }
  rules.push(
    // Accepted by untracked or pre-DNAT host endpoint policy in the raw or mangle table.
    acceptIfAccepted,
    { match: '', action: Actions.clearMark(ALL_MARK_BITS) },
    { match: '', action: Actions.jump(CHAIN_FROM_HOST_ENDPOINT) },
    hostEndpointAccepted,
  );
  return { name: CHAIN_FILTER_INPUT, rules };
}

function workloadToHostChain(opts: StaticChainOptions): Chain {
  const action = {
    Drop: Actions.drop(),
    Accept: Actions.accept(),
    Return: Actions.return(),
  }[opts.endpointToHostAction];
  return {
    name: CHAIN_WORKLOAD_TO_HOST,
    rules: [
      // Returns here when the workload's egress policy allowed the packet; drops it otherwise.
      { match: '', action: Actions.jump(CHAIN_FROM_WORKLOAD_DISPATCH) },
      { match: '', action, comment: ['Configured DefaultEndpointToHostAction'] },
    ],
  };
}

/**
 * The dispatch chains RETURN what policy allowed, with the accept mark: traffic between two local workloads goes
 * through the sender's egress chain, back here, then through the receiver's ingress chain; what comes back with the
 * mark is accepted at the end (else FORWARD's own policy, DROP on a host with Docker, would decide). Calico appends
 * that accept to FORWARD itself, after other programs' rules, with a rule setting the accept mark on everything else
 * forwarded (for its mangle host endpoint chains). The iptables engine only inserts at the top of kernel chains, so
 * here the accept ends cali-FORWARD, where Calico had it before: the rules before it, and their hashes, are Calico's.
 */
function filterForwardChain(opts: StaticChainOptions): Chain {
  const rules: Rule[] = [
    // Clear every verdict bit but accept, which untracked or pre-DNAT host endpoint policy may have set.
    { match: '', action: Actions.clearMark(ALL_MARK_BITS & ~MARK_ACCEPT) },
    { match: markClear(MARK_ACCEPT), action: Actions.jump(CHAIN_FROM_HOST_ENDPOINT_FORWARD) },
  ];
  for (const prefix of opts.interfacePrefixes) {
    rules.push(
      { match: inInterface(`${prefix}+`), action: Actions.jump(CHAIN_FROM_WORKLOAD_DISPATCH) },
      { match: outInterface(`${prefix}+`), action: Actions.jump(CHAIN_TO_WORKLOAD_DISPATCH) },
    );
  }
  rules.push(
    { match: '', action: Actions.jump(CHAIN_TO_HOST_ENDPOINT_FORWARD) },
    { match: '', action: Actions.jump(CHAIN_CIDR_BLOCK) },
    { match: markSet(MARK_ACCEPT), action: Actions.accept(), comment: ['Policy explicitly accepted packet.'] },
  );
  return { name: CHAIN_FILTER_FORWARD, rules };
}

function filterOutputChain(opts: StaticChainOptions): Chain {
  const rules: Rule[] = [acceptIfAccepted];
  // The host may reach its own workloads: their ingress policy is not applied to it (as Calico).
  for (const prefix of opts.interfacePrefixes) {
    rules.push({ match: outInterface(`${prefix}+`), action: Actions.return() });
  }
  if (opts.ipipEnabled) {
    rules.push({
      match: all(protocolNumber(PROTO_IPIP), destIpSet(IP_SET_ALL_HOSTS), srcAddrTypeLocal()),
      action: Actions.accept(),
      comment: ['Allow IPIP packets to other Calico hosts'],
    });
  }
  if (opts.vxlanEnabled) {
    rules.push({
      match: all(
        protocolNumber(PROTO_UDP),
        destPorts(opts.vxlanPort),
        srcAddrTypeLocal(),
        destIpSet(IP_SET_ALL_VXLAN_SOURCES),
      ),
      action: Actions.accept(),
      comment: ['Allow IPv4 VXLAN packets to other allowed hosts'],
    });
  }
  rules.push(
    { match: '', action: Actions.clearMark(ALL_MARK_BITS) },
    // DNAT'd host traffic still has its pre-DNAT outgoing interface here: Calico polices it in mangle POSTROUTING.
    { match: notConntrackState('DNAT'), action: Actions.jump(CHAIN_TO_HOST_ENDPOINT) },
    hostEndpointAccepted,
  );
  return { name: CHAIN_FILTER_OUTPUT, rules };
}

type FailsafeTable = 'filter' | 'raw' | 'mangle';

/**
 * Traffic to the host's failsafe inbound ports, accepted whatever host endpoint policy says, so a bad policy cannot
 * cut the node off (ssh, BGP, etcd, the API server). In raw, before conntrack, also the replies to the host's own
 * failsafe outbound connections. The host endpoint chains (cali-fh-<iface> in raw, mangle and filter) jump here
 * first.
 */
function failsafeInChain(table: FailsafeTable, opts: StaticChainOptions): Chain {
  const rules = opts.failsafeInbound.map((p) => failsafeRule(p, destPorts(p.port), p.net && sourceNet(p.net)));
  if (table === 'raw') {
    rules.push(...opts.failsafeOutbound.map((p) => failsafeRule(p, sourcePorts(p.port), p.net && sourceNet(p.net))));
  }
  return { name: CHAIN_FAILSAFE_IN, rules };
}

/** The host's own connections to failsafe outbound ports (DNS, DHCP, BGP, etcd, ...); in raw, also the replies. */
function failsafeOutChain(table: FailsafeTable, opts: StaticChainOptions): Chain {
  const rules = opts.failsafeOutbound.map((p) => failsafeRule(p, destPorts(p.port), p.net && destNet(p.net)));
  if (table === 'raw') {
    rules.push(...opts.failsafeInbound.map((p) => failsafeRule(p, sourcePorts(p.port), p.net && destNet(p.net))));
  }
  return { name: CHAIN_FAILSAFE_OUT, rules };
}

function failsafeRule(port: ProtoPort, portMatch: string, netMatch: string | undefined): Rule {
  const match = netMatch ? all(protocol(port.protocol), portMatch, netMatch) : all(protocol(port.protocol), portMatch);
  return { match, action: Actions.accept() };
}

export function rawStaticChains(opts: StaticChainOptions): Chain[] {
  return [
    failsafeInChain('raw', opts),
    failsafeOutChain('raw', opts),
    rawPreroutingChain(opts),
    rawOutputChain(opts),
    empty(CHAIN_RPF_SKIP),
  ];
}

/** VXLAN's two directions use different source ports: tracked, each would be a flow that is never replied to. */
function vxlanNoTrack(opts: StaticChainOptions): Rule[] {
  return opts.vxlanEnabled
    ? [{ match: all(protocol('udp'), destPort(opts.vxlanPort)), action: Actions.noTrack() }]
    : [];
}

function rawPreroutingChain(opts: StaticChainOptions): Chain {
  const fromWorkload = MARK_SCRATCH0;
  return {
    name: CHAIN_RAW_PREROUTING,
    rules: [
      // Another program's rules may have left our bits set.
      { match: '', action: Actions.clearMark(ALL_MARK_BITS) },
      ...vxlanNoTrack(opts),
      ...opts.interfacePrefixes.map((prefix) => ({
        match: inInterface(`${prefix}+`),
        action: Actions.setMark(fromWorkload),
      })),
      { match: markSet(fromWorkload), action: Actions.jump(CHAIN_RPF_SKIP) },
      // Strict reverse path check on workload traffic: a workload may only send from addresses routed to it, so a
      // privileged container cannot spoof another's address.
      { match: all(markSet(fromWorkload), rpfCheckFailed()), action: Actions.drop() },
      // Untracked host endpoint policy for the rest.
      { match: markClear(fromWorkload), action: Actions.jump(CHAIN_FROM_HOST_ENDPOINT) },
      acceptIfAccepted,
    ],
  };
}

function rawOutputChain(opts: StaticChainOptions): Chain {
  return {
    name: CHAIN_RAW_OUTPUT,
    rules: [
      { match: '', action: Actions.clearMark(ALL_MARK_BITS) },
      { match: '', action: Actions.jump(CHAIN_TO_HOST_ENDPOINT) },
      ...vxlanNoTrack(opts),
      acceptIfAccepted,
    ],
  };
}

/** cali-nat-outgoing is rendered by natOutgoingChain. */
export function natStaticChains(opts: StaticChainOptions): Chain[] {
  return [
    { name: CHAIN_NAT_PREROUTING, rules: [{ match: '', action: Actions.jump(CHAIN_FIP_DNAT) }] },
    natPostroutingChain(opts),
    { name: CHAIN_NAT_OUTPUT, rules: [{ match: '', action: Actions.jump(CHAIN_FIP_DNAT) }] },
    empty(CHAIN_FIP_DNAT),
    empty(CHAIN_FIP_SNAT),
  ];
}

function natPostroutingChain(opts: StaticChainOptions): Chain {
  return {
    name: CHAIN_NAT_POSTROUTING,
    rules: [
      { match: '', action: Actions.jump(CHAIN_FIP_SNAT) },
      { match: '', action: Actions.jump(CHAIN_NAT_OUTGOING) },
      // A host socket bound to another of the host's addresses (or a service address NATed on the host) would send
      // into the tunnel with a source the other nodes cannot route back: give it the tunnel's own address. Workload
      // addresses are not local (they sit behind veths), so workload traffic is left alone.
      ...opts.addressedTunnels.map((device) => ({
        match: all(outInterface(device), notSrcAddrTypeLocalOfOutInterface(), srcAddrTypeLocal()),
        action: masquerade(opts.randomFully),
      })),
    ],
  };
}

/**
 * The mangle table's cali-PREROUTING (Calico's StaticManglePreroutingChain): established flows and what the raw
 * table accepted pass; the rest goes through the pre-DNAT policy of the host endpoint it arrives on, and is
 * accepted when that policy allowed it (else it goes on, to the filter table's policy).
 */
export function mangleStaticChains(opts: StaticChainOptions): Chain[] {
  return [
    failsafeInChain('mangle', opts),
    failsafeOutChain('mangle', opts),
    {
      name: CHAIN_MANGLE_PREROUTING,
      rules: [
        { match: conntrackState('RELATED,ESTABLISHED'), action: Actions.accept() },
        acceptIfAccepted,
        { match: '', action: Actions.jump(CHAIN_FROM_HOST_ENDPOINT) },
        { ...acceptIfAccepted, comment: ['Host endpoint policy accepted packet.'] },
      ],
    },
  ];
}
