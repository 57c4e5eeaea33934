// The calculation: from what the datastore says to what this node's kernel should hold (DESIGN §2, CONTRACT §6).
// Pure: the same inputs always give the same desired state, and the managers diff it against the kernel.
import { createHash } from 'node:crypto';
import type { IPPoolSpec, Resource } from '../../datastore';
import { affineNode, allocationsOf, formatIpv4, type Ipv4Cidr, ipv4InCidr, parseIpv4, parseIpv4Cidr } from '../../ipam';
import type { FelixSettings } from '../config';
import type { RouteSpec } from '../routes';
import type { FelixInputs } from './inputs';

/** A local workload's host-side interface and what routes to it. */
export interface WorkloadInterface {
  name: string;
  /** `namespace/name` of its WorkloadEndpoint. */
  endpoint: string;
  addresses: string[];
  mac: string | undefined;
}

export interface StaticNeighbor {
  dev: string;
  ip: string;
  mac: string;
}

/** Where the userspace (or kernel) IPIP datapath sends a destination: the remote node's address. */
export interface TunnelPeer {
  cidr: string;
  remote: string;
}

export interface VxlanPeer {
  node: string;
  /** The remote VTEP: its underlay address (FDB) and tunnel address and MAC (ARP). */
  nodeIp: string;
  tunnelIp: string;
  mac: string;
}

export interface DesiredDataplane {
  /** This node's underlay address (its Node's bgp.ipv4Address), and every node's, this one included. */
  nodeAddress: string | undefined;
  hostAddresses: string[];
  workloads: WorkloadInterface[];
  /** Routes felix owns (protocol 80): workload /32s, blackholes for local blocks, tunnel routes. */
  routes: RouteSpec[];
  /** Permanent ARP entries: each workload's address on its interface. */
  neighbors: StaticNeighbor[];
  ipip: { address: string | undefined; peers: TunnelPeer[] } | undefined;
  vxlan: { address: string | undefined; mac: string; vni: number; port: number; peers: VxlanPeer[] } | undefined;
  /** Pool CIDRs whose traffic to outside the pools is masqueraded, and every pool CIDR. */
  natPools: string[];
  allPools: string[];
  /** Blocks affine to this node (advertised as aggregates) and local workload addresses outside them (as /32s). */
  localBlocks: string[];
  borrowedAddresses: string[];
  /** What BGP advertises: the local blocks (aggregates) and borrowed addresses (/32s) of pools that allow it. */
  advertised: string[];
}

export const IPIP_DEVICE = 'tunl0';
export const VXLAN_DEVICE = 'vxlan.calico';

interface NodeAddress {
  ip: string;
  subnet: Ipv4Cidr | undefined;
}

function nodeAddress(node: Resource | undefined): NodeAddress | undefined {
  const text = (node?.spec as { bgp?: { ipv4Address?: string } } | undefined)?.bgp?.ipv4Address;
  if (!text) return undefined;
  const [ip, prefix] = text.split('/');
  if (parseIpv4(ip!) === undefined) return undefined;
  return { ip: ip!, subnet: prefix === undefined ? undefined : parseIpv4Cidr(text) };
}

function nodeSpec(node: Resource | undefined) {
  return (node?.spec ?? {}) as {
    bgp?: { ipv4IPIPTunnelAddr?: string };
    ipv4VXLANTunnelAddr?: string;
    vxlanTunnelMACAddr?: string;
  };
}

/** The VTEP MAC of a node: its Node's vxlanTunnelMACAddr, else 66: followed by 5 bytes of sha1(name). */
export function vxlanMac(nodeName: string, node: Resource | undefined): string {
  const given = nodeSpec(node).vxlanTunnelMACAddr;
  if (given) return given.toLowerCase();
  const digest = createHash('sha1').update(nodeName).digest();
  return [0x66, ...digest.subarray(0, 5)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

interface PoolView {
  cidr: Ipv4Cidr;
  spec: Partial<IPPoolSpec>;
}

function poolsOf(inputs: FelixInputs): PoolView[] {
  const views: PoolView[] = [];
  for (const p of inputs.pools.values()) {
    const spec = (p.spec ?? {}) as Partial<IPPoolSpec>;
    const cidr = typeof spec.cidr === 'string' ? parseIpv4Cidr(spec.cidr) : undefined;
    if (cidr) views.push({ cidr, spec });
  }
  return views;
}

type Encapsulation = 'ipip' | 'vxlan' | undefined;

/** How traffic to a remote node's addresses in this pool travels: Always, or CrossSubnet when it is in another subnet. */
function encapsulationTo(pool: PoolView | undefined, me: NodeAddress | undefined, remoteIp: string): Encapsulation {
  if (!pool) return undefined;
  const crosses = () => {
    const remote = parseIpv4(remoteIp);
    return !me?.subnet || remote === undefined || !ipv4InCidr(remote, me.subnet);
  };
  const applies = (mode: string | undefined) => mode === 'Always' || (mode === 'CrossSubnet' && crosses());
  if (applies(pool.spec.vxlanMode)) return 'vxlan';
  if (applies(pool.spec.ipipMode)) return 'ipip';
  return undefined;
}

export function computeDataplane(inputs: FelixInputs, nodeName: string, settings: FelixSettings): DesiredDataplane {
  const pools = poolsOf(inputs);
  const poolOf = (address: number) => pools.find((p) => ipv4InCidr(address, p.cidr));
  const me = nodeAddress(inputs.nodes.get(nodeName));

  const workloads: WorkloadInterface[] = [];
  const routes: RouteSpec[] = [];
  const neighbors: StaticNeighbor[] = [];
  for (const [key, wep] of inputs.endpoints) {
    const spec = (wep.spec ?? {}) as { node?: string; interfaceName?: string; ipNetworks?: string[]; mac?: string };
    if (spec.node !== nodeName || !spec.interfaceName) continue;
    const addresses = (spec.ipNetworks ?? []).map((n) => n.split('/')[0]!).filter((a) => parseIpv4(a) !== undefined);
    workloads.push({ name: spec.interfaceName, endpoint: key, addresses, mac: spec.mac });
    for (const address of addresses) {
      routes.push({ dst: `${address}/32`, dev: spec.interfaceName, scope: 'link' });
      if (spec.mac) neighbors.push({ dev: spec.interfaceName, ip: address, mac: spec.mac.toLowerCase() });
    }
  }
  workloads.sort((a, b) => (a.name < b.name ? -1 : 1));

  const localBlocks: string[] = [];
  const ipipPeers: TunnelPeer[] = [];
  const vxlanPeers = new Map<string, VxlanPeer>();
  const tunnelRoute = (dst: string, owner: string) => {
    const remote = nodeAddress(inputs.nodes.get(owner));
    if (!remote) return;
    const base = parseIpv4Cidr(dst)!.base;
    const encapsulation = encapsulationTo(poolOf(base), me, remote.ip);
    if (encapsulation === 'ipip') {
      routes.push({ dst, via: remote.ip, dev: IPIP_DEVICE, onlink: true });
      ipipPeers.push({ cidr: dst, remote: remote.ip });
    } else if (encapsulation === 'vxlan') {
      const tunnelIp = nodeSpec(inputs.nodes.get(owner)).ipv4VXLANTunnelAddr;
      if (!tunnelIp) return;
      routes.push({ dst, via: tunnelIp, dev: VXLAN_DEVICE, onlink: true });
      vxlanPeers.set(owner, {
        node: owner,
        nodeIp: remote.ip,
        tunnelIp,
        mac: vxlanMac(owner, inputs.nodes.get(owner)),
      });
    }
  };
  const localAddresses = new Set(workloads.flatMap((w) => w.addresses));
  const borrowedAddresses: string[] = [];
  for (const [cidr, block] of [...inputs.blocks].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const owner = inputs.affinities.get(cidr) ?? affineNode(block);
    if (owner === nodeName) {
      localBlocks.push(cidr);
      // A /32 block in use by a local workload is that workload's route: a blackhole of the same prefix would
      // replace it. Other blackholes sit under the workloads' more specific /32s.
      const wholeBlockIsWorkload = cidr.endsWith('/32') && localAddresses.has(cidr.slice(0, -3));
      if (!wholeBlockIsWorkload) routes.push({ dst: cidr, type: 'blackhole' });
    } else if (owner !== undefined) {
      tunnelRoute(cidr, owner);
    }
    // Addresses borrowed from this block by a node other than its owner: more specific routes to the borrower.
    for (const { address, attr } of allocationsOf(block)) {
      const user = attr.secondary?.node;
      if (user === undefined || user === owner) continue;
      if (user === nodeName) {
        if (localAddresses.has(address)) borrowedAddresses.push(address);
      } else tunnelRoute(`${address}/32`, user);
    }
  }

  const enabledPools = pools.filter((p) => !p.spec.disabled);
  const anyPool = (mode: 'ipipMode' | 'vxlanMode') => enabledPools.some((p) => (p.spec[mode] ?? 'Never') !== 'Never');
  const ipipOn = settings.ipipEnabled ?? anyPool('ipipMode');
  const vxlanOn = settings.vxlanEnabled ?? anyPool('vxlanMode');
  const mySpec = nodeSpec(inputs.nodes.get(nodeName));
  const poolText = (p: PoolView) => `${formatIpv4(p.cidr.base)}/${p.cidr.prefix}`;
  return {
    nodeAddress: me?.ip,
    hostAddresses: [...inputs.nodes.values()].map(nodeAddress).flatMap((a) => (a ? [a.ip] : [])),
    workloads,
    routes,
    neighbors,
    ipip: ipipOn ? { address: mySpec.bgp?.ipv4IPIPTunnelAddr, peers: ipipPeers } : undefined,
    vxlan: vxlanOn
      ? {
          address: mySpec.ipv4VXLANTunnelAddr,
          mac: vxlanMac(nodeName, inputs.nodes.get(nodeName)),
          vni: settings.vxlanVni,
          port: settings.vxlanPort,
          peers: [...vxlanPeers.values()].sort((a, b) => (a.node < b.node ? -1 : 1)),
        }
      : undefined,
    natPools: enabledPools.filter((p) => p.spec.natOutgoing).map(poolText),
    allPools: pools.map(poolText),
    localBlocks,
    borrowedAddresses,
    advertised: [...localBlocks, ...borrowedAddresses.map((a) => `${a}/32`)].filter(
      (cidr) => !poolOf(parseIpv4Cidr(cidr)!.base)?.spec.disableBGPExport,
    ),
  };
}
