// IPAM errors carry a code the CNI plugin and tabbyctl map to CNI error codes and exit statuses.

export type IpamErrorCode =
  /** No free address in the pools the request may use. */
  | 'Exhausted'
  /** The request names a pool or address that is not usable (missing, disabled, malformed). */
  | 'InvalidRequest'
  /** A specific address is already allocated. */
  | 'InUse'
  /** The address or handle holds no allocation. */
  | 'NotAssigned'
  /** Other writers kept changing the same blocks; the caller may retry. */
  | 'Contention';

export class IpamError extends Error {
  constructor(
    readonly code: IpamErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'IpamError';
  }
}

export function isIpamError(err: unknown, code?: IpamErrorCode): err is IpamError {
  return err instanceof IpamError && (code === undefined || err.code === code);
}
