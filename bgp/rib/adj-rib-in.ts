// One peer's Adj-RIB-In. Its accepted routes are its candidates in the Loc-RIB (one table entry per prefix
// for all peers, as in BIRD); here are the peer's counters, its interned paths, and the few routes rejected
// by the loop checks, kept so that "received" stays right and a withdrawal of them is recognised.

import type { AsPathSegment, PathAttributes } from '../packet/types';
import type { AttrSet, AttrSetTable } from './attrs';
import type { LocRib } from './loc-rib';
import { Path, type PathRegistry, type RejectReason } from './path';
import type { LocalIdentity, Peer } from './peer';
import type { AddressFamily, PrefixIndex } from './prefix-table';

/** What an Adj-RIB-In shares with the rest of the RIB. */
export interface RibInContext<K> {
  readonly local: LocalIdentity;
  readonly family: AddressFamily<K>;
  readonly locRib: LocRib<K>;
  readonly attrSets: AttrSetTable;
  readonly paths: PathRegistry;
  /** A path lost its last prefix: whatever was derived from it can go (called before it is unregistered). */
  pathReleased(path: Path): void;
}

export class AdjRibIn<K> {
  /** Prefixes held with an accepted path (offered to the Loc-RIB). */
  accepted = 0;
  /** Prefixes announced with a path the loop checks rejected: prefix → path id. */
  private readonly rejected: PrefixIndex<K>;
  /** This session's paths by attribute set. Stale paths of a previous session are no longer in it. */
  private paths = new Map<AttrSet, Path>();
  private staleMarked = false;

  constructor(
    readonly peer: Peer,
    private readonly ctx: RibInContext<K>,
  ) {
    this.rejected = ctx.family.newIndex();
  }

  /** Prefixes the peer announced and has not withdrawn, accepted or not. */
  get received(): number {
    return this.accepted + this.rejected.size;
  }

  /** The peer's path for the prefix, accepted or not. */
  get(prefix: K): Path | undefined {
    const rejected = this.rejected.get(prefix);
    return (
      this.ctx.locRib.pathOf(prefix, this.peer) ?? (rejected === undefined ? undefined : this.ctx.paths.get(rejected))
    );
  }

  /** The peer announced these prefixes with this attribute set (an announcement replaces its previous one). */
  update(attrs: AttrSet, nlri: readonly K[]): void {
    const path = this.pathFor(attrs);
    if (path.accepted) this.accept(path, nlri);
    else this.reject(path, nlri);
    if (path.refs === 0) this.drop(path);
  }

  withdraw(prefixes: readonly K[]): void {
    const locRib = this.ctx.locRib;
    for (let i = 0; i < prefixes.length; i++) {
      const old = locRib.offer(prefixes[i], this.peer, undefined);
      if (old !== undefined) {
        this.accepted--;
        this.unref(old);
      } else if (this.rejected.size > 0) {
        const rejected = this.rejected.delete(prefixes[i]);
        if (rejected !== undefined) this.unref(this.ctx.paths.get(rejected));
      }
    }
  }

  /**
   * The session went down and the peer is restarting (RFC 4724): keep every route, marked stale, until the
   * peer announces it again or sweepStale removes what is still stale.
   */
  markStale(): void {
    for (const path of this.paths.values()) path.stale = true;
    this.paths = new Map();
    this.staleMarked = true;
  }

  /** Removes the routes still stale (End-of-RIB received, or the restart timer ran out); returns how many. */
  sweepStale(): number {
    if (!this.staleMarked) return 0;
    this.staleMarked = false;
    const stale = this.prefixes((path) => path.stale);
    this.withdraw(stale);
    return stale.length;
  }

  /** Removes every route of the peer. */
  clear(): void {
    if (this.received > 0) this.withdraw(this.prefixes(() => true));
  }

  private accept(path: Path, nlri: readonly K[]): void {
    const locRib = this.ctx.locRib;
    const replacesRejected = this.rejected.size > 0;
    for (let i = 0; i < nlri.length; i++) {
      if (replacesRejected) {
        const rejected = this.rejected.delete(nlri[i]);
        if (rejected !== undefined) this.unref(this.ctx.paths.get(rejected));
      }
      const old = locRib.offer(nlri[i], this.peer, path);
      if (old === path) continue;
      path.refs++;
      if (old === undefined) this.accepted++;
      else this.unref(old);
    }
  }

  /** A rejected announcement still replaces (withdraws) the peer's accepted route for the prefix. */
  private reject(path: Path, nlri: readonly K[]): void {
    const locRib = this.ctx.locRib;
    for (let i = 0; i < nlri.length; i++) {
      const old = locRib.offer(nlri[i], this.peer, undefined);
      if (old !== undefined) {
        this.accepted--;
        this.unref(old);
      }
      const previous = this.rejected.set(nlri[i], path.id);
      if (previous === path.id) continue;
      path.refs++;
      if (previous !== undefined) this.unref(this.ctx.paths.get(previous));
    }
  }

  /** The peer's prefixes whose path passes the test: a walk of the whole Loc-RIB (a session event, rare). */
  private prefixes(test: (path: Path) => boolean): K[] {
    const found: K[] = [];
    const collect = (path: Path, prefix: K) => {
      if (test(path)) found.push(prefix);
    };
    this.ctx.locRib.forEachPathOf(this.peer, collect);
    this.rejected.forEach((id, prefix) => {
      collect(this.ctx.paths.get(id), prefix);
    });
    return found;
  }

  private pathFor(attrs: AttrSet): Path {
    let path = this.paths.get(attrs);
    if (path === undefined) {
      const rejection = this.peer.local ? undefined : inboundRejection(attrs.attributes, this.ctx.local);
      path = new Path(this.peer, attrs, rejection);
      this.ctx.paths.add(path);
      this.ctx.attrSets.retain(attrs);
      this.paths.set(attrs, path);
    }
    return path;
  }

  private unref(path: Path): void {
    if (--path.refs === 0) this.drop(path);
  }

  private drop(path: Path): void {
    this.ctx.pathReleased(path);
    if (this.paths.get(path.attrs) === path) this.paths.delete(path.attrs);
    this.ctx.paths.remove(path);
    this.ctx.attrSets.release(path.attrs);
  }
}

/**
 * Loop checks on a received path: our AS in AS_PATH (RFC 4271 §9.1.2), our router id as ORIGINATOR_ID or,
 * as a route reflector, our cluster id in CLUSTER_LIST (RFC 4456 §8). Such paths are kept but not used.
 */
export function inboundRejection(attributes: PathAttributes, local: LocalIdentity): RejectReason | undefined {
  if (containsAs(attributes.asPath, local.asn)) return 'as-path-loop';
  if (attributes.originatorId === local.routerId) return 'originator-id-loop';
  if (local.clusterId !== undefined && attributes.clusterList?.includes(local.clusterId)) return 'cluster-list-loop';
  return undefined;
}

function containsAs(segments: readonly AsPathSegment[] | undefined, asn: number): boolean {
  return segments?.some((segment) => segment.asns.includes(asn)) ?? false;
}
