// The BGP speaker: sessions, one IPv4 unicast RIB, the export of its changes to peers and (optionally) to the
// kernel, and graceful restart in both roles (RFC 4724). tabby-bgp runs it from a file; tabby-node from the
// datastore's peering model. Everything it learns from peers goes through the RIB; nothing a peer sends can
// throw out of a session handler.
import type net from 'node:net';
import type { SpeakerConfig, SpeakerPeerConfig } from './config';
import { KernelExport } from './kernel-export';
import {
  type DecodedUpdate,
  encodeAttributes,
  encodeEndOfRib,
  encodeUpdates,
  encodeWithdrawals,
  formatIpv4Prefix,
  isEndOfRib,
  parseIpv4Prefix,
} from './packet';
import { AFI_IPV4, type Ipv4PrefixKey, type PathAttributes, SAFI_UNICAST } from './packet/types';
import { IPV4_UNICAST, Rib } from './rib';
import { BgpListener, BgpSession, type CloseReason, type Negotiated, type SessionState } from './session';

/** Prefixes drained from an Adj-RIB-Out per turn of the event loop: keeps keepalives and other peers flowing. */
const DRAIN_CHUNK = 65_536;

export interface PeerStatus {
  name: string;
  address: string;
  asNumber: number;
  type: string;
  state: SessionState;
  since: string;
  info: string;
  prefixesReceived: number;
  prefixesAccepted: number;
  prefixesAdvertised: number;
}

export interface SpeakerStatus {
  peers: PeerStatus[];
  rib: { prefixes: number; paths: number };
}

/** One path of the Loc-RIB, as `birdc show route` lists it (Calico's CalicoNodeStatus Routes class). */
export interface SpeakerRoute {
  prefix: string;
  /** The prefix's best path: the one installed and advertised (BIRD's `*`). */
  best: boolean;
  nextHop: string | undefined;
  /** The peer the path came from; undefined for a prefix this speaker originates. */
  peer: string | undefined;
}

export interface SpeakerOptions {
  log?(line: string): void;
}

interface PeerEntry {
  config: SpeakerPeerConfig;
  /** The RIB's id for this peer (stable for the peer's lifetime in this speaker). */
  id: number;
  session: BgpSession;
  /** The RIB knows the peer (it has, or had, an established session whose routes may still be held stale). */
  inRib: boolean;
  /** Routes held stale after the peer went down gracefully; swept at its End-of-RIB or at restartTimer. */
  restartTimer: NodeJS.Timeout | undefined;
  /** Our End-of-RIB is still owed after the initial table. */
  endOfRibOwed: boolean;
  /** Waiting for the socket to drain before writing more. */
  blocked: boolean;
  /** The peer's End-of-RIB arrived (ends our own selection deferral after a restart). */
  sentEndOfRib: boolean;
}

export class BgpSpeaker {
  readonly rib: Rib<Ipv4PrefixKey>;
  private readonly peers = new Map<string, PeerEntry>();
  private listener: BgpListener | undefined;
  private kernel: KernelExport | undefined;
  private nextPeerId = 1;
  private flushScheduled = false;
  private restarting = false;
  private deferralTimer: NodeJS.Timeout | undefined;
  private originated: Ipv4PrefixKey[] = [];

  constructor(
    private config: SpeakerConfig,
    private readonly options: SpeakerOptions = {},
  ) {
    this.rib = new Rib({
      local: {
        asn: config.asNumber,
        routerId: config.routerId,
        ...(config.routeReflectorClusterId ? { clusterId: config.routeReflectorClusterId } : {}),
      },
      family: IPV4_UNICAST,
      encodeAttributes,
      recordBestPathChanges: config.kernel.export,
    });
  }

  /**
   * Starts listening, peering and originating. Routes a previous run left in the kernel mean we are coming back
   * from our own graceful restart: peers are told (the R bit) and those routes stay until the peers resent theirs.
   */
  async start(): Promise<void> {
    if (this.config.kernel.export) {
      this.kernel = new KernelExport({
        table: this.config.kernel.table === 'main' ? 'main' : Number(this.config.kernel.table) || 'main',
        onError: (m) => this.log(m),
      });
      this.restarting = (await this.kernel.start()) > 0;
      if (this.restarting) this.log('kernel routes of a previous run found: graceful restart');
    }
    if (this.config.listen.port !== 0) {
      this.listener = await BgpListener.open(this.config.listen.address, this.config.listen.port, (s) =>
        this.accept(s),
      );
    }
    this.setOriginated(this.config.originate);
    this.setPeers(this.config.peers);
    if (this.restarting) {
      // Selection deferral (RFC 4724 §4.1) ends when every peer sent End-of-RIB, or at the longest restart time.
      const longest = Math.max(0, ...this.config.peers.map((p) => p.restartTimeSec));
      this.deferralTimer = setTimeout(() => this.endDeferral(), longest * 1000);
    }
  }

  get listenPort(): number {
    return this.listener?.port ?? 0;
  }

  /** Replaces the set of peers: new ones start, removed ones stop, changed ones restart. */
  setPeers(peers: readonly SpeakerPeerConfig[]): void {
    const wanted = new Map(peers.map((p) => [p.address, p]));
    for (const [address, entry] of this.peers) {
      const next = wanted.get(address);
      if (next && JSON.stringify(next) === JSON.stringify(entry.config)) continue;
      this.removePeer(entry, next ? 'Other configuration change' : 'Peer de-configured');
    }
    for (const p of peers) if (!this.peers.has(p.address)) this.addPeer(p);
    this.config = { ...this.config, peers: [...peers] };
    const gtsm = peers.some((p) => p.ttlSecurity > 0);
    if (gtsm) this.listener?.enableTtlSecurity();
  }

  /** Replaces the locally originated prefixes (a node's blocks and borrowed /32s). */
  setOriginated(cidrs: readonly string[]): void {
    const keys = cidrs.map((c) => parseIpv4Prefix(c));
    const keep = new Set(keys);
    const gone = this.originated.filter((k) => !keep.has(k));
    if (gone.length > 0) this.rib.withdrawOriginated(gone);
    if (keys.length > 0) this.rib.originate(keys);
    this.originated = keys;
    this.changed();
  }

  status(): SpeakerStatus {
    const counters = this.rib.counters;
    return {
      peers: [...this.peers.values()].map((e) => {
        const c = e.inRib ? this.rib.peerCounters(e.id) : { received: 0, accepted: 0, advertised: 0 };
        return {
          name: e.config.name,
          address: e.config.address,
          asNumber: e.config.asNumber,
          type: e.config.type,
          state: e.session.state,
          since: e.session.since.toISOString(),
          info: e.session.info,
          prefixesReceived: c.received,
          prefixesAccepted: c.accepted,
          prefixesAdvertised: c.advertised,
        };
      }),
      rib: { prefixes: counters.prefixes, paths: counters.paths },
    };
  }

  /** Every path of the Loc-RIB, best first per prefix: a walk of the whole table, for a report, not for polling. */
  routes(): SpeakerRoute[] {
    const routes: SpeakerRoute[] = [];
    const locRib = this.rib.locRib;
    locRib.forEachBest((best, key) => {
      const prefix = formatIpv4Prefix(key);
      for (const path of locRib.candidates(key)) {
        const peer = path.peer.local ? undefined : path.peer.info.address;
        routes.push({ prefix, best: path === best, nextHop: path.attrs.attributes.nextHop, peer });
      }
    });
    return routes;
  }

  /**
   * Stops. `graceful`: as for a restart — sessions are dropped without a NOTIFICATION so peers that help us
   * restart keep our routes, and the kernel keeps what we installed. Otherwise peers are told (Cease).
   */
  async stop(opts: { graceful?: boolean; text?: string } = {}): Promise<void> {
    clearTimeout(this.deferralTimer);
    for (const entry of this.peers.values()) {
      clearTimeout(entry.restartTimer);
      if (opts.graceful) entry.session.abandon();
      else entry.session.stop(opts.text ?? '');
    }
    await this.listener?.close();
    await this.kernel?.stop();
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  private addPeer(config: SpeakerPeerConfig): void {
    const entry: PeerEntry = {
      config,
      id: this.nextPeerId++,
      inRib: false,
      restartTimer: undefined,
      endOfRibOwed: false,
      blocked: false,
      sentEndOfRib: false,
      session: undefined as unknown as BgpSession,
    };
    entry.session = new BgpSession({ asNumber: this.config.asNumber, routerId: this.config.routerId }, config, {
      onStateChange: (s, state) => this.log(`peer ${config.name}: ${state} (${s.info})`),
      onEstablished: (s, negotiated) => this.peerEstablished(entry, s, negotiated),
      onUpdate: (_s, update) => this.receiveUpdate(entry, update),
      onRouteRefresh: () => {
        this.rib.refreshOutbound(entry.id);
        this.changed();
      },
      onDown: (_s, reason) => this.peerDown(entry, reason),
      onDrain: () => {
        entry.blocked = false;
        this.changed();
      },
    });
    entry.session.restarting = this.restarting;
    if (config.password) this.listener?.setPassword(config.address, config.password);
    this.peers.set(config.address, entry);
    entry.session.start();
  }

  private removePeer(entry: PeerEntry, text: string): void {
    clearTimeout(entry.restartTimer);
    entry.session.stop(text);
    if (entry.inRib) this.rib.removePeer(entry.id);
    if (entry.config.password) this.listener?.setPassword(entry.config.address, '');
    this.peers.delete(entry.config.address);
    this.changed();
  }

  private accept(socket: net.Socket): void {
    const address = socket.remoteAddress?.replace(/^::ffff:/, '') ?? '';
    const entry = this.peers.get(address);
    if (!entry) {
      this.log(`rejected a connection from ${address}: not a configured peer`);
      socket.destroy();
      return;
    }
    BgpListener.applyTtlSecurity(socket, entry.config.ttlSecurity);
    entry.session.acceptIncoming(socket);
  }

  private peerEstablished(entry: PeerEntry, session: BgpSession, negotiated: Negotiated): void {
    const stale = entry.inRib && entry.restartTimer !== undefined;
    clearTimeout(entry.restartTimer);
    entry.restartTimer = undefined;
    const forwardingKept = negotiated.peerGracefulRestart?.families.some(
      (f) => f.afi === AFI_IPV4 && f.safi === SAFI_UNICAST && f.forwardingPreserved,
    );
    if (entry.inRib && !(stale && forwardingKept)) {
      // Not a graceful restart we can help: start from nothing.
      this.rib.removePeer(entry.id);
      entry.inRib = false;
    }
    if (!entry.inRib) {
      this.rib.addPeer({
        id: entry.id,
        address: entry.config.address,
        asn: negotiated.peerAs,
        routerId: negotiated.peerRouterId,
        ibgp: negotiated.ibgp,
        routeReflectorClient: entry.config.routeReflectorClient,
        nextHopSelf: entry.config.nextHopSelf,
        localAddress: sessionLocalAddress(session, entry.config),
      });
      entry.inRib = true;
    }
    entry.sentEndOfRib = false;
    entry.endOfRibOwed = true;
    entry.blocked = false;
    this.rib.peerUp(entry.id, { fourOctetAs: negotiated.fourOctetAs });
    this.changed();
  }

  private peerDown(entry: PeerEntry, reason: CloseReason): void {
    this.log(`peer ${entry.config.name}: session down: ${reason.message}`);
    if (!entry.inRib) return;
    const gr = entry.session.peer.gracefulRestart ? entry.session.lastNegotiated?.peerGracefulRestart : undefined;
    // RFC 4724 §4.2: a session that ends without a NOTIFICATION (a crash, a restart) keeps the peer's routes,
    // stale, for its restart time; a NOTIFICATION means it is really gone.
    if (gr && !reason.received && !reason.sent) {
      this.rib.peerDown(entry.id, { gracefulRestart: true });
      entry.restartTimer = setTimeout(() => {
        entry.restartTimer = undefined;
        this.rib.sweepStale(entry.id);
        this.changed();
      }, gr.restartTimeSec * 1000);
    } else {
      this.rib.removePeer(entry.id);
      entry.inRib = false;
    }
    this.changed();
  }

  private receiveUpdate(entry: PeerEntry, decoded: DecodedUpdate): void {
    const { update } = decoded;
    const problems = [...decoded.problems];
    const mp = ipv4MultiprotocolRoutes(update.attributes, problems);
    if (problems.length > 0) this.log(`peer ${entry.config.name}: ${problems.join('; ')}`);
    if (decoded.action === 'treat-as-withdraw') {
      // RFC 7606 §2: every route the UPDATE carries is withdrawn, whatever its encoding; the session stays.
      this.rib.withdraw(entry.id, [...update.withdrawn, ...update.nlri, ...mp.withdrawn, ...mp.announced]);
      this.changed();
      return;
    }
    const eor = isEndOfRib(update);
    if (eor) {
      if (eor.afi === AFI_IPV4 && eor.safi === SAFI_UNICAST) this.peerEndOfRib(entry);
      return;
    }
    const withdrawn = mp.withdrawn.length > 0 ? [...update.withdrawn, ...mp.withdrawn] : update.withdrawn;
    if (withdrawn.length > 0) this.rib.withdraw(entry.id, withdrawn);
    const fourOctetAs = entry.session.codecContext().fourOctetAs;
    if (update.nlri.length > 0) {
      this.rib.update(
        entry.id,
        this.rib.attrSets.intern(update.rawAttributes, update.attributes, fourOctetAs),
        update.nlri,
      );
    }
    if (mp.announced.length > 0 && mp.nextHop) {
      // Interned by content without the MP attributes, so that routes sent either way share one set.
      const { mpReach: _reach, mpUnreach: _unreach, ...rest } = update.attributes;
      const attributes = { ...rest, nextHop: mp.nextHop };
      const raw = encodeAttributes(attributes, { fourOctetAs: true, ibgp: entry.session.codecContext().ibgp });
      this.rib.update(entry.id, this.rib.attrSets.intern(raw, attributes, true), mp.announced);
    }
    this.changed();
  }

  private peerEndOfRib(entry: PeerEntry): void {
    entry.sentEndOfRib = true;
    this.rib.sweepStale(entry.id);
    if (this.restarting && [...this.peers.values()].every((e) => e.sentEndOfRib || !e.session.isEstablished)) {
      this.endDeferral();
    }
    this.changed();
  }

  private endDeferral(): void {
    if (!this.restarting) return;
    this.restarting = false;
    clearTimeout(this.deferralTimer);
    for (const e of this.peers.values()) e.session.restarting = false;
    this.kernel?.endDeferral();
  }

  /** Something changed: send what the RIB queued, soon, in one pass. */
  private changed(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.kernel) this.kernel.take(this.rib.takeBestPathChanges());
    let more = false;
    for (const entry of this.peers.values()) {
      if (!entry.session.isEstablished || entry.blocked) continue;
      const batch = this.rib.drainOutbound(entry.id, DRAIN_CHUNK);
      const messages: Uint8Array[] = [];
      if (batch.withdrawn.length > 0) messages.push(...encodeWithdrawals(batch.withdrawn));
      for (const a of batch.announced) messages.push(...encodeUpdates(a.attrs.raw, a.prefixes));
      const pending = this.rib.pendingOutbound(entry.id);
      if (pending === 0 && entry.endOfRibOwed) {
        messages.push(encodeEndOfRib(AFI_IPV4, SAFI_UNICAST));
        entry.endOfRibOwed = false;
      }
      if (messages.length > 0 && !entry.session.send(messages)) entry.blocked = true;
      if (pending > 0 && !entry.blocked) more = true;
    }
    if (more) this.changed();
  }
}

/** The address our side of the session uses: the NEXT_HOP we advertise. */
function sessionLocalAddress(session: BgpSession, config: SpeakerPeerConfig): string {
  return session.localAddress ?? config.localAddress ?? '0.0.0.0';
}

/**
 * IPv4 unicast routes carried in MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 4760) rather than in the classic fields.
 * A next hop that is not IPv4 (RFC 8950 extended next hop) is not supported: those routes are left out, said why.
 */
function ipv4MultiprotocolRoutes(
  attributes: PathAttributes,
  problems: string[],
): { announced: Ipv4PrefixKey[]; withdrawn: Ipv4PrefixKey[]; nextHop: string | undefined } {
  const isIpv4Unicast = (m: { afi: number; safi: number } | undefined) =>
    m?.afi === AFI_IPV4 && m.safi === SAFI_UNICAST;
  const reach = isIpv4Unicast(attributes.mpReach) ? attributes.mpReach : undefined;
  const unreach = isIpv4Unicast(attributes.mpUnreach) ? attributes.mpUnreach : undefined;
  const withdrawn = (unreach?.withdrawn ?? []).map((p) => parseIpv4Prefix(p));
  let announced = (reach?.nlri ?? []).map((p) => parseIpv4Prefix(p));
  const nextHop = reach?.nextHops.find((h) => IPV4_ADDRESS.test(h));
  if (announced.length > 0 && !nextHop) {
    problems.push(`MP_REACH_NLRI with next hop ${reach?.nextHops.join(',')} for IPv4 routes: not supported, ignored`);
    announced = [];
  }
  return { announced, withdrawn, nextHop };
}

const IPV4_ADDRESS = /^\d{1,3}(\.\d{1,3}){3}$/;
