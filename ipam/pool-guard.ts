// Deleting an IPPool. An enabled pool that still holds allocations is refused: its workloads keep running on
// addresses nothing would account for, and nodes would keep allocating from its blocks until they learn of
// the deletion. The user disables it first (no new allocations), drains it or not, then deletes it. Once it
// is gone its blocks are released from their nodes as Calico's ReleasePoolAffinities does: an empty block is
// deleted with its affinity, a block still holding addresses stays (so they remain accounted for) but belongs
// to no node any more.
import type { KvGuard, KvStore, KvWrite, Resource, ResourceClientHooks } from '../datastore';
import { type AllocationBlock, blockCidr, inUseCount, parseBlock } from './block';
import { type IpamSnapshot, readIpamSnapshot } from './check';
import { IpamError } from './errors';
import { type Ipv4Cidr, ipv4InCidr, parseIpv4Cidr } from './ipv4';
import { affinityKey, BLOCKS_PREFIX, blockKey } from './keys';

/** How often a release re-reads and retries after losing compare-and-swaps to other writers. */
const MAX_ROUNDS = 10;

function overlaps(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  return ipv4InCidr(a.base, b) || ipv4InCidr(b.base, a);
}

/** Allocated addresses of the block that lie in cidr (a block may be wider than a pool made after it). */
function allocatedWithin(block: AllocationBlock, cidr: Ipv4Cidr): number {
  const own = blockCidr(block);
  if (!overlaps(own, cidr)) return 0;
  if (ipv4InCidr(own.base, cidr)) return inUseCount(block);
  let count = 0;
  block.allocations.forEach((attr, ordinal) => {
    if (attr !== null && ipv4InCidr(own.base + ordinal, cidr)) count++;
  });
  return count;
}

/** The number of addresses allocated in cidr, over every block. */
export function allocatedInCidr(blocks: readonly AllocationBlock[], cidr: Ipv4Cidr): number {
  return blocks.reduce((sum, block) => sum + allocatedWithin(block, cidr), 0);
}

/** Refuses (IpamError InUse) to delete an enabled pool that still has allocated addresses. */
export async function checkPoolDeletion(store: KvStore, pool: Resource): Promise<void> {
  const spec = (pool.spec ?? {}) as { cidr?: string; disabled?: boolean };
  const cidr = parseIpv4Cidr(String(spec.cidr ?? ''));
  // IPAM manages IPv4 only: an IPv6 pool has nothing allocated here.
  if (spec.disabled || !cidr) return;
  const { pairs } = await store.kvList(BLOCKS_PREFIX);
  const allocated = allocatedInCidr(
    pairs.map((p) => parseBlock(p.value)),
    cidr,
  );
  if (allocated === 0) return;
  const addresses = allocated === 1 ? '1 allocated address' : `${allocated} allocated addresses`;
  throw new IpamError(
    'InUse',
    `IPPool "${pool.metadata.name}" has ${addresses}: disable it first (spec.disabled: true), then delete it`,
  );
}

/** One block's release: written in one transaction, guarded on everything it read. */
export interface AffinityRelease {
  cidr: string;
  /**
   * deleteBlock: the block held nothing and goes with its affinity; unaffine: the block keeps its addresses
   * and loses its affinity; staleRecords: only affinity records of a block that does not exist.
   */
  action: 'deleteBlock' | 'unaffine' | 'staleRecords';
  guards: KvGuard[];
  writes: KvWrite[];
}

/**
 * What releasing the affinities of the blocks inside poolCidr takes, per block: every block with an affinity
 * (in the block or as an affinity record), and affinity records whose block no longer exists.
 */
export function planPoolAffinityRelease(snapshot: IpamSnapshot, poolCidr: Ipv4Cidr): AffinityRelease[] {
  const inPool = (cidr: string) => {
    const c = parseIpv4Cidr(cidr);
    return c !== undefined && ipv4InCidr(c.base, poolCidr);
  };
  const recordsByBlock = new Map<string, IpamSnapshot['affinities']>();
  for (const record of snapshot.affinities) {
    if (!inPool(record.cidr)) continue;
    recordsByBlock.set(record.cidr, [...(recordsByBlock.get(record.cidr) ?? []), record]);
  }
  const releases: AffinityRelease[] = [];
  for (const { block, modRevision } of snapshot.blocks) {
    if (!inPool(block.cidr)) continue;
    const records = recordsByBlock.get(block.cidr) ?? [];
    recordsByBlock.delete(block.cidr);
    if (block.affinity === null && records.length === 0) continue;
    const guards: KvGuard[] = [{ key: blockKey(block.cidr), modRevision }];
    const writes: KvWrite[] = [];
    const action = inUseCount(block) === 0 ? 'deleteBlock' : 'unaffine';
    if (action === 'deleteBlock') writes.push({ key: blockKey(block.cidr), delete: true });
    else {
      // Calico's claim time goes with the affinity it dates.
      const unaffined: Record<string, unknown> = { ...block, affinity: null };
      delete unaffined.affinityClaimTime;
      writes.push({ key: blockKey(block.cidr), value: JSON.stringify(unaffined) });
    }
    for (const r of records) {
      guards.push({ key: affinityKey(r.node, r.cidr), modRevision: r.modRevision });
      writes.push({ key: affinityKey(r.node, r.cidr), delete: true });
    }
    releases.push({ cidr: block.cidr, action, guards, writes });
  }
  // Records left over name blocks that do not exist: stale, deleted as long as the block stays absent.
  for (const [cidr, records] of recordsByBlock) {
    const guards: KvGuard[] = [{ key: blockKey(cidr), modRevision: undefined }];
    const writes: KvWrite[] = [];
    for (const r of records) {
      guards.push({ key: affinityKey(r.node, r.cidr), modRevision: r.modRevision });
      writes.push({ key: affinityKey(r.node, r.cidr), delete: true });
    }
    releases.push({ cidr, action: 'staleRecords', guards, writes });
  }
  return releases;
}

export interface ReleasedAffinities {
  /** Empty blocks deleted with their affinity. */
  deletedBlocks: string[];
  /** Blocks that still hold addresses and now belong to no node. */
  unaffinedBlocks: string[];
}

/** Releases every block affinity inside the pool CIDR (libcalico-go ReleasePoolAffinities). */
export async function releasePoolAffinities(store: KvStore, cidr: string): Promise<ReleasedAffinities> {
  const poolCidr = parseIpv4Cidr(cidr);
  const result: ReleasedAffinities = { deletedBlocks: [], unaffinedBlocks: [] };
  if (!poolCidr) return result;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const releases = planPoolAffinityRelease(await readIpamSnapshot(store), poolCidr);
    if (releases.length === 0) return result;
    const committed = await Promise.all(releases.map((r) => store.kvCommit(r.guards, r.writes)));
    releases.forEach((r, i) => {
      if (committed[i] === undefined) return;
      if (r.action === 'deleteBlock') result.deletedBlocks.push(r.cidr);
      else if (r.action === 'unaffine') result.unaffinedBlocks.push(r.cidr);
    });
    // Blocks a node changed meanwhile are planned again from a fresh read.
    if (committed.every((revision) => revision !== undefined)) return result;
  }
  throw new IpamError('Contention', `releasing the blocks of ${cidr}: they kept changing under us; try again`);
}

function isIpPool(kind: { kind: string; group: string }): boolean {
  return kind.kind === 'IPPool' && kind.group === 'projectcalico.org';
}

/** ResourceClient hooks that guard IPPool deletion and release the deleted pool's blocks. */
export function ipPoolDeletionHooks(store: KvStore): ResourceClientHooks {
  return {
    async beforeDelete(kind, existing) {
      if (isIpPool(kind)) await checkPoolDeletion(store, existing);
    },
    async afterDelete(kind, deleted) {
      if (!isIpPool(kind)) return;
      const cidr = (deleted.spec as { cidr?: string } | undefined)?.cidr;
      if (cidr) await releasePoolAffinities(store, cidr);
    },
  };
}
