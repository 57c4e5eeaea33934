// Workload interfaces and the sysctls felix owns (CONTRACT §6): on every `cali*` link proxy_arp=1,
// neigh proxy_delay=0 (so the first ARP of a new pod is answered at once), route_localnet=1, forwarding=1 and
// rp_filter as the default's; net.ipv4.ip_forward=1 for the node. Links are followed with `ip -o monitor link`
// so a new veth is configured the moment it appears; an apply checks only interfaces it has not checked since the
// last resync (five reads each: with 1,000 workloads, a second per apply), and every resync writes whatever drifted.
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const PROC_NET = '/proc/sys/net';

/** The values felix keeps on a workload interface, by path under /proc/sys/net. */
export function workloadSysctls(iface: string, rpFilter: string): [string, string][] {
  return [
    [`ipv4/conf/${iface}/proxy_arp`, '1'],
    [`ipv4/neigh/${iface}/proxy_delay`, '0'],
    [`ipv4/conf/${iface}/route_localnet`, '1'],
    [`ipv4/conf/${iface}/forwarding`, '1'],
    [`ipv4/conf/${iface}/rp_filter`, rpFilter],
  ];
}

/** Parses a line of `ip -o monitor link`: `[deleted] <index>: <name>[@peer]: <FLAGS> ...`. */
export function parseLinkEvent(line: string): { name: string; deleted: boolean; up: boolean } | undefined {
  const m = /^(Deleted )?\d+: ([^:@\s]+)(?:@[^:]+)?: <([^>]*)>/.exec(line.trim());
  if (!m) return undefined;
  const flags = m[3]!.split(',');
  return { name: m[2]!, deleted: m[1] !== undefined, up: flags.includes('UP') };
}

export interface InterfaceManagerOptions {
  interfacePrefix: string;
  /** Called when a workload interface appears or comes up (its routes may need writing again). */
  onInterfaceUp?(name: string): void;
  log?(line: string): void;
}

export class InterfaceManager {
  private monitor: ChildProcess | undefined;
  /** Workload interfaces configured without problems since the last resync. */
  private readonly checked = new Set<string>();
  /** Sysctl writes done, for tests and status. */
  readonly stats = { writes: 0 };

  constructor(private readonly options: InterfaceManagerOptions) {}

  /** Starts following links (the process runs in our network namespace). */
  start(): void {
    if (this.monitor) return;
    const child = spawn('ip', ['-o', 'monitor', 'link'], { stdio: ['ignore', 'pipe', 'ignore'] });
    this.monitor = child;
    let pending = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) this.onLinkLine(line);
    });
    child.on('error', (err) => this.options.log?.(`ip monitor link: ${err.message}`));
    child.on('exit', () => {
      if (this.monitor === child) this.monitor = undefined;
    });
  }

  stop(): void {
    this.monitor?.kill();
    this.monitor = undefined;
  }

  private onLinkLine(line: string): void {
    const event = parseLinkEvent(line);
    if (!event?.name.startsWith(this.options.interfacePrefix)) return;
    if (event.deleted) {
      this.checked.delete(event.name);
      return;
    }
    const problems: string[] = [];
    this.configure(event.name, problems);
    for (const p of problems) this.options.log?.(p);
    if (event.up) this.options.onInterfaceUp?.(event.name);
  }

  /** Writes every owned sysctl that differs, for the node and on each workload interface not checked yet. */
  apply(): string[] {
    const problems: string[] = [];
    this.write('ipv4/ip_forward', '1', problems);
    for (const name of this.workloadInterfaces()) if (!this.checked.has(name)) this.configure(name, problems);
    return problems;
  }

  /** The next apply checks every workload interface again (the resync: something may have changed them). */
  recheckAll(): void {
    this.checked.clear();
  }

  workloadInterfaces(): string[] {
    return readdirSync(path.join(PROC_NET, 'ipv4/conf')).filter((n) => n.startsWith(this.options.interfacePrefix));
  }

  private configure(name: string, problems: string[]): void {
    const rpFilter = this.read('ipv4/conf/default/rp_filter') ?? '1';
    const before = problems.length;
    for (const [key, value] of workloadSysctls(name, rpFilter)) this.write(key, value, problems);
    if (problems.length === before) this.checked.add(name);
  }

  private read(key: string): string | undefined {
    try {
      return readFileSync(path.join(PROC_NET, key), 'utf8').trim();
    } catch {
      return undefined;
    }
  }

  private write(key: string, value: string, problems: string[]): void {
    if (this.read(key) === value) return;
    try {
      writeFileSync(path.join(PROC_NET, key), value);
      this.stats.writes++;
    } catch (err) {
      // The interface went away between listing and writing: nothing to keep.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        problems.push(`sysctl ${key}=${value}: ${(err as Error).message}`);
    }
  }
}
