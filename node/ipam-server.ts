// The node's allocator on <run-dir>/ipam.sock, for the CNI plugin: concurrent ADDs on this node are
// batched by the IpamService behind it. Errors keep their IPAM or datastore code so the plugin can map them
// to CNI error codes.
import type http from 'node:http';
import { isDatastoreError } from '../datastore';
import { type AddressRequest, type IpamService, isIpamError } from '../ipam';
import { listenUnix, type UnixReply } from './unix-http';

export const IPAM_SOCKET = 'ipam.sock';

function errorReply(err: Error): UnixReply {
  if (isIpamError(err)) {
    const status = err.code === 'InvalidRequest' ? 400 : err.code === 'Contention' ? 503 : 409;
    return { status, body: { error: err.message, code: err.code } };
  }
  if (isDatastoreError(err, 'Unavailable')) return { status: 503, body: { error: err.message, code: 'Unavailable' } };
  return { status: 500, body: { error: err.message } };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function handleIdOf(body: unknown): string | undefined {
  return isRecord(body) && typeof body.handleId === 'string' && body.handleId !== '' ? body.handleId : undefined;
}

export function serveIpam(socketPath: string, service: IpamService): Promise<http.Server> {
  return listenUnix(socketPath, async (method, path, body) => {
    const handleId = handleIdOf(body);
    if (method !== 'POST' || !['/v1/assign', '/v1/release', '/v1/addresses'].includes(path)) {
      return { status: 404, body: { error: 'not found: POST /v1/assign, /v1/release or /v1/addresses' } };
    }
    if (!handleId)
      return { status: 400, body: { error: 'handleId (a non-empty string) is required', code: 'InvalidRequest' } };
    try {
      if (path === '/v1/assign') return { status: 200, body: await service.assign(body as AddressRequest) };
      if (path === '/v1/release') return { status: 200, body: { released: await service.release(handleId) } };
      return { status: 200, body: { addresses: await service.addressesOf(handleId) } };
    } catch (err) {
      return errorReply(err as Error);
    }
  });
}
