// One end of a TCP connection for native-tcp.test.ts, run inside a network namespace (only a new process can enter
// one): `ip netns exec <ns> node native-tcp-peer.js '<PeerCommand as JSON>'`. It reports on stdout, one JSON
// object per line.
import type * as net from 'node:net';
import { connectTcp, listenTcp, setListenMd5, setSocketTtl, type TcpSocketOptions } from '../../native';

export interface TtlSettings {
  ttl: number;
  minTtl?: number;
}

/** Listens and echoes what a connection sends, then ends it. Prints `{"event":"listening"}`; runs until killed. */
export interface ServerCommand {
  role: 'server';
  address: string;
  port: number;
  /** TCP-MD5 keys by peer address, set on the listening socket. */
  md5Keys?: Record<string, string>;
  /** setSocketTtl on the listening socket. */
  listenerTtl?: TtlSettings;
}

/** Connects, optionally sends, reads for a while, then prints a ClientResult and exits 0. */
export interface ClientCommand {
  role: 'client';
  host: string;
  port: number;
  options: TcpSocketOptions & { timeoutMs: number };
  /** Written once connected. */
  send?: string;
  /** How long to read after connecting, unless the peer ends the connection first. */
  readMs: number;
}

export type PeerCommand = ServerCommand | ClientCommand;

export interface ClientResult {
  connected: boolean;
  /** The rejection's code and message when not connected. */
  code?: string;
  message?: string;
  /** From calling connectTcp to its outcome. */
  elapsedMs: number;
  /** Ticks of a 20 ms interval while connectTcp was pending: proof the event loop kept running. */
  ticks: number;
  /** What arrived after connecting, as hex. */
  receivedHex: string;
  /** The peer ended or reset the connection within readMs. */
  closedByPeer: boolean;
}

const TICK_MS = 20;

function report(line: object): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

async function serve(command: ServerCommand): Promise<void> {
  const server = await listenTcp(command.address, command.port);
  for (const [peer, key] of Object.entries(command.md5Keys ?? {})) setListenMd5(server, peer, key);
  if (command.listenerTtl) setSocketTtl(server, command.listenerTtl.ttl, command.listenerTtl.minTtl);
  server.on('connection', (socket: net.Socket) => {
    socket.on('error', () => socket.destroy());
    socket.once('data', (data) => socket.end(data));
  });
  report({ event: 'listening' });
}

/** Reads from `socket` for `readMs` or until the peer closes it. */
function readFor(socket: net.Socket, readMs: number): Promise<{ received: Buffer; closedByPeer: boolean }> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve) => {
    const finish = (closedByPeer: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ received: Buffer.concat(chunks), closedByPeer });
    };
    const timer = setTimeout(() => finish(false), readMs);
    socket.once('end', () => finish(true));
    socket.once('error', () => finish(true));
  });
}

async function connect(command: ClientCommand): Promise<ClientResult> {
  let ticks = 0;
  const ticker = setInterval(() => {
    ticks += 1;
  }, TICK_MS);
  const started = Date.now();
  let socket: net.Socket;
  try {
    socket = await connectTcp(command.host, command.port, command.options);
  } catch (err) {
    const { code, message } = err as NodeJS.ErrnoException;
    return {
      connected: false,
      code,
      message,
      elapsedMs: Date.now() - started,
      ticks,
      receivedHex: '',
      closedByPeer: false,
    };
  } finally {
    clearInterval(ticker);
  }
  const elapsedMs = Date.now() - started;
  if (command.send !== undefined) socket.write(command.send);
  const { received, closedByPeer } = await readFor(socket, command.readMs);
  return { connected: true, elapsedMs, ticks, receivedHex: received.toString('hex'), closedByPeer };
}

async function main(): Promise<void> {
  const command = JSON.parse(process.argv[2]) as PeerCommand;
  if (command.role === 'server') await serve(command);
  else report(await connect(command));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
