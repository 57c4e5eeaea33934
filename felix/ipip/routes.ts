// The userspace IPIP datapath's route table as the native side takes it: one [network, prefix length, remote]
// triple of unsigned 32-bit numbers per route. Pure: validation and encoding only.
import { hasHostBits, parseCidr } from '../../datastore/model/net';
import { parseIpv4 } from '../../ipam/ipv4';

/** Packets for `cidr` are tunnelled to the node whose underlay address is `remote`. */
export interface IpipRoute {
  cidr: string;
  remote: string;
}

/**
 * Checks `routes` and encodes them for the native table. Throws a TypeError naming the route at fault for a CIDR
 * or remote that is not IPv4, a CIDR with host bits set, a CIDR listed twice, and a remote that is the unspecified
 * address or this node itself (its packets would come straight back in and loop).
 */
export function encodeRoutes(routes: readonly IpipRoute[], localAddress: string): Uint32Array {
  const encoded = new Uint32Array(routes.length * 3);
  const firstIndexByCidr = new Map<string, number>();
  routes.forEach((route, index) => {
    const where = `routes[${index}]`;
    const cidr = parseCidr(route.cidr);
    if (cidr?.version !== 4) throw new TypeError(`${where}.cidr: "${route.cidr}" is not an IPv4 CIDR`);
    if (hasHostBits(cidr)) throw new TypeError(`${where}.cidr: "${route.cidr}" has host bits set`);
    const remote = parseIpv4(route.remote);
    if (remote === undefined) throw new TypeError(`${where}.remote: "${route.remote}" is not an IPv4 address`);
    if (remote === 0) throw new TypeError(`${where}.remote: 0.0.0.0 is no node`);
    if (remote === parseIpv4(localAddress)) {
      throw new TypeError(`${where}.remote: ${route.remote} is this node's own address`);
    }
    const key = `${cidr.address}/${cidr.prefix}`;
    const first = firstIndexByCidr.get(key);
    if (first !== undefined) throw new TypeError(`${where}.cidr: ${route.cidr} is already routed by routes[${first}]`);
    firstIndexByCidr.set(key, index);
    encoded.set([cidr.address, cidr.prefix, remote], index * 3);
  });
  return encoded;
}
