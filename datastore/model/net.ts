// IP addresses and CIDRs as plain numbers: IPv4 as an unsigned 32-bit number, IPv6 as a bigint. Parsing
// follows Go's net.ParseIP/ParseCIDR (what Calico validates with): dotted-quad IPv4 without leading zeros,
// RFC 4291 IPv6 text (with an optional trailing dotted IPv4), no zones. IPAM reuses these, so they are pure
// and avoid allocating beyond the result.

export type IpVersion = 4 | 6;

export type IpAddress = { version: 4; address: number } | { version: 6; address: bigint };

/** A prefix. `address` is as written: it may have host bits set (see `hasHostBits`, `maskCidr`). */
export type Cidr = IpAddress & { prefix: number };

const V4_BITS = 32;
const V6_BITS = 128;
const V6_ALL_ONES = (1n << 128n) - 1n;

function parseIpv4(text: string): number | undefined {
  let value = 0;
  let octets = 0;
  let start = 0;
  for (let i = 0; i <= text.length; i++) {
    if (i < text.length && text[i] !== '.') continue;
    const digits = i - start;
    // Go rejects empty octets, more than three digits and leading zeros ("010" is ambiguous octal).
    if (digits === 0 || digits > 3 || (digits > 1 && text[start] === '0')) return undefined;
    let octet = 0;
    for (let j = start; j < i; j++) {
      const d = text.charCodeAt(j) - 48;
      if (d < 0 || d > 9) return undefined;
      octet = octet * 10 + d;
    }
    if (octet > 255) return undefined;
    value = value * 256 + octet;
    octets++;
    start = i + 1;
  }
  return octets === 4 ? value : undefined;
}

function parseHexGroup(text: string): number | undefined {
  if (text.length === 0 || text.length > 4) return undefined;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (c >= 97 && c <= 102) d = c - 87;
    else if (c >= 65 && c <= 70) d = c - 55;
    else return undefined;
    value = value * 16 + d;
  }
  return value;
}

/** The 16-bit groups of one side of an IPv6 address; the last part may be a dotted IPv4 (two groups). */
function parseIpv6Groups(text: string, allowTrailingIpv4: boolean): number[] | undefined {
  if (text === '') return [];
  const parts = text.split(':');
  const groups: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (allowTrailingIpv4 && i === parts.length - 1 && part.includes('.')) {
      const v4 = parseIpv4(part);
      if (v4 === undefined) return undefined;
      groups.push(Math.floor(v4 / 65536), v4 % 65536);
      continue;
    }
    const group = parseHexGroup(part);
    if (group === undefined) return undefined;
    groups.push(group);
  }
  return groups;
}

function parseIpv6(text: string): bigint | undefined {
  const gap = text.indexOf('::');
  let groups: number[];
  if (gap === -1) {
    const all = parseIpv6Groups(text, true);
    if (all === undefined || all.length !== 8) return undefined;
    groups = all;
  } else {
    if (text.indexOf('::', gap + 1) !== -1) return undefined;
    const head = parseIpv6Groups(text.slice(0, gap), false);
    const tail = parseIpv6Groups(text.slice(gap + 2), true);
    // "::" stands for at least one zero group.
    if (head === undefined || tail === undefined || head.length + tail.length > 7) return undefined;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(g);
  return value;
}

/** Parses an IPv4 or IPv6 address (no prefix), or returns undefined. */
export function parseIp(text: string): IpAddress | undefined {
  if (text.includes(':')) {
    const address = parseIpv6(text);
    return address === undefined ? undefined : { version: 6, address };
  }
  const address = parseIpv4(text);
  return address === undefined ? undefined : { version: 4, address };
}

export function isValidIp(text: string, version?: IpVersion): boolean {
  const ip = parseIp(text);
  return ip !== undefined && (version === undefined || ip.version === version);
}

function parsePrefixLength(text: string, max: number): number | undefined {
  // Go accepts decimal digits only, without a sign; "024" is fine, as in Go.
  if (!/^[0-9]{1,3}$/.test(text)) return undefined;
  const prefix = Number(text);
  return prefix <= max ? prefix : undefined;
}

/** Parses `address/prefix` (host bits allowed), or returns undefined. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash === -1) return undefined;
  const ip = parseIp(text.slice(0, slash));
  if (ip === undefined) return undefined;
  const prefix = parsePrefixLength(text.slice(slash + 1), ip.version === 4 ? V4_BITS : V6_BITS);
  if (prefix === undefined) return undefined;
  return ip.version === 4 ? { version: 4, address: ip.address, prefix } : { version: 6, address: ip.address, prefix };
}

/** Calico's ParseCIDROrIP: a CIDR, or a bare address taken as its /32 or /128. */
export function parseCidrOrIp(text: string): Cidr | undefined {
  if (text.includes('/')) return parseCidr(text);
  const ip = parseIp(text);
  if (ip === undefined) return undefined;
  return ip.version === 4
    ? { version: 4, address: ip.address, prefix: V4_BITS }
    : { version: 6, address: ip.address, prefix: V6_BITS };
}

function v4Mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (V4_BITS - prefix)) >>> 0;
}

function v6Mask(prefix: number): bigint {
  return (V6_ALL_ONES << BigInt(V6_BITS - prefix)) & V6_ALL_ONES;
}

/** The network of a CIDR: its address with the host bits cleared. */
export function maskCidr(cidr: Cidr): Cidr {
  return cidr.version === 4
    ? { version: 4, address: (cidr.address & v4Mask(cidr.prefix)) >>> 0, prefix: cidr.prefix }
    : { version: 6, address: cidr.address & v6Mask(cidr.prefix), prefix: cidr.prefix };
}

export function hasHostBits(cidr: Cidr): boolean {
  return maskCidr(cidr).address !== cidr.address;
}

/**
 * True when `inner` (an address, or every address of a CIDR) lies inside `outer`. Different IP versions
 * never contain each other.
 */
export function cidrContains(outer: Cidr, inner: Cidr | IpAddress): boolean {
  if (outer.version !== inner.version) return false;
  if ('prefix' in inner && inner.prefix < outer.prefix) return false;
  if (outer.version === 4) {
    const mask = v4Mask(outer.prefix);
    return (outer.address & mask) >>> 0 === ((inner.address as number) & mask) >>> 0;
  }
  const mask = v6Mask(outer.prefix);
  return (outer.address & mask) === ((inner.address as bigint) & mask);
}

/** True when two CIDRs share at least one address (for prefixes, that means one contains the other). */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.prefix <= b.prefix ? cidrContains(a, b) : cidrContains(b, a);
}

/**
 * An address with an optional port, as BGPPeer.peerIP takes it: "192.0.2.1", "192.0.2.1:1790", "2001:db8::1"
 * or "[2001:db8::1]:1790". The port, when present, is 1-65535.
 */
export function parseIpPort(text: string): { ip: IpAddress; port?: number } | undefined {
  const bracketed = /^\[([^\]]+)\]:([0-9]+)$/.exec(text);
  const v4WithPort = /^([0-9.]+):([0-9]+)$/.exec(text);
  const withPort = bracketed ?? v4WithPort;
  if (withPort === null) {
    const ip = parseIp(text);
    return ip === undefined ? undefined : { ip };
  }
  const ip = parseIp(withPort[1]!);
  const port = Number(withPort[2]);
  if (ip === undefined || (bracketed !== null && ip.version !== 6) || port < 1 || port > 65535) return undefined;
  return { ip, port };
}

/** Go's text form: dotted quad, or RFC 5952 IPv6 (lower case, longest run of two or more zero groups as "::"). */
export function formatIp(ip: IpAddress): string {
  if (ip.version === 4) {
    const a = ip.address;
    return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
  }
  const groups: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(Number((ip.address >> shift) & 0xffffn));
  return formatIpv6Groups(groups);
}

/** RFC 5952 text of eight 16-bit groups: lower case, the longest run of two or more zero groups as "::". */
export function formatIpv6Groups(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':');
  if (bestStart === -1) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIp(cidr)}/${cidr.prefix}`;
}
