// Prefixes on the wire (RFC 4271 §4.3: a length byte and just enough address bytes) and as text.
// The IPv4 NLRI paths are the hot loops of the speaker: plain byte arithmetic, one number per prefix, nothing else.

import { formatIpv6Groups } from '../../datastore/model/net';
import { AFI_IPV4, AFI_IPV6, type Ipv4PrefixKey, ipv4PrefixKey } from './types';

/** Network mask for each prefix length 0..32, as uint32 numbers. */
const IPV4_MASKS: readonly number[] = Array.from({ length: 33 }, (_, length) =>
  length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0,
);

/**
 * Appends the prefixes in bytes[pos, end) to `out` as packed keys, host bits cleared (RFC 4271: trailing bits are
 * irrelevant). Returns false when the field is not a whole number of valid prefixes.
 */
export function decodeIpv4Prefixes(bytes: Uint8Array, pos: number, end: number, out: Ipv4PrefixKey[]): boolean {
  while (pos < end) {
    const length = bytes[pos];
    if (length > 32) return false;
    const next = pos + 1 + ((length + 7) >> 3);
    if (next > end) return false;
    let address: number;
    if (length > 24) {
      address = (bytes[pos + 1] << 24) | (bytes[pos + 2] << 16) | (bytes[pos + 3] << 8) | bytes[pos + 4];
    } else if (length > 16) {
      address = (bytes[pos + 1] << 24) | (bytes[pos + 2] << 16) | (bytes[pos + 3] << 8);
    } else if (length > 8) {
      address = (bytes[pos + 1] << 24) | (bytes[pos + 2] << 16);
    } else if (length > 0) {
      address = bytes[pos + 1] << 24;
    } else {
      address = 0;
    }
    out.push(((address & IPV4_MASKS[length]) >>> 0) * 64 + length);
    pos = next;
  }
  return true;
}

/** Wire size of one IPv4 prefix. */
export function ipv4PrefixWireLength(key: Ipv4PrefixKey): number {
  return 1 + (((key & 63) + 7) >> 3);
}

/** Writes one IPv4 prefix at `pos`; returns the position after it. */
export function writeIpv4Prefix(buffer: Uint8Array, pos: number, key: Ipv4PrefixKey): number {
  const length = key & 63;
  const address = (key - length) / 64;
  buffer[pos++] = length;
  if (length > 0) buffer[pos++] = address >>> 24;
  if (length > 8) buffer[pos++] = (address >>> 16) & 0xff;
  if (length > 16) buffer[pos++] = (address >>> 8) & 0xff;
  if (length > 24) buffer[pos++] = address & 0xff;
  return pos;
}

export function formatIpv4(address: number): string {
  return `${address >>> 24}.${(address >>> 16) & 0xff}.${(address >>> 8) & 0xff}.${address & 0xff}`;
}

/** Dotted quad to uint32, or undefined unless it is exactly four decimal octets. */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let address = 0;
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    address = address * 256 + octet;
  }
  return address;
}

/** "10.0.0.0/8". */
export function formatIpv4Prefix(key: Ipv4PrefixKey): string {
  const length = key % 64;
  return `${formatIpv4((key - length) / 64)}/${length}`;
}

/** "10.0.0.0/8" to a packed key; throws on anything else, including host bits set ("10.0.0.1/8"). */
export function parseIpv4Prefix(text: string): Ipv4PrefixKey {
  const slash = text.indexOf('/');
  const address = slash < 0 ? undefined : parseIpv4(text.slice(0, slash));
  const lengthText = slash < 0 ? '' : text.slice(slash + 1);
  if (address === undefined || !/^(0|[1-9]\d?)$/.test(lengthText) || Number(lengthText) > 32) {
    throw new Error(`invalid IPv4 prefix "${text}"`);
  }
  const length = Number(lengthText);
  if ((address & IPV4_MASKS[length]) >>> 0 !== address) {
    throw new Error(`IPv4 prefix "${text}" has host bits set`);
  }
  return ipv4PrefixKey(address, length);
}

/** RFC 5952 text of the 16 bytes at `offset`: lower case, longest run of zero groups (two or more) as "::". */
export function formatIpv6(bytes: Uint8Array, offset: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[offset + 2 * i] << 8) | bytes[offset + 2 * i + 1]);
  return formatIpv6Groups(groups);
}

/** IPv6 text (with "::" and an embedded dotted quad allowed) to 16 bytes, or undefined. */
export function parseIpv6(text: string): Uint8Array | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const groups: number[] = [];
    const fields = part.split(':');
    for (let i = 0; i < fields.length; i++) {
      const field = fields[i];
      if (i === fields.length - 1 && field.includes('.')) {
        const v4 = parseIpv4(field);
        if (v4 === undefined) return undefined;
        groups.push(Math.floor(v4 / 65536), v4 % 65536);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(field)) {
        groups.push(Number.parseInt(field, 16));
      } else {
        return undefined;
      }
    }
    return groups;
  };
  const head = parseGroups(halves[0]);
  const tail = halves.length === 2 ? parseGroups(halves[1]) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  groups.forEach((group, i) => {
    bytes[2 * i] = group >>> 8;
    bytes[2 * i + 1] = group & 0xff;
  });
  return bytes;
}

/** Address size in bytes of the families whose NLRI we read as text (IPv4 and IPv6), else undefined. */
export function addressSize(afi: number): number | undefined {
  return afi === AFI_IPV4 ? 4 : afi === AFI_IPV6 ? 16 : undefined;
}

/** An address of `afi` to text. */
export function formatAddress(afi: number, bytes: Uint8Array, offset: number): string {
  return afi === AFI_IPV4
    ? formatIpv4(
        ((bytes[offset] << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) | bytes[offset + 3]) >>> 0,
      )
    : formatIpv6(bytes, offset);
}

/** An IPv4 or IPv6 address as bytes (4 or 16), or undefined. */
export function parseAddress(text: string): Uint8Array | undefined {
  if (text.includes(':')) return parseIpv6(text);
  const v4 = parseIpv4(text);
  return v4 === undefined ? undefined : Uint8Array.of(v4 >>> 24, (v4 >>> 16) & 0xff, (v4 >>> 8) & 0xff, v4 & 0xff);
}

/**
 * The prefixes of `afi` (IPv4 or IPv6) in bytes[pos, end) as text, host bits cleared; undefined when the field is
 * not a whole number of valid prefixes.
 */
export function decodePrefixesAsText(afi: number, bytes: Uint8Array, pos: number, end: number): string[] | undefined {
  const size = addressSize(afi);
  if (size === undefined) return undefined;
  const prefixes: string[] = [];
  const address = new Uint8Array(size);
  while (pos < end) {
    const length = bytes[pos];
    const byteCount = (length + 7) >> 3;
    if (length > size * 8 || pos + 1 + byteCount > end) return undefined;
    address.fill(0);
    address.set(bytes.subarray(pos + 1, pos + 1 + byteCount));
    if (length % 8 !== 0) address[byteCount - 1] &= 0xff << (8 - (length % 8));
    prefixes.push(`${formatAddress(afi, address, 0)}/${length}`);
    pos += 1 + byteCount;
  }
  return prefixes;
}

/** A prefix of `afi` in text to its wire form (length byte and address bytes); throws on bad input. */
export function encodePrefixText(afi: number, text: string): Uint8Array {
  const slash = text.indexOf('/');
  const address = slash < 0 ? undefined : parseAddress(text.slice(0, slash));
  const lengthText = text.slice(slash + 1);
  const length = Number(lengthText);
  if (!address || address.length !== addressSize(afi) || !/^\d{1,3}$/.test(lengthText) || length > address.length * 8) {
    throw new Error(`invalid prefix "${text}" for AFI ${afi}`);
  }
  const wire = new Uint8Array(1 + ((length + 7) >> 3));
  wire[0] = length;
  wire.set(address.subarray(0, wire.length - 1), 1);
  if (length % 8 !== 0) wire[wire.length - 1] &= 0xff << (8 - (length % 8));
  return wire;
}
