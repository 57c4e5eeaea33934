// The native half of the userspace IPIP datapath (native/src/ipip.h), from tabby's one addon.
import { loadNativeAddon } from '../../native/addon';

export interface NativeIpipOptions {
  ifname: string;
  localAddress: string;
  mtu?: number;
  acceptAnyRemote?: boolean;
  persistent?: boolean;
}

export interface NativeIpipStats {
  encapsulatedPackets: number;
  encapsulatedBytes: number;
  decapsulatedPackets: number;
  decapsulatedBytes: number;
  segmentedSuperPackets: number;
  coalescedSuperPackets: number;
  drops: {
    noRoute: number;
    notIpv4: number;
    sendFailed: number;
    unknownRemote: number;
    malformed: number;
    tunWriteFailed: number;
  };
  /** The errno name of the latest failed send, '' if none failed. */
  lastSendError: string;
  routes: number;
}

export interface NativeIpipDatapath {
  /** [network, prefixLength, remote] per route, host-order numbers (routes.ts). */
  setRoutes(routes: Uint32Array): void;
  stats(): NativeIpipStats;
  stop(): void;
}

interface IpipBinding {
  IpipDatapath: new (options: NativeIpipOptions) => NativeIpipDatapath;
}

let loaded: IpipBinding | undefined;

/** The addon's IPIP part; throws saying why when the addon is not built or does not load. */
export function ipipBinding(): IpipBinding {
  if (loaded !== undefined) return loaded;
  const binding = loadNativeAddon();
  if (binding instanceof Error) throw binding;
  if (typeof binding.IpipDatapath !== 'function') {
    throw new Error("tabby's native addon has no IPIP datapath: rebuild it (bash scripts/build-native.sh)");
  }
  loaded = binding as unknown as IpipBinding;
  return loaded;
}
