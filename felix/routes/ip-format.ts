// The text side of programming routes with iproute2: `ip -batch` lines for route operations, the per-line errors of
// `ip -force -batch`, and `ip -N -json route show` listings. Pure: no I/O.

import type { RouteOp } from './diff';
import {
  type CanonicalRoute,
  canonicalDestination,
  defaultScope,
  MAIN_TABLE,
  routeScopeOfNumber,
  routeTypeOfNumber,
  trustedRoute,
} from './route';

/** The arguments of `ip route replace` for `route` (iproute2 wants the type right before the destination). */
function replaceArguments(route: CanonicalRoute): string {
  let text = route.type === 'unicast' ? route.dst : `${route.type} ${route.dst}`;
  if (route.via !== undefined) text += ` via ${route.via}`;
  if (route.dev !== undefined) text += ` dev ${route.dev}`;
  if (route.onlink) text += ' onlink';
  // ip picks the same default scope as canonicalRoute: name it only when it differs (shorter lines, less to parse).
  if (route.scope !== defaultScope(route.type, route.via)) text += ` scope ${route.scope}`;
  if (route.src !== undefined) text += ` src ${route.src}`;
  if (route.metric !== 0) text += ` metric ${route.metric}`;
  if (route.mtu !== undefined) text += ` mtu ${route.mtu}`;
  return `${text} proto ${route.protocol}`;
}

/**
 * The `ip -batch` line for an operation, newline included. A delete is matched by destination, protocol and metric
 * only, so it never removes another owner's route (the kernel reads metric 0 in a delete as "any metric" and then
 * removes the lowest, which is why diffDestination puts a destination's deletes first).
 */
export function formatOp(op: RouteOp, table: number): string {
  const route = op.route;
  const tableSuffix = table === MAIN_TABLE ? '\n' : ` table ${table}\n`;
  if (op.kind === 'replace') return `route replace ${replaceArguments(route)}${tableSuffix}`;
  const metric = route.metric === 0 ? '' : ` metric ${route.metric}`;
  return `route del ${route.dst} proto ${route.protocol}${metric}${tableSuffix}`;
}

/** One line per operation, in order: line i + 1 is ops[i]. */
export function formatBatch(ops: readonly RouteOp[], table: number): string {
  return ops.map((op) => formatOp(op, table)).join('');
}

const FAILED_LINE = /^Command failed -:(\d+)$/;

/**
 * The errors of `ip -force -batch -` by line number (1-based). iproute2 prints a failed command's own messages
 * ("Cannot find device …", "RTNETLINK answers: …", "Error: …") and then `Command failed -:<line>`.
 */
export function parseBatchErrors(stderr: string): Map<number, string> {
  const errors = new Map<number, string>();
  let messages: string[] = [];
  for (const line of stderr.split('\n')) {
    const failed = FAILED_LINE.exec(line);
    if (failed) {
      errors.set(Number(failed[1]), messages.join('; ') || 'failed');
      messages = [];
    } else if (line.trim() !== '') {
      messages.push(line.trim());
    }
  }
  return errors;
}

/** A delete that found nothing to delete: the route is gone, which is what the delete wanted. */
export function isAlreadyGone(error: string): boolean {
  return error.includes('No such process');
}

/** A listing that failed because the table does not exist yet, i.e. holds no routes. */
export function isMissingTable(stderr: string): boolean {
  return stderr.includes('FIB table does not exist');
}

/** One route of `ip -N -json route show` (numbers printed as numbers, protocol left out when filtered on). */
interface ListedRoute {
  dst: string;
  type?: string;
  gateway?: string;
  dev?: string;
  scope?: string;
  prefsrc?: string;
  metric?: number;
  protocol?: string;
  flags?: string[];
  metrics?: { mtu?: number | [string, number] }[];
}

function mtuOf(metrics: ListedRoute['metrics']): number | undefined {
  const mtu = metrics?.find((metric) => metric.mtu !== undefined)?.mtu;
  // A locked MTU is printed as ["lock", n].
  return Array.isArray(mtu) ? mtu[1] : mtu;
}

/**
 * The routes of an `ip -N -json -4 route show` listing in canonical form. `protocol` is the one the listing was
 * filtered on (ip leaves it out then). A multipath route has no single device or gateway and is read without them, so
 * it never equals a route we want and gets replaced.
 */
export function parseRouteListing(json: string, protocol: number): CanonicalRoute[] {
  const listed = JSON.parse(json) as ListedRoute[];
  return listed.map((entry) => {
    const type = entry.type === undefined ? 'unicast' : routeTypeOfNumber(Number(entry.type));
    if (type === undefined) throw new Error(`route ${entry.dst}: unknown route type ${entry.type}`);
    return trustedRoute({
      dst: canonicalDestination(entry.dst),
      type,
      dev: entry.dev,
      via: entry.gateway,
      onlink: entry.flags?.includes('onlink') ?? false,
      scope: routeScopeOfNumber(entry.scope === undefined ? 0 : Number(entry.scope)),
      src: entry.prefsrc,
      metric: entry.metric ?? 0,
      protocol: entry.protocol === undefined ? protocol : Number(entry.protocol),
      mtu: mtuOf(entry.metrics),
    });
  });
}
