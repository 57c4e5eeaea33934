// BGP inside tabby-node: the speaker configured from the datastore as Calico's confd configures BIRD (mesh,
// BGPPeers, route reflection, BGPConfiguration: planPeering), advertising the blocks of this node as aggregates
// and its borrowed addresses as /32s (DESIGN §2), installing what it learns into the kernel as `proto bgp`.
// Changes of peers are applied to the running speaker; a change of AS, router id, listen address or cluster id
// restarts it (gracefully: peers keep our routes meanwhile).
import {
  BgpSpeaker,
  type PeeringPlan,
  type PeerStatus,
  planPeering,
  type SpeakerRoute,
  type SpeakerStatus,
} from '../bgp';
import { type Backend, kindByAlias, type Resource, Syncer } from '../datastore';

type Log = (line: string) => void;

/** What BGP follows in the datastore; anything else (CalicoNodeStatus writes among them) does not wake it. */
export const NODE_BGP_KINDS = ['node', 'bgppeer', 'bgpconfiguration'] as const;

/** CONTRACT §3's peer objects in the node status. */
export interface NodePeerStatus {
  address: string;
  asNumber: number;
  type: string;
  state: string;
  since: string;
  info: string;
  prefixesReceived: number;
  prefixesAccepted: number;
  prefixesAdvertised: number;
}

/** The running speaker, as Calico's node status reports its BGP daemon (BIRD's `show status`). */
export interface BgpSpeakerInfo {
  routerId: string;
  /** When the running speaker started (BIRD's last reboot). */
  startedAt: Date;
  /** When its peers were last set from the datastore (BIRD's last reconfiguration). */
  reconfiguredAt: Date;
}

function peerStatus(p: PeerStatus): NodePeerStatus {
  const { address, asNumber, type, state, since, info, prefixesReceived, prefixesAccepted, prefixesAdvertised } = p;
  return { address, asNumber, type, state, since, info, prefixesReceived, prefixesAccepted, prefixesAdvertised };
}

/** The fields that need a new speaker when they change. */
function speakerIdentity(plan: PeeringPlan): string {
  return JSON.stringify([
    plan.asNumber,
    plan.routerId,
    plan.listenAddress,
    plan.listenPort,
    plan.routeReflectorClusterId,
  ]);
}

export class NodeBgp {
  private readonly resources = new Map<string, Map<string, Resource>>();
  private readonly syncer: Syncer;
  private speaker: BgpSpeaker | undefined;
  private speakerInfo: BgpSpeakerInfo | undefined;
  /** The peers the speaker was last given, as JSON. */
  private peerConfig = '';
  private identity = '';
  private originated: string[] = [];
  private inSync = false;
  private reconfiguring: Promise<void> = Promise.resolve();
  private lastProblems = '';

  constructor(
    backend: Backend,
    private readonly nodeName: string,
    private readonly log: Log,
  ) {
    for (const kind of ['Node', 'BGPPeer', 'BGPConfiguration']) this.resources.set(kind, new Map());
    this.syncer = new Syncer(
      backend,
      {
        onUpdates: (updates) => {
          for (const { type, object } of updates) {
            const map = this.resources.get(object.kind)!;
            if (type === 'DELETED') map.delete(object.metadata.name);
            else map.set(object.metadata.name, object);
          }
          this.reconfigure();
        },
        onStatus: (status) => {
          this.inSync = status === 'in-sync';
          if (this.inSync) this.reconfigure();
        },
      },
      { kinds: NODE_BGP_KINDS.map((k) => kindByAlias(k)!) },
    );
  }

  start(): void {
    this.syncer.start();
  }

  /** What this node advertises: its blocks and borrowed /32s, as felix computed them. */
  setOriginated(prefixes: readonly string[]): void {
    this.originated = [...prefixes];
    this.speaker?.setOriginated(this.originated);
  }

  status(): SpeakerStatus | undefined {
    return this.speaker?.status();
  }

  peers(): NodePeerStatus[] {
    return (this.speaker?.status().peers ?? []).map(peerStatus);
  }

  /** Undefined while no speaker runs (not registered yet, or stopped). */
  info(): BgpSpeakerInfo | undefined {
    return this.speaker && this.speakerInfo;
  }

  routes(): SpeakerRoute[] {
    return this.speaker?.routes() ?? [];
  }

  /** Graceful: peers keep our routes and the kernel keeps what we installed, for the next start to pick up. */
  async stop(): Promise<void> {
    this.syncer.stop();
    await this.reconfiguring;
    await this.speaker?.stop({ graceful: true });
    this.speaker = undefined;
  }

  private reconfigure(): void {
    if (!this.inSync) return;
    this.reconfiguring = this.reconfiguring
      .then(() => this.apply())
      .catch((err: Error) => this.log(`bgp: ${err.message}`));
  }

  private async apply(): Promise<void> {
    const plan = planPeering({
      nodeName: this.nodeName,
      nodes: [...this.resources.get('Node')!.values()],
      bgpPeers: [...this.resources.get('BGPPeer')!.values()],
      bgpConfigurations: [...this.resources.get('BGPConfiguration')!.values()],
    });
    const problems = plan.problems.join('; ');
    if (problems !== this.lastProblems && problems !== '') this.log(`bgp: ${problems}`);
    this.lastProblems = problems;
    if (!plan.routerId) {
      // Not registered yet (no address): nothing to peer with.
      return;
    }
    const identity = speakerIdentity(plan);
    if (this.speaker && identity !== this.identity) {
      this.log('bgp: AS, router id, listen address or cluster id changed: restarting the speaker');
      await this.speaker.stop({ graceful: true });
      this.speaker = undefined;
    }
    if (!this.speaker) {
      this.identity = identity;
      this.speaker = new BgpSpeaker(
        {
          asNumber: plan.asNumber,
          routerId: plan.routerId,
          listen: { address: plan.listenAddress, port: plan.listenPort },
          peers: plan.peers,
          routeReflectorClusterId: plan.routeReflectorClusterId,
          originate: this.originated,
          kernel: { export: true, table: 'main' },
        },
        { log: (line) => this.log(`bgp: ${line}`) },
      );
      await this.speaker.start();
      const now = new Date();
      this.speakerInfo = { routerId: plan.routerId, startedAt: now, reconfiguredAt: now };
      this.peerConfig = JSON.stringify(plan.peers);
      this.log(`bgp: AS ${plan.asNumber}, router id ${plan.routerId}, ${plan.peers.length} peer(s)`);
      return;
    }
    this.speaker.setPeers(plan.peers);
    // Any Node, BGPPeer or BGPConfiguration change lands here; only a change of this node's peers reconfigures.
    const peerConfig = JSON.stringify(plan.peers);
    if (peerConfig !== this.peerConfig && this.speakerInfo) {
      this.speakerInfo = { ...this.speakerInfo, reconfiguredAt: new Date() };
    }
    this.peerConfig = peerConfig;
  }
}
