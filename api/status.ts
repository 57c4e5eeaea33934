// Errors as Kubernetes `Status` objects (what kubectl and client libraries read): the HTTP code, a reason, the
// message, and for an invalid object the offending field, from the datastore's and the validator's typed errors.
import { type Static, Type } from '@sinclair/typebox';
import { DocumentRejected, isDatastoreError, ValidationError } from '../datastore';
import { type IpamErrorCode, isIpamError } from '../ipam';

/** The one definition of a Status: the type the server builds and the schema the OpenAPI document publishes. */
export const StatusSchema = Type.Object(
  {
    kind: Type.Literal('Status'),
    apiVersion: Type.Literal('v1'),
    metadata: Type.Object({}),
    status: Type.Literal('Failure'),
    message: Type.String(),
    reason: Type.String({ description: 'A CamelCase reason, e.g. NotFound, Conflict, Invalid' }),
    code: Type.Integer({ description: 'The HTTP status code' }),
    details: Type.Optional(
      Type.Object({
        name: Type.Optional(Type.String()),
        kind: Type.Optional(Type.String()),
        causes: Type.Optional(
          Type.Array(
            Type.Object({
              field: Type.String({ description: 'The offending field, e.g. spec.blockSize' }),
              message: Type.String(),
            }),
          ),
        ),
      }),
    ),
  },
  { description: 'Why a request failed, as Kubernetes reports it' },
);

export type Status = Static<typeof StatusSchema>;

export function status(code: number, reason: string, message: string, details?: Status['details']): Status {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
    ...(details ? { details } : {}),
  };
}

const DATASTORE_STATUS = {
  NotFound: [404, 'NotFound'],
  AlreadyExists: [409, 'AlreadyExists'],
  Conflict: [409, 'Conflict'],
  Unavailable: [503, 'ServiceUnavailable'],
  Compacted: [410, 'Expired'],
  Invalid: [422, 'Invalid'],
} as const;

const IPAM_STATUS: Record<IpamErrorCode, readonly [number, string]> = {
  NotAssigned: [404, 'NotFound'],
  InvalidRequest: [400, 'BadRequest'],
  Exhausted: [409, 'Conflict'],
  InUse: [409, 'Conflict'],
  Contention: [503, 'ServiceUnavailable'],
};

/** The Status for an error thrown by the datastore, IPAM or validation; undefined for anything else (a bug: 500). */
export function statusOfError(err: unknown): Status | undefined {
  const cause = err instanceof DocumentRejected ? err.cause : err;
  if (cause instanceof ValidationError) {
    return status(422, 'Invalid', cause.message, {
      name: cause.name,
      kind: cause.kind,
      causes: [{ field: cause.field, message: cause.detail }],
    });
  }
  if (isIpamError(cause)) {
    const [code, reason] = IPAM_STATUS[cause.code];
    return status(code, reason, cause.message);
  }
  if (isDatastoreError(cause)) {
    const [code, reason] = DATASTORE_STATUS[cause.code];
    return status(code, reason, cause.message);
  }
  return undefined;
}
