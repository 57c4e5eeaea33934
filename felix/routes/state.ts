// The bookkeeping of one route table, per destination: the route we want, the routes the kernel holds (as far as we
// know), and which destinations may differ. Pure: the route table feeds it the kernel's listing and the outcome of
// each batch. One record per destination keeps a big apply cheap: a diff or an outcome needs no map lookups.

import { diffDestination, type RouteOp } from './diff';
import {
  type CanonicalRoute,
  canonicalDestination,
  canonicalRoute,
  type RouteSpec,
  sameRoute,
  specMatches,
} from './route';

interface Destination {
  readonly dst: string;
  want: CanonicalRoute | undefined;
  /** The kernel's route here; `more` holds the rare further ones (other metrics, appended routes). */
  have: CanonicalRoute | undefined;
  more: CanonicalRoute[] | undefined;
  /** Queued for the next diff. */
  dirty: boolean;
  /** The setDesired call that last named it, and the route it named. */
  named: number;
  next: CanonicalRoute | undefined;
}

export interface RouteFailure {
  dst: string;
  error: string;
}

export interface BatchOutcome {
  /** Routes written where none of ours was (possibly taking over a foreign route at the same key). */
  added: number;
  /** Routes of ours rewritten because they differed. */
  replaced: number;
  deleted: number;
  /** Each failed operation; its destination is compared again at the next diff (e.g. a device that did not exist). */
  failed: RouteFailure[];
}

export class RouteState {
  private readonly destinations = new Map<string, Destination>();
  /** Destinations that may differ; unused while `everything` is set. */
  private dirty: Destination[] = [];
  /** The next diff compares every destination. */
  private everything = true;
  private kernelKnown = false;
  private wantedCount = 0;
  private generation = 0;
  /** The operations of the last diff and the destination of each, until settled. */
  private inFlight: { ops: RouteOp[]; at: Destination[] } | undefined;

  /** `protocol`: the one every wanted route has; `owned`: protocols whose kernel routes are ours to change. */
  constructor(
    readonly protocol: number,
    readonly owned: ReadonlySet<number>,
  ) {}

  /** Number of wanted routes. */
  get size(): number {
    return this.wantedCount;
  }

  /** False until loadKernel, and after abandon: a diff needs to know what the kernel holds. */
  get knowsKernel(): boolean {
    return this.kernelKnown;
  }

  /** Replaces the whole wanted set. Throws (changing nothing) on an invalid route or two routes to one dst. */
  setDesired(specs: Iterable<RouteSpec>): void {
    const generation = ++this.generation;
    // Validate everything before changing anything: the routes wait in `next` until all are known good. Mostly they
    // are the same as last time: recognising them is cheaper than validating them again.
    for (const spec of specs) {
      this.checkProtocol(spec);
      let destination = this.destinations.get(spec.dst);
      let route: CanonicalRoute;
      if (destination?.want !== undefined && specMatches(spec, destination.want)) {
        route = destination.want;
      } else {
        route = canonicalRoute(spec, this.protocol);
        if (route.dst !== spec.dst) destination = this.destinations.get(route.dst);
        // An empty record left behind if this call throws is harmless: the next full diff drops it.
        destination ??= this.create(route.dst);
      }
      if (destination.named === generation) throw new Error(`route ${route.dst}: given twice`);
      destination.named = generation;
      destination.next = route;
    }
    for (const destination of this.destinations.values()) {
      this.want(destination, destination.named === generation ? destination.next : undefined);
      destination.next = undefined;
    }
  }

  /** Wants `spec` at its destination, instead of whatever was wanted there. */
  set(spec: RouteSpec): void {
    this.checkProtocol(spec);
    const route = canonicalRoute(spec, this.protocol);
    this.want(this.destinations.get(route.dst) ?? this.create(route.dst), route);
  }

  /** Wants nothing at `dst`. */
  delete(dst: string): void {
    const destination = this.destinations.get(canonicalDestination(dst));
    if (destination) this.want(destination, undefined);
  }

  /** The wanted route to `dst`. */
  get(dst: string): CanonicalRoute | undefined {
    return this.destinations.get(canonicalDestination(dst))?.want;
  }

  /** Takes `routes` as everything the kernel holds of our protocols; the next diff compares every destination. */
  loadKernel(routes: Iterable<CanonicalRoute>): void {
    for (const destination of this.destinations.values()) {
      destination.have = undefined;
      destination.more = undefined;
    }
    for (const route of routes) this.addHave(this.destinations.get(route.dst) ?? this.create(route.dst), route);
    this.kernelKnown = true;
    this.everything = true;
    this.dirty = [];
  }

  /** Forgets the kernel's routes through `dev` (gone with the device going down): the next diff rewrites them. */
  forgetDevice(dev: string): void {
    for (const destination of this.destinations.values()) {
      if (destination.want?.dev === dev) this.mark(destination);
      if (this.kernelRoutes(destination).some((route) => route.dev === dev)) {
        this.removeHave(destination, (route) => route.dev === dev);
        this.mark(destination);
      }
    }
  }

  /**
   * The operations that make the kernel match, destination by destination (the order only matters within one:
   * diffDestination's), over the queued destinations or all of them. Each must be settled (or abandoned) before the
   * next diff.
   */
  *diff(): Generator<RouteOp, void, undefined> {
    if (!this.kernelKnown) throw new Error('route state: diff before the kernel was read');
    const ops: RouteOp[] = [];
    const at: Destination[] = [];
    this.inFlight = { ops, at };
    const targets = this.everything ? this.destinations.values() : this.dirty;
    this.everything = false;
    this.dirty = [];
    for (const destination of targets) {
      destination.dirty = false;
      const { want, have, more } = destination;
      // The common cases without diffDestination's allocations: nothing in the kernel yet, or ours already right.
      if (more === undefined && want !== undefined && (have === undefined || sameRoute(have, want))) {
        if (have !== undefined) continue;
        const op: RouteOp = { kind: 'replace', route: want, previous: undefined };
        ops.push(op);
        at.push(destination);
        yield op;
        continue;
      }
      for (const op of diffDestination(want, this.kernelRoutes(destination), this.owned)) {
        ops.push(op);
        at.push(destination);
        yield op;
      }
      this.dropIfEmpty(destination);
    }
  }

  /** Records the outcome of the last diff's operations: `failures` holds the error of each that failed, by index. */
  settle(failures: ReadonlyMap<number, string>): BatchOutcome {
    const outcome: BatchOutcome = { added: 0, replaced: 0, deleted: 0, failed: [] };
    if (!this.inFlight) return outcome;
    const { ops, at } = this.inFlight;
    this.inFlight = undefined;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      const destination = at[i];
      const error = failures.get(i);
      if (error !== undefined) {
        outcome.failed.push({ dst: destination.dst, error });
        this.mark(destination);
      } else if (op.kind === 'delete') {
        this.removeHave(destination, (route) => route === op.route);
        outcome.deleted++;
        this.dropIfEmpty(destination);
      } else {
        this.replaceHave(destination, op.route);
        if (op.previous === undefined) outcome.added++;
        else outcome.replaced++;
      }
    }
    return outcome;
  }

  /** The last diff's operations may or may not have taken effect: nothing is known about the kernel any more. */
  abandon(): void {
    this.inFlight = undefined;
    this.kernelKnown = false;
    this.everything = true;
  }

  private checkProtocol(spec: RouteSpec): void {
    if (spec.protocol !== undefined && spec.protocol !== this.protocol) {
      throw new Error(`route ${spec.dst}: protocol ${spec.protocol} is not this table's (${this.protocol})`);
    }
  }

  private create(dst: string): Destination {
    const destination: Destination = {
      dst,
      want: undefined,
      have: undefined,
      more: undefined,
      dirty: false,
      named: 0,
      next: undefined,
    };
    this.destinations.set(dst, destination);
    return destination;
  }

  private want(destination: Destination, route: CanonicalRoute | undefined): void {
    const current = destination.want;
    if (current === route || (current !== undefined && route !== undefined && sameRoute(current, route))) return;
    if (current === undefined) this.wantedCount++;
    else if (route === undefined) this.wantedCount--;
    destination.want = route;
    this.mark(destination);
  }

  private mark(destination: Destination): void {
    if (this.everything || destination.dirty) return;
    destination.dirty = true;
    this.dirty.push(destination);
  }

  /** Removes a record that holds nothing and is not queued (a queued one may be wanted again meanwhile). */
  private dropIfEmpty(destination: Destination): void {
    if (destination.want || destination.have || destination.dirty) return;
    if (this.destinations.get(destination.dst) === destination) this.destinations.delete(destination.dst);
  }

  private kernelRoutes(destination: Destination): CanonicalRoute[] {
    if (destination.have === undefined) return [];
    return destination.more ? [destination.have, ...destination.more] : [destination.have];
  }

  private addHave(destination: Destination, route: CanonicalRoute): void {
    if (destination.have === undefined) destination.have = route;
    else if (destination.more) destination.more.push(route);
    else destination.more = [route];
  }

  private removeHave(destination: Destination, match: (route: CanonicalRoute) => boolean): void {
    const kept = this.kernelRoutes(destination).filter((route) => !match(route));
    destination.have = kept[0];
    destination.more = kept.length > 1 ? kept.slice(1) : undefined;
  }

  /** A replace succeeded: the route is now the kernel's at its (dst, metric), whoever's was there before. */
  private replaceHave(destination: Destination, route: CanonicalRoute): void {
    if (
      destination.more === undefined &&
      (destination.have === undefined || destination.have.metric === route.metric)
    ) {
      destination.have = route;
      return;
    }
    this.removeHave(destination, (existing) => existing.metric === route.metric);
    this.addHave(destination, route);
  }
}
