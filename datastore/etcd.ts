// The etcd v3 Backend: Calico's key layout, one transaction per write with compare-and-swap on the key's
// mod revision, lists at one revision, and watches that end (for the caller to relist) rather than silently
// resuming, so no event can be lost across an etcd restart or a compaction.
import { noop } from 'cockatiel';
import { Etcd3, type IKeyValue, type IResponseOp, type IWatchResponse } from 'etcd3';
import type { Backend, ListPage, ListResult, Watch, WatchEvent, WatchHandlers, WatchOptions } from './backend';
import { alreadyExists, conflict, DatastoreError, notFound, unavailable } from './errors';
import { etcdKey, kindPrefix, parseEtcdKey, prefixRangeEnd, RESOURCES_PREFIX } from './keys';
import { type KindInfo, resolveKind } from './kinds';
import { isKvDelete, type KvEvent, type KvGuard, type KvPair, type KvWatchHandlers, type KvWrite } from './kv';
import type { Resource } from './resource';
import { decodeStored, encodeStored } from './stored';

export interface EtcdBackendOptions {
  /** Deadline of each request; an unreachable etcd is reported within it (default 4 s). */
  requestTimeoutMs?: number;
}

export class EtcdBackend implements Backend {
  readonly description: string;
  private readonly client: Etcd3;

  constructor(endpoints: string[], options: EtcdBackendOptions = {}) {
    if (endpoints.length === 0) throw new DatastoreError('Invalid', 'no etcd endpoints given');
    for (const e of endpoints) {
      if (!/^https?:\/\/[^/\s]+\/?$/.test(e)) {
        throw new DatastoreError('Invalid', `etcd endpoint "${e}" is not a URL such as http://127.0.0.1:2379`);
      }
    }
    this.description = `etcd at ${endpoints.join(',')}`;
    const timeout = options.requestTimeoutMs ?? 4000;
    this.client = new Etcd3({
      hosts: endpoints,
      dialTimeout: timeout,
      // Retries and circuit breaking are ours to decide (the syncer relists); a failed call fails at once.
      faultHandling: { host: () => noop, global: noop },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
    });
  }

  async get(kind: KindInfo, name: string, namespace?: string): Promise<Resource> {
    const res = await this.call(() => this.client.kv.range({ key: Buffer.from(etcdKey(kind, name, namespace)) }));
    const kv = res.kvs[0];
    if (!kv) throw notFound(kind, name, namespace);
    return decodeStored(kv.value.toString(), kv.mod_revision);
  }

  async list(kind?: KindInfo, namespace?: string, page: ListPage = {}): Promise<ListResult> {
    const prefix = kind ? kindPrefix(kind, namespace) : RESOURCES_PREFIX;
    // The first key after afterKey is afterKey with a zero byte appended.
    const start = page.afterKey !== undefined && page.afterKey >= prefix ? `${page.afterKey}\0` : prefix;
    const res = await this.call(async () => {
      try {
        return await this.client.kv.range({
          key: Buffer.from(start),
          range_end: prefixRangeEnd(prefix),
          ...(page.revision !== undefined ? { revision: page.revision } : {}),
          ...(page.limit !== undefined ? { limit: page.limit } : {}),
        });
      } catch (err) {
        if (page.revision !== undefined && /compacted/i.test((err as Error).message)) {
          throw new DatastoreError('Compacted', `${this.description}: revision ${page.revision} has been compacted`);
        }
        throw err;
      }
    });
    const items: Resource[] = [];
    for (const kv of res.kvs) {
      if (parseEtcdKey(kv.key.toString())) items.push(decodeStored(kv.value.toString(), kv.mod_revision));
    }
    // The header carries the newest revision even for a read at an older one.
    return { items, revision: page.revision ?? res.header.revision, ...(res.more ? { more: true } : {}) };
  }

  async create(r: Resource): Promise<Resource> {
    const kind = resolveKind(r);
    const key = Buffer.from(etcdKey(kind, r.metadata.name, r.metadata.namespace));
    const value = encodeStored(r);
    const res = await this.call(() =>
      this.client.kv.txn({
        compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key, value: Buffer.from(value) } }],
      }),
    );
    if (!res.succeeded) throw alreadyExists(kind, r.metadata.name, r.metadata.namespace);
    return decodeStored(value, res.header.revision);
  }

  async update(r: Resource): Promise<Resource> {
    const kind = resolveKind(r);
    const { name, namespace, resourceVersion } = r.metadata;
    const key = Buffer.from(etcdKey(kind, name, namespace));
    const value = encodeStored(r);
    const res = await this.call(() =>
      this.client.kv.txn({
        compare: [versionGuard(key, resourceVersion)],
        success: [{ request_put: { key, value: Buffer.from(value) } }],
        failure: [{ request_range: { key } }],
      }),
    );
    if (!res.succeeded) throw failedGuard(res.responses, kind, name, namespace, resourceVersion);
    return decodeStored(value, res.header.revision);
  }

  async delete(kind: KindInfo, name: string, namespace?: string, resourceVersion?: string): Promise<Resource> {
    const key = Buffer.from(etcdKey(kind, name, namespace));
    const res = await this.call(() =>
      this.client.kv.txn({
        compare: [versionGuard(key, resourceVersion)],
        success: [{ request_delete_range: { key, prev_kv: true } }],
        failure: [{ request_range: { key } }],
      }),
    );
    if (!res.succeeded) throw failedGuard(res.responses, kind, name, namespace, resourceVersion);
    const prev = res.responses[0]?.response_delete_range.prev_kvs[0];
    if (!prev) throw notFound(kind, name, namespace);
    return decodeStored(prev.value.toString(), prev.mod_revision);
  }

  async kvGet(key: string): Promise<KvPair | undefined> {
    const res = await this.call(() => this.client.kv.range({ key: Buffer.from(key) }));
    const kv = res.kvs[0];
    return kv ? toKvPair(kv) : undefined;
  }

  async kvList(prefix: string): Promise<{ pairs: KvPair[]; revision: string }> {
    const res = await this.call(() =>
      this.client.kv.range({ key: Buffer.from(prefix), range_end: prefixRangeEnd(prefix) }),
    );
    return { pairs: res.kvs.map(toKvPair), revision: res.header.revision };
  }

  async kvCommit(guards: readonly KvGuard[], writes: readonly KvWrite[]): Promise<string | undefined> {
    const res = await this.call(() =>
      this.client.kv.txn({
        compare: guards.map((g) => {
          const key = Buffer.from(g.key);
          return g.modRevision === undefined
            ? { key, target: 'Create' as const, result: 'Equal' as const, create_revision: 0 }
            : { key, target: 'Mod' as const, result: 'Equal' as const, mod_revision: g.modRevision };
        }),
        success: writes.map((w) =>
          isKvDelete(w)
            ? { request_delete_range: { key: Buffer.from(w.key) } }
            : { request_put: { key: Buffer.from(w.key), value: Buffer.from(w.value) } },
        ),
      }),
    );
    return res.succeeded ? res.header.revision : undefined;
  }

  watch(options: WatchOptions, handlers: WatchHandlers): Watch {
    const prefix = options.kind ? kindPrefix(options.kind) : RESOURCES_PREFIX;
    return this.watchPrefix(prefix, options.afterRevision, handlers.onError, (res) => {
      const events: WatchEvent[] = [];
      for (const ev of res.events) {
        const event = toWatchEvent(ev.type, ev.kv, ev.prev_kv);
        if (event) events.push(event);
      }
      if (events.length > 0) handlers.onEvents(events);
    });
  }

  kvWatch(prefix: string, afterRevision: string, handlers: KvWatchHandlers): Watch {
    return this.watchPrefix(prefix, afterRevision, handlers.onError, (res) => {
      const events: KvEvent[] = res.events.map((ev) =>
        ev.type === 'Delete'
          ? {
              type: 'DELETE',
              pair: {
                key: ev.kv.key.toString(),
                value: ev.prev_kv?.value.toString() ?? '',
                modRevision: ev.kv.mod_revision,
              },
            }
          : { type: 'PUT', pair: toKvPair(ev.kv) },
      );
      if (events.length > 0) handlers.onEvents(events);
    });
  }

  /**
   * One watch on a prefix from afterRevision + 1 that ends (onError, once) rather than silently resuming:
   * etcd3 would reconnect and resume on its own, but from the header revision, which can skip events still in
   * flight; ending the watch makes the caller relist and diff, which cannot.
   */
  private watchPrefix(
    prefix: string,
    afterRevision: string,
    onError: (err: Error) => void,
    onData: (res: IWatchResponse) => void,
  ): Watch {
    const firstRevision = String(BigInt(afterRevision) + 1n);
    const watcher = this.client.watch().prefix(prefix).withPreviousKV().startRevision(firstRevision).watcher();
    let ended = false;
    const end = (err: Error) => {
      if (ended) return;
      ended = true;
      void watcher.cancel().catch(() => undefined);
      onError(err);
    };
    watcher.on('data', (res: IWatchResponse) => {
      if (!ended) onData(res);
    });
    watcher.on('disconnected', (err: Error) => end(unavailable(this.description, err.message)));
    watcher.on('error', (err: Error) => {
      void this.explainCancelledWatch(firstRevision, err).then(end);
    });
    return {
      close: () => {
        ended = true;
        void watcher.cancel().catch(() => undefined);
      },
    };
  }

  async close(): Promise<void> {
    this.client.close();
  }

  /**
   * etcd cancels a watch from a compacted revision, but the client library passes on only the (empty) cancel
   * reason; a read at that revision tells compaction apart from other failures.
   */
  private async explainCancelledWatch(firstRevision: string, err: Error): Promise<DatastoreError> {
    try {
      await this.client.kv.range({ key: Buffer.from(RESOURCES_PREFIX), revision: firstRevision, limit: 1 });
    } catch (probe) {
      if (/compacted/i.test((probe as Error).message)) {
        return new DatastoreError('Compacted', `${this.description}: revision ${firstRevision} has been compacted`);
      }
    }
    return unavailable(this.description, err.message);
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof DatastoreError) throw err;
      throw unavailable(this.description, (err as Error).message);
    }
  }
}

/** With a resourceVersion: the key still has that mod revision. Without: the key exists. */
function versionGuard(key: Buffer, resourceVersion: string | undefined) {
  return resourceVersion
    ? { key, target: 'Mod' as const, result: 'Equal' as const, mod_revision: resourceVersion }
    : { key, target: 'Create' as const, result: 'Greater' as const, create_revision: 0 };
}

function failedGuard(
  responses: IResponseOp[],
  kind: KindInfo,
  name: string,
  namespace: string | undefined,
  resourceVersion: string | undefined,
): DatastoreError {
  const exists = (responses[0]?.response_range.kvs.length ?? 0) > 0;
  return exists && resourceVersion ? conflict(kind, name, namespace, resourceVersion) : notFound(kind, name, namespace);
}

function toKvPair(kv: IKeyValue): KvPair {
  return { key: kv.key.toString(), value: kv.value.toString(), modRevision: kv.mod_revision };
}

function toWatchEvent(type: string, kv: IKeyValue, prev: IKeyValue | undefined): WatchEvent | undefined {
  const parsed = parseEtcdKey(kv.key.toString());
  if (!parsed) return undefined;
  if (type === 'Delete') {
    // etcd leaves prev_kv out when that revision was compacted away; the key alone still names the object.
    const object: Resource = prev
      ? decodeStored(prev.value.toString(), prev.mod_revision)
      : {
          apiVersion: parsed.kind.apiVersion,
          kind: parsed.kind.kind,
          metadata: { name: parsed.key.name, namespace: parsed.key.namespace },
        };
    return { type: 'DELETED', object, revision: kv.mod_revision };
  }
  return {
    type: kv.create_revision === kv.mod_revision ? 'ADDED' : 'MODIFIED',
    object: decodeStored(kv.value.toString(), kv.mod_revision),
    revision: kv.mod_revision,
  };
}
