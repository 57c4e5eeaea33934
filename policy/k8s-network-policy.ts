// A Kubernetes networking.k8s.io/v1 NetworkPolicy as the Calico v3 NetworkPolicy that Calico's Kubernetes
// datastore presents for it (libcalico-go/lib/backend/k8s/conversion: K8sNetworkPolicyToCalico and helpers).
// Fields are built in the order of Calico's Go structs, and empty ones left out as its JSON encoding does, so the
// result serialises as Calico's does.
import { type Cidr, formatCidr, maskCidr, parseCidr } from '../datastore/model/net';
import { canonicalPort, type PortMatch, parsePort } from '../datastore/model/numorstring';
import type {
  EntityRule,
  KubernetesNetworkPolicySpec,
  LabelSelector,
  NetworkPolicySpec,
  Rule,
} from '../datastore/model/types';
import type { ObjectMeta, Resource } from '../datastore/resource';

type IngressRule = NonNullable<KubernetesNetworkPolicySpec['ingress']>[number];
type Peer = NonNullable<IngressRule['from']>[number];
type Port = NonNullable<IngressRule['ports']>[number];
type PolicyType = NonNullable<KubernetesNetworkPolicySpec['policyTypes']>[number];

/** Calico names the policies it converts `knp.default.<name>`, out of the way of its own NetworkPolicies. */
export const K8S_NETWORK_POLICY_NAME_PREFIX = 'knp.default.';
/** Every converted policy sits at this order in the default tier, after most Calico policies. */
export const K8S_NETWORK_POLICY_ORDER = 1000;

// Kubernetes selects only its own pods; Calico labels every pod's endpoint with its orchestrator.
const K8S_PODS = "projectcalico.org/orchestrator == 'k8s'";

/**
 * What a label selector selects: pods (always narrowed to Kubernetes' own endpoints) or namespaces (matched
 * against the namespace's labels as they are; Calico adds the `pcns.` prefix only when felix resolves the rule).
 */
export type SelectorKind = 'pod' | 'namespace';

/**
 * A Kubernetes label selector as Calico selector text, term by term as Calico writes it: matchLabels sorted by
 * key, then matchExpressions in order, joined by ` && `. An absent pod selector still selects Kubernetes pods;
 * an absent namespace selector is `''` (the rule's own namespace), an empty one `all()` (every namespace).
 */
export function k8sSelectorToCalico(selector: LabelSelector | undefined, kind: SelectorKind): string {
  const terms = kind === 'pod' ? [K8S_PODS] : [];
  if (selector === undefined) return terms.join(' && ');
  const labels = selector.matchLabels ?? {};
  const expressions = selector.matchExpressions ?? [];
  if (kind === 'namespace' && Object.keys(labels).length === 0 && expressions.length === 0) return 'all()';
  for (const key of Object.keys(labels).sort()) terms.push(`${key} == '${labels[key]}'`);
  for (const { key, operator, values = [] } of expressions) {
    const list = `'${values.join("', '")}'`;
    switch (operator) {
      case 'In':
        terms.push(`${key} in { ${list} }`);
        break;
      case 'NotIn':
        terms.push(`${key} not in { ${list} }`);
        break;
      case 'Exists':
        terms.push(`has(${key})`);
        break;
      case 'DoesNotExist':
        terms.push(`! has(${key})`);
        break;
    }
  }
  return terms.join(' && ');
}

/**
 * Calico's SimplifyPorts: named ports as given, then the numeric ports merged into the fewest sorted ranges
 * (duplicates and adjacent ports fold together). When there is at most one numeric port, the list is returned
 * untouched, order included.
 */
export function simplifyPorts(ports: readonly PortMatch[]): readonly PortMatch[] {
  const named = ports.filter((p) => p.kind === 'named');
  const ranges = ports.filter((p) => p.kind === 'range').sort((a, b) => a.min - b.min);
  const numericCount = ranges.reduce((sum, r) => sum + r.max - r.min + 1, 0);
  if (numericCount <= 1) return ports;
  const merged: PortMatch[] = [];
  let current = { ...ranges[0]! };
  for (const range of ranges.slice(1)) {
    if (range.min <= current.max + 1) {
      current.max = Math.max(current.max, range.max);
    } else {
      merged.push(current);
      current = { ...range };
    }
  }
  merged.push(current);
  return [...named, ...merged];
}

/** Go's IPNet.String of a parsed CIDR: the network, with an IPv4-mapped IPv6 network written as IPv4. */
function networkText(cidr: Cidr): string {
  const network = maskCidr(cidr);
  const mapped = network.version === 6 && network.prefix >= 96 && network.address >> 32n === 0xffffn;
  if (!mapped) return formatCidr(network);
  return formatCidr({ version: 4, address: Number(network.address & 0xffffffffn), prefix: network.prefix - 96 });
}

/** The entity fields a peer gives a rule. A CIDR that does not parse ends the conversion of the block, as in Calico. */
function peerFields(peer: Peer | undefined): EntityRule {
  if (peer === undefined) return {};
  if (peer.ipBlock !== undefined) {
    const cidr = parseCidr(peer.ipBlock.cidr);
    if (cidr === undefined) return {};
    const notNets: string[] = [];
    for (const text of peer.ipBlock.except ?? []) {
      const except = parseCidr(text);
      if (except === undefined) break;
      notNets.push(networkText(except));
    }
    return notNets.length > 0 ? { nets: [networkText(cidr)], notNets } : { nets: [networkText(cidr)] };
  }
  const selector = k8sSelectorToCalico(peer.podSelector, 'pod');
  const namespaceSelector = k8sSelectorToCalico(peer.namespaceSelector, 'namespace');
  return namespaceSelector === '' ? { selector } : { selector, namespaceSelector };
}

/**
 * An entity rule in Calico's field order, with ports when the rule matches some; undefined when it has nothing,
 * since Calico leaves an empty source or destination out (omitzero).
 */
function entity(peer: EntityRule, ports: (number | string)[] | undefined): EntityRule | undefined {
  const { nets, selector, namespaceSelector, notNets } = peer;
  const fields: EntityRule = {
    ...(nets && { nets }),
    ...(selector && { selector }),
    ...(namespaceSelector && { namespaceSelector }),
    ...(ports && { ports }),
    ...(notNets && { notNets }),
  };
  return Object.keys(fields).length > 0 ? fields : undefined;
}

/**
 * The ports of a Kubernetes rule by protocol: `undefined` for every port of the protocol, and the key `''` (no
 * protocol, every port) when the rule lists no ports. Returns undefined when a port does not parse: Calico drops
 * such a rule (the API server's validation never lets one through).
 */
function portsByProtocol(ports: Port[]): Map<string, PortMatch[] | undefined> | undefined {
  const byProtocol = new Map<string, PortMatch[] | undefined>();
  if (ports.length === 0) return byProtocol.set('', undefined);
  for (const port of ports) {
    const protocol = port.protocol ?? 'TCP';
    if (port.port === undefined) {
      byProtocol.set(protocol, undefined);
      continue;
    }
    const parsed = parsePort(port.endPort === undefined ? port.port : `${port.port}:${port.endPort}`);
    if (typeof parsed === 'string') return undefined;
    if (!byProtocol.has(protocol)) byProtocol.set(protocol, [parsed]);
    else byProtocol.get(protocol)?.push(parsed);
  }
  return byProtocol;
}

/**
 * One Kubernetes rule as Calico rules: one per protocol (sorted by name) and peer, each allowing that protocol's
 * ports from (ingress) or to (egress) the peer. No peers means any peer; no ports means any protocol and port.
 */
function k8sRuleToCalico(peers: Peer[], ports: Port[], direction: 'ingress' | 'egress'): Rule[] | undefined {
  const byProtocol = portsByProtocol(ports);
  if (byProtocol === undefined) return undefined;
  const rules: Rule[] = [];
  for (const protocol of [...byProtocol.keys()].sort()) {
    const protocolPorts = byProtocol.get(protocol);
    const calicoPorts = protocolPorts && simplifyPorts(protocolPorts).map(canonicalPort);
    for (const peer of peers.length > 0 ? peers : [undefined]) {
      const fields = peerFields(peer);
      const source = direction === 'ingress' ? entity(fields, undefined) : undefined;
      const destination = entity(direction === 'ingress' ? {} : fields, calicoPorts);
      rules.push({
        action: 'Allow',
        ...(protocol !== '' && { protocol }),
        ...(source && { source }),
        ...(destination && { destination }),
      });
    }
  }
  return rules;
}

/**
 * The policy's types: Kubernetes' defaulting when policyTypes is absent or empty (Ingress, plus Egress when there
 * are egress rules), then Calico's order, Ingress before Egress.
 */
function policyTypes(spec: KubernetesNetworkPolicySpec): PolicyType[] {
  const declared: readonly PolicyType[] = spec.policyTypes?.length
    ? spec.policyTypes
    : spec.egress?.length
      ? ['Ingress', 'Egress']
      : ['Ingress'];
  return (['Ingress', 'Egress'] as const).filter((type) => declared.includes(type));
}

function byteHex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}

function reverseBits(byte: number): number {
  let reversed = 0;
  for (let bit = 0; bit < 8; bit++) reversed |= ((byte >> bit) & 1) << (7 - bit);
  return reversed;
}

/** The 32 hex digits of a UUID in any form Go's uuid.Parse takes (plain, dashed, in braces, urn:uuid:). */
function uuidHex(uid: string): string | undefined {
  let text = uid;
  if (text.length === 45 && text.slice(0, 9).toLowerCase() === 'urn:uuid:') text = text.slice(9);
  else if (text.length === 38 && text.startsWith('{') && text.endsWith('}')) text = text.slice(1, -1);
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(text)) return text.replaceAll('-', '');
  return /^[0-9a-f]{32}$/i.test(text) ? text : undefined;
}

/**
 * Calico's ConvertUID: a derived object must not share its source's UID (Kubernetes' garbage collector would
 * confuse them), so every byte's bits are reversed, except the version and variant bytes. Its own inverse.
 */
function convertUid(uid: string): string {
  const hex = uuidHex(uid);
  if (hex === undefined) throw new Error(`failed to parse UID for resource: invalid UUID ${JSON.stringify(uid)}`);
  const bytes = Array.from({ length: 16 }, (_, i) => Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16));
  const out = bytes.map((byte, i) => (i === 6 || i === 8 ? byte : reverseBits(byte))).map(byteHex);
  return [out.slice(0, 4), out.slice(4, 6), out.slice(6, 8), out.slice(8, 10), out.slice(10)]
    .map((group) => group.join(''))
    .join('-');
}

/** The metadata Calico carries over: name (prefixed), namespace, UID (converted), resourceVersion, creation time. */
function convertedMetadata(metadata: ObjectMeta): ObjectMeta {
  const { namespace, uid, resourceVersion, creationTimestamp } = metadata;
  return {
    name: K8S_NETWORK_POLICY_NAME_PREFIX + metadata.name,
    ...(namespace && { namespace }),
    ...(uid && { uid: convertUid(uid) }),
    ...(resourceVersion && { resourceVersion }),
    ...(creationTimestamp && { creationTimestamp }),
  };
}

/**
 * A Kubernetes NetworkPolicy (as the API server admits it) as the Calico NetworkPolicy Calico presents for it.
 * Rules Calico cannot convert are dropped, as Calico does; the API server's validation leaves none.
 * Throws for a document that is not a networking.k8s.io/v1 NetworkPolicy, or whose UID is not a UUID.
 */
export function k8sNetworkPolicyToCalico(policy: Resource): Resource<NetworkPolicySpec> {
  if (policy.apiVersion !== 'networking.k8s.io/v1' || policy.kind !== 'NetworkPolicy') {
    throw new Error(`not a networking.k8s.io/v1 NetworkPolicy: ${policy.apiVersion} ${policy.kind}`);
  }
  const spec = (policy.spec ?? {}) as KubernetesNetworkPolicySpec;
  const ingress = (spec.ingress ?? []).flatMap(
    (rule) => k8sRuleToCalico(rule.from ?? [], rule.ports ?? [], 'ingress') ?? [],
  );
  const egress = (spec.egress ?? []).flatMap(
    (rule) => k8sRuleToCalico(rule.to ?? [], rule.ports ?? [], 'egress') ?? [],
  );
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'NetworkPolicy',
    metadata: convertedMetadata(policy.metadata),
    spec: {
      tier: 'default',
      order: K8S_NETWORK_POLICY_ORDER,
      ...(ingress.length > 0 && { ingress }),
      ...(egress.length > 0 && { egress }),
      selector: k8sSelectorToCalico(spec.podSelector, 'pod'),
      types: policyTypes(spec),
    },
  };
}
