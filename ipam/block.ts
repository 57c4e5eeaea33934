// An allocation block as Calico stores it (model.AllocationBlock): `allocations[ordinal]` indexes
// `attributes` (or is null when free), `unallocated` lists free ordinals in the order they are handed out.
// Freed ordinals go to the back, so an address just released is the last to be reused. Pure functions on the
// stored JSON: the allocator reads a block, changes a copy and writes it back with compare-and-swap.
import { cidrSize, formatIpv4, formatIpv4Cidr, type Ipv4Cidr, ipv4InCidr, parseIpv4Cidr } from './ipv4';

export interface AllocationAttribute {
  handle_id: string | null;
  secondary: Record<string, string> | null;
}

export interface AllocationBlock {
  cidr: string;
  /** `host:<node>` for a block affine to a node; null for a block that belongs to no node. */
  affinity: string | null;
  strictAffinity: boolean;
  allocations: (number | null)[];
  unallocated: number[];
  attributes: AllocationAttribute[];
  deleted: boolean;
  sequenceNumber: number;
  sequenceNumberForAllocation: Record<string, number>;
}

/** What a handle records: how many addresses it holds in each block (model.IPAMHandle). */
export interface IpamHandle {
  block: Record<string, number>;
  deleted: boolean;
}

export interface BlockAffinity {
  state: 'confirmed' | 'pending' | 'pendingDeletion';
  deleted: boolean;
}

/** The attribute keys Calico writes (libcalico-go/lib/ipam/ipam_types.go). */
export const ATTR_NODE = 'node';
export const ATTR_NAMESPACE = 'namespace';
export const ATTR_POD = 'pod';
export const ATTR_TIMESTAMP = 'timestamp';
export const ATTR_TYPE = 'type';

export function hostAffinity(node: string): string {
  return `host:${node}`;
}

/** The node a block is affine to, or undefined. */
export function affineNode(block: AllocationBlock): string | undefined {
  return block.affinity?.startsWith('host:') ? block.affinity.slice(5) : undefined;
}

export function newBlock(cidr: Ipv4Cidr, node: string | undefined, strictAffinity: boolean): AllocationBlock {
  const size = cidrSize(cidr);
  return {
    cidr: formatIpv4Cidr(cidr),
    affinity: node === undefined ? null : hostAffinity(node),
    strictAffinity,
    allocations: new Array<number | null>(size).fill(null),
    unallocated: Array.from({ length: size }, (_, i) => i),
    attributes: [],
    deleted: false,
    sequenceNumber: 0,
    sequenceNumberForAllocation: {},
  };
}

export function parseBlock(value: string): AllocationBlock {
  const b = JSON.parse(value) as AllocationBlock;
  b.attributes ??= [];
  b.unallocated ??= [];
  b.sequenceNumber ??= 0;
  b.sequenceNumberForAllocation ??= {};
  return b;
}

export function blockCidr(block: AllocationBlock): Ipv4Cidr {
  const c = parseIpv4Cidr(block.cidr);
  if (!c) throw new Error(`block with an unreadable CIDR ${JSON.stringify(block.cidr)}`);
  return c;
}

export function freeCount(block: AllocationBlock): number {
  return block.unallocated.length;
}

export function inUseCount(block: AllocationBlock): number {
  return block.allocations.length - block.unallocated.length;
}

export function addressOf(block: AllocationBlock, ordinal: number): string {
  return formatIpv4(blockCidr(block).base + ordinal);
}

/** The ordinal of an address in the block, or undefined when the block does not contain it. */
export function ordinalOf(block: AllocationBlock, address: number): number | undefined {
  const c = blockCidr(block);
  return ipv4InCidr(address, c) ? address - c.base : undefined;
}

function attributeIndex(block: AllocationBlock, handleId: string, secondary: Record<string, string>): number {
  const wanted = JSON.stringify(secondary);
  const found = block.attributes.findIndex(
    (a) => a.handle_id === handleId && JSON.stringify(a.secondary ?? {}) === wanted,
  );
  if (found >= 0) return found;
  block.attributes.push({ handle_id: handleId, secondary });
  return block.attributes.length - 1;
}

function markAllocated(block: AllocationBlock, ordinal: number, attr: number): void {
  block.allocations[ordinal] = attr;
  block.sequenceNumber++;
  block.sequenceNumberForAllocation[String(ordinal)] = block.sequenceNumber;
}

/** Takes the next free ordinal for handleId (mutates block); undefined when the block is full. */
export function assignNext(block: AllocationBlock, handleId: string, secondary: Record<string, string>) {
  const ordinal = block.unallocated.shift();
  if (ordinal === undefined) return undefined;
  markAllocated(block, ordinal, attributeIndex(block, handleId, secondary));
  return ordinal;
}

/** Takes one given ordinal (mutates block); false when it is already in use. */
export function assignOrdinal(
  block: AllocationBlock,
  ordinal: number,
  handleId: string,
  secondary: Record<string, string>,
): boolean {
  const at = block.unallocated.indexOf(ordinal);
  if (at < 0) return false;
  block.unallocated.splice(at, 1);
  markAllocated(block, ordinal, attributeIndex(block, handleId, secondary));
  return true;
}

export function attributeOf(block: AllocationBlock, ordinal: number): AllocationAttribute | undefined {
  const index = block.allocations[ordinal];
  return index === null || index === undefined ? undefined : block.attributes[index];
}

export function ordinalsOfHandle(block: AllocationBlock, handleId: string): number[] {
  const result: number[] = [];
  block.allocations.forEach((index, ordinal) => {
    if (index !== null && block.attributes[index]?.handle_id === handleId) result.push(ordinal);
  });
  return result;
}

/** Frees ordinals (mutates block) and drops attributes nothing refers to any more, as Calico does. */
export function releaseOrdinals(block: AllocationBlock, ordinals: readonly number[]): void {
  for (const ordinal of ordinals) {
    if (block.allocations[ordinal] === null || block.allocations[ordinal] === undefined) continue;
    block.allocations[ordinal] = null;
    block.unallocated.push(ordinal);
    delete block.sequenceNumberForAllocation[String(ordinal)];
  }
  const used = new Set<number>();
  for (const index of block.allocations) if (index !== null) used.add(index);
  if (used.size === block.attributes.length) return;
  const renumber = new Map<number, number>();
  const kept: AllocationAttribute[] = [];
  block.attributes.forEach((attr, index) => {
    if (!used.has(index)) return;
    renumber.set(index, kept.length);
    kept.push(attr);
  });
  block.attributes = kept;
  block.allocations = block.allocations.map((index) => (index === null ? null : (renumber.get(index) ?? null)));
}

/** Each allocated address of a block with its attribute, in address order. */
export function allocationsOf(
  block: AllocationBlock,
): { ordinal: number; address: string; attr: AllocationAttribute }[] {
  const result: { ordinal: number; address: string; attr: AllocationAttribute }[] = [];
  const base = blockCidr(block).base;
  block.allocations.forEach((index, ordinal) => {
    if (index === null) return;
    result.push({
      ordinal,
      address: formatIpv4(base + ordinal),
      attr: block.attributes[index] ?? { handle_id: null, secondary: null },
    });
  });
  return result;
}
