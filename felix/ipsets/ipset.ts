// The model of felix's IPv4 ipsets: which sets are ours, their types and options, and every member in the one text
// form the kernel prints back (`ipset save`), so what we want and what the kernel holds compare as plain strings.
import { formatIp, maskCidr, parseCidrOrIp } from '../../datastore/model/net';
import { IPV4_MAIN_IP_SET_NAME_PREFIX, MAX_IP_SET_NAME_LENGTH } from '../../policy';

/** Types felix programs (Calico's IPSetType subset for IPv4 endpoints, CIDRs and named ports). */
export type IpSetType = 'hash:ip' | 'hash:net' | 'hash:ip,port';

export const IP_SET_TYPES: readonly IpSetType[] = ['hash:ip', 'hash:net', 'hash:ip,port'];

/** The only family felix's IPv4 sets use (ipset's name for IPv4). */
export const IPV4_FAMILY = 'inet';

/**
 * Prefix of felix's temporary IPv4 sets: the main prefix with the format-version token "0" replaced by "t"
 * (felix IPVersionConfig.tempSetNamePrefix).
 */
export const IPV4_TEMP_IP_SET_NAME_PREFIX = 'cali4t';

/** Felix's default `maxelem` (its MaxIpsetSize setting). */
export const DEFAULT_MAX_ELEMENTS = 1_048_576;

/** Felix's default IpsetsRefreshInterval: how often the whole kernel state is re-read to repair drift. */
export const IPSET_RESYNC_INTERVAL_MS = 90_000;

/** What callers want: one set, by its full kernel name (see policy's `ipSetNameForId`). */
export interface IpSetSpec {
  /** `cali40…`, at most 31 characters. */
  name: string;
  type: IpSetType;
  /** IPv4 addresses (hash:ip), CIDRs or addresses (hash:net), `10.0.0.1,tcp:80` (hash:ip,port). */
  members: Iterable<string>;
  /** The kernel's `maxelem`; default DEFAULT_MAX_ELEMENTS. */
  maxElements?: number;
}

/** What a set is, apart from its members: a set whose metadata changes must be rebuilt. */
export interface IpSetMetadata {
  /** A type string as the kernel reports it; for sets we want, an IpSetType. */
  type: string;
  family: string;
  maxElements: number;
}

/** The metadata of a set we want: one of our types. */
export interface WantedIpSetMetadata extends IpSetMetadata {
  type: IpSetType;
}

export function sameMetadata(a: IpSetMetadata, b: IpSetMetadata): boolean {
  return a.type === b.type && a.family === b.family && a.maxElements === b.maxElements;
}

/**
 * The kernel swaps two sets only when their types and families match ("The sets cannot be swapped: their type
 * does not match"); a set whose type changes has to be destroyed and created again.
 */
export function canSwap(a: IpSetMetadata, b: IpSetMetadata): boolean {
  return a.type === b.type && a.family === b.family;
}

export function isIpSetType(type: string): type is IpSetType {
  return (IP_SET_TYPES as readonly string[]).includes(type);
}

/** Main sets felix manages: the IPv4 main prefix. */
export function isMainIpSetName(name: string): boolean {
  return name.startsWith(IPV4_MAIN_IP_SET_NAME_PREFIX);
}

export function isTempIpSetName(name: string): boolean {
  return name.startsWith(IPV4_TEMP_IP_SET_NAME_PREFIX);
}

/** Every other set in the kernel is foreign: read past, never written. */
export function isOurIpSetName(name: string): boolean {
  return isMainIpSetName(name) || isTempIpSetName(name);
}

/** The temporary set a main set is rebuilt in before the swap: same id, temporary prefix, same length. */
export function tempIpSetName(mainName: string): string {
  return IPV4_TEMP_IP_SET_NAME_PREFIX + mainName.slice(IPV4_MAIN_IP_SET_NAME_PREFIX.length);
}

/** Throws unless `name` is a main set name felix may own. */
export function assertMainIpSetName(name: string): void {
  // Printable ASCII without spaces: the name is one word of an `ipset restore` line.
  if (!isMainIpSetName(name) || name.length === IPV4_MAIN_IP_SET_NAME_PREFIX.length || !/^[!-~]+$/.test(name)) {
    throw new Error(`bad ipset name "${name}": expected "${IPV4_MAIN_IP_SET_NAME_PREFIX}" + id, no spaces`);
  }
  if (name.length > MAX_IP_SET_NAME_LENGTH) {
    throw new Error(`bad ipset name "${name}": longer than the kernel's ${MAX_IP_SET_NAME_LENGTH} characters`);
  }
}

export function assertMaxElements(maxElements: number): void {
  if (!Number.isSafeInteger(maxElements) || maxElements < 1 || maxElements > 0xffffffff) {
    throw new Error(`bad ipset maxElements ${maxElements}: expected 1 to 4294967295`);
  }
}

const IP_PORT_PROTOCOLS = new Set(['tcp', 'udp', 'sctp']);

/**
 * The member as the kernel prints it for a set of `type`: hash:ip a dotted quad; hash:net the network with host
 * bits cleared, bare when /32; hash:ip,port `ip,protocol:port` with a lower-case protocol. Throws on anything a set
 * of that type cannot hold.
 */
export function canonicalMember(type: IpSetType, member: string): string {
  const bad = (why: string) => new Error(`bad ${type} ipset member "${member}": ${why}`);
  switch (type) {
    case 'hash:ip': {
      const cidr = parseCidrOrIp(member);
      if (cidr?.version !== 4 || cidr.prefix !== 32) throw bad('expected an IPv4 address');
      // A bare address that parses is written as the kernel writes it already (no leading zeros).
      return member.includes('/') ? formatIp(cidr) : member;
    }
    case 'hash:net': {
      const cidr = parseCidrOrIp(member);
      if (cidr?.version !== 4) throw bad('expected an IPv4 CIDR or address');
      // The kernel's hash:net takes prefixes 1 to 32 only.
      if (cidr.prefix === 0) throw bad('a hash:net set cannot hold /0: use 0.0.0.0/1 and 128.0.0.0/1');
      const network = maskCidr(cidr);
      return network.prefix === 32 ? formatIp(network) : `${formatIp(network)}/${network.prefix}`;
    }
    case 'hash:ip,port': {
      const match = /^([^,]+),([A-Za-z]+):([0-9]{1,5})$/.exec(member);
      if (match === null) throw bad('expected "<ip>,<tcp|udp|sctp>:<port>"');
      const ip = parseCidrOrIp(match[1]!);
      if (ip?.version !== 4 || ip.prefix !== 32) throw bad('expected an IPv4 address before the comma');
      const protocol = match[2]!.toLowerCase();
      if (!IP_PORT_PROTOCOLS.has(protocol)) throw bad('the protocol must be tcp, udp or sctp');
      const port = Number(match[3]);
      if (port > 65535) throw bad('the port must be 0 to 65535');
      return `${formatIp(ip)},${protocol}:${port}`;
    }
  }
}
