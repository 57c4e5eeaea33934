// A loopback port on the host that leads to a TCP service inside a test namespace, for clients that cannot enter
// one (the test process itself, a browser it drives). A connection to the port goes through a unix socket in the
// topology's directory (a file: reachable from every namespace) to a small relay started in the namespace, which
// connects to the service there. Nothing is added to the host's network: only a listener on 127.0.0.1.
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Topology } from '../harness';
import { waitFor } from './wait';

/** The relay inside the namespace: `node -e RELAY <unix socket> <host> <port>`. */
const RELAY = `
const net = require('node:net');
const [socket, host, port] = process.argv.slice(1);
net.createServer((client) => {
  const upstream = net.connect(Number(port), host);
  client.pipe(upstream).pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
}).listen(socket);
`;

export interface LoopbackRelay {
  /** The port on 127.0.0.1. */
  port: number;
  close(): Promise<void>;
}

/** 127.0.0.1:<port> on the host to host:port inside `node`'s namespace; the relay stops with the topology. */
export async function relayFromLoopback(
  topo: Topology,
  node: string,
  host: string,
  port: number,
): Promise<LoopbackRelay> {
  const socket = path.join(topo.dir, `relay-${node}-${port}.sock`);
  const relay = await topo.spawn(node, process.execPath, ['-e', RELAY, socket, host, String(port)]);
  await waitFor(
    () => {
      if (!relay.running) throw new Error(`relay exited: ${relay.output()}`);
      return existsSync(socket);
    },
    `the relay to ${host}:${port} in ${node}`,
    5000,
    20,
  );
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(socket);
    open.add(client);
    client.on('close', () => open.delete(client));
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        for (const client of open) client.destroy();
        server.close(() => resolve());
      }),
  };
}
