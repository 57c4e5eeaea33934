// Errors as Kubernetes `Status` objects (what kubectl and client libraries read): the HTTP code, a reason, the
// message, and for an invalid object the offending field, from the datastore's and the validator's typed errors.
import { DocumentRejected, isDatastoreError, ValidationError } from '../datastore';

export interface StatusCause {
  field: string;
  message: string;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: string;
  reason: string;
  code: number;
  details?: { name?: string; kind?: string; causes?: StatusCause[] };
}

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

/** The Status for an error thrown by the datastore or validation; undefined for anything else (a bug: 500). */
export function statusOfError(err: unknown): Status | undefined {
  const cause = err instanceof DocumentRejected ? err.cause : err;
  if (cause instanceof ValidationError) {
    return status(422, 'Invalid', cause.message, {
      name: cause.name,
      kind: cause.kind,
      causes: [{ field: cause.field, message: cause.detail }],
    });
  }
  if (isDatastoreError(cause)) {
    const [code, reason] = DATASTORE_STATUS[cause.code];
    return status(code, reason, cause.message);
  }
  return undefined;
}
