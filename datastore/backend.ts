// The storage interface every datastore backend implements (etcd v3, in-memory; Kubernetes later).
// It stores resources as given: defaulting and validation belong to the ResourceClient above it.
import type { KindInfo } from './kinds';
import type { KvStore } from './kv';
import type { Resource } from './resource';

export interface ListResult {
  items: Resource[];
  /** The store revision the list was read at: a watch from here misses and repeats nothing. */
  revision: string;
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

export interface Backend extends KvStore {
  /** Names the store for messages, e.g. `etcd at http://127.0.0.1:2379`. */
  readonly description: string;
  get(kind: KindInfo, name: string, namespace?: string): Promise<Resource>;
  /** All objects of a kind (or of every kind), optionally in one namespace, at one revision. */
  list(kind?: KindInfo, namespace?: string): Promise<ListResult>;
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
