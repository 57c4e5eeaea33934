// NOTIFICATION (RFC 4271 §4.5) with the shutdown communication of RFC 9003, KEEPALIVE (§4.4) and ROUTE-REFRESH
// (RFC 2918, with the RFC 7313 message subtypes).
import { BgpError, CeaseSubcode, RouteRefreshErrorSubcode } from './errors';
import { checkMessage, HEADER_LENGTH, MAX_MESSAGE_LENGTH, newMessage } from './header';
import {
  ErrorCode,
  type KeepaliveMessage,
  MessageType,
  type NotificationMessage,
  type RouteRefreshMessage,
} from './types';

/** RFC 9003: the shutdown communication is at most 255 bytes of UTF-8. */
const MAX_SHUTDOWN_COMMUNICATION = 255;

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

function carriesShutdownCommunication(code: number, subcode: number): boolean {
  return (
    code === ErrorCode.Cease &&
    (subcode === CeaseSubcode.AdministrativeShutdown || subcode === CeaseSubcode.AdministrativeReset)
  );
}

/** Decodes a NOTIFICATION (header included); a malformed shutdown communication is simply not reported. */
export function decodeNotification(bytes: Uint8Array): NotificationMessage {
  const length = checkMessage(bytes, MessageType.Notification);
  const code = bytes[19];
  const subcode = bytes[20];
  const data = bytes.slice(21, length);
  const notification: NotificationMessage = { type: MessageType.Notification, code, subcode, data };
  if (carriesShutdownCommunication(code, subcode) && data.length > 1 && data[0] > 0 && data[0] < data.length) {
    try {
      notification.shutdownText = utf8Decoder.decode(data.subarray(1, 1 + data[0]));
    } catch {
      // Not UTF-8: RFC 9003 §4 says to log it as malformed; the NOTIFICATION itself still counts.
    }
  }
  return notification;
}

/** The UTF-8 of `text` cut to at most 255 bytes on a character boundary. */
function shutdownCommunication(text: string): Uint8Array {
  const encoded = new TextEncoder().encode(text);
  let length = Math.min(encoded.length, MAX_SHUTDOWN_COMMUNICATION);
  if (length < encoded.length) {
    while (length > 0 && (encoded[length] & 0xc0) === 0x80) length--;
  }
  const value = new Uint8Array(1 + length);
  value[0] = length;
  value.set(encoded.subarray(0, length), 1);
  return value;
}

/**
 * A NOTIFICATION. `shutdownText` (Cease subcodes 2 and 4 only, RFC 9003) goes first in the data, as a length byte
 * and up to 255 bytes of UTF-8; `data` follows. Data beyond the 4096-byte message limit is cut.
 */
export function encodeNotification(
  code: number,
  subcode: number,
  data?: Uint8Array,
  shutdownText?: string,
): Uint8Array {
  let payload = data ?? new Uint8Array(0);
  if (shutdownText !== undefined) {
    if (!carriesShutdownCommunication(code, subcode)) {
      throw new RangeError(`a shutdown communication belongs to Cease/2 or Cease/4, not ${code}/${subcode}`);
    }
    const text = shutdownCommunication(shutdownText);
    payload = new Uint8Array(text.length + payload.length);
    payload.set(text);
    payload.set(data ?? [], text.length);
  }
  const dataLength = Math.min(payload.length, MAX_MESSAGE_LENGTH - HEADER_LENGTH - 2);
  const message = newMessage(HEADER_LENGTH + 2 + dataLength, MessageType.Notification);
  message[19] = code;
  message[20] = subcode;
  message.set(payload.subarray(0, dataLength), HEADER_LENGTH + 2);
  return message;
}

export function decodeKeepalive(bytes: Uint8Array): KeepaliveMessage {
  checkMessage(bytes, MessageType.Keepalive);
  return { type: MessageType.Keepalive };
}

const KEEPALIVE = newMessage(HEADER_LENGTH, MessageType.Keepalive);

/** A KEEPALIVE (a fresh copy: callers may hand it to a socket that keeps it). */
export function encodeKeepalive(): Uint8Array {
  return KEEPALIVE.slice();
}

/** RFC 7313 §3: the ROUTE-REFRESH message subtypes. */
export enum RouteRefreshSubtype {
  Normal = 0,
  BeginningOfRouteRefresh = 1,
  EndOfRouteRefresh = 2,
}

const ROUTE_REFRESH_LENGTH = HEADER_LENGTH + 4;

/**
 * Decodes a ROUTE-REFRESH. A length other than 23 is RFC 7313 §5's error 7/1 with the whole message as data.
 * Unknown subtypes are returned as they are: RFC 7313 says to ignore such a message, which is the session's call.
 */
export function decodeRouteRefresh(bytes: Uint8Array): RouteRefreshMessage {
  const length = checkMessage(bytes, MessageType.RouteRefresh);
  if (length !== ROUTE_REFRESH_LENGTH) {
    throw new BgpError(
      ErrorCode.RouteRefresh,
      RouteRefreshErrorSubcode.InvalidMessageLength,
      bytes.slice(0, length),
      `ROUTE-REFRESH of length ${length}`,
    );
  }
  return { type: MessageType.RouteRefresh, afi: (bytes[19] << 8) | bytes[20], subtype: bytes[21], safi: bytes[22] };
}

export function encodeRouteRefresh(
  afi: number,
  safi: number,
  subtype: number = RouteRefreshSubtype.Normal,
): Uint8Array {
  const message = newMessage(ROUTE_REFRESH_LENGTH, MessageType.RouteRefresh);
  message.set([afi >> 8, afi & 0xff, subtype, safi], HEADER_LENGTH);
  return message;
}
