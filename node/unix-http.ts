// Node-local APIs are JSON over HTTP on unix sockets in the run dir: status.sock (status) and ipam.sock (the
// node's batching allocator, for the CNI plugin). This is both halves of that transport. The client half
// loads nothing but node:http, so a short-lived CNI plugin process starts fast.
import { existsSync, unlinkSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';

export interface UnixReply {
  status: number;
  body: unknown;
  /** Sent as it is instead of body as JSON (for a client that parses no JSON: the CNI plugin's native front). */
  text?: string;
  headers?: Record<string, string>;
}

export type UnixHandler = (method: string, path: string, body: unknown) => Promise<UnixReply> | UnixReply;

/** Bad request bodies are answered 400 here; a handler that throws is answered 500 with its message. */
export async function listenUnix(socketPath: string, handler: UnixHandler): Promise<http.Server> {
  await removeStaleSocket(socketPath);
  const server = http.createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      text += chunk;
    });
    req.on('end', () => {
      const reply = (r: UnixReply) => {
        const text = r.text ?? `${JSON.stringify(r.body)}\n`;
        res.writeHead(r.status, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(text),
          ...r.headers,
        });
        res.end(text);
      };
      let body: unknown;
      try {
        body = text === '' ? undefined : JSON.parse(text);
      } catch {
        return reply({ status: 400, body: { error: 'request body is not JSON' } });
      }
      Promise.resolve()
        .then(() => handler(req.method ?? 'GET', req.url ?? '/', body))
        .then(reply, (err: Error) => reply({ status: 500, body: { error: err.message } }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  return server;
}

/** A socket file left by a process that died is removed; one a live process answers on is an error. */
async function removeStaleSocket(socketPath: string): Promise<void> {
  if (!existsSync(socketPath)) return;
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`${socketPath}: another process is serving here`);
  unlinkSync(socketPath);
}

/** One request; rejects with a message naming the socket when nobody answers or the reply is not JSON. */
export function callUnix(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 3000,
): Promise<UnixReply> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        socketPath,
        method,
        path,
        timeout: timeoutMs,
        headers:
          payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
          } catch (err) {
            reject(new Error(`${socketPath}: bad reply: ${(err as Error).message}`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${socketPath}: no reply within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) =>
      reject(
        new UnixSocketError(
          `${socketPath}: cannot connect (${err.code ?? err.message}): is the node running?`,
          err.code,
        ),
      ),
    );
    req.end(payload);
  });
}

export class UnixSocketError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'UnixSocketError';
  }
}
