// The CNI plugins' work straight against the datastore, for hosts where no tabby-node answers on its socket:
// allocation through an IpamService of their own (a batch of one) and endpoint writes through a ResourceClient.
// It loads the etcd client, so the plugins require this module only when they need it.
import { openBackend, ResourceClient } from '../datastore';
import { HANDLES_PREFIX, IpamService } from '../ipam';
import { WorkloadEndpointStore } from './endpoint-store';
import type { NodeApi } from './node-api';

function backendFor(etcdEndpoints: string[], datastoreType: string | undefined) {
  return openBackend({ type: datastoreType === 'kubernetes' ? 'kubernetes' : 'etcdv3', etcdEndpoints });
}

export function openDirect(node: string, etcdEndpoints: string[], datastoreType: string | undefined): NodeApi {
  const backend = backendFor(etcdEndpoints, datastoreType);
  const service = new IpamService(backend, node);
  const endpoints = new WorkloadEndpointStore(new ResourceClient(backend));
  return {
    assign: (request) => service.assign(request),
    release: (handleId) => service.release(handleId),
    addressesOf: (handleId) => service.addressesOf(handleId),
    applyEndpoint: async (endpoint) => void (await endpoints.apply(endpoint)),
    getEndpoint: (namespace, name) => endpoints.get(namespace, name),
    deleteEndpoint: (namespace, name, containerId) => endpoints.delete(namespace, name, containerId),
    close: () => backend.close(),
  };
}

/** The handles whose id starts with prefix (for CNI GC). */
export async function listHandles(etcdEndpoints: string[], datastoreType: string | undefined, prefix: string) {
  const backend = backendFor(etcdEndpoints, datastoreType);
  try {
    const { pairs } = await backend.kvList(HANDLES_PREFIX + prefix);
    return pairs.map((p) => p.key.slice(HANDLES_PREFIX.length));
  } finally {
    await backend.close();
  }
}
