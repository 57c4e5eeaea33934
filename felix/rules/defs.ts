// The names and packet-mark bits of felix's iptables rules, as Calico's felix/rules/rule_defs.go has them (v3.32.0),
// so a node's chains, ipsets and marks read the same as a Calico node's.
import { ipSetNameForId } from '../../policy';

/**
 * Mark bits, allocated from Calico's default IptablesMarkMask 0xffff0000 in Calico's order (accept, pass, drop,
 * scratch 0, scratch 1): a policy verdict travels between chains in them.
 */
export const MARK_ACCEPT = 0x10000;
export const MARK_PASS = 0x20000;
/** A deny rule sets it, then drops on it (as Calico's do since 3.30). */
export const MARK_DROP = 0x40000;
/** Set in raw PREROUTING on packets from a workload interface (Calico's MarkScratch0). */
export const MARK_SCRATCH0 = 0x80000;
export const MARK_SCRATCH1 = 0x100000;
/** Calico's allCalicoMarkBits: cleared on entry to the top-level chains, where no verdict is known yet. */
export const ALL_MARK_BITS = MARK_ACCEPT | MARK_PASS | MARK_SCRATCH0 | MARK_SCRATCH1;

/** The chains of ours that the kernel chains jump to, one per table and kernel chain. */
export const CHAIN_FILTER_INPUT = 'cali-INPUT';
export const CHAIN_FILTER_FORWARD = 'cali-FORWARD';
export const CHAIN_FILTER_OUTPUT = 'cali-OUTPUT';
export const CHAIN_RAW_PREROUTING = 'cali-PREROUTING';
export const CHAIN_RAW_OUTPUT = 'cali-OUTPUT';
export const CHAIN_NAT_PREROUTING = 'cali-PREROUTING';
export const CHAIN_MANGLE_PREROUTING = 'cali-PREROUTING';
export const CHAIN_NAT_POSTROUTING = 'cali-POSTROUTING';
export const CHAIN_NAT_OUTPUT = 'cali-OUTPUT';

export const CHAIN_NAT_OUTGOING = 'cali-nat-outgoing';
/** Calico's floating-IP DNAT and SNAT chains (OpenStack's and the floatingIPs annotation's): empty here. */
export const CHAIN_FIP_DNAT = 'cali-fip-dnat';
export const CHAIN_FIP_SNAT = 'cali-fip-snat';
/** Calico's service loop prevention (ServiceLoopPrevention): empty here. */
export const CHAIN_CIDR_BLOCK = 'cali-cidr-block';

export const CHAIN_FAILSAFE_IN = 'cali-failsafe-in';
export const CHAIN_FAILSAFE_OUT = 'cali-failsafe-out';

export const CHAIN_WORKLOAD_TO_HOST = 'cali-wl-to-host';
export const CHAIN_FROM_WORKLOAD_DISPATCH = 'cali-from-wl-dispatch';
export const CHAIN_TO_WORKLOAD_DISPATCH = 'cali-to-wl-dispatch';

/** Host endpoint dispatch chains: empty until host endpoints are rendered; the static chains already jump to them. */
export const CHAIN_TO_HOST_ENDPOINT = 'cali-to-host-endpoint';
export const CHAIN_FROM_HOST_ENDPOINT = 'cali-from-host-endpoint';
export const CHAIN_TO_HOST_ENDPOINT_FORWARD = 'cali-to-hep-forward';
export const CHAIN_FROM_HOST_ENDPOINT_FORWARD = 'cali-from-hep-forward';

/** Workloads whose spoofed sources are allowed (allowSpoofedSourcePrefixes) skip the RPF check here: empty here. */
export const CHAIN_RPF_SKIP = 'cali-rpf-skip';

/** Per-endpoint chains: traffic to the workload (its ingress policy) and from it (its egress policy). */
export const WORKLOAD_TO_ENDPOINT_PREFIX = 'cali-tw-';
export const WORKLOAD_FROM_ENDPOINT_PREFIX = 'cali-fw-';
/** Host endpoint chains: traffic leaving the host through it, arriving at the host, and forwarded out and in. */
export const HOST_TO_ENDPOINT_PREFIX = 'cali-th-';
export const HOST_FROM_ENDPOINT_PREFIX = 'cali-fh-';
export const HOST_TO_ENDPOINT_FORWARD_PREFIX = 'cali-thfw-';
export const HOST_FROM_ENDPOINT_FORWARD_PREFIX = 'cali-fhfw-';

/** Every IPAM pool (hash:net): NAT outgoing leaves traffic to these alone. Calico ≥ 3.32.1 renames it network-ip-pools. */
export const IP_SET_ALL_POOLS = ipSetNameForId('all-ipam-pools');
/** Pools with natOutgoing (hash:net): traffic from these to outside every pool is masqueraded. */
export const IP_SET_MASQ_POOLS = ipSetNameForId('masq-ipam-pools');
/** Every node's underlay address (hash:net): the only sources IPIP is accepted from. */
export const IP_SET_ALL_HOSTS = ipSetNameForId('all-hosts-net');
/** The other nodes' underlay addresses (hash:net): the only sources VXLAN is accepted from. */
export const IP_SET_ALL_VXLAN_SOURCES = ipSetNameForId('all-vxlan-net');

/** IP protocol numbers (Calico matches IPIP by number: the name is not known everywhere). */
export const PROTO_IPIP = 4;
export const PROTO_UDP = 17;
