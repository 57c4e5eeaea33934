// Raw keys next to the resources: what IPAM stores in Calico's etcd layout (/calico/ipam/v2/...), where
// values are Calico's own JSON and several keys change in one transaction (a block and its handles together).

export interface KvPair {
  key: string;
  value: string;
  /** The store revision of the key's last change; what a guard compares against. */
  modRevision: string;
}

/** A condition of a commit: the key still has this mod revision, or (modRevision undefined) does not exist. */
export interface KvGuard {
  key: string;
  modRevision: string | undefined;
}

export type KvWrite = { key: string; value: string } | { key: string; delete: true };

export interface KvEvent {
  type: 'PUT' | 'DELETE';
  /** For DELETE: the last value when the store still has it, else an empty value; modRevision is the deletion's. */
  pair: KvPair;
}

export interface KvWatchHandlers {
  /** Changes in revision order; one call per store transaction. */
  onEvents(events: KvEvent[]): void;
  /** The watch has ended (compacted or unreachable), as for resource watches: list again and watch again. */
  onError(err: Error): void;
}

export interface KvStore {
  kvGet(key: string): Promise<KvPair | undefined>;
  /** Every key under prefix, in key order, read at one revision. */
  kvList(prefix: string): Promise<{ pairs: KvPair[]; revision: string }>;
  /**
   * Applies every write in one transaction if every guard holds. Returns the new revision, or undefined
   * when a guard failed (nothing was written). Unreachable stores fail with a DatastoreError Unavailable.
   */
  kvCommit(guards: readonly KvGuard[], writes: readonly KvWrite[]): Promise<string | undefined>;
  /** Changes under prefix after afterRevision (exclusive). */
  kvWatch(prefix: string, afterRevision: string, handlers: KvWatchHandlers): { close(): void };
}

export function isKvDelete(w: KvWrite): w is { key: string; delete: true } {
  return 'delete' in w;
}
