// Real BGP daemons for interop tests, each run inside a topology node: BIRD 2, GoBGP, FRR, ExaBGP and tabby-bgp, with
// the configuration files they need and ways to ask them what they have.
import { closeSync, constants, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { readStatus } from '../../node/status-server';
import { type ProcessHandle, run, type Topology } from '../harness';
import { waitFor } from './wait';

const TABBY_BGP = path.join(__dirname, '..', '..', 'bin', 'tabby-bgp');
/** Debian's frr package keeps its daemons here, off PATH. */
const FRR_BGPD = '/usr/lib/frr/bgpd';

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
      /** Start in graceful-restart recovery mode (`bird -R`): after a crash, tells peers it kept forwarding. */
      recovery?: boolean;
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
# iBGP next hops resolve through the directly connected underlay.
protocol direct { ipv4; }
${o.kernelExport ? 'protocol kernel { ipv4 { export all; }; learn; }' : ''}
protocol static { ipv4;
${statics}
}
${peers}
`,
    );
    const proc = await topo.spawn(node, 'bird', ['-f', ...(o.recovery ? ['-R'] : []), '-c', conf, '-s', socket]);
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
    const gobgp = new GoBgp(topo, node, apiPort, proc);
    // Commands sent before its API listens fail: wait until it answers.
    await waitFor(
      async () => {
        if (!proc.running) throw new Error(`gobgpd exited: ${proc.output()}`);
        const r = await topo.exec(node, 'gobgp', ['-u', '127.0.0.1', '-p', String(apiPort), 'global'], {
          allowFail: true,
        });
        return r.code === 0;
      },
      'GoBGP to start',
      10_000,
      50,
    );
    return gobgp;
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

export interface FrrPath {
  aspath: { string: string };
  nexthops: { ip: string }[];
  valid?: boolean;
  bestpath?: { overall: boolean };
}

/**
 * FRR's bgpd on its own: no zebra, so it neither reads nor writes the kernel's routes, and `network` statements need
 * `no bgp network import-check`. Config, pid file and sockets live under the topology's dir, never FRR's system
 * defaults (/etc/frr, /var/run/frr).
 */
export class Frr {
  private constructor(
    readonly topo: Topology,
    readonly node: string,
    readonly vtyDir: string,
    readonly process: ProcessHandle,
  ) {}

  static async start(
    topo: Topology,
    node: string,
    o: { routerId: string; asNumber: number; peers: { address: string; asNumber: number }[]; networks?: string[] },
  ): Promise<Frr> {
    const dir = path.join(topo.dir, `frr-${node}`);
    mkdirSync(dir);
    const conf = path.join(dir, 'bgpd.conf');
    const neighbors = o.peers
      .map(
        (p) => ` neighbor ${p.address} remote-as ${p.asNumber}
 neighbor ${p.address} timers connect 1
 neighbor ${p.address} advertisement-interval 0`,
      )
      .join('\n');
    const networks = (o.networks ?? []).map((n) => `  network ${n}`).join('\n');
    writeFileSync(
      conf,
      `frr defaults traditional
hostname ${node}
router bgp ${o.asNumber}
 bgp router-id ${o.routerId}
 no bgp ebgp-requires-policy
 no bgp network import-check
${neighbors}
 address-family ipv4 unicast
${networks}
 exit-address-family
`,
    );
    const proc = await topo.spawn(node, FRR_BGPD, [
      '--config_file',
      conf,
      '--pid_file',
      path.join(dir, 'bgpd.pid'),
      '--vty_socket',
      dir,
      // Never talks to zebra; the socket path only keeps even the attempt away from the system's.
      '--no_zebra',
      '--socket',
      path.join(dir, 'zserv.api'),
      '--skip_runas',
      '--vty_port',
      '0',
      '--log',
      'stdout',
    ]);
    const frr = new Frr(topo, node, dir, proc);
    await waitFor(
      async () => {
        if (!proc.running) throw new Error(`bgpd exited: ${proc.output()}`);
        return (await frr.vtyshRun('show bgp summary json')).code === 0;
      },
      'FRR bgpd to start',
      10_000,
      50,
    );
    return frr;
  }

  private vtyshRun(command: string) {
    return this.topo.exec(this.node, 'vtysh', ['--vty_socket', this.vtyDir, '-d', 'bgpd', '-c', command], {
      allowFail: true,
    });
  }

  async vtysh(command: string): Promise<string> {
    const result = await this.vtyshRun(command);
    if (result.code !== 0) throw new Error(`vtysh -c '${command}': ${result.stderr || result.stdout}`);
    return result.stdout;
  }

  /** The session's state as `show bgp summary` names it (Idle, Connect, Active, OpenSent, OpenConfirm, Established). */
  async peerState(address: string): Promise<string | undefined> {
    const summary = JSON.parse(await this.vtysh('show bgp summary json')) as {
      ipv4Unicast?: { peers?: Record<string, { state: string }> };
    };
    return summary.ipv4Unicast?.peers?.[address]?.state;
  }

  async established(address: string): Promise<boolean> {
    return (await this.peerState(address)) === 'Established';
  }

  /** FRR's paths for a prefix (empty when it has none). */
  async route(prefix: string): Promise<FrrPath[]> {
    const route = JSON.parse(await this.vtysh(`show bgp ipv4 unicast ${prefix} json`)) as { paths?: FrrPath[] };
    return route.paths ?? [];
  }
}

export interface ExaBgpNotification {
  direction: 'received' | 'sent';
  code: number;
  subcode: number;
}

/**
 * ExaBGP, driven through its text API: command() writes a line to a FIFO that the `feeder` API process copies to
 * ExaBGP. It only connects out (it does not listen). Each neighbor has `adj-rib-out false`, so a new session does not
 * replay earlier announcements: an UPDATE that got the session reset is not sent again on the next one.
 */
export class ExaBgp {
  private constructor(
    readonly topo: Topology,
    readonly node: string,
    readonly logFile: string,
    private readonly fifo: string,
    readonly process: ProcessHandle,
  ) {}

  static async start(
    topo: Topology,
    node: string,
    o: { routerId: string; asNumber: number; localAddress: string; peers: { address: string; asNumber: number }[] },
  ): Promise<ExaBgp> {
    const prefix = path.join(topo.dir, `exabgp-${node}`);
    const conf = `${prefix}.conf`;
    const logFile = `${prefix}.log`;
    const fifo = `${prefix}.fifo`;
    const feeder = `${prefix}-feeder.sh`;
    await run('mkfifo', [fifo]);
    // Opened read-write, the FIFO never reaches end-of-file when a writer closes it: one feeder serves every command.
    writeFileSync(feeder, `exec cat <> '${fifo}'\n`);
    const neighbors = o.peers
      .map(
        (p) => `neighbor ${p.address} {
  router-id ${o.routerId};
  local-address ${o.localAddress};
  local-as ${o.asNumber};
  peer-as ${p.asNumber};
  adj-rib-out false;
  api { processes [ feeder ]; }
}`,
      )
      .join('\n');
    writeFileSync(conf, `process feeder {\n  run /bin/sh ${feeder};\n  encoder text;\n}\n${neighbors}\n`);
    const env = {
      ...process.env,
      'exabgp.daemon.user': 'root',
      'exabgp.daemon.drop': 'false',
      'exabgp.daemon.daemonize': 'false',
      'exabgp.log.destination': logFile,
      // Session resets (with the NOTIFICATION's code and subcode) are only logged at DEBUG with packet logging on;
      // the hex of every message sent and received comes with them.
      'exabgp.log.level': 'DEBUG',
      'exabgp.log.packets': 'true',
      // No CLI pipes under /run; no acknowledgements written back to a feeder that never reads them.
      'exabgp.api.cli': 'false',
      'exabgp.api.ack': 'false',
    };
    const proc = await topo.spawn(node, 'exabgp', [conf], { env });
    const exabgp = new ExaBgp(topo, node, logFile, fifo, proc);
    await waitFor(
      () => {
        if (!proc.running) throw new Error(`exabgp exited: ${proc.output()}`);
        return exabgp.feederRunning();
      },
      'ExaBGP and its feeder process to start',
      10_000,
      50,
    );
    return exabgp;
  }

  /** The feeder has the FIFO open: a non-blocking open for writing fails (ENXIO) while nobody reads it. */
  private feederRunning(): boolean {
    try {
      closeSync(openSync(this.fifo, constants.O_WRONLY | constants.O_NONBLOCK));
      return true;
    } catch {
      return false;
    }
  }

  /** One API command, e.g. `announce route 10.0.0.0/24 next-hop self attribute [ 0x01 0x40 0x03 ]`. */
  command(line: string): void {
    const fd = openSync(this.fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    try {
      writeSync(fd, `${line}\n`);
    } finally {
      closeSync(fd);
    }
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** Every NOTIFICATION ExaBGP received or sent so far, in order, as its log reports the session resets. */
  notifications(): ExaBgpNotification[] {
    return [...this.log().matchAll(/notification (received|sent) \((\d+),(\d+)\)/g)].map((m) => ({
      direction: m[1] as 'received' | 'sent',
      code: Number(m[2]),
      subcode: Number(m[3]),
    }));
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
      since: string;
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

/** The tabby-bgp speaker of the interop tests: node `tabby` at 192.0.2.11, AS 64512, listening on its address. */
export const TABBY_AT_11 = {
  asNumber: 64512,
  routerId: '192.0.2.11',
  listen: { address: '192.0.2.11', port: 179 },
} as const;
