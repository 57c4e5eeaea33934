// NAT outgoing, after Calico's felix/rules/nat.go: traffic from a pool with natOutgoing to anywhere outside every
// pool leaves with the node's address (MASQUERADE), or with natOutgoingAddress (SNAT) when that is set.
import { type Action, Actions, type Chain } from '../iptables';
import { CHAIN_NAT_OUTGOING, IP_SET_ALL_POOLS, IP_SET_MASQ_POOLS } from './defs';
import { all, notDestIpSet, sourceIpSet } from './match';

/**
 * `--random-fully`: source ports picked at random, so two flows masqueraded at once do not race for the same port.
 * Calico adds it wherever iptables (≥ 1.6.2) and the kernel (≥ 3.14) have it, i.e. on every node tabby supports.
 */
export function masquerade(randomFully: boolean): Action {
  return randomFully ? Actions.fragment('--jump MASQUERADE --random-fully') : Actions.masquerade();
}

function snat(address: string, randomFully: boolean): Action {
  return Actions.fragment(`--jump SNAT --to-source ${address}${randomFully ? ' --random-fully' : ''}`);
}

export interface NatOutgoingOptions {
  /** Whether any pool has natOutgoing: without one the chain is empty (Calico's natOutgoingActive). */
  active: boolean;
  /** A valid IPv4 address, or undefined for MASQUERADE. */
  natOutgoingAddress: string | undefined;
  randomFully: boolean;
}

export function natOutgoingChain(opts: NatOutgoingOptions): Chain {
  if (!opts.active) return { name: CHAIN_NAT_OUTGOING, rules: [] };
  const action =
    opts.natOutgoingAddress === undefined
      ? masquerade(opts.randomFully)
      : snat(opts.natOutgoingAddress, opts.randomFully);
  return {
    name: CHAIN_NAT_OUTGOING,
    rules: [{ match: all(sourceIpSet(IP_SET_MASQ_POOLS), notDestIpSet(IP_SET_ALL_POOLS)), action }],
  };
}
