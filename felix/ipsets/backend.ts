// How the ipset manager reaches the kernel. The ipset command (ipset-command.ts) is the default; tests give a fake.

/** `ipset restore` stopped at a line (or ipset failed before reading any). */
export class IpsetError extends Error {
  constructor(
    /** The command as run, e.g. `ipset -exist restore`. */
    readonly command: string,
    readonly stderr: string,
    /** Where a restore stopped: the 1-based line, its text and ipset's reason. */
    readonly failure?: { line: number; text: string; reason: string },
  ) {
    const where = failure ? `line ${failure.line} "${failure.text}": ${failure.reason}` : stderr.trim().slice(-2000);
    super(`${command}: ${where}`);
    this.name = 'IpsetError';
  }
}

export interface IpsetBackend {
  /** `ipset save`: every set of the network namespace, ours and foreign. */
  saveAll(): Promise<string>;
  /** `ipset list -name`. */
  listNames(): Promise<string[]>;
  /** `ipset save <name>`: one set. */
  save(name: string): Promise<string>;
  /**
   * One `ipset -exist restore` of `lines` (adding a present member or deleting an absent one is no error). Rejects
   * with an IpsetError naming the failing line; the lines before it may or may not have taken effect (ipset sends
   * adds and deletes in batches), so after a failure nothing about the sets written is known.
   */
  restore(lines: readonly string[]): Promise<void>;
}
