// BGP sessions: the per-peer state machine, its connections and transports. The speaker (../speaker) owns them.
export { Backoff, type BackoffOptions } from './backoff';
export { type LocalSpeaker, PEER_DEFAULTS, type PeerConfig } from './config';
export type { CloseReason, ConnectionState, Direction } from './connection';
export { buildOpen, type Negotiated, negotiate } from './negotiate';
export { describeNotification } from './notifications';
export { BgpSession, type SessionHandlers, type SessionState } from './session';
export { BgpListener, type ConnectOptions, connectBgp } from './transport';
