// Installs the speaker's best BGP routes into the kernel through felix's route table, tagged with the BGP route
// protocol so nothing else of ours or anyone's is touched. Changes are coalesced and applied in batches.
import { BGP_ROUTE_PROTOCOL, IpRouteBackend, MAIN_TABLE, ROUTE_RESYNC_INTERVAL_MS, RouteTable } from '../felix/routes';
import { formatIpv4Prefix, parseIpv4Prefix } from './packet';
import type { Ipv4PrefixKey } from './packet/types';
import type { BestPathChanges, Path } from './rib';

/**
 * BIRD's default kernel metric. A learned route never replaces a route of the same prefix that the kernel or an
 * operator put there with the usual metric 0 (say, the connected subnet a peer also announces): both exist and
 * the lower metric wins.
 */
export const BGP_ROUTE_METRIC = 32;

/** How long best-path changes are collected before one apply: a burst of UPDATEs becomes one `ip -batch`. */
const BATCH_DELAY_MS = 20;

export interface KernelExportOptions {
  table: number | 'main';
  onError?(message: string): void;
}

export class KernelExport {
  private readonly routes: RouteTable;
  private timer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private holdDeletes = false;
  /** Prefixes whose routes go away once deferral ends (kept meanwhile, like a restarting BIRD). */
  private readonly deferredDeletes = new Set<Ipv4PrefixKey>();

  constructor(private readonly options: KernelExportOptions) {
    this.routes = new RouteTable({
      table: options.table,
      protocol: BGP_ROUTE_PROTOCOL,
    });
  }

  /**
   * Learns what an earlier run left in the kernel and keeps it: these routes stay until the peers have resent
   * their tables (our graceful restart, RFC 4724), so forwarding never stops. Returns how many there were.
   */
  async start(): Promise<number> {
    const table = this.options.table === 'main' ? MAIN_TABLE : this.options.table;
    const left = await new IpRouteBackend().list(table, BGP_ROUTE_PROTOCOL);
    for (const route of left) {
      this.routes.set(route);
      this.deferredDeletes.add(parseIpv4Prefix(route.dst));
    }
    this.holdDeletes = left.length > 0;
    await this.routes.resync();
    // Drift repair, as felix does: someone deleting or changing one of our routes gets it back within a period,
    // and a route that failed (next hop not yet reachable) is tried again.
    this.resyncTimer = setInterval(() => {
      void this.routes.resync().then(
        () => this.schedule(),
        (err: Error) => this.options.onError?.(`kernel routes: ${err.message}`),
      );
    }, ROUTE_RESYNC_INTERVAL_MS);
    this.resyncTimer.unref();
    return left.length;
  }

  /** Selection deferral is over: routes not relearned since the restart are removed. */
  endDeferral(): void {
    this.holdDeletes = false;
    for (const key of this.deferredDeletes) this.routes.delete(formatIpv4Prefix(key));
    this.deferredDeletes.clear();
    this.schedule();
  }

  take(changes: BestPathChanges<Ipv4PrefixKey>): void {
    if (changes.length === 0) return;
    changes.forEach((prefix, best) => {
      const via = best ? nextHopOf(best) : undefined;
      if (via !== undefined) {
        this.deferredDeletes.delete(prefix);
        // The kernel resolves the next hop's device; a next hop it cannot reach fails that route alone at apply.
        try {
          this.routes.set({ dst: formatIpv4Prefix(prefix), via, metric: BGP_ROUTE_METRIC });
        } catch (err) {
          this.options.onError?.(`kernel route ${formatIpv4Prefix(prefix)}: ${(err as Error).message}`);
        }
      } else if (this.holdDeletes) {
        this.deferredDeletes.add(prefix);
      } else {
        this.routes.delete(formatIpv4Prefix(prefix));
      }
    });
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.routes.apply().then(
        (result) => {
          for (const f of result.failed) this.options.onError?.(`kernel route ${f.dst}: ${f.error}`);
        },
        (err: Error) => this.options.onError?.(`kernel routes: ${err.message}`),
      );
    }, BATCH_DELAY_MS);
  }

  async stop(): Promise<void> {
    clearInterval(this.resyncTimer);
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** Learned routes go to their NEXT_HOP; our own (locally originated) ones are not BGP's to install. */
function nextHopOf(path: Path): string | undefined {
  if (path.peer.local) return undefined;
  return path.attrs.attributes.nextHop;
}
