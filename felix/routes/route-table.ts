// The route manager for one kernel routing table and one owner (protocol number). Callers say which routes they want
// (the whole set, or one route at a time); apply() makes the kernel match by writing only the difference, in one
// batch. Routes of other protocols are never deleted; a route we want replaces whatever the kernel holds at the same
// (dst, metric), as felix does (its routes on its own devices win).

import { setImmediate } from 'node:timers/promises';
import type { RouteBackend } from './backend';
import { IpRouteBackend } from './ip-backend';
import { type CanonicalRoute, isRouteProtocol, type RouteSpec, tableNumber } from './route';
import { type BatchOutcome, RouteState } from './state';

/** How many operations apply() hands to the backend between turns of the event loop. */
const YIELD_EVERY_OPS = 4096;

export interface RouteTableOptions {
  /** Default main (254). */
  table?: number | 'main';
  /** The protocol of every route this table writes, and which marks routes in the kernel as ours. */
  protocol: number;
  /**
   * Further protocols whose routes in this table are ours too: read, rewritten with `protocol` when wanted, deleted
   * when not (e.g. a protocol number used before).
   */
  adoptProtocols?: readonly number[];
  /** A named network namespace to program instead of our own (tests). Ignored when `backend` is given. */
  netns?: string;
  /** Default: iproute2 (IpRouteBackend). */
  backend?: RouteBackend;
}

export interface ApplyResult extends BatchOutcome {
  /** Wall time of the apply. */
  ms: number;
  /** Of which reading the kernel (0 when the known state was used). */
  readMs: number;
  /** Of which diffing and handing the operations to the backend (which may be writing meanwhile). */
  diffMs: number;
  /** Of which waiting for the backend to finish the writes after that. */
  writeMs: number;
}

export class RouteTable {
  readonly table: number;
  readonly protocol: number;
  /** `protocol` and the adopted ones. */
  readonly ownedProtocols: ReadonlySet<number>;
  private readonly backend: RouteBackend;
  private readonly state: RouteState;
  /** Devices that came (back) up since the last apply: their routes may be gone from the kernel. */
  private changedDevices = new Set<string>();
  /** apply() and resync() run one at a time, in call order. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: RouteTableOptions) {
    this.table = tableNumber(opts.table);
    this.protocol = opts.protocol;
    this.ownedProtocols = new Set([opts.protocol, ...(opts.adoptProtocols ?? [])]);
    for (const protocol of this.ownedProtocols) {
      if (!isRouteProtocol(protocol)) throw new Error(`bad route protocol ${protocol}: expected 0 to 255`);
    }
    this.backend = opts.backend ?? new IpRouteBackend(opts.netns);
    this.state = new RouteState(this.protocol, this.ownedProtocols);
  }

  /** Replaces the whole desired set. Throws (changing nothing) on an invalid route or two routes to one dst. */
  setDesired(routes: Iterable<RouteSpec>): void {
    this.state.setDesired(routes);
  }

  /** Adds or changes the route to `route.dst`. */
  set(route: RouteSpec): void {
    this.state.set(route);
  }

  /** Stops wanting the route to `dst`; the next apply deletes ours there. */
  delete(dst: string): void {
    this.state.delete(dst);
  }

  /** The desired route to `dst`, canonical. */
  get(dst: string): CanonicalRoute | undefined {
    return this.state.get(dst);
  }

  /** Number of desired routes. */
  get size(): number {
    return this.state.size;
  }

  /**
   * The kernel removes a device's routes when the device goes down or away. Call this when it comes (back) up: the
   * next apply rewrites the desired routes through it instead of trusting that they are still there.
   */
  deviceChanged(dev: string): void {
    this.changedDevices.add(dev);
  }

  /** Makes the kernel match the desired routes: only the difference, in one batch. */
  apply(): Promise<ApplyResult> {
    return this.serially(() => this.applyNow());
  }

  /** Re-reads the kernel (our protocols only); the next apply repairs whatever drifted. */
  resync(): Promise<void> {
    return this.serially(() => this.readKernel());
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work);
    this.queue = result.catch(() => {});
    return result;
  }

  private async readKernel(): Promise<void> {
    const listings = await Promise.all([...this.ownedProtocols].map((p) => this.backend.list(this.table, p)));
    this.state.loadKernel(listings.flat());
  }

  private async applyNow(): Promise<ApplyResult> {
    const started = performance.now();
    if (!this.state.knowsKernel) await this.readKernel();
    const diffStarted = performance.now();
    // Taken here, with no write in flight, so an outcome being settled cannot bring the forgotten routes back.
    for (const dev of this.changedDevices) this.state.forgetDevice(dev);
    this.changedDevices.clear();

    const batch = this.backend.startBatch(this.table);
    let count = 0;
    for (const op of this.state.diff()) {
      batch.add(op);
      // Let the event loop run now and then: a backend writing to another process feeds it while the diff goes on,
      // and a million-route diff does not stall the process.
      if (++count % YIELD_EVERY_OPS === 0) await setImmediate();
    }
    const diffed = performance.now();
    let failures: Map<number, string>;
    try {
      failures = await batch.finish();
    } catch (err) {
      this.state.abandon();
      throw err;
    }
    const written = performance.now();
    return {
      ...this.state.settle(failures),
      ms: performance.now() - started,
      readMs: diffStarted - started,
      diffMs: diffed - diffStarted,
      writeMs: written - diffed,
    };
  }
}
