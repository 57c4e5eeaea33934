// What the benchmark scripts and their helper processes share: clocks that line up across processes, a daemon's
// memory from /proc, option parsing, and the tables they print.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { performance } from 'node:perf_hooks';

/** Wall-clock milliseconds with sub-millisecond precision: comparable between processes on one machine. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/** Monotonic microseconds, for the CPU-profile windows. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** A process's resident set now and at its peak (VmRSS, VmHWM), in bytes. */
export function memoryOf(pid: number): { rss: number; peak: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

export function positiveInteger(flag: string, text: string): number {
  const n = Number(text.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag}: "${text}" is not a positive integer`);
  return n;
}

/** The middle value (the upper of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

export function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export function ratio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined ? 'n/a' : (a / b).toFixed(2);
}

export function machine(): string {
  const memory = execFileSync('free', ['-m'], { encoding: 'utf8' }).split('\n')[1]?.trim().split(/\s+/)[1];
  return `${os.cpus().length} vCPU (${os.cpus()[0]?.model.trim()}), ${memory} MB RAM, Linux ${os.release()}, Node.js ${process.version}`;
}

/** A helper process's event: one line on stdout, read by the benchmark that started it. */
export function report(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** A helper process's fatal error: one line on stderr naming the process, then exit 1. */
export function failAs(name: string, message: string): never {
  process.stderr.write(`${name}: ${message}\n`);
  process.exit(1);
}

/** Milliseconds since the epoch, to the microsecond: comparable with the same figure taken in another process. */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}
