// The storage interfaces: a ResourceStore (what the ResourceClient writes through: a backend, or tabby-apiserver),
// and the Backend every datastore implements (etcd v3, in-memory; Kubernetes later), resources plus
// raw keys. They store resources as given: defaulting and validation belong to the ResourceClient above them.
import type { KindInfo } from './kinds';
import type { KvStore } from './kv';
import type { Resource } from './resource';

export interface ListResult {
  items: Resource[];
  /** The store revision the list was read at: a watch from here misses and repeats nothing. */
  revision: string;
  /** A page stopped at its limit and the range holds more objects after its last one. */
  more?: boolean;
}

/** One page of a list, read at one revision so that the pages of a list fit together (Kubernetes' limit/continue). */
export interface ListPage {
  /** Read at this store revision (the first page's) instead of the newest; Compacted once it is compacted away. */
  revision?: string;
  /** Only objects whose key sorts after this one: the last key of the previous page. */
  afterKey?: string;
  /** At most this many objects. */
  limit?: number;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface WatchEvent {
  type: WatchEventType;
  /** For DELETED, the last stored state of the object. */
  object: Resource;
  /** The store revision of this change. */
  revision: string;
}

export interface WatchOptions {
  /** Only this kind (all kinds when absent). */
  kind?: KindInfo;
  /** Deliver changes made after this revision (exclusive), typically a ListResult's revision. */
  afterRevision: string;
}

export interface WatchHandlers {
  /** Changes in revision order; one call per store transaction. */
  onEvents(events: WatchEvent[]): void;
  /**
   * The watch has ended and will deliver nothing more: the revision was compacted (code Compacted) or the
   * store is unreachable (code Unavailable). The caller relists and watches again.
   */
  onError(err: Error): void;
}

export interface Watch {
  close(): void;
}

/** Where resources are kept: a datastore backend, or tabby-apiserver for a client that goes through it. */
export interface ResourceStore {
  /** Names the store for messages, e.g. `etcd at http://127.0.0.1:2379`. */
  readonly description: string;
  get(kind: KindInfo, name: string, namespace?: string): Promise<Resource>;
  /** All objects of a kind (or of every kind), optionally in one namespace, at one revision; or one page of them. */
  list(kind?: KindInfo, namespace?: string, page?: ListPage): Promise<ListResult>;
  /** Fails with AlreadyExists when the object exists. */
  create(r: Resource): Promise<Resource>;
  /**
   * Replaces an existing object. With metadata.resourceVersion set, only if it still has that version
   * (compare-and-swap, Conflict otherwise); without, only if it exists (NotFound otherwise).
   */
  update(r: Resource): Promise<Resource>;
  /** Deletes and returns the last stored state; with resourceVersion, only if it still has that version. */
  delete(kind: KindInfo, name: string, namespace?: string, resourceVersion?: string): Promise<Resource>;
  watch(options: WatchOptions, handlers: WatchHandlers): Watch;
  close(): Promise<void>;
}

/** A datastore: resources, and the raw keys IPAM keeps beside them. */
export interface Backend extends ResourceStore, KvStore {}
