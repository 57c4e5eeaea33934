// The syncer: one consistent snapshot of the datastore, then its changes in order, for the life of a process.
// When the watch ends (etcd restarted, unreachable, or the revision compacted) it relists and sends the
// difference between what it had delivered and what the store now holds, so a consumer never loses an
// update and never sees one twice. Modelled on Calico's syncer (snapshot, then in-sync, then updates).
// The same machinery serves resources (Syncer) and raw keys under a prefix such as IPAM's (KvSyncer).
import type { Backend, Watch, WatchEvent, WatchEventType } from './backend';
import type { KindInfo } from './kinds';
import type { KvPair } from './kv';
import type { Resource } from './resource';
import { listKinds, watchKinds } from './several-kinds';

export type SyncStatus = 'wait-for-datastore' | 'resync' | 'in-sync';

export interface SyncUpdate<T> {
  type: WatchEventType;
  /** The new state; for DELETED, the last state the consumer was given. */
  object: T;
}

export type SyncerUpdate = SyncUpdate<Resource>;

export interface SyncCallbacks<T> {
  /**
   * Updates in datastore order (for a Syncer of several kinds: each kind's in order). The first call after start
   * is the snapshot (all ADDED).
   */
  onUpdates(updates: SyncUpdate<T>[]): void;
  /** `in-sync` after the snapshot and after each relist; the error says why a resync or wait began. */
  onStatus?(status: SyncStatus, err?: Error): void;
}

export type SyncerCallbacks = SyncCallbacks<Resource>;

export interface SyncerOptions {
  /** Only these kinds (all when absent). */
  kinds?: readonly KindInfo[];
  /** Backoff between relist attempts while the datastore is unreachable. */
  retryInitialMs?: number;
  retryMaxMs?: number;
}

/** Where a syncer reads: a list at one revision, a watch from it, and how to tell items apart. */
interface SyncSource<T> {
  list(): Promise<{ items: T[]; revision: string }>;
  watch(
    afterRevision: string,
    onEvents: (events: { type: 'PUT' | 'DELETE'; item: T }[]) => void,
    onError: (err: Error) => void,
  ): Watch;
  key(item: T): string;
  version(item: T): string;
}

class SyncCore<T> {
  private readonly delivered = new Map<string, T>();
  private watch: Watch | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs: number;
  private running = false;
  /** Bumped on every relist, so a late callback of an ended watch is ignored. */
  private generation = 0;

  constructor(
    private readonly source: SyncSource<T>,
    private readonly callbacks: SyncCallbacks<T>,
    private readonly options: Pick<SyncerOptions, 'retryInitialMs' | 'retryMaxMs'>,
  ) {
    this.retryMs = options.retryInitialMs ?? 100;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.callbacks.onStatus?.('wait-for-datastore');
    void this.relist();
  }

  stop(): void {
    this.running = false;
    this.generation++;
    this.watch?.close();
    this.watch = undefined;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private async relist(): Promise<void> {
    const generation = ++this.generation;
    let listed: { items: T[]; revision: string };
    try {
      listed = await this.source.list();
    } catch (err) {
      if (generation !== this.generation || !this.running) return;
      this.callbacks.onStatus?.('wait-for-datastore', err as Error);
      this.scheduleRelist();
      return;
    }
    if (generation !== this.generation || !this.running) return;
    this.retryMs = this.options.retryInitialMs ?? 100;
    this.callbacks.onUpdates(this.diffAgainstDelivered(listed.items));
    this.callbacks.onStatus?.('in-sync');
    this.watch = this.source.watch(
      listed.revision,
      (events) => {
        if (generation === this.generation) this.deliverEvents(events);
      },
      (err) => {
        if (generation !== this.generation || !this.running) return;
        this.watch = undefined;
        this.callbacks.onStatus?.('resync', err);
        this.scheduleRelist();
      },
    );
  }

  private scheduleRelist(): void {
    const delay = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, this.options.retryMaxMs ?? 5000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.running) void this.relist();
    }, delay);
  }

  /** What changed between the items delivered so far and a fresh list; updates `delivered` to match. */
  private diffAgainstDelivered(items: T[]): SyncUpdate<T>[] {
    const updates: SyncUpdate<T>[] = [];
    const seen = new Set<string>();
    for (const item of items) {
      const key = this.source.key(item);
      seen.add(key);
      const before = this.delivered.get(key);
      if (before !== undefined && this.source.version(before) === this.source.version(item)) continue;
      updates.push({ type: before ? 'MODIFIED' : 'ADDED', object: item });
      this.delivered.set(key, item);
    }
    for (const [key, before] of this.delivered) {
      if (seen.has(key)) continue;
      updates.push({ type: 'DELETED', object: before });
      this.delivered.delete(key);
    }
    return updates;
  }

  private deliverEvents(events: { type: 'PUT' | 'DELETE'; item: T }[]): void {
    const updates: SyncUpdate<T>[] = [];
    for (const { type, item } of events) {
      const key = this.source.key(item);
      const before = this.delivered.get(key);
      if (type === 'DELETE') {
        if (!before) continue;
        this.delivered.delete(key);
        updates.push({ type: 'DELETED', object: before });
      } else {
        if (before !== undefined && this.source.version(before) === this.source.version(item)) continue;
        this.delivered.set(key, item);
        updates.push({ type: before ? 'MODIFIED' : 'ADDED', object: item });
      }
    }
    if (updates.length > 0) this.callbacks.onUpdates(updates);
  }
}

/** Resources: all kinds, or the kinds asked for. */
export class Syncer extends SyncCore<Resource> {
  constructor(backend: Backend, callbacks: SyncerCallbacks, options: SyncerOptions = {}) {
    const kinds = options.kinds;
    super(
      {
        list: () => (kinds && kinds.length > 0 ? listKinds(backend, kinds) : backend.list()),
        watch: (afterRevision, onEvents, onError) => {
          const handlers = {
            onEvents: (events: WatchEvent[]) =>
              onEvents(events.map((e) => ({ type: e.type === 'DELETED' ? 'DELETE' : 'PUT', item: e.object }))),
            onError,
          };
          // A watch per kind, so that a process is not sent what it does not follow (every node's status reports).
          return kinds && kinds.length > 0
            ? watchKinds(backend, kinds, afterRevision, handlers)
            : backend.watch({ afterRevision }, handlers);
        },
        key: (r) => `${r.apiVersion}/${r.kind}/${r.metadata.namespace ?? ''}/${r.metadata.name}`,
        version: (r) => r.metadata.resourceVersion ?? '',
      },
      callbacks,
      options,
    );
  }
}

/** Raw keys under a prefix (e.g. IPAM's /calico/ipam/v2/). */
export class KvSyncer extends SyncCore<KvPair> {
  constructor(
    backend: Backend,
    prefix: string,
    callbacks: SyncCallbacks<KvPair>,
    options: Pick<SyncerOptions, 'retryInitialMs' | 'retryMaxMs'> = {},
  ) {
    super(
      {
        list: async () => {
          const { pairs, revision } = await backend.kvList(prefix);
          return { items: pairs, revision };
        },
        watch: (afterRevision, onEvents, onError) =>
          backend.kvWatch(prefix, afterRevision, {
            onEvents: (events) => onEvents(events.map((e) => ({ type: e.type, item: e.pair }))),
            onError,
          }),
        key: (p) => p.key,
        version: (p) => p.modRevision,
      },
      callbacks,
      options,
    );
  }
}
