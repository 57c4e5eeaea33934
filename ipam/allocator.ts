// The block allocator of one node. Every change is one etcd transaction that compare-and-swaps a block
// together with the handles it touches, so two allocators (on two nodes, or two processes on one node) never
// hand out one address twice, and a process killed at any point leaves either all of a change or none of it.
// Requests are taken in batches: all the addresses a batch takes from one block are written in that block's
// one transaction, which is what lets a node allocate faster than etcd commits single writes.
import type { KvGuard, KvStore, KvWrite } from '../datastore';
import {
  type AllocationBlock,
  addressOf,
  affineNode,
  assignNext,
  assignOrdinal,
  attributeOf,
  type BlockAffinity,
  blockCidr,
  freeCount,
  type IpamHandle,
  inUseCount,
  newBlock,
  ordinalOf,
  ordinalsOfHandle,
  parseBlock,
  releaseOrdinals,
} from './block';
import { IpamError } from './errors';
import { cidrSize, formatIpv4, formatIpv4Cidr, type Ipv4Cidr, ipv4InCidr, maskIpv4, parseIpv4 } from './ipv4';
import { affinityKey, BLOCKS_PREFIX, blockCidrOfKey, blockKey, handleKey, nodeAffinityPrefix } from './keys';
import type { UsablePool } from './pools';

export interface IpamConfig {
  strictAffinity: boolean;
  /** 0: no limit. */
  maxBlocksPerHost: number;
  autoAllocateBlocks: boolean;
}

export const DEFAULT_IPAM_CONFIG: IpamConfig = { strictAffinity: false, maxBlocksPerHost: 0, autoAllocateBlocks: true };

export interface AssignRequest {
  handleId: string;
  /** Calico's secondary attributes: node, namespace, pod, timestamp, type. */
  attrs: Record<string, string>;
  /** The pools it may use, in order of preference. */
  pools: readonly UsablePool[];
  /** One exact address (the ipAddrs annotation); it lies in pools[0]. */
  address?: number;
}

export interface Assigned {
  address: string;
  pool: string;
  block: string;
  /** The handle already held this address (a repeated request): nothing new was allocated. */
  existing: boolean;
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: Error };

interface BlockEntry {
  block: AllocationBlock;
  modRevision: string;
}

/** One block's share of a batch: a working copy and the requests placed in it. */
interface BlockWork {
  entry: BlockEntry;
  copy: AllocationBlock;
  placed: { index: number; ordinal: number }[];
}

/** How often a batch re-reads and retries after losing compare-and-swaps before giving up. */
const MAX_ROUNDS = 30;

function serialize(value: AllocationBlock | IpamHandle | BlockAffinity): string {
  return JSON.stringify(value);
}

function blockOf(pool: UsablePool, address: number): Ipv4Cidr {
  return { base: maskIpv4(address, pool.blockSize), prefix: pool.blockSize };
}

export class IpamAllocator {
  /** This node's affine blocks as last read or written, by CIDR; a failed compare-and-swap re-reads. */
  private readonly affine = new Map<string, BlockEntry>();
  private affineLoaded = false;

  constructor(
    private readonly store: KvStore,
    readonly node: string,
  ) {}

  /** Allocates one address per request; requests are independent (one failing does not fail the others). */
  async assign(requests: readonly AssignRequest[], config: IpamConfig): Promise<Outcome<Assigned>[]> {
    const outcomes: (Outcome<Assigned> | undefined)[] = new Array(requests.length);
    // A handle asked for twice in one batch (a retried ADD) gets one address.
    const firstOfHandle = new Map<string, number>();
    const duplicates: [number, number][] = [];
    let pending: number[] = [];
    requests.forEach((r, i) => {
      const first = firstOfHandle.get(r.handleId);
      if (first === undefined) {
        firstOfHandle.set(r.handleId, i);
        pending.push(i);
      } else duplicates.push([i, first]);
    });

    const borrowable = new Map<string, BlockEntry>();
    let borrowLoaded = false;
    let reloadedAffine = false;
    for (let round = 0; pending.length > 0; round++) {
      if (round === MAX_ROUNDS) {
        for (const i of pending)
          outcomes[i] = fail(new IpamError('Contention', 'the blocks kept changing under us; try again'));
        break;
      }
      await this.ensureAffineLoaded();
      const exact = pending.filter((i) => requests[i]!.address !== undefined);
      const next = pending.filter((i) => requests[i]!.address === undefined);
      const work = new Map<string, BlockWork>();
      const unplaced: number[] = [];
      for (const i of next) {
        if (!this.placeNext(i, requests[i]!, work, borrowLoaded ? borrowable : undefined)) unplaced.push(i);
      }
      const retry: number[] = [];
      for (const i of exact) {
        const placed = await this.placeExact(i, requests[i]!, work, config);
        if (placed === 'retry') retry.push(i);
        else if (placed !== 'placed') outcomes[i] = placed;
      }

      if (unplaced.length > 0) {
        if (!reloadedAffine) {
          // Another process of this node may have claimed blocks we have not seen.
          reloadedAffine = true;
          this.affineLoaded = false;
          retry.push(...unplaced);
        } else if (
          await this.claimFor(
            unplaced.map((i) => requests[i]!),
            config,
          )
        ) {
          retry.push(...unplaced);
        } else if (!config.strictAffinity && !borrowLoaded) {
          borrowLoaded = true;
          await this.loadBorrowable(
            unplaced.map((i) => requests[i]!),
            borrowable,
          );
          retry.push(...unplaced);
        } else {
          const message = await this.exhaustedMessage(
            unplaced.map((i) => requests[i]!),
            config,
          );
          for (const i of unplaced) outcomes[i] = fail(new IpamError('Exhausted', message));
        }
      }

      const committed = await Promise.all([...work.values()].map((w) => this.commitAssignments(w, requests)));
      for (const [k, w] of [...work.values()].entries()) {
        const result = committed[k]!;
        for (const { index, ordinal } of w.placed) {
          const existing = result.existing.get(requests[index]!.handleId);
          if (result.ok) {
            outcomes[index] = {
              ok: true,
              value: {
                address: addressOf(w.copy, ordinal),
                pool: poolOfBlock(requests[index]!, w.copy),
                block: w.copy.cidr,
                existing: false,
              },
            };
          } else if (existing) outcomes[index] = { ok: true, value: existing };
          else retry.push(index);
        }
        if (borrowable.has(w.copy.cidr)) {
          const fresh = result.ok ? { block: w.copy, modRevision: result.revision } : await this.readBlock(w.copy.cidr);
          if (fresh) borrowable.set(w.copy.cidr, fresh);
          else borrowable.delete(w.copy.cidr);
        }
      }
      pending = retry;
    }
    for (const [i, first] of duplicates) {
      const o = outcomes[first]!;
      outcomes[i] = o.ok ? { ok: true, value: { ...o.value, existing: true } } : o;
    }
    return outcomes as Outcome<Assigned>[];
  }

  /** Releases every address of each handle; returns what each released (nothing for unknown handles). */
  async releaseHandles(handleIds: readonly string[]): Promise<Map<string, Outcome<string[]>>> {
    const results = new Map<string, Outcome<string[]>>();
    const released = new Map<string, string[]>(handleIds.map((h) => [h, []]));
    let pending = [...new Set(handleIds)];
    for (let round = 0; pending.length > 0; round++) {
      if (round === MAX_ROUNDS) {
        for (const h of pending)
          results.set(
            h,
            fail(new IpamError('Contention', `releasing ${h}: the blocks kept changing under us; try again`)),
          );
        break;
      }
      const handles = await Promise.all(
        pending.map(async (h) => ({ id: h, pair: await this.store.kvGet(handleKey(h)) })),
      );
      const byBlock = new Map<string, { id: string; modRevision: string; handle: IpamHandle }[]>();
      for (const { id, pair } of handles) {
        if (!pair) {
          results.set(id, { ok: true, value: released.get(id)! });
          continue;
        }
        const handle = JSON.parse(pair.value) as IpamHandle;
        const cidrs = Object.keys(handle.block ?? {});
        // One block per round: a handle in several blocks (rare) is finished over several rounds.
        const cidr = cidrs[0];
        if (cidr === undefined) {
          await this.store.kvCommit(
            [{ key: handleKey(id), modRevision: pair.modRevision }],
            [{ key: handleKey(id), delete: true }],
          );
          results.set(id, { ok: true, value: released.get(id)! });
          continue;
        }
        const list = byBlock.get(cidr) ?? [];
        list.push({ id, modRevision: pair.modRevision, handle });
        byBlock.set(cidr, list);
      }
      const next: string[] = [];
      await Promise.all(
        [...byBlock.entries()].map(async ([cidr, members]) => {
          const entry = await this.readBlock(cidr);
          const guards: KvGuard[] = members.map((m) => ({ key: handleKey(m.id), modRevision: m.modRevision }));
          const writes: KvWrite[] = [];
          const freed: [string, string[]][] = [];
          let copy: AllocationBlock | undefined;
          if (entry) {
            copy = structuredClone(entry.block);
            guards.push({ key: blockKey(cidr), modRevision: entry.modRevision });
          }
          for (const m of members) {
            const ordinals = copy ? ordinalsOfHandle(copy, m.id) : [];
            if (copy) {
              freed.push([m.id, ordinals.map((o) => addressOf(copy!, o))]);
              releaseOrdinals(copy, ordinals);
            }
            const rest = { ...m.handle.block };
            delete rest[cidr];
            writes.push(
              Object.keys(rest).length === 0
                ? { key: handleKey(m.id), delete: true }
                : { key: handleKey(m.id), value: serialize({ block: rest, deleted: false }) },
            );
          }
          if (copy) writes.push(...this.blockWrite(copy));
          const revision = await this.store.kvCommit(guards, writes);
          if (revision === undefined) {
            if (copy) this.forget(cidr);
            for (const m of members) next.push(m.id);
            return;
          }
          if (copy) this.remember(copy, revision);
          for (const [id, addresses] of freed) released.get(id)!.push(...addresses);
          // A handle with blocks left goes round again.
          for (const m of members) {
            if (Object.keys(m.handle.block).length > 1) next.push(m.id);
            else results.set(m.id, { ok: true, value: released.get(m.id)! });
          }
        }),
      );
      pending = next;
    }
    return results;
  }

  /**
   * Releases one address and returns the handle it belonged to. With expectedHandle, only while that handle
   * still holds it (the garbage collector must not free an address that was re-allocated since it looked).
   */
  async releaseAddress(text: string, expectedHandle?: string): Promise<string> {
    const address = parseIpv4(text);
    if (address === undefined) throw new IpamError('InvalidRequest', `${JSON.stringify(text)} is not an IPv4 address`);
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const entry = await this.findBlockOf(address);
      const ordinal = entry ? ordinalOf(entry.block, address) : undefined;
      const attr = entry && ordinal !== undefined ? attributeOf(entry.block, ordinal) : undefined;
      if (!entry || ordinal === undefined || !attr)
        throw new IpamError('NotAssigned', `address ${text} is not assigned`);
      if (expectedHandle !== undefined && attr.handle_id !== expectedHandle) {
        throw new IpamError('NotAssigned', `address ${text} is no longer held by ${expectedHandle}`);
      }
      const copy = structuredClone(entry.block);
      releaseOrdinals(copy, [ordinal]);
      const guards: KvGuard[] = [{ key: blockKey(copy.cidr), modRevision: entry.modRevision }];
      const writes = this.blockWrite(copy);
      const handleId = attr.handle_id ?? '';
      if (handleId) {
        const pair = await this.store.kvGet(handleKey(handleId));
        if (pair) {
          const handle = JSON.parse(pair.value) as IpamHandle;
          const block = { ...handle.block };
          const left = (block[copy.cidr] ?? 1) - 1;
          if (left > 0) block[copy.cidr] = left;
          else delete block[copy.cidr];
          guards.push({ key: handleKey(handleId), modRevision: pair.modRevision });
          writes.push(
            Object.keys(block).length === 0
              ? { key: handleKey(handleId), delete: true }
              : { key: handleKey(handleId), value: serialize({ block, deleted: false }) },
          );
        }
      }
      const revision = await this.store.kvCommit(guards, writes);
      if (revision !== undefined) {
        this.remember(copy, revision);
        return handleId;
      }
      this.forget(copy.cidr);
    }
    throw new IpamError('Contention', `releasing ${text}: the block kept changing under us; try again`);
  }

  /** The addresses a handle holds. */
  async addressesOf(handleId: string): Promise<string[]> {
    const pair = await this.store.kvGet(handleKey(handleId));
    if (!pair) return [];
    const handle = JSON.parse(pair.value) as IpamHandle;
    const addresses: string[] = [];
    for (const cidr of Object.keys(handle.block ?? {})) {
      const entry = await this.readBlock(cidr);
      if (entry) for (const o of ordinalsOfHandle(entry.block, handleId)) addresses.push(addressOf(entry.block, o));
    }
    return addresses;
  }

  /** Forgets what this allocator knows of its node's blocks (another writer removed some). */
  invalidate(): void {
    this.affine.clear();
    this.affineLoaded = false;
  }

  /** A block's writes: a block that belongs to no node and holds nothing is deleted rather than kept. */
  private blockWrite(block: AllocationBlock): KvWrite[] {
    if (block.affinity === null && inUseCount(block) === 0) return [{ key: blockKey(block.cidr), delete: true }];
    return [{ key: blockKey(block.cidr), value: serialize(block) }];
  }

  private remember(block: AllocationBlock, modRevision: string): void {
    if (affineNode(block) === this.node && this.affine.has(block.cidr))
      this.affine.set(block.cidr, { block, modRevision });
  }

  private forget(cidr: string): void {
    if (this.affine.delete(cidr)) this.affineLoaded = false;
  }

  private async readBlock(cidr: string): Promise<BlockEntry | undefined> {
    const pair = await this.store.kvGet(blockKey(cidr));
    return pair ? { block: parseBlock(pair.value), modRevision: pair.modRevision } : undefined;
  }

  private async ensureAffineLoaded(): Promise<void> {
    if (this.affineLoaded) return;
    const { pairs } = await this.store.kvList(nodeAffinityPrefix(this.node));
    const cidrs = pairs.map((p) => p.key.slice(nodeAffinityPrefix(this.node).length).replace('-', '/'));
    const entries = await Promise.all(cidrs.map((c) => this.readBlock(c)));
    this.affine.clear();
    for (const e of entries) {
      // An affinity whose block is missing or belongs elsewhere is half-written state (ipam check reports it).
      if (e && affineNode(e.block) === this.node && !e.block.deleted) this.affine.set(e.block.cidr, e);
    }
    this.affineLoaded = true;
  }

  /** Places a request in the first block (affine first, then borrowable) of its first pool with room. */
  private placeNext(
    index: number,
    request: AssignRequest,
    work: Map<string, BlockWork>,
    borrowable: Map<string, BlockEntry> | undefined,
  ): boolean {
    const sources = borrowable ? [this.affine, borrowable] : [this.affine];
    for (const pool of request.pools) {
      for (const source of sources) {
        for (const entry of source.values()) {
          // A full block is skipped before it is copied: a node with many full blocks would copy them all per request.
          if (!work.has(entry.block.cidr) && entry.block.unallocated.length === 0) continue;
          if (!ipv4InCidr(blockCidr(entry.block).base, pool.cidr)) continue;
          const w = work.get(entry.block.cidr) ?? { entry, copy: structuredClone(entry.block), placed: [] };
          const ordinal = assignNext(w.copy, request.handleId, request.attrs);
          if (ordinal === undefined) continue;
          work.set(entry.block.cidr, w);
          w.placed.push({ index, ordinal });
          return true;
        }
      }
    }
    return false;
  }

  /** Places an exact-address request; its block is claimed for this node when nobody has it yet. */
  private async placeExact(
    index: number,
    request: AssignRequest,
    work: Map<string, BlockWork>,
    config: IpamConfig,
  ): Promise<'placed' | 'retry' | Outcome<Assigned>> {
    const address = request.address!;
    const pool = request.pools[0]!;
    const cidr = formatIpv4Cidr(blockOf(pool, address));
    let w = work.get(cidr);
    if (!w) {
      const entry = this.affine.get(cidr) ?? (await this.readBlock(cidr));
      if (!entry) {
        await this.claimBlock(blockOf(pool, address), config);
        return 'retry';
      }
      w = { entry, copy: structuredClone(entry.block), placed: [] };
    }
    const ordinal = ordinalOf(w.copy, address)!;
    const holder = attributeOf(w.copy, ordinal);
    if (holder?.handle_id === request.handleId) {
      return { ok: true, value: { address: formatIpv4(address), pool: pool.name, block: cidr, existing: true } };
    }
    if (!assignOrdinal(w.copy, ordinal, request.handleId, request.attrs)) {
      return fail(
        new IpamError(
          'InUse',
          `address ${formatIpv4(address)} is already in use (handle ${holder?.handle_id ?? 'unknown'})`,
        ),
      );
    }
    work.set(cidr, w);
    w.placed.push({ index, ordinal });
    return 'placed';
  }

  /**
   * Writes one block's new allocations with the handles they belong to. New handles must not exist yet;
   * when one does (a repeated request), the transaction fails and its existing address is looked up.
   */
  private async commitAssignments(
    w: BlockWork,
    requests: readonly AssignRequest[],
  ): Promise<{ ok: boolean; revision: string; existing: Map<string, Assigned> }> {
    const cidr = w.copy.cidr;
    const guards: KvGuard[] = [{ key: blockKey(cidr), modRevision: w.entry.modRevision }];
    const writes: KvWrite[] = [{ key: blockKey(cidr), value: serialize(w.copy) }];
    for (const { index } of w.placed) {
      const handleId = requests[index]!.handleId;
      guards.push({ key: handleKey(handleId), modRevision: undefined });
      writes.push({ key: handleKey(handleId), value: serialize({ block: { [cidr]: 1 }, deleted: false }) });
    }
    const revision = await this.store.kvCommit(guards, writes);
    const existing = new Map<string, Assigned>();
    if (revision !== undefined) {
      this.remember(w.copy, revision);
      return { ok: true, revision, existing };
    }
    this.forget(cidr);
    for (const { index } of w.placed) {
      const request = requests[index]!;
      const held = await this.addressesOf(request.handleId);
      if (held.length > 0) {
        existing.set(request.handleId, {
          address: held[0]!,
          pool: poolOf(request, held[0]!),
          block: cidr,
          existing: true,
        });
      }
    }
    return { ok: false, revision: '', existing };
  }

  /** Claims one new block for the first request whose pools have a free block; false when none can. */
  private async claimFor(requests: readonly AssignRequest[], config: IpamConfig): Promise<boolean> {
    if (!config.autoAllocateBlocks) return false;
    if (config.maxBlocksPerHost > 0 && this.affine.size >= config.maxBlocksPerHost) return false;
    const tried = new Set<string>();
    for (const r of requests) {
      for (const pool of r.pools) {
        if (tried.has(pool.name)) continue;
        tried.add(pool.name);
        if (await this.claimInPool(pool, config)) return true;
      }
    }
    return false;
  }

  /** Claims a free block of the pool, starting at a random one so nodes do not race for the same block. */
  private async claimInPool(pool: UsablePool, config: IpamConfig): Promise<boolean> {
    const taken = new Set((await this.store.kvList(BLOCKS_PREFIX)).pairs.map((p) => blockCidrOfKey(p.key)));
    const blockSpan = 2 ** (32 - pool.blockSize);
    const count = 2 ** (pool.blockSize - pool.cidr.prefix);
    const start = Math.floor(Math.random() * count);
    for (let k = 0; k < count; k++) {
      const cidr: Ipv4Cidr = { base: pool.cidr.base + ((start + k) % count) * blockSpan, prefix: pool.blockSize };
      if (taken.has(formatIpv4Cidr(cidr))) continue;
      if (await this.claimBlock(cidr, config)) return true;
    }
    return false;
  }

  /**
   * Creates a block affine to this node and its affinity in one transaction, so there is never an affinity
   * without its block or the other way round (Calico needs a pending state for that; etcd does not).
   */
  private async claimBlock(cidr: Ipv4Cidr, config: IpamConfig): Promise<boolean> {
    const text = formatIpv4Cidr(cidr);
    const block = newBlock(cidr, this.node, config.strictAffinity);
    const affinity: BlockAffinity = { state: 'confirmed', deleted: false };
    const revision = await this.store.kvCommit(
      [
        { key: blockKey(text), modRevision: undefined },
        { key: affinityKey(this.node, text), modRevision: undefined },
      ],
      [
        { key: blockKey(text), value: serialize(block) },
        { key: affinityKey(this.node, text), value: serialize(affinity) },
      ],
    );
    if (revision === undefined) return false;
    this.affine.set(text, { block, modRevision: revision });
    return true;
  }

  /** Blocks of other nodes (or of none) in the requests' pools with room, to borrow from. */
  private async loadBorrowable(requests: readonly AssignRequest[], into: Map<string, BlockEntry>): Promise<void> {
    const pools = requests.flatMap((r) => r.pools);
    for (const pair of (await this.store.kvList(BLOCKS_PREFIX)).pairs) {
      const block = parseBlock(pair.value);
      if (affineNode(block) === this.node && this.affine.has(block.cidr)) continue;
      if (block.deleted || freeCount(block) === 0) continue;
      const base = blockCidr(block).base;
      if (pools.some((p) => ipv4InCidr(base, p.cidr))) into.set(block.cidr, { block, modRevision: pair.modRevision });
    }
  }

  private async findBlockOf(address: number): Promise<BlockEntry | undefined> {
    for (const pair of (await this.store.kvList(BLOCKS_PREFIX)).pairs) {
      const block = parseBlock(pair.value);
      if (ordinalOf(block, address) !== undefined) return { block, modRevision: pair.modRevision };
    }
    return undefined;
  }

  /** `no free address in pools [pool-a] for node node-2 (pool-a: 64 of 64 in use)`, with why no block could be had. */
  private async exhaustedMessage(requests: readonly AssignRequest[], config: IpamConfig): Promise<string> {
    const pools = [...new Map(requests.flatMap((r) => r.pools).map((p) => [p.name, p])).values()];
    if (pools.length === 0)
      return `no IP pool is usable for node ${this.node}: none is enabled and selects this node and namespace`;
    const blocks = (await this.store.kvList(BLOCKS_PREFIX)).pairs.map((p) => parseBlock(p.value));
    const usage = pools.map((pool) => {
      const used = blocks
        .filter((b) => ipv4InCidr(blockCidr(b).base, pool.cidr))
        .reduce((sum, b) => sum + inUseCount(b), 0);
      return `${pool.name}: ${used} of ${cidrSize(pool.cidr)} in use`;
    });
    const why: string[] = [];
    if (!config.autoAllocateBlocks) why.push('autoAllocateBlocks is off');
    else if (config.maxBlocksPerHost > 0 && this.affine.size >= config.maxBlocksPerHost) {
      why.push(`the node has its maximum of ${config.maxBlocksPerHost} blocks`);
    }
    if (config.strictAffinity) why.push('strictAffinity forbids borrowing from other nodes');
    const names = pools.map((p) => p.name).join(', ');
    return `no free address in pools [${names}] for node ${this.node} (${[...usage, ...why].join('; ')})`;
  }
}

function fail(error: Error): { ok: false; error: Error } {
  return { ok: false, error };
}

function poolOf(request: AssignRequest, address: string): string {
  const a = parseIpv4(address);
  return request.pools.find((p) => a !== undefined && ipv4InCidr(a, p.cidr))?.name ?? '';
}

function poolOfBlock(request: AssignRequest, block: AllocationBlock): string {
  const base = blockCidr(block).base;
  return request.pools.find((p) => ipv4InCidr(base, p.cidr))?.name ?? '';
}
