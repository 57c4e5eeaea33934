// What felix knows of the datastore: the resources and IPAM records its calculation reads, kept current from
// the syncers' updates. Plain maps, so the calculation is a pure function of them.
import type { KvPair, Resource, SyncUpdate } from '../../datastore';
import { type AllocationBlock, blockCidrOfKey, parseAffinityKey, parseBlock } from '../../ipam';
import { emptyPolicyInputs, type PolicyInputs } from './policy';

/**
 * What the policy calculation reads (policies, tiers, profiles, network sets, every workload and host endpoint),
 * and what the rest of the dataplane calculation reads besides.
 */
export interface FelixInputs extends PolicyInputs {
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
    ...emptyPolicyInputs(),
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
    case 'NetworkPolicy':
    case 'GlobalNetworkPolicy':
      return inputs.policies;
    case 'Tier':
      return inputs.tiers;
    case 'Profile':
      return inputs.profiles;
    case 'NetworkSet':
    case 'GlobalNetworkSet':
      return inputs.networkSets;
    case 'HostEndpoint':
      return inputs.hostEndpoints;
    default:
      return undefined;
  }
}

/** The resource kinds felix follows (aliases; `knp` is Kubernetes' NetworkPolicy). */
export const FELIX_KINDS = [
  'workloadendpoint',
  'node',
  'ippool',
  'felixconfiguration',
  'networkpolicy',
  'knp',
  'globalnetworkpolicy',
  'tier',
  'profile',
  'networkset',
  'globalnetworkset',
  'hostendpoint',
] as const;

/** Where a resource is kept in its map: kinds that share a map (two NetworkPolicy groups, two set kinds) stay apart. */
function inputKey(object: Resource): string {
  const name = object.metadata.namespace
    ? `${object.metadata.namespace}/${object.metadata.name}`
    : object.metadata.name;
  switch (object.kind) {
    case 'NetworkPolicy':
      return `${object.apiVersion}/${object.kind}/${name}`;
    case 'GlobalNetworkPolicy':
    case 'NetworkSet':
    case 'GlobalNetworkSet':
      return `${object.kind}/${name}`;
    default:
      return name;
  }
}

/** Kinds only the policy calculation reads: a change of them leaves routes, neighbours and devices as they are. */
const POLICY_ONLY_KINDS: ReadonlySet<string> = new Set([
  'NetworkPolicy',
  'GlobalNetworkPolicy',
  'Tier',
  'Profile',
  'NetworkSet',
  'GlobalNetworkSet',
  'HostEndpoint',
]);

/** What a batch of updates changed: anything felix reads, and of that anything beyond policy. */
export interface InputChange {
  changed: boolean;
  dataplane: boolean;
}

/** Applies resource updates; says whether anything felix reads changed, and whether only policy did. */
export function applyResourceUpdates(inputs: FelixInputs, updates: readonly SyncUpdate<Resource>[]): InputChange {
  const change: InputChange = { changed: false, dataplane: false };
  for (const { type, object } of updates) {
    const map = mapOfKind(inputs, object.kind);
    if (!map) continue;
    const key = inputKey(object);
    if (type === 'DELETED') map.delete(key);
    else map.set(key, object);
    change.changed = true;
    if (!POLICY_ONLY_KINDS.has(object.kind)) change.dataplane = true;
  }
  return change;
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
