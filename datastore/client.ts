// The ResourceClient: what tabbyctl, the API server and the daemons write through. It fills in Calico's
// defaults, validates (alone and against what is stored), keeps server-set metadata, and only then writes.
// Several documents are checked together before any is written, so a bad one leaves the store untouched.
import { randomUUID } from 'node:crypto';
import { parseSelector } from '../policy';
import type { ListResult, ResourceStore } from './backend';
import { alreadyExists, isDatastoreError, notFound } from './errors';
import { etcdKey } from './keys';
import { type KindInfo, resolveKind } from './kinds';
import { applyDefaults, checkedAgainstSiblings, validateChange, validateResource } from './model';
import type { Resource } from './resource';

export type WriteMode = 'create' | 'replace' | 'apply';

export interface ListOptions {
  /** For namespaced kinds: one namespace; absent means every namespace. */
  namespace?: string;
  /** A Calico selector matched against each resource's metadata.labels. */
  labelSelector?: string;
}

/**
 * What another component adds to deletions without the datastore knowing it (IPAM guards IPPool deletion
 * and releases the pool's blocks). Both receive the object as stored; beforeDelete refuses by throwing.
 */
export interface ResourceClientHooks {
  beforeDelete?(kind: KindInfo, existing: Resource): Promise<void>;
  afterDelete?(kind: KindInfo, deleted: Resource): Promise<void>;
}

/** Whether a resource is one a list with these options returns: its namespace, its labels (throws on a bad selector). */
export function listMatcher(kind: KindInfo, options: ListOptions): (r: Resource) => boolean {
  const namespace = kind.namespaced ? options.namespace : undefined;
  const selector = options.labelSelector === undefined ? undefined : parseSelector(options.labelSelector);
  return (r) =>
    (namespace === undefined || r.metadata.namespace === namespace) &&
    (selector === undefined || selector.evaluate(r.metadata.labels ?? {}));
}

/** Where a paged list goes on: after `afterKey`, at the revision its first page was read at. */
export interface ListCursor {
  revision: string;
  afterKey: string;
}

/** A page of a list, and where the next one starts when there may be more. */
export interface ListPageResult extends ListResult {
  next?: ListCursor;
}

/** A document that passed validation, with what is stored under its name now. */
export interface PlannedWrite {
  resource: Resource;
  existing: Resource | undefined;
}

export class ResourceClient {
  constructor(
    readonly store: ResourceStore,
    private readonly hooks: ResourceClientHooks = {},
  ) {}

  async get(kind: KindInfo, name: string, namespace?: string): Promise<Resource> {
    return this.store.get(kind, name, kind.namespaced ? (namespace ?? 'default') : undefined);
  }

  async list(kind: KindInfo, options: ListOptions = {}): Promise<Resource[]> {
    return (await this.listAt(kind, options)).items;
  }

  /** The list and the store revision it was read at (a watch from that revision misses and repeats nothing). */
  async listAt(kind: KindInfo, options: ListOptions = {}): Promise<ListResult> {
    const matches = listMatcher(kind, options);
    const { items, revision } = await this.store.list(kind, kind.namespaced ? options.namespace : undefined);
    return { items: items.filter(matches), revision };
  }

  /**
   * At most `limit` matching resources, from `from` on (a cursor of the previous page) or from the start; every
   * page is read at the first page's revision, so together they are one consistent list (Kubernetes' limit and
   * continue). A filtered list reads on until the page is full or the range ends.
   */
  async listPage(kind: KindInfo, options: ListOptions, limit: number, from?: ListCursor): Promise<ListPageResult> {
    const matches = listMatcher(kind, options);
    const namespace = kind.namespaced ? options.namespace : undefined;
    const items: Resource[] = [];
    let revision = from?.revision;
    let afterKey = from?.afterKey;
    for (;;) {
      const batch = await this.store.list(kind, namespace, { revision, afterKey, limit });
      revision = batch.revision;
      for (const [index, r] of batch.items.entries()) {
        afterKey = etcdKey(kind, r.metadata.name, r.metadata.namespace);
        if (!matches(r)) continue;
        items.push(r);
        if (items.length === limit) {
          const more = batch.more === true || index < batch.items.length - 1;
          return { items, revision, ...(more ? { next: { revision, afterKey } } : {}) };
        }
      }
      if (!batch.more) return { items, revision };
    }
  }

  async create(doc: Resource): Promise<Resource> {
    return (await this.write([doc], 'create'))[0]!;
  }

  async replace(doc: Resource): Promise<Resource> {
    return (await this.write([doc], 'replace'))[0]!;
  }

  async apply(doc: Resource): Promise<Resource> {
    return (await this.write([doc], 'apply'))[0]!;
  }

  async delete(kind: KindInfo, name: string, namespace?: string, resourceVersion?: string): Promise<Resource> {
    const ns = kind.namespaced ? (namespace ?? 'default') : undefined;
    const { beforeDelete, afterDelete } = this.hooks;
    let version = resourceVersion;
    if (beforeDelete) {
      const existing = await this.store.get(kind, name, ns);
      await beforeDelete(kind, existing);
      // Delete only the version that was checked: a change in between fails with Conflict.
      version ??= existing.metadata.resourceVersion;
    }
    const deleted = await this.store.delete(kind, name, ns, version);
    if (afterDelete) await afterDelete(kind, deleted);
    return deleted;
  }

  /** Validates every document (each alone, against the store, and against the others), then writes them in order. */
  async write(docs: Resource[], mode: WriteMode): Promise<Resource[]> {
    const plan = await this.plan(docs, mode);
    const written: Resource[] = [];
    for (const step of plan) written.push(await this.commit(step));
    return written;
  }

  /**
   * Checks documents without writing. The first problem (a ValidationError or DatastoreError) is thrown
   * as a DocumentRejected that says which document it was.
   */
  async plan(docs: Resource[], mode: WriteMode): Promise<PlannedWrite[]> {
    const planned: PlannedWrite[] = [];
    const siblingsByKind = new Map<KindInfo, Resource[]>();
    for (const [index, doc] of docs.entries()) {
      try {
        planned.push(await this.planOne(doc, mode, siblingsByKind));
      } catch (err) {
        // An unreachable store is not the document's fault.
        if (isDatastoreError(err, 'Unavailable')) throw err;
        throw new DocumentRejected(index, err as Error);
      }
    }
    return planned;
  }

  private async planOne(doc: Resource, mode: WriteMode, siblingsByKind: Map<KindInfo, Resource[]>) {
    const kind = resolveKind(doc);
    const resource = normalize(doc, kind);
    validateResource(resource);
    const existing = await this.getIfPresent(kind, resource);
    const { name, namespace } = resource.metadata;
    if (mode === 'create' && existing) throw alreadyExists(kind, name, namespace);
    if (mode === 'replace' && !existing) throw notFound(kind, name, namespace);
    let others: Resource[] = [];
    if (checkedAgainstSiblings(kind)) {
      let siblings = siblingsByKind.get(kind);
      if (!siblings) {
        siblings = (await this.store.list(kind)).items;
        siblingsByKind.set(kind, siblings);
      }
      others = siblings.filter((s) => qualifiedName(s) !== qualifiedName(resource));
      // Later documents of the same batch are checked against this one as if it were stored.
      siblingsByKind.set(kind, [...others, resource]);
    }
    validateChange(resource, existing ? { existing, siblings: others } : { siblings: others });
    return { resource, existing };
  }

  private async commit({ resource, existing }: PlannedWrite): Promise<Resource> {
    if (!existing) {
      const metadata = { ...resource.metadata, uid: randomUUID(), creationTimestamp: new Date().toISOString() };
      delete metadata.resourceVersion;
      return this.store.create({ ...resource, metadata });
    }
    // Server-set metadata survives an update that does not carry it. A document with a resourceVersion
    // updates only that version (as calicoctl); without one, the version we read, so a concurrent writer
    // between our read and our write is still detected.
    const metadata = {
      ...resource.metadata,
      uid: existing.metadata.uid ?? resource.metadata.uid,
      creationTimestamp: existing.metadata.creationTimestamp ?? resource.metadata.creationTimestamp,
      resourceVersion: resource.metadata.resourceVersion ?? existing.metadata.resourceVersion,
    };
    return this.store.update({ ...resource, metadata });
  }

  private async getIfPresent(kind: KindInfo, r: Resource): Promise<Resource | undefined> {
    try {
      return await this.store.get(kind, r.metadata.name, r.metadata.namespace);
    } catch (err) {
      if (isDatastoreError(err, 'NotFound')) return undefined;
      throw err;
    }
  }
}

/** A document of a batch failed validation; `index` is its 0-based position, the message is the cause's. */
export class DocumentRejected extends Error {
  constructor(
    readonly index: number,
    override readonly cause: Error,
  ) {
    super(cause.message);
    this.name = 'DocumentRejected';
  }
}

/** Namespaced kinds default to namespace "default" (as calicoctl does); cluster-wide kinds carry none. */
function normalize(doc: Resource, kind: KindInfo): Resource {
  const metadata = { ...(doc.metadata ?? {}) };
  if (kind.namespaced) metadata.namespace = metadata.namespace || 'default';
  else delete metadata.namespace;
  return applyDefaults({ ...doc, metadata });
}

function qualifiedName(r: Resource): string {
  return r.metadata.namespace ? `${r.metadata.namespace}/${r.metadata.name}` : r.metadata.name;
}
