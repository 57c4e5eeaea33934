// The decision process (RFC 4271 §9.1.2.2, with RFC 4456 §9), in BIRD's order (bgp_rte_better).

import type { Path } from './path';

/**
 * Negative when a is preferred to b, positive when b is, 0 only for equally good paths of one peer.
 * MED is compared only between paths from the same neighbour AS, so like BIRD and Cisco without
 * "deterministic MED" the order is not transitive in rare three-way cases; the result then depends on the
 * order the paths arrived in.
 */
export function comparePaths(a: Path, b: Path): number {
  if (a.localPref !== b.localPref) return b.localPref - a.localPref;
  if (a.peer.local !== b.peer.local) return a.peer.local ? -1 : 1;
  if (a.asPathLength !== b.asPathLength) return a.asPathLength - b.asPathLength;
  if (a.origin !== b.origin) return a.origin - b.origin;
  if (a.neighborAs === b.neighborAs && a.med !== b.med) return a.med - b.med;
  if (a.peer.ibgp !== b.peer.ibgp) return a.peer.ibgp ? 1 : -1;
  // (IGP cost to the next hop: not compared, every next hop counts as directly reachable.)
  if (a.routerId !== b.routerId) return a.routerId - b.routerId;
  if (a.clusterListLength !== b.clusterListLength) return a.clusterListLength - b.clusterListLength;
  return a.peer.addressNumber - b.peer.addressNumber;
}

/** Index of the best of the candidates (the first of equals). */
export function bestIndex(candidates: readonly Path[]): number {
  let best = 0;
  for (let i = 1; i < candidates.length; i++) {
    if (comparePaths(candidates[i], candidates[best]) < 0) best = i;
  }
  return best;
}
