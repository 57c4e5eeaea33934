// Felix's IPv4 ipsets: the manager that keeps the kernel's `cali40…` sets as wanted, in one `ipset restore`
// transaction per apply, and the pure pieces it is made of. Set names come from policy's ipSetNameForId.
export { type IpsetBackend, IpsetError } from './backend';
export {
  canonicalMember,
  DEFAULT_MAX_ELEMENTS,
  IP_SET_TYPES,
  IPSET_RESYNC_INTERVAL_MS,
  IPV4_FAMILY,
  IPV4_TEMP_IP_SET_NAME_PREFIX,
  type IpSetMetadata,
  type IpSetSpec,
  type IpSetType,
  isOurIpSetName,
  tempIpSetName,
  type WantedIpSetMetadata,
} from './ipset';
export { IpsetCommandBackend } from './ipset-command';
export {
  type IpSetApplyResult,
  type IpSetDeletionResult,
  IpSetManager,
  type IpSetManagerOptions,
} from './manager';
export { MemberDelta } from './member-delta';
export {
  type KernelIpSet,
  planUpdates,
  type SetWrite,
  type TrackedIpSet,
  type UpdatePlan,
} from './plan';
export {
  formatCreate,
  parseIpsetNames,
  parseIpsetSave,
  parseRestoreError,
  type RestoreFailure,
  type SavedIpSet,
} from './save-format';
