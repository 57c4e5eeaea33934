// The IPAM component: Calico-compatible pools, node-affine blocks and handles on etcd, allocation in batches
// with one compare-and-swap per block, pool selection, consistency checks and garbage collection.
export {
  type Assigned,
  type AssignRequest,
  DEFAULT_IPAM_CONFIG,
  IpamAllocator,
  type IpamConfig,
  type Outcome,
} from './allocator';
export * from './block';
export {
  type Allocation,
  allocationsIn,
  checkIpam,
  type IpamCheckReport,
  type IpamSnapshot,
  readIpamSnapshot,
  readUsage,
  type UsageSnapshot,
} from './check';
export { IpamError, type IpamErrorCode, isIpamError } from './errors';
export { DEFAULT_LEAK_GRACE_PERIOD_MS, type GcResult, IpamGarbageCollector } from './gc';
export * from './ipv4';
export * from './keys';
export {
  type BlockUsage,
  DatastoreIpamOperations,
  type IpamOperations,
  ipamUtilization,
  type PoolUsage,
  type Utilization,
  UtilizationSchema,
} from './operations';
export {
  type AffinityRelease,
  allocatedInCidr,
  checkPoolDeletion,
  ipPoolDeletionHooks,
  planPoolAffinityRelease,
  type ReleasedAffinities,
  releasePoolAffinities,
} from './pool-guard';
export * from './pools';
export { type AddressRequest, IPAM_CONFIG_NAME, IpamService, ipamConfigOf, tunnelAddressRequest } from './service';
