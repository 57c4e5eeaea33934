// tabby's BGP wire format: pure functions from bytes to messages and back.
export { AS_TRANS, AttributeFlag, AttributeType, encodeAttributes } from './attributes';
export {
  BgpError,
  CeaseSubcode,
  HeaderErrorSubcode,
  OpenErrorSubcode,
  RouteRefreshErrorSubcode,
  UpdateErrorSubcode,
} from './errors';
export { HEADER_LENGTH, MAX_EXTENDED_MESSAGE_LENGTH, MAX_MESSAGE_LENGTH } from './header';
export { decodeMessage } from './message';
export {
  decodeKeepalive,
  decodeNotification,
  decodeRouteRefresh,
  encodeKeepalive,
  encodeNotification,
  encodeRouteRefresh,
  RouteRefreshSubtype,
} from './notification';
export { BGP_VERSION, CapabilityCode, decodeOpen, encodeOpen } from './open';
export { formatIpv4Prefix, parseIpv4Prefix } from './prefix';
export { MessageReader } from './reader';
export * from './types';
export {
  type DecodedUpdate,
  decodeUpdate,
  encodeEndOfRib,
  encodeUpdates,
  encodeWithdrawals,
  isEndOfRib,
} from './update';
