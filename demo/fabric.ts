// The demo's fabric on this machine: network namespaces on one underlay segment (a bridge in its own namespace),
// long-running processes inside them, and a state directory that records what runs, so that a fabric left up with
// `--keep` can be found and removed later by `--down`. Nothing is created in the host's own network namespace.
//
// Unlike the test harness's Topology, whose processes and namespaces die with the test process, a demo fabric may
// outlive the process that built it: its processes run detached with their output in log files, and the
// emergency teardown (the harness's registry: exit, SIGINT, SIGTERM, uncaught errors) is dropped when it is kept.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  processStartTime,
  type RunOptions,
  type RunResult,
  registerEmergencyCleanup,
  run,
  runIn,
} from '../test/harness/exec';

/** Where every demo fabric keeps its state directory (configs, logs, node run dirs, etcd's data). */
export const DEMO_STATE_ROOT = '/var/run/tabby-demo';

/**
 * Prefix of every namespace of one fabric: `td` + 6 hex + `-` (`td3f09a1-node-1`). Distinct from the test
 * harness's `tb…-`, so a test run's clean-up of crashed test runs never takes a kept demo down.
 */
export const DEMO_PREFIX_PATTERN = /^td[0-9a-f]{6}-/;

const NETNS_RUN_DIR = '/var/run/netns';
const STATE_FILE = 'fabric.json';
/** The segment's bridge; it lives in the segment's own namespace, so the name needs no prefix. */
const BRIDGE = 'br0';
const STOP_GRACE_MS = 3000;

/** A process of the fabric as the state file records it: the start time tells a reused pid from ours. */
interface RecordedProcess {
  name: string;
  pid: number;
  startTime: string;
  log: string;
}

interface FabricState {
  prefix: string;
  /** The demo process that built the fabric; a fabric whose owner is gone and that was not kept is a crash's. */
  owner: { pid: number; startTime: string };
  kept: boolean;
  processes: RecordedProcess[];
}

/** A long-running process of the fabric. */
export class FabricProcess {
  readonly pid: number;
  /** Read once at start: at teardown, a pid whose start time differs is somebody else's. */
  readonly startTime: string;
  private exited = false;

  constructor(
    readonly name: string,
    /** Its stdout and stderr. */
    readonly log: string,
    private readonly child: ChildProcess,
  ) {
    this.pid = child.pid!;
    this.startTime = processStartTime(this.pid) ?? '';
    child.on('exit', () => {
      this.exited = true;
    });
  }

  get running(): boolean {
    return !this.exited;
  }

  /** Lets this process exit while the child runs on (a kept fabric). */
  release(): void {
    this.child.unref();
  }

  /** The last `count` lines of its log. */
  logTail(count = 20): string {
    try {
      return fs.readFileSync(this.log, 'utf8').trimEnd().split('\n').slice(-count).join('\n');
    } catch {
      return '(no log)';
    }
  }
}

/** True while the process with this pid and start time runs (not when it is a zombie: it has exited). */
export function isProcessAlive(pid: number, startTime: string): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // A zombie has exited; its parent just has not collected it yet.
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && processStartTime(pid) === startTime;
  } catch {
    return false;
  }
}

function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

function namespacesWithPrefix(prefix: string): string[] {
  try {
    return fs.readdirSync(NETNS_RUN_DIR).filter((name) => name.startsWith(prefix));
  } catch {
    return [];
  }
}

/**
 * Kills what still runs inside each namespace (by the pids `ip netns pids` reports) and deletes it; its veths and
 * bridge go with it. Synchronous, for the emergency teardown.
 */
function deleteNamespaces(names: string[]): void {
  for (const ns of names) {
    const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '';
    for (const pid of pids.split('\n').filter((p) => /^\d+$/.test(p))) signalQuietly(Number(pid), 'SIGKILL');
    spawnSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' });
  }
}

/** SIGTERM to the recorded processes that still run, SIGKILL to those still running after the grace period. */
async function stopProcesses(processes: RecordedProcess[], graceMs = STOP_GRACE_MS): Promise<void> {
  const alive = () => processes.filter((p) => isProcessAlive(p.pid, p.startTime));
  for (const p of alive()) signalQuietly(p.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive().length > 0 && Date.now() < deadline) await sleep(50);
  for (const p of alive()) signalQuietly(p.pid, 'SIGKILL');
}

function thisProcess(): FabricState['owner'] {
  return { pid: process.pid, startTime: processStartTime(process.pid) ?? '' };
}

function writeState(dir: string, state: FabricState): void {
  fs.writeFileSync(path.join(dir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
}

function readState(dir: string): FabricState | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, STATE_FILE), 'utf8')) as FabricState;
  } catch {
    return undefined;
  }
}

/** A fabric found on this machine: from its state directory, or only from namespaces carrying its prefix. */
export interface FoundFabric {
  prefix: string;
  dir: string;
  state: FabricState | undefined;
  namespaces: string[];
  /** The demo that built it still runs and did not hand it over with --keep. */
  ownerRunning: boolean;
}

/** Every demo fabric on this machine. */
export function findFabrics(): FoundFabric[] {
  const prefixOf = (name: string) => DEMO_PREFIX_PATTERN.exec(name)?.[0];
  let dirs: string[] = [];
  try {
    dirs = fs.readdirSync(DEMO_STATE_ROOT).map((name) => `${name}-`);
  } catch {
    // No demo has run since boot.
  }
  let allNamespaces: string[] = [];
  try {
    allNamespaces = fs.readdirSync(NETNS_RUN_DIR);
  } catch {
    // No namespace at all.
  }
  const prefixes = new Set([...dirs, ...allNamespaces].map(prefixOf).filter((p) => p !== undefined));
  return [...prefixes].sort().map((prefix) => {
    const dir = path.join(DEMO_STATE_ROOT, prefix.slice(0, -1));
    const state = readState(dir);
    const ownerRunning = state !== undefined && !state.kept && isProcessAlive(state.owner.pid, state.owner.startTime);
    return { prefix, dir, state, namespaces: namespacesWithPrefix(prefix), ownerRunning };
  });
}

/** Stops a found fabric's processes (by recorded pid and start time), deletes its namespaces and its directory. */
export async function removeFabric(fabric: FoundFabric): Promise<void> {
  await stopProcesses(fabric.state?.processes ?? []);
  deleteNamespaces(namespacesWithPrefix(fabric.prefix));
  fs.rmSync(fabric.dir, { recursive: true, force: true });
}

export class Fabric {
  private readonly processes: FabricProcess[] = [];
  /** Bridge ports not yet seen forwarding. */
  private readonly pendingPorts = new Set<string>();
  private segment: string | undefined;
  private kept = false;
  private unregisterEmergency: (() => void) | undefined;
  private tornDown: Promise<void> | undefined;

  private constructor(
    /** Prefix of every namespace of this fabric, e.g. `td3f09a1-`. */
    readonly prefix: string,
    /** Its state directory: configs, logs, node run dirs, etcd's data. */
    readonly dir: string,
  ) {
    this.unregisterEmergency = registerEmergencyCleanup(() => this.emergencyTeardown());
  }

  /** A new fabric with a fresh prefix and state directory, torn down if the process dies before teardown(). */
  static create(): Fabric {
    fs.mkdirSync(DEMO_STATE_ROOT, { recursive: true });
    // Built under a name no clean-up matches, then renamed into place: nobody ever sees it without its state file.
    const staging = fs.mkdtempSync(path.join(DEMO_STATE_ROOT, '.staging-'));
    for (;;) {
      const prefix = `td${randomBytes(3).toString('hex')}-`;
      const dir = path.join(DEMO_STATE_ROOT, prefix.slice(0, -1));
      if (namespacesWithPrefix(prefix).length > 0 || fs.existsSync(dir)) continue;
      writeState(staging, { prefix, owner: thisProcess(), kept: false, processes: [] });
      try {
        fs.renameSync(staging, dir);
      } catch {
        continue;
      }
      return new Fabric(prefix, dir);
    }
  }

  nsName(name: string): string {
    return this.prefix + name;
  }

  /** Path of a file or directory in the fabric's state directory. */
  file(name: string): string {
    return path.join(this.dir, name);
  }

  /** The underlay: a namespace holding the bridge every host's eth0 is plugged into. */
  async addSegment(name: string): Promise<void> {
    const ns = this.nsName(name);
    await run('ip', ['netns', 'add', ns]);
    await ipBatch(ns, ['link set lo up', `link add ${BRIDGE} type bridge`, `link set ${BRIDGE} up`]);
    this.segment = ns;
  }

  /** A namespace with `eth0` on the segment at `address` (with prefix length), and a default route if given. */
  async addHost(name: string, address: string, gateway?: string): Promise<void> {
    if (!this.segment) throw new Error('fabric: addSegment() first');
    const ns = this.nsName(name);
    // The bridge port, in the segment's namespace, is named after the host: unique there, and short.
    const port = name.slice(0, 15);
    await run('ip', ['netns', 'add', ns]);
    // Created inside the host's namespace with the peer placed straight into the segment's: neither end ever
    // exists in the root namespace.
    await ipBatch(ns, [
      'link set lo up',
      `link add eth0 type veth peer name ${port} netns ${this.segment}`,
      `addr add ${address} dev eth0`,
      'link set eth0 up',
      ...(gateway ? [`route add default via ${gateway}`] : []),
    ]);
    await ipBatch(this.segment, [`link set ${port} master ${BRIDGE} up`]);
    this.pendingPorts.add(port);
  }

  /** An empty namespace (a pod's), made from the host so that it is visible everywhere as /var/run/netns/<ns>. */
  async addNamespace(name: string): Promise<string> {
    const ns = this.nsName(name);
    await run('ip', ['netns', 'add', ns]);
    return ns;
  }

  /**
   * Resolves once every bridge port forwards: the kernel reports a new veth's carrier from its link-watch work,
   * at most once a second, and the port passes nothing until then.
   */
  async waitUntilLinksUp(timeoutMs = 5000): Promise<void> {
    if (!this.segment) return;
    const deadline = Date.now() + timeoutMs;
    while (this.pendingPorts.size > 0) {
      const { stdout } = await run('bridge', ['-n', this.segment, '-j', 'link', 'show']);
      for (const port of JSON.parse(stdout) as { ifname: string; state: string }[]) {
        if (port.state === 'forwarding') this.pendingPorts.delete(port.ifname);
      }
      if (this.pendingPorts.size === 0) return;
      if (Date.now() > deadline) {
        throw new Error(`bridge ports ${[...this.pendingPorts].join(', ')} not forwarding after ${timeoutMs} ms`);
      }
      await sleep(20);
    }
  }

  /** Runs a command inside one of the fabric's namespaces. */
  exec(name: string, cmd: string, args: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return runIn(this.nsName(name), cmd, args, opts);
  }

  /**
   * Starts a long-running process in a namespace, detached (its own session: a Ctrl-C at the terminal reaches
   * the demo, which stops it in order) with stdout and stderr appended to `<dir>/<name>.log`.
   */
  async spawn(
    name: string,
    netns: string,
    cmd: string,
    args: readonly string[],
    env: NodeJS.ProcessEnv = process.env,
  ): Promise<FabricProcess> {
    const log = this.file(`${name}.log`);
    const fd = fs.openSync(log, 'a');
    let child: ChildProcess;
    try {
      child = spawn('ip', ['netns', 'exec', this.nsName(netns), cmd, ...args], {
        detached: true,
        stdio: ['ignore', fd, fd],
        env,
      });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', (err) => reject(new Error(`${cmd}: cannot start: ${err.message}`)));
      });
    } finally {
      fs.closeSync(fd);
    }
    // `ip netns exec` execs the command: the pid is the command's own.
    const proc = new FabricProcess(name, log, child);
    this.processes.push(proc);
    this.saveState();
    return proc;
  }

  /** The process started under `name`, if any. */
  processNamed(name: string): FabricProcess | undefined {
    return this.processes.find((p) => p.name === name);
  }

  /**
   * Leaves the fabric running when this process exits: its processes no longer hold this process alive, and
   * the emergency teardown is dropped. `--down` removes it later.
   */
  keep(): void {
    this.kept = true;
    this.saveState();
    for (const p of this.processes) p.release();
    this.unregisterEmergency?.();
    this.unregisterEmergency = undefined;
  }

  /** Stops the processes (SIGTERM, then SIGKILL), deletes every namespace with the prefix and the directory. */
  teardown(): Promise<void> {
    this.tornDown ??= (async () => {
      this.unregisterEmergency?.();
      this.unregisterEmergency = undefined;
      await stopProcesses(this.recorded());
      deleteNamespaces(namespacesWithPrefix(this.prefix));
      fs.rmSync(this.dir, { recursive: true, force: true });
    })();
    return this.tornDown;
  }

  /** What teardown() does, synchronously and without grace: for the 'exit' event. */
  private emergencyTeardown(): void {
    process.stderr.write(`demo: exiting early: tearing down fabric ${this.prefix}\n`);
    for (const p of this.recorded()) if (isProcessAlive(p.pid, p.startTime)) signalQuietly(p.pid, 'SIGKILL');
    deleteNamespaces(namespacesWithPrefix(this.prefix));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private recorded(): RecordedProcess[] {
    return this.processes.map(({ name, pid, startTime, log }) => ({ name, pid, startTime, log }));
  }

  /** Written after every change, so that a demo killed outright leaves an accurate record for the next one. */
  private saveState(): void {
    writeState(this.dir, { prefix: this.prefix, owner: thisProcess(), kept: this.kept, processes: this.recorded() });
  }
}

/** Runs `ip` commands in one process inside `ns`. */
async function ipBatch(ns: string, commands: string[]): Promise<void> {
  await run('ip', ['-n', ns, '-batch', '-'], { input: `${commands.join('\n')}\n` });
}
