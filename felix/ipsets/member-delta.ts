// The members of one set: what we want, and how the kernel differs from it. Only the difference is kept besides the
// wanted members (felix's SetDeltaTracker), so one member changed costs one line however large the set, and the
// kernel's members are never held as a second copy of a set in sync.

export class MemberDelta {
  private readonly wanted = new Set<string>();
  /** Wanted, not in the kernel. */
  private readonly missing = new Set<string>();
  /** In the kernel, not wanted. */
  private readonly extra = new Set<string>();
  private changes = 0;

  get desired(): ReadonlySet<string> {
    return this.wanted;
  }

  get toAdd(): ReadonlySet<string> {
    return this.missing;
  }

  get toDelete(): ReadonlySet<string> {
    return this.extra;
  }

  /** Counts changes to the wanted members: equal versions mean the same wanted members. */
  get version(): number {
    return this.changes;
  }

  get inSync(): boolean {
    return this.missing.size === 0 && this.extra.size === 0;
  }

  add(member: string): void {
    if (this.wanted.has(member)) return;
    this.wanted.add(member);
    this.changes++;
    // Unwanted but still in the kernel: it only stops being extra.
    if (!this.extra.delete(member)) this.missing.add(member);
  }

  delete(member: string): void {
    if (!this.wanted.delete(member)) return;
    this.changes++;
    // Never written: it only stops being missing.
    if (!this.missing.delete(member)) this.extra.add(member);
  }

  /** Wants exactly `members` (already canonical), keeping what the kernel is known to hold. */
  replaceDesired(members: ReadonlySet<string>): void {
    for (const member of this.wanted) if (!members.has(member)) this.delete(member);
    for (const member of members) this.add(member);
  }

  /** Wants nothing any more (the set is going away). */
  clearDesired(): void {
    this.replaceDesired(new Set());
  }

  /** The kernel holds exactly `members` (canonical, no repeats): from a listing, or after the set was rebuilt. */
  loadKernel(members: readonly string[]): void {
    this.missing.clear();
    this.extra.clear();
    let wantedInKernel = 0;
    for (const member of members) {
      if (this.wanted.has(member)) wantedInKernel++;
      else this.extra.add(member);
    }
    // The usual case, a set in sync, ends here without building a second set of the kernel's members.
    if (wantedInKernel === this.wanted.size) return;
    const inKernel = new Set(members);
    for (const member of this.wanted) if (!inKernel.has(member)) this.missing.add(member);
  }

  /** The kernel holds exactly the wanted members (a write of the whole difference took effect). */
  markInSync(): void {
    this.missing.clear();
    this.extra.clear();
  }

  /** An `add` took effect in the kernel (the member may have been unwanted since it was planned). */
  addedToKernel(member: string): void {
    if (!this.missing.delete(member) && !this.wanted.has(member)) this.extra.add(member);
  }

  /** A `del` took effect in the kernel (the member may have been wanted again since it was planned). */
  deletedFromKernel(member: string): void {
    if (!this.extra.delete(member) && this.wanted.has(member)) this.missing.add(member);
  }
}
