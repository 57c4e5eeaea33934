// The userspace IPIP datapath, for kernels without the ipip module (DESIGN §3), and the check that decides.
export { kernelIpipAvailable } from './kernel-probe';
export type { IpipRoute } from './routes';
export {
  DEFAULT_IPIP_IFNAME,
  IPIP_OVERHEAD_BYTES,
  type PacketCount,
  UserspaceIpip,
  type UserspaceIpipOptions,
  type UserspaceIpipStats,
} from './userspace-ipip';
