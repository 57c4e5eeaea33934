// The IPIP device tunl0: the kernel's where `ip link add type ipip` works, else tabby's userspace datapath
// (DESIGN §3), which is wire-identical. Either way it gets the node's tunnel address /32 and an MTU 20 bytes under
// the underlay's; the userspace datapath also needs the block → node table, since a TUN device never sees a
// route's gateway. With a run dir, the userspace datapath runs as its own process (felix/ipip/daemon.ts) that
// outlives tabby-node, so restarting the node does not interrupt tunnelled traffic; without one, in this process.
import { spawn } from 'node:child_process';
import { openSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { callUnix } from '../node/unix-http';
import type { TunnelPeer } from './calc/dataplane';
import { IPIP_OVERHEAD_BYTES, kernelIpipAvailable, UserspaceIpip } from './ipip';
import type { IpipDaemonConfig, IpipDaemonState } from './ipip/daemon';
import { Links } from './links';

export interface IpipDeviceSpec {
  name: string;
  /** The node's underlay address: the outer source. */
  localIp: string;
  address: string | undefined;
  /** 0: the underlay's MTU minus the IPIP overhead. */
  mtu: number;
  peers: readonly TunnelPeer[];
}

const DAEMON_SOCKET = 'ipip.sock';
const DAEMON_START_TIMEOUT_MS = 10_000;

export class IpipDevice {
  private readonly links = new Links();
  private kernel: boolean | undefined;
  /** The in-process datapath, when there is no run dir for a daemon. */
  private userspace: UserspaceIpip | undefined;

  constructor(private readonly runDir?: string) {}

  /** Which datapath carries tunl0: known after the first ensure(). */
  get mode(): 'kernel' | 'userspace' | undefined {
    return this.kernel === undefined ? undefined : this.kernel ? 'kernel' : 'userspace';
  }

  async ensure(spec: IpipDeviceSpec): Promise<string[]> {
    const changes: string[] = [];
    this.kernel ??= await kernelIpipAvailable();
    const underlay = await this.links.holderOf(spec.localIp);
    if (!underlay) throw new Error(`IPIP: no interface holds the node address ${spec.localIp}`);
    const mtu = spec.mtu || underlay.mtu - IPIP_OVERHEAD_BYTES;
    if (this.kernel) {
      if (!(await this.links.link(spec.name))) {
        await this.links.ip(['link', 'add', spec.name, 'type', 'ipip']);
        changes.push(`created ${spec.name} (kernel)`);
      }
    } else {
      const routes = spec.peers.map((p) => ({ cidr: p.cidr, remote: p.remote }));
      changes.push(
        ...(this.runDir ? await this.ensureDaemon(spec, mtu, routes) : this.ensureInProcess(spec, mtu, routes)),
      );
    }
    const link = await this.links.link(spec.name);
    if (!link) throw new Error(`IPIP: ${spec.name} does not exist after setting it up`);
    changes.push(...(await this.links.ensureUp(link, mtu)));
    changes.push(...(await this.links.ensureOnlyAddress(spec.name, spec.address)));
    return changes;
  }

  /** IPIP off: the userspace datapath stops and its device is deleted; a kernel tunl0 is taken down. */
  async remove(name: string): Promise<boolean> {
    const daemon = await this.daemonState();
    if (daemon) await callUnix(this.daemonSocket(), 'DELETE', '/').catch(() => undefined);
    const link = await this.links.link(name);
    if (this.userspace || daemon || link?.linkinfo?.info_kind === 'tun') {
      this.stopInProcess();
      if (link) await this.links.ip(['link', 'del', name]);
      return true;
    }
    if (!link?.flags?.includes('UP')) return false;
    await this.links.ensureOnlyAddress(name, undefined);
    await this.links.ip(['link', 'set', name, 'down']);
    return true;
  }

  /** The process is stopping: an in-process datapath ends (its persistent device and routes stay); a daemon goes on. */
  stop(): void {
    this.stopInProcess();
  }

  private ensureInProcess(spec: IpipDeviceSpec, mtu: number, routes: { cidr: string; remote: string }[]): string[] {
    const changes: string[] = [];
    if (this.userspace && this.userspace.localAddress !== spec.localIp) this.stopInProcess();
    if (!this.userspace) {
      // Persistent: a restarted tabby-node attaches to the same device, and its routes never go away.
      this.userspace = UserspaceIpip.start({ ifname: spec.name, localAddress: spec.localIp, mtu, persistent: true });
      disableIpv6(spec.name);
      changes.push(`started the userspace IPIP datapath on ${spec.name}`);
    }
    this.userspace.setRoutes(routes);
    return changes;
  }

  private daemonSocket(): string {
    return path.join(this.runDir!, DAEMON_SOCKET);
  }

  private async daemonState(): Promise<IpipDaemonState | undefined> {
    if (!this.runDir) return undefined;
    try {
      const reply = await callUnix(this.daemonSocket(), 'GET', '/state', undefined, 2000);
      return reply.status === 200 ? (reply.body as IpipDaemonState) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Finds the datapath daemon (or starts one) and gives it the routes. */
  private async ensureDaemon(spec: IpipDeviceSpec, mtu: number, routes: { cidr: string; remote: string }[]) {
    const changes: string[] = [];
    let state = await this.daemonState();
    if (state && (state.localAddress !== spec.localIp || state.ifname !== spec.name)) {
      await callUnix(this.daemonSocket(), 'DELETE', '/').catch(() => undefined);
      state = undefined;
      changes.push('replaced the IPIP datapath (the node address changed)');
    }
    if (!state) {
      const config: IpipDaemonConfig = {
        ifname: spec.name,
        localAddress: spec.localIp,
        mtu,
        controlSocket: this.daemonSocket(),
      };
      const logFd = openSync(path.join(this.runDir!, 'ipip.log'), 'a');
      // Detached, in its own session: it must outlive this process.
      const child = spawn(process.execPath, [path.join(__dirname, 'ipip', 'daemon.js'), JSON.stringify(config)], {
        detached: true,
        stdio: ['ignore', logFd, logFd],
      });
      child.unref();
      const deadline = Date.now() + DAEMON_START_TIMEOUT_MS;
      for (state = await this.daemonState(); !state; state = await this.daemonState()) {
        if (Date.now() > deadline) {
          throw new Error(
            `IPIP: the datapath process did not answer on ${this.daemonSocket()} (see ${this.runDir}/ipip.log)`,
          );
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      disableIpv6(spec.name);
      changes.push(`started the userspace IPIP datapath on ${spec.name} (pid ${state.pid})`);
    }
    const reply = await callUnix(this.daemonSocket(), 'PUT', '/routes', routes);
    if (reply.status !== 200) throw new Error(`IPIP: routes refused: ${(reply.body as { error?: string }).error}`);
    return changes;
  }

  private stopInProcess(): void {
    this.userspace?.stop();
    this.userspace = undefined;
  }
}

/** The kernel's IPv6 link-local chatter on the TUN device is nothing the datapath can carry. */
function disableIpv6(name: string): void {
  try {
    writeFileSync(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, '1');
  } catch {
    // No IPv6 on this host: nothing to turn off.
  }
}
