// The counters of the IPAM benchmark, shared by the bench and its node allocator process (support/ipam-node):
// a Backend that counts the calls made through it, so the bench can say how many etcd round trips each
// allocation batch costs, and what the node allocator answers on its stats socket.
import type { Backend } from '../../datastore';

/** Where the node allocator answers GET /stats with its AllocatorCounters, in its run dir. */
export const STATS_SOCKET = 'bench-stats.sock';

export interface AllocatorCounters {
  /** IpamService batches committed, and the requests they carried. */
  batches: number;
  requests: number;
  calls: CallCounts;
}

/** Calls per Backend method name (kvCommit, kvGet, kvList, get, list, ...), since the backend was wrapped. */
export type CallCounts = Record<string, number>;

export function countingBackend(backend: Backend): { backend: Backend; calls: CallCounts } {
  const calls: CallCounts = {};
  const counted = new Proxy(backend, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      return (...args: unknown[]) => {
        calls[property] = (calls[property] ?? 0) + 1;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { backend: counted, calls };
}

/** What happened between two readings of the same counters. */
export function countersBetween(before: AllocatorCounters, after: AllocatorCounters): AllocatorCounters {
  return {
    batches: after.batches - before.batches,
    requests: after.requests - before.requests,
    calls: Object.fromEntries(Object.entries(after.calls).map(([call, n]) => [call, n - (before.calls[call] ?? 0)])),
  };
}
