// Reading and setting links and their addresses with ip(8), for the tunnel device managers (vxlan.calico, tunl0).
import { type CommandRunner, commandOutput, commandRunner } from './command';

export interface LinkJson {
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

export class Links {
  private readonly run: CommandRunner;

  constructor(netns?: string) {
    this.run = commandRunner(netns);
  }

  ip(args: string[]): Promise<string> {
    return commandOutput(this.run, 'ip', args);
  }

  /** The link with its details, or undefined when there is none of that name. */
  async link(name: string): Promise<LinkJson | undefined> {
    const result = await this.run('ip', ['-j', '-d', 'link', 'show', 'dev', name]);
    if (result.code !== 0) return undefined;
    return (JSON.parse(result.stdout) as LinkJson[])[0];
  }

  /** The interface holding an address, with its MTU (a tunnel's underlay). */
  async holderOf(address: string): Promise<{ name: string; mtu: number } | undefined> {
    const addrs = JSON.parse(await this.ip(['-j', '-4', 'addr', 'show'])) as AddrJson[];
    const holder = addrs.find((a) => a.addr_info?.some((i) => i.local === address));
    return holder ? { name: holder.ifname, mtu: holder.mtu } : undefined;
  }

  /** MTU and up, as wanted; returns what changed. */
  async ensureUp(link: LinkJson, mtu: number): Promise<string[]> {
    const changes: string[] = [];
    if (link.mtu !== mtu) {
      await this.ip(['link', 'set', link.ifname, 'mtu', String(mtu)]);
      changes.push(`MTU ${mtu}`);
    }
    if (!link.flags?.includes('UP')) {
      await this.ip(['link', 'set', link.ifname, 'up']);
      changes.push('up');
    }
    return changes;
  }

  /** The tunnel address /32 and no other IPv4 address (one added by hand is removed); returns what changed. */
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
