// The VXLAN device `vxlan.calico` (VNI 4096, UDP 4789 by default): created on the interface that holds the
// node's address, with the node's VTEP MAC, the tunnel address /32 and an MTU 50 bytes under the underlay's.
// A device whose VNI, port or local address is wrong is replaced; one that is right is left alone.
import { Links } from './links';

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

export class VxlanDevice {
  private readonly links: Links;

  constructor(netns?: string) {
    this.links = new Links(netns);
  }

  /** Makes the device match spec; returns what it changed (empty when it was right). */
  async ensure(spec: VxlanDeviceSpec): Promise<string[]> {
    const changes: string[] = [];
    const parent = await this.links.holderOf(spec.localIp);
    if (!parent) throw new Error(`VXLAN: no interface holds the node address ${spec.localIp}`);
    let link = await this.links.link(spec.name);
    const data = link?.linkinfo?.info_data;
    const right =
      link?.linkinfo?.info_kind === 'vxlan' &&
      data?.id === spec.vni &&
      data.port === spec.port &&
      data.local === spec.localIp;
    if (link && !right) {
      await this.links.ip(['link', 'del', spec.name]);
      changes.push(`replaced ${spec.name} (VNI, port or local address changed)`);
      link = undefined;
    }
    if (!link) {
      await this.links.ip([
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
      link = await this.links.link(spec.name);
      if (!link) throw new Error(`VXLAN: ${spec.name} was created but cannot be read back`);
    }
    if (link.address?.toLowerCase() !== spec.mac.toLowerCase()) {
      await this.links.ip(['link', 'set', spec.name, 'address', spec.mac]);
      changes.push(`MAC ${spec.mac}`);
    }
    changes.push(...(await this.links.ensureUp(link, spec.mtu || parent.mtu - VXLAN_OVERHEAD)));
    changes.push(...(await this.links.ensureOnlyAddress(spec.name, spec.address)));
    return changes;
  }

  /** Removes the device if it exists (VXLAN turned off). */
  async remove(name: string): Promise<boolean> {
    if (!(await this.links.link(name))) return false;
    await this.links.ip(['link', 'del', name]);
    return true;
  }
}
