// The BGP benchmark's feed, as pure functions: which prefixes, which attribute sets, the UPDATE stream that
// carries them, and how a receiver recognises them. The feeder process (./update-feeder) sends the stream; its
// sink mode counts what a daemon passes on.
import {
  AsPathSegmentType,
  encodeAttributes,
  encodeUpdates,
  HEADER_LENGTH,
  type Ipv4PrefixKey,
  ipv4PrefixKey,
  MessageType,
  Origin,
} from '../../bgp/packet';
import { decodeIpv4Prefixes } from '../../bgp/packet/prefix';

export const FEEDER_AS = 65001;
export const DAEMON_AS = 64512;
export const SINK_AS = 65002;

/** Prefix i lives in the i-th /24 block counting up from 10.0.0.0 (1,000,000 blocks reach 25.66.63.0/24). */
const FIRST_BLOCK = 10 << 16;
/** Every HOST_ROUTE_EVERY-th prefix is a /32 (the block's .1), the others the /24 itself: a mix of both lengths. */
const HOST_ROUTE_EVERY = 4;

export function feedPrefix(index: number): Ipv4PrefixKey {
  const block = (FIRST_BLOCK + index) * 256;
  return index % HOST_ROUTE_EVERY === HOST_ROUTE_EVERY - 1 ? ipv4PrefixKey(block + 1, 32) : ipv4PrefixKey(block, 24);
}

/** The index of a feed prefix among the first `count`, or -1 when the key is not one of them. */
export function feedIndex(key: Ipv4PrefixKey, count: number): number {
  const index = Math.floor(key / 64 / 256) - FIRST_BLOCK;
  if (index < 0 || index >= count) return -1;
  return feedPrefix(index) === key ? index : -1;
}

/**
 * Attribute set `set`: the same shape for every set (so bytes per prefix do not depend on how many sets there
 * are); MED and one community tell the sets apart.
 */
function encodeAttributeSet(set: number, nextHop: string): Uint8Array {
  return encodeAttributes(
    {
      origin: Origin.Igp,
      asPath: [{ type: AsPathSegmentType.AsSequence, asns: [FEEDER_AS, 64_700, 64_800] }],
      nextHop,
      med: set,
      communities: [(FEEDER_AS * 65_536 + set) >>> 0],
    },
    { fourOctetAs: true, ibgp: false },
  );
}

export interface Feed {
  /** The UPDATE messages back to back, ready to write to a socket. */
  stream: Uint8Array;
  messages: number;
}

/**
 * UPDATEs announcing prefixes 0..count-1, prefix i with attribute set i % attributeSets, each message packed
 * with as many prefixes of one set as fit in 4096 bytes.
 */
export function encodeFeed(count: number, attributeSets: number, nextHop: string): Feed {
  const perSet: Ipv4PrefixKey[][] = Array.from({ length: attributeSets }, () => []);
  for (let i = 0; i < count; i++) perSet[i % attributeSets].push(feedPrefix(i));
  const messages = perSet.flatMap((keys, set) => encodeUpdates(encodeAttributeSet(set, nextHop), keys));
  return { stream: Buffer.concat(messages), messages: messages.length };
}

/**
 * Marks the feed prefixes announced in one message (header included) in `seen` (one byte per feed prefix) and
 * returns how many were new. Messages other than UPDATE, and prefixes outside the feed, count nothing.
 */
export function markAnnounced(message: Uint8Array, seen: Uint8Array): number {
  if (message[18] !== MessageType.Update) return 0;
  const attributesLengthAt = HEADER_LENGTH + 2 + ((message[19] << 8) | message[20]);
  const nlriStart = attributesLengthAt + 2 + ((message[attributesLengthAt] << 8) | message[attributesLengthAt + 1]);
  const keys: Ipv4PrefixKey[] = [];
  if (!decodeIpv4Prefixes(message, nlriStart, message.length, keys)) throw new Error('malformed NLRI in an UPDATE');
  let fresh = 0;
  for (const key of keys) {
    const index = feedIndex(key, seen.length);
    if (index >= 0 && seen[index] === 0) {
      seen[index] = 1;
      fresh++;
    }
  }
  return fresh;
}
