// Calico's BGP peering model as one pure function: the datastore's Nodes, BGPPeers and BGPConfigurations in, one
// node's speaker settings out. It follows confd (v3.32): `updatePeersV1` in confd/pkg/backends/calico/client.go
// turns BGPPeers into peerings (selectors, ports of Calico nodes, automatic reverse peerings, global before
// node-specific), and bgp_processor.go turns those and the node-to-node mesh into BIRD's protocols, rendered by
// bird.cfg.template. Where Calico leaves a choice to chance (Go map order) this takes names in sorted order; where
// BIRD would run two sessions to one address, tabby's speaker runs one, and the plan says which it dropped.
// IPv4 only: tabby's speaker carries IPv4 unicast, so IPv6 peers and prefixes are reported, not planned.

import { parseGoDuration } from '../datastore/model/duration';
import { formatIp, parseCidrOrIp, parseIp, parseIpPort } from '../datastore/model/net';
import { parseAsNumber } from '../datastore/model/numorstring';
import type { BGPConfigurationSpec, BGPPeerSpec, NodeSpec } from '../datastore/model/types';
import type { Resource } from '../datastore/resource';
import { type Labels, parseSelector, type Selector, SelectorParseError } from '../policy';
import type { SpeakerPeerConfig } from './config';
import { AFI_IPV4, SAFI_UNICAST } from './packet/types';
import { PEER_DEFAULTS } from './session';

export interface PeeringInput {
  nodeName: string;
  /** Node resources: every node of the cluster, this one included. */
  nodes: readonly Resource[];
  bgpPeers: readonly Resource[];
  /** BGPConfiguration resources: `default` and `node.<name>`. */
  bgpConfigurations: readonly Resource[];
  /**
   * Secrets that BGP passwords refer to (`secretKeyRef`), by secret name, then key. Calico reads them from the
   * Kubernetes Secrets of its own namespace; whoever calls this gathers them the same way.
   */
  secrets?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** The AS of nodes when neither the Node nor the default BGPConfiguration gives one (Calico: 64512). */
  defaultAsNumber?: number;
}

/** BGPConfiguration `prefixAdvertisements`: communities to attach to routes within `cidr`. */
export interface PrefixAdvertisement {
  cidr: string;
  /** RFC 1997 communities as uint32 (high 16 bits: AS), as the speaker's attributes hold them. */
  communities: number[];
  /** RFC 8092 large communities. */
  largeCommunities: [number, number, number][];
}

/** A host route this node needs to reach a peer (BGPPeer `reachableBy`): `<peer>/32 via <gateway>`. */
export interface PeerRoute {
  destination: string;
  gateway: string;
}

export interface PeeringPlan {
  asNumber: number;
  /** The node's IPv4 address, as Calico's default router id; empty when the node has none. */
  routerId: string;
  /** `0.0.0.0`, or the node's address when the default BGPConfiguration has `bindMode: NodeIP`. */
  listenAddress: string;
  listenPort: number;
  /** The node's `routeReflectorClusterID`; empty when it is not a route reflector. */
  routeReflectorClusterId: string;
  /** Sorted by name, as Calico sorts BIRD's protocols; one per address. */
  peers: SpeakerPeerConfig[];
  prefixAdvertisements: PrefixAdvertisement[];
  peerRoutes: PeerRoute[];
  /** What was skipped, ignored or is not supported, each naming the resource and field at fault. */
  problems: string[];
}

const DEFAULT_AS_NUMBER = 64512;
const BGP_PORT = 179;
const ANY_ADDRESS = '0.0.0.0';
/** RFC 4724: the restart time is a 12-bit field. */
const MAX_RESTART_TIME_SEC = 4095;
const MAX_KEEPALIVE_SEC = 65535;
/** tabby's speaker takes GTSM hop counts up to 254; 255 hops would accept every TTL, as 254 nearly does. */
const MAX_TTL_SECURITY_HOPS = 254;

/** The peer types of `calicoctl node status` (CONTRACT §3). */
const PEER_TYPE = { mesh: 'node-to-node mesh', global: 'global', node: 'node specific' } as const;
const NAME_PREFIX = { mesh: 'Mesh', global: 'Global', node: 'Node' } as const;
type PeerKind = keyof typeof PEER_TYPE;
/** When two peerings reach one address, the explicit one wins, and a global one over a node-specific one. */
const KIND_RANK: Record<PeerKind, number> = { global: 0, node: 1, mesh: 2 };

/** A node as peering sees it (Calico's /calico/bgp/v1/host/<node>/... keys). */
interface BgpNode {
  name: string;
  labels: Labels;
  /** spec.bgp.ipv4Address without its prefix length; undefined when the node has none (it does not peer). */
  address: string | undefined;
  /** Its own AS, or the cluster's. */
  asNumber: number;
  routeReflectorClusterId: string;
  /** Its BGP port when a BGPConfiguration sets one (`node.<name>` first, then `default`). */
  listenPort: number | undefined;
}

/** A node that peers over IPv4. */
type PeeringNode = BgpNode & { address: string };

function peersOverIpv4(node: BgpNode): node is PeeringNode {
  return node.address !== undefined;
}

/** What a BGPPeer peers with, or why it peers with nothing. */
type PeerTarget =
  | {
      kind: 'address';
      address: string;
      port: number | undefined;
      asNumber: number;
      localAsNumber: number | undefined;
      allowedLocalAsNumbers: number;
    }
  | { kind: 'selector'; selector: Selector }
  | { kind: 'unusable'; problem: string };

/** A BGPPeer, read once. */
interface BgpPeerEntry {
  name: string;
  spec: BGPPeerSpec;
  /** No `node` and no `nodeSelector`: every node peers. */
  global: boolean;
  appliesTo(node: BgpNode): boolean;
  target: PeerTarget;
}

/** One of Calico's v1 peerings: a BGPPeer applied to one remote address. */
interface Peering {
  kind: 'global' | 'node';
  source: BgpPeerEntry;
  address: string;
  /** An explicit port, or the listen port of the Calico node at the address; undefined: 179. */
  port: number | undefined;
  asNumber: number;
  localAsNumber: number | undefined;
  /** BIRD's `allow local as`: Calico sets it on peerIP peerings only. */
  allowedLocalAsNumbers: number;
  /** The remote node's cluster id, when the peering came from a node (selector or reverse peering). */
  routeReflectorClusterId: string;
  /** The address is a Calico node's (the peering is one-way like the mesh). */
  calicoNode: boolean;
}

interface PlannedPeer {
  kind: PeerKind;
  config: SpeakerPeerConfig;
  route: PeerRoute | undefined;
}

/** Problems in order of discovery, each once. */
class ProblemList {
  private readonly seen = new Set<string>();

  add(problem: string): void {
    this.seen.add(problem);
  }

  toArray(): string[] {
    return [...this.seen];
  }
}

interface ClusterSettings {
  self: PeeringNode;
  nodes: readonly BgpNode[];
  globalConfig: BGPConfigurationSpec;
  secrets: NonNullable<PeeringInput['secrets']>;
  problems: ProblemList;
}

export function planPeering(input: PeeringInput): PeeringPlan {
  const problems = new ProblemList();
  const { globalConfig, nodeConfigs } = readConfigurations(input.bgpConfigurations, problems);
  const globalAsNumber =
    optionalAsNumber(globalConfig.asNumber, 'BGPConfiguration "default": spec.asNumber', problems) ??
    input.defaultAsNumber ??
    DEFAULT_AS_NUMBER;
  const nodes = readNodes(input.nodes, globalAsNumber, globalConfig, nodeConfigs, problems);
  const self = nodes.find((node) => node.name === input.nodeName);
  const ownConfig = nodeConfigs.get(input.nodeName) ?? {};
  const plan: PeeringPlan = {
    asNumber: self?.asNumber ?? globalAsNumber,
    routerId: self?.address ?? '',
    listenAddress: ANY_ADDRESS,
    listenPort: self?.listenPort ?? BGP_PORT,
    routeReflectorClusterId: self?.routeReflectorClusterId ?? '',
    peers: [],
    prefixAdvertisements: readPrefixAdvertisements(input.nodeName, globalConfig, ownConfig, problems),
    peerRoutes: [],
    problems: [],
  };
  reportUnsupportedSettings(globalConfig, problems);
  if (self === undefined) {
    problems.add(`Node "${input.nodeName}" not found: no peerings`);
  } else if (!peersOverIpv4(self)) {
    problems.add(`Node "${self.name}": spec.bgp.ipv4Address is not set: no IPv4 peerings`);
  } else {
    if (globalConfig.bindMode === 'NodeIP') plan.listenAddress = self.address;
    const cluster: ClusterSettings = { self, nodes, globalConfig, secrets: input.secrets ?? {}, problems };
    const bgpPeers = readBgpPeers(input.bgpPeers, globalAsNumber, problems);
    const candidates = [
      ...meshPeers(cluster),
      ...explicitPeerings(cluster, bgpPeers).flatMap((peering) => {
        const planned = plannedPeerFromPeering(cluster, peering);
        return planned === undefined ? [] : [planned];
      }),
    ];
    const kept = onePeerPerAddress(candidates, problems);
    plan.peers = kept.map((peer) => peer.config);
    plan.peerRoutes = kept.flatMap((peer) => (peer.route === undefined ? [] : [peer.route]));
  }
  plan.problems = problems.toArray();
  return plan;
}

// ---- Reading the resources

function readConfigurations(
  resources: readonly Resource[],
  problems: ProblemList,
): { globalConfig: BGPConfigurationSpec; nodeConfigs: Map<string, BGPConfigurationSpec> } {
  let globalConfig: BGPConfigurationSpec = {};
  const nodeConfigs = new Map<string, BGPConfigurationSpec>();
  for (const resource of resources) {
    const name = resource.metadata.name;
    const spec = (resource.spec ?? {}) as BGPConfigurationSpec;
    if (name === 'default') globalConfig = spec;
    else if (name.startsWith('node.')) nodeConfigs.set(name.slice('node.'.length), spec);
    else problems.add(`BGPConfiguration "${name}": ignored: the name must be "default" or "node.<node name>"`);
  }
  return { globalConfig, nodeConfigs };
}

function readNodes(
  resources: readonly Resource[],
  globalAsNumber: number,
  globalConfig: BGPConfigurationSpec,
  nodeConfigs: ReadonlyMap<string, BGPConfigurationSpec>,
  problems: ProblemList,
): BgpNode[] {
  const globalListenPort = globalConfig.listenPort || undefined;
  return [...resources]
    .sort((a, b) => compareText(a.metadata.name, b.metadata.name))
    .map((resource) => {
      const name = resource.metadata.name;
      const bgp = ((resource.spec ?? {}) as NodeSpec).bgp ?? {};
      let address: string | undefined;
      if (bgp.ipv4Address) {
        const cidr = parseCidrOrIp(bgp.ipv4Address);
        if (cidr?.version === 4) address = formatIp(cidr);
        else problems.add(`Node "${name}": spec.bgp.ipv4Address "${bgp.ipv4Address}" is not an IPv4 address: left out`);
      }
      return {
        name,
        labels: resource.metadata.labels ?? {},
        address,
        asNumber: optionalAsNumber(bgp.asNumber, `Node "${name}": spec.bgp.asNumber`, problems) ?? globalAsNumber,
        routeReflectorClusterId: bgp.routeReflectorClusterID ?? '',
        listenPort: nodeConfigs.get(name)?.listenPort || globalListenPort,
      };
    });
}

function readBgpPeers(resources: readonly Resource[], globalAsNumber: number, problems: ProblemList): BgpPeerEntry[] {
  const entries: BgpPeerEntry[] = [];
  for (const resource of [...resources].sort((a, b) => compareText(a.metadata.name, b.metadata.name))) {
    const entry = readBgpPeer(resource, globalAsNumber, problems);
    if (entry !== undefined) entries.push(entry);
  }
  return entries;
}

/** Undefined when not even the nodes it applies to are known (a bad selector): said at once. */
function readBgpPeer(resource: Resource, globalAsNumber: number, problems: ProblemList): BgpPeerEntry | undefined {
  const name = resource.metadata.name;
  const spec = (resource.spec ?? {}) as BGPPeerSpec;
  const where = `BGPPeer "${name}"`;

  // Calico: nodeSelector wins over node (the validator allows only one of them).
  let appliesTo: (node: BgpNode) => boolean = () => true;
  if (spec.nodeSelector) {
    const nodeSelector = parseSelectorOrReport(spec.nodeSelector, `${where}: spec.nodeSelector`, problems);
    if (nodeSelector === undefined) return undefined;
    appliesTo = (node) => nodeSelector.evaluate(node.labels);
  } else if (spec.node) {
    const nodeName = spec.node;
    appliesTo = (node) => node.name === nodeName;
  }

  let target: PeerTarget;
  if (spec.localWorkloadSelector) {
    target = unusable(where, 'spec.localWorkloadSelector', 'peering with local workloads is not supported');
  } else if (spec.peerSelector) {
    const selector = parseSelectorOrReport(spec.peerSelector, `${where}: spec.peerSelector`, problems);
    if (selector === undefined) return undefined;
    target = { kind: 'selector', selector };
  } else if (!spec.peerIP) {
    target = unusable(where, 'spec.peerIP', 'neither peerIP nor peerSelector is set');
  } else {
    target = readAddressTarget(spec, spec.peerIP, where, globalAsNumber);
  }
  return { name, spec, global: !spec.node && !spec.nodeSelector, appliesTo, target };
}

function readAddressTarget(spec: BGPPeerSpec, peerIP: string, where: string, globalAsNumber: number): PeerTarget {
  const parsed = parseIpPort(peerIP);
  if (parsed === undefined) return unusable(where, 'spec.peerIP', `"${peerIP}" is not an address or address:port`);
  if (parsed.ip.version !== 4) {
    return unusable(where, 'spec.peerIP', `"${peerIP}" is IPv6; tabby peers over IPv4 only`);
  }
  if (spec.asNumber === undefined) return unusable(where, 'spec.asNumber', 'required with peerIP');
  const asNumber = parseAsNumber(spec.asNumber);
  if (typeof asNumber === 'string') return unusable(where, 'spec.asNumber', asNumber);
  const localAsNumber = spec.localASNumber === undefined ? undefined : parseAsNumber(spec.localASNumber);
  if (typeof localAsNumber === 'string') return unusable(where, 'spec.localASNumber', localAsNumber);
  return {
    kind: 'address',
    address: formatIp(parsed.ip),
    port: parsed.port,
    // Zero is how Calico's API spells "unset": the cluster's AS.
    asNumber: asNumber === 0 ? globalAsNumber : asNumber,
    localAsNumber,
    allowedLocalAsNumbers: spec.numAllowedLocalASNumbers ?? 0,
  };
}

function unusable(where: string, field: string, why: string): PeerTarget {
  return { kind: 'unusable', problem: `${where}: ${field}: ${why}: skipped` };
}

function parseSelectorOrReport(text: string, where: string, problems: ProblemList): Selector | undefined {
  try {
    return parseSelector(text);
  } catch (error) {
    if (!(error instanceof SelectorParseError)) throw error;
    problems.add(`${where}: ${error.message}: skipped`);
    return undefined;
  }
}

function optionalAsNumber(value: unknown, where: string, problems: ProblemList): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const asNumber = parseAsNumber(value);
  if (typeof asNumber === 'number') return asNumber;
  problems.add(`${where}: ${asNumber}: ignored`);
  return undefined;
}

// ---- The node-to-node mesh

/**
 * Every other node with an IPv4 address, unless the mesh is off or this node is a route reflector; route
 * reflectors are left out (they peer through BGPPeers). One-way: we wait for peers whose address is greater, as
 * text, the comparison Calico makes, so a Calico node and a tabby node agree on who connects.
 */
function meshPeers({ self, nodes, globalConfig, secrets, problems }: ClusterSettings): PlannedPeer[] {
  if (globalConfig.nodeToNodeMeshEnabled === false || self.routeReflectorClusterId !== '') return [];
  const where = 'BGPConfiguration "default"';
  const password = resolvePassword(globalConfig.nodeMeshPassword, `${where}: spec.nodeMeshPassword`, secrets, problems);
  const restartTimeSec = durationSeconds(
    globalConfig.nodeMeshMaxRestartTime,
    `${where}: spec.nodeMeshMaxRestartTime`,
    MAX_RESTART_TIME_SEC,
    problems,
  );
  return nodes.filter(peersOverIpv4).flatMap((node): PlannedPeer[] => {
    if (node.address === self.address || node.routeReflectorClusterId !== '') return [];
    const config = speakerPeer('mesh', node.address, node.listenPort, node.asNumber);
    config.localAddress = self.address;
    config.passive = node.address > self.address;
    config.password = password;
    if (restartTimeSec !== undefined) config.restartTimeSec = restartTimeSec;
    return [{ kind: 'mesh', config, route: undefined }];
  });
}

// ---- BGPPeers

/**
 * Calico's v1 peerings of this node, in the order confd emits them: global BGPPeers, then node-specific ones,
 * then automatic reverse peerings. The first peering to an address and port wins, and a node-specific one gives
 * way to a global one to the same address and port.
 */
function explicitPeerings(cluster: ClusterSettings, bgpPeers: readonly BgpPeerEntry[]): Peering[] {
  const { self, nodes, problems } = cluster;
  const peerings = new Map<string, Peering>();
  const emit = (peering: Peering) => {
    const endpoint = `${peering.address}:${peering.port ?? 0}`;
    if (peerings.has(`${peering.kind} ${endpoint}`) || peerings.has(`global ${endpoint}`)) return;
    peerings.set(`${peering.kind} ${endpoint}`, peering);
  };

  for (const entry of bgpPeers) {
    if (entry.target.kind === 'unusable' && entry.appliesTo(self)) problems.add(entry.target.problem);
  }
  for (const entry of bgpPeers) {
    if (entry.global) for (const peering of forwardPeerings(entry, 'global', nodes)) emit(peering);
  }
  for (const entry of bgpPeers) {
    if (!entry.global && entry.appliesTo(self))
      for (const peering of forwardPeerings(entry, 'node', nodes)) emit(peering);
  }
  // A BGPPeer whose far end is a Calico node (by selector, or by address, AS and port) gives that node the
  // peering back, so both ends configure the session without a second BGPPeer.
  for (const entry of bgpPeers) {
    if (entry.spec.reversePeering === 'Manual' || !isTargetOf(entry.target, self)) continue;
    for (const node of nodes.filter(peersOverIpv4)) {
      if (entry.appliesTo(node)) emit(peeringWithNode(entry, 'node', node));
    }
  }
  return [...peerings.values()];
}

function forwardPeerings(entry: BgpPeerEntry, kind: Peering['kind'], nodes: readonly BgpNode[]): Peering[] {
  const { target } = entry;
  if (target.kind === 'unusable') return [];
  if (target.kind === 'selector') {
    return nodes
      .filter(peersOverIpv4)
      .filter((node) => target.selector.evaluate(node.labels))
      .map((node) => peeringWithNode(entry, kind, node));
  }
  // Without a port, a Calico node at the address (with the same AS) is reached on the port it listens on.
  const node = nodes.find(
    (candidate) => candidate.address === target.address && candidate.asNumber === target.asNumber,
  );
  return [
    {
      kind,
      source: entry,
      address: target.address,
      port: target.port ?? node?.listenPort,
      asNumber: target.asNumber,
      localAsNumber: target.localAsNumber,
      allowedLocalAsNumbers: target.allowedLocalAsNumbers,
      routeReflectorClusterId: '',
      calicoNode: nodes.some((candidate) => candidate.address === target.address),
    },
  ];
}

/** A peering with a node found by selector or by reverse peering: its address, AS, cluster id and port. */
function peeringWithNode(entry: BgpPeerEntry, kind: Peering['kind'], node: PeeringNode): Peering {
  return {
    kind,
    source: entry,
    address: node.address,
    port: node.listenPort,
    asNumber: node.asNumber,
    // Calico applies localASNumber and numAllowedLocalASNumbers only to peerIP peerings.
    localAsNumber: undefined,
    allowedLocalAsNumbers: 0,
    routeReflectorClusterId: node.routeReflectorClusterId,
    calicoNode: false,
  };
}

/**
 * Whether the BGPPeer's far end is this node. By address, the AS must match too, and an explicit port the one the
 * node listens on (Calico compares that port less strictly; a session to a port the node does not listen on never
 * comes up anyway).
 */
function isTargetOf(target: PeerTarget, node: BgpNode): boolean {
  if (target.kind === 'unusable') return false;
  if (target.kind === 'selector') return target.selector.evaluate(node.labels);
  return (
    node.address === target.address &&
    node.asNumber === target.asNumber &&
    (target.port === undefined || target.port === (node.listenPort ?? BGP_PORT))
  );
}

/** bgp_processor.go's buildPeerFromData; undefined for a peering with this node itself, or one it cannot run. */
function plannedPeerFromPeering(cluster: ClusterSettings, peering: Peering): PlannedPeer | undefined {
  const { self, secrets, problems } = cluster;
  if (peering.address === self.address) return undefined;
  const { source } = peering;
  const { spec } = source;
  const where = `BGPPeer "${source.name}"`;

  const localAsNumber = peering.localAsNumber ?? self.asNumber;
  if (localAsNumber !== self.asNumber) {
    problems.add(
      `${where}: spec.localASNumber ${localAsNumber}: a local AS other than the node's (${self.asNumber}) is not supported: skipped`,
    );
    return undefined;
  }
  const ibgp = peering.asNumber === localAsNumber;
  const config = speakerPeer(peering.kind, peering.address, peering.port, peering.asNumber);
  if ((spec.sourceAddress ?? 'UseNodeIP') === 'UseNodeIP') config.localAddress = self.address;
  config.passive = peering.kind === 'global' && peering.calicoNode && peering.address > self.address;
  config.password = resolvePassword(spec.password, `${where}: spec.password`, secrets, problems);
  config.ttlSecurity = Math.min(spec.ttlSecurity ?? 0, MAX_TTL_SECURITY_HOPS);
  const restartTimeSec = durationSeconds(
    spec.maxRestartTime,
    `${where}: spec.maxRestartTime`,
    MAX_RESTART_TIME_SEC,
    problems,
  );
  if (restartTimeSec !== undefined) config.restartTimeSec = restartTimeSec;
  const keepaliveTimeSec = durationSeconds(
    spec.keepaliveTime,
    `${where}: spec.keepaliveTime`,
    MAX_KEEPALIVE_SEC,
    problems,
  );
  if (keepaliveTimeSec === 0) problems.add(`${where}: spec.keepaliveTime: must be at least 1s: ignored`);
  else if (keepaliveTimeSec !== undefined) config.keepaliveTimeSec = keepaliveTimeSec;

  // Calico's rule: an iBGP peer becomes a client of this route reflector unless it is a node of the same cluster.
  config.routeReflectorClient =
    ibgp && self.routeReflectorClusterId !== '' && peering.routeReflectorClusterId !== self.routeReflectorClusterId;
  config.nextHopSelf = spec.nextHopMode === 'Self';
  // keepOriginalNextHop is the older spelling of Keep, and Calico honours it only towards eBGP peers.
  const keepNextHop =
    spec.nextHopMode === 'Keep' || (spec.nextHopMode === undefined && spec.keepOriginalNextHop === true);
  if (keepNextHop && !ibgp) {
    problems.add(`${where}: keeping the next hop towards an eBGP peer is not supported: the next hop is this node`);
  }
  if (peering.allowedLocalAsNumbers > 0) {
    problems.add(`${where}: spec.numAllowedLocalASNumbers is not supported: ignored`);
  }
  if (spec.filters !== undefined && spec.filters.length > 0) {
    problems.add(`${where}: spec.filters (BGPFilter) are not supported: ignored`);
  }
  return { kind: peering.kind, config, route: peerRoute(peering, where, problems) };
}

function peerRoute(peering: Peering, where: string, problems: ProblemList): PeerRoute | undefined {
  const gateway = peering.source.spec.reachableBy;
  if (!gateway) return undefined;
  const ip = parseIp(gateway);
  if (ip?.version !== 4) {
    problems.add(`${where}: spec.reachableBy "${gateway}" is not an IPv4 address: ignored`);
    return undefined;
  }
  return { destination: `${peering.address}/32`, gateway: formatIp(ip) };
}

// ---- The speaker's peers

/** A peer with DESIGN §2's defaults (hold 240 s, keepalive 80 s, connect retry 5 s, graceful restart 120 s). */
function speakerPeer(kind: PeerKind, address: string, port: number | undefined, asNumber: number): SpeakerPeerConfig {
  return {
    ...PEER_DEFAULTS,
    families: [[AFI_IPV4, SAFI_UNICAST]],
    address,
    port: port ?? BGP_PORT,
    asNumber,
    routeReflectorClient: false,
    nextHopSelf: false,
    type: PEER_TYPE[kind],
    name: peerName(kind, address, port),
  };
}

/** Calico's protocol names: Mesh_10_0_0_1, Global_10_0_0_1, Node_10_0_0_1_port_1790 (mesh names have no port). */
function peerName(kind: PeerKind, address: string, port: number | undefined): string {
  const name = `${NAME_PREFIX[kind]}_${address.replaceAll('.', '_')}`;
  return port === undefined || kind === 'mesh' ? name : `${name}_port_${port}`;
}

/**
 * BIRD would run every protocol, even two to one address; tabby's speaker keys sessions by address. The explicit
 * peering wins over the mesh and a global one over a node-specific one; among equals, the first by name.
 */
function onePeerPerAddress(candidates: readonly PlannedPeer[], problems: ProblemList): PlannedPeer[] {
  const ranked = [...candidates].sort(
    (a, b) => KIND_RANK[a.kind] - KIND_RANK[b.kind] || compareText(a.config.name, b.config.name),
  );
  const byAddress = new Map<string, PlannedPeer>();
  for (const candidate of ranked) {
    const kept = byAddress.get(candidate.config.address);
    if (kept === undefined) byAddress.set(candidate.config.address, candidate);
    else {
      problems.add(
        `peering ${candidate.config.name} dropped: ${kept.config.name} already peers with ${candidate.config.address} (one session per address)`,
      );
    }
  }
  return [...byAddress.values()].sort((a, b) => compareText(a.config.name, b.config.name));
}

// ---- Settings

/**
 * A BGP password: the value of the Secret key it refers to. Calico peers without a password when the secret
 * cannot be read; so does this, and says so (unless the reference is `optional`).
 */
function resolvePassword(
  password: BGPPeerSpec['password'],
  where: string,
  secrets: NonNullable<PeeringInput['secrets']>,
  problems: ProblemList,
): string {
  if (password === undefined) return '';
  const ref = typeof password === 'object' && password !== null ? password.secretKeyRef : undefined;
  if (ref === undefined) {
    problems.add(`${where}: must be {secretKeyRef: {name, key}}: peering without a password`);
    return '';
  }
  const secretName = ref.name ?? '';
  const value = secrets[secretName]?.[ref.key];
  if (value !== undefined) return value;
  if (!ref.optional) {
    problems.add(`${where}: secret "${secretName}" has no key "${ref.key}": peering without a password`);
  }
  return '';
}

/** A Go duration in whole seconds, rounded as Calico rounds it; undefined when unset or unusable. */
function durationSeconds(
  text: string | undefined,
  where: string,
  max: number,
  problems: ProblemList,
): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseGoDuration(text);
  if (ms === undefined) {
    problems.add(`${where}: "${text}" is not a duration: ignored`);
    return undefined;
  }
  const seconds = Math.round(ms / 1000);
  if (seconds <= max) return seconds;
  problems.add(`${where}: ${text} is more than ${max}s: ${max}s used`);
  return max;
}

/**
 * `prefixAdvertisements` of the node's own BGPConfiguration when it has them (even an empty list), else the
 * default one's; community names are those the same resource defines. Advertisements that end up with no
 * community are left out, as Calico leaves them.
 */
function readPrefixAdvertisements(
  nodeName: string,
  globalConfig: BGPConfigurationSpec,
  ownConfig: BGPConfigurationSpec,
  problems: ProblemList,
): PrefixAdvertisement[] {
  const [config, where] =
    ownConfig.prefixAdvertisements !== undefined
      ? [ownConfig, `BGPConfiguration "node.${nodeName}"`]
      : [globalConfig, 'BGPConfiguration "default"'];
  const named = new Map((config.communities ?? []).map((community) => [community.name, community.value]));
  const advertisements: PrefixAdvertisement[] = [];
  (config.prefixAdvertisements ?? []).forEach((advertisement, i) => {
    const field = `${where}: spec.prefixAdvertisements[${i}]`;
    if (!advertisement.cidr) return;
    const cidr = parseCidrOrIp(advertisement.cidr);
    if (cidr?.version !== 4) {
      problems.add(`${field}.cidr "${advertisement.cidr}": only IPv4 prefixes are supported: ignored`);
      return;
    }
    const standard = new Set<number>();
    const large = new Map<string, [number, number, number]>();
    for (const name of advertisement.communities ?? []) {
      const value = parseCommunity(name) !== undefined ? name : named.get(name);
      const community = value === undefined ? undefined : parseCommunity(value);
      if (community === undefined) {
        problems.add(`${field}.communities: "${name}" is neither a community nor a name defined in communities`);
      } else if (typeof community === 'number') standard.add(community);
      else large.set(community.join(':'), community);
    }
    if (standard.size === 0 && large.size === 0) return;
    advertisements.push({
      cidr: advertisement.cidr,
      communities: [...standard].sort((a, b) => a - b),
      largeCommunities: [...large.values()].sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]),
    });
  });
  return advertisements;
}

/** "aa:nn" (16-bit parts) as a uint32, or "a:b:c" (32-bit parts) as a large community; undefined otherwise. */
function parseCommunity(text: string | undefined): number | [number, number, number] | undefined {
  if (text === undefined || !/^\d+(:\d+){1,2}$/.test(text)) return undefined;
  const parts = text.split(':').map(Number);
  if (parts.length === 2) {
    const [high, low] = parts as [number, number];
    return high <= 0xffff && low <= 0xffff ? ((high << 16) | low) >>> 0 : undefined;
  }
  return parts.every((part) => part <= 0xffffffff) ? (parts as [number, number, number]) : undefined;
}

/**
 * Settings of the default BGPConfiguration that change what Calico advertises or whom it peers with, and that
 * tabby does not do yet. Settings for other parts (route priorities, cluster routes, interfaces, logging) are
 * not peering's to judge.
 */
function reportUnsupportedSettings(config: BGPConfigurationSpec, problems: ProblemList): void {
  for (const field of ['serviceClusterIPs', 'serviceExternalIPs', 'serviceLoadBalancerIPs'] as const) {
    if ((config[field] ?? []).length > 0) {
      problems.add(
        `BGPConfiguration "default": spec.${field}: advertising service addresses is not supported: ignored`,
      );
    }
  }
  for (const field of ['localWorkloadPeeringIPV4', 'localWorkloadPeeringIPV6'] as const) {
    if (config[field]) {
      problems.add(`BGPConfiguration "default": spec.${field}: peering with local workloads is not supported: ignored`);
    }
  }
}

/** Byte order, as Go sorts strings (localeCompare would not). */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
