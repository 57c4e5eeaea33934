// The three BGP daemons the BGP benchmark compares — tabby-bgp, BIRD 2 and GoBGP — started in a topology node
// with the same peers, passive toward them (the benchmark's feeder and sink connect), nothing but IPv4 unicast,
// nothing installed into a kernel. Each says how many prefixes its RIB holds, as cheaply as the daemon allows,
// and which process is really the daemon (not the `ip netns exec` that started it), for its memory.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { stringify } from 'yaml';
import { readStatus } from '../../node/status-server';
import { type ProcessHandle, run, type Topology } from '../../test/harness';

export type DaemonKind = 'tabby' | 'bird' | 'gobgp';
export const DAEMON_KINDS: readonly DaemonKind[] = ['tabby', 'bird', 'gobgp'];

const TABBY_BGP = path.join(__dirname, '..', '..', 'bin', 'tabby-bgp');

export interface DaemonPeer {
  /** Also the BIRD protocol name. */
  name: string;
  address: string;
  asNumber: number;
}

export interface DaemonSetup {
  topo: Topology;
  node: string;
  address: string;
  asNumber: number;
  peers: DaemonPeer[];
  /** tabby-bgp only: run it under `node --cpu-prof`, writing the profile here when it stops. */
  cpuProfileDir?: string;
  /**
   * Be a route reflector (RFC 4456) with this cluster ID and every peer its client. The peers are then iBGP
   * neighbours on networks directly connected to the daemon.
   */
  routeReflectorClusterId?: string;
}

export interface DaemonUnderTest {
  readonly kind: DaemonKind;
  /** The daemon's own process: the one whose memory counts. */
  readonly pid: number;
  /** Prefixes in the daemon's RIB. */
  ribPrefixes(): Promise<number>;
  /**
   * How long to wait between two ribPrefixes() calls `elapsedMs` into a feed, so polling does not slow the
   * daemon down: a read counter can be asked every 20 ms; a query that walks the table and starts a process
   * is spaced out to at most 5 % of the time measured.
   */
  pollIntervalMs(elapsedMs: number): number;
  /** Stops it (SIGTERM, then SIGKILL) and releases what it holds here. */
  stop(): Promise<void>;
}

const COUNTER_POLL_MS = 20;
const WALK_POLL_MIN_MS = 50;
const WALK_POLL_SHARE = 0.05;

function counterPoll(): number {
  return COUNTER_POLL_MS;
}

function walkPoll(elapsedMs: number): number {
  return Math.max(WALK_POLL_MIN_MS, elapsedMs * WALK_POLL_SHARE);
}

async function until(probe: () => Promise<boolean>, what: string, handle: ProcessHandle, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!handle.running) throw new Error(`${what}: it exited: ${handle.output().slice(-2000)}`);
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs} ms: ${handle.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function commOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * The pid of the process named `comm` that `handle` started. `ip netns exec` execs the command, so it is usually
 * the handle's own pid once the exec happened; a forking `ip` leaves it as a child.
 */
export async function commandPid(handle: ProcessHandle, comm: string): Promise<number> {
  let found: number | undefined;
  await until(
    async () => {
      found = [handle.pid, ...childrenOf(handle.pid)].find((pid) => commOf(pid) === comm);
      return found !== undefined;
    },
    `finding the ${comm} process`,
    handle,
  );
  return found!;
}

async function startTabby(setup: DaemonSetup): Promise<DaemonUnderTest> {
  const { topo, node } = setup;
  const configFile = path.join(topo.dir, `tabby-bgp-${node}.yaml`);
  const statusSocket = path.join(topo.dir, `tabby-bgp-${node}.sock`);
  writeFileSync(
    configFile,
    stringify({
      asNumber: setup.asNumber,
      routerId: setup.address,
      listen: { address: setup.address, port: 179 },
      ...(setup.routeReflectorClusterId ? { routeReflectorClusterId: setup.routeReflectorClusterId } : {}),
      peers: setup.peers.map((p) => ({
        name: p.name,
        address: p.address,
        asNumber: p.asNumber,
        passive: true,
        ...(setup.routeReflectorClusterId ? { routeReflectorClient: true } : {}),
      })),
      kernel: { export: false },
    }),
  );
  const profiling = setup.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${setup.cpuProfileDir}`] : [];
  const handle = await topo.spawn(node, process.execPath, [
    ...profiling,
    TABBY_BGP,
    '--config',
    configFile,
    '--status-socket',
    statusSocket,
  ]);
  const ribPrefixes = async () => ((await readStatus(statusSocket)) as { rib: { prefixes: number } }).rib.prefixes;
  await until(async () => (await ribPrefixes()) >= 0, 'tabby-bgp', handle);
  return {
    kind: 'tabby',
    pid: await commandPid(handle, 'node'),
    ribPrefixes,
    pollIntervalMs: counterPoll,
    stop: async () => {
      // Profile writing happens at exit: give it time.
      await handle.stop(30_000);
    },
  };
}

/**
 * BIRD's control socket, spoken directly (a unix socket is reachable from any network namespace): one
 * connection for all queries, far cheaper than a birdc process per poll. Replies are lines "CCCC-text" or
 * " text" (more follows) and end with a line "CCCC text".
 */
class BirdControl {
  private buffered = '';
  private reply: string[] = [];
  private pending: { resolve(reply: string): void; reject(err: Error): void } | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => this.receive(text));
    socket.on('error', (err) => this.pending?.reject(err));
    socket.on('close', () => this.pending?.reject(new Error('BIRD closed its control socket')));
  }

  static async connect(socketPath: string): Promise<BirdControl> {
    const socket = net.connect(socketPath);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const control = new BirdControl(socket);
    await control.nextReply(); // The greeting: "0001 BIRD 2.x ready."
    return control;
  }

  command(text: string): Promise<string> {
    const reply = this.nextReply();
    this.socket.write(`${text}\n`);
    return reply;
  }

  close(): void {
    this.socket.destroy();
  }

  private nextReply(): Promise<string> {
    if (this.pending) throw new Error('one BIRD command at a time');
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
    });
  }

  private receive(text: string): void {
    this.buffered += text;
    for (let end = this.buffered.indexOf('\n'); end >= 0; end = this.buffered.indexOf('\n')) {
      const line = this.buffered.slice(0, end);
      this.buffered = this.buffered.slice(end + 1);
      this.reply.push(line);
      if (/^\d{4} /.test(line)) {
        const pending = this.pending;
        const reply = this.reply.join('\n');
        this.pending = undefined;
        this.reply = [];
        pending?.resolve(reply);
      }
    }
  }
}

async function startBird(setup: DaemonSetup): Promise<DaemonUnderTest> {
  const { topo, node } = setup;
  const configFile = path.join(topo.dir, `bird-${node}.conf`);
  const controlSocket = path.join(topo.dir, `bird-${node}.ctl`);
  // A reflector's clients are iBGP, which BIRD treats as multihop and resolves next hops through an IGP table;
  // there is none here, so `direct` says the clients (and their next hops) are on connected networks.
  const reflecting = setup.routeReflectorClusterId
    ? `\n  rr client;\n  rr cluster id ${setup.routeReflectorClusterId};\n  direct;`
    : '';
  const protocols = setup.peers.map(
    (p) => `protocol bgp ${p.name} {
  local ${setup.address} as ${setup.asNumber};
  neighbor ${p.address} as ${p.asNumber};
  passive on;${reflecting}
  ipv4 { import all; export all; };
}`,
  );
  writeFileSync(configFile, [`router id ${setup.address};`, 'protocol device {}', ...protocols, ''].join('\n'));
  const handle = await topo.spawn(node, 'bird', ['-f', '-c', configFile, '-s', controlSocket]);
  let control: BirdControl | undefined;
  await until(
    async () => {
      control = await BirdControl.connect(controlSocket);
      return true;
    },
    'bird',
    handle,
  );
  const feeder = setup.peers[0].name;
  return {
    kind: 'bird',
    pid: await commandPid(handle, 'bird'),
    // "Routes: N imported, M exported, K preferred" of the feeding protocol: counters BIRD keeps.
    ribPrefixes: async () => {
      const reply = await control!.command(`show protocols all ${feeder}`);
      return Number(/Routes:\s+(\d+) imported/.exec(reply)?.[1] ?? 0);
    },
    pollIntervalMs: counterPoll,
    stop: async () => {
      control!.close();
      await handle.stop();
    },
  };
}

async function startGoBgp(setup: DaemonSetup): Promise<DaemonUnderTest> {
  const { topo, node } = setup;
  const configFile = path.join(topo.dir, `gobgp-${node}.toml`);
  // A unix socket for the API: the gobgp CLI can then run outside the namespace, without `ip netns exec`.
  const apiSocket = path.join(topo.dir, `gobgp-${node}.sock`);
  // gobgpd leaves its socket behind when it stops, and will not bind over it when started again.
  rmSync(apiSocket, { force: true });
  const target = `unix://${apiSocket}`;
  const neighbors = setup.peers.map(
    (p) => `[[neighbors]]
  [neighbors.config]
    neighbor-address = "${p.address}"
    peer-as = ${p.asNumber}
  [neighbors.transport.config]
    passive-mode = true
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
`,
  );
  writeFileSync(
    configFile,
    [`[global.config]\n  as = ${setup.asNumber}\n  router-id = "${setup.address}"\n`, ...neighbors].join('\n'),
  );
  const handle = await topo.spawn(node, 'gobgpd', ['-f', configFile, '--api-hosts', target, '-l', 'warn']);
  const gobgp = (...args: string[]) => run('gobgp', ['--target', target, ...args]);
  await until(async () => (await gobgp('global')).code === 0, 'gobgpd', handle);
  return {
    kind: 'gobgp',
    pid: await commandPid(handle, 'gobgpd'),
    // "Destination: N, Path: M" of the global RIB: GoBGP counts them by walking the table.
    ribPrefixes: async () => {
      const { stdout } = await gobgp('global', 'rib', 'summary', '-a', 'ipv4');
      return Number(/Destination:\s*(\d+)/.exec(stdout)?.[1] ?? 0);
    },
    pollIntervalMs: walkPoll,
    stop: async () => {
      await handle.stop();
    },
  };
}

const STARTERS: Record<DaemonKind, (setup: DaemonSetup) => Promise<DaemonUnderTest>> = {
  tabby: startTabby,
  bird: startBird,
  gobgp: startGoBgp,
};

export function startDaemon(kind: DaemonKind, setup: DaemonSetup): Promise<DaemonUnderTest> {
  return STARTERS[kind](setup);
}
