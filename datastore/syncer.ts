// The syncer: one consistent snapshot of the datastore, then its changes in order, for the life of a process.
// When the watch ends (etcd restarted, unreachable, or the revision compacted) it relists and sends the
// difference between what it had delivered and what the store now holds, so a consumer never loses an
// update and never sees one twice. Modelled on Calico's syncer (snapshot, then in-sync, then updates).
import type { Backend, Watch, WatchEvent, WatchEventType } from './backend';
import { type KindInfo, kindId, resolveKind } from './kinds';
import type { Resource } from './resource';

export type SyncStatus = 'wait-for-datastore' | 'resync' | 'in-sync';

export interface SyncerUpdate {
  type: WatchEventType;
  /** The new state; for DELETED, the last state the consumer was given. */
  object: Resource;
}

export interface SyncerCallbacks {
  /** Updates in datastore order. The first call after start is the snapshot (all ADDED). */
  onUpdates(updates: SyncerUpdate[]): void;
  /** `in-sync` after the snapshot and after each relist; the error says why a resync or wait began. */
  onStatus?(status: SyncStatus, err?: Error): void;
}

export interface SyncerOptions {
  /** Only these kinds (all when absent). */
  kinds?: readonly KindInfo[];
  /** Backoff between relist attempts while the datastore is unreachable. */
  retryInitialMs?: number;
  retryMaxMs?: number;
}

function cacheKey(r: Resource): string {
  return `${r.apiVersion}/${r.kind}/${r.metadata.namespace ?? ''}/${r.metadata.name}`;
}

export class Syncer {
  private readonly delivered = new Map<string, Resource>();
  private readonly kindIds: Set<string> | undefined;
  private watch: Watch | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs: number;
  private running = false;
  /** Bumped on every relist, so a late callback of an ended watch is ignored. */
  private generation = 0;

  constructor(
    private readonly backend: Backend,
    private readonly callbacks: SyncerCallbacks,
    private readonly options: SyncerOptions = {},
  ) {
    this.kindIds = options.kinds ? new Set(options.kinds.map(kindId)) : undefined;
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

  private wanted(r: Resource): boolean {
    return this.kindIds === undefined || this.kindIds.has(kindId(resolveKind(r)));
  }

  private async relist(): Promise<void> {
    const generation = ++this.generation;
    let listed: { items: Resource[]; revision: string };
    try {
      const single = this.options.kinds?.length === 1 ? this.options.kinds[0] : undefined;
      listed = await this.backend.list(single);
    } catch (err) {
      if (generation !== this.generation || !this.running) return;
      this.callbacks.onStatus?.('wait-for-datastore', err as Error);
      this.scheduleRelist();
      return;
    }
    if (generation !== this.generation || !this.running) return;
    this.retryMs = this.options.retryInitialMs ?? 100;
    this.callbacks.onUpdates(this.diffAgainstDelivered(listed.items.filter((r) => this.wanted(r))));
    this.callbacks.onStatus?.('in-sync');
    this.watch = this.backend.watch(
      { afterRevision: listed.revision, ...(this.options.kinds?.length === 1 ? { kind: this.options.kinds[0] } : {}) },
      {
        onEvents: (events) => {
          if (generation === this.generation) this.deliverEvents(events);
        },
        onError: (err) => {
          if (generation !== this.generation || !this.running) return;
          this.watch = undefined;
          this.callbacks.onStatus?.('resync', err);
          this.scheduleRelist();
        },
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

  /** What changed between the objects delivered so far and a fresh list; updates `delivered` to match. */
  private diffAgainstDelivered(items: Resource[]): SyncerUpdate[] {
    const updates: SyncerUpdate[] = [];
    const seen = new Set<string>();
    for (const item of items) {
      const key = cacheKey(item);
      seen.add(key);
      const before = this.delivered.get(key);
      if (before?.metadata.resourceVersion === item.metadata.resourceVersion) continue;
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

  private deliverEvents(events: WatchEvent[]): void {
    const updates: SyncerUpdate[] = [];
    for (const event of events) {
      if (!this.wanted(event.object)) continue;
      const key = cacheKey(event.object);
      const before = this.delivered.get(key);
      if (event.type === 'DELETED') {
        if (!before) continue;
        this.delivered.delete(key);
        updates.push({ type: 'DELETED', object: before });
      } else {
        if (before?.metadata.resourceVersion === event.object.metadata.resourceVersion) continue;
        this.delivered.set(key, event.object);
        updates.push({ type: before ? 'MODIFIED' : 'ADDED', object: event.object });
      }
    }
    if (updates.length > 0) this.callbacks.onUpdates(updates);
  }
}
