// A path: one peer's attribute set. Interned per (peer, AttrSet), so the prefixes a peer announces in one
// UPDATE all refer to one Path (by its id); there is no per-prefix object.

import { type AsPathSegment, AsPathSegmentType, Origin } from '../packet/types';
import type { AttrSet } from './attrs';
import { ipv4ToNumber, type Peer } from './peer';

export const DEFAULT_LOCAL_PREF = 100;

/** Why an inbound path is kept in Adj-RIB-In but not offered to the Loc-RIB. */
export type RejectReason = 'as-path-loop' | 'originator-id-loop' | 'cluster-list-loop';

export class Path {
  /** Its number in the PathRegistry: what the per-prefix tables store. */
  id = 0;
  /** Prefixes (in the Loc-RIB or among the peer's rejected ones) held with this path. */
  refs = 0;
  /** Graceful restart (RFC 4724): the peer's session went down; the path is kept until swept or re-announced. */
  stale = false;
  readonly accepted: boolean;

  // What the decision process compares, computed once per path instead of once per comparison.
  readonly localPref: number;
  readonly asPathLength: number;
  readonly origin: number;
  readonly med: number;
  /** First AS of the AS_PATH; 0 (never a real neighbour AS) for our own AS, i.e. an empty path. */
  readonly neighborAs: number;
  /** ORIGINATOR_ID when present (RFC 4456 §9), else the peer's BGP identifier, as uint32. */
  readonly routerId: number;
  readonly clusterListLength: number;

  constructor(
    readonly peer: Peer,
    readonly attrs: AttrSet,
    readonly rejection?: RejectReason,
  ) {
    const a = attrs.attributes;
    this.accepted = rejection === undefined;
    // RFC 4271 §5.1.5: LOCAL_PREF from an external peer is ignored.
    this.localPref = peer.ibgp && a.localPref !== undefined ? a.localPref : DEFAULT_LOCAL_PREF;
    this.asPathLength = asPathLength(a.asPath);
    this.origin = a.origin ?? Origin.Incomplete;
    this.med = a.med ?? 0;
    this.neighborAs = neighborAs(a.asPath);
    this.routerId = a.originatorId !== undefined ? ipv4ToNumber(a.originatorId) : peer.routerIdNumber;
    this.clusterListLength = a.clusterList?.length ?? 0;
  }
}

/** RFC 4271 §9.1.2.2 (a): an AS_SET counts as one AS; confederation segments (RFC 5065) do not count. */
export function asPathLength(segments: readonly AsPathSegment[] | undefined): number {
  let length = 0;
  for (const segment of segments ?? []) {
    if (segment.type === AsPathSegmentType.AsSequence) length += segment.asns.length;
    else if (segment.type === AsPathSegmentType.AsSet) length += 1;
  }
  return length;
}

/** RFC 4271 §9.1.2.2 (c): the leftmost AS of the path; an empty path or one starting with a set is ours. */
function neighborAs(segments: readonly AsPathSegment[] | undefined): number {
  for (const segment of segments ?? []) {
    if (segment.type === AsPathSegmentType.AsSequence) return segment.asns[0] ?? 0;
    if (segment.type === AsPathSegmentType.AsSet) return 0;
  }
  return 0;
}

/** Paths by small integer id, so that per-prefix tables store numbers (see prefix-table.ts). */
export class PathRegistry {
  private readonly paths: (Path | undefined)[] = [undefined];
  private readonly freeIds: number[] = [];

  add(path: Path): void {
    path.id = this.freeIds.pop() ?? this.paths.length;
    this.paths[path.id] = path;
  }

  remove(path: Path): void {
    this.paths[path.id] = undefined;
    this.freeIds.push(path.id);
  }

  get(id: number): Path {
    return this.paths[id] as Path;
  }
}
