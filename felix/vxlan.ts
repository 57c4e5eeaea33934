// The VXLAN device `vxlan.calico` (VNI 4096, UDP 4789 by default): created on the interface that holds the
// node's address, with the node's VTEP MAC, the tunnel address /32 and an MTU 50 bytes under the underlay's.
// A device whose VNI, port, local address or parent is wrong is replaced; one that is right is left alone.
import { commandOutput, runCommand } from './command';

export const VXLAN_OVERHEAD = 50;

export interface VxlanDeviceSpec {
  name: string;
  vni: number;
  port: number;
  /** The node's underlay address (the VTEP's local address). */
  localIp: string;
  mac: string;
  /** The tunnel address of this node, as /32 on the device; undefined until IPAM gave one. */
  address: string | undefined;
  /** 0: the parent's MTU minus the VXLAN overhead. */
  mtu: number;
}

interface LinkJson {
  ifname: string;
  mtu: number;
  address?: string;
  flags?: string[];
  linkinfo?: { info_kind?: string; info_data?: { id?: number; port?: number; local?: string; link?: string } };
}

interface AddrJson {
  ifname: string;
  mtu: number;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

export class VxlanDevice {
  constructor(private readonly netns?: string) {}

  private cmd() {
    return this.netns === undefined ? {} : { netns: this.netns };
  }

  private ip(args: string[]): Promise<string> {
    return commandOutput('ip', args, this.cmd());
  }

  /** The interface holding an address, with its MTU (the VTEP's parent). */
  async parentOf(localIp: string): Promise<{ name: string; mtu: number } | undefined> {
    const addrs = JSON.parse(await this.ip(['-j', '-4', 'addr', 'show'])) as AddrJson[];
    const parent = addrs.find((a) => a.addr_info?.some((i) => i.local === localIp));
    return parent ? { name: parent.ifname, mtu: parent.mtu } : undefined;
  }

  /** Makes the device match spec; returns what it changed (empty when it was right). */
  async ensure(spec: VxlanDeviceSpec): Promise<string[]> {
    const changes: string[] = [];
    const parent = await this.parentOf(spec.localIp);
    if (!parent) throw new Error(`VXLAN: no interface holds the node address ${spec.localIp}`);
    const mtu = spec.mtu || parent.mtu - VXLAN_OVERHEAD;
    let link = await this.link(spec.name);
    const data = link?.linkinfo?.info_data;
    const right =
      link?.linkinfo?.info_kind === 'vxlan' &&
      data?.id === spec.vni &&
      data.port === spec.port &&
      data.local === spec.localIp;
    if (link && !right) {
      await this.ip(['link', 'del', spec.name]);
      changes.push(`replaced ${spec.name} (VNI, port or local address changed)`);
      link = undefined;
    }
    if (!link) {
      await this.ip([
        'link',
        'add',
        spec.name,
        'type',
        'vxlan',
        'id',
        String(spec.vni),
        'dstport',
        String(spec.port),
        'local',
        spec.localIp,
        'dev',
        parent.name,
        'nolearning',
      ]);
      changes.push(`created ${spec.name}`);
      link = await this.link(spec.name);
    }
    if (link?.address?.toLowerCase() !== spec.mac.toLowerCase()) {
      await this.ip(['link', 'set', spec.name, 'address', spec.mac]);
      changes.push(`MAC ${spec.mac}`);
    }
    if (link?.mtu !== mtu) {
      await this.ip(['link', 'set', spec.name, 'mtu', String(mtu)]);
      changes.push(`MTU ${mtu}`);
    }
    if (!link?.flags?.includes('UP')) {
      await this.ip(['link', 'set', spec.name, 'up']);
      changes.push('up');
    }
    changes.push(...(await this.ensureOnlyAddress(spec.name, spec.address)));
    return changes;
  }

  /** Removes the device if it exists (VXLAN turned off). */
  async remove(name: string): Promise<boolean> {
    if (!(await this.link(name))) return false;
    await this.ip(['link', 'del', name]);
    return true;
  }

  private async link(name: string): Promise<LinkJson | undefined> {
    const result = await runCommand('ip', ['-j', '-d', 'link', 'show', 'dev', name], this.cmd());
    if (result.code !== 0) return undefined;
    return (JSON.parse(result.stdout) as LinkJson[])[0];
  }

  /** The tunnel address /32 and nothing else (an address someone added by hand is removed). */
  async ensureOnlyAddress(name: string, address: string | undefined): Promise<string[]> {
    const changes: string[] = [];
    const addrs = JSON.parse(await this.ip(['-j', '-4', 'addr', 'show', 'dev', name])) as AddrJson[];
    const have = (addrs[0]?.addr_info ?? []).filter((a) => a.family === 'inet');
    for (const a of have) {
      if (a.local === address && a.prefixlen === 32) continue;
      await this.ip(['addr', 'del', `${a.local}/${a.prefixlen}`, 'dev', name]);
      changes.push(`removed ${a.local}/${a.prefixlen}`);
    }
    if (address !== undefined && !have.some((a) => a.local === address && a.prefixlen === 32)) {
      await this.ip(['addr', 'add', `${address}/32`, 'dev', name]);
      changes.push(`address ${address}/32`);
    }
    return changes;
  }
}
