// An in-memory Backend with etcd's semantics (one revision counter, compare-and-swap on the key's mod
// revision, ordered watches from a revision, compaction), for unit tests that need no etcd.
import type { Backend, ListResult, Watch, WatchEvent, WatchHandlers, WatchOptions } from './backend';
import { alreadyExists, conflict, DatastoreError, notFound, unavailable } from './errors';
import { etcdKey, kindPrefix, RESOURCES_PREFIX } from './keys';
import { type KindInfo, resolveKind } from './kinds';
import { isKvDelete, type KvGuard, type KvPair, type KvWrite } from './kv';
import type { Resource } from './resource';
import { decodeStored, encodeStored } from './stored';

interface StoredValue {
  value: string;
  modRevision: number;
}

interface HistoryEntry {
  key: string;
  event: WatchEvent;
}

interface MemoryWatch {
  prefix: string;
  handlers: WatchHandlers;
  closed: boolean;
}

export class MemoryBackend implements Backend {
  readonly description = 'in-memory datastore';
  private readonly data = new Map<string, StoredValue>();
  private readonly history: HistoryEntry[] = [];
  private revision = 1;
  private compactedRevision = 0;
  private watches: MemoryWatch[] = [];
  private down = false;

  async get(kind: KindInfo, name: string, namespace?: string): Promise<Resource> {
    this.checkUp();
    const key = etcdKey(kind, name, namespace);
    const stored = this.data.get(key);
    if (!stored) throw notFound(kind, name, namespace);
    return decodeStored(stored.value, String(stored.modRevision));
  }

  async list(kind?: KindInfo, namespace?: string): Promise<ListResult> {
    this.checkUp();
    const prefix = kind ? kindPrefix(kind, namespace) : RESOURCES_PREFIX;
    const items = [...this.data.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([, v]) => decodeStored(v.value, String(v.modRevision)));
    return { items, revision: String(this.revision) };
  }

  async create(r: Resource): Promise<Resource> {
    const kind = resolveKind(r);
    const key = etcdKey(kind, r.metadata.name, r.metadata.namespace);
    this.checkUp();
    if (this.data.has(key)) throw alreadyExists(kind, r.metadata.name, r.metadata.namespace);
    return this.put(key, r, 'ADDED');
  }

  async update(r: Resource): Promise<Resource> {
    const kind = resolveKind(r);
    const key = etcdKey(kind, r.metadata.name, r.metadata.namespace);
    this.checkUp();
    const stored = this.data.get(key);
    if (!stored) throw notFound(kind, r.metadata.name, r.metadata.namespace);
    if (r.metadata.resourceVersion && r.metadata.resourceVersion !== String(stored.modRevision)) {
      throw conflict(kind, r.metadata.name, r.metadata.namespace, r.metadata.resourceVersion);
    }
    return this.put(key, r, 'MODIFIED');
  }

  async delete(kind: KindInfo, name: string, namespace?: string, resourceVersion?: string): Promise<Resource> {
    this.checkUp();
    const key = etcdKey(kind, name, namespace);
    const stored = this.data.get(key);
    if (!stored) throw notFound(kind, name, namespace);
    if (resourceVersion && resourceVersion !== String(stored.modRevision)) {
      throw conflict(kind, name, namespace, resourceVersion);
    }
    this.data.delete(key);
    this.revision++;
    const last = decodeStored(stored.value, String(stored.modRevision));
    this.record(key, { type: 'DELETED', object: last, revision: String(this.revision) });
    return last;
  }

  async kvGet(key: string): Promise<KvPair | undefined> {
    this.checkUp();
    const stored = this.data.get(key);
    return stored ? { key, value: stored.value, modRevision: String(stored.modRevision) } : undefined;
  }

  async kvList(prefix: string): Promise<{ pairs: KvPair[]; revision: string }> {
    this.checkUp();
    const pairs = [...this.data.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, v]) => ({ key, value: v.value, modRevision: String(v.modRevision) }));
    return { pairs, revision: String(this.revision) };
  }

  /** Raw keys are outside the resource prefix, so no resource watch sees them. */
  async kvCommit(guards: readonly KvGuard[], writes: readonly KvWrite[]): Promise<string | undefined> {
    this.checkUp();
    for (const g of guards) {
      const stored = this.data.get(g.key);
      const actual = stored ? String(stored.modRevision) : undefined;
      if (actual !== g.modRevision) return undefined;
    }
    this.revision++;
    for (const w of writes) {
      if (isKvDelete(w)) this.data.delete(w.key);
      else this.data.set(w.key, { value: w.value, modRevision: this.revision });
    }
    return String(this.revision);
  }

  watch(options: WatchOptions, handlers: WatchHandlers): Watch {
    const prefix = options.kind ? kindPrefix(options.kind) : RESOURCES_PREFIX;
    const watch: MemoryWatch = { prefix, handlers, closed: false };
    const after = Number(options.afterRevision);
    queueMicrotask(() => {
      if (watch.closed) return;
      if (this.down) return handlers.onError(unavailable(this.description));
      if (after + 1 <= this.compactedRevision) {
        return handlers.onError(
          new DatastoreError('Compacted', `revision ${after + 1} has been compacted (at ${this.compactedRevision})`),
        );
      }
      const backlog = this.history.filter((h) => Number(h.event.revision) > after && h.key.startsWith(prefix));
      for (const h of backlog) handlers.onEvents([h.event]);
      this.watches.push(watch);
    });
    return {
      close: () => {
        watch.closed = true;
        this.watches = this.watches.filter((w) => w !== watch);
      },
    };
  }

  async close(): Promise<void> {
    for (const w of this.watches) w.closed = true;
    this.watches = [];
  }

  /** Drops the history up to the current revision: watches from older revisions then fail with Compacted. */
  compact(): void {
    this.compactedRevision = this.revision;
    this.history.length = 0;
  }

  /** Ends every open watch as a dropped connection would, while calls keep working. */
  breakWatches(): void {
    const ended = this.watches;
    this.watches = [];
    for (const w of ended) {
      w.closed = true;
      w.handlers.onError(unavailable(this.description, 'watch stream broken'));
    }
  }

  /** Simulates an outage: every call fails with Unavailable and open watches end. */
  setDown(down: boolean): void {
    this.down = down;
    if (down) this.breakWatches();
  }

  private put(key: string, r: Resource, type: 'ADDED' | 'MODIFIED'): Resource {
    this.revision++;
    const value = encodeStored(r);
    this.data.set(key, { value, modRevision: this.revision });
    const stored = decodeStored(value, String(this.revision));
    this.record(key, { type, object: stored, revision: String(this.revision) });
    return decodeStored(value, String(this.revision));
  }

  private record(key: string, event: WatchEvent): void {
    this.history.push({ key, event });
    for (const w of this.watches) {
      if (!w.closed && key.startsWith(w.prefix)) w.handlers.onEvents([event]);
    }
  }

  private checkUp(): void {
    if (this.down) throw unavailable(this.description);
  }
}
