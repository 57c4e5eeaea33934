// The IPIP device tunl0: the kernel's where `ip link add type ipip` works, else tabby's userspace datapath
// (DESIGN §3), which is wire-identical. Either way it gets the node's tunnel address /32 and an MTU 20 bytes under
// the underlay's; the userspace datapath also needs the block → node table, since a TUN device never sees a
// route's gateway.
import { writeFileSync } from 'node:fs';
import type { TunnelPeer } from './calc/dataplane';
import { IPIP_OVERHEAD_BYTES, kernelIpipAvailable, UserspaceIpip } from './ipip';
import { Links } from './links';

export interface IpipDeviceSpec {
  name: string;
  /** The node's underlay address: the outer source. */
  localIp: string;
  address: string | undefined;
  /** 0: the underlay's MTU minus the IPIP overhead. */
  mtu: number;
  peers: readonly TunnelPeer[];
}

export class IpipDevice {
  private readonly links = new Links();
  private kernel: boolean | undefined;
  private userspace: UserspaceIpip | undefined;

  /** Which datapath carries tunl0: known after the first ensure(). */
  get mode(): 'kernel' | 'userspace' | undefined {
    return this.kernel === undefined ? undefined : this.kernel ? 'kernel' : 'userspace';
  }

  async ensure(spec: IpipDeviceSpec): Promise<string[]> {
    const changes: string[] = [];
    this.kernel ??= await kernelIpipAvailable();
    const underlay = await this.links.holderOf(spec.localIp);
    if (!underlay) throw new Error(`IPIP: no interface holds the node address ${spec.localIp}`);
    const mtu = spec.mtu || underlay.mtu - IPIP_OVERHEAD_BYTES;
    if (this.kernel) {
      if (!(await this.links.link(spec.name))) {
        await this.links.ip(['link', 'add', spec.name, 'type', 'ipip']);
        changes.push(`created ${spec.name} (kernel)`);
      }
    } else {
      if (this.userspace && this.userspace.localAddress !== spec.localIp) this.stopUserspace();
      if (!this.userspace) {
        // Persistent: a restarted tabby-node attaches to the same device, and its routes never go away.
        this.userspace = UserspaceIpip.start({ ifname: spec.name, localAddress: spec.localIp, mtu, persistent: true });
        // The kernel's IPv6 link-local chatter on the TUN device is nothing the datapath can carry.
        try {
          writeFileSync(`/proc/sys/net/ipv6/conf/${spec.name}/disable_ipv6`, '1');
        } catch {
          // No IPv6 on this host: nothing to turn off.
        }
        changes.push(`started the userspace IPIP datapath on ${spec.name}`);
      }
      this.userspace.setRoutes(spec.peers.map((p) => ({ cidr: p.cidr, remote: p.remote })));
    }
    const link = await this.links.link(spec.name);
    if (!link) throw new Error(`IPIP: ${spec.name} does not exist after setting it up`);
    changes.push(...(await this.links.ensureUp(link, mtu)));
    changes.push(...(await this.links.ensureOnlyAddress(spec.name, spec.address)));
    return changes;
  }

  /** IPIP off: the userspace datapath stops and its device is deleted; a kernel tunl0 is taken down. */
  async remove(name: string): Promise<boolean> {
    const link = await this.links.link(name);
    if (this.userspace || link?.linkinfo?.info_kind === 'tun') {
      this.stopUserspace();
      if (link) await this.links.ip(['link', 'del', name]);
      return true;
    }
    if (!link?.flags?.includes('UP')) return false;
    await this.links.ensureOnlyAddress(name, undefined);
    await this.links.ip(['link', 'set', name, 'down']);
    return true;
  }

  stats() {
    return this.userspace?.stats();
  }

  /** The process is stopping: the datapath's threads end, its (persistent) device and routes stay. */
  stop(): void {
    this.stopUserspace();
  }

  private stopUserspace(): void {
    this.userspace?.stop();
    this.userspace = undefined;
  }
}
