// Whole lists served from the stored JSON without decoding and encoding every object on every request: each
// object's JSON (with its resourceVersion) is kept by key and mod revision, so a list decodes only what changed
// since the last list of the same range, and the answer is those strings joined. (Kubernetes' API server serves
// lists from its watch cache for the same reason.) The objects are exactly what ResourceClient.listAt returns:
// the same keys, decoded the same way, filtered by the same matcher.
import {
  type Backend,
  decodeStored,
  type KindInfo,
  kindPrefix,
  type ListOptions,
  listMatcher,
  parseEtcdKey,
  type Resource,
} from '../datastore';

interface CachedObject {
  modRevision: string;
  resource: Resource;
  json: string;
}

export class ListCache {
  /** By key range (a kind, or a kind in one namespace): the objects of its last list. */
  private readonly ranges = new Map<string, Map<string, CachedObject>>();

  constructor(private readonly backend: Backend) {}

  /** The whole list's JSON (`<Kind>List` with the store revision it was read at), ready to send. */
  async list(kind: KindInfo, options: ListOptions): Promise<string> {
    const matches = listMatcher(kind, options);
    const prefix = kindPrefix(kind, kind.namespaced ? options.namespace : undefined);
    const { pairs, revision } = await this.backend.kvList(prefix);
    const before = this.ranges.get(prefix) ?? new Map<string, CachedObject>();
    const now = new Map<string, CachedObject>();
    const items: string[] = [];
    for (const { key, value, modRevision } of pairs) {
      let cached = before.get(key);
      if (cached?.modRevision !== modRevision) {
        // Keys deeper or shallower than a resource's are not objects (as the backend's own list skips them).
        if (!parseEtcdKey(key)) continue;
        const resource = decodeStored(value, modRevision);
        cached = { modRevision, resource, json: JSON.stringify(resource) };
      }
      now.set(key, cached);
      if (matches(cached.resource)) items.push(cached.json);
    }
    // What is gone from the range goes from the cache with it.
    this.ranges.set(prefix, now);
    const head = JSON.stringify({
      apiVersion: kind.apiVersion,
      kind: `${kind.kind}List`,
      metadata: { resourceVersion: revision },
    });
    return `${head.slice(0, -1)},"items":[${items.join(',')}]}`;
  }
}
