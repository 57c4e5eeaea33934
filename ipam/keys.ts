// Calico's etcd layout for IPAM (libcalico-go/lib/backend/model: block.go, block_affinity.go, ipam_handle.go),
// so the keys and values tabby writes are the ones calicoctl and Calico's own IPAM read.

export const IPAM_PREFIX = '/calico/ipam/v2/';
export const BLOCKS_PREFIX = `${IPAM_PREFIX}assignment/ipv4/block/`;
export const HANDLES_PREFIX = `${IPAM_PREFIX}handle/`;
const HOST_AFFINITY_PREFIX = `${IPAM_PREFIX}host/`;

/** `10.0.0.0/26` → `10.0.0.0-26`, as Calico writes a CIDR into a key. */
function cidrSegment(cidr: string): string {
  return cidr.replace('/', '-');
}

export function blockKey(cidr: string): string {
  return BLOCKS_PREFIX + cidrSegment(cidr);
}

export function blockCidrOfKey(key: string): string | undefined {
  if (!key.startsWith(BLOCKS_PREFIX)) return undefined;
  const segment = key.slice(BLOCKS_PREFIX.length);
  return segment.includes('/') ? undefined : segment.replace('-', '/');
}

export function nodeAffinityPrefix(node: string): string {
  return `${HOST_AFFINITY_PREFIX}${node}/ipv4/block/`;
}

export function affinityKey(node: string, cidr: string): string {
  return nodeAffinityPrefix(node) + cidrSegment(cidr);
}

/** Every host's affinities are under this prefix. */
export const AFFINITIES_PREFIX = HOST_AFFINITY_PREFIX;

export function parseAffinityKey(key: string): { node: string; cidr: string } | undefined {
  const m = /^\/calico\/ipam\/v2\/host\/([^/]+)\/ipv4\/block\/([^/]+)$/.exec(key);
  return m ? { node: m[1]!, cidr: m[2]!.replace('-', '/') } : undefined;
}

export function handleKey(handleId: string): string {
  return HANDLES_PREFIX + handleId;
}

export function handleIdOfKey(key: string): string | undefined {
  return key.startsWith(HANDLES_PREFIX) ? key.slice(HANDLES_PREFIX.length) : undefined;
}
