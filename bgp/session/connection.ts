// One TCP connection's BGP conversation: OPEN exchange, keepalives and hold timer, then messages in and out.
// A session may briefly own two connections (ours and the peer's) until collision detection keeps one.
import type net from 'node:net';
import {
  BgpError,
  type DecodedUpdate,
  decodeMessage,
  decodeOpen,
  decodeUpdate,
  encodeKeepalive,
  encodeNotification,
  encodeOpen,
  MessageReader,
} from '../packet';
import {
  ErrorCode,
  MessageType,
  type NotificationMessage,
  type OpenMessage,
  type RouteRefreshMessage,
} from '../packet/types';
import type { LocalSpeaker, PeerConfig } from './config';
import { buildOpen, type Negotiated, negotiate } from './negotiate';
import { describeNotification } from './notifications';

export type ConnectionState = 'OpenSent' | 'OpenConfirm' | 'Established' | 'Closed';
export type Direction = 'outgoing' | 'incoming';

/** Why a connection ended, worded for `node status` INFO. */
export interface CloseReason {
  message: string;
  /** The NOTIFICATION the peer sent, if that is what ended it. */
  received?: NotificationMessage;
  /** The NOTIFICATION we sent, if we ended it with one. */
  sent?: { code: number; subcode: number };
}

export interface ConnectionHandlers {
  onOpenReceived(conn: Connection): void;
  onEstablished(conn: Connection): void;
  onUpdate(conn: Connection, update: DecodedUpdate): void;
  onRouteRefresh(conn: Connection, message: RouteRefreshMessage): void;
  onClosed(conn: Connection, reason: CloseReason): void;
}

/** RFC 4271 §8: the hold timer before the OPEN is in ("a large value", 4 minutes suggested). */
const INITIAL_HOLD_MS = 240_000;

export class Connection {
  state: ConnectionState = 'OpenSent';
  negotiated: Negotiated | undefined;
  peerOpen: OpenMessage | undefined;
  private readonly reader = new MessageReader();
  private holdTimer: NodeJS.Timeout | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly socket: net.Socket,
    readonly direction: Direction,
    private readonly local: LocalSpeaker,
    private readonly peer: PeerConfig,
    private readonly handlers: ConnectionHandlers,
    restarting: boolean,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (err) => this.close({ message: `Socket: ${err.message}` }));
    socket.on('close', () => this.close({ message: 'Socket: connection closed' }));
    this.armHoldTimer(INITIAL_HOLD_MS);
    this.write(encodeOpen(buildOpen(local, peer, restarting)));
  }

  /** Sends messages in one batch; returns false when the socket's buffer is full (wait for `drain`). */
  send(messages: readonly Uint8Array[]): boolean {
    if (this.state === 'Closed') return false;
    this.socket.cork();
    let ok = true;
    for (const m of messages) ok = this.socket.write(m);
    this.socket.uncork();
    return ok;
  }

  /** Ends the connection, with a NOTIFICATION when one is given. */
  close(reason: CloseReason, notification?: { code: number; subcode: number; data?: Uint8Array; text?: string }) {
    if (this.state === 'Closed') return;
    this.state = 'Closed';
    clearTimeout(this.holdTimer);
    clearInterval(this.keepaliveTimer);
    if (notification) {
      this.socket.end(
        encodeNotification(notification.code, notification.subcode, notification.data, notification.text),
      );
      reason = { ...reason, sent: { code: notification.code, subcode: notification.subcode } };
      // A peer that never reads must not keep the socket open.
      setTimeout(() => this.socket.destroy(), 1000).unref();
    } else {
      this.socket.destroy();
    }
    this.handlers.onClosed(this, reason);
  }

  private write(message: Uint8Array): void {
    if (this.state !== 'Closed') this.socket.write(message);
  }

  private armHoldTimer(ms: number): void {
    clearTimeout(this.holdTimer);
    // A closed connection can still read what the peer sent before it saw our NOTIFICATION: no timer for it.
    if (ms <= 0 || this.state === 'Closed') return;
    this.holdTimer = setTimeout(
      () => this.close({ message: 'Error: Hold timer expired' }, { code: ErrorCode.HoldTimerExpired, subcode: 0 }),
      ms,
    );
  }

  private receive(chunk: Buffer): void {
    try {
      this.reader.push(chunk);
      for (let bytes = this.reader.next(); bytes; bytes = this.reader.next()) {
        this.handle(bytes);
        if (this.state === 'Closed') return;
      }
    } catch (err) {
      if (err instanceof BgpError) {
        this.close({ message: `Error: ${err.message}` }, { code: err.code, subcode: err.subcode, data: err.data });
      } else {
        // A bug of ours, not the peer's: reset the session rather than the process.
        this.close({ message: `Error: internal: ${(err as Error).message}` }, { code: ErrorCode.Cease, subcode: 8 });
      }
    }
  }

  private handle(bytes: Uint8Array): void {
    const type = bytes[18] as MessageType;
    if (this.negotiated) this.armHoldTimer(this.negotiated.holdTimeSec * 1000);
    if (type === MessageType.Notification) {
      const n = decodeMessage(bytes, this.codecContext()) as NotificationMessage;
      this.close({ message: `Received: ${describeNotification(n)}`, received: n });
      return;
    }
    switch (this.state) {
      case 'OpenSent':
        if (type !== MessageType.Open) throw fsmError(1, 'OpenSent');
        this.receiveOpen(decodeOpen(bytes));
        return;
      case 'OpenConfirm':
        if (type !== MessageType.Keepalive) throw fsmError(2, 'OpenConfirm');
        this.state = 'Established';
        this.handlers.onEstablished(this);
        return;
      case 'Established':
        if (type === MessageType.Update) this.handlers.onUpdate(this, decodeUpdate(bytes, this.codecContext()));
        else if (type === MessageType.RouteRefresh) {
          this.handlers.onRouteRefresh(this, decodeMessage(bytes, this.codecContext()) as RouteRefreshMessage);
        } else if (type === MessageType.Open) throw fsmError(3, 'Established');
        return;
      default:
        return;
    }
  }

  private receiveOpen(open: OpenMessage): void {
    this.negotiated = negotiate(this.local, this.peer, open);
    this.peerOpen = open;
    this.state = 'OpenConfirm';
    this.write(encodeKeepalive());
    this.armHoldTimer(this.negotiated.holdTimeSec * 1000);
    if (this.negotiated.keepaliveSec > 0) {
      this.keepaliveTimer = setInterval(() => this.write(encodeKeepalive()), this.negotiated.keepaliveSec * 1000);
    }
    this.handlers.onOpenReceived(this);
  }

  codecContext() {
    return { fourOctetAs: this.negotiated?.fourOctetAs ?? false, ibgp: this.negotiated?.ibgp ?? false };
  }
}

/** RFC 6608 FSM error subcodes: unexpected message in OpenSent (1), OpenConfirm (2), Established (3). */
function fsmError(subcode: number, state: string): BgpError {
  return new BgpError(ErrorCode.FsmError, subcode, new Uint8Array(0), `unexpected message in ${state}`);
}
