// What one `ipset restore` transaction must say to bring sets from what the kernel holds to what we want. Pure: the
// manager runs the lines and, once they have run, records each write's effect in its state.
import {
  canSwap,
  type IpSetMetadata,
  isTempIpSetName,
  sameMetadata,
  tempIpSetName,
  type WantedIpSetMetadata,
} from './ipset';
import type { MemberDelta } from './member-delta';
import { formatCreate } from './save-format';

/** What the kernel has under a set's name: its metadata, nothing, or a set `ipset save` could not list. */
export type KernelIpSet = IpSetMetadata | 'absent' | 'unreadable';

/** One set as the manager tracks it. */
export interface TrackedIpSet {
  readonly name: string;
  /** Undefined when the set is no longer wanted and waits for applyDeletions(). */
  desired: WantedIpSetMetadata | undefined;
  kernel: KernelIpSet;
  readonly members: MemberDelta;
}

/**
 * How a set is written. `delta`: del and add lines for the difference, after a `create` when the kernel has no such
 * set. `swap`: a full copy filled in the temporary set, swapped in (atomically for whoever matches on it) and the
 * old contents destroyed. `recreate`: destroy and create again, for a type change the kernel cannot swap.
 */
export type SetWrite =
  | { kind: 'delta'; name: string; desired: WantedIpSetMetadata; created: boolean; added: string[]; deleted: string[] }
  | { kind: 'swap' | 'recreate'; name: string; desired: WantedIpSetMetadata; members: string[] };

export interface UpdatePlan {
  /** The `ipset restore` input, one command a line; empty when the kernel already matches. */
  lines: string[];
  /** Temporary sets left behind (by a crash mid-swap), destroyed first: nothing ever references them. */
  destroyedTemps: string[];
  writes: SetWrite[];
}

/** A full rewrite costs its members plus these lines (create, swap, destroy). */
const SWAP_OVERHEAD_LINES = 3;

function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** How `set` must be written, or undefined when the kernel matches (or the set is to be destroyed). */
function chooseWrite(set: TrackedIpSet): SetWrite | undefined {
  const { name, desired, kernel, members } = set;
  if (desired === undefined) return undefined;
  const all = () => [...members.desired];
  if (kernel === 'absent') {
    // Nothing to delete from a set that is not there: the delta is every wanted member.
    return { kind: 'delta', name, desired, created: true, added: [...members.toAdd], deleted: [] };
  }
  if (kernel === 'unreadable') return { kind: 'swap', name, desired, members: all() };
  if (!sameMetadata(kernel, desired)) {
    return { kind: canSwap(kernel, desired) ? 'swap' : 'recreate', name, desired, members: all() };
  }
  if (members.inSync) return undefined;
  if (members.toAdd.size + members.toDelete.size > members.desired.size + SWAP_OVERHEAD_LINES) {
    return { kind: 'swap', name, desired, members: all() };
  }
  return { kind: 'delta', name, desired, created: false, added: [...members.toAdd], deleted: [...members.toDelete] };
}

/** Appends the restore lines of `write` to `lines`. */
function writeLines(write: SetWrite, lines: string[]): void {
  const { name, desired } = write;
  switch (write.kind) {
    case 'delta':
      if (write.created) lines.push(formatCreate(name, desired, write.added.length));
      // Deletions first: the set never holds more than maxelem members on the way.
      for (const member of write.deleted) lines.push(`del ${name} ${member}`);
      for (const member of write.added) lines.push(`add ${name} ${member}`);
      return;
    case 'swap': {
      const temp = tempIpSetName(name);
      lines.push(formatCreate(temp, desired, write.members.length));
      for (const member of write.members) lines.push(`add ${temp} ${member}`);
      lines.push(`swap ${name} ${temp}`, `destroy ${temp}`);
      return;
    }
    case 'recreate':
      lines.push(`destroy ${name}`, formatCreate(name, desired, write.members.length));
      for (const member of write.members) lines.push(`add ${name} ${member}`);
      return;
  }
}

/** The transaction that brings `sets` (those that may have changed) and leftover temporary sets in line. */
export function planUpdates(sets: Iterable<TrackedIpSet>, leftoverTemps: Iterable<string>): UpdatePlan {
  const destroyedTemps = [...leftoverTemps].filter(isTempIpSetName).sort();
  const lines = destroyedTemps.map((temp) => `destroy ${temp}`);
  const writes: SetWrite[] = [];
  for (const set of [...sets].sort(byName)) {
    const write = chooseWrite(set);
    if (write === undefined) continue;
    writes.push(write);
    writeLines(write, lines);
  }
  return { lines, destroyedTemps, writes };
}

/** The sets in the kernel that are no longer wanted, minus those in `skip`, in the order to destroy them. */
export function setsToDestroy(sets: Iterable<TrackedIpSet>, skip: ReadonlySet<string>): string[] {
  return [...sets]
    .filter((set) => set.desired === undefined && set.kernel !== 'absent' && !skip.has(set.name))
    .map((set) => set.name)
    .sort();
}
