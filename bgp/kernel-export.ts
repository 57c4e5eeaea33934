// Installs the speaker's best BGP routes into the kernel through felix's route table, tagged with the BGP route
// protocol so nothing else of ours or anyone's is touched. Changes are coalesced and applied in batches.
import { BGP_ROUTE_PROTOCOL, IpRouteBackend, MAIN_TABLE, RouteTable } from '../felix/routes';
import { formatIpv4Prefix, parseIpv4Prefix } from './packet';
import type { Ipv4PrefixKey } from './packet/types';
import type { BestPathChanges, Path } from './rib';

/**
 * BIRD's default kernel metric. A learned route never replaces a route of the same prefix that the kernel or an
 * operator put there with the usual metric 0 (say, the connected subnet a peer also announces): both exist and
 * the lower metric wins.
 */
export const BGP_ROUTE_METRIC = 32;

export interface KernelExportOptions {
  table: number | 'main';
  /** Program another network namespace (tests). */
  netns?: string;
  /** How long changes are collected before one apply. */
  batchDelayMs?: number;
  onError?(message: string): void;
}

export class KernelExport {
  private readonly routes: RouteTable;
  private timer: NodeJS.Timeout | undefined;
  private holdDeletes = false;
  /** Prefixes whose routes go away once deferral ends (kept meanwhile, like a restarting BIRD). */
  private readonly deferredDeletes = new Set<Ipv4PrefixKey>();
  installed = 0;

  constructor(private readonly options: KernelExportOptions) {
    this.routes = new RouteTable({
      table: options.table,
      protocol: BGP_ROUTE_PROTOCOL,
      ...(options.netns ? { netns: options.netns } : {}),
    });
  }

  /**
   * Learns what an earlier run left in the kernel and keeps it: these routes stay until the peers have resent
   * their tables (our graceful restart, RFC 4724), so forwarding never stops. Returns how many there were.
   */
  async start(): Promise<number> {
    const table = this.options.table === 'main' ? MAIN_TABLE : this.options.table;
    const left = await new IpRouteBackend(this.options.netns).list(table, BGP_ROUTE_PROTOCOL);
    for (const route of left) {
      this.routes.set(route);
      this.deferredDeletes.add(parseIpv4Prefix(route.dst));
    }
    this.holdDeletes = left.length > 0;
    await this.routes.resync();
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
          this.installed += result.added - result.deleted;
          for (const f of result.failed) this.options.onError?.(`kernel route ${f.dst}: ${f.error}`);
        },
        (err: Error) => this.options.onError?.(`kernel routes: ${err.message}`),
      );
    }, this.options.batchDelayMs ?? 20);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** Learned routes go to their NEXT_HOP; our own (locally originated) ones are not BGP's to install. */
function nextHopOf(path: Path): string | undefined {
  if (path.peer.local) return undefined;
  return path.attrs.attributes.nextHop;
}
