// BGP message and attribute types shared by the codec (./codec), the sessions (../session) and the RIBs
// (../rib). IPv4 prefixes travel as packed numbers, never as one object per prefix: the RIBs hold millions.

/** An IPv4 prefix packed into one number: address (as uint32) * 64 + length. Exact in a double (< 2^38). */
export type Ipv4PrefixKey = number;

export function ipv4PrefixKey(address: number, length: number): Ipv4PrefixKey {
  return (address >>> 0) * 64 + length;
}
export function ipv4PrefixAddress(key: Ipv4PrefixKey): number {
  return Math.floor(key / 64);
}
export function ipv4PrefixLength(key: Ipv4PrefixKey): number {
  return key % 64;
}

export const AFI_IPV4 = 1;
export const AFI_IPV6 = 2;
export const SAFI_UNICAST = 1;

export enum MessageType {
  Open = 1,
  Update = 2,
  Notification = 3,
  Keepalive = 4,
  RouteRefresh = 5,
}

export enum Origin {
  Igp = 0,
  Egp = 1,
  Incomplete = 2,
}

export enum AsPathSegmentType {
  AsSet = 1,
  AsSequence = 2,
  ConfedSequence = 3,
  ConfedSet = 4,
}

export interface AsPathSegment {
  type: AsPathSegmentType;
  asns: number[];
}

/** An attribute we do not interpret, kept to pass on when it is optional transitive (RFC 4271 §5). */
export interface UnknownAttribute {
  flags: number;
  type: number;
  value: Uint8Array;
}

export interface MpReach {
  afi: number;
  safi: number;
  /** Next hop(s) as text: one address, or global + link-local for IPv6. */
  nextHops: string[];
  /** Prefixes as text, e.g. "2001:db8::/32" (IPv6) — IPv4 over MP uses the same text form. */
  nlri: string[];
}

export interface MpUnreach {
  afi: number;
  safi: number;
  withdrawn: string[];
}

/**
 * The path attributes of an UPDATE, decoded. AS numbers are always 4-octet here: the codec merges AS4_PATH /
 * AS4_AGGREGATOR (RFC 6793) when talking to a 2-octet peer, and writes AS_TRANS when encoding for one.
 */
export interface PathAttributes {
  origin?: Origin;
  asPath?: AsPathSegment[];
  /** IPv4 NEXT_HOP as dotted quad. */
  nextHop?: string;
  med?: number;
  localPref?: number;
  atomicAggregate?: boolean;
  aggregator?: { asn: number; address: string };
  /** RFC 1997 communities as uint32 (high 16 bits: AS). */
  communities?: number[];
  /** RFC 4360 extended communities, each 8 bytes as a 16-char lower-case hex string. */
  extendedCommunities?: string[];
  /** RFC 8092 large communities [global admin, local data 1, local data 2]. */
  largeCommunities?: [number, number, number][];
  /** RFC 4456, dotted quads. */
  originatorId?: string;
  clusterList?: string[];
  mpReach?: MpReach;
  mpUnreach?: MpUnreach;
  unknown?: UnknownAttribute[];
}

export interface Capabilities {
  /** Multiprotocol (RFC 4760): "afi/safi" pairs, e.g. [[1,1],[2,1]]. */
  multiprotocol: [afi: number, safi: number][];
  routeRefresh: boolean;
  enhancedRouteRefresh: boolean;
  /** RFC 6793: our/their 4-octet AS number, when the capability is present. */
  fourOctetAs?: number;
  /** RFC 8654: messages up to 65535 bytes once both sides sent it. */
  extendedMessages?: boolean;
  /** RFC 4724. */
  gracefulRestart?: {
    restarting: boolean;
    /** RFC 8538 N bit: graceful restart also after a NOTIFICATION or hold timer expiry. */
    notification?: boolean;
    restartTimeSec: number;
    families: { afi: number; safi: number; forwardingPreserved: boolean }[];
  };
  /** Capabilities we do not interpret: code and raw value. */
  unknown: { code: number; value: Uint8Array }[];
}

/** What the codec must know about a session to read and write its UPDATEs. */
export interface SessionCodecContext {
  /** Both sides sent the 4-octet AS capability: AS_PATH carries 4-byte ASNs. */
  fourOctetAs: boolean;
  /** The peer is iBGP (LOCAL_PREF expected; MED etc.). Used only for RFC 7606 checks that depend on it. */
  ibgp: boolean;
}

export interface OpenMessage {
  type: MessageType.Open;
  version: number;
  /** The 2-octet "My Autonomous System" field (AS_TRANS 23456 when the real AS is 4-octet). */
  myAs: number;
  holdTime: number;
  /** Dotted quad. */
  bgpId: string;
  capabilities: Capabilities;
}

export interface UpdateMessage {
  type: MessageType.Update;
  /** IPv4 withdrawn routes (packed keys). */
  withdrawn: Ipv4PrefixKey[];
  attributes: PathAttributes;
  /**
   * The raw path-attribute bytes as received (a view into the message). Equal bytes mean equal attributes, so
   * the RIB interns attribute sets by these bytes without re-encoding.
   */
  rawAttributes: Uint8Array;
  /** IPv4 NLRI (packed keys). */
  nlri: Ipv4PrefixKey[];
}

export interface NotificationMessage {
  type: MessageType.Notification;
  code: number;
  subcode: number;
  data: Uint8Array;
  /** RFC 8203/9003 shutdown communication, when code 6 subcode 2 or 4 carries one. */
  shutdownText?: string;
}

export interface KeepaliveMessage {
  type: MessageType.Keepalive;
}

export interface RouteRefreshMessage {
  type: MessageType.RouteRefresh;
  afi: number;
  safi: number;
  /** RFC 7313: 0 normal, 1 BoRR, 2 EoRR. */
  subtype: number;
}

export type BgpMessage = OpenMessage | UpdateMessage | NotificationMessage | KeepaliveMessage | RouteRefreshMessage;

/** NOTIFICATION error codes (RFC 4271 §4.5) and the subcodes we send. */
export enum ErrorCode {
  MessageHeader = 1,
  OpenMessage = 2,
  UpdateMessage = 3,
  HoldTimerExpired = 4,
  FsmError = 5,
  Cease = 6,
  RouteRefresh = 7,
}
