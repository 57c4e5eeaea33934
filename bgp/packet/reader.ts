// Cuts a TCP byte stream into BGP messages. A message that lies inside one pushed chunk is returned as a view of
// that chunk (no copy); only a message split across chunks is copied, together with what follows it. Bytes already
// handed out are never written again, so views stay valid after later pushes.
import { checkHeader, HEADER_LENGTH, MAX_EXTENDED_MESSAGE_LENGTH, MAX_MESSAGE_LENGTH } from './header';

const EMPTY = new Uint8Array(0);

export class MessageReader {
  private buffer: Uint8Array = EMPTY;
  private start = 0;
  private end = 0;
  /** The buffer is ours (not a caller's chunk), so its bytes after `end` may be written. */
  private owned = false;
  private maxLength: number;

  constructor(opts?: { extendedMessages?: boolean }) {
    this.maxLength = opts?.extendedMessages ? MAX_EXTENDED_MESSAGE_LENGTH : MAX_MESSAGE_LENGTH;
  }

  /** RFC 8654: set once both sides sent the extended message capability. */
  set extendedMessages(enabled: boolean) {
    this.maxLength = enabled ? MAX_EXTENDED_MESSAGE_LENGTH : MAX_MESSAGE_LENGTH;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const pending = this.end - this.start;
    if (pending === 0) {
      this.buffer = chunk;
      this.start = 0;
      this.end = chunk.length;
      this.owned = false;
      return;
    }
    if (this.owned && this.buffer.length - this.end >= chunk.length) {
      this.buffer.set(chunk, this.end);
      this.end += chunk.length;
      return;
    }
    // Room for a full-size message after the pending bytes, so a big message arriving in small chunks is copied
    // once rather than once per chunk.
    const merged = new Uint8Array(Math.max(pending + chunk.length, this.maxLength));
    merged.set(this.buffer.subarray(this.start, this.end), 0);
    merged.set(chunk, pending);
    this.buffer = merged;
    this.start = 0;
    this.end = pending + chunk.length;
    this.owned = true;
  }

  /** The next complete message (header included), or undefined until more bytes arrive. Throws BgpError 1/x. */
  next(): Uint8Array | undefined {
    const available = this.end - this.start;
    if (available < HEADER_LENGTH) return undefined;
    const length = checkHeader(this.buffer, this.start, this.maxLength);
    if (available < length) return undefined;
    const message = this.buffer.subarray(this.start, this.start + length);
    this.start += length;
    return message;
  }
}
