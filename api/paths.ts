// tabby-apiserver's URLs and continue tokens, shared by the server and its client so the two cannot disagree.
import type { KindInfo, ListCursor } from '../datastore';

/** `/apis/<group>/<version>[/namespaces/<ns>]/<plural>`; without a namespace, a namespaced kind's every namespace. */
export function collectionPath(kind: KindInfo, namespace?: string): string {
  const ns = kind.namespaced && namespace !== undefined ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `/apis/${kind.apiVersion}${ns}/${kind.plural}`;
}

export function objectPath(kind: KindInfo, name: string, namespace?: string): string {
  return `${collectionPath(kind, kind.namespaced ? (namespace ?? 'default') : undefined)}/${encodeURIComponent(name)}`;
}

/**
 * `metadata.continue`: where the next page starts and the revision every page is read at, opaque to clients
 * (base64url JSON, as Kubernetes' tokens are base64 JSON).
 */
export function encodeContinue(cursor: ListCursor): string {
  return Buffer.from(JSON.stringify({ rv: cursor.revision, start: cursor.afterKey })).toString('base64url');
}

/** The cursor in a continue token, or undefined when it is not one of ours. */
export function decodeContinue(token: string): ListCursor | undefined {
  try {
    const { rv, start } = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as {
      rv?: unknown;
      start?: unknown;
    };
    if (typeof rv !== 'string' || !/^\d+$/.test(rv) || typeof start !== 'string') return undefined;
    return { revision: rv, afterKey: start };
  } catch {
    return undefined;
  }
}
