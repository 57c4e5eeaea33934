// Kernel route programming: felix's workload, blackhole and tunnel routes and the BGP speaker's learned routes, each
// owner marked by its protocol number.
export type { RouteBackend, RouteBatch } from './backend';
export { diffDestination, type RouteOp } from './diff';
export { IpRouteBackend } from './ip-backend';
export { formatBatch, formatOp, parseBatchErrors, parseRouteListing } from './ip-format';
export {
  BGP_ROUTE_PROTOCOL,
  type CanonicalRoute,
  canonicalDestination,
  canonicalRoute,
  FELIX_ROUTE_PROTOCOL,
  type KernelRoute,
  MAIN_TABLE,
  ROUTE_RESYNC_INTERVAL_MS,
  type RouteScope,
  type RouteSpec,
  type RouteType,
  sameRoute,
} from './route';
export { type ApplyResult, RouteTable, type RouteTableOptions } from './route-table';
export { type BatchOutcome, type RouteFailure, RouteState } from './state';
