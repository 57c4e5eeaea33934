// Permanent neighbour entries felix owns: each workload's address and MAC on its cali interface (so the host
// never has to ARP for a pod), and for VXLAN each remote VTEP's tunnel address → MAC (ARP) and MAC → node
// address (FDB). Entries on other devices, and dynamic ones, are never touched.
import { type CommandRunner, commandOutput, commandRunner } from './command';

export interface NeighborEntry {
  dev: string;
  ip: string;
  mac: string;
}

export interface FdbEntry {
  dev: string;
  mac: string;
  dst: string;
}

export interface NeighborManagerOptions {
  /** Devices whose permanent entries are ours: those starting with one of these prefixes or equal to them. */
  ownedDevicePrefixes: readonly string[];
  netns?: string;
}

function neighborKey(n: NeighborEntry): string {
  return `${n.dev} ${n.ip}`;
}

function fdbKey(f: FdbEntry): string {
  return `${f.dev} ${f.mac}`;
}

interface IpNeighJson {
  dst?: string;
  dev?: string;
  lladdr?: string;
  state?: string[];
}

interface BridgeFdbJson {
  mac?: string;
  ifname?: string;
  dst?: string;
  state?: string;
  flags?: string[];
}

/** Writes only what differs: `neigh replace`/`del` through one `ip -batch`, `fdb replace`/`del` through one `bridge -batch`. */
export class NeighborManager {
  private desiredNeighbors = new Map<string, NeighborEntry>();
  private desiredFdb = new Map<string, FdbEntry>();
  /** Devices whose FDB entries are ours: every device a desired entry named (its stale entries are removed). */
  private readonly fdbDevices = new Set<string>();
  /** Counters: entries written and batches run, for tests ("a second apply writes nothing") and status. */
  readonly stats = { writes: 0, batches: 0 };

  private readonly run: CommandRunner;

  constructor(private readonly options: NeighborManagerOptions) {
    this.run = commandRunner(options.netns);
  }

  setDesired(neighbors: readonly NeighborEntry[], fdb: readonly FdbEntry[]): void {
    this.desiredNeighbors = new Map(neighbors.map((n) => [neighborKey(n), { ...n, mac: n.mac.toLowerCase() }]));
    this.desiredFdb = new Map(fdb.map((f) => [fdbKey(f), { ...f, mac: f.mac.toLowerCase() }]));
    for (const f of fdb) this.fdbDevices.add(f.dev);
  }

  private owned(dev: string | undefined): boolean {
    return dev !== undefined && this.options.ownedDevicePrefixes.some((p) => dev.startsWith(p));
  }

  /** Applies the difference; returns problems (e.g. a workload device that does not exist yet) without throwing. */
  async apply(): Promise<string[]> {
    const problems: string[] = [];
    const lines: string[] = [];
    const current = JSON.parse(
      (await commandOutput(this.run, 'ip', ['-j', 'neigh', 'show', 'nud', 'permanent'])) || '[]',
    ) as IpNeighJson[];
    const seen = new Set<string>();
    for (const n of current) {
      if (!this.owned(n.dev) || n.dst === undefined) continue;
      const key = `${n.dev} ${n.dst}`;
      const want = this.desiredNeighbors.get(key);
      if (!want) lines.push(`neigh del ${n.dst} dev ${n.dev}`);
      else if (want.mac === n.lladdr?.toLowerCase()) seen.add(key);
    }
    for (const [key, n] of this.desiredNeighbors) {
      if (!seen.has(key)) lines.push(`neigh replace ${n.ip} lladdr ${n.mac} dev ${n.dev} nud permanent`);
    }
    problems.push(...(await this.batch('ip', lines)));

    const fdbLines: string[] = [];
    const seenFdb = new Set<string>();
    // Only the devices we ever gave FDB entries (vxlan.calico) are read: a `bridge fdb show` of the whole host lists
    // an entry per workload veth, on every apply.
    for (const dev of this.fdbDevices) {
      const listing = await this.run('bridge', ['-j', 'fdb', 'show', 'dev', dev]);
      // A device that is gone took its entries with it.
      if (listing.code !== 0) continue;
      for (const f of JSON.parse(listing.stdout || '[]') as BridgeFdbJson[]) {
        if (f.mac === undefined || f.dst === undefined || f.mac === '00:00:00:00:00:00') continue;
        const key = `${dev} ${f.mac}`;
        const want = this.desiredFdb.get(key);
        if (!want) fdbLines.push(`fdb del ${f.mac} dev ${dev} dst ${f.dst} self`);
        else if (want.dst === f.dst) seenFdb.add(key);
      }
    }
    for (const [key, f] of this.desiredFdb) {
      if (!seenFdb.has(key)) fdbLines.push(`fdb replace ${f.mac} dev ${f.dev} dst ${f.dst} self permanent`);
    }
    problems.push(...(await this.batch('bridge', fdbLines)));
    return problems;
  }

  /** One batch; with -force the tool goes on after a failing line, so one missing device blocks nothing else. */
  private async batch(tool: 'ip' | 'bridge', lines: string[]): Promise<string[]> {
    if (lines.length === 0) return [];
    this.stats.batches++;
    this.stats.writes += lines.length;
    const result = await this.run(tool, ['-force', '-batch', '-'], `${lines.join('\n')}\n`);
    if (result.code === 0) return [];
    return result.stderr
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !/^Command failed/.test(l))
      .map((l) => `${tool}: ${l}`);
  }
}
