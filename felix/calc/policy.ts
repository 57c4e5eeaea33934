// Policy in felix's calculation, as Calico's calculation graph does it: from NetworkPolicies, GlobalNetworkPolicies,
// Kubernetes NetworkPolicies (translated as Calico's Kubernetes datastore presents them), Tiers, Profiles and
// NetworkSets to what the local endpoints' chains need:
//   - per local workload interface and direction, the tiers whose policies select it, each with those policies
//     in evaluation order (tier order, then policy order, then name), and its profiles;
//   - those policies and profiles as ProtoPolicy/ProtoProfile: rule selectors scoped to the policy's namespace
//     and joined with namespace and service-account selectors (Calico's updateprocessors/rules.go), each turned
//     into the id of the IP set holding the addresses it matches;
//   - those IP sets, with the addresses of every endpoint (any node) and network set the selector matches.
// A policy that selects no local endpoint contributes nothing, nor do the sets only it would use.
import type { Resource } from '../../datastore';
import { formatCidr, maskCidr, parseCidrOrIp } from '../../datastore/model/net';
import type { EntityRule, Rule } from '../../datastore/model/types';
import {
  emptyRule,
  k8sNetworkPolicyToCalico,
  makeUniqueId,
  type PortRange,
  type ProtoPolicy,
  type ProtoProfile,
  type ProtoRule,
  parseSelector,
  type RuleProtocol,
  type Selector,
  selectorWithLabelPrefix,
} from '../../policy';
import type { PolicyKind } from '../rules/policy';

/** The label Calico gives every namespaced endpoint and network set: its namespace. */
export const NAMESPACE_LABEL = 'projectcalico.org/namespace';
export const SERVICE_ACCOUNT_LABEL = 'projectcalico.org/serviceaccount';
/** Labels a namespace's profile hands its endpoints carry this prefix (Calico's conversion.NamespaceLabelPrefix). */
const NAMESPACE_LABEL_PREFIX = 'pcns.';
const SERVICE_ACCOUNT_LABEL_PREFIX = 'pcsa.';
export const DEFAULT_TIER = 'default';
/** Calico's order of the default tier, and of a tier without one. */
const DEFAULT_TIER_ORDER = 1_000_000;

export interface PolicyInputs {
  /** Calico and Kubernetes NetworkPolicies and GlobalNetworkPolicies, by `apiVersion/kind/namespace/name`. */
  policies: Map<string, Resource>;
  tiers: Map<string, Resource>;
  profiles: Map<string, Resource>;
  /** NetworkSets and GlobalNetworkSets, by `kind/namespace/name`. */
  networkSets: Map<string, Resource>;
  /** Every WorkloadEndpoint, local or not, by `namespace/name`. */
  endpoints: Map<string, Resource>;
  /** Every HostEndpoint, local or not, by name. */
  hostEndpoints: Map<string, Resource>;
}

export function emptyPolicyInputs(): PolicyInputs {
  return {
    policies: new Map(),
    tiers: new Map(),
    profiles: new Map(),
    networkSets: new Map(),
    endpoints: new Map(),
    hostEndpoints: new Map(),
  };
}

export type TierDefaultAction = 'Deny' | 'Pass';

/** A policy's identity, which names its chains: its kind and `<namespace>/<name>` (or `<name>` when global). */
export interface PolicyRef {
  kind: PolicyKind;
  name: string;
  /** Its `order`; Infinity when it has none (evaluated last, by name). */
  order: number;
}

/** A tier as one endpoint meets it in one direction: its policies that select the endpoint, in order. */
export interface EndpointTier {
  name: string;
  /** Its Tier's order (the default tier's 1000000 unless stored otherwise); Infinity when it has none. */
  order: number;
  defaultAction: TierDefaultAction;
  policies: PolicyRef[];
}

export interface EndpointPolicy {
  ingress: EndpointTier[];
  egress: EndpointTier[];
  /** Profiles that exist, in the endpoint's order. */
  profiles: string[];
  /** A host endpoint's policy for traffic forwarded through it: the tiers of its applyOnForward policies. */
  forward?: { ingress: EndpointTier[]; egress: EndpointTier[] };
  /**
   * A host endpoint's untracked policy (doNotTrack, in the raw table): the tiers of its doNotTrack policies, each
   * with the default action Pass, as Calico has them, so the filter table's policy still applies after them.
   */
  untracked?: { ingress: EndpointTier[]; egress: EndpointTier[] };
  /**
   * A host endpoint's pre-DNAT policy (preDNAT, in the mangle table, ingress only): the tiers of its preDNAT
   * policies, each with the default action Pass, as Calico has them.
   */
  preDnat?: { ingress: EndpointTier[]; egress: [] };
}

export interface SelectorIpSet {
  id: string;
  /** The selector it holds the matches of (canonical text), for debugging and tabbyctl. */
  selector: string;
  /** A selector's set holds CIDRs (hash:net); a named port's `ip,protocol:port` of the endpoints (hash:ip,port). */
  type: 'hash:net' | 'hash:ip,port';
  /** CIDRs (workload addresses as /32s, network sets' nets as given), or `ip,protocol:port` entries. */
  members: string[];
}

/** A named port's protocol as Calico's named-port sets take it: a rule's protocol, or any when it names none. */
type NamedPortProtocol = 'tcp' | 'udp' | 'sctp' | 'any';

/**
 * What an IP set holds: the addresses of the endpoints and network sets a selector matches, or, with a named port,
 * `address,protocol:port` of that port on the endpoints it matches (Calico's IPSetData).
 */
interface IpSetDefinition {
  selector: Selector;
  namedPort?: { protocol: NamedPortProtocol; port: string };
}

export interface DesiredPolicyChanges {
  endpoints: number;
  policies: number;
  ipSets: number;
}

/**
 * The policy part of the desired dataplane. Between two updates of one PolicyCalculation, what did not change is the
 * same object (an endpoint's EndpointPolicy, a ProtoPolicy, a SelectorIpSet), so renderers can keep what they made
 * of it.
 */
export interface DesiredPolicy {
  /** By local workload interface. */
  endpoints: Map<string, EndpointPolicy>;
  /** `table`: where its chains belong: filter, or raw for a doNotTrack policy, or mangle for a preDNAT one. */
  policies: { kind: PolicyKind; policy: ProtoPolicy; table: PolicyTable }[];
  profiles: ProtoProfile[];
  ipSets: SelectorIpSet[];
  /** This node's host endpoint interfaces, sorted: their EndpointPolicy is in `endpoints` too. */
  hostInterfaces: string[];
  /** What this node should police but tabby does not (an all-interfaces HostEndpoint), for the log. */
  notEnforced: string[];
  /** How many of each were computed anew by this update (the rest were kept). */
  recomputed: DesiredPolicyChanges;
}

/** A policy of any of the three kinds, in Calico's terms. */
interface NormalisedPolicy {
  kind: PolicyKind;
  tier: string;
  /** The chain identity: `<namespace>/<name>` for namespaced policies. */
  name: string;
  order: number;
  /** Which endpoints it applies to, namespace scoping included. */
  selector: Selector;
  ingress: boolean;
  egress: boolean;
  namespace: string;
  inboundRules: Rule[];
  outboundRules: Rule[];
  /** Also applies to traffic forwarded through the host endpoints it selects. */
  applyOnForward: boolean;
  /**
   * filter: normal policy. raw: doNotTrack, enforced before conntrack. mangle: preDNAT, enforced on ingress before
   * DNAT. The last two apply to host endpoints only; no filter chain has them.
   */
  table: PolicyTable;
}

export type PolicyTable = 'filter' | 'raw' | 'mangle';

interface PolicySpec {
  tier?: string;
  order?: number;
  selector?: string;
  namespaceSelector?: string;
  serviceAccountSelector?: string;
  types?: string[];
  ingress?: Rule[];
  egress?: Rule[];
  applyOnForward?: boolean;
  preDNAT?: boolean;
  doNotTrack?: boolean;
}

function typesOf(spec: PolicySpec): { ingress: boolean; egress: boolean } {
  if (spec.types && spec.types.length > 0) {
    return { ingress: spec.types.includes('Ingress'), egress: spec.types.includes('Egress') };
  }
  // Calico's defaulting when types are absent: egress rules alone make an egress policy; ingress is the default.
  const egress = (spec.egress?.length ?? 0) > 0;
  const ingress = (spec.ingress?.length ?? 0) > 0;
  return { ingress: ingress || !egress, egress };
}

function joinSelectors(parts: string[]): string {
  return parts.length === 1 ? parts[0]! : parts.map((p) => `(${p})`).join(' && ');
}

/** A selector over namespaces' labels as one over the labels their endpoints inherit (`pcns.`), all() = namespaced. */
function namespaceSelectorOver(text: string): string {
  return selectorWithLabelPrefix(text, NAMESPACE_LABEL_PREFIX).canonical.replaceAll('all()', `has(${NAMESPACE_LABEL})`);
}

/** Which endpoints a policy applies to: its selector, its namespace (or namespaceSelector), its service accounts. */
function appliesTo(spec: PolicySpec, namespace: string): Selector {
  const parts = [spec.selector?.trim() || 'all()'];
  if (namespace !== '') parts.push(`${NAMESPACE_LABEL} == '${namespace}'`);
  else if (spec.namespaceSelector) {
    // As Calico converts a GlobalNetworkPolicy's namespaceSelector: all() means "any namespaced endpoint".
    parts.push(namespaceSelectorOver(spec.namespaceSelector));
  }
  if (spec.serviceAccountSelector) {
    parts.push(selectorWithLabelPrefix(spec.serviceAccountSelector, SERVICE_ACCOUNT_LABEL_PREFIX).canonical);
  }
  return parseSelector(joinSelectors(parts));
}

function normalise(resource: Resource): NormalisedPolicy | undefined {
  const fromKubernetes = resource.apiVersion === 'networking.k8s.io/v1';
  const namespace = resource.kind === 'NetworkPolicy' ? (resource.metadata.namespace ?? '') : '';
  const kind: PolicyKind = fromKubernetes
    ? 'KubernetesNetworkPolicy'
    : resource.kind === 'GlobalNetworkPolicy'
      ? 'GlobalNetworkPolicy'
      : 'NetworkPolicy';
  try {
    // A Kubernetes policy is what Calico's Kubernetes datastore presents for it, under its own name.
    const spec = ((fromKubernetes ? k8sNetworkPolicyToCalico(resource) : resource).spec ?? {}) as PolicySpec;
    return {
      kind,
      tier: spec.tier || DEFAULT_TIER,
      name: namespace ? `${namespace}/${resource.metadata.name}` : resource.metadata.name,
      order: spec.order ?? Number.POSITIVE_INFINITY,
      selector: appliesTo(spec, namespace),
      ...typesOf(spec),
      namespace,
      inboundRules: spec.ingress ?? [],
      outboundRules: spec.egress ?? [],
      applyOnForward: spec.applyOnForward === true,
      table: spec.doNotTrack ? 'raw' : spec.preDNAT ? 'mangle' : 'filter',
    };
  } catch {
    // A selector or rule the datastore accepted but we cannot use: the policy is left out rather than stopping felix.
    return undefined;
  }
}

/**
 * Calico's getEndpointSelector: the selector of a rule's source or destination, with the service accounts and the
 * namespace (the policy's own, or the rule's namespaceSelector over the namespaces' labels) folded in; empty when
 * the entity selects by nets alone.
 */
export function entitySelector(entity: EntityRule, namespace: string): string {
  let namespaceSelector = '';
  if (entity.namespaceSelector) {
    namespaceSelector = namespaceSelectorOver(entity.namespaceSelector).replaceAll(
      'global()',
      `!has(${NAMESPACE_LABEL})`,
    );
  } else if (namespace !== '') {
    namespaceSelector = `${NAMESPACE_LABEL} == '${namespace}'`;
  }
  const selectors: string[] = [];
  const accounts = entity.serviceAccounts;
  if (accounts) {
    const byAccount: string[] = [];
    if (accounts.selector) {
      byAccount.push(selectorWithLabelPrefix(accounts.selector, SERVICE_ACCOUNT_LABEL_PREFIX).canonical);
    }
    if (accounts.names && accounts.names.length > 0) {
      byAccount.push(parseSelector(`${SERVICE_ACCOUNT_LABEL} in { '${accounts.names.join("', '")}' }`).canonical);
    }
    if (byAccount.length > 0) selectors.push(joinSelectors(byAccount));
  }
  if (entity.selector) selectors.push(entity.selector);
  let selector = selectors.length === 0 ? '' : joinSelectors(selectors);
  if (namespaceSelector !== '' && (selector !== '' || entity.notSelector || entity.namespaceSelector)) {
    selector = selector === '' ? namespaceSelector : `(${namespaceSelector}) && (${selector})`;
  }
  return selector;
}

/** The IPv4 ones of `nets` with host bits cleared (Calico's NormalizeIPNets); a bare address becomes /32. */
function ipv4Nets(nets: readonly string[] | undefined): string[] {
  return (nets ?? []).flatMap((text) => {
    const cidr = parseCidrOrIp(text);
    return cidr?.version === 4 ? [formatCidr(maskCidr(cidr))] : [];
  });
}

function protocolOf(p: string | number | undefined): RuleProtocol | undefined {
  if (p === undefined) return undefined;
  if (typeof p === 'number') return { number: p };
  return /^\d+$/.test(p) ? { number: Number(p) } : { name: p.toLowerCase() };
}

/** Numeric ports and ranges; named ports are returned apart. */
function portsOf(ports: readonly (string | number)[] | undefined): { ranges: PortRange[]; named: string[] } {
  const ranges: PortRange[] = [];
  const named: string[] = [];
  for (const port of ports ?? []) {
    if (typeof port === 'number') ranges.push({ first: port, last: port });
    else if (/^\d+(:\d+)?$/.test(port)) {
      const [first, last = first] = port.split(':').map(Number);
      ranges.push({ first: first!, last: last! });
    } else named.push(port);
  }
  return { ranges, named };
}

function namedPortProtocolOf(p: string | number | undefined): NamedPortProtocol {
  if (p === undefined) return 'any';
  const name = String(p).toLowerCase();
  if (name === 'udp' || name === '17') return 'udp';
  if (name === 'sctp' || name === '132') return 'sctp';
  return 'tcp';
}

/** The policy's rules in the form felix renders, noting each IP set they need. */
class RuleConverter {
  readonly sets = new Map<string, IpSetDefinition>();

  ipSetIdOf(selectorText: string): string {
    const selector = parseSelector(selectorText);
    this.sets.set(selector.uniqueId, { selector });
    return selector.uniqueId;
  }

  /** Calico's id of a named port's set: "n:" + hash of the selector's id, the protocol and the port name. */
  namedPortIds(names: readonly string[], selectorText: string, protocol: NamedPortProtocol): string[] {
    const selector = parseSelector(selectorText || 'all()');
    return names.map((port) => {
      const id = makeUniqueId('n', `${selector.uniqueId},${protocol},${port}`);
      this.sets.set(id, { selector, namedPort: { protocol, port } });
      return id;
    });
  }

  convert(rule: Rule, namespace: string): ProtoRule | undefined {
    // An IPv6-only rule has nothing to do in IPv4 chains.
    if (rule.ipVersion === 6) return undefined;
    const action = rule.action.toLowerCase() as ProtoRule['action'];
    const out = emptyRule(action);
    const source = rule.source ?? {};
    const destination = rule.destination ?? {};
    out.protocol = protocolOf(rule.protocol);
    out.notProtocol = protocolOf(rule.notProtocol);
    if (rule.icmp?.type !== undefined) out.icmp = { type: rule.icmp.type, code: rule.icmp.code };
    if (rule.notICMP?.type !== undefined) out.notIcmp = { type: rule.notICMP.type, code: rule.notICMP.code };
    // A rule that names only IPv6 nets cannot match IPv4 traffic.
    for (const nets of [source.nets, destination.nets]) {
      if (nets && nets.length > 0 && ipv4Nets(nets).length === 0) return undefined;
    }
    out.srcNet = ipv4Nets(source.nets);
    out.dstNet = ipv4Nets(destination.nets);
    out.notSrcNet = ipv4Nets(source.notNets);
    out.notDstNet = ipv4Nets(destination.notNets);
    const [src, dst] = [portsOf(source.ports), portsOf(destination.ports)];
    const [notSrc, notDst] = [portsOf(source.notPorts), portsOf(destination.notPorts)];
    out.srcPorts = src.ranges;
    out.dstPorts = dst.ranges;
    out.notSrcPorts = notSrc.ranges;
    out.notDstPorts = notDst.ranges;
    const srcSelector = entitySelector(source, namespace);
    const dstSelector = entitySelector(destination, namespace);
    // Named ports become sets of (address, protocol, port) of the endpoints the side's selector matches, as in
    // Calico's rule scanner; the selector's own set is then needed only beside numeric ports.
    const namedProtocol = namedPortProtocolOf(rule.protocol);
    out.srcNamedPortIpSetIds = this.namedPortIds(src.named, srcSelector, namedProtocol);
    out.dstNamedPortIpSetIds = this.namedPortIds(dst.named, dstSelector, namedProtocol);
    out.notSrcNamedPortIpSetIds = this.namedPortIds(notSrc.named, srcSelector, namedProtocol);
    out.notDstNamedPortIpSetIds = this.namedPortIds(notDst.named, dstSelector, namedProtocol);
    if (srcSelector && (src.ranges.length > 0 || src.named.length === 0)) {
      out.srcIpSetIds = [this.ipSetIdOf(srcSelector)];
    }
    if (dstSelector && (dst.ranges.length > 0 || dst.named.length === 0)) {
      out.dstIpSetIds = [this.ipSetIdOf(dstSelector)];
    }
    if (source.notSelector) out.notSrcIpSetIds = [this.ipSetIdOf(source.notSelector)];
    if (destination.notSelector) out.notDstIpSetIds = [this.ipSetIdOf(destination.notSelector)];
    if (rule.metadata?.annotations) out.annotations = { ...rule.metadata.annotations };
    return out;
  }

  convertAll(rules: readonly Rule[], namespace: string): ProtoRule[] {
    return rules.flatMap((r) => this.convert(r, namespace) ?? []);
  }
}

/** The labels an endpoint or network set is selected by: its own over those its profiles hand down. */
function effectiveLabels(
  own: Record<string, string> | undefined,
  namespace: string,
  profileNames: readonly string[],
  profiles: Map<string, Resource>,
): Record<string, string> {
  const inherited: Record<string, string> = {};
  for (const name of profileNames) {
    Object.assign(inherited, (profiles.get(name)?.spec as { labelsToApply?: Record<string, string> })?.labelsToApply);
  }
  return { ...inherited, ...own, ...(namespace ? { [NAMESPACE_LABEL]: namespace } : {}) };
}

/** One string per label set, equal exactly when the labels are: tells a label change from another change. */
function labelsKey(labels: Record<string, string>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}\u0000${labels[k]}`)
    .join('\u0001');
}

interface NamedPort {
  name: string;
  protocol: string;
  port: number;
}

/** A workload endpoint or network set as IP sets see it. */
interface Member {
  /** The profiles whose labels it inherits. */
  profiles: readonly string[];
  labels: Record<string, string>;
  labelsKey: string;
  cidrs: string[];
  /** A workload's named ports. */
  ports: NamedPort[];
}

interface EndpointSpec {
  ipNetworks?: string[];
  profiles?: string[];
  ports?: NamedPort[];
}

/** A member: its own labels over those its profiles hand down (and its namespace's), its IPv4 nets, its ports. */
function member(
  resource: Resource,
  namespace: string,
  profileNames: readonly string[],
  nets: readonly string[] | undefined,
  ports: NamedPort[] | undefined,
  profiles: Map<string, Resource>,
): Member {
  const labels = effectiveLabels(resource.metadata.labels, namespace, profileNames, profiles);
  return { profiles: profileNames, labels, labelsKey: labelsKey(labels), cidrs: ipv4Nets(nets), ports: ports ?? [] };
}

function endpointMember(wep: Resource, profiles: Map<string, Resource>): Member {
  const spec = (wep.spec ?? {}) as EndpointSpec;
  return member(wep, wep.metadata.namespace ?? '', spec.profiles ?? [], spec.ipNetworks, spec.ports, profiles);
}

/** A namespaced network set inherits its namespace's labels (its `kns.` profile), as its endpoints do. */
function networkSetMember(set: Resource, profiles: Map<string, Resource>): Member {
  const namespace = set.kind === 'NetworkSet' ? (set.metadata.namespace ?? '') : '';
  const nets = (set.spec as { nets?: string[] } | undefined)?.nets;
  return member(set, namespace, namespace ? [`kns.${namespace}`] : [], nets, [], profiles);
}

/** A host endpoint is selected by its labels (and its profiles'); its expected IPs are its addresses in IP sets. */
function hostEndpointMember(hep: Resource, profiles: Map<string, Resource>): Member {
  const spec = (hep.spec ?? {}) as { expectedIPs?: string[]; profiles?: string[]; ports?: NamedPort[] };
  return member(hep, '', spec.profiles ?? [], spec.expectedIPs, spec.ports, profiles);
}

/**
 * The interface of a HostEndpoint of this node that felix polices: its interfaceName. One without (expectedIPs
 * alone) only puts its addresses in IP sets; the all-interfaces endpoint (`*`) is not implemented by tabby.
 */
function localHostInterface(hep: Resource, nodeName: string): string | undefined {
  const spec = (hep.spec ?? {}) as { node?: string; interfaceName?: string };
  if (nodeName === '' || spec.node !== nodeName || !spec.interfaceName || spec.interfaceName === '*') return undefined;
  return spec.interfaceName;
}

function tierOf(inputs: PolicyInputs, name: string): { order: number; defaultAction: TierDefaultAction } | undefined {
  const tier = inputs.tiers.get(name);
  if (!tier) return name === DEFAULT_TIER ? { order: DEFAULT_TIER_ORDER, defaultAction: 'Deny' } : undefined;
  const spec = (tier.spec ?? {}) as { order?: number; defaultAction?: string };
  return {
    order: spec.order ?? (name === DEFAULT_TIER ? DEFAULT_TIER_ORDER : Number.POSITIVE_INFINITY),
    defaultAction: spec.defaultAction === 'Pass' ? 'Pass' : 'Deny',
  };
}

function byOrderThenName(a: { order: number; name: string }, b: { order: number; name: string }): number {
  if (a.order !== b.order) return a.order < b.order ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** A local workload: its interface and its endpoint's `namespace/name`. */
export interface LocalWorkload {
  iface: string;
  endpoint: string;
}

/** A policy in force: normalised, in a tier that exists. */
interface PolicyInForce extends NormalisedPolicy {
  tierOrder: number;
  defaultAction: TierDefaultAction;
}

/** What was converted from a policy's or profile's rules, and the IP sets those rules use. */
interface Converted<T> {
  value: T;
  sets: Map<string, IpSetDefinition>;
}

interface PolicyState {
  resource: Resource;
  /** Undefined when it is not in force (a selector or rule we cannot use, a tier that does not exist). */
  policy: PolicyInForce | undefined;
  /** Local interfaces it selects. */
  selects: Set<string>;
  /** Its chains' content, while it selects a local endpoint. */
  converted: Converted<DesiredPolicy['policies'][number]> | undefined;
}

interface LocalState {
  /** A HostEndpoint (by name), or a WorkloadEndpoint (by `namespace/name`). */
  host: boolean;
  endpoint: string;
  resource: Resource;
  member: Member;
  /** Keys of the policies that select it. */
  selectedBy: Set<string>;
}

interface ProfileState {
  resource: Resource;
  converted: Converted<ProtoProfile>;
}

interface IpSetState {
  definition: IpSetDefinition;
  /** Policies and profiles in force whose rules use it. */
  refs: number;
  /** Keys of the members (endpoints, network sets) its selector matches. */
  members: Set<string>;
  /** Undefined: to be worked out again at the end of the update. */
  output: SelectorIpSet | undefined;
}

/**
 * Keys of `current` whose value is not the object `seen` has for them (added, replaced, removed); `seen` is then
 * made a copy of `current`. The datastore hands over a new object for every change, so identity tells what changed.
 */
function changedKeys(seen: Map<string, Resource>, current: ReadonlyMap<string, Resource>): Set<string> {
  const changed = new Set<string>();
  for (const [key, value] of current) {
    if (seen.get(key) !== value) {
      changed.add(key);
      seen.set(key, value);
    }
  }
  for (const key of seen.keys()) {
    if (!current.has(key)) {
      changed.add(key);
      seen.delete(key);
    }
  }
  return changed;
}

const ENDPOINT_MEMBER = 'wep:';
const NETWORK_SET_MEMBER = 'set:';
const HOST_ENDPOINT_MEMBER = 'hep:';
type MemberKind = typeof ENDPOINT_MEMBER | typeof NETWORK_SET_MEMBER | typeof HOST_ENDPOINT_MEMBER;
const MEMBER_KIND_LENGTH = 4;

/** Where each kind of IP set member is kept in the inputs, and how it is seen. */
const MEMBER_KINDS: Record<
  MemberKind,
  {
    of(inputs: PolicyInputs): Map<string, Resource>;
    member(resource: Resource, profiles: Map<string, Resource>): Member;
  }
> = {
  [ENDPOINT_MEMBER]: { of: (inputs) => inputs.endpoints, member: endpointMember },
  [NETWORK_SET_MEMBER]: { of: (inputs) => inputs.networkSets, member: networkSetMember },
  [HOST_ENDPOINT_MEMBER]: { of: (inputs) => inputs.hostEndpoints, member: hostEndpointMember },
};

/**
 * felix's policy calculation, incremental as Calico's calculation graph: each update works out only what the
 * inputs' changes touch. A changed policy is matched against the local endpoints and its rules converted again; a
 * changed endpoint (labels, addresses, profiles) is matched against the policies and the IP sets in use; an IP set's
 * members are kept per set, so a label change moves an address between sets without touching any chain. The result
 * of an update is what computePolicy would compute from scratch, with unchanged parts kept as the same objects.
 */
export class PolicyCalculation {
  private readonly seen = {
    policies: new Map<string, Resource>(),
    tiers: new Map<string, Resource>(),
    profiles: new Map<string, Resource>(),
    endpoints: new Map<string, Resource>(),
    networkSets: new Map<string, Resource>(),
    hostEndpoints: new Map<string, Resource>(),
  };
  private readonly policies = new Map<string, PolicyState>();
  /** The interface each HostEndpoint of this node claims, by HostEndpoint name. */
  private readonly hostClaims = new Map<string, string>();
  /** This node's all-interfaces HostEndpoints (`interfaceName: "*"`), by name: reported as not enforced. */
  private readonly notEnforced = new Map<string, string>();
  /** By interface. */
  private readonly locals = new Map<string, LocalState>();
  /** Each local endpoint's policy, by interface; and the interfaces whose policy is to be worked out again. */
  private readonly plans = new Map<string, EndpointPolicy>();
  private readonly replan = new Set<string>();
  /** The local workloads of the last update: the same array again means none came or went. */
  private lastLocals: readonly LocalWorkload[] | undefined;
  /** Endpoints and network sets, by ENDPOINT_MEMBER/NETWORK_SET_MEMBER + key. */
  private readonly members = new Map<string, Member & { inSets: Set<string> }>();
  private readonly ipSets = new Map<string, IpSetState>();
  /** Profiles in force (they exist and a local endpoint names them), converted. */
  private readonly profiles = new Map<string, ProfileState>();
  /** How many local endpoints name each profile. */
  private readonly profileUse = new Map<string, number>();
  private recomputed: DesiredPolicyChanges = { endpoints: 0, policies: 0, ipSets: 0 };

  /**
   * `locals`: the local workloads, the same array as last time when none came or went (felix keeps it with the
   * dataplane). `nodeName`: this node's, whose HostEndpoints with an interface are local too.
   */
  update(inputs: PolicyInputs, locals: readonly LocalWorkload[], nodeName = ''): DesiredPolicy {
    this.recomputed = { endpoints: 0, policies: 0, ipSets: 0 };
    const tiersChanged = changedKeys(this.seen.tiers, inputs.tiers).size > 0;
    const changedProfiles = changedKeys(this.seen.profiles, inputs.profiles);
    const changedPolicies = changedKeys(this.seen.policies, inputs.policies);
    // A tier's order or default action places every policy in it: all are worked out again (rare).
    const policyKeys = tiersChanged ? new Set([...changedPolicies, ...inputs.policies.keys()]) : changedPolicies;
    /** Policies whose selection or rules changed: whether each is in force and converted is decided again. */
    const touched = new Set<string>();
    for (const key of policyKeys) this.updatePolicy(inputs, key, touched);
    const touchedProfiles = new Set(changedProfiles);
    const changedEndpoints = changedKeys(this.seen.endpoints, inputs.endpoints);
    // The local endpoints are gone through only when one may have changed: a policy change leaves them be.
    if (locals !== this.lastLocals || changedEndpoints.size > 0 || changedProfiles.size > 0) {
      this.updateLocals(inputs, locals, changedProfiles, touched, touchedProfiles);
      this.lastLocals = locals;
    }
    const changedHostEndpoints = changedKeys(this.seen.hostEndpoints, inputs.hostEndpoints);
    this.updateHostLocals(inputs, nodeName, changedHostEndpoints, changedProfiles, touched, touchedProfiles);
    for (const key of touched) this.convertIfInForce(key);
    for (const name of touchedProfiles) this.convertProfileIfUsed(inputs, name);
    this.updateMembers(inputs, changedProfiles, [
      [ENDPOINT_MEMBER, changedEndpoints],
      [NETWORK_SET_MEMBER, changedKeys(this.seen.networkSets, inputs.networkSets)],
      [HOST_ENDPOINT_MEMBER, changedHostEndpoints],
    ]);
    return this.result(inputs);
  }

  private updatePolicy(inputs: PolicyInputs, key: string, touched: Set<string>): void {
    const resource = inputs.policies.get(key);
    const state = this.policies.get(key);
    touched.add(key);
    if (resource === undefined) {
      this.notEnforced.delete(key);
      if (state === undefined) return;
      for (const iface of state.selects) this.unselect(iface, key);
      state.selects.clear();
      this.release(state.converted);
      this.policies.delete(key);
      return;
    }
    const normalised = normalise(resource);
    const tier = normalised && tierOf(inputs, normalised.tier);
    // A policy in a tier that does not exist is not in force (Calico's calculation drops it too).
    const policy: PolicyInForce | undefined =
      normalised && tier ? { ...normalised, tierOrder: tier.order, defaultAction: tier.defaultAction } : undefined;
    if (state === undefined) {
      const added: PolicyState = { resource, policy, selects: new Set(), converted: undefined };
      this.policies.set(key, added);
      this.reselect(key, added);
      return;
    }
    const before = state.policy;
    const selectionChanged = before?.selector.canonical !== policy?.selector.canonical;
    const placementChanged = !policy || !before || placementOf(before) !== placementOf(policy);
    // Its rules may have changed: converted again (after the new sets are taken, so shared ones are kept).
    if (state.resource !== resource && state.converted) {
      const old = state.converted;
      state.converted = undefined;
      state.resource = resource;
      state.policy = policy;
      if (policy) state.converted = this.convertPolicy(policy);
      this.release(old);
    }
    state.resource = resource;
    state.policy = policy;
    if (selectionChanged) this.reselect(key, state);
    if (placementChanged) for (const iface of state.selects) this.replan.add(iface);
  }

  /** Matches a policy against every local endpoint again. */
  private reselect(key: string, state: PolicyState): void {
    const selector = state.policy?.selector;
    for (const [iface, local] of this.locals) {
      if (select(key, state, iface, local, selector?.evaluate(local.member.labels) ?? false)) this.replan.add(iface);
    }
  }

  private unselect(iface: string, key: string): void {
    const local = this.locals.get(iface);
    if (!local) return;
    local.selectedBy.delete(key);
    this.replan.add(iface);
  }

  private updateLocals(
    inputs: PolicyInputs,
    locals: readonly LocalWorkload[],
    changedProfiles: ReadonlySet<string>,
    touched: Set<string>,
    touchedProfiles: Set<string>,
  ): void {
    const wanted = new Map<string, string>();
    for (const { iface, endpoint } of locals) if (inputs.endpoints.has(endpoint)) wanted.set(iface, endpoint);
    for (const [iface, local] of this.locals) {
      if (!local.host && wanted.get(iface) !== local.endpoint) this.removeLocal(iface, local, touched, touchedProfiles);
    }
    for (const [iface, endpoint] of wanted) {
      const resource = inputs.endpoints.get(endpoint)!;
      const local = this.locals.get(iface);
      const profilesChanged = local?.member.profiles.some((name) => changedProfiles.has(name)) ?? false;
      if (local && local.resource === resource && !profilesChanged) continue;
      const member = endpointMember(resource, inputs.profiles);
      this.upsertLocal(iface, { endpoint, resource, member, host: false }, touched, touchedProfiles);
    }
  }

  /**
   * The host endpoints of this node with an interface: local endpoints as its workloads are. Where several claim one
   * interface, the first by name has it (the others wait, and take over when it goes).
   */
  private updateHostLocals(
    inputs: PolicyInputs,
    nodeName: string,
    changedHostEndpoints: ReadonlySet<string>,
    changedProfiles: ReadonlySet<string>,
    touched: Set<string>,
    touchedProfiles: Set<string>,
  ): void {
    const affected = new Set<string>();
    for (const key of changedHostEndpoints) {
      const resource = inputs.hostEndpoints.get(key);
      const spec = (resource?.spec ?? {}) as { node?: string; interfaceName?: string };
      if (nodeName !== '' && spec.node === nodeName && spec.interfaceName === '*') {
        this.notEnforced.set(key, `HostEndpoint ${key} (interfaceName "*": all interfaces)`);
      } else this.notEnforced.delete(key);
      const iface = resource && localHostInterface(resource, nodeName);
      const claimed = this.hostClaims.get(key);
      if (claimed !== undefined) affected.add(claimed);
      if (iface !== undefined) affected.add(iface);
      if (iface === undefined) this.hostClaims.delete(key);
      else this.hostClaims.set(key, iface);
    }
    if (changedProfiles.size > 0) {
      for (const [iface, local] of this.locals) {
        if (local.host && local.member.profiles.some((name) => changedProfiles.has(name))) affected.add(iface);
      }
    }
    for (const iface of affected) {
      let owner: string | undefined;
      for (const [key, claimed] of this.hostClaims)
        if (claimed === iface && (owner === undefined || key < owner)) owner = key;
      const local = this.locals.get(iface);
      if (local?.host && local.endpoint !== owner) this.removeLocal(iface, local, touched, touchedProfiles);
      // A workload's interface is the workload's.
      if (owner === undefined || (local !== undefined && !local.host)) continue;
      const resource = inputs.hostEndpoints.get(owner)!;
      const member = hostEndpointMember(resource, inputs.profiles);
      this.upsertLocal(iface, { endpoint: owner, resource, member, host: true }, touched, touchedProfiles);
    }
  }

  /** Adds a local endpoint, or takes its new resource and matches it against the policies again if its labels changed. */
  private upsertLocal(
    iface: string,
    next: Omit<LocalState, 'selectedBy'>,
    touched: Set<string>,
    touchedProfiles: Set<string>,
  ): void {
    const local = this.locals.get(iface);
    this.replan.add(iface);
    if (!local) {
      const added: LocalState = { ...next, selectedBy: new Set() };
      this.locals.set(iface, added);
      this.useProfiles(next.member.profiles, 1, touchedProfiles);
      this.matchPolicies(iface, added, touched);
      return;
    }
    const previous = local.member;
    local.resource = next.resource;
    local.member = next.member;
    if (previous.profiles.join('\n') !== next.member.profiles.join('\n')) {
      this.useProfiles(previous.profiles, -1, touchedProfiles);
      this.useProfiles(next.member.profiles, 1, touchedProfiles);
    }
    if (previous.labelsKey !== next.member.labelsKey) this.matchPolicies(iface, local, touched);
  }

  private removeLocal(iface: string, local: LocalState, touched: Set<string>, touchedProfiles: Set<string>): void {
    for (const key of local.selectedBy) {
      this.policies.get(key)?.selects.delete(iface);
      touched.add(key);
    }
    this.useProfiles(local.member.profiles, -1, touchedProfiles);
    this.locals.delete(iface);
    this.plans.delete(iface);
    this.replan.delete(iface);
  }

  /** Matches a local endpoint against every policy again. */
  private matchPolicies(iface: string, local: LocalState, touched: Set<string>): void {
    for (const [key, state] of this.policies) {
      if (select(key, state, iface, local, state.policy?.selector.evaluate(local.member.labels) ?? false))
        touched.add(key);
    }
  }

  private useProfiles(names: readonly string[], delta: 1 | -1, touchedProfiles: Set<string>): void {
    for (const name of names) {
      const count = (this.profileUse.get(name) ?? 0) + delta;
      if (count > 0) this.profileUse.set(name, count);
      else this.profileUse.delete(name);
      touchedProfiles.add(name);
    }
  }

  private convertIfInForce(key: string): void {
    const state = this.policies.get(key);
    if (!state) return;
    const inForce = state.policy !== undefined && state.selects.size > 0;
    if (inForce && !state.converted) state.converted = this.convertPolicy(state.policy!);
    else if (!inForce && state.converted) {
      this.release(state.converted);
      state.converted = undefined;
    }
  }

  private convertPolicy(p: PolicyInForce): Converted<DesiredPolicy['policies'][number]> {
    this.recomputed.policies++;
    const converter = new RuleConverter();
    const value = {
      kind: p.kind,
      table: p.table,
      policy: {
        tier: p.tier,
        name: p.name,
        inboundRules: p.ingress ? converter.convertAll(p.inboundRules, p.namespace) : [],
        outboundRules: p.egress ? converter.convertAll(p.outboundRules, p.namespace) : [],
      },
    };
    this.acquire(converter.sets);
    return { value, sets: converter.sets };
  }

  private convertProfileIfUsed(inputs: PolicyInputs, name: string): void {
    const resource = this.profileUse.has(name) ? inputs.profiles.get(name) : undefined;
    const state = this.profiles.get(name);
    if (state?.resource === resource) return;
    if (resource !== undefined) {
      this.recomputed.policies++;
      const converter = new RuleConverter();
      const spec = (resource.spec ?? {}) as { ingress?: Rule[]; egress?: Rule[] };
      const value: ProtoProfile = {
        name,
        inboundRules: converter.convertAll(spec.ingress ?? [], ''),
        outboundRules: converter.convertAll(spec.egress ?? [], ''),
      };
      this.acquire(converter.sets);
      this.profiles.set(name, { resource, converted: { value, sets: converter.sets } });
    } else this.profiles.delete(name);
    this.release(state?.converted);
    // The endpoints naming it list it only while it exists.
    for (const [iface, local] of this.locals) if (local.member.profiles.includes(name)) this.replan.add(iface);
  }

  /** Takes a reference on each set; a set new to the calculation is matched against every member. */
  private acquire(sets: ReadonlyMap<string, IpSetDefinition>): void {
    for (const [id, definition] of sets) {
      const state = this.ipSets.get(id);
      if (state) {
        state.refs++;
        continue;
      }
      const added: IpSetState = { definition, refs: 1, members: new Set(), output: undefined };
      for (const [key, member] of this.members) {
        if (!definition.selector.evaluate(member.labels)) continue;
        added.members.add(key);
        member.inSets.add(id);
      }
      this.ipSets.set(id, added);
    }
  }

  private release(converted: Converted<unknown> | undefined): void {
    for (const id of converted?.sets.keys() ?? []) {
      const state = this.ipSets.get(id)!;
      if (--state.refs > 0) continue;
      for (const key of state.members) this.members.get(key)?.inSets.delete(id);
      this.ipSets.delete(id);
    }
  }

  private updateMembers(
    inputs: PolicyInputs,
    changedProfiles: ReadonlySet<string>,
    changed: [MemberKind, ReadonlySet<string>][],
  ): void {
    const keys = new Set(changed.flatMap(([kind, names]) => [...names].map((name) => kind + name)));
    // Labels a changed profile hands down: the members that inherit from it are worked out again.
    if (changedProfiles.size > 0) {
      for (const [key, member] of this.members) {
        if (member.profiles.some((name) => changedProfiles.has(name))) keys.add(key);
      }
    }
    for (const key of keys) {
      const kind = MEMBER_KINDS[key.slice(0, MEMBER_KIND_LENGTH) as MemberKind];
      const resource = kind.of(inputs).get(key.slice(MEMBER_KIND_LENGTH));
      const previous = this.members.get(key);
      if (resource === undefined) {
        if (!previous) continue;
        for (const id of previous.inSets) this.leaveSet(id, key);
        this.members.delete(key);
        continue;
      }
      const member = { ...kind.member(resource, inputs.profiles), inSets: previous?.inSets ?? new Set<string>() };
      this.members.set(key, member);
      const addressesChanged =
        previous !== undefined &&
        (previous.cidrs.join() !== member.cidrs.join() ||
          JSON.stringify(previous.ports) !== JSON.stringify(member.ports));
      if (addressesChanged) for (const id of member.inSets) this.ipSets.get(id)!.output = undefined;
      if (previous?.labelsKey === member.labelsKey) continue;
      for (const [id, set] of this.ipSets) {
        const matches = set.definition.selector.evaluate(member.labels);
        if (matches === member.inSets.has(id)) continue;
        if (matches) {
          member.inSets.add(id);
          set.members.add(key);
          set.output = undefined;
        } else this.leaveSet(id, key);
      }
    }
  }

  private leaveSet(id: string, key: string): void {
    const set = this.ipSets.get(id)!;
    set.members.delete(key);
    set.output = undefined;
    this.members.get(key)?.inSets.delete(id);
  }

  private result(inputs: PolicyInputs): DesiredPolicy {
    for (const iface of this.replan) {
      this.recomputed.endpoints++;
      this.plans.set(iface, this.planOf(inputs, this.locals.get(iface)!));
    }
    this.replan.clear();
    const policies: DesiredPolicy['policies'] = [];
    for (const state of this.policies.values()) if (state.converted) policies.push(state.converted.value);
    const profiles = [...this.profiles.keys()].sort().map((name) => this.profiles.get(name)!.converted.value);
    const ipSets: SelectorIpSet[] = [];
    for (const [id, set] of this.ipSets) {
      if (!set.output) {
        this.recomputed.ipSets++;
        set.output = this.ipSetOf(id, set);
      }
      ipSets.push(set.output);
    }
    return {
      endpoints: this.plans,
      policies,
      profiles,
      ipSets,
      hostInterfaces: [...new Set(this.hostClaims.values())].filter((iface) => this.locals.get(iface)?.host).sort(),
      notEnforced: [...this.notEnforced.values()].sort(),
      recomputed: this.recomputed,
    };
  }

  /** The tiers of the policies that select an endpoint, each with them in order, per direction; its profiles. */
  private planOf(inputs: PolicyInputs, local: LocalState): EndpointPolicy {
    const selecting = [...local.selectedBy]
      .map((key) => this.policies.get(key)!.policy!)
      .sort((a, b) =>
        a.tierOrder !== b.tierOrder
          ? a.tierOrder < b.tierOrder
            ? -1
            : 1
          : a.tier !== b.tier
            ? a.tier < b.tier
              ? -1
              : 1
            : byOrderThenName(a, b),
      );
    /**
     * Normal policy (the filter table's), what of it applies on forward, doNotTrack (the raw table's) or preDNAT
     * (the mangle table's). Untracked and pre-DNAT tiers pass at their end: the filter table's policy follows.
     */
    const tiersFor = (direction: 'ingress' | 'egress', chain: 'normal' | 'forward' | 'untracked' | 'preDnat') => {
      const table: PolicyTable = chain === 'untracked' ? 'raw' : chain === 'preDnat' ? 'mangle' : 'filter';
      const tiers: EndpointTier[] = [];
      for (const p of selecting) {
        if (!p[direction] || p.table !== table) continue;
        if (chain === 'forward' && !p.applyOnForward) continue;
        let tier = tiers[tiers.length - 1];
        if (tier?.name !== p.tier) {
          const defaultAction = table === 'filter' ? p.defaultAction : 'Pass';
          tier = { name: p.tier, order: p.tierOrder, defaultAction, policies: [] };
          tiers.push(tier);
        }
        tier.policies.push({ kind: p.kind, name: p.name, order: p.order });
      }
      return tiers;
    };
    const profiles = local.member.profiles.filter((name) => inputs.profiles.has(name));
    const plan: EndpointPolicy = {
      ingress: tiersFor('ingress', 'normal'),
      egress: tiersFor('egress', 'normal'),
      profiles,
    };
    if (local.host) {
      plan.forward = { ingress: tiersFor('ingress', 'forward'), egress: tiersFor('egress', 'forward') };
      plan.untracked = { ingress: tiersFor('ingress', 'untracked'), egress: tiersFor('egress', 'untracked') };
      // Pre-DNAT policy polices traffic arriving through the host endpoint only.
      plan.preDnat = { ingress: tiersFor('ingress', 'preDnat'), egress: [] };
    }
    return plan;
  }

  private ipSetOf(id: string, set: IpSetState): SelectorIpSet {
    const { selector, namedPort } = set.definition;
    const members = [...set.members].map((key) => this.members.get(key)!);
    if (!namedPort) {
      return {
        id,
        selector: selector.canonical,
        type: 'hash:net',
        members: [...new Set(members.flatMap((m) => m.cidrs))].sort(),
      };
    }
    const { protocol, port } = namedPort;
    const entries = members.flatMap((m) =>
      m.ports
        .filter((p) => p.name === port && (protocol === 'any' || p.protocol.toLowerCase() === protocol))
        .flatMap((p) => m.cidrs.map((cidr) => `${cidr.replace(/\/32$/, '')},${p.protocol.toLowerCase()}:${p.port}`)),
    );
    return {
      id,
      selector: `${selector.canonical} port ${port}/${protocol}`,
      type: 'hash:ip,port',
      members: [...new Set(entries)].sort(),
    };
  }
}

/** Records whether a policy selects a local endpoint, on both sides; says whether that changed. */
function select(key: string, state: PolicyState, iface: string, local: LocalState, selects: boolean): boolean {
  if (selects === state.selects.has(iface)) return false;
  if (selects) {
    state.selects.add(iface);
    local.selectedBy.add(key);
  } else {
    state.selects.delete(iface);
    local.selectedBy.delete(key);
  }
  return true;
}

/** Where a policy sits in the endpoints' chains: a change of it re-plans the endpoints it selects. */
function placementOf(p: PolicyInForce): string {
  return [
    p.kind,
    p.name,
    p.tier,
    p.tierOrder,
    p.defaultAction,
    p.order,
    p.ingress,
    p.egress,
    p.applyOnForward,
    p.table,
  ].join('\n');
}

/** The policy part of the dataplane from scratch (tabbyctl, tests); felix keeps a PolicyCalculation and updates it. */
export function computePolicy(inputs: PolicyInputs, locals: readonly LocalWorkload[], nodeName = ''): DesiredPolicy {
  return new PolicyCalculation().update(inputs, locals, nodeName);
}
