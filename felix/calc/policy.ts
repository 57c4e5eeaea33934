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
  /** NetworkPolicies (both groups) and GlobalNetworkPolicies, by `kind/namespace/name`. */
  policies: Map<string, Resource>;
  tiers: Map<string, Resource>;
  profiles: Map<string, Resource>;
  /** NetworkSets and GlobalNetworkSets, by `kind/namespace/name`. */
  networkSets: Map<string, Resource>;
  /** Every WorkloadEndpoint, local or not, by `namespace/name`. */
  endpoints: Map<string, Resource>;
}

export function emptyPolicyInputs(): PolicyInputs {
  return { policies: new Map(), tiers: new Map(), profiles: new Map(), networkSets: new Map(), endpoints: new Map() };
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

/** The IP set of a named port on the endpoints a selector matches (Calico's IPSetData with a named port). */
interface NamedPortSet {
  selector: Selector;
  protocol: NamedPortProtocol;
  port: string;
}

export interface DesiredPolicy {
  /** By local workload interface. */
  endpoints: Map<string, EndpointPolicy>;
  policies: { kind: PolicyKind; policy: ProtoPolicy }[];
  profiles: ProtoProfile[];
  ipSets: SelectorIpSet[];
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
}

interface PolicySpec {
  tier?: string;
  order?: number;
  selector?: string;
  namespaceSelector?: string;
  serviceAccountSelector?: string;
  types?: string[];
  ingress?: Rule[];
  egress?: Rule[];
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

/** The policy's rules in the form felix renders, noting each selector an IP set must hold. */
class RuleConverter {
  readonly selectors = new Map<string, Selector>();
  readonly namedPorts = new Map<string, NamedPortSet>();

  ipSetIdOf(selectorText: string): string {
    const selector = parseSelector(selectorText);
    this.selectors.set(selector.uniqueId, selector);
    return selector.uniqueId;
  }

  /** Calico's id of a named port's set: "n:" + hash of the selector's id, the protocol and the port name. */
  namedPortIds(names: readonly string[], selectorText: string, protocol: NamedPortProtocol): string[] {
    const selector = parseSelector(selectorText || 'all()');
    return names.map((port) => {
      const id = makeUniqueId('n', `${selector.uniqueId},${protocol},${port}`);
      this.namedPorts.set(id, { selector, protocol, port });
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

interface Member {
  labels: Record<string, string>;
  cidrs: string[];
  /** A workload's named ports. */
  ports: { name: string; protocol: string; port: number }[];
}

function membersOf(inputs: PolicyInputs): Member[] {
  const members: Member[] = [];
  for (const wep of inputs.endpoints.values()) {
    const spec = (wep.spec ?? {}) as {
      ipNetworks?: string[];
      profiles?: string[];
      ports?: { name: string; protocol: string; port: number }[];
    };
    const namespace = wep.metadata.namespace ?? '';
    members.push({
      labels: effectiveLabels(wep.metadata.labels, namespace, spec.profiles ?? [], inputs.profiles),
      cidrs: ipv4Nets(spec.ipNetworks),
      ports: spec.ports ?? [],
    });
  }
  for (const set of inputs.networkSets.values()) {
    const namespace = set.kind === 'NetworkSet' ? (set.metadata.namespace ?? '') : '';
    members.push({
      labels: effectiveLabels(set.metadata.labels, namespace, namespace ? [`kns.${namespace}`] : [], inputs.profiles),
      cidrs: ipv4Nets((set.spec as { nets?: string[] } | undefined)?.nets),
      ports: [],
    });
  }
  return members;
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

export function computePolicy(inputs: PolicyInputs, locals: readonly LocalWorkload[]): DesiredPolicy {
  const policies = [...inputs.policies.values()]
    .map(normalise)
    .filter((p): p is NormalisedPolicy => p !== undefined)
    .map((p) => ({ ...p, tierInfo: tierOf(inputs, p.tier) }))
    // A policy in a tier that does not exist is not in force (Calico's calculation drops it too).
    .filter((p) => p.tierInfo !== undefined);
  const tierNames = [...new Set(policies.map((p) => p.tier))]
    .map((name) => ({ name, order: tierOf(inputs, name)!.order }))
    .sort(byOrderThenName)
    .map((t) => t.name);
  const sorted = [...policies].sort(byOrderThenName);

  const endpoints = new Map<string, EndpointPolicy>();
  const usedPolicies = new Map<string, NormalisedPolicy>();
  const usedProfiles = new Set<string>();
  for (const { iface, endpoint } of locals) {
    const wep = inputs.endpoints.get(endpoint);
    if (!wep) continue;
    const spec = (wep.spec ?? {}) as { profiles?: string[] };
    const labels = effectiveLabels(
      wep.metadata.labels,
      wep.metadata.namespace ?? '',
      spec.profiles ?? [],
      inputs.profiles,
    );
    const selecting = sorted.filter((p) => p.selector.evaluate(labels));
    const tiersFor = (direction: 'ingress' | 'egress'): EndpointTier[] =>
      tierNames.flatMap((tier) => {
        const inTier = selecting.filter((p) => p.tier === tier && p[direction]);
        if (inTier.length === 0) return [];
        for (const p of inTier) usedPolicies.set(`${p.kind}/${p.name}`, p);
        const policies = inTier.map((p) => ({ kind: p.kind, name: p.name, order: p.order }));
        const { order, defaultAction } = tierOf(inputs, tier)!;
        return [{ name: tier, order, defaultAction, policies }];
      });
    const profiles = (spec.profiles ?? []).filter((name) => inputs.profiles.has(name));
    for (const name of profiles) usedProfiles.add(name);
    endpoints.set(iface, { ingress: tiersFor('ingress'), egress: tiersFor('egress'), profiles });
  }

  const converter = new RuleConverter();
  const protoPolicies = [...usedPolicies.values()].map((p) => ({
    kind: p.kind,
    policy: {
      tier: p.tier,
      name: p.name,
      inboundRules: p.ingress ? converter.convertAll(p.inboundRules, p.namespace) : [],
      outboundRules: p.egress ? converter.convertAll(p.outboundRules, p.namespace) : [],
    },
  }));
  const protoProfiles: ProtoProfile[] = [...usedProfiles].sort().map((name) => {
    const spec = (inputs.profiles.get(name)!.spec ?? {}) as { ingress?: Rule[]; egress?: Rule[] };
    return {
      name,
      inboundRules: converter.convertAll(spec.ingress ?? [], ''),
      outboundRules: converter.convertAll(spec.egress ?? [], ''),
    };
  });

  const members = membersOf(inputs);
  const ipSets: SelectorIpSet[] = [...converter.selectors].map(([id, selector]) => ({
    id,
    selector: selector.canonical,
    type: 'hash:net',
    members: [...new Set(members.filter((m) => selector.evaluate(m.labels)).flatMap((m) => m.cidrs))].sort(),
  }));
  for (const [id, { selector, protocol, port }] of converter.namedPorts) {
    const entries = members
      .filter((m) => selector.evaluate(m.labels))
      .flatMap((m) =>
        m.ports
          .filter((p) => p.name === port && (protocol === 'any' || p.protocol.toLowerCase() === protocol))
          .flatMap((p) => m.cidrs.map((cidr) => `${cidr.replace(/\/32$/, '')},${p.protocol.toLowerCase()}:${p.port}`)),
      );
    ipSets.push({
      id,
      selector: `${selector.canonical} port ${port}/${protocol}`,
      type: 'hash:ip,port',
      members: [...new Set(entries)].sort(),
    });
  }
  return { endpoints, policies: protoPolicies, profiles: protoProfiles, ipSets };
}
