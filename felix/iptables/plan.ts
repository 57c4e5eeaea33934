// Planning a write: from what the kernel holds (hashes read back from iptables-save, or known from our last write)
// and what we want, the iptables-restore input that makes them equal, and the kernel state after it. Pure; follows
// Calico's Table.applyUpdates:
// - chains of ours: new ones are declared (`:name - -`, which creates a chain or flushes it), changed ones edited in
//   place rule by rule (`-R`, `-A`, `-D <n>`, keeping the counters of unchanged rules) or, when that takes fewer
//   lines, flushed and refilled; unwanted ones flushed first and deleted (`-X`) last, once the edits before have
//   removed every reference of ours to them (only flushed while a rule of others still refers to them);
// - other chains (INPUT, FORWARD, ...): our rules ("insertions") belong at the top. When they are not exactly there,
//   all of ours are deleted by value and inserted again; foreign rules are never written, only counted.
// The input can be produced piece by piece (startPlan): what is decided first is cheap, and the lines of new or
// refilled chains (and their hashes) are made as the pieces are taken, while iptables-restore reads the first ones.
import { type RenderedChain, sameStrings } from './hash';
import { renderHashComment, renderRuleSpec } from './rule';
import { FOREIGN_RULE, type KernelChain, type KernelTable } from './save-parser';

export interface DesiredTable {
  /** Our chains, by name. */
  readonly chains: ReadonlyMap<string, RenderedChain>;
  /** Rules of ours at the top of other chains, by chain; a chain absent here gets none. */
  readonly insertions: ReadonlyMap<string, RenderedChain>;
}

export interface PlanOptions {
  /** filter, nat, raw or mangle. */
  readonly table: string;
  /** `cali:`. */
  readonly hashPrefix: string;
  readonly isOurChain: (name: string) => boolean;
  /** Rewrite every changed chain of ours whole: iptables-nft-restore before 1.8.3 misplaces rules after one `-R`. */
  readonly rewriteWholeChains: boolean;
  /**
   * Delete chains in a second transaction: iptables-nft-restore checks a deleted chain's references as they were
   * when the transaction started, not after the edits before the `-X`.
   */
  readonly deleteChainsInSecondTransaction: boolean;
}

export interface RestorePlan {
  /** iptables-restore input (for `--noflush`); empty when the kernel already matches. */
  readonly text: string;
  /** Lines of `text`, `*table` and `COMMIT` included. */
  readonly lineCount: number;
  /** Chains the write changes, as the kernel holds them after it succeeds; undefined: deleted. */
  readonly kernelAfter: ReadonlyMap<string, KernelChain | undefined>;
}

/** A planned write whose input is made as it is taken. */
export interface PlannedWrite {
  /** Nothing to write: the kernel already matches. */
  readonly empty: boolean;
  /** The iptables-restore input in pieces of about CHUNK_CHARS characters; can be taken once. */
  chunks(): Generator<string, void, undefined>;
  /** Once every chunk has been taken: lines written, `*table` and `COMMIT` included. */
  readonly lineCount: number;
  /** Once every chunk has been taken: the chains the write changes, as the kernel holds them after it succeeds. */
  readonly kernelAfter: ReadonlyMap<string, KernelChain | undefined>;
}

/** Pieces about the size of a pipe's buffer. */
const CHUNK_CHARS = 64 * 1024;

const NO_SPECS: ReadonlyMap<number, string> = new Map();

/**
 * The write that makes the kernel match `desired`. `candidates`: the chains that may differ (the others are taken to
 * match); default: every chain in either.
 */
export function planRestore(
  kernel: KernelTable,
  desired: DesiredTable,
  opts: PlanOptions,
  candidates?: Iterable<string>,
): RestorePlan {
  const planned = startPlan(kernel, desired, opts, candidates);
  const text = [...planned.chunks()].join('');
  return { text, lineCount: planned.lineCount, kernelAfter: planned.kernelAfter };
}

/** planRestore, with the input made as it is taken. */
export function startPlan(
  kernel: KernelTable,
  desired: DesiredTable,
  opts: PlanOptions,
  candidates?: Iterable<string>,
): PlannedWrite {
  const names = [
    ...new Set(candidates ?? [...kernel.chains.keys(), ...desired.chains.keys(), ...desired.insertions.keys()]),
  ];
  // Sorted so that the same states always give the same text.
  names.sort();
  const planner = new Planner(kernel, desired, opts);
  for (const name of names) {
    if (opts.isOurChain(name)) planner.planOurChain(name);
    else planner.planInsertions(name);
  }
  return planner;
}

/** The lines of a write, gathered by kind, and put in order as chunks() is taken. */
class Planner implements PlannedWrite {
  /** Chains to create or flush (`:name - -`), first of all. */
  private readonly declarations: string[] = [];
  /** Lines editing chains of ours in place, and chains of ours to fill whole (their lines made later). */
  private readonly chainEdits: (string | RenderedChain)[] = [];
  private readonly insertionEdits: string[] = [];
  /** Chains to delete, last of all. */
  private readonly deletions: string[] = [];
  /** Chains refilled whole: their hashes are known only once their lines are made. */
  private readonly refilled: RenderedChain[] = [];
  readonly kernelAfter = new Map<string, KernelChain | undefined>();
  lineCount = 0;

  constructor(
    private readonly kernel: KernelTable,
    private readonly desired: DesiredTable,
    private readonly opts: PlanOptions,
  ) {}

  get empty(): boolean {
    return this.declarations.length + this.chainEdits.length + this.insertionEdits.length === 0;
  }

  planOurChain(name: string): void {
    const current = this.kernel.chains.get(name);
    const wanted = this.desired.chains.get(name);
    if (wanted === undefined) {
      if (current === undefined) return;
      if (this.kernel.foreignReferences.has(name)) {
        // Deleting it would fail, and so would the whole write: empty it instead, until the reference goes.
        if (current.hashes.length === 0) return;
        this.declarations.push(name);
        this.kernelAfter.set(name, { hashes: [], ourRuleSpecs: NO_SPECS });
        return;
      }
      this.declarations.push(name);
      this.deletions.push(name);
      this.kernelAfter.set(name, undefined);
      return;
    }
    // A new chain is not hashed here: its hashes are made with its lines.
    if (current !== undefined && sameStrings(current.hashes, wanted.hashes)) return;
    if (
      current !== undefined &&
      !this.opts.rewriteWholeChains &&
      // Flushing and refilling takes the declaration and one line per rule.
      editCount(current.hashes, wanted.hashes) <= 1 + wanted.bodies.length
    ) {
      this.writeEdits(current, wanted);
      this.kernelAfter.set(name, { hashes: wanted.hashes, ourRuleSpecs: NO_SPECS });
      return;
    }
    this.declarations.push(name);
    this.chainEdits.push(wanted);
    this.refilled.push(wanted);
  }

  /** Our rules at the top of `name`, a chain that is not ours. */
  planInsertions(name: string): void {
    const current = this.kernel.chains.get(name);
    const wanted = this.desired.insertions.get(name);
    const hashes = current?.hashes ?? [];
    const foreignCount = hashes.filter((hash) => hash === FOREIGN_RULE).length;
    const wantedHashes = [...(wanted?.hashes ?? []), ...new Array<null>(foreignCount).fill(FOREIGN_RULE)];
    if (sameStrings(hashes, wantedHashes)) return;
    hashes.forEach((hash, i) => {
      if (hash === FOREIGN_RULE) return;
      const ourSpec = current?.ourRuleSpecs.get(i);
      if (ourSpec === undefined) throw new Error(`chain ${name}: no rule text for our rule ${i + 1} (${hash})`);
      this.insertionEdits.push(`-D ${name} ${ourSpec}`);
    });
    const specs = new Map<number, string>();
    // Each insert goes to the top: the last rule first.
    for (let i = (wanted?.bodies.length ?? 0) - 1; i >= 0; i--) {
      specs.set(i, this.spec(wanted!, i));
      this.insertionEdits.push(`-I ${name} ${specs.get(i)}`);
    }
    this.kernelAfter.set(name, { hashes: wantedHashes, ourRuleSpecs: specs });
  }

  *chunks(): Generator<string, void, undefined> {
    if (this.empty) return;
    let lines: string[] = [];
    let chars = 0;
    const write = (line: string) => {
      lines.push(line);
      chars += line.length + 1;
      this.lineCount++;
    };
    const take = () => {
      const chunk = `${lines.join('\n')}\n`;
      lines = [];
      chars = 0;
      return chunk;
    };
    write(`*${this.opts.table}`);
    for (const name of this.declarations) write(`:${name} - -`);
    for (const edit of this.chainEdits) {
      if (typeof edit === 'string') {
        write(edit);
      } else {
        for (let i = 0; i < edit.bodies.length; i++) {
          write(`-A ${edit.name} ${this.spec(edit, i)}`);
          if (chars >= CHUNK_CHARS) yield take();
        }
      }
      if (chars >= CHUNK_CHARS) yield take();
    }
    for (const line of this.insertionEdits) write(line);
    if (this.deletions.length > 0) {
      if (this.opts.deleteChainsInSecondTransaction) {
        write('COMMIT');
        write(`*${this.opts.table}`);
        // Flushed again: in this transaction they start out with no rules, so no references of ours.
        for (const name of this.deletions) write(`:${name} - -`);
      }
      for (const name of this.deletions) write(`-X ${name}`);
    }
    write('COMMIT');
    for (const chain of this.refilled)
      this.kernelAfter.set(chain.name, { hashes: chain.hashes, ourRuleSpecs: NO_SPECS });
    yield take();
  }

  /** Rule `i` of `chain` as written: hash comment, then the body. */
  private spec(chain: RenderedChain, i: number): string {
    return renderRuleSpec(chain.bodies[i], renderHashComment(this.opts.hashPrefix, chain.hashes[i]));
  }

  /**
   * The edits that turn chain `current` into `wanted` in place: replace where the hashes differ, then append what is
   * new or delete what is left at the end. Hashes are chained, so after the first difference every rule differs;
   * what this keeps is the unchanged head of the chain (and its counters).
   */
  private writeEdits(current: KernelChain, wanted: RenderedChain): void {
    const name = wanted.name;
    const have = current.hashes.length;
    const want = wanted.hashes.length;
    for (let i = 0; i < Math.min(have, want); i++) {
      if (current.hashes[i] !== wanted.hashes[i]) this.chainEdits.push(`-R ${name} ${i + 1} ${this.spec(wanted, i)}`);
    }
    for (let i = have; i < want; i++) this.chainEdits.push(`-A ${name} ${this.spec(wanted, i)}`);
    // The surplus goes from just after what we keep, one rule at a time, each time the next one moving up.
    for (let i = want; i < have; i++) this.chainEdits.push(`-D ${name} ${want + 1}`);
  }
}

/** How many lines Planner.writeEdits() takes. */
function editCount(have: readonly (string | null)[], want: readonly string[]): number {
  let count = Math.abs(have.length - want.length);
  for (let i = 0; i < Math.min(have.length, want.length); i++) if (have[i] !== want[i]) count++;
  return count;
}
