// Who routes come from and go to, as the RIB needs to know them.

/** A configured neighbour. */
export interface PeerInfo {
  /** Small integer ≥ 1, unique in the RIB (0 is the RIB's own, locally originated routes). */
  readonly id: number;
  /** The neighbour's address (dotted quad): the last tie-breaker of the decision process. */
  readonly address: string;
  readonly asn: number;
  /** The neighbour's BGP identifier (dotted quad) from its OPEN. */
  readonly routerId: string;
  readonly ibgp: boolean;
  /** We reflect routes to and from this iBGP neighbour as its route reflector (RFC 4456). */
  readonly routeReflectorClient: boolean;
  /** Set NEXT_HOP to localAddress on routes sent over iBGP too (eBGP always gets it). */
  readonly nextHopSelf: boolean;
  /** Our address on the session: the NEXT_HOP we advertise for ourselves. */
  readonly localAddress: string;
}

/** This speaker. */
export interface LocalIdentity {
  readonly asn: number;
  /** Our BGP identifier (dotted quad). */
  readonly routerId: string;
  /** Set when we are a route reflector (RFC 4456): our CLUSTER_ID (dotted quad). */
  readonly clusterId?: string;
}

export const LOCAL_PEER_ID = 0;

/** A PeerInfo with what the decision process compares precomputed as numbers. */
export class Peer {
  /** The RIB itself: the source of locally originated routes. */
  readonly local: boolean;
  readonly ibgp: boolean;
  readonly routerIdNumber: number;
  readonly addressNumber: number;

  constructor(readonly info: PeerInfo) {
    this.local = info.id === LOCAL_PEER_ID;
    this.ibgp = info.ibgp;
    this.routerIdNumber = ipv4ToNumber(info.routerId);
    this.addressNumber = ipv4ToNumber(info.address);
  }

  /** The pseudo-peer that locally originated routes come from. */
  static local(identity: LocalIdentity): Peer {
    return new Peer({
      id: LOCAL_PEER_ID,
      address: '0.0.0.0',
      asn: identity.asn,
      routerId: identity.routerId,
      ibgp: true,
      routeReflectorClient: false,
      nextHopSelf: true,
      localAddress: '0.0.0.0',
    });
  }
}

/** Dotted quad to uint32; throws on anything else. */
export function ipv4ToNumber(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4) throw new Error(`not an IPv4 address: ${JSON.stringify(text)}`);
  let value = 0;
  for (const part of parts) {
    const octet = Number(part);
    if (!/^\d{1,3}$/.test(part) || octet > 255) throw new Error(`not an IPv4 address: ${JSON.stringify(text)}`);
    value = value * 256 + octet;
  }
  return value;
}
