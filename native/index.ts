// TCP with what Node's net module lacks and BGP needs: TCP-MD5 (RFC 2385) and GTSM TTLs (RFC 5082) set before the
// first packet. tabby's native addon (native/src) does the socket calls and hands over raw fds; this module wraps
// them in net.Socket / net.Server, so everything after the connect or accept is ordinary Node.

import * as fs from 'node:fs';
import * as net from 'node:net';
import { loadNativeAddon } from './addon';

export interface TcpSocketOptions {
  /** RFC 2385 TCP-MD5 key for connections with this peer address ('' or absent: none). */
  md5?: { peerAddress: string; key: string };
  /** IP_TTL for outgoing packets (GTSM sends 255). */
  ttl?: number;
  /** IP_MINTTL: drop incoming packets with a smaller TTL (GTSM: 255 - hops + 1). */
  minTtl?: number;
  /** Local address to bind before connecting (optional). */
  localAddress?: string;
}

/** The addon's functions (native/src/tcp.h), all on raw fds. */
interface NativeBinding {
  connect(host: string, port: number, options: TcpSocketOptions & { timeoutMs: number }): Promise<number>;
  listen(address: string, port: number, backlog: number): number;
  setMd5(fd: number, peerAddress: string, key: string): void;
  setTtl(fd: number, ttl: number, minTtl?: number): void;
}

/** Node's own default backlog for server.listen(). */
const DEFAULT_BACKLOG = 511;

const loaded = loadNativeAddon() as NativeBinding | Error;

/** Whether the addon loaded (false on a machine where it could not be built; callers then fall back). */
export const nativeAvailable: boolean = !(loaded instanceof Error);

function binding(): NativeBinding {
  if (loaded instanceof Error) throw new Error(loaded.message);
  return loaded;
}

/** Why a connect that timed out may have: the silent drops TCP-MD5 and GTSM cause look exactly like a dead peer. */
function timeoutHint(opts: TcpSocketOptions): string | undefined {
  const causes: string[] = [];
  if (opts.md5?.key) causes.push('a TCP-MD5 key that differs from the peer’s (or a peer without one) drops our SYNs');
  if (opts.minTtl) causes.push(`a reply with TTL below ${opts.minTtl} (peer not sending TTL 255?) is dropped`);
  return causes.length > 0 ? causes.join('; ') : undefined;
}

/** A net.Socket on a connected fd; the fd is closed if Node cannot take it. */
function adoptSocket(fd: number): net.Socket {
  try {
    return new net.Socket({ fd, readable: true, writable: true });
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

/**
 * Connects a TCP socket with the options applied BEFORE the SYN, without blocking the event loop (the connect
 * runs non-blocking, watched by a uv_poll handle on the loop: no thread waits), and resolves with a connected net.Socket
 * (new net.Socket({ fd })). Rejects with a clear Error (ECONNREFUSED, ETIMEDOUT after timeoutMs, EHOSTUNREACH...)
 * — a TCP-MD5 key mismatch means the peer drops our SYNs, so it ends as ETIMEDOUT and never hangs the process.
 *
 * `host` must be an IP address (no name lookup). The error carries Node's fields: `code` (the errno name), `errno`,
 * `syscall`; an ETIMEDOUT with MD5 or minTtl set names those as likely causes.
 */
export async function connectTcp(
  host: string,
  port: number,
  opts: TcpSocketOptions & { timeoutMs: number },
): Promise<net.Socket> {
  let fd: number;
  try {
    fd = await binding().connect(host, port, opts);
  } catch (err) {
    const hint = (err as NodeJS.ErrnoException).code === 'ETIMEDOUT' ? timeoutHint(opts) : undefined;
    if (hint !== undefined) (err as Error).message += `: ${hint}`;
    throw err;
  }
  return adoptSocket(fd);
}

/** The fd of each server from listenTcp, for setListenMd5 and setSocketTtl. */
const serverFds = new WeakMap<net.Server, number>();

/**
 * A listening TCP server socket (IPv4 or IPv6 by address) with SO_REUSEADDR, returning a net.Server that is
 * already listening (server.listen({ fd })). MD5 keys are set per peer on the listening socket.
 */
export async function listenTcp(address: string, port: number, opts: { backlog?: number } = {}): Promise<net.Server> {
  const backlog = opts.backlog ?? DEFAULT_BACKLOG;
  const fd = binding().listen(address, port, backlog);
  const server = net.createServer();
  // From listen() on, the server's handle owns the fd and closes it with the server. Node fails here only for an fd
  // that is not a listening TCP socket, which this one always is.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ fd, backlog }, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  serverFds.set(server, fd);
  return server;
}

/** The fd of an open socket, or of a listening server from listenTcp. */
function fdOf(target: net.Socket | net.Server, caller: string): number {
  if (target instanceof net.Server) {
    const fd = serverFds.get(target);
    // After close() the fd number may already belong to another file.
    if (fd === undefined || !target.listening) throw new Error(`${caller}: not a listening server from listenTcp`);
    return fd;
  }
  // Node keeps a TCP socket's fd on its libuv handle (TCPWrap) on Linux; the handle is gone once destroyed.
  const fd = (target as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error(`${caller}: the socket is not open`);
  return fd;
}

/** Adds, changes ('' removes) the TCP-MD5 key for a peer on a listening server from listenTcp. */
export function setListenMd5(server: net.Server, peerAddress: string, key: string): void {
  binding().setMd5(fdOf(server, 'setListenMd5'), peerAddress, key);
}

/**
 * Applies IP_TTL / IP_MINTTL on an accepted or connected socket (GTSM on the passive side); minTtl absent leaves it.
 * On a listening server from listenTcp it sets what its connections start with: the TTL of its SYN-ACKs (a GTSM
 * peer with minTtl 255 drops a SYN-ACK sent with the default TTL 64) and the minimum TTL of SYNs it answers.
 */
export function setSocketTtl(socket: net.Socket | net.Server, ttl: number, minTtl?: number): void {
  binding().setTtl(fdOf(socket, 'setSocketTtl'), ttl, minTtl);
}
