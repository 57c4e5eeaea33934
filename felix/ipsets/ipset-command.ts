// IpsetBackend on the ipset command: one process per listing or transaction, inside a named network namespace
// (`ip netns exec`) when asked.
import { spawn } from 'node:child_process';
import { type IpsetBackend, IpsetError } from './backend';
import { parseIpsetNames, parseRestoreError } from './save-format';

interface IpsetExit {
  stdout: string;
  stderr: string;
  code: number | null;
}

export class IpsetCommandBackend implements IpsetBackend {
  /** `netns`: a named network namespace (/var/run/netns) to work in; default: our own. */
  constructor(private readonly netns?: string) {}

  saveAll(): Promise<string> {
    return this.output(['save']);
  }

  async listNames(): Promise<string[]> {
    return parseIpsetNames(await this.output(['list', '-name']));
  }

  save(name: string): Promise<string> {
    return this.output(['save', name]);
  }

  async restore(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    const args = ['-exist', 'restore'];
    const result = await this.run(args, lines.join('\n') + '\n');
    if (result.code === 0) return;
    const failure = parseRestoreError(result.stderr);
    const text = failure === undefined ? undefined : lines[failure.line - 1];
    throw new IpsetError(
      this.commandLine(args),
      result.stderr,
      failure === undefined || text === undefined ? undefined : { ...failure, text },
    );
  }

  private async output(args: string[]): Promise<string> {
    const result = await this.run(args);
    if (result.code !== 0) throw new IpsetError(this.commandLine(args), result.stderr);
    return result.stdout;
  }

  private commandLine(args: readonly string[]): string {
    const prefix = this.netns === undefined ? '' : `ip netns exec ${this.netns} `;
    return `${prefix}ipset ${args.join(' ')}`;
  }

  private run(args: readonly string[], input?: string): Promise<IpsetExit> {
    const [file, argv] =
      this.netns === undefined ? ['ipset', args] : ['ip', ['netns', 'exec', this.netns, 'ipset', ...args]];
    return new Promise((resolve, reject) => {
      const child = spawn(file, argv, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
      child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
      child.on('error', (err) => reject(new Error(`${this.commandLine(args)}: cannot start: ${err.message}`)));
      child.on('close', (code) =>
        resolve({ stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString(), code }),
      );
      if (input !== undefined) {
        // If ipset stops early, writing the rest fails with EPIPE; its exit status and stderr tell the story.
        child.stdin!.on('error', () => {});
        child.stdin!.end(input);
      }
    });
  }
}
