// A node-local status endpoint: HTTP on a unix socket (GET /status → JSON). tabby-node and tabby-bgp serve
// their status this way, and `tabbyctl node status` reads it. The handler must be cheap: it is polled.
import { existsSync, unlinkSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';

export async function serveStatus(socketPath: string, status: () => unknown): Promise<http.Server> {
  await removeStaleSocket(socketPath);
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/status' && req.url !== '/')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":"not found: try GET /status"}\n');
      return;
    }
    try {
      const body = JSON.stringify(status());
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`${body}\n`);
    } catch (err) {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify({ error: (err as Error).message })}\n`);
    }
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
  if (alive) throw new Error(`${socketPath}: another process is serving status here`);
  unlinkSync(socketPath);
}

/** Reads a status socket: the client half, for tabbyctl and tests. */
export function readStatus(socketPath: string, timeoutMs = 3000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path: '/status', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch (err) {
          reject(new Error(`${socketPath}: bad status reply: ${(err as Error).message}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${socketPath}: no reply within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(`${socketPath}: cannot read status (${err.code ?? err.message}): is the node running?`)),
    );
  });
}
