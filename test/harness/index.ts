// The integration test harness: commands and processes, real etcd, network-namespace topologies.
export { EtcdHandle, type EtcdOptions, startEtcd } from './etcd';
export {
  CommandError,
  type ExitStatus,
  ProcessHandle,
  RUN_PREFIX_PATTERN,
  type RunOptions,
  type RunResult,
  run,
  runIn,
  type SpawnOptions,
  spawnProcess,
} from './exec';
export {
  cleanupStale,
  type LinkSpec,
  listNamespaces,
  type NodeOptions,
  type RouterOptions,
  Topology,
  withTopology,
} from './netns';
