// Running the dataplane's tools (ip, bridge, iptables-restore, ipset), in our own network namespace or (tests) in
// a named one through `ip netns exec`.
import { type ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Writable } from 'node:stream';

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
    const child = spawn(file, argv, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const result = collect(command, child);
    if (input !== undefined) {
      try {
        await feed(child.stdin!, input);
      } catch (err) {
        child.kill('SIGKILL');
        await result;
        throw err;
      }
    }
    return result;
  };
}

function collect(command: string, child: ChildProcess): Promise<CommandResult> {
  return new Promise((resolve) => {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (err) => resolve({ code: 127, stdout: '', stderr: `${command}: cannot start: ${err.message}` }));
    child.on('close', (code, signal) =>
      resolve({
        code: code ?? 128 + (signal === null ? 0 : constants.signals[signal]),
        stdout: Buffer.concat(stdout).toString(),
        stderr: Buffer.concat(stderr).toString(),
      }),
    );
  });
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
