// Adj-RIB-Out. What a peer was sent is a function of the Loc-RIB's best paths and the export policy, so (as in
// BIRD) it is not stored per prefix: each peer keeps only a queue of the prefixes changed since it last sent.
// Peers that export alike form an update group and share the outgoing attribute sets, encoded once per
// (path, group) and interned, so prefixes whose outgoing attributes are equal travel in the same UPDATEs.

import type { AttributeEncoder, AttrSet, AttrSetTable } from './attrs';
import type { BestPathRuns } from './changes';
import { type ExportTarget, exportAttributes } from './export';
import type { LocRib } from './loc-rib';
import type { Path } from './path';
import type { LocalIdentity, Peer } from './peer';
import type { AddressFamily, PrefixList } from './prefix-table';

/** Prefixes to announce with one attribute set: one or more UPDATEs with set.raw as their attributes. */
export interface OutboundAnnouncement<K> {
  readonly attrs: AttrSet;
  readonly prefixes: K[];
}

/** What to send a peer now: each prefix at most once, with its current state. */
export interface OutboundBatch<K> {
  readonly withdrawn: K[];
  readonly announced: OutboundAnnouncement<K>[];
}

export interface ExportContext {
  readonly local: LocalIdentity;
  readonly attrSets: AttrSetTable;
  readonly encodeAttributes: AttributeEncoder;
}

export class UpdateGroup<K> {
  readonly members: AdjRibOut<K>[] = [];
  /** Outgoing attribute set of each path (null: not exported); a path lives here until it is released. */
  private readonly exported = new Map<Path, AttrSet | null>();
  // The prefixes of one UPDATE share a path: remember the last answer.
  private lastPath: Path | undefined;
  private lastExport: AttrSet | null = null;

  constructor(
    readonly key: string,
    readonly target: ExportTarget,
    private readonly ctx: ExportContext,
  ) {}

  /** The path's outgoing attribute set for this group's peers, or null when they do not get it. */
  exportOf(path: Path): AttrSet | null {
    if (path === this.lastPath) return this.lastExport;
    let out = this.exported.get(path);
    if (out === undefined) {
      const attributes = exportAttributes(path, this.target, this.ctx.local);
      out = null;
      if (attributes !== null) {
        const { fourOctetAs, ibgp } = this.target;
        const raw = this.ctx.encodeAttributes(attributes, { fourOctetAs, ibgp });
        out = this.ctx.attrSets.intern(raw, attributes, fourOctetAs);
        this.ctx.attrSets.retain(out);
      }
      this.exported.set(path, out);
    }
    this.lastPath = path;
    this.lastExport = out;
    return out;
  }

  /** Best paths changed: queue the prefixes for each member whose view of them changed. */
  apply(runs: BestPathRuns<K>): void {
    for (let run = 0; run < runs.runCount; run++) {
      const oldBest = runs.oldBest[run];
      const newBest = runs.newBest[run];
      const oldOut = oldBest === undefined ? null : this.exportOf(oldBest);
      const newOut = newBest === undefined ? null : this.exportOf(newBest);
      // Equal outgoing attributes from one source peer: no member sees a difference.
      if (oldOut === newOut && (oldOut === null || oldBest?.peer === newBest?.peer)) continue;
      for (const member of this.members) {
        const was = oldBest === undefined || oldBest.peer === member.peer ? null : oldOut;
        const now = newBest === undefined || newBest.peer === member.peer ? null : newOut;
        if (was !== now) member.changed(runs.prefixes, runs.start[run], runs.end(run), was, now, oldBest === undefined);
      }
    }
  }

  /** The path is gone: drop its outgoing set. */
  forget(path: Path): void {
    if (this.lastPath === path) this.lastPath = undefined;
    const out = this.exported.get(path);
    if (out === undefined) return;
    this.exported.delete(path);
    if (out !== null) this.ctx.attrSets.release(out);
  }

  /** The last member left. */
  dispose(): void {
    for (const out of this.exported.values()) if (out !== null) this.ctx.attrSets.release(out);
    this.exported.clear();
    this.lastPath = undefined;
  }
}

/**
 * One established peer's outbound side: a queue of changed prefixes, each with the outgoing attribute set it
 * changed to (null: withdrawn), in runs of one set. A drain hands these over as they are, unless a prefix may
 * be queued twice (then only its last entry counts) or was queued without its set (a full table): then the
 * drain asks the Loc-RIB for the current state of each queued prefix. A prefix can only be queued twice when,
 * with the queue not empty, an existing prefix changes, or a new one arrives while a withdrawal is queued: a
 * bulk load of new prefixes never looks anything up.
 */
export class AdjRibOut<K> {
  /** Prefixes the peer has (or is about to have) from us. */
  advertised = 0;
  /** Queued prefixes, from index head on. */
  private pending: PrefixList<K>;
  private head = 0;
  /** Outgoing set (null: withdrawal) of the run starting at runStart[i]; run is the first not fully drained. */
  private runAttrs: (AttrSet | null)[] = [];
  private runStart: number[] = [];
  private run = 0;
  private withdrawalQueued = false;
  /** A prefix may be queued more than once. */
  private mayRepeat = false;
  /** Some prefixes were queued without their outgoing set. */
  private unrecorded = false;

  constructor(
    readonly peer: Peer,
    readonly group: UpdateGroup<K>,
    private readonly family: AddressFamily<K>,
  ) {
    this.pending = family.newList();
  }

  /** Prefixes waiting to be sent. */
  get pendingCount(): number {
    return this.pending.length - this.head;
  }

  /** The outgoing attribute set of a path for this peer: never a path back to the peer it came from. */
  exportFor(path: Path): AttrSet | null {
    return path.peer === this.peer ? null : this.group.exportOf(path);
  }

  /** prefixes[from, to) changed from outgoing set `was` to `now` (null: not advertised); fresh: new prefixes. */
  changed(
    prefixes: readonly K[],
    from: number,
    to: number,
    was: AttrSet | null,
    now: AttrSet | null,
    fresh: boolean,
  ): void {
    if (this.pendingCount > 0 && (!fresh || this.withdrawalQueued)) this.mayRepeat = true;
    if (now === null) this.withdrawalQueued = true;
    if (this.runAttrs.length === 0 || this.runAttrs[this.runAttrs.length - 1] !== now) {
      this.runAttrs.push(now);
      this.runStart.push(this.pending.length);
    }
    for (let i = from; i < to; i++) this.pending.push(prefixes[i]);
    this.advertised += (to - from) * (Number(now !== null) - Number(was !== null));
  }

  /**
   * Queues every exported best path: a new session, or a route refresh (then the count stands as it is).
   * Walked in table order, which is also the cheapest order to look the prefixes up again when draining.
   */
  queueFullTable(locRib: LocRib<K>, counting: boolean): void {
    if (this.pendingCount > 0) this.mayRepeat = true;
    locRib.forEachBest((best, prefix) => {
      if (this.exportFor(best) === null) return;
      this.pending.push(prefix);
      this.unrecorded = true;
      if (counting) this.advertised++;
    });
  }

  /** Takes up to maxPrefixes queued prefixes, grouped by what to send for them. */
  drain(locRib: LocRib<K>, maxPrefixes = Number.POSITIVE_INFINITY): OutboundBatch<K> {
    const end = Math.min(this.pending.length, this.head + maxPrefixes);
    const batch = new OutboundBatchBuilder<K>();
    if (this.mayRepeat || this.unrecorded) {
      const seen = this.mayRepeat ? new Set<K>() : undefined;
      for (let i = this.head; i < end; i++) {
        const prefix = this.pending.at(i);
        if (seen !== undefined) {
          if (seen.has(prefix)) continue;
          seen.add(prefix);
        }
        const best = locRib.best(prefix);
        batch.add(best === undefined ? null : this.exportFor(best), prefix);
      }
    } else {
      for (; this.run < this.runStart.length && this.runStart[this.run] < end; this.run++) {
        const runEnd = this.run + 1 < this.runStart.length ? this.runStart[this.run + 1] : this.pending.length;
        const attrs = this.runAttrs[this.run];
        for (let i = Math.max(this.head, this.runStart[this.run]); i < Math.min(end, runEnd); i++) {
          batch.add(attrs, this.pending.at(i));
        }
        if (runEnd > end) break;
      }
    }
    this.head = end;
    if (end === this.pending.length) this.reset(this.advertised);
    return batch.build();
  }

  /** Empties the queue; advertised 0 when the session ended. */
  reset(advertised = 0): void {
    this.pending = this.family.newList();
    this.head = 0;
    this.runAttrs = [];
    this.runStart = [];
    this.run = 0;
    this.withdrawalQueued = false;
    this.mayRepeat = false;
    this.unrecorded = false;
    this.advertised = advertised;
  }
}

/** Groups drained prefixes by outgoing attribute set. */
class OutboundBatchBuilder<K> {
  private readonly withdrawn: K[] = [];
  private readonly byAttrs = new Map<AttrSet, K[]>();
  // Consecutive prefixes mostly share a set.
  private lastAttrs: AttrSet | null = null;
  private lastPrefixes: K[] = this.withdrawn;

  add(attrs: AttrSet | null, prefix: K): void {
    if (attrs !== this.lastAttrs) {
      this.lastAttrs = attrs;
      this.lastPrefixes = attrs === null ? this.withdrawn : (this.byAttrs.get(attrs) ?? []);
      if (attrs !== null && this.lastPrefixes.length === 0) this.byAttrs.set(attrs, this.lastPrefixes);
    }
    this.lastPrefixes.push(prefix);
  }

  build(): OutboundBatch<K> {
    return {
      withdrawn: this.withdrawn,
      announced: Array.from(this.byAttrs, ([attrs, prefixes]) => ({ attrs, prefixes })),
    };
  }
}
