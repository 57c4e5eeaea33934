// Skipping a dataplane manager whose input has not changed. The tunnel devices and the neighbour tables are read
// back from the kernel (a command each) before they are written; an apply that adds one workload changes neither,
// and a burst of pod starts runs many applies. Drift is still repaired: the resync forgets what was applied.

/** What a manager last applied without problems (as a key of its input), and when. */
export class UnchangedInput {
  private appliedKey: string | undefined;
  private appliedAt = 0;

  /** `maxAgeMs`: re-check at least this often even when nothing changed (a tunnel daemon that died). */
  constructor(private readonly maxAgeMs = Number.POSITIVE_INFINITY) {}

  /** Whether the manager must run for this input. */
  needed(key: string, now = performance.now()): boolean {
    return key !== this.appliedKey || now - this.appliedAt >= this.maxAgeMs;
  }

  /** The manager ran for `key`; only a clean run lets the next apply of the same input be skipped. */
  ran(key: string, clean: boolean, now = performance.now()): void {
    this.appliedKey = clean ? key : undefined;
    this.appliedAt = now;
  }

  /** The next apply runs the manager (the resync: the kernel may have drifted). */
  forget(): void {
    this.appliedKey = undefined;
  }
}
