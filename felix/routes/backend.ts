// How a route table reaches the kernel. The iproute2 implementation (ip-backend.ts) is the default; a netlink one in
// the native addon can replace it without the route table changing.

import type { RouteOp } from './diff';
import type { CanonicalRoute } from './route';

export interface RouteBackend {
  /** The routes of `protocol` in `table` (none when the table does not exist yet). */
  list(table: number, protocol: number): Promise<CanonicalRoute[]>;
  /** A batch of writes to `table`. Nothing reaches the kernel for a batch that is finished empty. */
  startBatch(table: number): RouteBatch;
}

/**
 * Operations run in the order added, each whatever became of the ones before. A backend may start on them before
 * the batch is finished (the route table streams its diff into the batch).
 */
export interface RouteBatch {
  add(op: RouteOp): void;
  /**
   * Resolves, once every operation has run, with the error of each that failed, by its index in the order added; a
   * delete that finds its route already gone has not failed. Rejects when it cannot tell which operations took
   * effect (then nothing about the table is known).
   */
  finish(): Promise<Map<number, string>>;
}
