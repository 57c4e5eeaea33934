// Opening BGP's TCP connections. Plain sockets come from Node's net module; TCP-MD5 (RFC 2385) and GTSM
// (RFC 5082) need socket options before the SYN, which only the native addon can set.
import net from 'node:net';
import { connectTcp, listenTcp, nativeAvailable, setListenMd5, setSocketTtl } from '../../native';

export interface ConnectOptions {
  host: string;
  port: number;
  localAddress?: string;
  password: string;
  /** GTSM hop count; 0 disables. */
  ttlSecurity: number;
  timeoutMs: number;
}

/** GTSM: send with TTL 255, accept only packets that crossed at most `hops` routers. */
function gtsm(hops: number): { ttl: number; minTtl: number } {
  return { ttl: 255, minTtl: 256 - hops };
}

export async function connectBgp(o: ConnectOptions): Promise<net.Socket> {
  if (o.password || o.ttlSecurity > 0) {
    if (!nativeAvailable) {
      throw new Error('TCP-MD5 and ttlSecurity need the native addon, which is not built (npm run build)');
    }
    return connectTcp(o.host, o.port, {
      timeoutMs: o.timeoutMs,
      ...(o.password ? { md5: { peerAddress: o.host, key: o.password } } : {}),
      ...(o.ttlSecurity > 0 ? gtsm(o.ttlSecurity) : {}),
      ...(o.localAddress ? { localAddress: o.localAddress } : {}),
    });
  }
  return new Promise((resolve, reject) => {
    const socket = net.connect({
      host: o.host,
      port: o.port,
      ...(o.localAddress ? { localAddress: o.localAddress } : {}),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error(`connect ${o.host}:${o.port}: timed out`), { code: 'ETIMEDOUT' }));
    }, o.timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** A BGP listener. With the native addon, per-peer TCP-MD5 keys can be set on it. */
export class BgpListener {
  private constructor(
    readonly server: net.Server,
    private readonly native: boolean,
  ) {}

  static async open(address: string, port: number, onConnection: (s: net.Socket) => void): Promise<BgpListener> {
    let server: net.Server;
    if (nativeAvailable) {
      server = await listenTcp(address, port);
    } else {
      server = net.createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: address, port }, () => {
          server.removeListener('error', reject);
          resolve();
        });
      });
    }
    server.on('connection', onConnection);
    // An accept error (e.g. EMFILE) must not take the speaker down; the peer will retry.
    server.on('error', () => undefined);
    return new BgpListener(server, nativeAvailable);
  }

  setPassword(peerAddress: string, password: string): void {
    if (!this.native) {
      if (password) throw new Error('TCP-MD5 needs the native addon, which is not built (npm run build)');
      return;
    }
    setListenMd5(this.server, peerAddress, password);
  }

  /**
   * GTSM on the passive side needs the listening socket itself to send TTL 255: its SYN-ACK goes out before
   * any accepted socket exists, and a GTSM peer drops one with a lower TTL.
   */
  enableTtlSecurity(): void {
    if (this.native) setSocketTtl(this.server, 255);
  }

  /** GTSM on the passive side: applied to the accepted socket. */
  static applyTtlSecurity(socket: net.Socket, hops: number): void {
    if (hops <= 0 || !nativeAvailable) return;
    const { ttl, minTtl } = gtsm(hops);
    setSocketTtl(socket, ttl, minTtl);
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
