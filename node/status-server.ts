// A node-local status endpoint: GET /status on a unix socket → JSON. tabby-node and tabby-bgp serve their
// status this way, and `tabbyctl node status` reads it. The handler must be cheap: it is polled.
import type http from 'node:http';
import { callUnix, listenUnix } from './unix-http';

export function serveStatus(socketPath: string, status: () => unknown): Promise<http.Server> {
  return listenUnix(socketPath, (method, path) =>
    method === 'GET' && (path === '/status' || path === '/')
      ? { status: 200, body: status() }
      : { status: 404, body: { error: 'not found: try GET /status' } },
  );
}

/** Reads a status socket: the client half, for tabbyctl and tests. */
export async function readStatus(socketPath: string, timeoutMs = 3000): Promise<unknown> {
  return (await callUnix(socketPath, 'GET', '/status', undefined, timeoutMs)).body;
}
