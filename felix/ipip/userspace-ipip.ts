// tabby's own IPIP datapath for kernels without the ipip module (DESIGN §3): a TUN device named like Calico's tunl0
// and a raw socket for IP protocol 4, driven by two native threads (native/src/ipip_datapath.h). On the wire it is
// plain IPIP, so it talks to a kernel tunl0 on other nodes. This is the JavaScript side: options, routes, counters.
//
// What the caller (felix) does around it, as for a kernel tunl0:
//   - sets the device up and gives it the node's tunnel address /32: `ip addr add <tunnel ip>/32 dev tunl0`;
//   - routes each remote block into it as Calico does, `<block> via <node ip> dev tunl0 onlink`;
//   - AND gives the same block → node ip pairs to setRoutes(). A TUN device sees only the inner packet, never the
//     route's gateway, so the datapath picks the outer destination from its own table: a block routed into tunl0
//     but missing from setRoutes() is dropped (counted as noRoute).
import { parseIpv4 } from '../../ipam/ipv4';
import { ipipBinding, type NativeIpipDatapath } from './binding';
import { encodeRoutes, type IpipRoute } from './routes';

/** Calico's name for the IPIP device. */
export const DEFAULT_IPIP_IFNAME = 'tunl0';
/** The outer IPv4 header: the TUN device's MTU is the underlay's minus this. */
export const IPIP_OVERHEAD_BYTES = 20;

export interface UserspaceIpipOptions {
  /** The TUN device to create (default tunl0). Creation fails if a device of that name exists. */
  ifname?: string;
  /** This node's underlay IPv4 address: the outer source of what is sent, where tunnelled packets arrive. */
  localAddress: string;
  /**
   * The device's MTU, the underlay's minus 20; absent: the TUN default (1500), for the caller to set. The datapath
   * does not fragment: a packet whose outer packet would exceed the underlay device's MTU is dropped (sendFailed,
   * EMSGSIZE). TCP never sends one, its segments are cut to the device's MTU.
   */
  mtu?: number;
  /** Decapsulate packets from any sender, not only from the remotes of the current routes (default false). */
  acceptAnyRemote?: boolean;
  /**
   * Keep the device, with the kernel's routes through it, after stop() or the process's death, for the next
   * start to attach to (a node restart then does not cut tunnelled traffic); remove it with `ip link del`.
   */
  persistent?: boolean;
}

export interface PacketCount {
  /** Packets as on the wire: a TCP super-packet from the kernel counts once per segment sent. */
  packets: number;
  /** Bytes of inner IPv4 packets (headers included, the outer header not). */
  bytes: number;
}

export interface UserspaceIpipStats {
  /** TUN device → underlay. */
  encapsulated: PacketCount;
  /** Underlay → TUN device. */
  decapsulated: PacketCount;
  /**
   * The offloads at work (TCP only): super-packets of up to 64 KiB the kernel handed over whole and the datapath cut
   * into segments, and runs of segments it merged into one before writing them to the device.
   */
  superPackets: { segmented: number; coalesced: number };
  /** Packets dropped, by reason. */
  dropped: {
    /** From the device, for a destination no route of setRoutes() covers. */
    noRoute: number;
    /** From the device, not IPv4 (IPv6 neighbour discovery and the like). */
    notIpv4: number;
    /** Refused by the raw socket (see lastSendError). */
    sendFailed: number;
    /** Encapsulated, from an address that is no route's remote (unless acceptAnyRemote). */
    unknownRemote: number;
    /** Outer, inner or offload headers that do not hold together. */
    malformed: number;
    /** Refused by the TUN device (it is down, say). */
    tunWriteFailed: number;
  };
  /** The errno name of the latest failed send (e.g. 'EHOSTUNREACH'), absent while none failed. */
  lastSendError?: string;
  /** Routes in the table. */
  routes: number;
}

/** Linux's rules for interface names (dev_valid_name): 1–15 bytes, not . or .., no slash, colon or whitespace. */
function checkIfname(ifname: string): void {
  if (Buffer.byteLength(ifname) > 15 || ifname === '' || ifname === '.' || ifname === '..' || /[/:\s]/.test(ifname)) {
    throw new TypeError(`ifname: "${ifname}" is not a valid interface name`);
  }
}

function checkOptions(opts: UserspaceIpipOptions): void {
  if (opts.ifname !== undefined) checkIfname(opts.ifname);
  if (parseIpv4(opts.localAddress) === undefined) {
    throw new TypeError(`localAddress: "${opts.localAddress}" is not an IPv4 address`);
  }
  const maxMtu = 65535 - IPIP_OVERHEAD_BYTES;
  if (opts.mtu !== undefined && !(Number.isInteger(opts.mtu) && opts.mtu >= 68 && opts.mtu <= maxMtu)) {
    throw new RangeError(`mtu: ${opts.mtu} is not an integer in 68..${maxMtu}`);
  }
}

export class UserspaceIpip {
  private datapath: NativeIpipDatapath | undefined;

  private constructor(
    datapath: NativeIpipDatapath,
    readonly ifname: string,
    readonly localAddress: string,
  ) {
    this.datapath = datapath;
  }

  /**
   * Creates the TUN device in the calling process's network namespace and starts forwarding, with no routes yet
   * (everything from the device is dropped until setRoutes()). Throws a TypeError or RangeError for bad options,
   * and an Error with Node's `code`/`syscall` fields when the kernel refuses: EPERM without CAP_NET_ADMIN/NET_RAW,
   * EADDRNOTAVAIL when localAddress is not on this node, EINVAL when a non-TUN device (a kernel tunl0) has the name.
   */
  static start(opts: UserspaceIpipOptions): UserspaceIpip {
    checkOptions(opts);
    const ifname = opts.ifname ?? DEFAULT_IPIP_IFNAME;
    const datapath = new (ipipBinding().IpipDatapath)({
      ifname,
      localAddress: opts.localAddress,
      ...(opts.mtu === undefined ? {} : { mtu: opts.mtu }),
      acceptAnyRemote: opts.acceptAnyRemote ?? false,
      persistent: opts.persistent ?? false,
    });
    return new UserspaceIpip(datapath, ifname, opts.localAddress);
  }

  get running(): boolean {
    return this.datapath !== undefined;
  }

  /**
   * Replaces the whole table: packets for `cidr` go to node `remote`, the longest matching prefix winning. Cheap
   * to call on every change (the forwarding threads switch tables between batches and never wait). Throws a
   * TypeError naming the route at fault, leaving the table as it was.
   */
  setRoutes(routes: readonly IpipRoute[]): void {
    const encoded = encodeRoutes(routes, this.localAddress);
    this.active('setRoutes').setRoutes(encoded);
  }

  stats(): UserspaceIpipStats {
    const native = this.active('stats').stats();
    return {
      encapsulated: { packets: native.encapsulatedPackets, bytes: native.encapsulatedBytes },
      decapsulated: { packets: native.decapsulatedPackets, bytes: native.decapsulatedBytes },
      superPackets: { segmented: native.segmentedSuperPackets, coalesced: native.coalescedSuperPackets },
      dropped: { ...native.drops },
      ...(native.lastSendError === '' ? {} : { lastSendError: native.lastSendError }),
      routes: native.routes,
    };
  }

  /** Stops forwarding (threads joined, fds closed), which removes the TUN device with its routes. Idempotent. */
  stop(): void {
    this.datapath?.stop();
    this.datapath = undefined;
  }

  private active(method: string): NativeIpipDatapath {
    if (this.datapath === undefined) throw new Error(`${method}: the IPIP datapath on ${this.ifname} is stopped`);
    return this.datapath;
  }
}
