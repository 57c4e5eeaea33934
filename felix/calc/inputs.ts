// What felix knows of the datastore: the resources and IPAM records its calculation reads, kept current from
// the syncers' updates. Plain maps, so the calculation is a pure function of them.
import type { KvPair, Resource, SyncUpdate } from '../../datastore';
import { type AllocationBlock, blockCidrOfKey, parseAffinityKey, parseBlock } from '../../ipam';

export interface FelixInputs {
  /** WorkloadEndpoints by `namespace/name`. */
  endpoints: Map<string, Resource>;
  nodes: Map<string, Resource>;
  pools: Map<string, Resource>;
  felixConfigs: Map<string, Resource>;
  /** IPAM blocks by CIDR. */
  blocks: Map<string, AllocationBlock>;
  /** Block CIDR → node, from the affinity records. */
  affinities: Map<string, string>;
}

export function emptyInputs(): FelixInputs {
  return {
    endpoints: new Map(),
    nodes: new Map(),
    pools: new Map(),
    felixConfigs: new Map(),
    blocks: new Map(),
    affinities: new Map(),
  };
}

function mapOfKind(inputs: FelixInputs, kind: string): Map<string, Resource> | undefined {
  switch (kind) {
    case 'WorkloadEndpoint':
      return inputs.endpoints;
    case 'Node':
      return inputs.nodes;
    case 'IPPool':
      return inputs.pools;
    case 'FelixConfiguration':
      return inputs.felixConfigs;
    default:
      return undefined;
  }
}

/** The resource kinds felix follows. */
export const FELIX_KINDS = ['workloadendpoint', 'node', 'ippool', 'felixconfiguration'] as const;

/** Applies resource updates; returns whether anything felix reads changed. */
export function applyResourceUpdates(inputs: FelixInputs, updates: readonly SyncUpdate<Resource>[]): boolean {
  let changed = false;
  for (const { type, object } of updates) {
    const map = mapOfKind(inputs, object.kind);
    if (!map) continue;
    const key = object.metadata.namespace
      ? `${object.metadata.namespace}/${object.metadata.name}`
      : object.metadata.name;
    if (type === 'DELETED') map.delete(key);
    else map.set(key, object);
    changed = true;
  }
  return changed;
}

/** Applies IPAM key updates (blocks and host affinities; handles are not felix's concern). */
export function applyIpamUpdates(inputs: FelixInputs, updates: readonly SyncUpdate<KvPair>[]): boolean {
  let changed = false;
  for (const { type, object } of updates) {
    const cidr = blockCidrOfKey(object.key);
    if (cidr !== undefined) {
      if (type === 'DELETED') inputs.blocks.delete(cidr);
      else {
        try {
          inputs.blocks.set(cidr, parseBlock(object.value));
        } catch {
          // A block we cannot read is left out rather than stopping the dataplane; ipam check reports it.
          inputs.blocks.delete(cidr);
        }
      }
      changed = true;
      continue;
    }
    const affinity = parseAffinityKey(object.key);
    if (affinity) {
      if (type === 'DELETED') inputs.affinities.delete(affinity.cidr);
      else inputs.affinities.set(affinity.cidr, affinity.node);
      changed = true;
    }
  }
  return changed;
}
