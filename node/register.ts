// The node's own Node resource (CONTRACT §3): its IPv4 address and AS for BGP and felix, and its tunnel addresses,
// allocated from IPAM under Calico's handles when an enabled pool that selects this node uses IPIP or VXLAN, and
// released again when none does. Other fields (labels, routeReflectorClusterID) are the user's and are kept.
import {
  type Backend,
  type IPPoolSpec,
  isDatastoreError,
  kindByAlias,
  type NodeSpec,
  type Resource,
  ResourceClient,
} from '../datastore';
import { vxlanMac } from '../felix';
import { type IpamService, tunnelAddressRequest } from '../ipam';
import { parseSelector } from '../policy';

export interface NodeRegistration {
  nodeName: string;
  /** `ip/prefix`. */
  address: string;
  asNumber: number | undefined;
}

const NODE = kindByAlias('node')!;

function clone<T>(value: T): T {
  return structuredClone(value);
}

/** Whether an enabled pool selecting this node uses the encapsulation (so the node needs a tunnel address). */
export function needsTunnel(
  pools: readonly Resource[],
  nodeLabels: Record<string, string>,
  mode: 'ipipMode' | 'vxlanMode',
) {
  return pools.some((p) => {
    const spec = (p.spec ?? {}) as Partial<IPPoolSpec>;
    if (spec.disabled || (spec[mode] ?? 'Never') === 'Never') return false;
    if (!(spec.allowedUses ?? ['Workload', 'Tunnel']).includes('Tunnel')) return false;
    return !spec.nodeSelector || parseSelector(spec.nodeSelector).evaluate(nodeLabels);
  });
}

/**
 * Creates or updates the Node: address and AS, then tunnel addresses as the pools need them. Retries a write that
 * lost a race with another writer (a user labelling the node meanwhile).
 */
export async function registerNode(backend: Backend, ipam: IpamService, reg: NodeRegistration): Promise<Resource> {
  const client = new ResourceClient(backend);
  for (let attempt = 0; ; attempt++) {
    let existing: Resource | undefined;
    try {
      existing = await client.get(NODE, reg.nodeName);
    } catch (err) {
      if (!isDatastoreError(err, 'NotFound')) throw err;
    }
    const node: Resource = existing
      ? clone(existing)
      : { apiVersion: NODE.apiVersion, kind: NODE.kind, metadata: { name: reg.nodeName }, spec: {} };
    node.spec ??= {};
    const spec = node.spec as NodeSpec & Record<string, unknown>;
    spec.bgp ??= {};
    const bgp = spec.bgp as NonNullable<NodeSpec['bgp']> & Record<string, unknown>;
    bgp.ipv4Address = reg.address;
    if (reg.asNumber !== undefined) bgp.asNumber = reg.asNumber;

    const pools = (await backend.list(kindByAlias('ippool')!)).items;
    const labels = node.metadata.labels ?? {};
    if (needsTunnel(pools, labels, 'ipipMode')) {
      bgp.ipv4IPIPTunnelAddr = (await ipam.assign(tunnelAddressRequest(reg.nodeName, 'ipip'))).address;
    } else if (bgp.ipv4IPIPTunnelAddr) {
      await ipam.release(tunnelAddressRequest(reg.nodeName, 'ipip').handleId);
      delete bgp.ipv4IPIPTunnelAddr;
    }
    if (needsTunnel(pools, labels, 'vxlanMode')) {
      spec.ipv4VXLANTunnelAddr = (await ipam.assign(tunnelAddressRequest(reg.nodeName, 'vxlan'))).address;
      spec.vxlanTunnelMACAddr ??= vxlanMac(reg.nodeName, undefined);
    } else if (spec.ipv4VXLANTunnelAddr) {
      await ipam.release(tunnelAddressRequest(reg.nodeName, 'vxlan').handleId);
      delete spec.ipv4VXLANTunnelAddr;
    }

    if (existing && JSON.stringify(existing.spec) === JSON.stringify(node.spec)) return existing;
    try {
      return await client.apply(node);
    } catch (err) {
      if (!isDatastoreError(err, 'Conflict') || attempt >= 5) throw err;
    }
  }
}
