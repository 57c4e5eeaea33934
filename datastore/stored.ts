// How a resource is written to and read from a key-value store: JSON without the resourceVersion, which is
// the store's modification revision of the key and is filled in on every read (as Calico does on etcd).
import type { Resource } from './resource';

export function encodeStored(r: Resource): string {
  const { resourceVersion: _ignored, ...metadata } = r.metadata;
  return JSON.stringify({ ...r, metadata });
}

export function decodeStored(value: string, modRevision: string): Resource {
  const r = JSON.parse(value) as Resource;
  r.metadata.resourceVersion = modRevision;
  return r;
}
