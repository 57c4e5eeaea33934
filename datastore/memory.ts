// An in-memory Backend with etcd's semantics (one revision counter, compare-and-swap on the key's mod
// revision, ordered watches from a revision, compaction), for unit tests that need no etcd. Every change is
// kept as a raw key event; resource watches and raw-key watches both read that one history.
import type { Backend, ListPage, ListResult, Watch, WatchEvent, WatchHandlers, WatchOptions } from './backend';
import { alreadyExists, conflict, DatastoreError, notFound, unavailable } from './errors';
import { etcdKey, kindPrefix, parseEtcdKey, RESOURCES_PREFIX } from './keys';
import { type KindInfo, resolveKind } from './kinds';
import { isKvDelete, type KvEvent, type KvGuard, type KvPair, type KvWatchHandlers, type KvWrite } from './kv';
import type { Resource } from './resource';
import { decodeStored, encodeStored } from './stored';

interface StoredValue {
  value: string;
  modRevision: number;
  createRevision: number;
}

/** One changed key: after a put, its new value; after a delete, its last value. */
interface Change {
  type: 'PUT' | 'DELETE';
  key: string;
  value: string;
  revision: number;
  /** For a put: the key did not exist before. */
  created: boolean;
  /** For a delete: the mod revision of the value deleted. */
  lastModRevision: number;
}

interface MemoryWatch {
  prefix: string;
  deliver(changes: Change[]): void;
  onError(err: Error): void;
  closed: boolean;
}

export class MemoryBackend implements Backend {
  readonly description = 'in-memory datastore';
  private readonly data = new Map<string, StoredValue>();
  private readonly history: Change[] = [];
  private revision = 1;
  private compactedRevision = 0;
  /** The keys at compactedRevision: where reads at a later but not the newest revision start from. */
  private compactedData = new Map<string, StoredValue>();
  private watches: MemoryWatch[] = [];
  private down = false;

  async get(kind: KindInfo, name: string, namespace?: string): Promise<Resource> {
    this.checkUp();
    const key = etcdKey(kind, name, namespace);
    const stored = this.data.get(key);
    if (!stored) throw notFound(kind, name, namespace);
    return decodeStored(stored.value, String(stored.modRevision));
  }

  async list(kind?: KindInfo, namespace?: string, page: ListPage = {}): Promise<ListResult> {
    this.checkUp();
    const prefix = kind ? kindPrefix(kind, namespace) : RESOURCES_PREFIX;
    const revision = page.revision === undefined ? this.revision : Number(page.revision);
    const afterKey = page.afterKey;
    let entries = this.sortedUnder(prefix, this.dataAt(revision));
    if (afterKey !== undefined) entries = entries.filter(([k]) => k > afterKey);
    const more = page.limit !== undefined && entries.length > page.limit;
    if (more) entries = entries.slice(0, page.limit);
    const items = entries.map(([, v]) => decodeStored(v.value, String(v.modRevision)));
    return { items, revision: String(revision), ...(more ? { more: true } : {}) };
  }

  /** The keys as they were at a revision: the state at the last compaction with the later history replayed. */
  private dataAt(revision: number): Map<string, StoredValue> {
    if (revision === this.revision) return this.data;
    if (revision < this.compactedRevision) {
      throw new DatastoreError('Compacted', `revision ${revision} has been compacted (at ${this.compactedRevision})`);
    }
    if (!Number.isInteger(revision) || revision > this.revision) {
      throw new DatastoreError('Invalid', `revision ${revision} is not a revision of this store`);
    }
    const data = new Map(this.compactedData);
    for (const c of this.history) {
      if (c.revision > revision) break;
      if (c.type === 'DELETE') data.delete(c.key);
      else {
        const createRevision = c.created ? c.revision : (data.get(c.key)?.createRevision ?? c.revision);
        data.set(c.key, { value: c.value, modRevision: c.revision, createRevision });
      }
    }
    return data;
  }

  async create(r: Resource): Promise<Resource> {
    const kind = resolveKind(r);
    const key = etcdKey(kind, r.metadata.name, r.metadata.namespace);
    this.checkUp();
    if (this.data.has(key)) throw alreadyExists(kind, r.metadata.name, r.metadata.namespace);
    return this.putResource(key, r);
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
    return this.putResource(key, r);
  }

  async delete(kind: KindInfo, name: string, namespace?: string, resourceVersion?: string): Promise<Resource> {
    this.checkUp();
    const key = etcdKey(kind, name, namespace);
    const stored = this.data.get(key);
    if (!stored) throw notFound(kind, name, namespace);
    if (resourceVersion && resourceVersion !== String(stored.modRevision)) {
      throw conflict(kind, name, namespace, resourceVersion);
    }
    this.revision++;
    this.apply([{ key, delete: true }]);
    return decodeStored(stored.value, String(stored.modRevision));
  }

  async kvGet(key: string): Promise<KvPair | undefined> {
    this.checkUp();
    const stored = this.data.get(key);
    return stored ? { key, value: stored.value, modRevision: String(stored.modRevision) } : undefined;
  }

  async kvList(prefix: string): Promise<{ pairs: KvPair[]; revision: string }> {
    this.checkUp();
    const pairs = this.sortedUnder(prefix).map(([key, v]) => ({
      key,
      value: v.value,
      modRevision: String(v.modRevision),
    }));
    return { pairs, revision: String(this.revision) };
  }

  async kvCommit(guards: readonly KvGuard[], writes: readonly KvWrite[]): Promise<string | undefined> {
    this.checkUp();
    for (const g of guards) {
      const stored = this.data.get(g.key);
      const actual = stored ? String(stored.modRevision) : undefined;
      if (actual !== g.modRevision) return undefined;
    }
    this.revision++;
    this.apply(writes);
    return String(this.revision);
  }

  watch(options: WatchOptions, handlers: WatchHandlers): Watch {
    const prefix = options.kind ? kindPrefix(options.kind) : RESOURCES_PREFIX;
    return this.watchChanges(prefix, options.afterRevision, handlers.onError, (changes) => {
      const events = changes.map(toWatchEvent).filter((e): e is WatchEvent => e !== undefined);
      for (const e of events) handlers.onEvents([e]);
    });
  }

  kvWatch(prefix: string, afterRevision: string, handlers: KvWatchHandlers): Watch {
    return this.watchChanges(prefix, afterRevision, handlers.onError, (changes) => {
      for (const c of changes) handlers.onEvents([toKvEvent(c)]);
    });
  }

  async close(): Promise<void> {
    for (const w of this.watches) w.closed = true;
    this.watches = [];
  }

  /** Drops the history up to the current revision: watches from older revisions then fail with Compacted. */
  compact(): void {
    this.compactedRevision = this.revision;
    this.compactedData = new Map(this.data);
    this.history.length = 0;
  }

  /** Ends every open watch as a dropped connection would, while calls keep working. */
  breakWatches(): void {
    const ended = this.watches;
    this.watches = [];
    for (const w of ended) {
      w.closed = true;
      w.onError(unavailable(this.description, 'watch stream broken'));
    }
  }

  /** Simulates an outage: every call fails with Unavailable and open watches end. */
  setDown(down: boolean): void {
    this.down = down;
    if (down) this.breakWatches();
  }

  private sortedUnder(prefix: string, data = this.data): [string, StoredValue][] {
    return [...data.entries()].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : 1));
  }

  private watchChanges(
    prefix: string,
    afterRevision: string,
    onError: (err: Error) => void,
    deliver: (changes: Change[]) => void,
  ): Watch {
    const watch: MemoryWatch = { prefix, deliver, onError, closed: false };
    const after = Number(afterRevision);
    queueMicrotask(() => {
      if (watch.closed) return;
      if (this.down) return onError(unavailable(this.description));
      if (after + 1 <= this.compactedRevision) {
        return onError(
          new DatastoreError('Compacted', `revision ${after + 1} has been compacted (at ${this.compactedRevision})`),
        );
      }
      const backlog = this.history.filter((c) => c.revision > after && c.key.startsWith(prefix));
      if (backlog.length > 0) deliver(backlog);
      this.watches.push(watch);
    });
    return {
      close: () => {
        watch.closed = true;
        this.watches = this.watches.filter((w) => w !== watch);
      },
    };
  }

  private putResource(key: string, r: Resource): Resource {
    this.revision++;
    const value = encodeStored(r);
    this.apply([{ key, value }]);
    return decodeStored(value, String(this.revision));
  }

  /** Writes at the current revision (already bumped) and tells the watches, one transaction at a time. */
  private apply(writes: readonly KvWrite[]): void {
    const changes: Change[] = [];
    for (const w of writes) {
      const before = this.data.get(w.key);
      if (isKvDelete(w)) {
        if (!before) continue;
        this.data.delete(w.key);
        changes.push({
          type: 'DELETE',
          key: w.key,
          value: before.value,
          revision: this.revision,
          created: false,
          lastModRevision: before.modRevision,
        });
      } else {
        this.data.set(w.key, {
          value: w.value,
          modRevision: this.revision,
          createRevision: before?.createRevision ?? this.revision,
        });
        changes.push({
          type: 'PUT',
          key: w.key,
          value: w.value,
          revision: this.revision,
          created: !before,
          lastModRevision: 0,
        });
      }
    }
    this.history.push(...changes);
    for (const w of this.watches) {
      if (w.closed) continue;
      const mine = changes.filter((c) => c.key.startsWith(w.prefix));
      if (mine.length > 0) w.deliver(mine);
    }
  }

  private checkUp(): void {
    if (this.down) throw unavailable(this.description);
  }
}

function toWatchEvent(c: Change): WatchEvent | undefined {
  if (!parseEtcdKey(c.key)) return undefined;
  const revision = String(c.revision);
  if (c.type === 'DELETE') {
    return { type: 'DELETED', object: decodeStored(c.value, String(c.lastModRevision)), revision };
  }
  return { type: c.created ? 'ADDED' : 'MODIFIED', object: decodeStored(c.value, revision), revision };
}

function toKvEvent(c: Change): KvEvent {
  return { type: c.type, pair: { key: c.key, value: c.value, modRevision: String(c.revision) } };
}
