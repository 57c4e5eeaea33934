// The ipsets the base rules match on, filled as Calico's masq, hosts and VXLAN managers fill them
// (felix/dataplane/linux/masq_mgr.go, ipset_hosts_mgr.go, vxlan_mgr.go).
import type { IpSetSpec } from '../ipsets';
import { IP_SET_ALL_HOSTS, IP_SET_ALL_POOLS, IP_SET_ALL_VXLAN_SOURCES, IP_SET_MASQ_POOLS } from './defs';

export interface BaseIpSetOptions {
  allPools: readonly string[];
  natPools: readonly string[];
  ipipEnabled: boolean;
  vxlanEnabled: boolean;
  /** Every node's underlay address, this node's included. */
  hostAddresses: readonly string[];
  nodeAddress: string | undefined;
}

export function baseIpSets(opts: BaseIpSetOptions): IpSetSpec[] {
  // Calico keeps both pool sets whether or not a pool has natOutgoing: cali-nat-outgoing is empty without one.
  const sets: IpSetSpec[] = [
    { name: IP_SET_ALL_POOLS, type: 'hash:net', members: [...opts.allPools] },
    { name: IP_SET_MASQ_POOLS, type: 'hash:net', members: [...opts.natPools] },
  ];
  if (opts.ipipEnabled) {
    sets.push({ name: IP_SET_ALL_HOSTS, type: 'hash:net', members: [...opts.hostAddresses] });
  }
  if (opts.vxlanEnabled) {
    // Calico lists the other nodes' VTEPs; no node sends VXLAN to itself.
    const others = opts.hostAddresses.filter((address) => address !== opts.nodeAddress);
    sets.push({ name: IP_SET_ALL_VXLAN_SOURCES, type: 'hash:net', members: others });
  }
  return sets;
}
