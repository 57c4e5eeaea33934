// BGPPeer, BGPConfiguration, Node and CalicoNodeStatus rules: Calico's validator (validateBGPPeerSpec,
// validateBGPConfigurationSpec, validateNodeSpec, the struct tags of CalicoNodeStatusSpec), the CEL rules on
// BGPPeerSpec/BGPConfigurationSpec, and clientv3's default-only fields.
import type { Checker, Doc } from './checker';
import { show } from './errors';
import { checkInterfaceGlob } from './names';
import { parseIpPort } from './net';
import { parseAsNumber } from './numorstring';
import type {
  BGPConfigurationSpec,
  BGPPeerSpec,
  CalicoNodeStatusSpec,
  CalicoNodeStatusStatus,
  NodeSpec,
  NodeStatus,
} from './types';

export function checkBGPPeer(c: Checker, { spec }: Doc<BGPPeerSpec>): void {
  if (spec.node) c.name('spec.node', spec.node);
  if (spec.nodeSelector) c.selector('spec.nodeSelector', spec.nodeSelector);
  if (spec.peerSelector) c.selector('spec.peerSelector', spec.peerSelector);
  if (spec.localWorkloadSelector) c.selector('spec.localWorkloadSelector', spec.localWorkloadSelector);
  if (spec.node && spec.nodeSelector) c.fail('spec.nodeSelector', 'node and nodeSelector cannot both be set');

  const peer = spec.peerIP ? parseIpPort(spec.peerIP) : undefined;
  if (spec.peerIP && peer === undefined) {
    c.fail(
      'spec.peerIP',
      `invalid peer address ${show(spec.peerIP)}: expected "<IP>", "<IPv4>:<port>" or "[<IPv6>]:<port>"`,
    );
  }
  const asNumber = spec.asNumber === undefined ? 0 : c.parsed('spec.asNumber', parseAsNumber(spec.asNumber));
  if (spec.localASNumber !== undefined) c.parsed('spec.localASNumber', parseAsNumber(spec.localASNumber));

  if (spec.peerSelector) {
    if (spec.peerIP) c.fail('spec.peerSelector', 'peerIP and peerSelector cannot both be set');
    if (asNumber !== 0) {
      c.fail('spec.asNumber', "must be empty when peerSelector is set (the selected nodes' AS numbers are used)");
    }
  }
  if (spec.localWorkloadSelector) {
    if (spec.peerIP) c.fail('spec.peerIP', 'must be empty when localWorkloadSelector is set');
    if (spec.peerSelector) c.fail('spec.peerSelector', 'must be empty when localWorkloadSelector is set');
    if (asNumber === 0) c.fail('spec.asNumber', 'is required when localWorkloadSelector is set');
  }

  if (spec.reachableBy) {
    const gateway = c.ip('spec.reachableBy', spec.reachableBy);
    if (!peer) c.fail('spec.reachableBy', 'must be empty when peerIP is empty');
    if (gateway.version !== peer.ip.version) c.fail('spec.reachableBy', 'must be of the same IP version as peerIP');
  }
  if (spec.keepOriginalNextHop && spec.nextHopMode !== undefined) {
    c.fail('spec.nextHopMode', 'cannot be set together with keepOriginalNextHop (deprecated: use nextHopMode alone)');
  }
  spec.filters?.forEach((filter, i) => {
    c.name(`spec.filters[${i}]`, filter);
  });
}

// Settings that only the cluster-wide "default" BGPConfiguration may carry; "node.<name>" ones override the rest.
const DEFAULT_ONLY_FIELDS = [
  'nodeToNodeMeshEnabled',
  'asNumber',
  'serviceLoadBalancerIPs',
  'serviceExternalIPs',
  'serviceClusterIPs',
  'nodeMeshPassword',
  'nodeMeshMaxRestartTime',
] as const;

const STANDARD_COMMUNITY = /^([0-9]+):([0-9]+)$/;
const LARGE_COMMUNITY = /^([0-9]+):([0-9]+):([0-9]+)$/;

/** A community value: "aa:nn" with 16-bit parts (standard) or "aa:nn:mm" with 32-bit parts (large). */
function checkCommunityValue(value: string): string | undefined {
  const standard = STANDARD_COMMUNITY.exec(value);
  const large = standard ? null : LARGE_COMMUNITY.exec(value);
  const parts = standard ?? large;
  if (parts === null) return `invalid community ${show(value)}: expected "aa:nn" or "aa:nn:mm"`;
  const max = standard ? 0xffff : 0xffffffff;
  if (parts.slice(1).some((part) => Number(part) > max)) {
    return `invalid community ${show(value)}: parts must be ${standard ? 16 : 32}-bit numbers`;
  }
  return undefined;
}

export function checkBGPConfiguration(c: Checker, { metadata, spec }: Doc<BGPConfigurationSpec>): void {
  if (metadata.name !== 'default') {
    for (const field of DEFAULT_ONLY_FIELDS) {
      const value = spec[field];
      if (value !== undefined && !(Array.isArray(value) && value.length === 0)) {
        c.fail(`spec.${field}`, 'can only be set on the "default" BGPConfiguration');
      }
    }
  }
  if (spec.asNumber !== undefined) c.parsed('spec.asNumber', parseAsNumber(spec.asNumber));
  if (spec.nodeToNodeMeshEnabled === false) {
    if (spec.nodeMeshPassword) c.fail('spec.nodeMeshPassword', 'cannot be set when nodeToNodeMeshEnabled is false');
    if (spec.nodeMeshMaxRestartTime) {
      c.fail('spec.nodeMeshMaxRestartTime', 'cannot be set when nodeToNodeMeshEnabled is false');
    }
  }
  for (const field of ['serviceLoadBalancerIPs', 'serviceExternalIPs', 'serviceClusterIPs'] as const) {
    spec[field]?.forEach((block, i) => {
      if (block.cidr) c.cidr(`spec.${field}[${i}].cidr`, block.cidr, { allowBareIp: true, strict: true });
    });
  }

  const communityNames = new Set<string>();
  spec.communities?.forEach((community, i) => {
    if (!community.name) c.fail(`spec.communities[${i}].name`, 'is required');
    c.name(`spec.communities[${i}].name`, community.name);
    if (!community.value) c.fail(`spec.communities[${i}].value`, 'is required');
    c.check(`spec.communities[${i}].value`, checkCommunityValue(community.value));
    communityNames.add(community.name);
  });
  if (communityNames.size > 0 && !spec.prefixAdvertisements?.length) {
    c.fail('spec.communities', 'are defined but not used in prefixAdvertisements');
  }
  spec.prefixAdvertisements?.forEach((advertisement, i) => {
    const field = `spec.prefixAdvertisements[${i}]`;
    if (!advertisement.cidr) c.fail(`${field}.cidr`, 'is required');
    c.cidr(`${field}.cidr`, advertisement.cidr, { allowBareIp: true, strict: true });
    if (!advertisement.communities) c.fail(`${field}.communities`, 'is required');
    advertisement.communities.forEach((community, j) => {
      if (!communityNames.has(community) && checkCommunityValue(community) !== undefined) {
        c.fail(
          `${field}.communities[${j}]`,
          `${show(community)} is neither a community value nor a name defined in communities`,
        );
      }
    });
  });

  spec.ignoredInterfaces?.forEach((glob, i) => {
    c.check(`spec.ignoredInterfaces[${i}]`, checkInterfaceGlob(glob));
  });
  if (spec.localWorkloadPeeringIPV4) c.ip('spec.localWorkloadPeeringIPV4', spec.localWorkloadPeeringIPV4, 4);
  if (spec.localWorkloadPeeringIPV6) c.ip('spec.localWorkloadPeeringIPV6', spec.localWorkloadPeeringIPV6, 6);
}

/** A WireGuard public key: 32 bytes in standard base64. */
function isWireguardKey(text: string): boolean {
  return /^[A-Za-z0-9+/]{43}=$/.test(text);
}

export function checkNode(c: Checker, { spec, status }: Doc<NodeSpec> & { status?: NodeStatus }): void {
  const bgp = spec.bgp;
  if (bgp) {
    if (Object.values(bgp).every((value) => value === undefined || value === '')) {
      c.fail('spec.bgp', 'must not be empty (omit it on a node that does not run BGP)');
    }
    if (bgp.asNumber !== undefined) c.parsed('spec.bgp.asNumber', parseAsNumber(bgp.asNumber));
    if (bgp.ipv4Address) c.cidr('spec.bgp.ipv4Address', bgp.ipv4Address, { allowBareIp: true, version: 4 });
    if (bgp.ipv6Address) c.cidr('spec.bgp.ipv6Address', bgp.ipv6Address, { allowBareIp: true, version: 6 });
    if (bgp.ipv4IPIPTunnelAddr) c.ip('spec.bgp.ipv4IPIPTunnelAddr', bgp.ipv4IPIPTunnelAddr, 4);
    if (bgp.routeReflectorClusterID) c.ip('spec.bgp.routeReflectorClusterID', bgp.routeReflectorClusterID, 4);
  }
  if (spec.ipv4VXLANTunnelAddr) c.ip('spec.ipv4VXLANTunnelAddr', spec.ipv4VXLANTunnelAddr, 4);
  if (spec.ipv6VXLANTunnelAddr) c.ip('spec.ipv6VXLANTunnelAddr', spec.ipv6VXLANTunnelAddr, 6);
  if (spec.vxlanTunnelMACAddr) c.mac('spec.vxlanTunnelMACAddr', spec.vxlanTunnelMACAddr);
  if (spec.vxlanTunnelMACAddrV6) c.mac('spec.vxlanTunnelMACAddrV6', spec.vxlanTunnelMACAddrV6);
  if (spec.wireguard?.interfaceIPv4Address) {
    c.ip('spec.wireguard.interfaceIPv4Address', spec.wireguard.interfaceIPv4Address, 4);
  }
  if (spec.wireguard?.interfaceIPv6Address) {
    c.ip('spec.wireguard.interfaceIPv6Address', spec.wireguard.interfaceIPv6Address, 6);
  }
  spec.addresses?.forEach((address, i) => {
    c.cidr(`spec.addresses[${i}].address`, address.address, { allowBareIp: true, strict: true });
  });
  spec.interfaces?.forEach((iface, i) => {
    if (iface.name) c.name(`spec.interfaces[${i}].name`, iface.name);
  });
  for (const field of ['wireguardPublicKey', 'wireguardPublicKeyV6'] as const) {
    const key = status?.[field];
    if (key && !isWireguardKey(key)) c.fail(`status.${field}`, `invalid WireGuard public key ${show(key)}`);
  }
}

/** Calico's tags: node `required,name`, classes `required,unique`, updatePeriodSeconds `required` (0-86400: schema). */
export function checkCalicoNodeStatus(
  c: Checker,
  { spec, status }: Doc<CalicoNodeStatusSpec> & { status?: CalicoNodeStatusStatus },
): void {
  if (!spec.node) c.fail('spec.node', 'is required');
  c.name('spec.node', spec.node);
  if (spec.classes === undefined) c.fail('spec.classes', 'is required');
  c.unique('spec.classes', spec.classes);
  if (spec.updatePeriodSeconds === undefined) c.fail('spec.updatePeriodSeconds', 'is required');
  for (const family of ['peersV4', 'peersV6'] as const) {
    status?.bgp?.[family]?.forEach((peer, i) => {
      if (peer.peerIP) c.ip(`status.bgp.${family}[${i}].peerIP`, peer.peerIP);
    });
  }
  for (const family of ['routesV4', 'routesV6'] as const) {
    status?.routes?.[family]?.forEach((route, i) => {
      const peerIP = route.learnedFrom?.peerIP;
      if (peerIP) c.ip(`status.routes.${family}[${i}].learnedFrom.peerIP`, peerIP);
    });
  }
}
