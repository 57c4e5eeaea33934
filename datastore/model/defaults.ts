// Calico's defaulting on create and update: what libcalico-go's clientv3 fills in (IP pools, policy types,
// workload endpoint names and labels), the `+kubebuilder:default` values its validator applies in etcd mode,
// Kubernetes' defaults for networking/v1 NetworkPolicy, and the canonical JSON forms Calico stores (AS numbers
// as integers, "80" as 80, canonical CIDR text). Runs before validation, so it must cope with any input:
// whatever it cannot make sense of is left for validation to report.
import { kindId, kindOf } from '../kinds';
import type { Resource } from '../resource';
import { DEFAULT_BLOCK_SIZE } from './check-ipam';
import { workloadEndpointName } from './names';
import { formatCidr, hasHostBits, parseCidr } from './net';
import { canonicalPort, canonicalProtocol, parseAsNumber, parsePort, parseProtocol } from './numorstring';

type Json = Record<string, unknown>;

const TIER_LABEL = 'projectcalico.org/tier';
const NAMESPACE_LABEL = 'projectcalico.org/namespace';
const ORCHESTRATOR_LABEL = 'projectcalico.org/orchestrator';

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function objects(value: unknown): Json[] {
  return Array.isArray(value) ? value.filter(isObject) : [];
}

/** Sets `key` when it is absent or empty (Go's omitempty makes "" and absent the same thing). */
function setIfEmpty(target: Json, key: string, value: unknown): void {
  if (target[key] === undefined || target[key] === '') target[key] = value;
}

/** Rewrites a field with the canonical form its parser gives, when it parses. */
function canonicalize<T>(target: Json, key: string, parse: (v: unknown) => T | string, format: (v: T) => unknown) {
  if (target[key] === undefined) return;
  const parsed = parse(target[key]);
  if (typeof parsed !== 'string') target[key] = format(parsed);
}

function canonicalizeAsNumber(target: Json, key: string): void {
  canonicalize(target, key, parseAsNumber, (asn) => asn);
}

function canonicalizePorts(ports: unknown): void {
  if (!Array.isArray(ports)) return;
  ports.forEach((value, i) => {
    const port = parsePort(value);
    if (typeof port !== 'string') ports[i] = canonicalPort(port);
  });
}

function canonicalizeRules(spec: Json): void {
  for (const rule of [...objects(spec.ingress), ...objects(spec.egress)]) {
    canonicalize(rule, 'protocol', parseProtocol, canonicalProtocol);
    canonicalize(rule, 'notProtocol', parseProtocol, canonicalProtocol);
    for (const entity of [rule.source, rule.destination]) {
      if (!isObject(entity)) continue;
      canonicalizePorts(entity.ports);
      canonicalizePorts(entity.notPorts);
    }
  }
}

const hasRules = (spec: Json, key: 'ingress' | 'egress') => Array.isArray(spec[key]) && spec[key].length > 0;

/** Calico: the directions the policy has rules for, Ingress when it has none at all. */
function inferCalicoPolicyTypes(spec: Json): void {
  if (Array.isArray(spec.types) && spec.types.length > 0) return;
  const ingress = hasRules(spec, 'ingress');
  const egress = hasRules(spec, 'egress');
  spec.types = egress && !ingress ? ['Egress'] : egress ? ['Ingress', 'Egress'] : ['Ingress'];
}

/** Kubernetes: every policy isolates ingress; egress too when it has egress rules. */
function inferKubernetesPolicyTypes(spec: Json): void {
  if (Array.isArray(spec.policyTypes) && spec.policyTypes.length > 0) return;
  spec.policyTypes = hasRules(spec, 'egress') ? ['Ingress', 'Egress'] : ['Ingress'];
}

function defaultIPPool(spec: Json): void {
  const cidr = typeof spec.cidr === 'string' ? parseCidr(spec.cidr) : undefined;
  if (cidr) {
    // Only a formatting change: a CIDR with host bits is kept as written so validation can reject it.
    if (!hasHostBits(cidr)) spec.cidr = formatCidr(cidr);
    if (!spec.blockSize) spec.blockSize = DEFAULT_BLOCK_SIZE[cidr.version];
  }
  setIfEmpty(spec, 'ipipMode', 'Never');
  setIfEmpty(spec, 'vxlanMode', 'Never');
  setIfEmpty(spec, 'nodeSelector', 'all()');
  if (!Array.isArray(spec.allowedUses) || spec.allowedUses.length === 0) spec.allowedUses = ['Workload', 'Tunnel'];
  setIfEmpty(spec, 'assignmentMode', 'Automatic');
}

function defaultCalicoPolicy(spec: Json, doc: Resource): void {
  setIfEmpty(spec, 'tier', 'default');
  inferCalicoPolicyTypes(spec);
  canonicalizeRules(spec);
  // Calico labels every policy with its tier, so policies can be listed by tier.
  if (typeof spec.tier === 'string' && isObject(doc.metadata)) {
    doc.metadata.labels = { ...doc.metadata.labels, [TIER_LABEL]: spec.tier };
  }
}

function defaultWorkloadEndpoint(spec: Json, doc: Resource): void {
  if (!isObject(doc.metadata)) return;
  if (!doc.metadata.name) {
    const name = workloadEndpointName(spec as Record<string, string>);
    if (typeof name === 'string') doc.metadata.name = name;
  }
  // Not user-settable: Calico overwrites them with the endpoint's namespace and orchestrator on every write.
  const labels: Record<string, string> = { ...doc.metadata.labels };
  if (typeof doc.metadata.namespace === 'string') labels[NAMESPACE_LABEL] = doc.metadata.namespace;
  if (typeof spec.orchestrator === 'string') labels[ORCHESTRATOR_LABEL] = spec.orchestrator;
  doc.metadata.labels = labels;
  for (const port of objects(spec.ports)) canonicalize(port, 'protocol', parseProtocol, canonicalProtocol);
}

function defaultKubernetesNetworkPolicy(spec: Json): void {
  if (spec.podSelector === undefined) spec.podSelector = {};
  for (const rule of [...objects(spec.ingress), ...objects(spec.egress)]) {
    for (const port of objects(rule.ports)) port.protocol ??= 'TCP';
  }
  inferKubernetesPolicyTypes(spec);
}

const DEFAULTS_BY_KIND: Record<string, (spec: Json, doc: Resource) => void> = {
  'projectcalico.org/IPPool': defaultIPPool,
  'projectcalico.org/NetworkPolicy': defaultCalicoPolicy,
  'projectcalico.org/GlobalNetworkPolicy': defaultCalicoPolicy,
  'projectcalico.org/Profile': canonicalizeRules,
  'projectcalico.org/Tier': (spec) => setIfEmpty(spec, 'defaultAction', 'Deny'),
  'projectcalico.org/BGPConfiguration': (spec) => {
    setIfEmpty(spec, 'logSeverityScreen', 'Info');
    setIfEmpty(spec, 'serviceLoadBalancerAggregation', 'Enabled');
    canonicalizeAsNumber(spec, 'asNumber');
  },
  'projectcalico.org/BGPPeer': (spec) => {
    canonicalizeAsNumber(spec, 'asNumber');
    canonicalizeAsNumber(spec, 'localASNumber');
  },
  'projectcalico.org/Node': (spec) => {
    if (isObject(spec.bgp)) canonicalizeAsNumber(spec.bgp, 'asNumber');
  },
  'projectcalico.org/FelixConfiguration': (spec) => {
    setIfEmpty(spec, 'nftablesMode', 'Auto');
    setIfEmpty(spec, 'nftablesFlowTableOffload', 'Disabled');
  },
  'projectcalico.org/IPAMConfiguration': (spec) => {
    spec.strictAffinity ??= false;
    spec.autoAllocateBlocks ??= true;
  },
  'projectcalico.org/WorkloadEndpoint': defaultWorkloadEndpoint,
  'projectcalico.org/HostEndpoint': (spec) => {
    for (const port of objects(spec.ports)) canonicalize(port, 'protocol', parseProtocol, canonicalProtocol);
  },
  'networking.k8s.io/NetworkPolicy': defaultKubernetesNetworkPolicy,
};

/** A copy of `r` with Calico's defaults filled in; `r` itself is not modified. Unknown kinds are copied as they are. */
export function applyDefaults(r: Resource): Resource {
  const doc = structuredClone(r);
  const kind =
    isObject(doc) && typeof doc.apiVersion === 'string' && typeof doc.kind === 'string'
      ? kindOf(doc.apiVersion, doc.kind)
      : undefined;
  const defaults = kind && DEFAULTS_BY_KIND[kindId(kind)];
  if (!defaults) return doc;
  if (doc.spec === undefined) doc.spec = {};
  if (isObject(doc.spec)) defaults(doc.spec, doc);
  return doc;
}
