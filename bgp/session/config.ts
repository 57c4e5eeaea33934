// What a session needs to know about itself and its peer. Defaults are Calico's BIRD configuration
// (DESIGN §2): hold 240 s, keepalive 80 s, connect retry 5 s, graceful restart 120 s.
import { AFI_IPV4, SAFI_UNICAST } from '../packet/types';

export interface LocalSpeaker {
  asNumber: number;
  /** BGP identifier, dotted quad. */
  routerId: string;
}

export interface PeerConfig {
  address: string;
  port: number;
  asNumber: number;
  /** Source address for outgoing connections (optional). */
  localAddress?: string;
  /** Never connect; wait for the peer (Calico's mesh is one-way: passive toward greater addresses). */
  passive: boolean;
  /** TCP-MD5 key (RFC 2385); empty for none. */
  password: string;
  holdTimeSec: number;
  keepaliveTimeSec: number;
  connectRetrySec: number;
  /** GTSM (RFC 5082): the peer is at most this many hops away; 0 disables. */
  ttlSecurity: number;
  gracefulRestart: boolean;
  /** Our restart time advertised in the graceful-restart capability. */
  restartTimeSec: number;
  /** Address families to negotiate, as [afi, safi]. */
  families: [number, number][];
}

export const PEER_DEFAULTS: Omit<PeerConfig, 'address' | 'asNumber'> = {
  port: 179,
  passive: false,
  password: '',
  holdTimeSec: 240,
  keepaliveTimeSec: 80,
  connectRetrySec: 5,
  ttlSecurity: 0,
  gracefulRestart: true,
  restartTimeSec: 120,
  families: [[AFI_IPV4, SAFI_UNICAST]],
};
