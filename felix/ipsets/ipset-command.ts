// IpsetBackend on the ipset command: one process per listing or transaction, inside a named network namespace
// (`ip netns exec`) when asked.
import { type CommandRunner, commandLine, commandRunner } from '../command';
import { type IpsetBackend, IpsetError } from './backend';
import { parseIpsetNames, parseRestoreError } from './save-format';

export class IpsetCommandBackend implements IpsetBackend {
  private readonly run: CommandRunner;

  /** `netns`: a named network namespace (/var/run/netns) to work in; default: our own. */
  constructor(private readonly netns?: string) {
    this.run = commandRunner(netns);
  }

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
    const result = await this.run('ipset', args, `${lines.join('\n')}\n`);
    if (result.code === 0) return;
    const failure = parseRestoreError(result.stderr);
    const text = failure === undefined ? undefined : lines[failure.line - 1];
    throw new IpsetError(
      commandLine('ipset', args, this.netns),
      result.stderr,
      failure === undefined || text === undefined ? undefined : { ...failure, text },
    );
  }

  private async output(args: string[]): Promise<string> {
    const result = await this.run('ipset', args);
    if (result.code !== 0) throw new IpsetError(commandLine('ipset', args, this.netns), result.stderr);
    return result.stdout;
  }
}
