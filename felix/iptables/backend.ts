// Which iptables to drive: iptables-legacy (the xtables kernel tables) or iptables-nft (the same rules in nftables).
// They are separate rule sets and both apply to packets, so felix must write where the node's other tools (kubelet,
// kube-proxy) write. Detected as Calico's environment.DetectBackend does, with nft as the default: Kubernetes' hint
// chains decide first, then whichever backend holds more rules.
import * as fs from 'node:fs';
import { type CommandRunner, commandRunner } from '../command';

export type BackendMode = 'legacy' | 'nft';

export interface IptablesBackend {
  readonly mode: BackendMode;
  /** e.g. iptables-nft-save. */
  readonly saveCommand: string;
  readonly restoreCommand: string;
  /**
   * Changed chains are flushed and refilled rather than edited: iptables-nft-restore before 1.8.3 sets the rule
   * index of only the first `-R` of a transaction (netfilter bug 1348).
   */
  readonly rewriteWholeChains: boolean;
  /**
   * Chains are deleted in a transaction of their own: iptables-nft-restore refuses to delete a chain that was
   * referenced when the transaction started, even if the rules referencing it were deleted before.
   */
  readonly deleteChainsInSecondTransaction: boolean;
}

/** The first iptables-nft without netfilter bug 1348. */
const NFT_REPLACE_FIXED: readonly number[] = [1, 8, 3];

/** `iptables v1.8.9 (nf_tables)` → [1, 8, 9]. */
export function parseIptablesVersion(text: string): number[] | undefined {
  const match = /v(\d+)\.(\d+)\.(\d+)/.exec(text);
  return match === null ? undefined : match.slice(1).map(Number);
}

function versionBefore(version: readonly number[], than: readonly number[]): boolean {
  for (let i = 0; i < than.length; i++) {
    if (version[i] !== than[i]) return version[i] < than[i];
  }
  return false;
}

/** `version`: of iptables-nft, from parseIptablesVersion; unknown is taken as old. */
export function iptablesBackend(mode: BackendMode, version?: readonly number[]): IptablesBackend {
  const nft = mode === 'nft';
  return {
    mode,
    saveCommand: `iptables-${mode}-save`,
    restoreCommand: `iptables-${mode}-restore`,
    rewriteWholeChains: nft && (version === undefined || versionBefore(version, NFT_REPLACE_FIXED)),
    deleteChainsInSecondTransaction: nft,
  };
}

/** Rules in iptables-save output: the lines starting with `-`. */
export function countSavedRules(text: string): number {
  let count = 0;
  for (const line of text.split('\n')) if (line.startsWith('-')) count++;
  return count;
}

/** Chains kubelet creates in the backend it uses. */
function hasKubernetesChains(text: string): boolean {
  return text.includes('KUBE-IPTABLES-HINT') || text.includes('KUBE-KUBELET-CANARY');
}

/** The choice from the iptables-save and ip6tables-save output (concatenated) of each backend. */
export function chooseBackendMode(saved: { legacy: string; nft: string }): BackendMode {
  if (hasKubernetesChains(saved.nft)) return 'nft';
  if (hasKubernetesChains(saved.legacy)) return 'legacy';
  // Calico breaks a tie towards legacy; we default to nft, what current distributions and kube-proxy use.
  return countSavedRules(saved.legacy) > countSavedRules(saved.nft) ? 'legacy' : 'nft';
}

export interface DetectOptions {
  /** Look in this named network namespace (tests). */
  netns?: string;
  runner?: CommandRunner;
  /**
   * Whether the legacy xtables module of an IP version is loaded. When it is not, nothing can be in its tables, and
   * reading them would load it (putting legacy hooks on a node meant to run nftables only). Default: whether
   * /proc/net/ip_tables_names (ip6_tables_names) exists.
   */
  legacyLoaded?: (ipVersion: 4 | 6) => boolean;
}

function legacyModuleLoaded(ipVersion: 4 | 6): boolean {
  return fs.existsSync(ipVersion === 4 ? '/proc/net/ip_tables_names' : '/proc/net/ip6_tables_names');
}

export async function detectBackend(opts: DetectOptions = {}): Promise<IptablesBackend> {
  const runner = opts.runner ?? commandRunner(opts.netns);
  const legacyLoaded = opts.legacyLoaded ?? legacyModuleLoaded;
  // A backend whose tools are missing or fail holds nothing we can see.
  const save = async (command: string) => {
    const result = await runner(command, []);
    return result.code === 0 ? result.stdout : '';
  };
  const [nft4, nft6, legacy4, legacy6, nftVersion] = await Promise.all([
    save('iptables-nft-save'),
    save('ip6tables-nft-save'),
    legacyLoaded(4) ? save('iptables-legacy-save') : '',
    legacyLoaded(6) ? save('ip6tables-legacy-save') : '',
    runner('iptables-nft', ['--version']),
  ]);
  const mode = chooseBackendMode({ legacy: legacy4 + legacy6, nft: nft4 + nft6 });
  return iptablesBackend(mode, parseIptablesVersion(nftVersion.stdout));
}
