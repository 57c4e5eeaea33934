// The 19-byte message header (RFC 4271 §4.1) and its checks (§6.1), shared by the stream reader and the decoders.
import { BgpError, HeaderErrorSubcode } from './errors';
import { ErrorCode, MessageType } from './types';

export const MARKER_LENGTH = 16;
export const HEADER_LENGTH = 19;
/** Largest message without the extended message capability (RFC 4271). */
export const MAX_MESSAGE_LENGTH = 4096;
/** Largest message once both sides sent the extended message capability (RFC 8654). */
export const MAX_EXTENDED_MESSAGE_LENGTH = 65535;

/** Smallest legal length per message type; KEEPALIVE must be exactly its minimum. */
const MIN_LENGTH: readonly number[] = [0, 29, 23, 21, 19, 19];

/** Writes marker, length and type at `offset`. */
export function writeHeader(buffer: Uint8Array, offset: number, length: number, type: MessageType): void {
  buffer.fill(0xff, offset, offset + MARKER_LENGTH);
  buffer[offset + 16] = length >>> 8;
  buffer[offset + 17] = length & 0xff;
  buffer[offset + 18] = type;
}

/** A new message of `length` bytes with its header written. */
export function newMessage(length: number, type: MessageType): Uint8Array {
  const message = new Uint8Array(length);
  writeHeader(message, 0, length, type);
  return message;
}

/**
 * Checks the header at `offset` (at least 19 bytes must be there) and returns the message length.
 * Throws the RFC 4271 §6.1 errors: 1/1 marker not all ones, 1/2 bad length, 1/3 unknown type.
 */
export function checkHeader(bytes: Uint8Array, offset: number, maxLength: number): number {
  let marker = 0xff;
  for (let i = offset; i < offset + MARKER_LENGTH; i++) marker &= bytes[i];
  if (marker !== 0xff) {
    throw new BgpError(
      ErrorCode.MessageHeader,
      HeaderErrorSubcode.ConnectionNotSynchronized,
      new Uint8Array(0),
      'message marker is not all ones',
    );
  }
  const length = (bytes[offset + 16] << 8) | bytes[offset + 17];
  const type = bytes[offset + 18];
  if (length < HEADER_LENGTH || length > maxLength) throw badLength(bytes, offset, length);
  if (type < MessageType.Open || type > MessageType.RouteRefresh) {
    throw new BgpError(
      ErrorCode.MessageHeader,
      HeaderErrorSubcode.BadMessageType,
      Uint8Array.of(type),
      `unknown message type ${type}`,
    );
  }
  if (type === MessageType.Keepalive ? length !== HEADER_LENGTH : length < MIN_LENGTH[type]) {
    throw badLength(bytes, offset, length);
  }
  return length;
}

function badLength(bytes: Uint8Array, offset: number, length: number): BgpError {
  return new BgpError(
    ErrorCode.MessageHeader,
    HeaderErrorSubcode.BadMessageLength,
    bytes.slice(offset + 16, offset + 18),
    `bad message length ${length} (type ${bytes[offset + 18]})`,
  );
}

/**
 * Checks a whole message handed to a decoder: a valid header of `type` whose length the bytes cover. Returns the
 * length (bytes after it are ignored).
 */
export function checkMessage(bytes: Uint8Array, type: MessageType): number {
  if (bytes.length < HEADER_LENGTH) {
    throw new BgpError(
      ErrorCode.MessageHeader,
      HeaderErrorSubcode.BadMessageLength,
      new Uint8Array(0),
      `${bytes.length} bytes are no message`,
    );
  }
  const length = checkHeader(bytes, 0, MAX_EXTENDED_MESSAGE_LENGTH);
  if (length > bytes.length) throw badLength(bytes, 0, length);
  if (bytes[18] !== type) {
    throw new BgpError(
      ErrorCode.MessageHeader,
      HeaderErrorSubcode.BadMessageType,
      Uint8Array.of(bytes[18]),
      `message type ${bytes[18]} where ${type} was expected`,
    );
  }
  return length;
}
