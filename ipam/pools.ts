// Which pools a request may allocate from, in Calico's order (CONTRACT §7; libcalico-go determinePools and
// the CNI plugin's annotation handling): a pod's `cni.projectcalico.org/ipAddrs` asks for exact addresses;
// otherwise the pod's, else the namespace's `cni.projectcalico.org/ipv4pools`, else the CNI config's
// `ipv4_pools` name pools that are used unconditionally (they must exist and be enabled); otherwise every
// enabled pool whose nodeSelector matches the node and whose namespaceSelector matches the namespace.
import type { IPPoolSpec, Resource } from '../datastore';
import { parseSelector } from '../policy';
import { IpamError } from './errors';
import { type Ipv4Cidr, ipv4InCidr, parseIpv4, parseIpv4Cidr } from './ipv4';

export const IPV4_POOLS_ANNOTATION = 'cni.projectcalico.org/ipv4pools';
export const IP_ADDRS_ANNOTATION = 'cni.projectcalico.org/ipAddrs';

/** An enabled IPv4 pool, reduced to what allocation needs. */
export interface UsablePool {
  name: string;
  cidr: Ipv4Cidr;
  blockSize: number;
}

export type PoolUse = 'Workload' | 'Tunnel';

export interface NamespaceInfo {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface PoolRequestContext {
  /** Every IPPool in the datastore. */
  pools: readonly Resource[];
  node: { name: string; labels: Record<string, string> };
  namespace?: NamespaceInfo;
  podAnnotations?: Record<string, string>;
  /** The CNI network config's `ipam.ipv4_pools`: pool names or CIDRs. */
  configuredPools?: readonly string[];
  use: PoolUse;
  /** For a tunnel address: only pools with this encapsulation on (ipipMode or vxlanMode not Never). */
  encapsulation?: Encapsulation;
}

export type Encapsulation = 'ipip' | 'vxlan';

export interface PoolChoice {
  pools: UsablePool[];
  /** Exact addresses asked for by the ipAddrs annotation (then `pools` holds the pools containing them). */
  addresses?: number[];
  /** Where the choice came from, for messages. */
  source: string;
}

function poolSpec(pool: Resource): Partial<IPPoolSpec> {
  return (pool.spec ?? {}) as Partial<IPPoolSpec>;
}

function toUsable(pool: Resource): UsablePool | undefined {
  const spec = poolSpec(pool);
  const cidr = typeof spec.cidr === 'string' ? parseIpv4Cidr(spec.cidr) : undefined;
  if (!cidr) return undefined;
  return { name: pool.metadata.name, cidr, blockSize: spec.blockSize || 26 };
}

function allowsUse(pool: Resource, use: PoolUse): boolean {
  return (poolSpec(pool).allowedUses ?? ['Workload', 'Tunnel']).includes(use);
}

function encapsulates(pool: Resource, encapsulation: Encapsulation): boolean {
  const spec = poolSpec(pool);
  const mode = encapsulation === 'ipip' ? spec.ipipMode : spec.vxlanMode;
  return mode !== undefined && mode !== 'Never';
}

function selects(selector: string | undefined, labels: Record<string, string>): boolean {
  if (!selector || selector.trim() === '') return true;
  return parseSelector(selector).evaluate(labels);
}

/** A JSON list of strings in an annotation, or a clear error naming the annotation. */
function annotationList(annotations: Record<string, string> | undefined, name: string, owner: string) {
  const text = annotations?.[name];
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new IpamError(
      'InvalidRequest',
      `${owner} annotation ${name}: ${JSON.stringify(text)} is not a JSON list of strings`,
    );
  }
  return value as string[];
}

export function enabledPools(pools: readonly Resource[]): Resource[] {
  return pools.filter((p) => !poolSpec(p).disabled && toUsable(p) !== undefined);
}

export function choosePools(ctx: PoolRequestContext): PoolChoice {
  const enabled = enabledPools(ctx.pools).filter(
    (p) => allowsUse(p, ctx.use) && (ctx.encapsulation === undefined || encapsulates(p, ctx.encapsulation)),
  );
  const addresses = annotationList(ctx.podAnnotations, IP_ADDRS_ANNOTATION, 'pod');
  if (addresses) return chooseAddresses(addresses, enabled);

  const named =
    annotationList(ctx.podAnnotations, IPV4_POOLS_ANNOTATION, 'pod') ??
    annotationList(ctx.namespace?.annotations, IPV4_POOLS_ANNOTATION, `namespace ${ctx.namespace?.name}`);
  const requested =
    named ?? (ctx.configuredPools && ctx.configuredPools.length > 0 ? [...ctx.configuredPools] : undefined);
  if (requested) {
    const source = named ? `annotation ${IPV4_POOLS_ANNOTATION}` : 'the CNI config ipv4_pools';
    return { pools: requested.map((r) => requestedPool(r, ctx.pools, enabled, source)), source };
  }

  const nsLabels = { ...(ctx.namespace?.labels ?? {}) };
  if (ctx.namespace) nsLabels['projectcalico.org/name'] ??= ctx.namespace.name;
  const pools: UsablePool[] = [];
  for (const p of enabled) {
    const spec = poolSpec(p);
    if (spec.assignmentMode === 'Manual') continue;
    if (!selects(spec.nodeSelector, ctx.node.labels)) continue;
    if (!selects(spec.namespaceSelector, nsLabels)) continue;
    pools.push(toUsable(p)!);
  }
  return { pools, source: 'pools selecting this node and namespace' };
}

/** A pool named by name or CIDR in an annotation or the CNI config; it must exist and be enabled. */
function requestedPool(ref: string, all: readonly Resource[], enabled: readonly Resource[], source: string) {
  const asCidr = parseIpv4Cidr(ref);
  const match = (p: Resource) => {
    if (p.metadata.name === ref) return true;
    const u = toUsable(p);
    return asCidr !== undefined && u !== undefined && u.cidr.base === asCidr.base && u.cidr.prefix === asCidr.prefix;
  };
  const found = enabled.find(match);
  if (found) return toUsable(found)!;
  const disabled = all.find(match);
  throw new IpamError(
    'InvalidRequest',
    disabled
      ? `pool ${ref} (from ${source}) is disabled or does not allow this use`
      : `pool ${ref} (from ${source}) does not exist`,
  );
}

function chooseAddresses(texts: string[], enabled: readonly Resource[]): PoolChoice {
  const addresses: number[] = [];
  const pools: UsablePool[] = [];
  for (const text of texts) {
    const address = parseIpv4(text);
    if (address === undefined) {
      throw new IpamError(
        'InvalidRequest',
        `annotation ${IP_ADDRS_ANNOTATION}: ${JSON.stringify(text)} is not an IPv4 address`,
      );
    }
    const pool = enabled.map(toUsable).find((u) => u !== undefined && ipv4InCidr(address, u.cidr));
    if (!pool) {
      throw new IpamError(
        'InvalidRequest',
        `address ${text} (from annotation ${IP_ADDRS_ANNOTATION}) is in no enabled IP pool`,
      );
    }
    addresses.push(address);
    pools.push(pool);
  }
  return { pools, addresses, source: `annotation ${IP_ADDRS_ANNOTATION}` };
}

/** A namespace as a Profile `kns.<ns>` describes it (CONTRACT §7): labels without the `pcns.` prefix. */
export function namespaceFromProfile(name: string, profile: Resource | undefined): NamespaceInfo {
  const labels: Record<string, string> = {};
  const toApply = ((profile?.spec ?? {}) as { labelsToApply?: Record<string, string> }).labelsToApply ?? {};
  for (const [k, v] of Object.entries(toApply)) if (k.startsWith('pcns.')) labels[k.slice(5)] = v;
  return { name, labels, annotations: { ...(profile?.metadata.annotations ?? {}) } };
}
