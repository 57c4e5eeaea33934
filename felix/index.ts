// Felix, the node's dataplane agent: the calculation from datastore state to desired kernel state, and the
// managers that make the kernel match it. Its parts keep their own public surfaces (routes/, iptables/,
// ipsets/, ipip/); this is the calculation's and the settings'.
export {
  computeDataplane,
  type DesiredDataplane,
  IPIP_DEVICE,
  type StaticNeighbor,
  type TunnelPeer,
  VXLAN_DEVICE,
  type VxlanPeer,
  vxlanMac,
  type WorkloadInterface,
} from './calc/dataplane';
export { applyIpamUpdates, applyResourceUpdates, emptyInputs, FELIX_KINDS, type FelixInputs } from './calc/inputs';
export { FELIX_DEFAULTS, type FelixSettings, felixSettings, type ProtoPort } from './config';
export { Felix, type FelixOptions, type FelixStatus } from './felix';
export { InterfaceManager, parseLinkEvent, workloadSysctls } from './interfaces';
export { type FdbEntry, type NeighborEntry, NeighborManager } from './neighbors';
export { VXLAN_OVERHEAD, VxlanDevice, type VxlanDeviceSpec } from './vxlan';
