// One node's userspace IPIP datapath for tests and benchmarks, run inside the node's network namespace (the
// datapath's TUN device and raw socket belong to the namespace of the process that opens them):
//   ip netns exec NODE node ipip-node.js '<IpipNodeConfig as JSON>'
// It starts the datapath with the given routes, prints `{"event":"ready"}` once the device exists, and serves JSON
// over HTTP on `controlSocket` until SIGTERM:
//   GET /stats    UserspaceIpipStats          PUT /routes   body IpipRoute[]: setRoutes
//   POST /stop    stops the datapath (the device goes) but keeps serving, so a test can look at what is left

import { type IpipRoute, UserspaceIpip, type UserspaceIpipOptions } from '../../felix/ipip';
import { listenUnix, type UnixReply } from '../../node/unix-http';

export interface IpipNodeConfig extends UserspaceIpipOptions {
  routes: IpipRoute[];
  controlSocket: string;
}

function handle(ipip: UserspaceIpip, method: string, path: string, body: unknown): UnixReply {
  if (method === 'GET' && path === '/stats') return { status: 200, body: ipip.stats() };
  if (method === 'PUT' && path === '/routes') {
    ipip.setRoutes(body as IpipRoute[]);
    return { status: 200, body: { routes: (body as IpipRoute[]).length } };
  }
  if (method === 'POST' && path === '/stop') {
    ipip.stop();
    return { status: 200, body: { stopped: true } };
  }
  return { status: 404, body: { error: `no ${method} ${path}` } };
}

async function main(): Promise<void> {
  const { routes, controlSocket, ...options } = JSON.parse(process.argv[2] ?? '') as IpipNodeConfig;
  const ipip = UserspaceIpip.start(options);
  ipip.setRoutes(routes);
  const server = await listenUnix(controlSocket, (method, path, body) => handle(ipip, method, path, body));
  process.on('SIGTERM', () => {
    ipip.stop();
    server.close();
  });
  process.stdout.write(`${JSON.stringify({ event: 'ready' })}\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`ipip-node: ${err.message}\n`);
  process.exit(1);
});
