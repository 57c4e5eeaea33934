// Felix's iptables engine: chains as data, Calico's rule hashes, diffed writes through iptables-restore. The rules
// themselves (dispatch, endpoint and policy chains) are rendered elsewhere.

export { type CommandResult, type CommandRunner, commandRunner } from '../command';
export {
  type BackendMode,
  chooseBackendMode,
  countSavedRules,
  type DetectOptions,
  detectBackend,
  type IptablesBackend,
  iptablesBackend,
  parseIptablesVersion,
} from './backend';
export { HASH_LENGTH, hashRuleBodies, RenderedChain, renderChain, ruleHashes } from './hash';
export {
  type DesiredTable,
  type PlannedWrite,
  type PlanOptions,
  planRestore,
  type RestorePlan,
  startPlan,
} from './plan';
export {
  type Action,
  Actions,
  type Chain,
  escapeComment,
  MAX_CHAIN_NAME_LENGTH,
  type Rule,
  renderAction,
  renderHashComment,
  renderRuleBody,
  renderRuleSpec,
} from './rule';
export {
  FOREIGN_RULE,
  type KernelChain,
  type KernelTable,
  type MutableKernelTable,
  parseIptablesSave,
  type SaveParseOptions,
} from './save-parser';
export {
  type ApplyResult,
  failedRestoreLine,
  IPTABLES_RESYNC_INTERVAL_MS,
  IptablesRestoreError,
  IptablesTable,
  type IptablesTableOptions,
  type IptablesTableStats,
  KERNEL_CHAINS,
  OUR_CHAIN_PREFIXES,
  RULE_HASH_PREFIX,
  type TableName,
} from './table';
