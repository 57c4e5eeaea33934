// tabby-ipip: the userspace IPIP datapath in a process of its own, started by felix and outliving tabby-node, so a
// restart or upgrade of tabby-node does not stop tunnelled traffic (the kernel's ipip would not stop either).
// Felix finds it again on its control socket (<run-dir>/ipip.sock) and hands it the routes:
//   GET /state     {ifname, localAddress, pid, stats}
//   PUT /routes    IpipRoute[] → setRoutes
//   DELETE /       IPIP turned off: stops, removes the device and exits
// Run as `node daemon.js '<DaemonConfig as JSON>'` in the node's network namespace. SIGTERM stops it and leaves
// the (persistent) device and the routes through it for the next datapath to attach to.
import { listenUnix, type UnixReply } from '../../node/unix-http';
import type { IpipRoute } from './routes';
import { UserspaceIpip } from './userspace-ipip';

export interface IpipDaemonConfig {
  ifname: string;
  localAddress: string;
  mtu: number;
  controlSocket: string;
}

export interface IpipDaemonState {
  ifname: string;
  localAddress: string;
  pid: number;
  stats: ReturnType<UserspaceIpip['stats']>;
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as IpipDaemonConfig;
  const ipip = UserspaceIpip.start({
    ifname: config.ifname,
    localAddress: config.localAddress,
    mtu: config.mtu,
    persistent: true,
  });
  const log = (line: string) => process.stderr.write(`${new Date().toISOString()} tabby-ipip: ${line}\n`);
  const server = await listenUnix(config.controlSocket, (method, path, body): UnixReply => {
    if (method === 'GET' && path === '/state') {
      const state: IpipDaemonState = {
        ifname: config.ifname,
        localAddress: config.localAddress,
        pid: process.pid,
        stats: ipip.stats(),
      };
      return { status: 200, body: state };
    }
    if (method === 'PUT' && path === '/routes') {
      try {
        ipip.setRoutes(body as IpipRoute[]);
        return { status: 200, body: { routes: (body as IpipRoute[]).length } };
      } catch (err) {
        return { status: 400, body: { error: (err as Error).message } };
      }
    }
    if (method === 'DELETE' && path === '/') {
      log('IPIP turned off: stopping and removing the device');
      setImmediate(() => {
        ipip.stop();
        server.close();
        process.exit(0);
      });
      return { status: 200, body: { stopping: true } };
    }
    return { status: 404, body: { error: `no ${method} ${path}` } };
  });
  log(`forwarding on ${config.ifname} for ${config.localAddress} (pid ${process.pid})`);
  process.on('SIGTERM', () => {
    ipip.stop();
    server.close();
    process.exit(0);
  });
}

main().catch((err: Error) => {
  process.stderr.write(`tabby-ipip: ${err.message}\n`);
  process.exit(1);
});
