// Path attributes (RFC 4271 §4.3, §5) with the revised error handling of RFC 7606: each malformed attribute is
// handled exactly as its section says (treat-as-withdraw, attribute discard or session reset), and RFC 6793's
// AS4_PATH / AS4_AGGREGATOR are merged on 2-octet sessions so callers only ever see 4-octet AS numbers.
import { BgpError, UpdateErrorSubcode } from './errors';
import {
  addressSize,
  decodePrefixesAsText,
  encodePrefixText,
  formatAddress,
  formatIpv4,
  parseAddress,
  parseIpv4,
} from './prefix';
import {
  AFI_IPV4,
  AFI_IPV6,
  type AsPathSegment,
  AsPathSegmentType,
  ErrorCode,
  type MpReach,
  type MpUnreach,
  type PathAttributes,
  SAFI_UNICAST,
  type SessionCodecContext,
  type UnknownAttribute,
} from './types';

export enum AttributeType {
  Origin = 1,
  AsPath = 2,
  NextHop = 3,
  MultiExitDisc = 4,
  LocalPref = 5,
  AtomicAggregate = 6,
  Aggregator = 7,
  Communities = 8,
  OriginatorId = 9,
  ClusterList = 10,
  MpReachNlri = 14,
  MpUnreachNlri = 15,
  ExtendedCommunities = 16,
  As4Path = 17,
  As4Aggregator = 18,
  LargeCommunities = 32,
}

export enum AttributeFlag {
  Optional = 0x80,
  Transitive = 0x40,
  Partial = 0x20,
  ExtendedLength = 0x10,
}

/** RFC 6793: the 2-octet stand-in for a 4-octet AS number. */
export const AS_TRANS = 23456;

const OPTIONAL_TRANSITIVE = AttributeFlag.Optional | AttributeFlag.Transitive;

/** Name and the Optional/Transitive bits of each attribute we interpret, indexed by type code. */
const KNOWN_ATTRIBUTES: readonly ({ name: string; flags: number } | undefined)[] = tableByType([
  [AttributeType.Origin, { name: 'ORIGIN', flags: AttributeFlag.Transitive }],
  [AttributeType.AsPath, { name: 'AS_PATH', flags: AttributeFlag.Transitive }],
  [AttributeType.NextHop, { name: 'NEXT_HOP', flags: AttributeFlag.Transitive }],
  [AttributeType.MultiExitDisc, { name: 'MULTI_EXIT_DISC', flags: AttributeFlag.Optional }],
  [AttributeType.LocalPref, { name: 'LOCAL_PREF', flags: AttributeFlag.Transitive }],
  [AttributeType.AtomicAggregate, { name: 'ATOMIC_AGGREGATE', flags: AttributeFlag.Transitive }],
  [AttributeType.Aggregator, { name: 'AGGREGATOR', flags: OPTIONAL_TRANSITIVE }],
  [AttributeType.Communities, { name: 'COMMUNITIES', flags: OPTIONAL_TRANSITIVE }],
  [AttributeType.OriginatorId, { name: 'ORIGINATOR_ID', flags: AttributeFlag.Optional }],
  [AttributeType.ClusterList, { name: 'CLUSTER_LIST', flags: AttributeFlag.Optional }],
  [AttributeType.MpReachNlri, { name: 'MP_REACH_NLRI', flags: AttributeFlag.Optional }],
  [AttributeType.MpUnreachNlri, { name: 'MP_UNREACH_NLRI', flags: AttributeFlag.Optional }],
  [AttributeType.ExtendedCommunities, { name: 'EXTENDED_COMMUNITIES', flags: OPTIONAL_TRANSITIVE }],
  [AttributeType.As4Path, { name: 'AS4_PATH', flags: OPTIONAL_TRANSITIVE }],
  [AttributeType.As4Aggregator, { name: 'AS4_AGGREGATOR', flags: OPTIONAL_TRANSITIVE }],
  [AttributeType.LargeCommunities, { name: 'LARGE_COMMUNITIES', flags: OPTIONAL_TRANSITIVE }],
]);

/** Attributes that only iBGP carries; from an external peer they are discarded (RFC 7606 §7.5, §7.9, §7.10). */
const IBGP_ONLY_ATTRIBUTES: ReadonlySet<number> = new Set([
  AttributeType.LocalPref,
  AttributeType.OriginatorId,
  AttributeType.ClusterList,
]);

function tableByType<T>(entries: [number, T][]): (T | undefined)[] {
  const table = new Array<T | undefined>(256).fill(undefined);
  for (const [type, value] of entries) table[type] = value;
  return table;
}

/** Well-known mandatory attributes (RFC 4271 §5.1.2-5.1.3); NEXT_HOP only for the IPv4 NLRI field (RFC 4760). */
const MANDATORY_WITH_IPV4_NLRI = [AttributeType.Origin, AttributeType.AsPath, AttributeType.NextHop];
const MANDATORY_WITH_MP_REACH = [AttributeType.Origin, AttributeType.AsPath];

/** The attribute list of one UPDATE, decoded under RFC 7606. */
export interface DecodedAttributes {
  attributes: PathAttributes;
  treatAsWithdraw: boolean;
  problems: string[];
}

/** Per-UPDATE decoding state. */
interface DecodeState {
  readonly ctx: SessionCodecContext;
  readonly attributes: PathAttributes;
  readonly problems: string[];
  treatAsWithdraw: boolean;
  /** An MP_REACH_NLRI was found, whether or not its family is one we read. */
  mpReachFound: boolean;
  /** Held until the end: they only matter on 2-octet sessions, merged into AS_PATH / AGGREGATOR (RFC 6793). */
  as4Path?: AsPathSegment[];
  as4Aggregator?: { asn: number; address: string };
}

/**
 * Which attribute types this UPDATE carried, without a per-message allocation: a type was seen when its slot holds
 * the current generation (decoding is synchronous, so one table serves every session).
 */
const seenGeneration = new Uint32Array(256);
let generation = 0;

function readU16(bytes: Uint8Array, pos: number): number {
  return (bytes[pos] << 8) | bytes[pos + 1];
}

function readU32(bytes: Uint8Array, pos: number): number {
  return ((bytes[pos] << 24) | (bytes[pos + 1] << 16) | (bytes[pos + 2] << 8) | bytes[pos + 3]) >>> 0;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function hex(bytes: Uint8Array, start: number, end: number): string {
  let text = '';
  for (let i = start; i < end; i++) text += HEX[bytes[i]];
  return text;
}

function attributeName(type: number): string {
  return KNOWN_ATTRIBUTES[type]?.name ?? `attribute ${type}`;
}

function treatAsWithdraw(state: DecodeState, problem: string): void {
  state.treatAsWithdraw = true;
  state.problems.push(`${problem} (treat-as-withdraw)`);
}

function discardAttribute(state: DecodeState, problem: string): void {
  state.problems.push(`${problem} (attribute discarded)`);
}

/**
 * Decodes the path attributes in bytes[start, end). `hasIpv4Nlri`: the UPDATE's NLRI field is not empty (the
 * well-known mandatory attributes are then required, NEXT_HOP included). Throws BgpError for the errors that reset
 * the session.
 */
export function decodeAttributes(
  bytes: Uint8Array,
  start: number,
  end: number,
  ctx: SessionCodecContext,
  hasIpv4Nlri: boolean,
): DecodedAttributes {
  generation = (generation + 1) >>> 0 || 1;
  const state: DecodeState = {
    ctx,
    attributes: {},
    problems: [],
    treatAsWithdraw: false,
    mpReachFound: false,
  };
  let pos = start;
  while (pos < end) {
    const attributeStart = pos;
    const flags = bytes[pos];
    const type = bytes[pos + 1];
    const headerLength = flags & AttributeFlag.ExtendedLength ? 4 : 3;
    if (end - pos < headerLength) {
      // RFC 7606 §4: too few bytes left for an attribute header; the NLRI is still found by the total length.
      treatAsWithdraw(state, `${end - pos} stray bytes at the end of the attribute list`);
      break;
    }
    const length = headerLength === 4 ? readU16(bytes, pos + 2) : bytes[pos + 2];
    const valueStart = pos + headerLength;
    const valueEnd = valueStart + length;
    if (valueEnd > end) {
      // RFC 7606 §4: an attribute overrunning the list. Its NLRI cannot be trusted when it is an MP attribute.
      if (type === AttributeType.MpReachNlri || type === AttributeType.MpUnreachNlri) {
        throw new BgpError(
          ErrorCode.UpdateMessage,
          UpdateErrorSubcode.MalformedAttributeList,
          new Uint8Array(0),
          `${attributeName(type)} of length ${length} overruns the attribute list`,
        );
      }
      treatAsWithdraw(state, `${attributeName(type)} of length ${length} overruns the attribute list`);
      break;
    }
    pos = valueEnd;
    if (seenGeneration[type] === generation) {
      // RFC 7606 §3 (g).
      if (type === AttributeType.MpReachNlri || type === AttributeType.MpUnreachNlri) {
        throw new BgpError(
          ErrorCode.UpdateMessage,
          UpdateErrorSubcode.MalformedAttributeList,
          new Uint8Array(0),
          `${attributeName(type)} appears more than once`,
        );
      }
      state.problems.push(`${attributeName(type)} appears more than once: all but the first discarded`);
      continue;
    }
    seenGeneration[type] = generation;
    const known = KNOWN_ATTRIBUTES[type];
    if (known === undefined) {
      if (!(flags & AttributeFlag.Optional)) {
        throw new BgpError(
          ErrorCode.UpdateMessage,
          UpdateErrorSubcode.UnrecognizedWellKnownAttribute,
          bytes.slice(attributeStart, valueEnd),
          `unrecognized well-known attribute ${type}`,
        );
      }
      const unknown: UnknownAttribute = { flags, type, value: bytes.slice(valueStart, valueEnd) };
      if (state.attributes.unknown) state.attributes.unknown.push(unknown);
      else state.attributes.unknown = [unknown];
      continue;
    }
    if (!ctx.ibgp && IBGP_ONLY_ATTRIBUTES.has(type)) {
      discardAttribute(state, `${known.name} from an external peer`); // RFC 7606 §7.5, §7.9, §7.10
      continue;
    }
    if (((flags ^ known.flags) & OPTIONAL_TRANSITIVE) !== 0) {
      // RFC 7606 §3 (c). The MP attributes are still read: treat-as-withdraw needs their NLRI.
      treatAsWithdraw(state, `${known.name} with conflicting flags 0x${HEX[flags]}`);
      if (type !== AttributeType.MpReachNlri && type !== AttributeType.MpUnreachNlri) continue;
    }
    decodeKnownAttribute(state, type, bytes, attributeStart, valueStart, valueEnd);
  }

  if (!ctx.fourOctetAs) mergeAs4Attributes(state);

  const { attributes } = state;
  const reachable = hasIpv4Nlri || (attributes.mpReach !== undefined && attributes.mpReach.nlri.length > 0);
  if (reachable) {
    // RFC 7606 §3 (d). An attribute that was present but malformed has been reported already.
    for (const type of hasIpv4Nlri ? MANDATORY_WITH_IPV4_NLRI : MANDATORY_WITH_MP_REACH) {
      if (seenGeneration[type] !== generation)
        treatAsWithdraw(state, `missing well-known attribute ${attributeName(type)}`);
    }
  }
  if (state.treatAsWithdraw && !hasIpv4Nlri && !state.mpReachFound) {
    // RFC 7606 §5.2: with no reachable NLRI in sight, the error may be hiding the MP_REACH_NLRI it should withdraw.
    throw new BgpError(
      ErrorCode.UpdateMessage,
      UpdateErrorSubcode.MalformedAttributeList,
      new Uint8Array(0),
      `malformed attributes and no NLRI to withdraw: ${state.problems.join('; ')}`,
    );
  }
  return { attributes, treatAsWithdraw: state.treatAsWithdraw, problems: state.problems };
}

/** A list attribute's length: a non-zero multiple of its item size (RFC 7606 §7.8, §7.10, §7.14; RFC 8092 §6). */
function isListLength(length: number, itemSize: number): boolean {
  return length > 0 && length % itemSize === 0;
}

function decodeKnownAttribute(
  state: DecodeState,
  type: AttributeType,
  bytes: Uint8Array,
  attributeStart: number,
  start: number,
  end: number,
): void {
  const { attributes, ctx } = state;
  const length = end - start;
  switch (type) {
    case AttributeType.Origin: // RFC 7606 §7.1
      if (length !== 1) treatAsWithdraw(state, `ORIGIN of length ${length}`);
      else if (bytes[start] > 2) treatAsWithdraw(state, `undefined ORIGIN ${bytes[start]}`);
      else attributes.origin = bytes[start];
      break;
    case AttributeType.AsPath: {
      // RFC 7606 §7.2, RFC 7607 (AS 0), confederation segments only from confederation (internal) peers.
      const path = decodeAsPath(bytes, start, end, ctx.fourOctetAs ? 4 : 2);
      if (typeof path === 'string') treatAsWithdraw(state, `malformed AS_PATH: ${path}`);
      else if (hasAsZero(path)) treatAsWithdraw(state, 'AS_PATH contains AS 0');
      else if (!ctx.ibgp && path.some(isConfederationSegment)) {
        treatAsWithdraw(state, 'AS_PATH from an external peer contains confederation segments');
      } else attributes.asPath = path;
      break;
    }
    case AttributeType.NextHop:
      // RFC 7606 §7.3; RFC 4271 §6.3: a next hop that is no host address (0/8, multicast, class E) is withdrawn too.
      if (length !== 4) treatAsWithdraw(state, `NEXT_HOP of length ${length}`);
      else if (bytes[start] === 0 || bytes[start] >= 224) {
        treatAsWithdraw(state, `NEXT_HOP ${formatIpv4(readU32(bytes, start))} is not a host address`);
      } else attributes.nextHop = formatIpv4(readU32(bytes, start));
      break;
    case AttributeType.MultiExitDisc: // RFC 7606 §7.4
      if (length !== 4) treatAsWithdraw(state, `MULTI_EXIT_DISC of length ${length}`);
      else attributes.med = readU32(bytes, start);
      break;
    case AttributeType.LocalPref: // RFC 7606 §7.5 (internal peers; external ones were discarded before)
      if (length !== 4) treatAsWithdraw(state, `LOCAL_PREF of length ${length}`);
      else attributes.localPref = readU32(bytes, start);
      break;
    case AttributeType.AtomicAggregate: // RFC 7606 §7.6
      if (length !== 0) discardAttribute(state, `ATOMIC_AGGREGATE of length ${length}`);
      else attributes.atomicAggregate = true;
      break;
    case AttributeType.Aggregator: {
      // RFC 7606 §7.7, RFC 7607.
      const aggregator = decodeAggregator(bytes, start, end, ctx.fourOctetAs ? 4 : 2);
      if (typeof aggregator === 'string') discardAttribute(state, `AGGREGATOR ${aggregator}`);
      else attributes.aggregator = aggregator;
      break;
    }
    case AttributeType.Communities: // RFC 7606 §7.8
      if (!isListLength(length, 4)) treatAsWithdraw(state, `COMMUNITIES of length ${length}`);
      else {
        attributes.communities = [];
        for (let p = start; p < end; p += 4) attributes.communities.push(readU32(bytes, p));
      }
      break;
    case AttributeType.OriginatorId: // RFC 7606 §7.9
      if (length !== 4) treatAsWithdraw(state, `ORIGINATOR_ID of length ${length}`);
      else attributes.originatorId = formatIpv4(readU32(bytes, start));
      break;
    case AttributeType.ClusterList: // RFC 7606 §7.10
      if (!isListLength(length, 4)) treatAsWithdraw(state, `CLUSTER_LIST of length ${length}`);
      else {
        attributes.clusterList = [];
        for (let p = start; p < end; p += 4) attributes.clusterList.push(formatIpv4(readU32(bytes, p)));
      }
      break;
    case AttributeType.MpReachNlri:
      decodeMpReach(state, bytes, attributeStart, start, end);
      break;
    case AttributeType.MpUnreachNlri:
      decodeMpUnreach(state, bytes, attributeStart, start, end);
      break;
    case AttributeType.ExtendedCommunities: // RFC 7606 §7.14
      if (!isListLength(length, 8)) treatAsWithdraw(state, `EXTENDED_COMMUNITIES of length ${length}`);
      else {
        attributes.extendedCommunities = [];
        for (let p = start; p < end; p += 8) attributes.extendedCommunities.push(hex(bytes, p, p + 8));
      }
      break;
    case AttributeType.As4Path: {
      // RFC 6793 §6: discarded from 4-octet speakers and when malformed; confederation segments dropped.
      if (ctx.fourOctetAs) {
        discardAttribute(state, 'AS4_PATH on a 4-octet AS session');
        break;
      }
      const path = decodeAsPath(bytes, start, end, 4);
      if (typeof path === 'string') discardAttribute(state, `malformed AS4_PATH: ${path}`);
      else if (hasAsZero(path)) discardAttribute(state, 'AS4_PATH contains AS 0');
      else state.as4Path = path.filter((segment) => !isConfederationSegment(segment));
      break;
    }
    case AttributeType.As4Aggregator: {
      if (ctx.fourOctetAs) {
        discardAttribute(state, 'AS4_AGGREGATOR on a 4-octet AS session');
        break;
      }
      const aggregator = decodeAggregator(bytes, start, end, 4);
      if (typeof aggregator === 'string') discardAttribute(state, `AS4_AGGREGATOR ${aggregator}`);
      else state.as4Aggregator = aggregator;
      break;
    }
    case AttributeType.LargeCommunities: // RFC 8092 §6
      if (!isListLength(length, 12)) treatAsWithdraw(state, `LARGE_COMMUNITIES of length ${length}`);
      else {
        attributes.largeCommunities = [];
        for (let p = start; p < end; p += 12) {
          attributes.largeCommunities.push([readU32(bytes, p), readU32(bytes, p + 4), readU32(bytes, p + 8)]);
        }
      }
      break;
  }
}

/** The segments, or why they are malformed (RFC 7606 §7.2). */
function decodeAsPath(bytes: Uint8Array, pos: number, end: number, asSize: 2 | 4): AsPathSegment[] | string {
  const segments: AsPathSegment[] = [];
  while (pos < end) {
    if (end - pos < 2) return 'truncated segment header';
    const type = bytes[pos];
    const count = bytes[pos + 1];
    if (type < AsPathSegmentType.AsSet || type > AsPathSegmentType.ConfedSet) return `unknown segment type ${type}`;
    if (count === 0) return 'empty segment';
    const segmentEnd = pos + 2 + count * asSize;
    if (segmentEnd > end) return 'segment overruns the attribute';
    const asns: number[] = [];
    for (let p = pos + 2; p < segmentEnd; p += asSize) asns.push(asSize === 4 ? readU32(bytes, p) : readU16(bytes, p));
    segments.push({ type, asns });
    pos = segmentEnd;
  }
  return segments;
}

function decodeAggregator(
  bytes: Uint8Array,
  start: number,
  end: number,
  asSize: 2 | 4,
): { asn: number; address: string } | string {
  if (end - start !== asSize + 4) return `of length ${end - start}`;
  const asn = asSize === 4 ? readU32(bytes, start) : readU16(bytes, start);
  if (asn === 0) return 'with AS 0';
  return { asn, address: formatIpv4(readU32(bytes, start + asSize)) };
}

function hasAsZero(path: AsPathSegment[]): boolean {
  return path.some((segment) => segment.asns.includes(0));
}

function isConfederationSegment(segment: AsPathSegment): boolean {
  return segment.type === AsPathSegmentType.ConfedSequence || segment.type === AsPathSegmentType.ConfedSet;
}

/** RFC 4760 §7: an MP attribute we cannot read resets the session with an Optional Attribute Error. */
function mpAttributeError(bytes: Uint8Array, attributeStart: number, end: number, problem: string): BgpError {
  return new BgpError(
    ErrorCode.UpdateMessage,
    UpdateErrorSubcode.OptionalAttributeError,
    bytes.slice(attributeStart, end),
    problem,
  );
}

function isReadableFamily(afi: number, safi: number): boolean {
  return safi === SAFI_UNICAST && addressSize(afi) !== undefined;
}

function decodeMpReach(
  state: DecodeState,
  bytes: Uint8Array,
  attributeStart: number,
  start: number,
  end: number,
): void {
  if (end - start < 5) throw mpAttributeError(bytes, attributeStart, end, 'MP_REACH_NLRI shorter than 5 bytes');
  const afi = readU16(bytes, start);
  const safi = bytes[start + 2];
  const nextHopLength = bytes[start + 3];
  const nlriStart = start + 5 + nextHopLength;
  if (nlriStart > end) throw mpAttributeError(bytes, attributeStart, end, 'MP_REACH_NLRI next hop overruns it');
  state.mpReachFound = true;
  if (!isReadableFamily(afi, safi)) {
    discardAttribute(state, `MP_REACH_NLRI of AFI ${afi} SAFI ${safi}`);
    return;
  }
  // RFC 7606 §7.11: a next hop length that does not fit the family leaves the NLRI unlocatable.
  const nextHops = decodeNextHops(afi, bytes, start + 4, nextHopLength);
  if (!nextHops) {
    throw mpAttributeError(bytes, attributeStart, end, `MP_REACH_NLRI next hop length ${nextHopLength} for AFI ${afi}`);
  }
  const nlri = decodePrefixesAsText(afi, bytes, nlriStart, end);
  if (!nlri) throw mpAttributeError(bytes, attributeStart, end, 'MP_REACH_NLRI prefixes cannot be parsed');
  state.attributes.mpReach = { afi, safi, nextHops, nlri };
}

/** One next hop, or global + link-local (32 bytes); IPv4 routes may have IPv6 next hops (RFC 8950). */
function decodeNextHops(afi: number, bytes: Uint8Array, start: number, length: number): string[] | undefined {
  if (length === 4 && afi === AFI_IPV4) return [formatAddress(AFI_IPV4, bytes, start)];
  if (length === 16) return [formatAddress(AFI_IPV6, bytes, start)];
  if (length === 32) return [formatAddress(AFI_IPV6, bytes, start), formatAddress(AFI_IPV6, bytes, start + 16)];
  return undefined;
}

function decodeMpUnreach(
  state: DecodeState,
  bytes: Uint8Array,
  attributeStart: number,
  start: number,
  end: number,
): void {
  if (end - start < 3) throw mpAttributeError(bytes, attributeStart, end, 'MP_UNREACH_NLRI shorter than 3 bytes');
  const afi = readU16(bytes, start);
  const safi = bytes[start + 2];
  if (end - start === 3) {
    // Kept for every family: this is how End-of-RIB looks (RFC 4724 §2).
    state.attributes.mpUnreach = { afi, safi, withdrawn: [] };
    return;
  }
  if (!isReadableFamily(afi, safi)) {
    discardAttribute(state, `MP_UNREACH_NLRI of AFI ${afi} SAFI ${safi}`);
    return;
  }
  const withdrawn = decodePrefixesAsText(afi, bytes, start + 3, end);
  if (!withdrawn) throw mpAttributeError(bytes, attributeStart, end, 'MP_UNREACH_NLRI prefixes cannot be parsed');
  state.attributes.mpUnreach = { afi, safi, withdrawn };
}

/** Number of ASes a path counts for (RFC 4271 §9.1.2.2): a set counts one, confederation segments none. */
function pathLength(path: readonly AsPathSegment[]): number {
  let length = 0;
  for (const segment of path) {
    if (segment.type === AsPathSegmentType.AsSequence) length += segment.asns.length;
    else if (segment.type === AsPathSegmentType.AsSet) length += 1;
  }
  return length;
}

/** RFC 6793 §4.2.3: rebuild the 4-octet AS_PATH and AGGREGATOR from what a 2-octet speaker passed along. */
function mergeAs4Attributes(state: DecodeState): void {
  const { attributes, as4Path, as4Aggregator } = state;
  if (as4Aggregator && attributes.aggregator) {
    if (attributes.aggregator.asn !== AS_TRANS) {
      state.problems.push('AGGREGATOR from a 2-octet speaker: AS4_AGGREGATOR and AS4_PATH ignored');
      return;
    }
    attributes.aggregator = as4Aggregator;
  }
  if (as4Path && attributes.asPath) {
    const keep = pathLength(attributes.asPath) - pathLength(as4Path);
    if (keep < 0) {
      state.problems.push('AS4_PATH longer than AS_PATH: ignored');
      return;
    }
    attributes.asPath = joinPaths(leadingAses(attributes.asPath, keep), as4Path);
  }
}

/** The first `count` ASes of a path (as pathLength counts them), splitting a sequence where needed. */
function leadingAses(path: readonly AsPathSegment[], count: number): AsPathSegment[] {
  const leading: AsPathSegment[] = [];
  for (const segment of path) {
    if (count === 0) break;
    if (segment.type === AsPathSegmentType.AsSequence) {
      const taken = segment.asns.slice(0, count);
      leading.push({ type: segment.type, asns: taken });
      count -= taken.length;
    } else {
      leading.push(segment);
      if (segment.type === AsPathSegmentType.AsSet) count -= 1;
    }
  }
  return leading;
}

/** Concatenation, joining a sequence that ends the first with one that starts the second. */
function joinPaths(head: AsPathSegment[], tail: readonly AsPathSegment[]): AsPathSegment[] {
  const last = head[head.length - 1];
  const first = tail[0];
  if (
    last?.type === AsPathSegmentType.AsSequence &&
    first?.type === AsPathSegmentType.AsSequence &&
    last.asns.length + first.asns.length <= 255
  ) {
    return [...head.slice(0, -1), { type: last.type, asns: [...last.asns, ...first.asns] }, ...tail.slice(1)];
  }
  return [...head, ...tail];
}

/** A growable byte buffer for encoding attribute sets (once per set, not per prefix). */
class ByteWriter {
  private buffer = new Uint8Array(256);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buffer.length) return;
    const bigger = new Uint8Array(Math.max(this.buffer.length * 2, this.length + n));
    bigger.set(this.buffer.subarray(0, this.length));
    this.buffer = bigger;
  }

  u8(value: number): void {
    this.reserve(1);
    this.buffer[this.length++] = value;
  }

  u16(value: number): void {
    this.u8(value >>> 8);
    this.u8(value & 0xff);
  }

  u32(value: number): void {
    this.u16(value >>> 16);
    this.u16(value & 0xffff);
  }

  bytes(value: Uint8Array): void {
    this.reserve(value.length);
    this.buffer.set(value, this.length);
    this.length += value.length;
  }

  result(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }
}

function ipv4Bytes(text: string, what: string): Uint8Array {
  const address = parseIpv4(text);
  if (address === undefined) throw new Error(`${what}: "${text}" is not an IPv4 address`);
  return Uint8Array.of(address >>> 24, (address >>> 16) & 0xff, (address >>> 8) & 0xff, address & 0xff);
}

function encodeAsPath(path: readonly AsPathSegment[], asSize: 2 | 4): Uint8Array {
  const w = new ByteWriter();
  for (const segment of path) {
    // A segment holds at most 255 ASes; longer ones continue in a segment of the same type.
    for (let i = 0; i < segment.asns.length; i += 255) {
      const chunk = segment.asns.slice(i, i + 255);
      w.u8(segment.type);
      w.u8(chunk.length);
      for (const asn of chunk) {
        if (asSize === 4) w.u32(asn);
        else w.u16(asn > 0xffff ? AS_TRANS : asn);
      }
    }
  }
  return w.result();
}

function encodeAggregator(aggregator: { asn: number; address: string }, asSize: 2 | 4): Uint8Array {
  const w = new ByteWriter();
  if (asSize === 4) w.u32(aggregator.asn);
  else w.u16(aggregator.asn > 0xffff ? AS_TRANS : aggregator.asn);
  w.bytes(ipv4Bytes(aggregator.address, 'AGGREGATOR'));
  return w.result();
}

function encodeMpReach(mpReach: MpReach): Uint8Array {
  const w = new ByteWriter();
  w.u16(mpReach.afi);
  w.u8(mpReach.safi);
  const nextHops = mpReach.nextHops.map((text) => {
    const address = parseAddress(text);
    if (!address) throw new Error(`MP_REACH_NLRI: invalid next hop "${text}"`);
    return address;
  });
  w.u8(nextHops.reduce((sum, address) => sum + address.length, 0));
  for (const address of nextHops) w.bytes(address);
  w.u8(0); // reserved
  for (const prefix of mpReach.nlri) w.bytes(encodePrefixText(mpReach.afi, prefix));
  return w.result();
}

function encodeMpUnreach(mpUnreach: MpUnreach): Uint8Array {
  const w = new ByteWriter();
  w.u16(mpUnreach.afi);
  w.u8(mpUnreach.safi);
  for (const prefix of mpUnreach.withdrawn) w.bytes(encodePrefixText(mpUnreach.afi, prefix));
  return w.result();
}

function u32List(values: readonly number[]): Uint8Array {
  const w = new ByteWriter();
  for (const value of values) w.u32(value);
  return w.result();
}

function hasFourOctetAs(values: readonly number[]): boolean {
  return values.some((asn) => asn > 0xffff);
}

/**
 * Path attributes to their wire form, once per attribute set. MP_REACH_NLRI / MP_UNREACH_NLRI first
 * (RFC 7606 §5.1), then by type code; the extended length flag only on values over 255 bytes. For a 2-octet
 * session, 4-octet AS numbers become AS_TRANS and AS4_PATH / AS4_AGGREGATOR carry the real ones (RFC 6793 §4.2.2).
 * Throws Error on values that cannot be encoded (bad addresses, prefixes or hex).
 */
export function encodeAttributes(attrs: PathAttributes, ctx: SessionCodecContext): Uint8Array {
  const w = new ByteWriter();
  const unknown = [...(attrs.unknown ?? [])].sort((a, b) => a.type - b.type);
  let nextUnknown = 0;
  const writeAttribute = (flags: number, type: number, value: Uint8Array) => {
    if (value.length > 0xff) {
      w.u8(flags | AttributeFlag.ExtendedLength);
      w.u8(type);
      w.u16(value.length);
    } else {
      w.u8(flags & ~AttributeFlag.ExtendedLength);
      w.u8(type);
      w.u8(value.length);
    }
    w.bytes(value);
  };
  const writeUnknownUpTo = (type: number) => {
    for (; nextUnknown < unknown.length && unknown[nextUnknown].type < type; nextUnknown++) {
      const attribute = unknown[nextUnknown];
      writeAttribute(attribute.flags, attribute.type, attribute.value);
    }
  };
  const write = (type: AttributeType, value: Uint8Array) => {
    writeUnknownUpTo(type);
    writeAttribute(KNOWN_ATTRIBUTES[type]!.flags, type, value);
  };
  const asSize = ctx.fourOctetAs ? 4 : 2;

  if (attrs.mpReach) writeAttribute(AttributeFlag.Optional, AttributeType.MpReachNlri, encodeMpReach(attrs.mpReach));
  if (attrs.mpUnreach) {
    writeAttribute(AttributeFlag.Optional, AttributeType.MpUnreachNlri, encodeMpUnreach(attrs.mpUnreach));
  }
  if (attrs.origin !== undefined) write(AttributeType.Origin, Uint8Array.of(attrs.origin));
  if (attrs.asPath) write(AttributeType.AsPath, encodeAsPath(attrs.asPath, asSize));
  if (attrs.nextHop !== undefined) write(AttributeType.NextHop, ipv4Bytes(attrs.nextHop, 'NEXT_HOP'));
  if (attrs.med !== undefined) write(AttributeType.MultiExitDisc, u32List([attrs.med]));
  if (attrs.localPref !== undefined) write(AttributeType.LocalPref, u32List([attrs.localPref]));
  if (attrs.atomicAggregate) write(AttributeType.AtomicAggregate, new Uint8Array(0));
  if (attrs.aggregator) write(AttributeType.Aggregator, encodeAggregator(attrs.aggregator, asSize));
  if (attrs.communities) write(AttributeType.Communities, u32List(attrs.communities));
  if (attrs.originatorId !== undefined) {
    write(AttributeType.OriginatorId, ipv4Bytes(attrs.originatorId, 'ORIGINATOR_ID'));
  }
  if (attrs.clusterList) {
    const ids = new ByteWriter();
    for (const id of attrs.clusterList) ids.bytes(ipv4Bytes(id, 'CLUSTER_LIST'));
    write(AttributeType.ClusterList, ids.result());
  }
  if (attrs.extendedCommunities) {
    const value = new Uint8Array(attrs.extendedCommunities.length * 8);
    attrs.extendedCommunities.forEach((community, i) => {
      if (!/^[0-9a-fA-F]{16}$/.test(community)) throw new Error(`invalid extended community "${community}"`);
      for (let j = 0; j < 8; j++) value[i * 8 + j] = Number.parseInt(community.slice(2 * j, 2 * j + 2), 16);
    });
    write(AttributeType.ExtendedCommunities, value);
  }
  if (!ctx.fourOctetAs && attrs.asPath && attrs.asPath.some((segment) => hasFourOctetAs(segment.asns))) {
    // RFC 6793 §4.2.2: AS4_PATH never carries confederation segments.
    write(
      AttributeType.As4Path,
      encodeAsPath(
        attrs.asPath.filter((s) => !isConfederationSegment(s)),
        4,
      ),
    );
  }
  if (!ctx.fourOctetAs && attrs.aggregator && attrs.aggregator.asn > 0xffff) {
    write(AttributeType.As4Aggregator, encodeAggregator(attrs.aggregator, 4));
  }
  if (attrs.largeCommunities) write(AttributeType.LargeCommunities, u32List(attrs.largeCommunities.flat()));
  writeUnknownUpTo(256);
  return w.result();
}
