// What the CNI plugins need of tabby: the node's address allocator and WorkloadEndpoint writes. tabby-node serves
// both on <run-dir>/ipam.sock (it batches concurrent ADDs); where no node answers there, the plugin does the same
// work against the datastore itself (cni/direct.ts), loading the etcd client only then: that alone costs about
// half a second, and the common path never needs it.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Resource } from '../datastore';
import { callUnix, UnixSocketError } from '../node/unix-http';
import { etcdEndpointsOf, nodeNameOf, runDirOf, type TabbyNetConf } from './netconf';
import { CniCode, CniError } from './protocol';

/** The socket tabby-node serves this API on, in its run dir. */
export const NODE_SOCKET = 'ipam.sock';

/** An address request as the node's allocator takes it (ipam AddressRequest). */
export interface CniAddressRequest {
  handleId: string;
  namespace?: string;
  pod?: string;
  podAnnotations?: Record<string, string>;
  configuredPools?: string[];
}

/** What deleting an endpoint found: a newer sandbox of the same pod owns an endpoint of the same name. */
export type EndpointDeletion = 'deleted' | 'absent' | 'another-container';

export interface NodeApi {
  assign(request: CniAddressRequest): Promise<{ address: string; pool: string }>;
  /** Releases a handle's addresses; an unknown handle releases nothing. */
  release(handleId: string): Promise<string[]>;
  addressesOf(handleId: string): Promise<string[]>;
  /** Creates the endpoint, or replaces the one of the same name. */
  applyEndpoint(endpoint: Resource): Promise<void>;
  getEndpoint(namespace: string, name: string): Promise<Resource | undefined>;
  /** Deletes the endpoint unless its spec.containerID names another container than containerId. */
  deleteEndpoint(namespace: string, name: string, containerId: string): Promise<EndpointDeletion>;
  close(): Promise<void>;
}

/** An error the node answered with, keeping its IPAM or datastore code. */
class NodeError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'NodeError';
  }
}

/** The node predates a route (it answers 404 without a code): do that call directly. */
class RouteMissing extends Error {
  constructor(socketPath: string, method: string, route: string) {
    super(`tabby-node on ${socketPath} does not serve ${method} ${route.replace(/^(\/v1\/endpoints)\/.*/, '$1/...')}`);
  }
}

/** IPAM and datastore error codes (from the node or thrown directly) as CNI errors. */
export function toCniError(err: unknown): CniError {
  if (err instanceof CniError) return err;
  const e = err as Error & { code?: unknown };
  switch (e.code) {
    case 'Exhausted':
      return new CniError(CniCode.NoFreeAddress, e.message);
    case 'InUse':
      return new CniError(CniCode.AddressInUse, e.message);
    case 'InvalidRequest':
    case 'Invalid':
      return new CniError(CniCode.InvalidConfig, e.message);
    case 'Unavailable':
    case 'Contention':
      return new CniError(CniCode.TryAgainLater, e.message);
    default:
      return new CniError(999, e.message);
  }
}

function endpointRoute(namespace: string, name: string): string {
  return `/v1/endpoints/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;
}

function socketApi(socketPath: string): NodeApi {
  const call = async (method: string, route: string, body?: object) => {
    const reply = await callUnix(socketPath, method, route, body, 30_000);
    const b = reply.body as { error?: string; code?: string };
    if (reply.status === 404 && b.code === undefined) throw new RouteMissing(socketPath, method, route);
    if (reply.status !== 200) throw new NodeError(b.error ?? `tabby-node answered ${reply.status}`, b.code);
    return reply.body as Record<string, unknown>;
  };
  return {
    assign: async (request) =>
      (await call('POST', '/v1/assign', request)) as unknown as { address: string; pool: string },
    release: async (handleId) => (await call('POST', '/v1/release', { handleId })).released as string[],
    addressesOf: async (handleId) => (await call('POST', '/v1/addresses', { handleId })).addresses as string[],
    applyEndpoint: async (endpoint) => void (await call('POST', '/v1/endpoints', { endpoint })),
    getEndpoint: async (namespace, name) => {
      try {
        return (await call('GET', endpointRoute(namespace, name))).endpoint as Resource;
      } catch (err) {
        if (err instanceof NodeError && err.code === 'NotFound') return undefined;
        throw err;
      }
    },
    deleteEndpoint: async (namespace, name, containerId) =>
      (await call('DELETE', endpointRoute(namespace, name), { containerID: containerId })).outcome as EndpointDeletion,
    close: async () => undefined,
  };
}

/** The datastore directly; `why` says why the node could not do it, for the error when that is impossible too. */
function openDirectApi(conf: TabbyNetConf, env: NodeJS.ProcessEnv, why: string): NodeApi {
  const endpoints = etcdEndpointsOf(conf, env);
  if (endpoints.length === 0) {
    throw new CniError(CniCode.InvalidConfig, `${why}, and the network config has no etcd_endpoints`);
  }
  const { openDirect } = require('./direct') as typeof import('./direct');
  return openDirect(nodeNameOf(conf), endpoints, conf.datastore_type);
}

/** Nobody listens on the socket (a node that died left it behind): the request was never delivered. */
function nodeIsGone(err: unknown): boolean {
  return err instanceof UnixSocketError && (err.code === 'ECONNREFUSED' || err.code === 'ENOENT');
}

/**
 * The node's API when its socket is there, else the datastore directly. Each call that finds the node gone (or
 * a node too old to serve it) is done directly instead, so an operation that started on the socket completes.
 */
export function openNodeApi(conf: TabbyNetConf, env: NodeJS.ProcessEnv): NodeApi {
  const socketPath = path.join(runDirOf(conf), NODE_SOCKET);
  let socket = existsSync(socketPath) ? socketApi(socketPath) : undefined;
  let direct: NodeApi | undefined;
  let why = `no tabby-node answers on ${socketPath}`;
  const via = async <T>(call: (api: NodeApi) => Promise<T>): Promise<T> => {
    if (socket) {
      try {
        return await call(socket);
      } catch (err) {
        if (nodeIsGone(err)) socket = undefined;
        else if (err instanceof RouteMissing) why = err.message;
        else throw err;
      }
    }
    direct ??= openDirectApi(conf, env, why);
    return call(direct);
  };
  return {
    assign: (request) => via((api) => api.assign(request)),
    release: (handleId) => via((api) => api.release(handleId)),
    addressesOf: (handleId) => via((api) => api.addressesOf(handleId)),
    applyEndpoint: (endpoint) => via((api) => api.applyEndpoint(endpoint)),
    getEndpoint: (namespace, name) => via((api) => api.getEndpoint(namespace, name)),
    deleteEndpoint: (namespace, name, containerId) => via((api) => api.deleteEndpoint(namespace, name, containerId)),
    close: async () => {
      await direct?.close();
    },
  };
}
