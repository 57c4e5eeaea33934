// The difference between the route we want at a destination and the routes the kernel holds there, as the
// operations that make the kernel match. Pure: no I/O.
//
// The kernel keys an IPv4 route by (table, dst, tos, metric); we want at most one route per destination. What the
// kernel holds for a destination is usually one route, but can be several (other metrics, `ip route append`).

import { type CanonicalRoute, sameRoute } from './route';

export type RouteOp =
  /** Removes a route of ours: matched by dst, protocol and metric. */
  | { readonly kind: 'delete'; readonly route: CanonicalRoute }
  /**
   * Creates the route or overwrites whatever the kernel holds at its (dst, metric), whoever's it is: a desired route
   * takes over a foreign one at the same key, as Calico's felix does. `previous` is our route it overwrites, if any.
   */
  | { readonly kind: 'replace'; readonly route: CanonicalRoute; readonly previous: CanonicalRoute | undefined };

/**
 * The operations that turn `have` (what the kernel holds for one destination) into `want`, touching only routes
 * whose protocol is in `owned`, deletes first. Nothing when our route there already equals `want`.
 */
export function diffDestination(
  want: CanonicalRoute | undefined,
  have: readonly CanonicalRoute[],
  owned: ReadonlySet<number>,
): RouteOp[] {
  if (have.length === 0) return want === undefined ? [] : [{ kind: 'replace', route: want, previous: undefined }];
  if (have.length === 1 && want !== undefined && sameRoute(have[0], want)) return [];
  const ours = have.filter((route) => owned.has(route.protocol));
  if (want === undefined) return ours.map((route) => ({ kind: 'delete', route }));
  // Our routes at another metric are stale: a replace at want's metric would not touch them. They go first: the
  // kernel reads metric 0 in a delete as "any metric", so after the replace such a delete could remove the new route.
  const ops: RouteOp[] = ours
    .filter((route) => route.metric !== want.metric)
    .map((route) => ({ kind: 'delete', route }) as const);
  const atKey = ours.filter((route) => route.metric === want.metric);
  if (atKey.length === 1 && sameRoute(atKey[0], want)) return ops;
  if (atKey.length <= 1) {
    ops.push({ kind: 'replace', route: want, previous: atKey[0] });
    return ops;
  }
  // Several of ours at one key (appended): clear them all, then write the one we want.
  for (const route of atKey) ops.push({ kind: 'delete', route });
  ops.push({ kind: 'replace', route: want, previous: undefined });
  return ops;
}
