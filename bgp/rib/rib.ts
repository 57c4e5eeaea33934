// The RIBs of one address family put together: per peer an Adj-RIB-In, one Loc-RIB, per established peer an
// Adj-RIB-Out in its update group. Pure and synchronous: the speaker feeds it decoded UPDATEs and session
// events, and drains what to send and which best paths changed.

import { Origin, type PathAttributes } from '../packet/types';
import { AdjRibIn, type RibInContext } from './adj-rib-in';
import { AdjRibOut, type ExportContext, type OutboundBatch, UpdateGroup } from './adj-rib-out';
import { type AttributeEncoder, type AttrSet, AttrSetTable } from './attrs';
import { BestPathChanges, BestPathRuns } from './changes';
import { exportGroupKey, exportTarget } from './export';
import { type BestPathSink, LocRib } from './loc-rib';
import { type Path, PathRegistry } from './path';
import { LOCAL_PEER_ID, type LocalIdentity, Peer, type PeerInfo } from './peer';
import type { AddressFamily } from './prefix-table';

export interface RibOptions<K> {
  readonly local: LocalIdentity;
  readonly family: AddressFamily<K>;
  /** The codec's encodeAttributes: outgoing attribute sets are encoded once, when first needed. */
  readonly encodeAttributes: AttributeEncoder;
  /** Keep a queue of best-path changes for takeBestPathChanges (e.g. to program the kernel). */
  readonly recordBestPathChanges?: boolean;
  /** Share attribute sets with the RIB of another address family. */
  readonly attrSets?: AttrSetTable;
}

/** What locally originated routes carry besides ORIGIN IGP and an empty AS_PATH. */
export type OriginateOptions = Pick<
  PathAttributes,
  'communities' | 'extendedCommunities' | 'largeCommunities' | 'med' | 'localPref'
>;

export interface PeerCounters {
  /** Prefixes the peer announced and has not withdrawn. */
  received: number;
  /** Of those, the ones in the Loc-RIB (not rejected by loop checks). */
  accepted: number;
  /** Prefixes we advertise to the peer. */
  advertised: number;
}

export interface RibCounters {
  prefixes: number;
  paths: number;
  attrSets: number;
}

/** Changes are handed to the update groups at the end of each operation, or when this many pile up. */
const BATCH_LIMIT = 8192;

interface PeerState<K> {
  readonly peer: Peer;
  readonly ribIn: AdjRibIn<K>;
  ribOut?: AdjRibOut<K>;
}

export class Rib<K> implements BestPathSink<K> {
  readonly attrSets: AttrSetTable;
  readonly locRib: LocRib<K>;
  private readonly local: LocalIdentity;
  private readonly encodeAttributes: AttributeEncoder;
  private readonly ribInContext: RibInContext<K>;
  private readonly exportContext: ExportContext;
  private readonly peers = new Map<number, PeerState<K>>();
  private readonly originated: AdjRibIn<K>;
  private readonly groups = new Map<string, UpdateGroup<K>>();
  /** The groups as an array: walked for every best-path change. */
  private activeGroups: UpdateGroup<K>[] = [];
  private readonly family: AddressFamily<K>;
  private changes: BestPathChanges<K> | undefined;
  private readonly batch = new BestPathRuns<K>();

  constructor(options: RibOptions<K>) {
    this.local = options.local;
    this.family = options.family;
    this.encodeAttributes = options.encodeAttributes;
    this.attrSets = options.attrSets ?? new AttrSetTable();
    const paths = new PathRegistry();
    this.locRib = new LocRib(options.family, paths, this);
    this.changes = options.recordBestPathChanges ? new BestPathChanges(options.family) : undefined;
    this.ribInContext = {
      local: this.local,
      family: options.family,
      locRib: this.locRib,
      attrSets: this.attrSets,
      paths,
      pathReleased: (path) => {
        // The batch may still name the path: it goes out before the groups forget it.
        this.flush();
        for (const group of this.activeGroups) group.forget(path);
      },
    };
    this.exportContext = { local: this.local, attrSets: this.attrSets, encodeAttributes: this.encodeAttributes };
    this.originated = new AdjRibIn(Peer.local(this.local), this.ribInContext);
  }

  get counters(): RibCounters {
    return { prefixes: this.locRib.prefixCount, paths: this.locRib.pathCount, attrSets: this.attrSets.size };
  }

  peerCounters(peerId: number): PeerCounters {
    const state = this.state(peerId);
    return {
      received: state.ribIn.received,
      accepted: state.ribIn.accepted,
      advertised: state.ribOut?.advertised ?? 0,
    };
  }

  addPeer(info: PeerInfo): void {
    if (info.id === LOCAL_PEER_ID || this.peers.has(info.id)) throw new Error(`peer id ${info.id} is taken`);
    const peer = new Peer(info);
    this.peers.set(info.id, { peer, ribIn: new AdjRibIn(peer, this.ribInContext) });
  }

  /** Forgets the peer and everything it announced. */
  removePeer(peerId: number): void {
    this.peerDown(peerId, { gracefulRestart: false });
    this.peers.delete(peerId);
  }

  /** The session is established: the peer joins its update group and is queued the whole table. */
  peerUp(peerId: number, session: { fourOctetAs: boolean }): void {
    const state = this.state(peerId);
    if (state.ribOut !== undefined) this.leaveGroup(state.ribOut);
    const target = exportTarget(state.peer.info, session.fourOctetAs);
    const key = exportGroupKey(target);
    let group = this.groups.get(key);
    if (group === undefined) {
      group = new UpdateGroup<K>(key, target, this.exportContext);
      this.groups.set(key, group);
      this.activeGroups = [...this.groups.values()];
    }
    state.ribOut = new AdjRibOut(state.peer, group, this.family);
    group.members.push(state.ribOut);
    state.ribOut.queueFullTable(this.locRib, true);
  }

  /**
   * The session ended. With graceful restart (RFC 4724) the peer's routes stay, marked stale, until
   * sweepStale; otherwise they are removed now.
   */
  peerDown(peerId: number, how: { gracefulRestart: boolean }): void {
    const state = this.state(peerId);
    if (state.ribOut !== undefined) {
      this.leaveGroup(state.ribOut);
      state.ribOut = undefined;
    }
    if (how.gracefulRestart) state.ribIn.markStale();
    else state.ribIn.clear();
    this.settle();
  }

  /** The peer announced the prefixes with this attribute set (from attrSets.intern). */
  update(peerId: number, attrs: AttrSet, nlri: readonly K[]): void {
    this.state(peerId).ribIn.update(attrs, nlri);
    this.attrSets.dropIfUnused(attrs);
    this.settle();
  }

  withdraw(peerId: number, prefixes: readonly K[]): void {
    this.state(peerId).ribIn.withdraw(prefixes);
    this.settle();
  }

  markStale(peerId: number): void {
    this.state(peerId).ribIn.markStale();
  }

  /** Removes the peer's routes still stale (End-of-RIB, or restart timer expired); returns how many. */
  sweepStale(peerId: number): number {
    const swept = this.state(peerId).ribIn.sweepStale();
    this.settle();
    return swept;
  }

  /** Removes every route the peer announced; the peer stays configured. */
  dropPeer(peerId: number): void {
    this.state(peerId).ribIn.clear();
    this.settle();
  }

  /**
   * Originates the prefixes (e.g. the node's blocks) with ORIGIN IGP, an empty AS_PATH and the given optional
   * attributes (communities from the configuration). NEXT_HOP is set per peer on export. A prefix originated
   * again takes the new attributes.
   */
  originate(prefixes: readonly K[], options: OriginateOptions = {}): void {
    const attributes: PathAttributes = { origin: Origin.Igp, asPath: [], ...options };
    const raw = this.encodeAttributes(attributes, { fourOctetAs: true, ibgp: true });
    const attrs = this.attrSets.intern(raw, attributes, true);
    this.originated.update(attrs, prefixes);
    this.attrSets.dropIfUnused(attrs);
    this.settle();
  }

  withdrawOriginated(prefixes: readonly K[]): void {
    this.originated.withdraw(prefixes);
    this.settle();
  }

  /** The peer asked for everything again (route refresh, RFC 2918). */
  refreshOutbound(peerId: number): void {
    this.state(peerId).ribOut?.queueFullTable(this.locRib, false);
  }

  /** Prefixes waiting to be sent to the peer. */
  pendingOutbound(peerId: number): number {
    return this.state(peerId).ribOut?.pendingCount ?? 0;
  }

  /** What to send the peer now (up to maxPrefixes prefixes); empty when its session is not up. */
  drainOutbound(peerId: number, maxPrefixes?: number): OutboundBatch<K> {
    const ribOut = this.state(peerId).ribOut;
    return ribOut === undefined ? { withdrawn: [], announced: [] } : ribOut.drain(this.locRib, maxPrefixes);
  }

  /** The best-path changes since the last call (only with recordBestPathChanges). */
  takeBestPathChanges(): BestPathChanges<K> {
    const taken = this.changes ?? new BestPathChanges(this.family);
    if (this.changes !== undefined) this.changes = new BestPathChanges(this.family);
    return taken;
  }

  /** From the Loc-RIB: collected into runs for the update groups and the change queue. */
  bestPathChanged(prefix: K, oldBest: Path | undefined, newBest: Path | undefined): void {
    this.batch.push(prefix, oldBest, newBest);
    if (this.batch.length >= BATCH_LIMIT) this.flush();
  }

  /** The end of a public change: what changed goes out, and the Loc-RIB gives back memory it no longer needs. */
  private settle(): void {
    this.flush();
    this.locRib.compact();
  }

  private flush(): void {
    if (this.batch.length === 0) return;
    for (const group of this.activeGroups) group.apply(this.batch);
    this.changes?.append(this.batch);
    this.batch.clear();
  }

  private leaveGroup(ribOut: AdjRibOut<K>): void {
    const group = ribOut.group;
    group.members.splice(group.members.indexOf(ribOut), 1);
    ribOut.reset();
    if (group.members.length > 0) return;
    group.dispose();
    this.groups.delete(group.key);
    this.activeGroups = [...this.groups.values()];
  }

  private state(peerId: number): PeerState<K> {
    const state = this.peers.get(peerId);
    if (state === undefined) throw new Error(`no peer with id ${peerId}`);
    return state;
  }
}
