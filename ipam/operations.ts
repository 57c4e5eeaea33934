// What an operator asks of IPAM (calicoctl's `ipam show|check|release`): pool and block usage, the blocks, the
// consistency report, releasing one address. DatastoreIpamOperations answers from the datastore; tabby-apiserver
// serves the same answers under /ipam/v1 and its client implements this interface over HTTP, so tabbyctl runs
// the one set of commands either way.
import { type Static, Type } from '@sinclair/typebox';
import { type Backend, kindByAlias, type Resource } from '../datastore';
import { parseCidr } from '../datastore/model/net';
import { IpamAllocator } from './allocator';
import { type AllocationBlock, blockCidr, inUseCount } from './block';
import { checkIpam, type IpamCheckReport, readIpamSnapshot, readUsage } from './check';
import { cidrSize, ipv4InCidr, parseIpv4Cidr } from './ipv4';

// The usage report as schemas: its types here, and tabby-apiserver's OpenAPI document for /ipam/v1/utilization.
export const BlockUsageSchema = Type.Object({ cidr: Type.String(), capacity: Type.Integer(), inUse: Type.Integer() });

export const PoolUsageSchema = Type.Object({
  name: Type.String(),
  cidr: Type.String(),
  capacity: Type.Integer(),
  inUse: Type.Integer(),
  blocks: Type.Array(BlockUsageSchema),
});

export const UtilizationSchema = Type.Object({
  pools: Type.Array(PoolUsageSchema),
  // Shown with --show-blocks only, as calicoctl does.
  orphanBlocks: Type.Array(BlockUsageSchema, { description: 'Blocks in no pool (their pool was deleted)' }),
});

export type BlockUsage = Static<typeof BlockUsageSchema>;
export type PoolUsage = Static<typeof PoolUsageSchema>;
export type Utilization = Static<typeof UtilizationSchema>;

function blockBase(block: AllocationBlock): number {
  return blockCidr(block).base;
}

/** Each pool's capacity and allocations (libcalico-go GetUtilization); a block counts for the first pool holding it. */
export function ipamUtilization(pools: readonly Resource[], blocks: readonly AllocationBlock[]): Utilization {
  const sorted = [...blocks].sort((a, b) => blockBase(a) - blockBase(b));
  const claimed = new Set<AllocationBlock>();
  const usage: PoolUsage[] = [];
  for (const pool of pools) {
    const text = String((pool.spec as { cidr?: string } | undefined)?.cidr ?? '');
    const cidr = parseCidr(text);
    if (!cidr) continue;
    // IPAM allocates IPv4 only: an IPv6 pool is shown with its capacity and nothing in use.
    const v4 = parseIpv4Cidr(text);
    const inPool = v4 ? sorted.filter((b) => !claimed.has(b) && ipv4InCidr(blockBase(b), v4)) : [];
    for (const b of inPool) claimed.add(b);
    const blockUsage = inPool.map(usageOfBlock);
    usage.push({
      name: pool.metadata.name,
      cidr: text,
      capacity: 2 ** ((cidr.version === 4 ? 32 : 128) - cidr.prefix),
      inUse: blockUsage.reduce((sum, b) => sum + b.inUse, 0),
      blocks: blockUsage,
    });
  }
  return { pools: usage, orphanBlocks: sorted.filter((b) => !claimed.has(b)).map(usageOfBlock) };
}

function usageOfBlock(block: AllocationBlock): BlockUsage {
  return { cidr: block.cidr, capacity: cidrSize(blockCidr(block)), inUse: inUseCount(block) };
}

export interface IpamOperations {
  /** Each pool's capacity and use, with its blocks; blocks inside no pool apart. */
  utilization(): Promise<Utilization>;
  /** Every allocation block, as stored. */
  blocks(): Promise<AllocationBlock[]>;
  /** IPAM compared with the endpoints and nodes that use addresses. */
  check(): Promise<IpamCheckReport>;
  /** Frees an allocated address whoever holds it; IpamError NotAssigned when it is free. */
  releaseAddress(ip: string): Promise<void>;
}

export class DatastoreIpamOperations implements IpamOperations {
  constructor(
    private readonly backend: Backend,
    /** Who releases, in the allocator's log and errors. */
    private readonly actor: string,
  ) {}

  async utilization(): Promise<Utilization> {
    const [pools, blocks] = await Promise.all([this.backend.list(kindByAlias('ippool')!), this.blocks()]);
    return ipamUtilization(pools.items, blocks);
  }

  async blocks(): Promise<AllocationBlock[]> {
    return (await readIpamSnapshot(this.backend)).blocks.map((b) => b.block);
  }

  async check(): Promise<IpamCheckReport> {
    const [snapshot, usage] = await Promise.all([readIpamSnapshot(this.backend), readUsage(this.backend)]);
    return checkIpam(snapshot, usage);
  }

  async releaseAddress(ip: string): Promise<void> {
    // Releasing by address frees it whoever holds it: the allocator's own node plays no part.
    await new IpamAllocator(this.backend, this.actor).releaseAddress(ip);
  }
}
