// Calico's etcd v3 key layout: /calico/resources/v3/<group>/<plural>/[<namespace>/]<name>.
// Calico's own kinds live under projectcalico.org; Kubernetes NetworkPolicy under networking.k8s.io.
import { type KindInfo, kindOfResource } from './kinds';
import type { ResourceKey } from './resource';

export const RESOURCES_PREFIX = '/calico/resources/v3/';

/** etcd's end of the key range [prefix, end) that holds every key starting with prefix. */
export function prefixRangeEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  end[end.length - 1]++;
  return end;
}

export function kindPrefix(kind: KindInfo, namespace?: string): string {
  const base = `${RESOURCES_PREFIX}${kind.group}/${kind.plural}/`;
  return kind.namespaced && namespace !== undefined ? `${base}${namespace}/` : base;
}

export function etcdKey(kind: KindInfo, name: string, namespace?: string): string {
  return kindPrefix(kind, kind.namespaced ? namespace : undefined) + name;
}

/** Parses an etcd key of ours back into its kind and name; undefined for keys that are not resources. */
export function parseEtcdKey(key: string): { kind: KindInfo; key: ResourceKey } | undefined {
  if (!key.startsWith(RESOURCES_PREFIX)) return undefined;
  const parts = key.slice(RESOURCES_PREFIX.length).split('/');
  const kind = kindOfResource(`${parts[1]}.${parts[0]}`);
  if (!kind) return undefined;
  if (kind.namespaced && parts.length === 4) {
    return { kind, key: { apiVersion: kind.apiVersion, kind: kind.kind, namespace: parts[2], name: parts[3] } };
  }
  if (!kind.namespaced && parts.length === 3) {
    return { kind, key: { apiVersion: kind.apiVersion, kind: kind.kind, name: parts[2] } };
  }
  return undefined;
}
