// Running the dataplane's tools (ip, bridge, iptables-restore, ipset), in our own network namespace or (tests) in
// a named one through `ip netns exec`. Started with the native addon's posix_spawn where it loads: Node's own
// child_process forks, which costs the long-running tabby-node milliseconds of main-thread CPU per command.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { loadNativeAddon } from '../native/addon';

export interface CommandResult {
  /** Exit status; 127 when the command could not be started, 128 + n when signal n ended it. */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a command to completion, feeding it `input` on stdin: a string, or pieces taken one after another as the
 * command reads them (so it works on the first while the next are made). A failure of the command is in the result;
 * rejects only when taking a piece throws (the command is killed first, before it sees the end of its input).
 */
export type CommandRunner = (
  command: string,
  args: readonly string[],
  input?: string | Iterable<string>,
) => Promise<CommandResult>;

/** The real thing; with `netns`, every command runs as `ip netns exec <netns> <command> ...`. */
export function commandRunner(netns?: string): CommandRunner {
  return async (command, args, input) => {
    const [file, argv] = netns === undefined ? [command, args] : ['ip', ['netns', 'exec', netns, command, ...args]];
    let child: Child;
    try {
      child = await startChild(file, argv, input !== undefined);
    } catch (err) {
      return { code: 127, stdout: '', stderr: `${command}: cannot start: ${(err as Error).message}` };
    }
    const result = collect(command, child);
    if (input !== undefined) {
      try {
        await feed(child.stdin!, input);
      } catch (err) {
        child.kill();
        await result;
        throw err;
      }
    }
    return result;
  };
}

/** A started command: its pipes, and its exit (code, or signal number). */
interface Child {
  stdin?: Writable;
  stdout: Readable;
  stderr: Readable;
  exited: Promise<{ code: number | null; signal: number }>;
  kill(): void;
}

interface NativeSpawn {
  spawnCommand(file: string, args: readonly string[], withStdin: boolean): Promise<NativeChild>;
  waitCommand(pid: number, callback: (code: number, signal: number) => void): void;
}
interface NativeChild {
  pid: number;
  stdin: number;
  stdout: number;
  stderr: number;
}

const addon = loadNativeAddon();
const native = addon instanceof Error ? undefined : (addon as unknown as NativeSpawn);

/** Rejects when the command cannot be started (no such file, not executable). */
async function startChild(file: string, argv: readonly string[], withStdin: boolean): Promise<Child> {
  if (native) {
    const c = await native.spawnCommand(file, argv, withStdin);
    const exited = new Promise<{ code: number | null; signal: number }>((resolve) =>
      native.waitCommand(c.pid, (code, signal) => resolve({ code: signal === 0 ? code : null, signal })),
    );
    return {
      stdin: c.stdin >= 0 ? new net.Socket({ fd: c.stdin, readable: false, writable: true }) : undefined,
      stdout: new net.Socket({ fd: c.stdout, readable: true, writable: false }),
      stderr: new net.Socket({ fd: c.stderr, readable: true, writable: false }),
      exited,
      kill: () => process.kill(c.pid, 'SIGKILL'),
    };
  }
  const child = spawn(file, argv, { stdio: [withStdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: number }>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ code, signal: signal === null ? 0 : constants.signals[signal] }));
  });
  return {
    stdin: child.stdin ?? undefined,
    stdout: child.stdout!,
    stderr: child.stderr!,
    exited,
    kill: () => child.kill('SIGKILL'),
  };
}

function drain(stream: Readable): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', () => {});
    stream.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

async function collect(command: string, child: Child): Promise<CommandResult> {
  try {
    const [stdout, stderr, { code, signal }] = await Promise.all([
      drain(child.stdout),
      drain(child.stderr),
      child.exited,
    ]);
    return { code: code ?? 128 + signal, stdout: stdout.toString(), stderr: stderr.toString() };
  } catch (err) {
    return { code: 127, stdout: '', stderr: `${command}: cannot start: ${(err as Error).message}` };
  }
}

/** Writes `input` and closes stdin; stops early, without error, when the command is gone (its status says why). */
async function feed(stdin: Writable, input: string | Iterable<string>): Promise<void> {
  // A command that exits before reading all its input makes writes fail (EPIPE).
  stdin.on('error', () => {});
  if (typeof input === 'string') {
    stdin.end(input);
    return;
  }
  for (const chunk of input) {
    if (stdin.destroyed) return;
    // Only when the pipe is full: meanwhile the command works on what it has.
    if (!stdin.write(chunk)) await drained(stdin);
  }
  stdin.end();
}

function drained(stdin: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stdin.off('drain', done);
      stdin.off('close', done);
      resolve();
    };
    stdin.on('drain', done);
    stdin.on('close', done);
  });
}

/** The command as a user would type it, for messages. */
export function commandLine(command: string, args: readonly string[], netns?: string): string {
  return `${netns === undefined ? '' : `ip netns exec ${netns} `}${command} ${args.join(' ')}`;
}

/** Runs a command and returns its stdout; a non-zero exit is an Error naming the command and quoting its stderr. */
export async function commandOutput(
  run: CommandRunner,
  command: string,
  args: readonly string[],
  input?: string,
): Promise<string> {
  const result = await run(command, args, input);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')}: exit ${result.code}: ${result.stderr.trim()}`);
  return result.stdout;
}
