// Felix: follows the datastore (resources through a Syncer, IPAM blocks through a KvSyncer), recomputes the
// desired dataplane whenever something it reads changes, and has each manager make the kernel match: routes,
// permanent neighbours, interface sysctls, the VXLAN device. Changes arriving while an apply runs are folded
// into the next one. Every refresh interval the managers re-read the kernel and repair what drifted.
import { type Backend, KvSyncer, kindByAlias, Syncer, type SyncStatus } from '../datastore';
import { IPAM_PREFIX } from '../ipam';
import { computeDataplane, type DesiredDataplane, IPIP_DEVICE, VXLAN_DEVICE } from './calc/dataplane';
import { applyIpamUpdates, applyResourceUpdates, emptyInputs, FELIX_KINDS } from './calc/inputs';
import { type LocalWorkload, PolicyCalculation } from './calc/policy';
import { type FelixSettings, felixSettings } from './config';
import { InterfaceManager } from './interfaces';
import { IpipDevice } from './ipip-device';
import { IpSetManager, type IpSetSpec } from './ipsets';
import { detectBackend, IptablesTable, type TableName } from './iptables';
import { NeighborManager } from './neighbors';
import { FELIX_ROUTE_PROTOCOL, RouteTable } from './routes';
import { RenderMemo, renderBaseRules } from './rules';
import { PolicyRenderMemo, policyRulesInput } from './rules/policy';
import { UnchangedInput } from './unchanged';
import { VxlanDevice } from './vxlan';

export interface FelixOptions {
  nodeName: string;
  /** The node's run dir: where the userspace IPIP datapath process keeps its control socket and log. */
  runDir?: string;
  log?(line: string): void;
  /** Told the desired dataplane after each computation (tabby-node hands local blocks to BGP). */
  onDesired?(desired: DesiredDataplane): void;
}

export interface FelixStatus {
  inSync: boolean;
  endpoints: number;
  policies: number;
  lastApplyMs: number;
  /** When the last apply ended, in ms since the epoch (0: none yet): how fresh the dataplane is. */
  lastApplyAt: number;
  /** Problems of the last apply (a device missing, a command failing), empty when all went through. */
  problems: string[];
  /** Applies run, and kernel writes made (routes, neighbours, sysctls, iptables and ipset lines): a steady state adds none. */
  applies: number;
  writes: number;
}

const RETRY_MS = 1000;
/** The tunnel devices are re-checked this often even when nothing changed: the userspace IPIP daemon may have died. */
const TUNNEL_RECHECK_MS = 10_000;
/**
 * Applies are throttled as Calico's felix throttles them, to about 10 a second: a token bucket of APPLY_BURST
 * applies, one more every APPLY_INTERVAL_MS. Changes that come one at a time are applied at once; those of a burst
 * (many pods starting together) are gathered into fewer applies, each of which renders and diffs every table,
 * instead of one back-to-back apply per endpoint competing with the pods' own set-up for the CPU.
 */
const APPLY_BURST = 5;
const APPLY_INTERVAL_MS = 100;

export class Felix {
  private readonly inputs = emptyInputs();
  private readonly resourceSyncer: Syncer;
  private readonly ipamSyncer: KvSyncer;
  private readonly routes = new RouteTable({ protocol: FELIX_ROUTE_PROTOCOL });
  private readonly neighbors: NeighborManager;
  private readonly interfaces: InterfaceManager;
  private readonly vxlan = new VxlanDevice();
  private readonly ipip: IpipDevice;
  /** The tunnel devices and neighbours are read back and written only when their input changed (or at a resync). */
  private readonly tunnelsApplied = new UnchangedInput(TUNNEL_RECHECK_MS);
  private readonly neighborsApplied = new UnchangedInput();
  /** Created at the first apply, with the refresh interval FelixConfiguration gives. */
  private ipsets: IpSetManager | undefined;
  /** Each set as last handed to the ipset manager (the ones no longer rendered are removed). */
  private ipSetsGiven = new Map<string, IpSetSpec>();
  private readonly policyCalculation = new PolicyCalculation();
  private readonly policyRenderMemo = new PolicyRenderMemo();
  /** What was last logged as not enforced. */
  private notEnforced = '';
  private readonly baseRenderMemo = new RenderMemo();
  private readonly workloadLists = new WeakMap<DesiredDataplane, { locals: LocalWorkload[]; interfaces: string[] }>();
  /** Created at the first apply, once the iptables backend (legacy or nft) is detected. */
  private tables: IptablesTable[] | undefined;
  private settings: FelixSettings;
  private syncStatus: { resources: SyncStatus; ipam: SyncStatus } = {
    resources: 'wait-for-datastore',
    ipam: 'wait-for-datastore',
  };
  private desired: DesiredDataplane | undefined;
  private applying = false;
  private dirty = false;
  /** Something beyond policy changed since the last apply (or it failed): the next apply does everything. */
  private dataplaneDirty = true;
  private applyTokens = APPLY_BURST;
  private applyTokensAt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private resyncIntervalMs = 0;
  private stopped = false;
  private lastApplyMs = 0;
  private lastApplyAt = 0;
  private problems: string[] = [];
  /** Problems of the last apply of routes, neighbours, devices and sysctls (kept by applies of policy alone). */
  private dataplaneProblems: string[] = [];
  private applied = false;
  private applies = 0;
  /** Policies that select a local endpoint, as of the last apply. */
  private policyCount = 0;
  private routeWrites = 0;
  /** Lines of iptables-restore and ipset restore input written. */
  private ruleWrites = 0;

  constructor(
    backend: Backend,
    private readonly options: FelixOptions,
  ) {
    this.settings = felixSettings([], options.nodeName);
    this.ipip = new IpipDevice(options.runDir);
    const log = (line: string) => options.log?.(line);
    this.neighbors = new NeighborManager({ ownedDevicePrefixes: [this.settings.interfacePrefix, VXLAN_DEVICE] });
    this.interfaces = new InterfaceManager({
      interfacePrefix: this.settings.interfacePrefix,
      onInterfaceUp: (name) => {
        this.routes.deviceChanged(name);
        this.scheduleApply(true);
      },
      log,
    });
    this.resourceSyncer = new Syncer(
      backend,
      {
        onUpdates: (updates) => {
          const change = applyResourceUpdates(this.inputs, updates);
          if (change.changed) this.scheduleApply(change.dataplane);
        },
        onStatus: (status, err) => this.onSyncStatus('resources', status, err),
      },
      { kinds: FELIX_KINDS.map((k) => kindByAlias(k)!) },
    );
    this.ipamSyncer = new KvSyncer(backend, IPAM_PREFIX, {
      onUpdates: (updates) => {
        if (applyIpamUpdates(this.inputs, updates)) this.scheduleApply(true);
      },
      onStatus: (status, err) => this.onSyncStatus('ipam', status, err),
    });
  }

  start(): void {
    this.interfaces.start();
    this.resourceSyncer.start();
    this.ipamSyncer.start();
    this.scheduleResync();
  }

  stop(): void {
    this.stopped = true;
    this.resourceSyncer.stop();
    this.ipamSyncer.stop();
    this.interfaces.stop();
    this.ipip.stop();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
  }

  status(): FelixStatus {
    return {
      inSync: this.datastoreInSync() && this.applied && !this.dirty && !this.applying && this.problems.length === 0,
      endpoints: this.desired?.workloads.length ?? 0,
      policies: this.policyCount,
      lastApplyMs: this.lastApplyMs,
      lastApplyAt: this.lastApplyAt,
      problems: [...this.problems],
      applies: this.applies,
      writes: this.routeWrites + this.ruleWrites + this.neighbors.stats.writes + this.interfaces.stats.writes,
    };
  }

  private datastoreInSync(): boolean {
    return this.syncStatus.resources === 'in-sync' && this.syncStatus.ipam === 'in-sync';
  }

  private onSyncStatus(which: 'resources' | 'ipam', status: SyncStatus, err?: Error): void {
    this.syncStatus[which] = status;
    // While the datastore is away the dataplane stays as it is: nothing is recomputed from a partial view.
    if (status === 'in-sync') this.scheduleApply(true);
    else if (err) this.options.log?.(`datastore (${which}): ${status}: ${err.message}`);
  }

  /** `dataplane`: something beyond policy changed, so routes, neighbours, devices and sysctls are worked out again. */
  private scheduleApply(dataplane: boolean): void {
    this.dirty = true;
    if (dataplane) this.dataplaneDirty = true;
    if (this.applying || this.stopped || !this.datastoreInSync()) return;
    setImmediate(() => void this.applyLoop());
  }

  private scheduleResync(): void {
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    this.resyncIntervalMs = this.settings.routeRefreshIntervalMs;
    this.resyncTimer = setTimeout(() => {
      this.tunnelsApplied.forget();
      this.neighborsApplied.forget();
      this.interfaces.recheckAll();
      void this.routes.resync().catch((err: Error) => this.options.log?.(`route resync: ${err.message}`));
      this.scheduleApply(true);
      this.scheduleResync();
    }, this.settings.routeRefreshIntervalMs);
    this.resyncTimer.unref();
  }

  /** Takes a token of the apply throttle: how long to wait before applying (0: at once). */
  private takeApplyToken(now = performance.now()): number {
    this.applyTokens = Math.min(APPLY_BURST, this.applyTokens + (now - this.applyTokensAt) / APPLY_INTERVAL_MS);
    this.applyTokensAt = now;
    this.applyTokens -= 1;
    return this.applyTokens >= 0 ? 0 : -this.applyTokens * APPLY_INTERVAL_MS;
  }

  private async applyLoop(): Promise<void> {
    if (this.applying || this.stopped) return;
    this.applying = true;
    try {
      while (this.dirty && !this.stopped && this.datastoreInSync()) {
        const wait = this.takeApplyToken();
        // Changes arriving meanwhile only mark the state dirty: they join this apply.
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        if (this.stopped || !this.datastoreInSync()) break;
        this.dirty = false;
        await this.applyOnce();
      }
    } catch (err) {
      this.problems = [(err as Error).message];
      this.options.log?.(`apply failed: ${(err as Error).message}; retrying in ${RETRY_MS} ms`);
      this.dirty = true;
      this.dataplaneDirty = true;
      this.retryTimer = setTimeout(() => void this.applyLoop(), RETRY_MS);
    } finally {
      this.applying = false;
    }
  }

  private async applyOnce(): Promise<void> {
    const started = performance.now();
    this.settings = felixSettings(this.inputs.felixConfigs.values(), this.options.nodeName);
    if (this.settings.routeRefreshIntervalMs !== this.resyncIntervalMs) this.scheduleResync();
    // A change of policy alone (the common case under load) leaves the rest of the desired dataplane as it was.
    if (this.dataplaneDirty || !this.desired) {
      this.dataplaneDirty = false;
      const desired = computeDataplane(this.inputs, this.options.nodeName, this.settings);
      this.desired = desired;
      this.options.onDesired?.(desired);
      this.dataplaneProblems = await this.applyDataplane(desired);
      if (this.dataplaneProblems.length > 0) this.dataplaneDirty = true;
    }
    const problems = [...this.dataplaneProblems, ...(await this.applyRules(this.desired))];
    this.problems = problems;
    this.applied = true;
    this.applies++;
    this.lastApplyMs = Math.round(performance.now() - started);
    this.lastApplyAt = performance.timeOrigin + performance.now();
    for (const p of problems) this.options.log?.(p);
  }

  /** Tunnel devices, interface sysctls, routes and neighbours. */
  private async applyDataplane(desired: DesiredDataplane): Promise<string[]> {
    const problems: string[] = [];
    // The tunnel devices first: routes through them need them.
    const tunnels = JSON.stringify([desired.ipip, desired.vxlan, desired.nodeAddress, this.settings]);
    if (this.tunnelsApplied.needed(tunnels)) {
      const tunnelProblems = [...(await this.applyIpip(desired)), ...(await this.applyVxlan(desired))];
      this.tunnelsApplied.ran(tunnels, tunnelProblems.length === 0);
      problems.push(...tunnelProblems);
    }
    problems.push(...this.interfaces.apply());
    this.routes.setDesired(desired.routes);
    const routeResult = await this.routes.apply();
    for (const f of routeResult.failed) problems.push(`route ${f.dst}: ${f.error}`);
    this.routeWrites += routeResult.added + routeResult.replaced + routeResult.deleted;
    const fdb = (desired.vxlan?.peers ?? []).map((p) => ({ dev: VXLAN_DEVICE, mac: p.mac, dst: p.nodeIp }));
    const vtepArp = (desired.vxlan?.peers ?? []).map((p) => ({ dev: VXLAN_DEVICE, ip: p.tunnelIp, mac: p.mac }));
    const neighbors = [...desired.neighbors, ...vtepArp];
    const neighborInput = JSON.stringify([neighbors, fdb]);
    if (this.neighborsApplied.needed(neighborInput)) {
      this.neighbors.setDesired(neighbors, fdb);
      const neighborProblems = await this.neighbors.apply();
      this.neighborsApplied.ran(neighborInput, neighborProblems.length === 0);
      problems.push(...neighborProblems);
    }
    return problems;
  }

  /**
   * The iptables chains and the ipsets they match on: sets first (a rule cannot name a set that does not exist),
   * then the filter, nat and raw tables, then the sets no rule refers to any more are destroyed.
   */
  private async applyRules(desired: DesiredDataplane): Promise<string[]> {
    // The same arrays while the dataplane is not recomputed: the calculation and the renderer skip their checks.
    let workloads = this.workloadLists.get(desired);
    if (!workloads) {
      workloads = {
        locals: desired.workloads.map((w) => ({ iface: w.name, endpoint: w.endpoint })),
        interfaces: desired.workloads.map((w) => w.name),
      };
      this.workloadLists.set(desired, workloads);
    }
    const policy = this.policyCalculation.update(this.inputs, workloads.locals, this.options.nodeName);
    const notEnforced = policy.notEnforced.join(', ');
    if (notEnforced !== this.notEnforced && notEnforced !== '') {
      this.options.log?.(`not enforced (not implemented): ${notEnforced}`);
    }
    this.notEnforced = notEnforced;
    this.policyCount = policy.policies.length;
    const rules = renderBaseRules({
      workloadInterfaces: workloads.interfaces,
      interfacePrefix: this.settings.interfacePrefix,
      failsafeInbound: this.settings.failsafeInbound,
      failsafeOutbound: this.settings.failsafeOutbound,
      defaultEndpointToHostAction: this.settings.defaultEndpointToHostAction,
      ipipEnabled: desired.ipip !== undefined,
      ipipTunnelAddress: desired.ipip?.address,
      vxlanEnabled: desired.vxlan !== undefined,
      vxlanPort: this.settings.vxlanPort,
      vxlanTunnelAddress: desired.vxlan?.address,
      nodeAddress: desired.nodeAddress,
      hostAddresses: desired.hostAddresses,
      natPools: desired.natPools,
      allPools: desired.allPools,
      natOutgoingAddress: this.settings.natOutgoingAddress,
      ...policyRulesInput(policy, this.policyRenderMemo),
      memo: this.baseRenderMemo,
    });
    this.ipsets ??= new IpSetManager({ resyncIntervalMs: this.settings.ipsetsRefreshIntervalMs });
    const ipsets = this.ipsets;
    const given = new Map<string, IpSetSpec>();
    for (const set of rules.ipSets) {
      // A policy set the calculation kept is the spec handed over last time: nothing to compare.
      if (this.ipSetsGiven.get(set.name) !== set) ipsets.setIpSet(set);
      given.set(set.name, set);
    }
    for (const name of this.ipSetsGiven.keys()) if (!given.has(name)) ipsets.removeIpSet(name);
    this.ipSetsGiven = given;
    this.ruleWrites += (await ipsets.apply()).lines;

    if (!this.tables) {
      const backend = await detectBackend();
      this.tables = (['filter', 'nat', 'raw', 'mangle'] as TableName[]).map(
        (table) => new IptablesTable({ table, backend, resyncIntervalMs: this.settings.iptablesRefreshIntervalMs }),
      );
    }
    for (const table of this.tables) {
      const wanted = rules[table.table];
      table.setChains(wanted.chains);
      for (const [kernelChain, insertions] of Object.entries(wanted.insertions))
        table.setInsertions(kernelChain, insertions);
      this.ruleWrites += (await table.apply()).linesWritten;
    }
    const deletions = await ipsets.applyDeletions();
    return [...rules.warnings, ...deletions.failed.map((f) => `ipset ${f.name}: ${f.reason}`)];
  }

  private async applyIpip(desired: DesiredDataplane): Promise<string[]> {
    if (!desired.ipip) {
      if (await this.ipip.remove(IPIP_DEVICE)) this.options.log?.(`IPIP off: ${IPIP_DEVICE} taken down`);
      return [];
    }
    const localIp = desired.nodeAddress;
    if (!localIp) return [`IPIP: node ${this.options.nodeName} has no IPv4 address yet`];
    const changes = await this.ipip.ensure({
      name: IPIP_DEVICE,
      localIp,
      address: desired.ipip.address,
      mtu: this.settings.ipipMtu,
      peers: desired.ipip.peers,
    });
    if (changes.length > 0) this.options.log?.(`${IPIP_DEVICE} (${this.ipip.mode}): ${changes.join(', ')}`);
    return [];
  }

  private async applyVxlan(desired: DesiredDataplane): Promise<string[]> {
    if (!desired.vxlan) {
      if (await this.vxlan.remove(VXLAN_DEVICE)) this.options.log?.(`removed ${VXLAN_DEVICE}`);
      return [];
    }
    const localIp = desired.nodeAddress;
    if (!localIp) return [`VXLAN: node ${this.options.nodeName} has no IPv4 address yet`];
    const changes = await this.vxlan.ensure({
      name: VXLAN_DEVICE,
      vni: desired.vxlan.vni,
      port: desired.vxlan.port,
      localIp,
      mac: desired.vxlan.mac,
      address: desired.vxlan.address,
      mtu: this.settings.vxlanMtu,
    });
    if (changes.length > 0) this.options.log?.(`${VXLAN_DEVICE}: ${changes.join(', ')}`);
    return [];
  }
}
