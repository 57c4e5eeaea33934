// A node's address service: requests from concurrent callers (CNI ADDs and DELs through the node's socket,
// tunnel addresses) queue up while a batch is being committed and then go together as the next batch, so the
// number of etcd transactions grows with the number of blocks touched, not with the number of requests.
// Used inside tabby-node, and by the CNI plugin itself (a batch of one) where no tabby-node runs.
import {
  type Backend,
  type IPAMConfigurationSpec,
  isDatastoreError,
  type KindInfo,
  kindByAlias,
  type Resource,
  Syncer,
} from '../datastore';
import { type Assigned, type AssignRequest, DEFAULT_IPAM_CONFIG, IpamAllocator, type IpamConfig } from './allocator';
import { ATTR_NAMESPACE, ATTR_NODE, ATTR_POD, ATTR_TIMESTAMP, ATTR_TYPE } from './block';
import { choosePools, type Encapsulation, namespaceFromProfile, type PoolUse } from './pools';

/** What a caller asks for: one IPv4 address for a handle. */
export interface AddressRequest {
  handleId: string;
  namespace?: string;
  pod?: string;
  /** The pod's annotations (ipv4pools, ipAddrs), where the caller has them. */
  podAnnotations?: Record<string, string>;
  /** The CNI config's `ipam.ipv4_pools`. */
  configuredPools?: string[];
  /** Workload (default) or Tunnel. */
  use?: PoolUse;
  /** More attributes to record with the allocation (e.g. `type` for tunnel addresses). */
  attrs?: Record<string, string>;
  /** Only from pools with this encapsulation (tunnel addresses). */
  encapsulation?: Encapsulation;
}

/** The handle and request of a node's tunnel address, as Calico names them (node/pkg/allocateip). */
export function tunnelAddressRequest(node: string, encapsulation: Encapsulation): AddressRequest {
  return {
    handleId: `${encapsulation}-tunnel-addr-${node}`,
    use: 'Tunnel',
    encapsulation,
    attrs: { [ATTR_TYPE]: encapsulation === 'ipip' ? 'ipipTunnelAddress' : 'vxlanTunnelAddress' },
  };
}

/** How long a busy service waits for more requests before starting its next batch. */
const COALESCE_MS = 1;

/** The one IPAMConfiguration a cluster has. */
export const IPAM_CONFIG_NAME = 'default';

interface Waiting<Req, Res> {
  request: Req;
  resolve(value: Res): void;
  reject(err: Error): void;
}

function kind(name: string): KindInfo {
  return kindByAlias(name)!;
}

export class IpamService {
  readonly allocator: IpamAllocator;
  private assigns: Waiting<AddressRequest, Assigned>[] = [];
  private releases: Waiting<string, string[]>[] = [];
  private draining = false;
  private contextSyncer: Syncer | undefined;
  private cachedContext: Map<string, Resource> | undefined;
  /** Counters for status and benchmarks: batches committed and requests they carried. */
  readonly stats = { batches: 0, requests: 0 };

  constructor(
    private readonly backend: Backend,
    readonly node: string,
  ) {
    this.allocator = new IpamAllocator(backend, node);
  }

  assign(request: AddressRequest): Promise<Assigned> {
    return new Promise((resolve, reject) => {
      this.assigns.push({ request, resolve, reject });
      this.kick();
    });
  }

  /** Releases a handle's addresses; an unknown handle releases nothing and succeeds (CNI DEL is idempotent). */
  release(handleId: string): Promise<string[]> {
    return new Promise((resolve, reject) => {
      this.releases.push({ request: handleId, resolve, reject });
      this.kick();
    });
  }

  addressesOf(handleId: string): Promise<string[]> {
    return this.allocator.addressesOf(handleId);
  }

  private kick(): void {
    if (this.draining) return;
    this.draining = true;
    void this.drain().finally(() => {
      this.draining = false;
      if (this.assigns.length > 0 || this.releases.length > 0) this.kick();
    });
  }

  private async drain(): Promise<void> {
    let previous = 0;
    while (this.assigns.length > 0 || this.releases.length > 0) {
      // Under concurrency, callers answered by the last batch come back within a millisecond or so: waiting
      // that long lets them join this batch instead of splitting the callers into two alternating halves.
      if (previous > 1) await new Promise((r) => setTimeout(r, COALESCE_MS));
      const assigns = this.assigns;
      const releases = this.releases;
      this.assigns = [];
      this.releases = [];
      this.stats.batches++;
      this.stats.requests += assigns.length + releases.length;
      previous = assigns.length + releases.length;
      await Promise.all([this.assignBatch(assigns), this.releaseBatch(releases)]);
    }
  }

  private async releaseBatch(batch: Waiting<string, string[]>[]): Promise<void> {
    if (batch.length === 0) return;
    try {
      const results = await this.allocator.releaseHandles(batch.map((w) => w.request));
      for (const w of batch) {
        const r = results.get(w.request)!;
        if (r.ok) w.resolve(r.value);
        else w.reject(r.error);
      }
    } catch (err) {
      for (const w of batch) w.reject(err as Error);
    }
  }

  private async assignBatch(batch: Waiting<AddressRequest, Assigned>[]): Promise<void> {
    if (batch.length === 0) return;
    try {
      const { pools, config, nodeLabels, profiles } = await this.loadContext(batch.map((w) => w.request));
      const accepted: { waiting: Waiting<AddressRequest, Assigned>; request: AssignRequest }[] = [];
      const timestamp = new Date().toISOString();
      for (const w of batch) {
        const r = w.request;
        try {
          const choice = choosePools({
            pools,
            node: { name: this.node, labels: nodeLabels },
            ...(r.namespace !== undefined
              ? { namespace: namespaceFromProfile(r.namespace, profiles.get(r.namespace)) }
              : {}),
            ...(r.podAnnotations ? { podAnnotations: r.podAnnotations } : {}),
            ...(r.configuredPools ? { configuredPools: r.configuredPools } : {}),
            use: r.use ?? 'Workload',
            ...(r.encapsulation ? { encapsulation: r.encapsulation } : {}),
          });
          const attrs: Record<string, string> = { [ATTR_NODE]: this.node, [ATTR_TIMESTAMP]: timestamp };
          if (r.namespace !== undefined) attrs[ATTR_NAMESPACE] = r.namespace;
          if (r.pod !== undefined) attrs[ATTR_POD] = r.pod;
          Object.assign(attrs, r.attrs);
          // ipAddrs may name several addresses; one request takes the first (a pod has one IPv4 address).
          const address = choice.addresses?.[0];
          accepted.push({
            waiting: w,
            request: {
              handleId: r.handleId,
              attrs,
              pools: address === undefined ? choice.pools : [choice.pools[0]!],
              ...(address !== undefined ? { address } : {}),
            },
          });
        } catch (err) {
          w.reject(err as Error);
        }
      }
      const outcomes = await this.allocator.assign(
        accepted.map((a) => a.request),
        config,
      );
      outcomes.forEach((o, i) => {
        const { waiting } = accepted[i]!;
        if (o.ok) waiting.resolve(o.value);
        else waiting.reject(o.error);
      });
    } catch (err) {
      for (const w of batch) w.reject(err as Error);
    }
  }

  /**
   * Keeps what pool selection reads (pools, IPAMConfiguration, Nodes, namespace Profiles) current from a
   * syncer, so a batch needs no reads before its commit. Until the syncer is in sync, and without it (the CNI
   * plugin's direct path), every batch reads them.
   */
  watchContext(): void {
    if (this.contextSyncer) return;
    const cache = new Map<string, Resource>();
    const keyOf = (r: Resource) => `${r.kind}/${r.metadata.name}`;
    this.contextSyncer = new Syncer(
      this.backend,
      {
        onUpdates: (updates) => {
          for (const u of updates) {
            if (u.type === 'DELETED') cache.delete(keyOf(u.object));
            else cache.set(keyOf(u.object), u.object);
          }
        },
        onStatus: (status) => {
          this.cachedContext = status === 'in-sync' ? cache : undefined;
        },
      },
      { kinds: ['ippool', 'ipamconfiguration', 'node', 'profile'].map(kind) },
    );
    this.contextSyncer.start();
  }

  stop(): void {
    this.contextSyncer?.stop();
    this.contextSyncer = undefined;
    this.cachedContext = undefined;
  }

  /** What pool selection needs: from the watched cache, or read once per batch. */
  private async loadContext(requests: readonly AddressRequest[]) {
    const cached = this.cachedContext;
    if (cached) {
      const profiles = new Map<string, Resource>();
      for (const r of requests) {
        const p = r.namespace === undefined ? undefined : cached.get(`Profile/kns.${r.namespace}`);
        if (p) profiles.set(r.namespace!, p);
      }
      return {
        pools: [...cached.values()].filter((r) => r.kind === 'IPPool'),
        config: ipamConfigOf(cached.get(`IPAMConfiguration/${IPAM_CONFIG_NAME}`)),
        nodeLabels: cached.get(`Node/${this.node}`)?.metadata.labels ?? {},
        profiles,
      };
    }
    const namespaces = [...new Set(requests.map((r) => r.namespace).filter((n): n is string => n !== undefined))];
    const [pools, configDoc, nodeDoc, ...profileDocs] = await Promise.all([
      this.backend.list(kind('ippool')).then((l) => l.items),
      this.getIfPresent(kind('ipamconfiguration'), IPAM_CONFIG_NAME),
      this.getIfPresent(kind('node'), this.node),
      ...namespaces.map((ns) => this.getIfPresent(kind('profile'), `kns.${ns}`)),
    ]);
    const profiles = new Map<string, Resource>();
    namespaces.forEach((ns, i) => {
      const p = profileDocs[i];
      if (p) profiles.set(ns, p);
    });
    return { pools, config: ipamConfigOf(configDoc), nodeLabels: nodeDoc?.metadata.labels ?? {}, profiles };
  }

  private async getIfPresent(k: KindInfo, name: string): Promise<Resource | undefined> {
    try {
      return await this.backend.get(k, name);
    } catch (err) {
      if (isDatastoreError(err, 'NotFound')) return undefined;
      throw err;
    }
  }
}

/** The IPAMConfiguration "default" as allocator settings; Calico's defaults when there is none. */
export function ipamConfigOf(doc: Resource | undefined): IpamConfig {
  const spec = (doc?.spec ?? {}) as Partial<IPAMConfigurationSpec>;
  return {
    strictAffinity: spec.strictAffinity ?? DEFAULT_IPAM_CONFIG.strictAffinity,
    maxBlocksPerHost: spec.maxBlocksPerHost ?? DEFAULT_IPAM_CONFIG.maxBlocksPerHost,
    autoAllocateBlocks: spec.autoAllocateBlocks ?? DEFAULT_IPAM_CONFIG.autoAllocateBlocks,
  };
}
