// tabby-node's CalicoNodeStatus reports (Calico's node/pkg/status): for every CalicoNodeStatus whose spec.node is
// this node, the status of the classes it asks for (Agent, BGP, Routes), written through the ResourceClient with
// compare-and-swap. Calico reads BIRD every updatePeriodSeconds; tabby polls its own speaker and felix once a
// second and writes as soon as what it reports changed (a session going down is in the datastore within about a
// second), and otherwise refreshes lastUpdated every updatePeriodSeconds (0: never, as in Calico, which then
// reports only when the spec changes). So that every node shows up in the API and the dashboard, a node nobody
// asked about gets a CalicoNodeStatus named after it (tabby's choice: Calico reports only what a user created).
import type { SpeakerRoute } from '../bgp';
import {
  type Backend,
  type CalicoNodePeer,
  type CalicoNodeRoute,
  type CalicoNodeStatusSpec,
  type CalicoNodeStatusStatus,
  isDatastoreError,
  kindByAlias,
  type NodeStatusClass,
  type Resource,
  ResourceClient,
  Syncer,
} from '../datastore';
import type { FelixStatus } from '../felix';
import type { BgpSpeakerInfo, NodePeerStatus } from './bgp';

type Log = (line: string) => void;

export type CalicoNodeStatusResource = Resource<CalicoNodeStatusSpec> & { status?: CalicoNodeStatusStatus };

/** What the node reports from: its BGP speaker and felix, read when a report is made. */
export interface NodeStatusSources {
  /** Undefined while no speaker runs (BGP off, or the node not registered yet). */
  speaker(): BgpSpeakerInfo | undefined;
  peers(): NodePeerStatus[];
  /** Walks the RIB: called only for objects that ask for the Routes class. */
  routes(): SpeakerRoute[];
  /** Undefined when felix is turned off. */
  felix(): Pick<FelixStatus, 'inSync' | 'endpoints' | 'policies' | 'lastApplyAt'> | undefined;
}

/** The classes of what a node creates for itself when nobody asked (tabby's choice, see above). */
export const OWN_NODE_STATUS_CLASSES: NodeStatusClass[] = ['Agent', 'BGP'];

const POLL_MS = 1000;
const KIND = kindByAlias('caliconodestatus')!;

/** CONTRACT §3's peer types (`calicoctl node status`), each with the name Calico's CalicoNodeStatus gives it. */
export const PEER_TYPES: readonly (readonly [string, NonNullable<CalicoNodePeer['type']>])[] = [
  ['node-to-node mesh', 'NodeMesh'],
  ['node specific', 'NodePeer'],
  ['global', 'GlobalPeer'],
];
const CALICO_PEER_TYPE = new Map(PEER_TYPES);

const isIpv6 = (address: string) => address.includes(':');

/** Calico's BGP class: sessions per address family, counted as Established or not. */
function bgpStatus(peers: NodePeerStatus[]): CalicoNodeStatusStatus['bgp'] {
  const family = (v6: boolean) => {
    const mine = peers.filter((p) => isIpv6(p.address) === v6);
    const established = mine.filter((p) => p.state === 'Established').length;
    const reported: CalicoNodePeer[] = mine.map((p) => ({
      peerIP: p.address,
      ...(CALICO_PEER_TYPE.has(p.type) ? { type: CALICO_PEER_TYPE.get(p.type) } : {}),
      state: p.state as CalicoNodePeer['state'],
      since: p.since,
    }));
    return { established, notEstablished: mine.length - established, reported };
  };
  const v4 = family(false);
  const v6 = family(true);
  return {
    numberEstablishedV4: v4.established,
    numberNotEstablishedV4: v4.notEstablished,
    numberEstablishedV6: v6.established,
    numberNotEstablishedV6: v6.notEstablished,
    ...(v4.reported.length > 0 ? { peersV4: v4.reported } : {}),
    ...(v6.reported.length > 0 ? { peersV6: v6.reported } : {}),
  };
}

/**
 * Calico's Routes class, as BIRD's `show route` reads: the best path of a prefix is in the FIB, the others only in
 * the RIB; what this node originates (its blocks, borrowed addresses) comes from BIRD's static protocol in Calico.
 */
function routesStatus(routes: SpeakerRoute[], peers: NodePeerStatus[]): CalicoNodeStatusStatus['routes'] {
  const peerType = new Map(peers.map((p) => [p.address, CALICO_PEER_TYPE.get(p.type)]));
  const reported: CalicoNodeRoute[] = routes.map((r) => ({
    type: r.best ? 'FIB' : 'RIB',
    destination: r.prefix,
    gateway: r.nextHop ?? 'N/A',
    learnedFrom:
      r.peer === undefined
        ? { sourceType: 'Static' }
        : { sourceType: peerType.get(r.peer) === 'NodeMesh' ? 'NodeMesh' : 'BGPPeer', peerIP: r.peer },
  }));
  const v4 = reported.filter((r) => !isIpv6(r.destination!));
  const v6 = reported.filter((r) => isIpv6(r.destination!));
  return { ...(v4.length > 0 ? { routesV4: v4 } : {}), ...(v6.length > 0 ? { routesV6: v6 } : {}) };
}

/**
 * The status of the classes asked for, without lastUpdated. A class not asked for is reported as Go's zero value
 * (what Calico's JSON holds for it), so the document has Calico's shape whatever the classes.
 */
export function reportedStatus(
  classes: readonly NodeStatusClass[],
  sources: NodeStatusSources,
  /** The Routes class as last reported, to keep instead of walking the RIB again. */
  knownRoutes?: CalicoNodeStatusStatus['routes'],
): CalicoNodeStatusStatus {
  const status: CalicoNodeStatusStatus = {
    agent: { birdV4: {}, birdV6: {} },
    bgp: bgpStatus([]),
    routes: {},
  };
  if (classes.includes('Agent')) {
    const speaker = sources.speaker();
    const felix = sources.felix();
    status.agent = {
      birdV4: speaker
        ? {
            state: 'Ready',
            routerID: speaker.routerId,
            lastBootTime: speaker.startedAt.toISOString(),
            lastReconfigurationTime: speaker.reconfiguredAt.toISOString(),
          }
        : { state: 'NotReady' },
      // tabby speaks BGP over IPv4 only: Calico says NotReady where no bird6 answers.
      birdV6: { state: 'NotReady' },
      // tabby's extension: felix's view of the dataplane.
      ...(felix
        ? {
            felix: {
              inSync: felix.inSync,
              endpoints: felix.endpoints,
              policies: felix.policies,
              ...(felix.lastApplyAt > 0 ? { lastApplyAt: new Date(felix.lastApplyAt).toISOString() } : {}),
            },
          }
        : {}),
    };
  }
  const wantsBgp = classes.includes('BGP');
  const wantsRoutes = classes.includes('Routes');
  const peers = wantsBgp || wantsRoutes ? sources.peers() : [];
  if (wantsBgp) status.bgp = bgpStatus(peers);
  if (wantsRoutes) status.routes = knownRoutes ?? routesStatus(sources.routes(), peers);
  return status;
}

/** Whether an object is due a write: what it reports changed, or its refresh period is up. */
export function reportDue(
  object: CalicoNodeStatusResource,
  status: CalicoNodeStatusStatus,
  now: Date,
  specAlreadyReported: boolean,
): boolean {
  const { lastUpdated: _, ...stored } = object.status ?? {};
  const changed = JSON.stringify(stored) !== JSON.stringify(status);
  // Period 0: no refresh; Calico then reports when the spec is created or changed, and only what changed.
  if ((object.spec?.updatePeriodSeconds ?? 0) === 0) return changed && !specAlreadyReported;
  return changed || refreshDue(object, now);
}

/** Whether an object's refresh period is up (never with period 0). */
function refreshDue(object: CalicoNodeStatusResource, now: Date): boolean {
  const periodSeconds = object.spec?.updatePeriodSeconds ?? 0;
  const lastUpdated = object.status?.lastUpdated;
  if (periodSeconds === 0) return false;
  return !lastUpdated || now.getTime() - Date.parse(lastUpdated) >= periodSeconds * 1000;
}

const revision = (r: Resource) => Number(r.metadata.resourceVersion ?? 0);

export class NodeStatusReporter {
  private readonly client: ResourceClient;
  private readonly syncer: Syncer;
  /** This node's CalicoNodeStatus objects by name, the newest version seen (from the syncer or our writes). */
  private readonly objects = new Map<string, CalicoNodeStatusResource>();
  /** The spec (as JSON) each object was last reported for: updatePeriodSeconds 0 reports once per spec. */
  private readonly reportedSpecs = new Map<string, string>();
  /** Some CalicoNodeStatus, for whichever node, already has this node's name: none is created then. */
  private nameTaken = false;
  private synced = false;
  private ticking = false;
  private timer: NodeJS.Timeout | undefined;
  private lastProblem = '';

  constructor(
    backend: Backend,
    private readonly nodeName: string,
    private readonly sources: NodeStatusSources,
    private readonly log: Log,
    /** The updatePeriodSeconds of the object this node creates for itself; 0: it creates none. */
    private readonly ownPeriodSeconds: number,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.client = new ResourceClient(backend);
    this.syncer = new Syncer(
      backend,
      {
        onUpdates: (updates) => {
          for (const { type, object } of updates) this.update(type === 'DELETED', object);
        },
        onStatus: (status) => {
          // As Calico's reporter: nothing is written before the first full view of what exists.
          if (status === 'in-sync') this.synced = true;
        },
      },
      { kinds: [KIND] },
    );
  }

  start(): void {
    this.syncer.start();
    this.timer = setInterval(() => void this.tick(), POLL_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.syncer.stop();
  }

  /** One round: create this node's object when it has none, then write every object that is due. */
  async tick(): Promise<void> {
    if (!this.synced || this.ticking) return;
    this.ticking = true;
    try {
      if (this.objects.size === 0 && !this.nameTaken && this.ownPeriodSeconds > 0) {
        await this.attempt(() => this.createOwn());
      }
      for (const object of [...this.objects.values()]) await this.attempt(() => this.report(object));
    } finally {
      this.ticking = false;
    }
  }

  /** A failed write (datastore down, a conflict) is logged once per distinct reason and retried next tick. */
  private async attempt(write: () => Promise<void>): Promise<void> {
    try {
      await write();
      this.lastProblem = '';
    } catch (err) {
      const problem = (err as Error).message;
      if (problem !== this.lastProblem) this.log(`node status: ${problem}; retrying`);
      this.lastProblem = problem;
    }
  }

  private async createOwn(): Promise<void> {
    try {
      const created = await this.client.create({
        apiVersion: KIND.apiVersion,
        kind: KIND.kind,
        metadata: { name: this.nodeName },
        spec: { node: this.nodeName, classes: OWN_NODE_STATUS_CLASSES, updatePeriodSeconds: this.ownPeriodSeconds },
      });
      this.nameTaken = true;
      this.hold(created);
      this.log(`node status: created CalicoNodeStatus ${this.nodeName}`);
    } catch (err) {
      // Created since the syncer last told us: it will deliver it.
      if (!isDatastoreError(err, 'AlreadyExists')) throw err;
    }
  }

  private async report(object: CalicoNodeStatusResource): Promise<void> {
    const name = object.metadata.name;
    const spec = JSON.stringify(object.spec);
    const specReported = this.reportedSpecs.get(name) === spec;
    const now = this.now();
    // The RIB is walked for a new spec or a refresh that is due anyway, not on every tick: that would walk every
    // route once a second. Sessions and the agent are read each tick, so their changes are written at once.
    const knownRoutes = specReported && !refreshDue(object, now) ? object.status?.routes : undefined;
    const status = reportedStatus(object.spec?.classes ?? [], this.sources, knownRoutes);
    if (!reportDue(object, status, now, specReported)) {
      // Nothing to write for this spec now: with period 0, nothing later either (until the spec changes).
      this.reportedSpecs.set(name, spec);
      return;
    }
    let written: Resource;
    try {
      // The version we hold: a write in between (a user changing the spec) is a Conflict, retried with the new one.
      written = await this.client.replace({
        ...object,
        status: { lastUpdated: now.toISOString(), ...status },
      } as Resource);
    } catch (err) {
      // Deleted while we held it (its deletion may have reached us before our last write did): nothing to report.
      if (isDatastoreError(err, 'NotFound')) return this.forget(name);
      throw err;
    }
    this.hold(written);
    this.reportedSpecs.set(name, spec);
  }

  private update(deleted: boolean, object: Resource): void {
    const name = object.metadata.name;
    if (name === this.nodeName) this.nameTaken = !deleted;
    if (deleted || (object as CalicoNodeStatusResource).spec?.node !== this.nodeName) this.forget(name);
    else this.hold(object);
  }

  /** Keeps the newest version: our own write may come back from the syncer after a later one of ours. */
  private hold(object: Resource): void {
    const held = this.objects.get(object.metadata.name);
    if (held === undefined || revision(object) >= revision(held)) this.objects.set(object.metadata.name, object);
  }

  private forget(name: string): void {
    this.objects.delete(name);
    this.reportedSpecs.delete(name);
  }
}
