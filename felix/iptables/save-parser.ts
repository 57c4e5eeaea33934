// Reading `iptables-save -t <table>`: the chains of the table and, for each rule, only our hash (from its `cali:`
// comment) or the mark of a foreign rule. Rules are never parsed further: what iptables-save prints need not match
// what was written (it reorders options, adds `-m tcp`), the hash is what identifies a rule of ours.

/** A rule of the kernel that carries no hash of ours. */
export const FOREIGN_RULE = null;

export interface KernelChain {
  /** Per rule, in kernel order: our hash, or FOREIGN_RULE. */
  readonly hashes: readonly (string | null)[];
  /**
   * For chains that are not ours: the rule specification (the `-A` line less `-A <chain> `) of each of our rules, by
   * index, so they can be deleted by value (`-D <chain> <spec>`) in a chain others write to, where rule numbers are
   * not to be trusted.
   */
  readonly ourRuleSpecs: ReadonlyMap<number, string>;
}

export interface KernelTable {
  readonly chains: ReadonlyMap<string, KernelChain>;
  /**
   * Chains of ours that rules of others jump or go to (from chains that are not ours): deleting them would fail, so
   * they are only emptied while the reference lasts.
   */
  readonly foreignReferences: ReadonlySet<string>;
}

/** A KernelTable the table keeps up to date with its own writes. */
export interface MutableKernelTable extends KernelTable {
  readonly chains: Map<string, KernelChain>;
}

export interface SaveParseOptions {
  /** The prefix of the hash in our comments, `cali:`. */
  hashPrefix: string;
  isOurChain: (name: string) => boolean;
}

/** What iptables-nft-save prints (exit status 0) for a table holding nftables features it cannot show. */
const NFT_INCOMPATIBLE = /^# Table .* is incompatible, use 'nft' tool\./;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The chain or target a saved rule jumps or goes to: iptables-save prints it last, after any comment. */
function ruleTarget(line: string): string | undefined {
  const at = Math.max(line.lastIndexOf(' -j '), line.lastIndexOf(' -g '));
  return at === -1 ? undefined : line.slice(at + 4, indexOfSpace(line, at + 4));
}

/** The first hash comment of a rule: Calico puts ours before any other comment. */
function hashCommentPattern(hashPrefix: string): RegExp {
  return new RegExp(`--comment "?${escapeRegExp(hashPrefix)}([A-Za-z0-9_-]+)"?`);
}

interface ParsedChain {
  hashes: (string | null)[];
  ourRuleSpecs: Map<number, string>;
}

/** The chains of `table` in iptables-save output (other tables in the text are skipped). */
export function parseIptablesSave(text: string, table: string, opts: SaveParseOptions): MutableKernelTable {
  const hashComment = hashCommentPattern(opts.hashPrefix);
  const chains = new Map<string, ParsedChain>();
  const foreignReferences = new Set<string>();
  const chainNamed = (name: string): ParsedChain => {
    let chain = chains.get(name);
    if (chain === undefined) {
      chain = { hashes: [], ourRuleSpecs: new Map() };
      chains.set(name, chain);
    }
    return chain;
  };
  let inTable = false;
  for (const line of text.split('\n')) {
    if (NFT_INCOMPATIBLE.test(line)) {
      throw new Error(`iptables-save: table ${table} holds nftables rules iptables cannot show: ${line}`);
    }
    if (line.startsWith('*')) {
      inTable = line.slice(1).trim() === table;
      continue;
    }
    if (!inTable) continue;
    if (line.startsWith(':')) {
      // `:name POLICY [packets:bytes]` declares a chain, possibly empty.
      chainNamed(line.slice(1, indexOfSpace(line, 1)));
    } else if (line.startsWith('-A ')) {
      const nameEnd = indexOfSpace(line, 3);
      const name = line.slice(3, nameEnd);
      const chain = chainNamed(name);
      const hash = hashComment.exec(line)?.[1] ?? FOREIGN_RULE;
      if (!opts.isOurChain(name)) {
        if (hash !== FOREIGN_RULE) {
          chain.ourRuleSpecs.set(chain.hashes.length, line.slice(nameEnd + 1));
        } else {
          const target = ruleTarget(line);
          if (target !== undefined && opts.isOurChain(target)) foreignReferences.add(target);
        }
      }
      chain.hashes.push(hash);
    }
  }
  return { chains, foreignReferences };
}

function indexOfSpace(line: string, from: number): number {
  const space = line.indexOf(' ', from);
  return space === -1 ? line.length : space;
}
