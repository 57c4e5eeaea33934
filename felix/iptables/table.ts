// One iptables table (filter, nat, raw, mangle) as felix programs it, after Calico's felix/iptables/table.go. The
// caller says which chains of ours it wants and which rules of ours go at the top of other chains (the hooks);
// apply() writes only the difference, with one `iptables-restore --noflush` run (one transaction; with iptables-nft,
// a second one for chain deletions).
//
// What the kernel holds is known from the rule hashes, read back with iptables-save on the first apply, after
// markDirty(), after a failed write, and every resync interval; in between, our own writes keep it up to date.
// Calico re-reads the whole table before every write that follows a change of its chains; we write against what we
// know instead: with 50,000 rules, iptables-nft-save takes about a second, writing one changed policy chain 15 to 40
// ms. A write that meets a changed kernel fails (a rule number that is no longer there, a rule to delete that is
// gone) and is retried after a re-read; what others change without breaking our writes is repaired at the next
// resync.
import { setTimeout as sleep } from 'node:timers/promises';
import { type CommandResult, type CommandRunner, commandRunner } from '../command';
import { detectBackend, type IptablesBackend } from './backend';
import { type RenderedChain, renderChain, sameStrings } from './hash';
import { type PlannedWrite, type PlanOptions, startPlan } from './plan';
import { assertChainName, type Chain, type Rule } from './rule';
import { type MutableKernelTable, parseIptablesSave } from './save-parser';

export type TableName = 'filter' | 'nat' | 'raw' | 'mangle';

/** The chains the kernel creates in each table: where our hooks go. */
export const KERNEL_CHAINS: Readonly<Record<TableName, readonly string[]>> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  raw: ['PREROUTING', 'OUTPUT'],
};

/** Calico's IptablesRefreshInterval. */
export const IPTABLES_RESYNC_INTERVAL_MS = 180_000;

/** Names of chains that are ours (Calico: felix/rules/rulesdefs AllHistoricChainNamePrefixes). */
export const OUR_CHAIN_PREFIXES: readonly string[] = ['cali-', 'califw-', 'calitw-'];

/** Written before the hash in every rule's comment (Calico's RuleHashPrefix). */
export const RULE_HASH_PREFIX = 'cali:';

export interface IptablesTableOptions {
  table: TableName;
  /** Default: detectBackend() on the first apply. Felix detects once and hands the result to all four tables. */
  backend?: IptablesBackend;
  /** Program this named network namespace (`ip netns exec`) instead of our own (tests). */
  netns?: string;
  /** Runs the iptables tools; default: commandRunner(netns). */
  runner?: CommandRunner;
  /** Re-read the kernel at the first apply this long after the last read; 0: only when told. Default 180 s. */
  resyncIntervalMs?: number;
  /** Tries of a write (each after a re-read) before apply() fails. Default 5. */
  attempts?: number;
  /** Wait before the second try, doubled before each further one. Default 10 ms. */
  retryDelayMs?: number;
  /** How long iptables-restore waits for the xtables lock held by another writer. Default 10 s. */
  lockWaitSeconds?: number;
  /** Default OUR_CHAIN_PREFIXES. */
  chainPrefixes?: readonly string[];
  /** Default RULE_HASH_PREFIX. */
  hashPrefix?: string;
  /** Wall clock in ms, for the resync interval; default Date.now. */
  clock?: () => number;
}

export interface ApplyResult {
  /** Lines of iptables-restore input written (0 when the kernel already matched). */
  linesWritten: number;
  /** iptables-restore runs that succeeded: 0 or 1. */
  restores: number;
  /** Tries that failed before the one that succeeded. */
  failedAttempts: number;
  /** Whether the kernel was read (iptables-save). */
  read: boolean;
  /** Wall time of the apply, and its parts: reading the kernel, deciding what to write, and writing. */
  ms: number;
  readMs: number;
  planMs: number;
  /** Includes making the lines of new and refilled chains (and their hashes), done while iptables-restore reads. */
  writeMs: number;
}

export interface IptablesTableStats {
  /** Totals over every apply so far. */
  linesWritten: number;
  restores: number;
  failedRestores: number;
  reads: number;
  /** Wall time of the latest apply that succeeded. */
  lastApplyMs: number;
}

/** apply() gave up: the last try's iptables-restore failure, with the input line it names. */
export class IptablesRestoreError extends Error {
  constructor(
    readonly command: string,
    readonly table: string,
    readonly attempts: number,
    readonly exitCode: number,
    readonly stderr: string,
    /** 1-based line of the input that iptables-restore reported, and its text. */
    readonly failedLineNumber: number | undefined,
    readonly failedLine: string | undefined,
  ) {
    const where = failedLineNumber === undefined ? '' : ` at input line ${failedLineNumber} "${failedLine ?? ''}"`;
    super(
      `${command} --noflush (table ${table}) failed ${attempts} time(s); last: exit ${exitCode}${where}: ` +
        summarizeStderr(stderr),
    );
    this.name = 'IptablesRestoreError';
  }
}

/** iptables-restore's stderr without its usage hint, on one line. */
function summarizeStderr(stderr: string): string {
  return stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('Try `'))
    .join('; ');
}

/**
 * The input line an iptables-restore error names: `Error occurred at line: 4` (iptables-restore), `line 2 failed`,
 * `line 2: CHAIN_DEL failed` (iptables-nft-restore).
 */
export function failedRestoreLine(stderr: string): number | undefined {
  const match = /\bline:? (\d+)/.exec(stderr);
  return match === null ? undefined : Number(match[1]);
}

class RestoreFailure extends Error {
  constructor(
    readonly result: CommandResult,
    readonly input: string,
  ) {
    super(result.stderr);
  }
}

export class IptablesTable {
  readonly table: TableName;
  private backend: IptablesBackend | undefined;
  private readonly runner: CommandRunner;
  private readonly resyncIntervalMs: number;
  private readonly attempts: number;
  private readonly retryDelayMs: number;
  private readonly lockWaitSeconds: number;
  private readonly chainPrefixes: readonly string[];
  private readonly hashPrefix: string;
  private readonly clock: () => number;

  private readonly chains = new Map<string, RenderedChain>();
  /**
   * The rules each of our chains was last rendered from, as given and as JSON, and the setChains call that last
   * named it: setChains renders again (rule text, checks) only the chains whose rules changed. Felix hands over
   * every chain on every apply (tens of thousands), most of them unchanged and most of those as the very same array,
   * so that case costs one lookup.
   */
  private readonly renderedFrom = new Map<string, { rules: readonly Rule[]; json: string; call: number }>();
  private setChainsCalls = 0;
  private readonly insertions = new Map<string, RenderedChain>();
  /** What the kernel holds, as far as we know; undefined: read it before the next write. */
  private kernel: MutableKernelTable | undefined;
  /** Counts markDirty() calls: a read that was under way when one came does not count as up to date. */
  private kernelGeneration = 0;
  private lastReadAt = 0;
  /** Chains whose desired state changed since the last write. After a read, every chain is compared instead. */
  private dirty = new Set<string>();
  private readonly totals: IptablesTableStats = {
    linesWritten: 0,
    restores: 0,
    failedRestores: 0,
    reads: 0,
    lastApplyMs: 0,
  };
  /** apply() calls run one at a time, in call order. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: IptablesTableOptions) {
    if (!(opts.table in KERNEL_CHAINS)) throw new Error(`bad iptables table "${opts.table}"`);
    this.table = opts.table;
    this.backend = opts.backend;
    this.runner = opts.runner ?? commandRunner(opts.netns);
    this.resyncIntervalMs = opts.resyncIntervalMs ?? IPTABLES_RESYNC_INTERVAL_MS;
    this.attempts = Math.max(1, opts.attempts ?? 5);
    this.retryDelayMs = opts.retryDelayMs ?? 10;
    this.lockWaitSeconds = opts.lockWaitSeconds ?? 10;
    this.chainPrefixes = opts.chainPrefixes ?? OUR_CHAIN_PREFIXES;
    this.hashPrefix = opts.hashPrefix ?? RULE_HASH_PREFIX;
    this.clock = opts.clock ?? Date.now;
  }

  isOurChain(name: string): boolean {
    return this.chainPrefixes.some((prefix) => name.startsWith(prefix));
  }

  /** The backend in use: as given, or as detected by the first apply. */
  get backendInUse(): IptablesBackend | undefined {
    return this.backend;
  }

  get stats(): Readonly<IptablesTableStats> {
    return { ...this.totals };
  }

  /**
   * Replaces the whole set of our chains (the next apply deletes ours that are not in it). Throws, changing nothing,
   * on a bad chain.
   */
  setChains(chains: Iterable<Chain>): void {
    const call = ++this.setChainsCalls;
    const changed = new Map<string, Chain>();
    let named = 0;
    for (const chain of chains) {
      const from = this.renderedFrom.get(chain.name);
      if (from?.call === call || changed.has(chain.name)) throw new Error(`chain ${chain.name} given twice`);
      if (from !== undefined) {
        from.call = call;
        named++;
        if (from.rules === chain.rules) continue;
      }
      this.assertOurs(chain.name);
      changed.set(chain.name, chain);
    }
    // Not every chain we hold was named again: the others go.
    if (named < this.renderedFrom.size) {
      for (const [name, from] of this.renderedFrom) if (from.call !== call) this.removeChain(name);
    }
    for (const chain of changed.values()) {
      const json = JSON.stringify(chain.rules);
      const from = this.renderedFrom.get(chain.name);
      if (from?.json !== json) this.storeChain(renderChain(chain));
      this.renderedFrom.set(chain.name, { rules: chain.rules, json, call });
    }
  }

  /** Adds or replaces one of our chains. */
  updateChain(chain: Chain): void {
    this.assertOurs(chain.name);
    this.storeChain(renderChain(chain));
    this.renderedFrom.set(chain.name, {
      rules: chain.rules,
      json: JSON.stringify(chain.rules),
      call: this.setChainsCalls,
    });
  }

  removeChain(name: string): void {
    this.renderedFrom.delete(name);
    if (this.chains.delete(name)) this.dirty.add(name);
  }

  /**
   * Sets the rules of ours at the top of `chainName`, a chain that is not ours (INPUT, FORWARD, ...); none removes
   * them. Rules of ours in other chains that are not ours are removed.
   */
  setInsertions(chainName: string, rules: readonly Rule[]): void {
    assertChainName(chainName);
    if (this.isOurChain(chainName)) throw new Error(`cannot insert into ${chainName}: it is one of our chains`);
    const previous = this.insertions.get(chainName);
    const rendered = renderChain({ name: chainName, rules });
    if (sameStrings(previous?.bodies ?? [], rendered.bodies)) return;
    if (rules.length === 0) this.insertions.delete(chainName);
    else this.insertions.set(chainName, rendered);
    this.dirty.add(chainName);
  }

  /** Forget what the kernel holds: the next apply reads it and repairs whatever differs. */
  markDirty(): void {
    this.kernel = undefined;
    this.kernelGeneration++;
  }

  /** Time until apply() will re-read the kernel by itself (0: at the next apply; Infinity: never by time). */
  msUntilResync(): number {
    if (this.kernel === undefined) return 0;
    if (this.resyncIntervalMs <= 0) return Number.POSITIVE_INFINITY;
    return Math.max(0, this.lastReadAt + this.resyncIntervalMs - this.clock());
  }

  /** Makes the kernel match: at most one iptables-restore per try, nothing when it already matches. */
  apply(): Promise<ApplyResult> {
    const result = this.queue.then(() => this.applyNow());
    this.queue = result.catch(() => {});
    return result;
  }

  private assertOurs(name: string): void {
    if (!this.isOurChain(name)) {
      throw new Error(
        `chain ${name} is not ours: the names of our chains start with ${this.chainPrefixes.join(' or ')}`,
      );
    }
  }

  private storeChain(chain: RenderedChain): void {
    const previous = this.chains.get(chain.name);
    // The same bodies in the same chain hash the same: keep the previous one, hashed already.
    if (previous === chain || (previous !== undefined && sameStrings(previous.bodies, chain.bodies))) return;
    this.chains.set(chain.name, chain);
    this.dirty.add(chain.name);
  }

  private planOptions(backend: IptablesBackend): PlanOptions {
    return {
      table: this.table,
      hashPrefix: this.hashPrefix,
      isOurChain: (name) => this.isOurChain(name),
      rewriteWholeChains: backend.rewriteWholeChains,
      deleteChainsInSecondTransaction: backend.deleteChainsInSecondTransaction,
    };
  }

  private async applyNow(): Promise<ApplyResult> {
    const started = performance.now();
    const result: ApplyResult = {
      linesWritten: 0,
      restores: 0,
      failedAttempts: 0,
      read: false,
      ms: 0,
      readMs: 0,
      planMs: 0,
      writeMs: 0,
    };
    if (this.msUntilResync() === 0) this.kernel = undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        this.backend ??= await detectBackend({ runner: this.runner });
        await this.tryWrite(this.backend, result);
        break;
      } catch (err) {
        // Whatever went wrong, what we know of the kernel is suspect.
        this.kernel = undefined;
        if (err instanceof RestoreFailure) this.totals.failedRestores++;
        if (attempt >= this.attempts) throw this.finalError(err, attempt);
        result.failedAttempts++;
        await sleep(this.retryDelayMs * 2 ** (attempt - 1));
      }
    }
    result.ms = performance.now() - started;
    this.totals.lastApplyMs = result.ms;
    return result;
  }

  /** One try: read the kernel if need be, plan, write. */
  private async tryWrite(backend: IptablesBackend, result: ApplyResult): Promise<void> {
    let kernel = this.kernel;
    let candidates: Set<string> | undefined = this.dirty;
    if (kernel === undefined) {
      const generation = this.kernelGeneration;
      const readStarted = performance.now();
      kernel = await this.readKernel(backend);
      result.readMs += performance.now() - readStarted;
      result.read = true;
      if (generation === this.kernelGeneration) this.kernel = kernel;
      // Compare every chain: anyone may have changed anything.
      candidates = undefined;
    }
    const planStarted = performance.now();
    const plan = startPlan(
      kernel,
      { chains: this.chains, insertions: this.insertions },
      this.planOptions(backend),
      candidates,
    );
    result.planMs += performance.now() - planStarted;
    // Changes made while the write runs are for the next apply.
    const planned = this.dirty;
    this.dirty = new Set();
    if (plan.empty) return;
    const writeStarted = performance.now();
    try {
      await this.restore(backend, plan);
    } catch (err) {
      for (const name of planned) this.dirty.add(name);
      throw err;
    } finally {
      result.writeMs += performance.now() - writeStarted;
    }
    for (const [name, chain] of plan.kernelAfter) {
      if (chain === undefined) kernel.chains.delete(name);
      else kernel.chains.set(name, chain);
    }
    result.restores++;
    result.linesWritten += plan.lineCount;
    this.totals.restores++;
    this.totals.linesWritten += plan.lineCount;
  }

  private async readKernel(backend: IptablesBackend): Promise<MutableKernelTable> {
    const args = ['-t', this.table];
    const saved = await this.runner(backend.saveCommand, args);
    this.totals.reads++;
    if (saved.code !== 0) {
      throw new Error(`${backend.saveCommand} ${args.join(' ')}: exit ${saved.code}: ${summarizeStderr(saved.stderr)}`);
    }
    this.lastReadAt = this.clock();
    return parseIptablesSave(saved.stdout, this.table, {
      hashPrefix: this.hashPrefix,
      isOurChain: (name) => this.isOurChain(name),
    });
  }

  /** Runs iptables-restore on the plan's input, made while iptables-restore reads it. */
  private async restore(backend: IptablesBackend, plan: PlannedWrite): Promise<void> {
    const args = ['--noflush', '--wait', String(this.lockWaitSeconds)];
    // Kept to quote the line iptables-restore names, should it fail.
    const written: string[] = [];
    const input = function* () {
      for (const chunk of plan.chunks()) {
        written.push(chunk);
        yield chunk;
      }
    };
    const result = await this.runner(backend.restoreCommand, args, input());
    if (result.code !== 0) throw new RestoreFailure(result, written.join(''));
  }

  private finalError(err: unknown, attempts: number): Error {
    if (!(err instanceof RestoreFailure)) return err as Error;
    const lineNumber = failedRestoreLine(err.result.stderr);
    const line = lineNumber === undefined ? undefined : err.input.split('\n')[lineNumber - 1];
    return new IptablesRestoreError(
      this.backend!.restoreCommand,
      this.table,
      attempts,
      err.result.code,
      err.result.stderr,
      lineNumber,
      line,
    );
  }
}
