// The Loc-RIB: per prefix, every peer's accepted path, the best one first (BIRD's rtable: the routes of all
// sources of a network in one list). The peers' Adj-RIBs-In are these candidates, so a prefix costs one table
// entry whoever offers it. An entry is a number: the id of the only path on offer (the common case), or, where
// several peers offer the prefix, -1 - the index of its candidate array.

import { bestIndex, comparePaths } from './decision';
import type { Path, PathRegistry } from './path';
import type { Peer } from './peer';
import type { AddressFamily, PrefixIndex } from './prefix-table';

/** Told synchronously of every change of a prefix's best path, in order. */
export interface BestPathSink<K> {
  bestPathChanged(prefix: K, oldBest: Path | undefined, newBest: Path | undefined): void;
}

export class LocRib<K> {
  /** Candidate paths over all prefixes. */
  pathCount = 0;
  private readonly table: PrefixIndex<K>;
  /** Candidate arrays, best first, of the prefixes several peers offer. */
  private readonly shared: (Path[] | undefined)[] = [];
  private readonly freeShared: number[] = [];

  constructor(
    family: AddressFamily<K>,
    private readonly paths: PathRegistry,
    private readonly sink: BestPathSink<K>,
  ) {
    this.table = family.newIndex();
  }

  get prefixCount(): number {
    return this.table.size;
  }

  best(prefix: K): Path | undefined {
    const entry = this.table.get(prefix);
    return entry === undefined ? undefined : this.bestOf(entry);
  }

  /** Every path on offer for the prefix, the best first. */
  candidates(prefix: K): readonly Path[] {
    const entry = this.table.get(prefix);
    return entry === undefined ? [] : this.candidatesOf(entry).slice();
  }

  /** The peer's path for the prefix. */
  pathOf(prefix: K, peer: Peer): Path | undefined {
    const entry = this.table.get(prefix);
    return entry === undefined ? undefined : this.candidatesOf(entry).find((path) => path.peer === peer);
  }

  /** Shrinks the prefix table after removals (a peer's routes gone); the RIB calls it between batches. */
  compact(): void {
    this.table.compact();
  }

  forEachBest(visit: (best: Path, prefix: K) => void): void {
    this.table.forEach((entry, prefix) => {
      visit(this.bestOf(entry), prefix);
    });
  }

  /** Walks the whole table for one peer's paths (a session loss or a stale sweep, not the hot path). */
  forEachPathOf(peer: Peer, visit: (path: Path, prefix: K) => void): void {
    this.table.forEach((entry, prefix) => {
      const path =
        entry > 0 ? this.paths.get(entry) : this.shared[-1 - entry]?.find((candidate) => candidate.peer === peer);
      if (path?.peer === peer) visit(path, prefix);
    });
  }

  /**
   * Sets the peer's path for the prefix (undefined: withdraws it), re-runs the decision, tells the sink when
   * the best changed, and returns the peer's previous path.
   */
  offer(prefix: K, peer: Peer, path: Path | undefined): Path | undefined {
    if (path === undefined) return this.withdraw(prefix, peer);
    // Optimistic write, one probe for the common case (a new prefix, or the only candidate replaced); the
    // entry is put right when other peers offer the prefix too.
    const previous = this.table.set(prefix, path.id);
    if (previous === undefined) {
      this.pathCount++;
      this.sink.bestPathChanged(prefix, undefined, path);
      return undefined;
    }
    if (previous < 0) {
      this.table.set(prefix, previous);
      return this.replaceAmong(prefix, previous, peer, path);
    }
    const only = this.paths.get(previous);
    if (only.peer === peer) {
      if (only !== path) this.sink.bestPathChanged(prefix, only, path);
      return only;
    }
    this.pathCount++;
    const newWins = comparePaths(path, only) < 0;
    this.table.set(prefix, this.share(newWins ? [path, only] : [only, path]));
    if (newWins) this.sink.bestPathChanged(prefix, only, path);
    return undefined;
  }

  private withdraw(prefix: K, peer: Peer): Path | undefined {
    const entry = this.table.get(prefix);
    if (entry === undefined) return undefined;
    if (entry < 0) return this.replaceAmong(prefix, entry, peer, undefined);
    const only = this.paths.get(entry);
    if (only.peer !== peer) return undefined;
    this.table.delete(prefix);
    this.pathCount--;
    this.sink.bestPathChanged(prefix, only, undefined);
    return only;
  }

  private replaceAmong(prefix: K, entry: number, peer: Peer, path: Path | undefined): Path | undefined {
    const candidates = this.shared[-1 - entry] as Path[];
    const oldBest = candidates[0];
    const at = candidates.findIndex((candidate) => candidate.peer === peer);
    const previous = at >= 0 ? candidates[at] : undefined;
    if (previous === path) return previous;
    let newAt = -1;
    if (at >= 0 && path !== undefined) {
      candidates[at] = path;
      newAt = at;
    } else if (at >= 0) {
      candidates[at] = candidates[candidates.length - 1];
      candidates.pop();
      this.pathCount--;
    } else if (path !== undefined) {
      newAt = candidates.push(path) - 1;
      this.pathCount++;
    }
    // Only the best is kept in place: when it went, look at all; otherwise only the newcomer can beat it.
    if (at === 0) {
      swap(candidates, 0, bestIndex(candidates));
    } else if (newAt > 0 && comparePaths(candidates[newAt], candidates[0]) < 0) {
      swap(candidates, 0, newAt);
    }
    if (candidates.length === 1) {
      this.table.set(prefix, candidates[0].id);
      this.shared[-1 - entry] = undefined;
      this.freeShared.push(-1 - entry);
    }
    if (candidates[0] !== oldBest) this.sink.bestPathChanged(prefix, oldBest, candidates[0]);
    return previous;
  }

  private bestOf(entry: number): Path {
    return entry > 0 ? this.paths.get(entry) : (this.shared[-1 - entry] as Path[])[0];
  }

  private candidatesOf(entry: number): Path[] {
    return entry > 0 ? [this.paths.get(entry)] : (this.shared[-1 - entry] as Path[]);
  }

  /** A new candidate array; returns its table entry. */
  private share(candidates: Path[]): number {
    const index = this.freeShared.pop() ?? this.shared.length;
    this.shared[index] = candidates;
    return -1 - index;
  }
}

function swap(paths: Path[], i: number, j: number): void {
  const path = paths[i];
  paths[i] = paths[j];
  paths[j] = path;
}
