// What IPAM holds against what uses addresses, read at one revision: the basis of `tabbyctl ipam check`,
// `ipam show` and the garbage collector. An address is in use when a WorkloadEndpoint lists it in
// ipNetworks or a Node has it as a tunnel address.
import type { Backend, KvStore, Resource } from '../datastore';
import { kindByAlias } from '../datastore';
import {
  type AllocationAttribute,
  type AllocationBlock,
  allocationsOf,
  type BlockAffinity,
  type IpamHandle,
  ordinalsOfHandle,
  parseBlock,
} from './block';
import { type Ipv4Cidr, ipv4InCidr, parseIpv4, parseIpv4Cidr } from './ipv4';
import { blockCidrOfKey, handleIdOfKey, IPAM_PREFIX, parseAffinityKey } from './keys';

export interface StoredBlock {
  block: AllocationBlock;
  modRevision: string;
}

export interface StoredAffinity {
  node: string;
  cidr: string;
  affinity: BlockAffinity;
  modRevision: string;
}

export interface IpamSnapshot {
  blocks: StoredBlock[];
  affinities: StoredAffinity[];
  handles: Map<string, { handle: IpamHandle; modRevision: string }>;
}

/** Every IPAM key in one read, so blocks, affinities and handles are from the same revision. */
export async function readIpamSnapshot(store: KvStore): Promise<IpamSnapshot> {
  const { pairs } = await store.kvList(IPAM_PREFIX);
  const snapshot: IpamSnapshot = { blocks: [], affinities: [], handles: new Map() };
  for (const pair of pairs) {
    if (blockCidrOfKey(pair.key) !== undefined) {
      snapshot.blocks.push({ block: parseBlock(pair.value), modRevision: pair.modRevision });
      continue;
    }
    const affinity = parseAffinityKey(pair.key);
    if (affinity) {
      snapshot.affinities.push({
        ...affinity,
        affinity: JSON.parse(pair.value) as BlockAffinity,
        modRevision: pair.modRevision,
      });
      continue;
    }
    const handleId = handleIdOfKey(pair.key);
    if (handleId !== undefined) {
      snapshot.handles.set(handleId, { handle: JSON.parse(pair.value) as IpamHandle, modRevision: pair.modRevision });
    }
  }
  return snapshot;
}

/** Who uses an address: `WorkloadEndpoint ns/name` or `Node name (IPIP tunnel)`. */
export type AddressUsers = Map<string, string[]>;

export interface UsageSnapshot {
  users: AddressUsers;
  /** Names of the Node resources that exist. */
  nodes: Set<string>;
  pools: Resource[];
}

function addUser(users: AddressUsers, address: string, who: string): void {
  const list = users.get(address);
  if (list) list.push(who);
  else users.set(address, [who]);
}

/** The address part of `10.0.0.5/32` or `10.0.0.5`. */
function addressPart(text: string): string {
  return text.split('/')[0]!;
}

export async function readUsage(backend: Backend): Promise<UsageSnapshot> {
  const [weps, nodes, pools] = await Promise.all([
    backend.list(kindByAlias('workloadendpoint')!),
    backend.list(kindByAlias('node')!),
    backend.list(kindByAlias('ippool')!),
  ]);
  const users: AddressUsers = new Map();
  for (const wep of weps.items) {
    const spec = (wep.spec ?? {}) as { ipNetworks?: string[] };
    for (const net of spec.ipNetworks ?? []) {
      addUser(users, addressPart(net), `WorkloadEndpoint ${wep.metadata.namespace}/${wep.metadata.name}`);
    }
  }
  for (const node of nodes.items) {
    const spec = (node.spec ?? {}) as { bgp?: { ipv4IPIPTunnelAddr?: string }; ipv4VXLANTunnelAddr?: string };
    if (spec.bgp?.ipv4IPIPTunnelAddr)
      addUser(users, addressPart(spec.bgp.ipv4IPIPTunnelAddr), `Node ${node.metadata.name} (IPIP tunnel)`);
    if (spec.ipv4VXLANTunnelAddr)
      addUser(users, addressPart(spec.ipv4VXLANTunnelAddr), `Node ${node.metadata.name} (VXLAN tunnel)`);
  }
  return { users, nodes: new Set(nodes.items.map((n) => n.metadata.name)), pools: pools.items };
}

export interface Allocation {
  address: string;
  block: string;
  handle: string | null;
  attrs: Record<string, string>;
}

export function allocationsIn(snapshot: IpamSnapshot): Allocation[] {
  return snapshot.blocks.flatMap(({ block }) =>
    allocationsOf(block).map(({ address, attr }) => ({
      address,
      block: block.cidr,
      handle: attr.handle_id,
      attrs: { ...((attr as AllocationAttribute).secondary ?? {}) },
    })),
  );
}

export interface IpamCheckReport {
  blocks: number;
  allocations: number;
  /** Allocated, but no endpoint or node uses the address. */
  leaked: Allocation[];
  /** Used by an endpoint or node, in an IP pool, but not allocated. */
  unallocated: { address: string; users: string[] }[];
  /** Used, but in no enabled IP pool. */
  outsidePools: { address: string; users: string[] }[];
  /** One address used by several endpoints or nodes. */
  duplicateUses: { address: string; users: string[] }[];
  /** A block affine to a node that has no affinity record for it. */
  blocksWithoutAffinity: { cidr: string; affinity: string }[];
  /** An affinity record whose block does not exist (or names another node). */
  affinitiesWithoutBlock: { node: string; cidr: string }[];
  /** A block claimed by several nodes' affinity records. */
  duplicateAffinities: { cidr: string; nodes: string[] }[];
  /** Handles whose counts disagree with the blocks. */
  handleMismatches: { handle: string; detail: string }[];
  problems: number;
}

export function checkIpam(snapshot: IpamSnapshot, usage: UsageSnapshot): IpamCheckReport {
  const allocations = allocationsIn(snapshot);
  const allocated = new Set(allocations.map((a) => a.address));
  // As calicoctl: addresses in disabled pools count as outside the active pools.
  const pools = usage.pools
    .filter((p) => !(p.spec as { disabled?: boolean } | undefined)?.disabled)
    .map((p) => parseIpv4Cidr(String((p.spec as { cidr?: string } | undefined)?.cidr ?? '')))
    .filter((c): c is Ipv4Cidr => c !== undefined);

  const leaked = allocations.filter((a) => !usage.users.has(a.address));
  const unallocated: IpamCheckReport['unallocated'] = [];
  const outsidePools: IpamCheckReport['outsidePools'] = [];
  const duplicateUses: IpamCheckReport['duplicateUses'] = [];
  for (const [address, users] of usage.users) {
    if (users.length > 1) duplicateUses.push({ address, users });
    if (allocated.has(address)) continue;
    const a = parseIpv4(address);
    if (a !== undefined && pools.some((p) => ipv4InCidr(a, p))) unallocated.push({ address, users });
    else outsidePools.push({ address, users });
  }

  const affinityByBlock = new Map<string, string[]>();
  for (const a of snapshot.affinities) {
    const list = affinityByBlock.get(a.cidr) ?? [];
    list.push(a.node);
    affinityByBlock.set(a.cidr, list);
  }
  const blockByCidr = new Map(snapshot.blocks.map((b) => [b.block.cidr, b.block]));
  const blocksWithoutAffinity = snapshot.blocks
    .filter(
      ({ block }) =>
        block.affinity?.startsWith('host:') && !affinityByBlock.get(block.cidr)?.includes(block.affinity.slice(5)),
    )
    .map(({ block }) => ({ cidr: block.cidr, affinity: block.affinity! }));
  const affinitiesWithoutBlock = snapshot.affinities
    .filter((a) => blockByCidr.get(a.cidr)?.affinity !== `host:${a.node}`)
    .map((a) => ({ node: a.node, cidr: a.cidr }));
  const duplicateAffinities = [...affinityByBlock.entries()]
    .filter(([, nodes]) => nodes.length > 1)
    .map(([cidr, nodes]) => ({ cidr, nodes }));

  const handleMismatches: IpamCheckReport['handleMismatches'] = [];
  const handlesInBlocks = new Set(allocations.map((a) => a.handle).filter((h): h is string => h !== null));
  for (const [id, { handle }] of snapshot.handles) {
    for (const [cidr, count] of Object.entries(handle.block ?? {})) {
      const block = blockByCidr.get(cidr);
      const actual = block ? ordinalsOfHandle(block, id).length : 0;
      if (actual !== count)
        handleMismatches.push({ handle: id, detail: `records ${count} in ${cidr}, the block has ${actual}` });
    }
  }
  for (const id of handlesInBlocks) {
    if (!snapshot.handles.has(id))
      handleMismatches.push({ handle: id, detail: 'has allocations but no handle record' });
  }

  const problems =
    leaked.length +
    unallocated.length +
    outsidePools.length +
    duplicateUses.length +
    blocksWithoutAffinity.length +
    affinitiesWithoutBlock.length +
    duplicateAffinities.length +
    handleMismatches.length;
  return {
    blocks: snapshot.blocks.length,
    allocations: allocations.length,
    leaked,
    unallocated,
    outsidePools,
    duplicateUses,
    blocksWithoutAffinity,
    affinitiesWithoutBlock,
    duplicateAffinities,
    handleMismatches,
    problems,
  };
}
