// The OPEN exchange, as pure functions: what we offer, and what a session runs with once both OPENs are in
// (RFC 4271 §4.2 and §6.2, RFC 6793 4-octet AS, RFC 4724 graceful restart, RFC 5492 capabilities).
import { AS_TRANS, BgpError } from '../packet';
import { type Capabilities, ErrorCode, type OpenMessage } from '../packet/types';
import type { LocalSpeaker, PeerConfig } from './config';

const OPEN_SUBCODE = { badPeerAs: 2, badBgpId: 3, unacceptableHoldTime: 6 } as const;

export interface Negotiated {
  peerAs: number;
  peerRouterId: string;
  ibgp: boolean;
  fourOctetAs: boolean;
  holdTimeSec: number;
  /** 0 when the hold time is 0: no keepalives at all. */
  keepaliveSec: number;
  routeRefresh: boolean;
  enhancedRouteRefresh: boolean;
  /** Families both sides offered. */
  families: [number, number][];
  /** The peer's graceful-restart capability, when it sent one and we offered ours. */
  peerGracefulRestart?: NonNullable<Capabilities['gracefulRestart']>;
}

export function buildOpen(local: LocalSpeaker, peer: PeerConfig, restarting: boolean): Omit<OpenMessage, 'type'> {
  const capabilities: Capabilities = {
    multiprotocol: peer.families.map(([afi, safi]) => [afi, safi]),
    routeRefresh: true,
    enhancedRouteRefresh: true,
    fourOctetAs: local.asNumber,
    unknown: [],
  };
  if (peer.gracefulRestart) {
    capabilities.gracefulRestart = {
      restarting,
      restartTimeSec: peer.restartTimeSec,
      // We keep the kernel routes we installed across our own restart, so forwarding is preserved.
      families: peer.families.map(([afi, safi]) => ({ afi, safi, forwardingPreserved: true })),
    };
  }
  return {
    version: 4,
    myAs: local.asNumber > 0xffff ? AS_TRANS : local.asNumber,
    holdTime: peer.holdTimeSec,
    bgpId: local.routerId,
    capabilities,
  };
}

function openError(subcode: number, message: string, data: Uint8Array = new Uint8Array(0)): BgpError {
  return new BgpError(ErrorCode.OpenMessage, subcode, data, message);
}

/** Checks the peer's OPEN against our configuration and settles the session parameters. */
export function negotiate(local: LocalSpeaker, peer: PeerConfig, theirs: OpenMessage): Negotiated {
  const theirCaps = theirs.capabilities;
  const peerAs = theirCaps.fourOctetAs ?? theirs.myAs;
  if (peerAs !== peer.asNumber) {
    const data = new Uint8Array([(theirs.myAs >> 8) & 0xff, theirs.myAs & 0xff]);
    throw openError(OPEN_SUBCODE.badPeerAs, `peer AS ${peerAs} is not the configured ${peer.asNumber}`, data);
  }
  const ibgp = peerAs === local.asNumber;
  if (theirs.bgpId === '0.0.0.0' || (ibgp && theirs.bgpId === local.routerId)) {
    throw openError(OPEN_SUBCODE.badBgpId, `peer BGP identifier ${theirs.bgpId} is not acceptable`);
  }
  if (theirs.holdTime === 1 || theirs.holdTime === 2) {
    throw openError(OPEN_SUBCODE.unacceptableHoldTime, `peer hold time ${theirs.holdTime} s is below 3 s`);
  }
  const holdTimeSec = Math.min(peer.holdTimeSec, theirs.holdTime);
  const keepaliveSec =
    holdTimeSec === 0 ? 0 : Math.max(1, Math.min(peer.keepaliveTimeSec, Math.floor(holdTimeSec / 3)));
  // A peer that sends no multiprotocol capability speaks IPv4 unicast only (RFC 4760 §8).
  const offered = theirCaps.multiprotocol.length > 0 ? theirCaps.multiprotocol : [[1, 1] as [number, number]];
  const families = peer.families.filter(([afi, safi]) => offered.some(([a, s]) => a === afi && s === safi));
  const negotiated: Negotiated = {
    peerAs,
    peerRouterId: theirs.bgpId,
    ibgp,
    fourOctetAs: theirCaps.fourOctetAs !== undefined,
    holdTimeSec,
    keepaliveSec,
    routeRefresh: theirCaps.routeRefresh,
    enhancedRouteRefresh: theirCaps.enhancedRouteRefresh,
    families,
  };
  if (peer.gracefulRestart && theirCaps.gracefulRestart) negotiated.peerGracefulRestart = theirCaps.gracefulRestart;
  return negotiated;
}
