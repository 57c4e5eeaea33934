// Test topologies in network namespaces: L2 segments (a bridge in its own namespace), nodes and routers (a namespace
// with one underlay veth per segment). Every name carries the topology's run prefix; nothing is created in the
// host's own namespace, and everything is removed by destroy(), by the emergency teardown when the test process
// dies, or by cleanupStale() in the next run if the process was killed outright.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createRunScope,
  HARNESS_STATE_ROOT,
  isScopeOwnerAlive,
  type ProcessHandle,
  RUN_PREFIX_PATTERN,
  type RunOptions,
  type RunResult,
  type RunScope,
  registerEmergencyCleanup,
  run,
  runIn,
  type SpawnOptions,
  spawnProcess,
} from './exec';

/** Where iproute2 keeps named namespaces (its NETNS_RUN_DIR). */
const NETNS_RUN_DIR = '/var/run/netns';

/** RFC 5737 documentation ranges: the only addresses a test may put on the underlay. */
const UNDERLAY_RANGES = ['192.0.2.', '198.51.100.', '203.0.113.'];

export interface LinkSpec {
  segment: string;
  /** Underlay address with prefix length, e.g. `192.0.2.11/24`. */
  address: string;
}

export interface NodeOptions extends LinkSpec {
  /** Default gateway, e.g. a router's address on the same segment. */
  gateway?: string;
}

export interface RouterOptions {
  /** One veth per entry, named eth0, eth1, … in order. */
  links: LinkSpec[];
  gateway?: string;
}

/** Names of all named network namespaces. */
export function listNamespaces(): string[] {
  try {
    return fs.readdirSync(NETNS_RUN_DIR);
  } catch {
    return [];
  }
}

function isPidDir(name: string): boolean {
  return /^\d+$/.test(name);
}

/** Processes whose network namespace is `ns` (what `ip netns pids` reports). */
function pidsInNamespace(ns: string): number[] {
  let target: fs.Stats;
  try {
    target = fs.statSync(path.join(NETNS_RUN_DIR, ns));
  } catch {
    return [];
  }
  return fs
    .readdirSync('/proc')
    .filter(isPidDir)
    .filter((pid) => {
      try {
        const netns = fs.statSync(`/proc/${pid}/ns/net`);
        return netns.ino === target.ino && netns.dev === target.dev;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Processes whose command line mentions `text` (a run's private directory). */
function pidsMentioning(text: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter(isPidDir)
    .filter((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text);
      } catch {
        return false;
      }
    })
    .map(Number);
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/**
 * Kills what still runs inside the namespace, then deletes it (its veths and bridges go with it). Synchronous so
 * the emergency teardown can use it from the 'exit' event.
 */
function deleteNamespace(ns: string): void {
  for (const pid of pidsInNamespace(ns)) killQuietly(pid);
  spawnSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' });
}

/**
 * Removes what runs left behind when their test process died without tearing down: namespaces and state
 * directories whose name starts with a run prefix (matched by `prefixPattern`, which must be anchored at the start)
 * and whose owning process is gone. Live runs of concurrent test processes are left alone. Returns what it removed.
 */
export function cleanupStale(prefixPattern: RegExp = RUN_PREFIX_PATTERN): string[] {
  const prefixOf = (name: string) => {
    const match = prefixPattern.exec(name);
    return match?.index === 0 ? match[0] : undefined;
  };
  let stateDirs: string[] = [];
  try {
    stateDirs = fs.readdirSync(HARNESS_STATE_ROOT);
  } catch {
    // No run has ever created a state directory.
  }
  const prefixes = new Set([...listNamespaces(), ...stateDirs].map(prefixOf).filter((p) => p !== undefined));
  const removed: string[] = [];
  for (const prefix of prefixes) {
    const dir = path.join(HARNESS_STATE_ROOT, prefix);
    if (isScopeOwnerAlive(dir)) continue;
    for (const pid of pidsMentioning(dir + path.sep)) killQuietly(pid);
    for (const ns of listNamespaces().filter((name) => name.startsWith(prefix))) {
      deleteNamespace(ns);
      removed.push(`namespace ${ns}`);
    }
    if (fs.existsSync(dir)) {
      fs.rmSync(dir, { recursive: true, force: true });
      removed.push(`directory ${dir}`);
    }
  }
  return removed;
}

let staleCleaned = false;

/** cleanupStale() once per test process, before its first topology or etcd. */
export function cleanupStaleOnce(): void {
  if (staleCleaned) return;
  staleCleaned = true;
  const removed = cleanupStale();
  if (removed.length > 0) console.warn(`harness: removed leftovers of crashed runs: ${removed.join(', ')}`);
}

function assertUnderlayAddress(address: string, withPrefixLength: boolean): void {
  const [ip, prefixLength, ...rest] = address.split('/');
  const validLength = withPrefixLength
    ? prefixLength !== undefined && /^\d+$/.test(prefixLength) && Number(prefixLength) <= 32
    : prefixLength === undefined;
  if (!net.isIPv4(ip) || !validLength || rest.length > 0) {
    throw new Error(
      `bad underlay address "${address}": expected IPv4${withPrefixLength ? ' with /prefix-length' : ''}`,
    );
  }
  if (!UNDERLAY_RANGES.some((range) => ip.startsWith(range))) {
    throw new Error(`underlay address "${address}" is outside 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24`);
  }
}

type MachineKind = 'segment' | 'host';

export class Topology {
  /** Bridge device of every segment, inside the segment's namespace. */
  readonly bridgeName: string;
  private readonly kinds = new Map<string, MachineKind>();
  private readonly processes: ProcessHandle[] = [];
  /** Bridge ports (by segment namespace) not yet seen forwarding. */
  private readonly pendingPorts = new Map<string, Set<string>>();
  private portCount = 0;
  private destroyed: Promise<string[]> | undefined;
  private readonly unregisterEmergency: () => void;

  private constructor(private readonly scope: RunScope) {
    this.bridgeName = `${scope.prefix}br`;
    this.unregisterEmergency = registerEmergencyCleanup(() => this.deleteNamespaces());
  }

  static async create(): Promise<Topology> {
    cleanupStaleOnce();
    return new Topology(createRunScope());
  }

  /** Prefix of every namespace and link of this topology, e.g. `tb3f09a1-`. */
  get prefix(): string {
    return this.scope.prefix;
  }

  /** Private directory for configs and sockets of this topology's processes; removed by destroy(). */
  get dir(): string {
    return this.scope.dir;
  }

  /** The namespace of a segment, node or router. */
  nsName(name: string): string {
    if (!this.kinds.has(name)) throw new Error(`topology ${this.prefix}: no segment, node or router "${name}"`);
    return this.prefix + name;
  }

  async addSegment(name: string): Promise<void> {
    const ns = this.claim(name, 'segment');
    await run('ip', ['netns', 'add', ns]);
    await ipBatch(ns, ['link set lo up', `link add ${this.bridgeName} type bridge`, `link set ${this.bridgeName} up`]);
  }

  /** A host with one underlay veth `eth0` on `segment`. */
  addNode(name: string, opts: NodeOptions): Promise<void> {
    return this.addHost(name, [opts], opts.gateway);
  }

  /** A host with veths eth0, eth1, … on several segments. */
  addRouter(name: string, opts: RouterOptions): Promise<void> {
    return this.addHost(name, opts.links, opts.gateway);
  }

  /**
   * Resolves once every bridge port added so far forwards. The kernel reports a new veth's carrier through its
   * link-watch work, which runs at most once a second, and a port passes no traffic until then. exec() and spawn()
   * wait for this themselves; call it before reaching a namespace any other way (runIn, startEtcd).
   */
  async waitUntilLinksUp(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const [segmentNs, ports] of this.pendingPorts) {
      for (;;) {
        const { stdout } = await run('bridge', ['-n', segmentNs, '-j', 'link', 'show']);
        for (const port of JSON.parse(stdout) as { ifname: string; state: string }[]) {
          if (port.state === 'forwarding') ports.delete(port.ifname);
        }
        if (ports.size === 0) break;
        if (Date.now() > deadline) {
          throw new Error(`bridge ports ${[...ports].join(', ')} in ${segmentNs} not forwarding after ${timeoutMs} ms`);
        }
        await sleep(20);
      }
      this.pendingPorts.delete(segmentNs);
    }
  }

  async exec(name: string, cmd: string, args: readonly string[], opts?: RunOptions): Promise<RunResult> {
    const ns = this.nsName(name);
    await this.waitUntilLinksUp();
    return runIn(ns, cmd, args, opts);
  }

  /** Starts a long-running process in a namespace of the topology; destroy() stops it. */
  async spawn(
    name: string,
    cmd: string,
    args: readonly string[],
    opts: Omit<SpawnOptions, 'netns'> = {},
  ): Promise<ProcessHandle> {
    const netns = this.nsName(name);
    await this.waitUntilLinksUp();
    const handle = await spawnProcess(cmd, args, { ...opts, netns });
    this.processes.push(handle);
    return handle;
  }

  /**
   * Stops the topology's processes and deletes every namespace carrying its prefix (also ones a test created
   * itself, such as pods). Idempotent and never throws: returns what could not be removed (empty when clean).
   */
  destroy(): Promise<string[]> {
    this.destroyed ??= this.teardown();
    return this.destroyed;
  }

  private async teardown(): Promise<string[]> {
    const leftovers: string[] = [];
    try {
      await Promise.all(this.processes.map((handle) => handle.stop()));
      this.deleteNamespaces();
      for (const handle of this.processes.filter((h) => h.running)) leftovers.push(`process ${handle.pid}`);
      for (const ns of listNamespaces().filter((name) => name.startsWith(this.prefix)))
        leftovers.push(`namespace ${ns}`);
      this.scope.release();
    } catch (err) {
      leftovers.push(`teardown error: ${(err as Error).message}`);
    }
    this.unregisterEmergency();
    if (leftovers.length > 0) console.warn(`topology ${this.prefix}: left behind ${leftovers.join(', ')}`);
    return leftovers;
  }

  private deleteNamespaces(): void {
    const known = [...this.kinds.keys()].map((name) => this.prefix + name);
    const prefixed = listNamespaces().filter((name) => name.startsWith(this.prefix));
    for (const ns of new Set([...known, ...prefixed])) deleteNamespace(ns);
  }

  private claim(name: string, kind: MachineKind): string {
    if (this.destroyed) throw new Error(`topology ${this.prefix} is destroyed`);
    if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(name)) {
      throw new Error(`bad name "${name}": use up to 32 lowercase letters, digits and dashes`);
    }
    if (this.kinds.has(name)) throw new Error(`topology ${this.prefix}: "${name}" already exists`);
    this.kinds.set(name, kind);
    return this.prefix + name;
  }

  private segmentNs(segment: string): string {
    if (this.kinds.get(segment) !== 'segment') throw new Error(`topology ${this.prefix}: no segment "${segment}"`);
    return this.prefix + segment;
  }

  private async addHost(name: string, links: LinkSpec[], gateway: string | undefined): Promise<void> {
    // Validate everything before creating anything.
    const ports = links.map((link, index) => {
      assertUnderlayAddress(link.address, true);
      return { ...link, device: `eth${index}`, segmentNs: this.segmentNs(link.segment), port: this.nextPortName() };
    });
    if (gateway !== undefined) assertUnderlayAddress(gateway, false);
    const ns = this.claim(name, 'host');

    await run('ip', ['netns', 'add', ns]);
    // The veth is created inside the host's namespace with its peer placed straight into the segment's namespace:
    // neither end ever exists in the root namespace.
    await ipBatch(ns, [
      'link set lo up',
      ...ports.flatMap(({ device, port, segmentNs, address }) => [
        `link add ${device} type veth peer name ${port} netns ${segmentNs}`,
        `addr add ${address} dev ${device}`,
        `link set ${device} up`,
      ]),
      ...(gateway === undefined ? [] : [`route add default via ${gateway}`]),
    ]);
    for (const { port, segmentNs } of ports) {
      await ipBatch(segmentNs, [`link set ${port} master ${this.bridgeName} up`]);
      this.pendingPorts.set(segmentNs, (this.pendingPorts.get(segmentNs) ?? new Set()).add(port));
    }
    await runIn(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  }

  private nextPortName(): string {
    this.portCount += 1;
    return `${this.prefix}p${this.portCount}`;
  }
}

/** Runs `ip` commands in one process inside `ns`. */
async function ipBatch(ns: string, commands: string[]): Promise<void> {
  try {
    await run('ip', ['-n', ns, '-batch', '-'], { input: commands.join('\n') + '\n' });
  } catch (err) {
    const numbered = commands.map((command, index) => `  ${index + 1}: ${command}`).join('\n');
    throw new Error(`${(err as Error).message}\nbatch:\n${numbered}`);
  }
}

/** Runs `body` with a fresh topology and destroys it afterwards, whatever happens. */
export async function withTopology<T>(body: (topo: Topology) => Promise<T>): Promise<T> {
  const topo = await Topology.create();
  try {
    return await body(topo);
  } finally {
    await topo.destroy();
  }
}
