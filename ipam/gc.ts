// Garbage collection, run by each tabby-node for its own allocations and blocks: an address that no endpoint
// or node has used for longer than the grace period is released (a CNI DEL that never came, a plugin killed
// between IPAM and writing its endpoint), and empty blocks of a node that has others are given back to the
// pool. As Calico's kube-controllers, the "first seen unused" times are kept in memory: a restarted
// collector waits a full grace period again before releasing anything.
import type { Backend } from '../datastore';
import type { IpamAllocator } from './allocator';
import { affineNode, inUseCount } from './block';
import { allocationsIn, readIpamSnapshot, readUsage } from './check';
import { isIpamError } from './errors';
import { affinityKey, blockKey } from './keys';

/** Calico's default grace period for leaked addresses (kube-controllers `leakGracePeriod`). */
export const DEFAULT_LEAK_GRACE_PERIOD_MS = 15 * 60 * 1000;

export interface GcResult {
  released: string[];
  blocksReleased: string[];
  /** Addresses unused but still within their grace period. */
  suspected: number;
}

export class IpamGarbageCollector {
  /** `address handle` → when it was first seen unused. */
  private readonly unusedSince = new Map<string, number>();

  constructor(
    private readonly backend: Backend,
    private readonly allocator: IpamAllocator,
    private readonly gracePeriodMs = DEFAULT_LEAK_GRACE_PERIOD_MS,
  ) {}

  async run(now = Date.now()): Promise<GcResult> {
    const node = this.allocator.node;
    const [snapshot, usage] = await Promise.all([readIpamSnapshot(this.backend), readUsage(this.backend)]);
    const result: GcResult = { released: [], blocksReleased: [], suspected: 0 };

    const seen = new Set<string>();
    for (const a of allocationsIn(snapshot)) {
      if (a.attrs.node !== node || usage.users.has(a.address) || a.handle === null) continue;
      const key = `${a.address} ${a.handle}`;
      seen.add(key);
      const since = this.unusedSince.get(key) ?? now;
      this.unusedSince.set(key, since);
      if (now - since < this.gracePeriodMs) {
        result.suspected++;
        continue;
      }
      try {
        await this.allocator.releaseAddress(a.address, a.handle);
        result.released.push(a.address);
      } catch (err) {
        if (!isIpamError(err, 'NotAssigned')) throw err;
      }
      this.unusedSince.delete(key);
    }
    for (const key of this.unusedSince.keys()) if (!seen.has(key)) this.unusedSince.delete(key);

    // Empty blocks go back to the pool while the node keeps at least one block.
    const blocksNow = result.released.length > 0 ? await readIpamSnapshot(this.backend) : snapshot;
    const mine = blocksNow.blocks.filter((b) => affineNode(b.block) === node);
    const empty = mine.filter((b) => inUseCount(b.block) === 0);
    const surplus = empty.length === mine.length ? empty.slice(1) : empty;
    for (const { block, modRevision } of surplus) {
      const affinity = blocksNow.affinities.find((a) => a.node === node && a.cidr === block.cidr);
      const guards = [{ key: blockKey(block.cidr), modRevision }];
      const writes = [{ key: blockKey(block.cidr), delete: true as const }];
      if (affinity) {
        guards.push({ key: affinityKey(node, block.cidr), modRevision: affinity.modRevision });
        writes.push({ key: affinityKey(node, block.cidr), delete: true as const });
      }
      // A block that changed since the snapshot (an allocation just landed) is left for the next run.
      if ((await this.backend.kvCommit(guards, writes)) !== undefined) result.blocksReleased.push(block.cidr);
    }
    if (result.blocksReleased.length > 0) this.allocator.invalidate();
    return result;
  }
}
