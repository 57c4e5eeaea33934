// Datastore errors carry a code that callers (CLI, API server, syncer) map to exit codes, HTTP statuses
// and retry decisions, without parsing messages.

export type DatastoreErrorCode = 'NotFound' | 'AlreadyExists' | 'Conflict' | 'Unavailable' | 'Compacted' | 'Invalid';

export class DatastoreError extends Error {
  constructor(
    readonly code: DatastoreErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DatastoreError';
  }
}

export function isDatastoreError(err: unknown, code?: DatastoreErrorCode): err is DatastoreError {
  return err instanceof DatastoreError && (code === undefined || err.code === code);
}

function describeObject(kind: { kind: string }, name: string, namespace?: string): string {
  return namespace ? `${kind.kind} "${namespace}/${name}"` : `${kind.kind} "${name}"`;
}

export function notFound(kind: { kind: string }, name: string, namespace?: string): DatastoreError {
  return new DatastoreError('NotFound', `${describeObject(kind, name, namespace)} not found`);
}

export function alreadyExists(kind: { kind: string }, name: string, namespace?: string): DatastoreError {
  return new DatastoreError('AlreadyExists', `${describeObject(kind, name, namespace)} already exists`);
}

export function conflict(kind: { kind: string }, name: string, namespace: string | undefined, version: string) {
  return new DatastoreError(
    'Conflict',
    `${describeObject(kind, name, namespace)}: resourceVersion ${version} is stale (the object was modified); get it again and retry`,
  );
}

export function unavailable(store: string, cause?: string): DatastoreError {
  return new DatastoreError('Unavailable', `${store}: unreachable${cause ? ` (${cause})` : ''}`);
}
