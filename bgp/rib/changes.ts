// Best-path changes travel in runs: the prefixes of one UPDATE change from the same old best to the same new
// best, so consumers (update groups, the kernel queue) decide once per run and then just copy prefixes.

import type { Path } from './path';
import type { AddressFamily, PrefixList } from './prefix-table';

/**
 * The changes of one operation, in order, as runs of prefixes with the same (old best, new best). Reused from
 * operation to operation: clear() keeps the arrays' storage, so only the counts say what is valid.
 */
export class BestPathRuns<K> {
  /** Valid prefixes in prefixes[0, length). */
  length = 0;
  /** Valid runs in oldBest/newBest/start[0, runCount). */
  runCount = 0;
  readonly prefixes: K[] = [];
  readonly oldBest: (Path | undefined)[] = [];
  readonly newBest: (Path | undefined)[] = [];
  /** Index in prefixes where each run starts. */
  readonly start: number[] = [];

  /** End (exclusive) of run r in prefixes. */
  end(run: number): number {
    return run + 1 < this.runCount ? this.start[run + 1] : this.length;
  }

  push(prefix: K, oldBest: Path | undefined, newBest: Path | undefined): void {
    const last = this.runCount - 1;
    if (last < 0 || this.oldBest[last] !== oldBest || this.newBest[last] !== newBest) {
      this.oldBest[this.runCount] = oldBest;
      this.newBest[this.runCount] = newBest;
      this.start[this.runCount] = this.length;
      this.runCount++;
    }
    this.prefixes[this.length++] = prefix;
  }

  clear(): void {
    this.length = 0;
    // Drop the references to paths, keep the storage.
    this.oldBest.fill(undefined, 0, this.runCount);
    this.newBest.fill(undefined, 0, this.runCount);
    this.runCount = 0;
  }
}

/**
 * A queue of best-path changes for a consumer that wants the new state (e.g. kernel route programming): each
 * prefix with its new best path, undefined when it has no route any more. Stored as runs of one new best.
 */
export class BestPathChanges<K> {
  private readonly prefixes: PrefixList<K>;
  private readonly runBest: (Path | undefined)[] = [];
  private readonly runStart: number[] = [];

  constructor(family: AddressFamily<K>) {
    this.prefixes = family.newList();
  }

  get length(): number {
    return this.prefixes.length;
  }

  append(runs: BestPathRuns<K>): void {
    for (let run = 0; run < runs.runCount; run++) {
      const best = runs.newBest[run];
      if (this.runBest.length === 0 || this.runBest[this.runBest.length - 1] !== best) {
        this.runBest.push(best);
        this.runStart.push(this.prefixes.length);
      }
      const end = runs.end(run);
      for (let i = runs.start[run]; i < end; i++) this.prefixes.push(runs.prefixes[i]);
    }
  }

  forEach(visit: (prefix: K, best: Path | undefined) => void): void {
    for (let run = 0; run < this.runBest.length; run++) {
      const end = run + 1 < this.runStart.length ? this.runStart[run + 1] : this.prefixes.length;
      for (let i = this.runStart[run]; i < end; i++) visit(this.prefixes.at(i), this.runBest[run]);
    }
  }
}
