// OPEN messages (RFC 4271 §4.2) with capabilities (RFC 5492) in optional parameters, including RFC 9072's
// extended optional parameters length on decode.
import { BgpError, OpenErrorSubcode } from './errors';
import { checkMessage, HEADER_LENGTH, newMessage } from './header';
import { formatIpv4, parseIpv4 } from './prefix';
import { type Capabilities, ErrorCode, MessageType, type OpenMessage } from './types';

export const BGP_VERSION = 4;

export enum CapabilityCode {
  Multiprotocol = 1,
  RouteRefresh = 2,
  ExtendedMessage = 6,
  GracefulRestart = 64,
  FourOctetAs = 65,
  EnhancedRouteRefresh = 70,
  /** The pre-standard route refresh capability some Cisco speakers still send. */
  RouteRefreshCisco = 128,
}

/** Optional parameter type 2: capabilities (RFC 5492); the only one in use. */
const PARAMETER_CAPABILITIES = 2;
/** RFC 9072: a non-extended length of 255 followed by this type announces the extended format. */
const EXTENDED_PARAMETERS_MARKER = 255;

const GRACEFUL_RESTART_RESTARTING = 0x8;
const GRACEFUL_RESTART_NOTIFICATION = 0x4;
const GRACEFUL_RESTART_FORWARDING_PRESERVED = 0x80;

function openError(subcode: OpenErrorSubcode, data: Uint8Array, message: string): BgpError {
  return new BgpError(ErrorCode.OpenMessage, subcode, data, message);
}

function readU16(bytes: Uint8Array, pos: number): number {
  return (bytes[pos] << 8) | bytes[pos + 1];
}

function readU32(bytes: Uint8Array, pos: number): number {
  return ((bytes[pos] << 24) | (bytes[pos + 1] << 16) | (bytes[pos + 2] << 8) | bytes[pos + 3]) >>> 0;
}

/**
 * Decodes an OPEN (header included). Throws BgpError 2/1 (version; data = our version as 2 bytes), 2/2 (AS 0),
 * 2/3 (BGP identifier 0), 2/4 (an optional parameter other than capabilities), 2/6 (hold time 1 or 2) and 2/0
 * for a malformed parameter or capability.
 */
export function decodeOpen(bytes: Uint8Array): OpenMessage {
  const length = checkMessage(bytes, MessageType.Open);
  const version = bytes[19];
  if (version !== BGP_VERSION) {
    throw openError(OpenErrorSubcode.UnsupportedVersionNumber, Uint8Array.of(0, BGP_VERSION), `BGP version ${version}`);
  }
  const myAs = readU16(bytes, 20);
  if (myAs === 0) throw openError(OpenErrorSubcode.BadPeerAs, bytes.slice(20, 22), 'peer AS 0'); // RFC 7607
  const holdTime = readU16(bytes, 22);
  if (holdTime === 1 || holdTime === 2) {
    throw openError(OpenErrorSubcode.UnacceptableHoldTime, bytes.slice(22, 24), `hold time ${holdTime}`);
  }
  const bgpId = readU32(bytes, 24);
  if (bgpId === 0) throw openError(OpenErrorSubcode.BadBgpIdentifier, bytes.slice(24, 28), 'BGP identifier 0.0.0.0');

  const capabilities: Capabilities = {
    multiprotocol: [],
    routeRefresh: false,
    enhancedRouteRefresh: false,
    unknown: [],
  };
  let pos = 29;
  let parametersEnd = pos + bytes[28];
  let extended = false;
  if (bytes[28] === EXTENDED_PARAMETERS_MARKER && length >= 32 && bytes[29] === EXTENDED_PARAMETERS_MARKER) {
    extended = true;
    parametersEnd = 32 + readU16(bytes, 30);
    pos = 32;
  }
  if (parametersEnd !== length) {
    throw openError(
      OpenErrorSubcode.Unspecific,
      new Uint8Array(0),
      'optional parameters length does not match the message',
    );
  }
  while (pos < parametersEnd) {
    const headerLength = extended ? 3 : 2;
    if (parametersEnd - pos < headerLength) {
      throw openError(OpenErrorSubcode.Unspecific, new Uint8Array(0), 'truncated optional parameter');
    }
    const type = bytes[pos];
    const valueStart = pos + headerLength;
    const valueEnd = valueStart + (extended ? readU16(bytes, pos + 1) : bytes[pos + 1]);
    if (valueEnd > parametersEnd) {
      throw openError(OpenErrorSubcode.Unspecific, new Uint8Array(0), 'optional parameter overruns the message');
    }
    if (type !== PARAMETER_CAPABILITIES) {
      throw openError(OpenErrorSubcode.UnsupportedOptionalParameter, new Uint8Array(0), `optional parameter ${type}`);
    }
    decodeCapabilities(bytes, valueStart, valueEnd, capabilities);
    pos = valueEnd;
  }
  return { type: MessageType.Open, version, myAs, holdTime, bgpId: formatIpv4(bgpId), capabilities };
}

function malformedCapability(code: number, length: number): BgpError {
  return openError(OpenErrorSubcode.Unspecific, new Uint8Array(0), `capability ${code} of length ${length}`);
}

function decodeCapabilities(bytes: Uint8Array, pos: number, end: number, capabilities: Capabilities): void {
  while (pos < end) {
    if (end - pos < 2) throw openError(OpenErrorSubcode.Unspecific, new Uint8Array(0), 'truncated capability');
    const code = bytes[pos];
    const length = bytes[pos + 1];
    const start = pos + 2;
    pos = start + length;
    if (pos > end) throw openError(OpenErrorSubcode.Unspecific, new Uint8Array(0), `capability ${code} overruns`);
    switch (code) {
      case CapabilityCode.Multiprotocol:
        if (length !== 4) throw malformedCapability(code, length);
        capabilities.multiprotocol.push([readU16(bytes, start), bytes[start + 3]]);
        break;
      case CapabilityCode.RouteRefresh:
      case CapabilityCode.RouteRefreshCisco:
        capabilities.routeRefresh = true;
        break;
      case CapabilityCode.ExtendedMessage:
        capabilities.extendedMessages = true;
        break;
      case CapabilityCode.EnhancedRouteRefresh:
        capabilities.enhancedRouteRefresh = true;
        break;
      case CapabilityCode.FourOctetAs: {
        if (length !== 4) throw malformedCapability(code, length);
        const asn = readU32(bytes, start);
        if (asn === 0) throw openError(OpenErrorSubcode.BadPeerAs, bytes.slice(start, start + 4), 'peer AS 0');
        capabilities.fourOctetAs = asn;
        break;
      }
      case CapabilityCode.GracefulRestart: {
        if (length < 2 || (length - 2) % 4 !== 0) throw malformedCapability(code, length);
        const flags = bytes[start] >> 4;
        const families: { afi: number; safi: number; forwardingPreserved: boolean }[] = [];
        for (let p = start + 2; p < pos; p += 4) {
          families.push({
            afi: readU16(bytes, p),
            safi: bytes[p + 2],
            forwardingPreserved: (bytes[p + 3] & GRACEFUL_RESTART_FORWARDING_PRESERVED) !== 0,
          });
        }
        capabilities.gracefulRestart = {
          restarting: (flags & GRACEFUL_RESTART_RESTARTING) !== 0,
          notification: (flags & GRACEFUL_RESTART_NOTIFICATION) !== 0,
          restartTimeSec: readU16(bytes, start) & 0x0fff,
          families,
        };
        break;
      }
      default:
        capabilities.unknown.push({ code, value: bytes.slice(start, pos) });
    }
  }
}

function encodeCapabilities(capabilities: Capabilities): number[] {
  const out: number[] = [];
  const capability = (code: number, value: readonly number[]) => {
    if (value.length > 255) throw new RangeError(`capability ${code} longer than 255 bytes`);
    out.push(code, value.length, ...value);
  };
  for (const [afi, safi] of capabilities.multiprotocol)
    capability(CapabilityCode.Multiprotocol, [afi >> 8, afi & 0xff, 0, safi]);
  if (capabilities.routeRefresh) capability(CapabilityCode.RouteRefresh, []);
  if (capabilities.extendedMessages) capability(CapabilityCode.ExtendedMessage, []);
  const gr = capabilities.gracefulRestart;
  if (gr) {
    const flags =
      (gr.restarting ? GRACEFUL_RESTART_RESTARTING : 0) | (gr.notification ? GRACEFUL_RESTART_NOTIFICATION : 0);
    const value = [(flags << 4) | ((gr.restartTimeSec >> 8) & 0x0f), gr.restartTimeSec & 0xff];
    for (const family of gr.families) {
      value.push(family.afi >> 8, family.afi & 0xff, family.safi, family.forwardingPreserved ? 0x80 : 0);
    }
    capability(CapabilityCode.GracefulRestart, value);
  }
  if (capabilities.fourOctetAs !== undefined) {
    const asn = capabilities.fourOctetAs;
    capability(CapabilityCode.FourOctetAs, [asn >>> 24, (asn >>> 16) & 0xff, (asn >>> 8) & 0xff, asn & 0xff]);
  }
  if (capabilities.enhancedRouteRefresh) capability(CapabilityCode.EnhancedRouteRefresh, []);
  for (const { code, value } of capabilities.unknown) capability(code, [...value]);
  return out;
}

/**
 * An OPEN with all capabilities in one optional parameter, in code order with unknown ones last (as BIRD does).
 * Throws RangeError when they exceed one parameter and Error on a bad BGP identifier.
 */
export function encodeOpen(open: Omit<OpenMessage, 'type'>): Uint8Array {
  const bgpId = parseIpv4(open.bgpId);
  if (bgpId === undefined) throw new Error(`BGP identifier "${open.bgpId}" is not an IPv4 address`);
  const capabilities = encodeCapabilities(open.capabilities);
  const parameters = capabilities.length > 0 ? [PARAMETER_CAPABILITIES, capabilities.length, ...capabilities] : [];
  if (parameters.length > 255) throw new RangeError('capabilities exceed one optional parameter (255 bytes)');
  const message = newMessage(HEADER_LENGTH + 10 + parameters.length, MessageType.Open);
  message.set(
    [
      open.version,
      open.myAs >> 8,
      open.myAs & 0xff,
      open.holdTime >> 8,
      open.holdTime & 0xff,
      bgpId >>> 24,
      (bgpId >>> 16) & 0xff,
      (bgpId >>> 8) & 0xff,
      bgpId & 0xff,
      parameters.length,
      ...parameters,
    ],
    HEADER_LENGTH,
  );
  return message;
}
