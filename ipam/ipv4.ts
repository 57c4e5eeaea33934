// IPv4 addresses and CIDRs as unsigned 32-bit numbers, for block math. Parsing is the datastore model's
// (Go's rules, as Calico validates); this adds what IPAM needs on top.
// The model's parsers directly, not the datastore's index: the CNI plugin must not load the etcd client.
import { parseCidr, parseIp } from '../datastore/model/net';

export interface Ipv4Cidr {
  /** The network address (host bits cleared). */
  base: number;
  prefix: number;
}

export function formatIpv4(address: number): string {
  return `${address >>> 24}.${(address >>> 16) & 255}.${(address >>> 8) & 255}.${address & 255}`;
}

export function parseIpv4(text: string): number | undefined {
  const ip = parseIp(text);
  return ip?.version === 4 ? ip.address : undefined;
}

/** An IPv4 CIDR with host bits cleared, or undefined for anything else (IPv6, malformed). */
export function parseIpv4Cidr(text: string): Ipv4Cidr | undefined {
  const c = parseCidr(text);
  if (c?.version !== 4) return undefined;
  return { base: maskIpv4(c.address, c.prefix), prefix: c.prefix };
}

export function maskIpv4(address: number, prefix: number): number {
  return prefix === 0 ? 0 : (address & (~0 << (32 - prefix))) >>> 0;
}

export function formatIpv4Cidr(c: Ipv4Cidr): string {
  return `${formatIpv4(c.base)}/${c.prefix}`;
}

export function cidrSize(c: Ipv4Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function ipv4InCidr(address: number, c: Ipv4Cidr): boolean {
  return maskIpv4(address, c.prefix) === c.base;
}

export function cidrWithin(inner: Ipv4Cidr, outer: Ipv4Cidr): boolean {
  return inner.prefix >= outer.prefix && ipv4InCidr(inner.base, outer);
}
