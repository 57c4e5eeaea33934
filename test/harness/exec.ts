// Running commands (optionally inside a network namespace), long-running processes, and the process-wide
// registry that tears everything down when the test process dies (signal, uncaught exception, plain exit).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface RunOptions {
  /** Resolve with the result instead of throwing when the command exits non-zero. */
  allowFail?: boolean;
  /** Written to the command's stdin. */
  input?: string;
  env?: NodeJS.ProcessEnv;
  /** The command is killed (SIGKILL) and the call fails after this long. Default 30 s. */
  timeoutMs?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  /** Exit code; 128 + signal number when a signal ended the command. */
  code: number;
}

export class CommandError extends Error {
  constructor(
    readonly commandLine: string,
    readonly result: RunResult,
    reason: string,
  ) {
    const detail = (result.stderr.trim() || result.stdout.trim()).slice(-4000);
    super(`${commandLine}: ${reason}${detail ? `\n${detail}` : ''}`);
    this.name = 'CommandError';
  }
}

/** The command as a shell user would type it, for error messages. */
export function formatCommandLine(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : JSON.stringify(word))).join(' ');
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? os.constants.signals[signal] : 0);
}

export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const commandLine = formatCommandLine(cmd, args);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 30_000);
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${commandLine}: cannot start: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = {
        stdout: Buffer.concat(stdout).toString(),
        stderr: Buffer.concat(stderr).toString(),
        code: exitCodeOf(code, signal),
      };
      if (timedOut) reject(new CommandError(commandLine, result, `timed out after ${opts.timeoutMs ?? 30_000} ms`));
      else if (result.code !== 0 && !opts.allowFail)
        reject(new CommandError(commandLine, result, `exited with code ${result.code}`));
      else resolve(result);
    });
  });
}

/** Runs a command inside network namespace `ns` (`ip netns exec`). */
export function runIn(ns: string, cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

// ---------------------------------------------------------------------------------------------------------------
// Emergency teardown: every live resource registers a synchronous cleanup. They run newest first (processes before
// the namespaces and directories they live in) from the 'exit' event, which Node emits on a normal exit, on
// process.exit() and after an uncaught exception or rejection. SIGINT/SIGTERM/SIGHUP would end the process without
// 'exit', so they are turned into process.exit().

const emergencyCleanups = new Set<() => void>();
let exitHooksInstalled = false;

function runEmergencyCleanups(): void {
  for (const cleanup of [...emergencyCleanups].reverse()) {
    try {
      cleanup();
    } catch {
      // Best effort: one failed cleanup must not stop the others.
    }
  }
  emergencyCleanups.clear();
}

/** Registers `cleanup` to run if the process exits while the resource is alive; call the returned function once it is released normally. */
export function registerEmergencyCleanup(cleanup: () => void): () => void {
  if (!exitHooksInstalled) {
    exitHooksInstalled = true;
    process.on('exit', runEmergencyCleanups);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.on(signal, () => process.exit(128 + os.constants.signals[signal]));
    }
  }
  emergencyCleanups.add(cleanup);
  return () => emergencyCleanups.delete(cleanup);
}

// ---------------------------------------------------------------------------------------------------------------
// Run scopes: a per-run name prefix (`tb` + 6 hex + `-`) and a private state directory holding an `owner` file
// (pid and start time of the test process), so a later run can tell a crashed run's leftovers from a live one's.

export const RUN_PREFIX_PATTERN = /^tb[0-9a-f]{6}-/;
export const HARNESS_STATE_ROOT = path.join(os.tmpdir(), 'tabby-harness');

export interface RunScope {
  /** Prefix of every namespace, link and process name of this run, e.g. `tb3f09a1-`. */
  readonly prefix: string;
  /** Private directory (data dirs, configs, sockets); removed by release(). */
  readonly dir: string;
  release(): void;
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), or undefined if it is gone. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: count fields after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** True when the process that wrote `<scopeDir>/owner` still runs (same pid and same start time). */
export function isScopeOwnerAlive(scopeDir: string): boolean {
  try {
    const [pid, startTime] = fs.readFileSync(path.join(scopeDir, 'owner'), 'utf8').trim().split(' ');
    return processStartTime(Number(pid)) === startTime;
  } catch {
    return false;
  }
}

export function createRunScope(): RunScope {
  fs.mkdirSync(HARNESS_STATE_ROOT, { recursive: true });
  // Build the directory under a name no cleanup matches, then rename it into place, so nobody ever sees a scope
  // directory without its owner file.
  const staging = fs.mkdtempSync(path.join(HARNESS_STATE_ROOT, '.staging-'));
  fs.writeFileSync(path.join(staging, 'owner'), `${process.pid} ${processStartTime(process.pid)}\n`);
  for (;;) {
    const prefix = `tb${randomBytes(3).toString('hex')}-`;
    const dir = path.join(HARNESS_STATE_ROOT, prefix);
    if (fs.existsSync(`/var/run/netns/${prefix}`) || fs.existsSync(dir)) continue;
    try {
      fs.renameSync(staging, dir);
    } catch {
      continue;
    }
    const removeDir = () => fs.rmSync(dir, { recursive: true, force: true });
    const unregister = registerEmergencyCleanup(removeDir);
    return {
      prefix,
      dir,
      release: () => {
        unregister();
        removeDir();
      },
    };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Long-running processes (etcd, BGP daemons, tcpdump).

export interface SpawnOptions {
  /** Run inside this network namespace (`ip netns exec`, which execs: the pid is the command's own). */
  netns?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** How much of the latest output (stdout and stderr interleaved) is kept for error messages. Default 64 KiB. */
  outputLimitBytes?: number;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class ProcessHandle {
  readonly pid: number;
  readonly commandLine: string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<ExitStatus>;
  private exitStatus: ExitStatus | undefined;
  private outputChunks: Buffer[] = [];
  private outputBytes = 0;

  constructor(
    private readonly child: ChildProcess,
    commandLine: string,
    private readonly outputLimitBytes: number,
  ) {
    this.pid = child.pid!;
    this.commandLine = commandLine;
    const unregister = registerEmergencyCleanup(() => child.kill('SIGKILL'));
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        unregister();
        const status = { code, signal };
        this.exitStatus = status;
        // Wait for the output still in the pipes ('close'), but not for a forked grandchild that holds them open.
        const timer = setTimeout(() => resolve(status), 200);
        child.once('close', () => {
          clearTimeout(timer);
          resolve(status);
        });
      });
    });
    child.stdout!.on('data', (chunk: Buffer) => this.keepOutput(chunk));
    child.stderr!.on('data', (chunk: Buffer) => this.keepOutput(chunk));
  }

  get running(): boolean {
    return this.exitStatus === undefined;
  }

  /** The latest output (up to the limit), stdout and stderr interleaved. */
  output(): string {
    return Buffer.concat(this.outputChunks).subarray(-this.outputLimitBytes).toString();
  }

  /** SIGTERM, then SIGKILL if it is still running after `graceMs`; resolves once it has exited. */
  async stop(graceMs = 3000): Promise<ExitStatus> {
    if (this.exitStatus) return this.exitStatus;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    const status = await this.exited;
    clearTimeout(timer);
    return status;
  }

  private keepOutput(chunk: Buffer): void {
    this.outputChunks.push(chunk);
    this.outputBytes += chunk.length;
    while (this.outputBytes - this.outputChunks[0].length >= this.outputLimitBytes) {
      this.outputBytes -= this.outputChunks.shift()!.length;
    }
  }
}

/** Starts a long-running process; fails if it cannot be started at all (e.g. no such executable). */
export function spawnProcess(cmd: string, args: readonly string[], opts: SpawnOptions = {}): Promise<ProcessHandle> {
  const [file, argv] = opts.netns ? ['ip', ['netns', 'exec', opts.netns, cmd, ...args]] : [cmd, args];
  const commandLine = formatCommandLine(file, argv);
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.on('error', (err) => reject(new Error(`${commandLine}: cannot start: ${err.message}`)));
    child.once('spawn', () => resolve(new ProcessHandle(child, commandLine, opts.outputLimitBytes ?? 64 * 1024)));
  });
}
