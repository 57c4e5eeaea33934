// The datastore component: the resource model, storage backends (etcd v3, in-memory), the validating
// ResourceClient and the Syncer. Other components see only this surface.
import type { Backend } from './backend';
import { DatastoreError } from './errors';
import { EtcdBackend } from './etcd';

export type {
  Backend,
  ListPage,
  ListResult,
  ResourceStore,
  Watch,
  WatchEvent,
  WatchEventType,
  WatchHandlers,
  WatchOptions,
} from './backend';
export {
  DocumentRejected,
  type ListCursor,
  type ListOptions,
  type ListPageResult,
  listMatcher,
  type PlannedWrite,
  ResourceClient,
  type ResourceClientHooks,
  type WriteMode,
} from './client';
export { DatastoreError, type DatastoreErrorCode, isDatastoreError } from './errors';
export { EtcdBackend, type EtcdBackendOptions } from './etcd';
export { etcdKey, kindPrefix, parseEtcdKey, prefixRangeEnd, RESOURCES_PREFIX } from './keys';
export * from './kinds';
export {
  isKvDelete,
  type KvEvent,
  type KvGuard,
  type KvPair,
  type KvStore,
  type KvWatchHandlers,
  type KvWrite,
} from './kv';
export { MemoryBackend } from './memory';
export * from './model';
export type { ObjectMeta, Resource, ResourceKey } from './resource';
export { listKinds, watchKinds } from './several-kinds';
export { decodeStored } from './stored';
export {
  KvSyncer,
  type SyncCallbacks,
  Syncer,
  type SyncerCallbacks,
  type SyncerOptions,
  type SyncerUpdate,
  type SyncStatus,
  type SyncUpdate,
} from './syncer';

export type DatastoreType = 'etcdv3' | 'kubernetes';

export interface DatastoreConfig {
  type: DatastoreType;
  etcdEndpoints?: string[];
  kubeconfig?: string;
  requestTimeoutMs?: number;
}

/**
 * The configuration the command-line tools' datastore flags give (`--datastore-type`, `--etcd-endpoints`), with the
 * environment (`DATASTORE_TYPE`, `ETCD_ENDPOINTS`) and then etcd on loopback as fallbacks.
 */
export function datastoreConfigFromFlags(
  type: string | undefined,
  endpoints: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): DatastoreConfig {
  const chosen = type ?? env.DATASTORE_TYPE ?? 'etcdv3';
  if (chosen !== 'etcdv3' && chosen !== 'kubernetes') {
    throw new DatastoreError('Invalid', `--datastore-type: must be etcdv3 or kubernetes, got "${chosen}"`);
  }
  const etcdEndpoints = (endpoints ?? env.ETCD_ENDPOINTS ?? 'http://127.0.0.1:2379')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  return { type: chosen, etcdEndpoints };
}

/** Opens the backend a configuration names (CONTRACT §3: --datastore-type, --etcd-endpoints). */
export function openBackend(config: DatastoreConfig): Backend {
  if (config.type === 'kubernetes') {
    throw new DatastoreError('Invalid', 'datastore type "kubernetes" is not supported yet: use etcdv3');
  }
  const endpoints = config.etcdEndpoints ?? [];
  if (endpoints.length === 0) {
    throw new DatastoreError('Invalid', 'no etcd endpoints: set --etcd-endpoints or ETCD_ENDPOINTS');
  }
  return new EtcdBackend(endpoints, config.requestTimeoutMs ? { requestTimeoutMs: config.requestTimeoutMs } : {});
}
