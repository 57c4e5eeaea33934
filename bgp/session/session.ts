// A BGP peer session (RFC 4271 §8): connects (unless passive), accepts the peer's connections, resolves
// collisions (§6.8), retries with backoff, and tells its owner when it is established, what arrives and why
// it went down. The state and the last reason are kept for `node status`, so a session never sits in Active
// without saying why.
import type net from 'node:net';
import type { DecodedUpdate } from '../packet';
import { ErrorCode, type RouteRefreshMessage } from '../packet/types';
import { Backoff } from './backoff';
import type { LocalSpeaker, PeerConfig } from './config';
import { type CloseReason, Connection } from './connection';
import type { Negotiated } from './negotiate';
import { connectBgp } from './transport';

export type SessionState = 'Idle' | 'Connect' | 'Active' | 'OpenSent' | 'OpenConfirm' | 'Established';

export interface SessionHandlers {
  onStateChange?(session: BgpSession, state: SessionState): void;
  onEstablished(session: BgpSession, negotiated: Negotiated): void;
  onUpdate(session: BgpSession, update: DecodedUpdate): void;
  onRouteRefresh?(session: BgpSession, message: RouteRefreshMessage): void;
  /** The established session ended. */
  onDown(session: BgpSession, reason: CloseReason): void;
  /** The socket can take more after send() returned false. */
  onDrain?(session: BgpSession): void;
}

const CEASE_COLLISION = 7;
const CEASE_ADMIN_SHUTDOWN = 2;

function ipv4ToNumber(ip: string): number {
  return ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

export class BgpSession {
  state: SessionState = 'Idle';
  /** When the state last changed. */
  since = new Date();
  /** What happened last, for operators: "Established", "Connect: connection refused", "Received: Cease ...". */
  info = '';
  negotiated: Negotiated | undefined;
  /** What the last established session negotiated; kept after it ends (graceful restart needs it then). */
  lastNegotiated: Negotiated | undefined;
  /** Our address on the last established connection: the NEXT_HOP we advertise. */
  localAddress: string | undefined;
  /** Set while our own graceful restart is in progress: the OPEN carries the Restart State bit. */
  restarting = false;
  private readonly connections = new Set<Connection>();
  private established: Connection | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private connecting = false;
  private running = false;
  private readonly backoff: Backoff;

  constructor(
    readonly local: LocalSpeaker,
    readonly peer: PeerConfig,
    private readonly handlers: SessionHandlers,
  ) {
    this.backoff = new Backoff({
      initialMs: peer.connectRetrySec * 1000,
      maxMs: Math.max(60_000, peer.connectRetrySec * 1000),
    });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    if (this.peer.passive) this.setState('Active', 'Waiting for the peer to connect (passive)');
    else void this.connect();
  }

  /** Ends the session for good (until start()), telling the peer why (RFC 8203 shutdown communication). */
  stop(text = ''): void {
    this.running = false;
    clearTimeout(this.retryTimer);
    for (const c of [...this.connections]) {
      c.close({ message: 'Stopped' }, { code: ErrorCode.Cease, subcode: CEASE_ADMIN_SHUTDOWN, text });
    }
    this.setState('Idle', 'Stopped');
  }

  /** Drops the session without a NOTIFICATION, as a crash would: the peer keeps our routes if it helps us restart. */
  abandon(): void {
    this.running = false;
    clearTimeout(this.retryTimer);
    for (const c of [...this.connections]) c.socket.destroy();
  }

  /** A connection from the peer's address, handed over by the speaker's listener. */
  acceptIncoming(socket: net.Socket): void {
    if (!this.running) {
      socket.destroy();
      return;
    }
    if (this.established) {
      // RFC 4271 §6.8: an established session wins over any new connection.
      const c = this.newConnection(socket, 'incoming');
      c.close({ message: 'Rejected a second connection' }, { code: ErrorCode.Cease, subcode: CEASE_COLLISION });
      return;
    }
    this.newConnection(socket, 'incoming');
    this.updateStateFromConnections();
  }

  send(messages: readonly Uint8Array[]): boolean {
    return this.established ? this.established.send(messages) : false;
  }

  get isEstablished(): boolean {
    return this.established !== undefined;
  }

  /** The codec context of the established connection. */
  codecContext() {
    return this.established?.codecContext() ?? { fourOctetAs: false, ibgp: this.peer.asNumber === this.local.asNumber };
  }

  private newConnection(socket: net.Socket, direction: 'incoming' | 'outgoing'): Connection {
    const conn = new Connection(
      socket,
      direction,
      this.local,
      this.peer,
      {
        onOpenReceived: (c) => this.resolveCollision(c),
        onEstablished: (c) => this.onConnectionEstablished(c),
        onUpdate: (_c, u) => this.handlers.onUpdate(this, u),
        onRouteRefresh: (_c, m) => this.handlers.onRouteRefresh?.(this, m),
        onClosed: (c, reason) => this.onConnectionClosed(c, reason),
      },
      this.restarting,
    );
    socket.on('drain', () => {
      if (conn === this.established) this.handlers.onDrain?.(this);
    });
    this.connections.add(conn);
    return conn;
  }

  private async connect(): Promise<void> {
    if (!this.running || this.connecting || this.established) return;
    this.connecting = true;
    this.setState('Connect', `Connecting to ${this.peer.address}`);
    try {
      const socket = await connectBgp({
        host: this.peer.address,
        port: this.peer.port,
        password: this.peer.password,
        ttlSecurity: this.peer.ttlSecurity,
        timeoutMs: Math.max(5000, this.peer.connectRetrySec * 1000),
        ...(this.peer.localAddress ? { localAddress: this.peer.localAddress } : {}),
      });
      this.connecting = false;
      if (!this.running || this.established) {
        socket.destroy();
        return;
      }
      this.newConnection(socket, 'outgoing');
      this.updateStateFromConnections();
    } catch (err) {
      this.connecting = false;
      if (!this.running) return;
      const e = err as NodeJS.ErrnoException;
      const why =
        e.code === 'ETIMEDOUT' && this.peer.password
          ? 'connection timed out (check the TCP-MD5 password on both sides)'
          : e.code === 'ECONNREFUSED'
            ? 'connection refused (is BGP running on the peer, on this port?)'
            : e.message;
      if (this.connections.size === 0) this.setState('Active', `Connect: ${why}`);
      this.scheduleRetry();
    }
  }

  private scheduleRetry(): void {
    clearTimeout(this.retryTimer);
    if (!this.running || this.peer.passive) return;
    this.retryTimer = setTimeout(() => void this.connect(), this.backoff.next());
  }

  /** RFC 4271 §6.8: of two connections that both got an OPEN, keep the one opened by the higher BGP identifier. */
  private resolveCollision(conn: Connection): void {
    this.updateStateFromConnections();
    for (const other of this.connections) {
      if (other === conn || other.state === 'Closed') continue;
      if (other.state === 'Established') {
        conn.close({ message: 'Connection collision' }, { code: ErrorCode.Cease, subcode: CEASE_COLLISION });
        return;
      }
      if (other.state !== 'OpenConfirm') continue;
      const localWins = ipv4ToNumber(this.local.routerId) > ipv4ToNumber(conn.negotiated!.peerRouterId);
      const keepOutgoing = localWins;
      const loser = (conn.direction === 'outgoing') === keepOutgoing ? other : conn;
      loser.close({ message: 'Connection collision' }, { code: ErrorCode.Cease, subcode: CEASE_COLLISION });
    }
    this.updateStateFromConnections();
  }

  private onConnectionEstablished(conn: Connection): void {
    this.established = conn;
    this.negotiated = conn.negotiated;
    this.lastNegotiated = conn.negotiated;
    this.localAddress = conn.socket.localAddress?.replace(/^::ffff:/, '');
    this.backoff.reset();
    clearTimeout(this.retryTimer);
    for (const other of [...this.connections]) {
      if (other !== conn)
        other.close({ message: 'Connection collision' }, { code: ErrorCode.Cease, subcode: CEASE_COLLISION });
    }
    this.setState('Established', 'Established');
    this.handlers.onEstablished(this, conn.negotiated!);
  }

  private onConnectionClosed(conn: Connection, reason: CloseReason): void {
    this.connections.delete(conn);
    if (conn === this.established) {
      this.established = undefined;
      this.negotiated = undefined;
      this.setState(this.running ? 'Active' : 'Idle', reason.message);
      this.handlers.onDown(this, reason);
    } else if (this.connections.size === 0 && this.running && this.state !== 'Connect') {
      this.setState('Active', reason.message);
    }
    if (this.running && this.connections.size === 0 && !this.connecting) this.scheduleRetry();
  }

  private updateStateFromConnections(): void {
    if (this.established) return;
    const states = [...this.connections].map((c) => c.state);
    if (states.includes('OpenConfirm')) this.setState('OpenConfirm', "OpenConfirm: waiting for the peer's KEEPALIVE");
    else if (states.includes('OpenSent')) this.setState('OpenSent', "OpenSent: waiting for the peer's OPEN");
  }

  private setState(state: SessionState, info: string): void {
    this.info = info;
    if (state === this.state) return;
    this.state = state;
    this.since = new Date();
    this.handlers.onStateChange?.(this, state);
  }
}
