// Felix's ipset manager for the IPv4 sets (`cali40…`). Callers say which sets they want and with which members;
// apply() makes the kernel match in one `ipset restore` transaction, writing only what differs; applyDeletions(),
// run after the iptables rules that referenced them are gone, destroys the sets of ours no longer wanted. Sets with
// other names are never written. The kernel is read at the first apply, after markDirty(), and every resync
// interval, and whatever drifted (a member removed by hand, a set destroyed) is repaired by the same apply.
import { type IpsetBackend, IpsetError } from './backend';
import {
  assertMainIpSetName,
  assertMaxElements,
  canonicalMember,
  DEFAULT_MAX_ELEMENTS,
  IPSET_RESYNC_INTERVAL_MS,
  IPV4_FAMILY,
  type IpSetSpec,
  isIpSetType,
} from './ipset';
import { IpsetCommandBackend } from './ipset-command';
import { readOurIpSets } from './kernel-read';
import { MemberDelta } from './member-delta';
import { planUpdates, type SetWrite, setsToDestroy, type TrackedIpSet } from './plan';

export interface IpSetManagerOptions {
  /** A named network namespace to program instead of our own (`ip netns exec`). Ignored when `backend` is given. */
  netns?: string;
  /** Default: the ipset command (IpsetCommandBackend). */
  backend?: IpsetBackend;
  /** apply() re-reads the kernel when its last reading is older than this. Default 90 s; 0: only after markDirty(). */
  resyncIntervalMs?: number;
  /** Milliseconds for the resync interval (tests). Default: performance.now. */
  now?: () => number;
}

export interface IpSetApplyResult {
  /** Whether this apply read the kernel first (first apply, markDirty(), resync interval). */
  readKernel: boolean;
  /** Sets created or changed, by name, in the order written. */
  written: string[];
  /** Lines of the `ipset restore` transaction; 0 when none was run. */
  lines: number;
  ms: number;
  /** Of which reading the kernel. */
  readMs: number;
  /** Of which running the transaction. */
  writeMs: number;
}

export interface IpSetDeletionResult {
  destroyed: string[];
  /**
   * Sets the kernel would not destroy (typically still referenced by a rule), with ipset's reason. They are left
   * alone until the kernel is next read, then tried again.
   */
  failed: { name: string; reason: string }[];
}

export class IpSetManager {
  private readonly backend: IpsetBackend;
  private readonly resyncIntervalMs: number;
  private readonly now: () => number;
  /** Every set we want or the kernel holds under a main name of ours. */
  private readonly sets = new Map<string, TrackedIpSet>();
  /** Sets that may differ from the kernel since the last apply. */
  private dirty = new Set<string>();
  /** Temporary sets found in the kernel (left by a crash mid-swap). */
  private kernelTemps = new Set<string>();
  /** When the kernel was last read; undefined when what it holds is unknown. */
  private kernelReadAt: number | undefined;
  /** Sets whose destroy failed since the kernel was last read. */
  private readonly undestroyable = new Set<string>();
  /** apply() and applyDeletions() run one at a time, in call order. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: IpSetManagerOptions = {}) {
    this.backend = opts.backend ?? new IpsetCommandBackend(opts.netns);
    this.resyncIntervalMs = opts.resyncIntervalMs ?? IPSET_RESYNC_INTERVAL_MS;
    this.now = opts.now ?? (() => performance.now());
  }

  /** Wants the set exactly as `spec` says (creating it, or replacing its type, size and members). */
  setIpSet(spec: IpSetSpec): void {
    assertMainIpSetName(spec.name);
    if (!isIpSetType(spec.type)) throw new Error(`ipset ${spec.name}: unsupported type "${spec.type}"`);
    const maxElements = spec.maxElements ?? DEFAULT_MAX_ELEMENTS;
    assertMaxElements(maxElements);
    const members = new Set<string>();
    for (const member of spec.members) members.add(canonicalMember(spec.type, member));
    if (members.size > maxElements) {
      throw new Error(`ipset ${spec.name}: ${members.size} members, more than its maxElements ${maxElements}`);
    }
    const set = this.sets.get(spec.name) ?? this.track(spec.name);
    set.desired = { type: spec.type, family: IPV4_FAMILY, maxElements };
    set.members.replaceDesired(members);
    this.dirty.add(spec.name);
  }

  /** Adds members to a wanted set. Throws (changing nothing) on a member the set cannot hold or beyond maxElements. */
  addMembers(name: string, members: Iterable<string>): void {
    const set = this.wanted(name);
    const { type, maxElements } = set.desired!;
    const canonical = new Set<string>();
    for (const member of members) canonical.add(canonicalMember(type, member));
    let size = set.members.desired.size;
    for (const member of canonical) if (!set.members.desired.has(member)) size++;
    if (size > maxElements) throw new Error(`ipset ${name}: ${size} members, more than its maxElements ${maxElements}`);
    for (const member of canonical) set.members.add(member);
    this.dirty.add(name);
  }

  removeMembers(name: string, members: Iterable<string>): void {
    const set = this.wanted(name);
    const { type } = set.desired!;
    const canonical = [...members].map((member) => canonicalMember(type, member));
    for (const member of canonical) set.members.delete(member);
    this.dirty.add(name);
  }

  /** Stops wanting the set: applyDeletions() destroys it. Unknown names are ignored. */
  removeIpSet(name: string): void {
    const set = this.sets.get(name);
    if (set?.desired === undefined) return;
    set.desired = undefined;
    set.members.clearDesired();
    if (set.kernel === 'absent') this.sets.delete(name);
  }

  /** The members wanted in a set (canonical), or undefined when it is not wanted. */
  desiredMembers(name: string): ReadonlySet<string> | undefined {
    const set = this.sets.get(name);
    return set?.desired === undefined ? undefined : set.members.desired;
  }

  /** Forgets what the kernel holds: the next apply re-reads it and repairs whatever drifted. */
  markDirty(): void {
    this.kernelReadAt = undefined;
  }

  /** Creates and updates the wanted sets in one `ipset restore` transaction; destroys nothing but temporary sets. */
  apply(): Promise<IpSetApplyResult> {
    return this.serially(() => this.applyNow());
  }

  /**
   * Destroys the sets of ours no longer wanted (run it after the rules that used them are gone). One transaction,
   * continued past a set the kernel refuses to destroy.
   */
  applyDeletions(): Promise<IpSetDeletionResult> {
    return this.serially(() => this.applyDeletionsNow());
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work);
    this.queue = result.catch(() => {});
    return result;
  }

  private track(name: string): TrackedIpSet {
    // A set we did not know of is not in the kernel: a reading tracks every set of ours it finds.
    const set: TrackedIpSet = { name, desired: undefined, kernel: 'absent', members: new MemberDelta() };
    this.sets.set(name, set);
    return set;
  }

  private wanted(name: string): TrackedIpSet {
    const set = this.sets.get(name);
    if (set?.desired === undefined) throw new Error(`ipset ${name}: not a wanted set (setIpSet it first)`);
    return set;
  }

  private needsReading(): boolean {
    if (this.kernelReadAt === undefined) return true;
    return this.resyncIntervalMs > 0 && this.now() - this.kernelReadAt >= this.resyncIntervalMs;
  }

  private async readKernel(): Promise<void> {
    const listing = await readOurIpSets(this.backend);
    for (const [name, set] of this.sets) {
      if (listing.sets.has(name)) continue;
      if (set.desired === undefined) {
        this.sets.delete(name);
      } else {
        set.kernel = 'absent';
        set.members.loadKernel([]);
      }
    }
    for (const [name, saved] of listing.sets) {
      const set = this.sets.get(name) ?? this.track(name);
      set.kernel = saved === 'unreadable' ? 'unreadable' : saved.metadata;
      set.members.loadKernel(saved === 'unreadable' ? [] : saved.members);
    }
    this.kernelTemps = new Set(listing.temps);
    this.dirty = new Set(this.sets.keys());
    this.undestroyable.clear();
    this.kernelReadAt = this.now();
  }

  private async applyNow(): Promise<IpSetApplyResult> {
    const started = performance.now();
    const readKernel = this.needsReading();
    if (readKernel) await this.readKernel();
    const read = performance.now();

    // Changes made while the transaction runs land in a fresh dirty set, for the next apply.
    const candidates = [...this.dirty].map((name) => this.sets.get(name)).filter((set) => set !== undefined);
    this.dirty = new Set();
    const plan = planUpdates(candidates, this.kernelTemps);
    const planned = new Map(candidates.map((set) => [set.name, { set, version: set.members.version }]));
    if (plan.lines.length > 0) {
      try {
        await this.backend.restore(plan.lines);
      } catch (err) {
        // ipset applies a failed transaction partly: only a new reading tells what the kernel holds.
        this.kernelReadAt = undefined;
        throw err;
      }
    }
    for (const temp of plan.destroyedTemps) this.kernelTemps.delete(temp);
    for (const write of plan.writes) this.recordWrite(write, planned.get(write.name));
    const written = performance.now();
    return {
      readKernel,
      written: plan.writes.map((write) => write.name),
      lines: plan.lines.length,
      ms: written - started,
      readMs: read - started,
      writeMs: written - read,
    };
  }

  /**
   * What a write did to the kernel. `planned`: the set and its members' version when the write was planned; if the
   * wanted members are still those, the set is in sync, else the write is weighed against what is wanted now.
   */
  private recordWrite(write: SetWrite, planned: { set: TrackedIpSet; version: number } | undefined): void {
    // The set may have been removed (and forgotten) while the transaction ran: the kernel has it now all the same.
    const set = this.sets.get(write.name) ?? this.track(write.name);
    set.kernel = write.desired;
    if (planned?.set === set && planned.version === set.members.version) {
      set.members.markInSync();
    } else if (write.kind === 'delta' && !write.created) {
      for (const member of write.deleted) set.members.deletedFromKernel(member);
      for (const member of write.added) set.members.addedToKernel(member);
    } else {
      set.members.loadKernel(write.kind === 'delta' ? write.added : write.members);
    }
  }

  private async applyDeletionsNow(): Promise<IpSetDeletionResult> {
    if (this.kernelReadAt === undefined) await this.readKernel();
    const result: IpSetDeletionResult = { destroyed: [], failed: [] };
    let remaining = setsToDestroy(this.sets.values(), this.undestroyable);
    while (remaining.length > 0) {
      try {
        await this.backend.restore(remaining.map((name) => `destroy ${name}`));
        result.destroyed.push(...remaining);
        remaining = [];
      } catch (err) {
        if (!(err instanceof IpsetError && err.failure !== undefined)) {
          this.kernelReadAt = undefined;
          throw err;
        }
        // Destroys are not batched: the lines before the failing one took effect, the ones after did not run.
        const failedIndex = err.failure.line - 1;
        const name = remaining[failedIndex]!;
        result.destroyed.push(...remaining.slice(0, failedIndex));
        result.failed.push({ name, reason: err.failure.reason });
        this.undestroyable.add(name);
        remaining = remaining.slice(failedIndex + 1);
      }
    }
    for (const name of result.destroyed) {
      const set = this.sets.get(name);
      if (set === undefined) continue;
      if (set.desired === undefined) {
        this.sets.delete(name);
      } else {
        // Wanted again while the transaction ran: the next apply creates it anew.
        set.kernel = 'absent';
        set.members.loadKernel([]);
        this.dirty.add(name);
      }
    }
    return result;
  }
}
