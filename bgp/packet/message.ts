// Any message, dispatched on its type.
import { checkMessage } from './header';
import { decodeKeepalive, decodeNotification, decodeRouteRefresh } from './notification';
import { decodeOpen } from './open';
import { type BgpMessage, MessageType, type SessionCodecContext } from './types';
import { decodeUpdate } from './update';

/**
 * Decodes any message (header included). Session-resetting errors throw BgpError with the RFC's code, subcode and
 * data. For an UPDATE this loses RFC 7606's verdict: sessions call decodeUpdate for type 2.
 */
export function decodeMessage(bytes: Uint8Array, ctx: SessionCodecContext): BgpMessage {
  checkMessage(bytes, bytes[18]);
  switch (bytes[18] as MessageType) {
    case MessageType.Open:
      return decodeOpen(bytes);
    case MessageType.Update:
      return decodeUpdate(bytes, ctx).update;
    case MessageType.Notification:
      return decodeNotification(bytes);
    case MessageType.Keepalive:
      return decodeKeepalive(bytes);
    case MessageType.RouteRefresh:
      return decodeRouteRefresh(bytes);
  }
}
