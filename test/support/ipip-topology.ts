// Two nodes on the underlay segment 192.0.2.0/24, each with one pod plumbed as Calico's CNI plugin does, reaching
// each other's pod either through the userspace IPIP datapath (a helper process per node, ipip-node.ts) or routed
// plainly over the underlay, for the IPIP integration test and benchmark.
//
// The pod: its address /32 on eth0, `169.254.1.1 dev eth0 scope link` and the default route via it. The node: the
// host end `cali<node>0` with proxy_arp=1 and neigh proxy_delay=0, and `<pod>/32 dev cali<node>0 scope link`.
// Proxy ARP answers for 169.254.1.1 only if the node has a route to it that leaves by another device, as a real
// node's default route does, so the nodes get a default route via 192.0.2.1, an address nobody holds: nothing is
// sent there, every destination in use is routed more specifically.
//
// Userspace IPIP, felix's part done by hand: tunl0 up with the node's tunnel address /32, the other node's block
// routed `via <node ip> dev tunl0 onlink`, the same block → node pair given to the datapath; the pods' veths get
// the tunnel MTU (underlay − 20) as Calico's CNI `mtu` gives them.
import * as path from 'node:path';
import type { IpipRoute, UserspaceIpipStats } from '../../felix/ipip';
import { callUnix } from '../../node/unix-http';
import { type ProcessHandle, run, runIn, type Topology } from '../harness';
import type { IpipNodeConfig } from './ipip-node';
import { waitFor } from './wait';

export type NodeName = 'a' | 'b';

export interface NodePlan {
  underlay: string;
  block: string;
  tunnelAddress: string;
  pod: string;
  peer: NodeName;
}

export const IPIP_NODES: Readonly<Record<NodeName, NodePlan>> = {
  a: { underlay: '192.0.2.11', block: '10.65.0.0/26', tunnelAddress: '10.65.0.1', pod: '10.65.0.2', peer: 'b' },
  b: { underlay: '192.0.2.12', block: '10.65.1.0/26', tunnelAddress: '10.65.1.1', pod: '10.65.1.2', peer: 'a' },
};

const UNDERLAY_MTU = 1500;
export const TUNNEL_MTU = UNDERLAY_MTU - 20;
const UNUSED_GATEWAY = '192.0.2.1';
const HELPER = path.join(__dirname, 'ipip-node.js');

export type PodPath = 'userspace-ipip' | 'routed';

/** What felix gives the datapath on `node`: the other node's block, behind the other node. */
export function peerRoutes(node: NodeName): IpipRoute[] {
  const peer = IPIP_NODES[IPIP_NODES[node].peer];
  return [{ cidr: peer.block, remote: peer.underlay }];
}

export async function ipBatch(ns: string, commands: string[]): Promise<void> {
  await run('ip', ['-n', ns, '-batch', '-'], { input: `${commands.join('\n')}\n` });
}

export class PodPair {
  /** The datapath helper of each node (userspace IPIP only). */
  readonly helpers = new Map<NodeName, ProcessHandle>();

  private constructor(
    readonly topo: Topology,
    readonly podPath: PodPath,
  ) {}

  /** Adds segment `lan`, nodes `a` and `b` and their pods to `topo`, connected by `podPath`. */
  static async create(topo: Topology, podPath: PodPath): Promise<PodPair> {
    const pair = new PodPair(topo, podPath);
    await topo.addSegment('lan');
    for (const node of ['a', 'b'] as const) {
      const address = `${IPIP_NODES[node].underlay}/24`;
      await topo.addNode(node, { segment: 'lan', address, gateway: UNUSED_GATEWAY });
    }
    await topo.waitUntilLinksUp();
    for (const node of ['a', 'b'] as const) {
      await pair.addPod(node);
      if (podPath === 'userspace-ipip') await pair.startDatapath(node);
      else await pair.routeOverUnderlay(node);
    }
    return pair;
  }

  podNs(node: NodeName): string {
    return `${this.topo.prefix}pod-${node}`;
  }

  controlSocket(node: NodeName): string {
    return path.join(this.topo.dir, `ipip-${node}.sock`);
  }

  async stats(node: NodeName): Promise<UserspaceIpipStats> {
    const reply = await callUnix(this.controlSocket(node), 'GET', '/stats');
    if (reply.status !== 200) throw new Error(`stats of ${node}: ${JSON.stringify(reply.body)}`);
    return reply.body as UserspaceIpipStats;
  }

  async setRoutes(node: NodeName, routes: IpipRoute[]): Promise<void> {
    const reply = await callUnix(this.controlSocket(node), 'PUT', '/routes', routes);
    if (reply.status !== 200) throw new Error(`routes of ${node}: ${JSON.stringify(reply.body)}`);
  }

  /** Pings from `node`'s pod; resolves with whether every echo was answered. */
  async ping(node: NodeName, address: string, count = 1): Promise<boolean> {
    const args = ['-n', '-c', String(count), '-i', '0.2', '-W', '1', address];
    return (await runIn(this.podNs(node), 'ping', args, { allowFail: true })).code === 0;
  }

  private async addPod(node: NodeName): Promise<void> {
    const { pod } = IPIP_NODES[node];
    const nodeNs = this.topo.nsName(node);
    const podNs = this.podNs(node);
    const hostSide = `cali${node}0`;
    const mtu = this.podPath === 'userspace-ipip' ? TUNNEL_MTU : UNDERLAY_MTU;
    await run('ip', ['netns', 'add', podNs]);
    await ipBatch(nodeNs, [
      `link add ${hostSide} mtu ${mtu} type veth peer name eth0 mtu ${mtu} netns ${podNs}`,
      `link set ${hostSide} up`,
      `route add ${pod}/32 dev ${hostSide} scope link`,
    ]);
    await runIn(nodeNs, 'sysctl', [
      '-qw',
      `net.ipv4.conf.${hostSide}.proxy_arp=1`,
      `net.ipv4.neigh.${hostSide}.proxy_delay=0`,
    ]);
    await ipBatch(podNs, [
      'link set lo up',
      'link set eth0 up',
      `addr add ${pod}/32 dev eth0`,
      'route add 169.254.1.1 dev eth0 scope link',
      'route add default via 169.254.1.1 dev eth0',
    ]);
  }

  private async startDatapath(node: NodeName): Promise<void> {
    const plan = IPIP_NODES[node];
    const peer = IPIP_NODES[plan.peer];
    const config: IpipNodeConfig = {
      localAddress: plan.underlay,
      mtu: TUNNEL_MTU,
      routes: peerRoutes(node),
      controlSocket: this.controlSocket(node),
    };
    const helper = await this.topo.spawn(node, process.execPath, [HELPER, JSON.stringify(config)]);
    this.helpers.set(node, helper);
    await waitFor(() => {
      if (!helper.running) throw new Error(`ipip-node on ${node} exited:\n${helper.output()}`);
      return helper.output().includes('"event":"ready"');
    }, `the datapath on ${node}`);
    await ipBatch(this.topo.nsName(node), [
      'link set tunl0 up',
      `addr add ${plan.tunnelAddress}/32 dev tunl0`,
      `route add ${peer.block} via ${peer.underlay} dev tunl0 onlink`,
    ]);
  }

  private async routeOverUnderlay(node: NodeName): Promise<void> {
    const peer = IPIP_NODES[IPIP_NODES[node].peer];
    await ipBatch(this.topo.nsName(node), [`route add ${peer.block} via ${peer.underlay} dev eth0`]);
  }
}
