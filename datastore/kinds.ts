// The registry of resource kinds tabby stores: Calico's v3 kinds plus Kubernetes' NetworkPolicy.
// Plurals and CLI aliases are calicoctl's (calicoctl/resourcemgr), so a user's muscle memory carries over.
import { DatastoreError } from './errors';

export const CALICO_API_VERSION = 'projectcalico.org/v3';
export const K8S_NETWORKING_API_VERSION = 'networking.k8s.io/v1';

export interface KindInfo {
  /** The `kind` field as written in YAML. */
  kind: string;
  apiVersion: string;
  /** The API group (first part of apiVersion): it separates Calico's and Kubernetes' NetworkPolicy. */
  group: string;
  /** Lower-case plural, used in etcd keys and REST paths. */
  plural: string;
  namespaced: boolean;
  /** Case-insensitive names accepted on the command line. */
  aliases: string[];
}

function calico(kind: string, plural: string, namespaced: boolean, aliases: string[]): KindInfo {
  return { kind, apiVersion: CALICO_API_VERSION, group: 'projectcalico.org', plural, namespaced, aliases };
}

export const KINDS: readonly KindInfo[] = [
  calico('IPPool', 'ippools', false, ['ippool', 'ippools', 'ipp', 'ipps', 'pool', 'pools']),
  calico('BGPPeer', 'bgppeers', false, ['bgppeer', 'bgppeers', 'bgpp', 'bgpps', 'bp', 'bps']),
  calico('BGPConfiguration', 'bgpconfigurations', false, [
    'bgpconfiguration',
    'bgpconfigurations',
    'bgpconfig',
    'bgpconfigs',
  ]),
  calico('FelixConfiguration', 'felixconfigurations', false, [
    'felixconfiguration',
    'felixconfigurations',
    'felixconfig',
    'felixconfigs',
  ]),
  calico('Node', 'nodes', false, ['node', 'nodes', 'no', 'nos']),
  calico('WorkloadEndpoint', 'workloadendpoints', true, ['workloadendpoint', 'workloadendpoints', 'wep', 'weps']),
  calico('HostEndpoint', 'hostendpoints', false, ['hostendpoint', 'hostendpoints', 'hep', 'heps']),
  calico('NetworkPolicy', 'networkpolicies', true, [
    'networkpolicy',
    'networkpolicies',
    'policy',
    'np',
    'policies',
    'pol',
    'pols',
  ]),
  calico('GlobalNetworkPolicy', 'globalnetworkpolicies', false, [
    'globalnetworkpolicy',
    'globalnetworkpolicies',
    'gnp',
    'gnps',
  ]),
  calico('NetworkSet', 'networksets', true, ['networkset', 'networksets', 'netsets']),
  calico('GlobalNetworkSet', 'globalnetworksets', false, ['globalnetworkset', 'globalnetworksets', 'gnetsets']),
  calico('Profile', 'profiles', false, ['profile', 'profiles', 'pro', 'pros']),
  calico('IPAMConfiguration', 'ipamconfigurations', false, [
    'ipamconfiguration',
    'ipamconfigurations',
    'ipamconfig',
    'ipamconfigs',
  ]),
  calico('Tier', 'tiers', false, ['tier', 'tiers']),
  calico('CalicoNodeStatus', 'caliconodestatuses', false, [
    'caliconodestatus',
    'caliconodestatuses',
    'nodestatus',
    'nodestatuses',
  ]),
  {
    kind: 'NetworkPolicy',
    apiVersion: K8S_NETWORKING_API_VERSION,
    group: 'networking.k8s.io',
    plural: 'networkpolicies',
    namespaced: true,
    aliases: [
      'networkpolicy.networking.k8s.io',
      'networkpolicies.networking.k8s.io',
      'k8snetworkpolicy',
      'k8snetworkpolicies',
      'knp',
      'knps',
    ],
  },
];

const byAlias = new Map<string, KindInfo>();
for (const k of KINDS) for (const a of k.aliases) byAlias.set(a, k);

/** The kind a command-line name refers to (case-insensitive, singular, plural or short form). */
export function kindByAlias(name: string): KindInfo | undefined {
  return byAlias.get(name.toLowerCase());
}

/** The kind of a document, from its `apiVersion` and `kind` fields. */
export function kindOf(apiVersion: string, kind: string): KindInfo | undefined {
  return KINDS.find((k) => k.apiVersion === apiVersion && k.kind === kind);
}

/** `<plural>.<group>`, as Kubernetes names a resource: `nodes.projectcalico.org`. */
export function resourceName(k: KindInfo): string {
  return `${k.plural}.${k.group}`;
}

const byResourceName = new Map(KINDS.map((k) => [resourceName(k), k]));

/** The kind a resource name (`<plural>.<group>`) names. */
export function kindOfResource(name: string): KindInfo | undefined {
  return byResourceName.get(name);
}

/** The kind a REST path names, from its `<group>/<version>` and plural. */
export function kindOfPlural(apiVersion: string, plural: string): KindInfo | undefined {
  return KINDS.find((k) => k.apiVersion === apiVersion && k.plural === plural);
}

/** A stable identifier for a kind across groups, e.g. `projectcalico.org/NetworkPolicy`. */
export function kindId(k: KindInfo): string {
  return `${k.group}/${k.kind}`;
}

/** The kind of a resource document, or an error naming what is wrong with its apiVersion/kind. */
export function resolveKind(r: { apiVersion?: unknown; kind?: unknown }): KindInfo {
  const info =
    typeof r.apiVersion === 'string' && typeof r.kind === 'string' ? kindOf(r.apiVersion, r.kind) : undefined;
  if (!info) {
    throw new DatastoreError(
      'Invalid',
      `unknown resource type: apiVersion ${JSON.stringify(r.apiVersion)}, kind ${JSON.stringify(r.kind)}`,
    );
  }
  return info;
}
