// RouteBackend on iproute2: one `ip -force -batch -` process per batch, fed through its stdin while the batch is
// still being built (ip works on the first lines while we format the rest), and one `ip -N -json route show` per
// listing.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { RouteBackend, RouteBatch } from './backend';
import type { RouteOp } from './diff';
import { formatOp, isAlreadyGone, isMissingTable, parseBatchErrors, parseRouteListing } from './ip-format';
import type { CanonicalRoute } from './route';

/** Batch text is handed to ip in pieces of about this many characters (a pipe holds 64 KiB). */
const CHUNK_CHARS = 64 * 1024;

interface IpExit {
  stderr: string;
  code: number | null;
}

interface IpProcess {
  child: ChildProcess;
  exit: Promise<IpExit>;
}

/**
 * Starts ip (with `ip -n <netns>` when given), collecting its stderr. `stdin`: a pipe to write to; `stdoutFd`: a
 * file to write its output to (else it is dropped).
 */
function startIp(netns: string | undefined, args: readonly string[], stdin: boolean, stdoutFd?: number): IpProcess {
  const argv = netns === undefined ? args : ['-n', netns, ...args];
  const child = spawn('ip', argv, { stdio: [stdin ? 'pipe' : 'ignore', stdoutFd ?? 'ignore', 'pipe'] });
  const exit = new Promise<IpExit>((resolve, reject) => {
    const stderr: Buffer[] = [];
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (err) => reject(new Error(`ip ${argv.join(' ')}: cannot start: ${err.message}`)));
    child.on('close', (code) => resolve({ stderr: Buffer.concat(stderr).toString(), code }));
  });
  // Whoever awaits `exit` sees a failure to start; this keeps it from counting as unhandled before then.
  exit.catch(() => {});
  // If ip dies early, writes to its stdin fail with EPIPE; its exit status tells the story.
  if (stdin) child.stdin!.on('error', () => {});
  return { child, exit };
}

export class IpRouteBackend implements RouteBackend {
  /** `netns`: a named network namespace (/var/run/netns) to work in, as `ip -n` does; default: our own. */
  constructor(private readonly netns?: string) {}

  async list(table: number, protocol: number): Promise<CanonicalRoute[]> {
    const args = ['-N', '-json', '-4', 'route', 'show', 'table', String(table), 'proto', String(protocol)];
    // ip writes the listing (megabytes for a big table) into an unlinked temporary file rather than a pipe: through
    // a pipe it stalls every 64 KiB until we have read, and on a busy machine each hand-over waits for a CPU.
    const file = path.join(os.tmpdir(), `tabby-routes-${process.pid}-${randomBytes(6).toString('hex')}`);
    const handle = await fs.open(file, 'wx+', 0o600);
    try {
      await fs.unlink(file);
      const result = await startIp(this.netns, args, false, handle.fd).exit;
      if (result.code !== 0) {
        if (isMissingTable(result.stderr)) return [];
        throw new Error(`ip ${args.join(' ')}: exited with code ${result.code}: ${result.stderr.trim()}`);
      }
      // ip moved the shared file offset to the end: read from the start explicitly.
      const { size } = await handle.stat();
      const listing = Buffer.allocUnsafe(size);
      const { bytesRead } = await handle.read(listing, 0, size, 0);
      if (bytesRead !== size) throw new Error(`ip ${args.join(' ')}: read ${bytesRead} of ${size} bytes of its output`);
      return parseRouteListing(listing.toString(), protocol);
    } finally {
      await handle.close();
    }
  }

  startBatch(table: number): RouteBatch {
    return new IpBatch(this.netns, table);
  }
}

class IpBatch implements RouteBatch {
  private readonly ops: RouteOp[] = [];
  private pending = '';
  /** Started with the first full chunk, or by finish(). */
  private ip: IpProcess | undefined;

  constructor(
    private readonly netns: string | undefined,
    private readonly table: number,
  ) {}

  add(op: RouteOp): void {
    this.ops.push(op);
    this.pending += formatOp(op, this.table);
    if (this.pending.length >= CHUNK_CHARS) this.flush();
  }

  async finish(): Promise<Map<number, string>> {
    if (this.ops.length === 0) return new Map();
    this.flush();
    const ip = this.ip!;
    ip.child.stdin!.end();
    const result = await ip.exit;
    const errorsByLine = parseBatchErrors(result.stderr);
    // ip exits 1 when some command failed; anything else with failures unexplained means it stopped partway
    // (e.g. killed, or a line it could not parse), and which lines ran is unknown.
    if (!(result.code === 0 || (result.code === 1 && errorsByLine.size > 0))) {
      throw new Error(`ip -force -batch: exited with code ${result.code}: ${result.stderr.trim().slice(-2000)}`);
    }
    const failures = new Map<number, string>();
    for (const [line, error] of errorsByLine) {
      const op = this.ops[line - 1];
      if (op === undefined) throw new Error(`ip -force -batch: error for line ${line} of ${this.ops.length}: ${error}`);
      if (!(op.kind === 'delete' && isAlreadyGone(error))) failures.set(line - 1, error);
    }
    return failures;
  }

  private flush(): void {
    this.ip ??= startIp(this.netns, ['-force', '-batch', '-'], true);
    // Not waiting for 'drain': what the pipe cannot take yet stays queued in this process.
    this.ip.child.stdin!.write(this.pending);
    this.pending = '';
  }
}
