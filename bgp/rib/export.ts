// Export policy: whether a best path goes to a kind of peer, and with which attributes (RFC 4271 §9.1.3 and
// §5.1, RFC 4456 §6 and §8, RFC 1997 well-known communities). Pure: a function of the path and the target.

import { type AsPathSegment, AsPathSegmentType, type PathAttributes } from '../packet/types';
import type { Path } from './path';
import type { LocalIdentity, PeerInfo } from './peer';

/** Everything about a target peer the outgoing attributes depend on: peers equal in it share the work. */
export interface ExportTarget {
  readonly ibgp: boolean;
  readonly routeReflectorClient: boolean;
  readonly nextHopSelf: boolean;
  readonly localAddress: string;
  /** The session negotiated 4-octet AS numbers (decides the encoding of the outgoing attribute bytes). */
  readonly fourOctetAs: boolean;
}

export const NO_EXPORT = 0xffffff01;
export const NO_ADVERTISE = 0xffffff02;
export const NO_EXPORT_SUBCONFED = 0xffffff03;

const MAX_SEGMENT_ASNS = 255;
const OPTIONAL_TRANSITIVE = 0x80 | 0x40;
const ATTR_FLAG_PARTIAL = 0x20;
/** RFC 4360 §2: the type's second-highest bit marks an extended community not to leave the AS. */
const EXT_COMMUNITY_NON_TRANSITIVE = 0x40;

export function exportTarget(peer: PeerInfo, fourOctetAs: boolean): ExportTarget {
  return {
    ibgp: peer.ibgp,
    // Only meaningful over iBGP: an eBGP peer is never a client, and always gets our address as next hop.
    routeReflectorClient: peer.ibgp && peer.routeReflectorClient,
    nextHopSelf: !peer.ibgp || peer.nextHopSelf,
    localAddress: peer.localAddress,
    fourOctetAs,
  };
}

/** Peers with the same key get the same attributes for every path: one update group. */
export function exportGroupKey(target: ExportTarget): string {
  return [
    target.ibgp ? 'ibgp' : 'ebgp',
    target.routeReflectorClient ? 'rr-client' : '',
    target.nextHopSelf ? 'next-hop-self' : '',
    target.localAddress,
    target.fourOctetAs ? 'as4' : 'as2',
  ].join('|');
}

/**
 * The attributes to send the path with to a peer of this kind, or null when it is not sent. Not decided here:
 * the path's own source peer, which never gets its path back.
 */
export function exportAttributes(path: Path, target: ExportTarget, local: LocalIdentity): PathAttributes | null {
  const source = path.attrs.attributes;
  const from = path.peer;
  const communities = source.communities;
  if (communities?.includes(NO_ADVERTISE)) return null;
  if (!target.ibgp && (communities?.includes(NO_EXPORT) || communities?.includes(NO_EXPORT_SUBCONFED))) return null;

  // iBGP split horizon; as a route reflector: a client's path goes to every iBGP peer, a non-client's to clients.
  const learnedOverIbgp = from.ibgp && !from.local;
  const reflected = target.ibgp && learnedOverIbgp;
  if (
    reflected &&
    (local.clusterId === undefined || !(from.info.routeReflectorClient || target.routeReflectorClient))
  ) {
    return null;
  }

  const out: PathAttributes = {};
  if (source.origin !== undefined) out.origin = source.origin;
  out.asPath = target.ibgp ? (source.asPath ?? []) : prependAs(source.asPath ?? [], local.asn);
  const keepNextHop = !target.nextHopSelf && !from.local && source.nextHop !== undefined;
  out.nextHop = keepNextHop ? source.nextHop : target.localAddress;
  // RFC 4271 §5.1.4: a MED learned from a neighbouring AS is not passed on to another AS.
  if (source.med !== undefined && (target.ibgp || from.local)) out.med = source.med;
  if (target.ibgp) out.localPref = path.localPref;
  if (source.atomicAggregate) out.atomicAggregate = true;
  if (source.aggregator !== undefined) out.aggregator = source.aggregator;
  if (communities !== undefined && communities.length > 0) out.communities = communities;
  const extended = target.ibgp ? source.extendedCommunities : source.extendedCommunities?.filter(isTransitiveExtended);
  if (extended !== undefined && extended.length > 0) out.extendedCommunities = extended;
  if (source.largeCommunities !== undefined && source.largeCommunities.length > 0) {
    out.largeCommunities = source.largeCommunities;
  }
  if (reflected) {
    out.originatorId = source.originatorId ?? from.info.routerId;
    out.clusterList = [local.clusterId as string, ...(source.clusterList ?? [])];
  }
  // RFC 4271 §5: unrecognised optional transitive attributes travel on, marked partial; the rest stop here.
  const unknown = source.unknown
    ?.filter((attribute) => (attribute.flags & OPTIONAL_TRANSITIVE) === OPTIONAL_TRANSITIVE)
    .map((attribute) => ({ ...attribute, flags: attribute.flags | ATTR_FLAG_PARTIAL }));
  if (unknown !== undefined && unknown.length > 0) out.unknown = unknown;
  return out;
}

/** Our AS in front (RFC 4271 §5.1.2); confederation segments are dropped on leaving (RFC 5065 §5.3). */
export function prependAs(segments: readonly AsPathSegment[], asn: number): AsPathSegment[] {
  const rest = segments.filter(
    (segment) => segment.type === AsPathSegmentType.AsSequence || segment.type === AsPathSegmentType.AsSet,
  );
  const first = rest[0];
  if (first !== undefined && first.type === AsPathSegmentType.AsSequence && first.asns.length < MAX_SEGMENT_ASNS) {
    return [{ type: AsPathSegmentType.AsSequence, asns: [asn, ...first.asns] }, ...rest.slice(1)];
  }
  return [{ type: AsPathSegmentType.AsSequence, asns: [asn] }, ...rest];
}

function isTransitiveExtended(hex: string): boolean {
  return (Number.parseInt(hex.slice(0, 2), 16) & EXT_COMMUNITY_NON_TRANSITIVE) === 0;
}
