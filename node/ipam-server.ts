// The node's API for the CNI plugin on <run-dir>/ipam.sock: the allocator (concurrent ADDs on this node are batched
// by the IpamService behind it) and the plugin's WorkloadEndpoint writes, so a plugin on a node with tabby-node
// never loads a datastore client. Errors keep their IPAM or datastore code so the plugin can map them to CNI
// error codes.
//   POST   /v1/assign | /v1/release | /v1/addresses   {handleId, ...}
//   POST   /v1/endpoints                               {endpoint}: create or replace
//   GET    /v1/endpoints/<namespace>/<name>            {endpoint}, or 404 NotFound
//   DELETE /v1/endpoints/<namespace>/<name>            {containerID}: {outcome: deleted|absent|another-container}
//   POST   /v1/cni                                     a whole CNI call from the plugin's native front (cni-calls.ts)
import type http from 'node:http';
import { WorkloadEndpointStore } from '../cni/endpoint-store';
import { NODE_SOCKET } from '../cni/node-api';
import { type DatastoreErrorCode, isDatastoreError, type Resource, type ResourceClient } from '../datastore';
import { type AddressRequest, type IpamService, isIpamError } from '../ipam';
import { CNI_ROUTE, type CniCallCounts, localNodeApi, runCniCall } from './cni-calls';
import { listenUnix, type UnixReply } from './unix-http';

export const IPAM_SOCKET = NODE_SOCKET;

const IPAM_ROUTES = ['/v1/assign', '/v1/release', '/v1/addresses'];
const ENDPOINT_ROUTE = /^\/v1\/endpoints(?:\/([^/]+)\/([^/]+))?$/;
/** Datastore errors other than these are conflicts of some kind (AlreadyExists, Conflict, Compacted). */
const DATASTORE_STATUS: Partial<Record<DatastoreErrorCode, number>> = { NotFound: 404, Invalid: 400, Unavailable: 503 };

function errorReply(err: Error): UnixReply {
  if (isIpamError(err)) {
    const status = err.code === 'InvalidRequest' ? 400 : err.code === 'Contention' ? 503 : 409;
    return { status, body: { error: err.message, code: err.code } };
  }
  if (isDatastoreError(err)) {
    const status = DATASTORE_STATUS[err.code] ?? 409;
    return { status, body: { error: err.message, code: err.code } };
  }
  return { status: 500, body: { error: err.message } };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function invalid(error: string): UnixReply {
  return { status: 400, body: { error, code: 'InvalidRequest' } };
}

async function ipamRoute(service: IpamService, route: string, body: unknown): Promise<UnixReply> {
  const handleId = isRecord(body) && typeof body.handleId === 'string' ? body.handleId : '';
  if (handleId === '') return invalid('handleId (a non-empty string) is required');
  if (route === '/v1/assign') return { status: 200, body: await service.assign(body as AddressRequest) };
  if (route === '/v1/release') return { status: 200, body: { released: await service.release(handleId) } };
  return { status: 200, body: { addresses: await service.addressesOf(handleId) } };
}

async function endpointRoute(
  store: WorkloadEndpointStore,
  method: string,
  [, namespace, name]: RegExpExecArray,
  body: unknown,
): Promise<UnixReply | undefined> {
  if (namespace === undefined || name === undefined) {
    if (method !== 'POST') return undefined;
    if (!isRecord(body) || !isRecord(body.endpoint)) return invalid('endpoint (a WorkloadEndpoint) is required');
    return { status: 200, body: { endpoint: await store.apply(body.endpoint as unknown as Resource) } };
  }
  const [ns, n] = [decodeURIComponent(namespace), decodeURIComponent(name)];
  if (method === 'GET') {
    const endpoint = await store.get(ns, n);
    return endpoint
      ? { status: 200, body: { endpoint } }
      : { status: 404, body: { error: `WorkloadEndpoint ${ns}/${n} not found`, code: 'NotFound' } };
  }
  if (method !== 'DELETE') return undefined;
  const containerId = isRecord(body) && typeof body.containerID === 'string' ? body.containerID : '';
  return { status: 200, body: { outcome: await store.delete(ns, n, containerId) } };
}

/**
 * Serves the allocator, and the endpoint and CNI routes when given the client to write endpoints with (counting
 * the CNI calls into cniCounts). Unknown routes
 * are answered 404 without a code, which the plugin takes as "do this one directly".
 */
export function serveIpam(
  socketPath: string,
  service: IpamService,
  endpoints?: ResourceClient,
  cniCounts: CniCallCounts = new Map(),
): Promise<http.Server> {
  const store = endpoints && new WorkloadEndpointStore(endpoints);
  const cniApi = store && localNodeApi(service, store);
  return listenUnix(socketPath, async (method, route, body) => {
    try {
      if (method === 'POST' && IPAM_ROUTES.includes(route)) return await ipamRoute(service, route, body);
      if (method === 'POST' && route === CNI_ROUTE && cniApi) return await runCniCall(cniApi, cniCounts, body);
      const endpoint = ENDPOINT_ROUTE.exec(route);
      const reply = endpoint && store ? await endpointRoute(store, method, endpoint, body) : undefined;
      if (reply) return reply;
    } catch (err) {
      return errorReply(err as Error);
    }
    const served = ['POST /v1/assign, /v1/release, /v1/addresses'];
    if (store) served.push('POST /v1/endpoints', 'GET|DELETE /v1/endpoints/<namespace>/<name>', `POST ${CNI_ROUTE}`);
    return { status: 404, body: { error: `not found: ${method} ${route} (served: ${served.join('; ')})` } };
  });
}
