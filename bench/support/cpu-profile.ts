// Where a V8 CPU profile (`node --cpu-prof`, a .cpuprofile file) spends its time: self time per function,
// largest first. Pure: the caller reads the file.

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

export interface CpuProfile {
  nodes: CpuProfileNode[];
  /** When profiling started, µs on the system's monotonic clock (the one process.hrtime reads). */
  startTime: number;
  /** The node sampled at each tick. */
  samples: number[];
  /** Microseconds since the previous sample, one per sample. */
  timeDeltas: number[];
}

export interface SelfTime {
  /** "name file:line", or V8's own "(garbage collector)", "(idle)", "(program)". */
  where: string;
  selfMs: number;
  /** Share of the time the process was not idle. */
  busyShare: number;
}

const IDLE = '(idle)';

function describe(frame: CpuProfileNode['callFrame']): string {
  const name = frame.functionName || '(anonymous)';
  if (!frame.url) return name;
  const file = frame.url.replace(/^file:\/\//, '').replace(/^.*\/dist\//, '');
  return `${name} ${file}:${frame.lineNumber + 1}`;
}

/** A stretch of the monotonic clock, in µs. */
export interface TimeWindow {
  fromUs: number;
  toUs: number;
}

/**
 * Self time per function (all nodes of one function added up), the `limit` largest, and the busy total; only
 * samples inside `window` when given (the feed, not the process's start-up).
 */
export function topSelfTime(
  profile: CpuProfile,
  limit: number,
  window?: TimeWindow,
): { busyMs: number; top: SelfTime[] } {
  const whereById = new Map(profile.nodes.map((node) => [node.id, describe(node.callFrame)]));
  const microseconds = new Map<string, number>();
  let sampledAt = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    sampledAt += delta;
    if (window && (sampledAt < window.fromUs || sampledAt > window.toUs)) continue;
    const where = whereById.get(profile.samples[i]) ?? '(unknown)';
    microseconds.set(where, (microseconds.get(where) ?? 0) + delta);
  }
  let busyUs = 0;
  for (const [where, us] of microseconds) if (where !== IDLE) busyUs += us;
  const top = [...microseconds]
    .filter(([where]) => where !== IDLE)
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([where, us]) => ({ where, selfMs: us / 1000, busyShare: busyUs > 0 ? us / busyUs : 0 }));
  return { busyMs: busyUs / 1000, top };
}
