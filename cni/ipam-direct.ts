// Allocation straight against the datastore, for hosts where no tabby-node serves ipam.sock. It loads the
// etcd client, so the plugin requires this module only when it needs it.
import { openBackend } from '../datastore';
import { HANDLES_PREFIX, IpamService } from '../ipam';
import type { CniIpam } from './ipam-plugin';

export function openDirectIpam(node: string, etcdEndpoints: string[], datastoreType: string | undefined): CniIpam {
  const backend = openBackend({
    type: datastoreType === 'kubernetes' ? 'kubernetes' : 'etcdv3',
    etcdEndpoints,
  });
  const service = new IpamService(backend, node);
  return {
    assign: (request) => service.assign(request),
    release: (handleId) => service.release(handleId),
    addressesOf: (handleId) => service.addressesOf(handleId),
    close: () => backend.close(),
  };
}

/** The handles whose id starts with prefix (for CNI GC). */
export async function listHandles(etcdEndpoints: string[], datastoreType: string | undefined, prefix: string) {
  const backend = openBackend({ type: datastoreType === 'kubernetes' ? 'kubernetes' : 'etcdv3', etcdEndpoints });
  try {
    const { pairs } = await backend.kvList(HANDLES_PREFIX + prefix);
    return pairs.map((p) => p.key.slice(HANDLES_PREFIX.length));
  } finally {
    await backend.close();
  }
}
