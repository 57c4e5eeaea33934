// IPPool and IPAMConfiguration rules: libcalico-go's ippool.go (validateAndSetDefaults) and the CEL rules on
// IPPoolSpec, plus the rules that compare a pool with what is stored.
import type { Resource } from '../resource';
import type { Checker, Doc } from './checker';
import { type Cidr, cidrsOverlap, formatCidr, parseCidr } from './net';
import type { IPAMConfigurationSpec, IPPoolSpec } from './types';

const IPV4_LINK_LOCAL = parseCidr('169.254.0.0/16')!;
const IPV6_LINK_LOCAL = parseCidr('fe80::/10')!;
const BLOCK_SIZE_RANGE = { 4: [20, 32], 6: [116, 128] } as const;
export const DEFAULT_BLOCK_SIZE = { 4: 26, 6: 122 } as const;

const encapEnabled = (mode: string | undefined) => mode !== undefined && mode !== 'Never';

export function checkIPPool(c: Checker, { spec }: Doc<IPPoolSpec>): void {
  const cidr = c.cidr('spec.cidr', spec.cidr, { strict: true });
  const linkLocal = cidr.version === 4 ? IPV4_LINK_LOCAL : IPV6_LINK_LOCAL;
  if (cidrsOverlap(cidr, linkLocal)) {
    c.fail('spec.cidr', `${spec.cidr} overlaps the link-local range ${formatCidr(linkLocal)}`);
  }

  const [minBlock, maxBlock] = BLOCK_SIZE_RANGE[cidr.version];
  const blockSize = spec.blockSize || DEFAULT_BLOCK_SIZE[cidr.version];
  if (blockSize < minBlock || blockSize > maxBlock) {
    c.fail('spec.blockSize', `must be between ${minBlock} and ${maxBlock}, got ${blockSize}`);
  }
  if (!spec.disabled && cidr.prefix > blockSize) {
    c.fail('spec.cidr', `/${cidr.prefix} is smaller than one block (blockSize ${blockSize}): the pool cannot be used`);
  }

  if (encapEnabled(spec.ipipMode) && encapEnabled(spec.vxlanMode)) {
    c.fail('spec.vxlanMode', 'ipipMode and vxlanMode cannot both be enabled');
  }
  if (cidr.version === 6 && encapEnabled(spec.ipipMode)) c.fail('spec.ipipMode', 'IPIP is not supported on IPv6 pools');

  if (spec.nodeSelector !== undefined) c.selector('spec.nodeSelector', spec.nodeSelector);
  if (spec.namespaceSelector !== undefined) c.selector('spec.namespaceSelector', spec.namespaceSelector);

  const uses = spec.allowedUses ?? [];
  c.unique('spec.allowedUses', uses);
  if (uses.includes('LoadBalancer')) {
    if (uses.includes('Workload') || uses.includes('Tunnel')) {
      c.fail('spec.allowedUses', 'LoadBalancer cannot be combined with Workload or Tunnel');
    }
    if (encapEnabled(spec.ipipMode) || encapEnabled(spec.vxlanMode)) {
      c.fail('spec.allowedUses', 'a LoadBalancer pool cannot have IPIP or VXLAN enabled');
    }
    if (spec.disableBGPExport) c.fail('spec.disableBGPExport', 'a LoadBalancer pool cannot disable BGP export');
    if ((spec.nodeSelector ?? 'all()') !== 'all()') {
      c.fail('spec.nodeSelector', 'a LoadBalancer pool must select all()');
    }
  }
  if (uses.includes('Tunnel') && spec.namespaceSelector) {
    c.fail('spec.namespaceSelector', 'a pool with allowed use Tunnel cannot have a namespaceSelector');
  }
}

/**
 * What Calico refuses when a pool is created or updated, given the stored pools: changing the CIDR or block size
 * of an existing pool (addresses already handed out would fall outside it), turning a LoadBalancer pool into a
 * workload one, and creating a pool that overlaps another.
 */
export function checkIPPoolChange(
  c: Checker,
  { spec }: Doc<IPPoolSpec>,
  existing: Resource | undefined,
  siblings: Resource[],
): void {
  // Documents that failed validateResource are not this function's to judge.
  const cidr = typeof spec.cidr === 'string' ? parseCidr(spec.cidr) : undefined;
  if (cidr === undefined) return;
  if (existing) {
    const before = (existing.spec ?? {}) as Partial<IPPoolSpec>;
    if (!sameNetwork(before.cidr, cidr)) c.fail('spec.cidr', `cannot be changed (was ${before.cidr})`);
    // Pools stored without a block size have the default one (libcalico-go defaults it on read).
    const blockSizeBefore = before.blockSize || DEFAULT_BLOCK_SIZE[cidr.version];
    if ((spec.blockSize || DEFAULT_BLOCK_SIZE[cidr.version]) !== blockSizeBefore) {
      c.fail('spec.blockSize', `cannot be changed (was ${blockSizeBefore})`);
    }
    const wasLoadBalancer = before.allowedUses?.includes('LoadBalancer') ?? false;
    if (wasLoadBalancer && spec.allowedUses?.some((use) => use !== 'LoadBalancer')) {
      c.fail('spec.allowedUses', 'cannot be changed from LoadBalancer to Workload or Tunnel');
    }
    return;
  }
  for (const other of siblings) {
    const otherSpec = other.spec as Partial<IPPoolSpec> | undefined;
    const otherCidr = typeof otherSpec?.cidr === 'string' ? parseCidr(otherSpec.cidr) : undefined;
    if (other.metadata.name === c.subject.name || otherCidr === undefined) continue;
    if (cidrsOverlap(cidr, otherCidr)) {
      c.fail('spec.cidr', `${spec.cidr} overlaps IPPool "${other.metadata.name}" (${otherSpec!.cidr})`);
    }
  }
}

/** The same network, however written (Calico allows rewriting a stored CIDR into its canonical form). */
function sameNetwork(before: unknown, after: Cidr): boolean {
  const old = typeof before === 'string' ? parseCidr(before) : undefined;
  return old !== undefined && old.prefix === after.prefix && cidrsOverlap(old, after);
}

export function checkIPAMConfiguration(c: Checker, { metadata }: Doc<IPAMConfigurationSpec>): void {
  if (metadata.name !== 'default') {
    c.fail('metadata.name', 'must be "default": there is one IPAMConfiguration per cluster');
  }
}
