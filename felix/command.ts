// Running the dataplane's command-line tools (ip, bridge, iptables-restore, ipset): one process per call, its
// input written to stdin, its output collected. Felix runs inside the node's network namespace; `netns` runs a
// command in another named one (tests).
import { spawn } from 'node:child_process';

export interface CommandResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

export interface CommandOptions {
  input?: string;
  netns?: string;
}

export function commandLine(file: string, args: readonly string[], netns?: string): string {
  return `${netns === undefined ? '' : `ip netns exec ${netns} `}${file} ${args.join(' ')}`;
}

/** Runs a command; resolves with its exit whatever it is, rejects only when it cannot be started. */
export function runCommand(
  file: string,
  args: readonly string[],
  options: CommandOptions = {},
): Promise<CommandResult> {
  const { input, netns } = options;
  const [cmd, argv] = netns === undefined ? [file, args] : ['ip', ['netns', 'exec', netns, file, ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (err) => reject(new Error(`${commandLine(file, args, netns)}: cannot start: ${err.message}`)));
    child.on('close', (code) =>
      resolve({ stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString(), code }),
    );
    if (input !== undefined) {
      // A command that stops early makes the rest of the write fail with EPIPE; its exit status tells the story.
      child.stdin!.on('error', () => {});
      child.stdin!.end(input);
    }
  });
}

/** Runs a command and returns its stdout; a non-zero exit is an error naming the command and its stderr. */
export async function commandOutput(
  file: string,
  args: readonly string[],
  options: CommandOptions = {},
): Promise<string> {
  const result = await runCommand(file, args, options);
  if (result.code !== 0) {
    throw new Error(`${commandLine(file, args, options.netns)}: exit ${result.code}: ${result.stderr.trim()}`);
  }
  return result.stdout;
}
