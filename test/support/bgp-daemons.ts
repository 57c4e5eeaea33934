// Real BGP daemons for interop tests, each run inside a topology node: BIRD 2, GoBGP and tabby-bgp, with the
// configuration files they need and ways to ask them what they have.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { readStatus } from '../../node/status-server';
import type { ProcessHandle, Topology } from '../harness';
import { waitFor } from './wait';

const TABBY_BGP = path.join(__dirname, '..', '..', 'bin', 'tabby-bgp');

export interface BirdPeer {
  name: string;
  address: string;
  asNumber: number;
  password?: string;
  rrClient?: boolean;
  /** Extra lines inside the protocol block. */
  extra?: string;
}

export class Bird {
  private constructor(
    readonly topo: Topology,
    readonly node: string,
    readonly socket: string,
    readonly process: ProcessHandle,
  ) {}

  static async start(
    topo: Topology,
    node: string,
    o: {
      routerId: string;
      asNumber: number;
      peers: BirdPeer[];
      staticRoutes?: string[];
      kernelExport?: boolean;
      clusterId?: string;
    },
  ): Promise<Bird> {
    const conf = path.join(topo.dir, `bird-${node}.conf`);
    const socket = path.join(topo.dir, `bird-${node}.ctl`);
    const statics = (o.staticRoutes ?? []).map((r) => `  route ${r} blackhole;`).join('\n');
    const peers = o.peers
      .map(
        (p) => `protocol bgp ${p.name} {
  local as ${o.asNumber};
  neighbor ${p.address} as ${p.asNumber};
  ${p.password ? `password "${p.password}";` : ''}
  ${p.rrClient ? 'rr client;' : ''}
  ${o.clusterId ? `rr cluster id ${o.clusterId};` : ''}
  connect retry time 1;
  error wait time 1, 2;
  graceful restart on;
  ${p.extra ?? ''}
  ipv4 { import all; export all; };
}`,
      )
      .join('\n');
    writeFileSync(
      conf,
      `router id ${o.routerId};
protocol device {}
${o.kernelExport ? 'protocol kernel { ipv4 { export all; }; learn; }' : ''}
protocol static { ipv4;
${statics}
}
${peers}
`,
    );
    const proc = await topo.spawn(node, 'bird', ['-f', '-c', conf, '-s', socket]);
    const bird = new Bird(topo, node, socket, proc);
    await waitFor(
      async () => {
        if (!proc.running) throw new Error(`bird exited: ${proc.output()}`);
        return (await topo.exec(node, 'birdc', ['-s', socket, 'show', 'status'], { allowFail: true })).code === 0;
      },
      'BIRD to start',
      10_000,
      50,
    );
    return bird;
  }

  async birdc(...args: string[]): Promise<string> {
    return (await this.topo.exec(this.node, 'birdc', ['-s', this.socket, ...args])).stdout;
  }

  async established(protocol: string): Promise<boolean> {
    return /Established/.test(await this.birdc('show', 'protocols', protocol));
  }

  /** `show route all` output for a prefix, or '' when BIRD has no route for it. */
  async route(prefix: string): Promise<string> {
    const out = await this.birdc('show', 'route', prefix, 'all');
    return out.includes(prefix.split('/')[0]!) ? out : '';
  }
}

export class GoBgp {
  private constructor(
    readonly topo: Topology,
    readonly node: string,
    readonly apiPort: number,
    readonly process: ProcessHandle,
  ) {}

  static async start(
    topo: Topology,
    node: string,
    o: { routerId: string; asNumber: number; peers: { address: string; asNumber: number }[] },
  ): Promise<GoBgp> {
    const conf = path.join(topo.dir, `gobgp-${node}.toml`);
    const neighbors = o.peers
      .map(
        (p) => `[[neighbors]]
  [neighbors.config]
    neighbor-address = "${p.address}"
    peer-as = ${p.asNumber}
  [neighbors.timers.config]
    connect-retry = 1
  [neighbors.graceful-restart.config]
    enabled = true
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
`,
      )
      .join('\n');
    writeFileSync(conf, `[global.config]\n  as = ${o.asNumber}\n  router-id = "${o.routerId}"\n\n${neighbors}`);
    const apiPort = 50051;
    const proc = await topo.spawn(node, 'gobgpd', ['-f', conf, '--api-hosts', `127.0.0.1:${apiPort}`, '-l', 'warn']);
    return new GoBgp(topo, node, apiPort, proc);
  }

  async gobgp(...args: string[]): Promise<string> {
    return (await this.topo.exec(this.node, 'gobgp', ['-u', '127.0.0.1', '-p', String(this.apiPort), ...args])).stdout;
  }

  async established(address: string): Promise<boolean> {
    return /BGP state\s*=\s*established/i.test(await this.gobgp('neighbor', address));
  }

  async ribJson(): Promise<Record<string, { attrs: { type: number; [k: string]: unknown }[]; nexthop?: string }[]>> {
    const out = await this.gobgp('global', 'rib', '-j');
    return out.trim() ? JSON.parse(out) : {};
  }
}

export class TabbyBgp {
  private constructor(
    readonly topo: Topology,
    readonly node: string,
    readonly statusSocket: string,
    readonly process: ProcessHandle,
    readonly configFile: string,
  ) {}

  static async start(topo: Topology, node: string, config: Record<string, unknown>): Promise<TabbyBgp> {
    const configFile = path.join(topo.dir, `tabby-bgp-${node}.yaml`);
    const statusSocket = path.join(topo.dir, `tabby-bgp-${node}.sock`);
    writeFileSync(configFile, stringify(config));
    const proc = await topo.spawn(node, process.execPath, [
      TABBY_BGP,
      '--config',
      configFile,
      '--status-socket',
      statusSocket,
    ]);
    return new TabbyBgp(topo, node, statusSocket, proc, configFile);
  }

  /** Starts it again with the same configuration (after a stop: a graceful restart). */
  async restart(): Promise<TabbyBgp> {
    const proc = await this.topo.spawn(this.node, process.execPath, [
      TABBY_BGP,
      '--config',
      this.configFile,
      '--status-socket',
      this.statusSocket,
    ]);
    return new TabbyBgp(this.topo, this.node, this.statusSocket, proc, this.configFile);
  }

  async status(): Promise<{
    peers: {
      address: string;
      state: string;
      info: string;
      prefixesReceived: number;
      prefixesAccepted: number;
      prefixesAdvertised: number;
    }[];
    rib: { prefixes: number; paths: number };
  }> {
    return (await readStatus(this.statusSocket)) as never;
  }

  async peer(address: string) {
    return (await this.status()).peers.find((p) => p.address === address);
  }

  async kernelRoutes(): Promise<string> {
    return (await this.topo.exec(this.node, 'ip', ['-4', 'route', 'show', 'proto', 'bgp'])).stdout;
  }
}
