// The one error a peer's bytes can raise: it carries the NOTIFICATION to send (RFC 4271 §6) before the session
// closes. Anything the codec cannot make sense of ends here, never in a RangeError or TypeError.

export class BgpError extends Error {
  constructor(
    readonly code: number,
    readonly subcode: number,
    readonly data: Uint8Array,
    message: string,
  ) {
    super(message);
    this.name = 'BgpError';
  }
}

/** Subcodes of error code 1, Message Header Error (RFC 4271 §4.5). */
export enum HeaderErrorSubcode {
  ConnectionNotSynchronized = 1,
  BadMessageLength = 2,
  BadMessageType = 3,
}

/** Subcodes of error code 2, OPEN Message Error (RFC 4271 §4.5, RFC 5492). */
export enum OpenErrorSubcode {
  Unspecific = 0,
  UnsupportedVersionNumber = 1,
  BadPeerAs = 2,
  BadBgpIdentifier = 3,
  UnsupportedOptionalParameter = 4,
  UnacceptableHoldTime = 6,
  UnsupportedCapability = 7,
}

/** Subcodes of error code 3, UPDATE Message Error (RFC 4271 §4.5). */
export enum UpdateErrorSubcode {
  MalformedAttributeList = 1,
  UnrecognizedWellKnownAttribute = 2,
  MissingWellKnownAttribute = 3,
  AttributeFlagsError = 4,
  AttributeLengthError = 5,
  InvalidOrigin = 6,
  InvalidNextHop = 8,
  OptionalAttributeError = 9,
  InvalidNetworkField = 10,
  MalformedAsPath = 11,
}

/** Subcodes of error code 6, Cease (RFC 4486, RFC 8538). */
export enum CeaseSubcode {
  MaximumPrefixesReached = 1,
  AdministrativeShutdown = 2,
  PeerDeconfigured = 3,
  AdministrativeReset = 4,
  ConnectionRejected = 5,
  OtherConfigurationChange = 6,
  ConnectionCollisionResolution = 7,
  OutOfResources = 8,
  HardReset = 9,
}

/** Subcode of error code 7, ROUTE-REFRESH Message Error (RFC 7313 §5). */
export enum RouteRefreshErrorSubcode {
  InvalidMessageLength = 1,
}

export const NO_DATA = new Uint8Array(0);
