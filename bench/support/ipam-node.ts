// The node allocator of the IPAM benchmark, in a process of its own so the benchmark's clients do not share its
// event loop: an IpamService for one node behind <run-dir>/ipam.sock (node/ipam-server, as tabby-node serves it),
// and its counters on <run-dir>/bench-stats.sock (GET /stats: batches, requests, datastore calls).
// Under `node --cpu-prof` it writes its profile when it stops.
//
//   node dist/bench/support/ipam-node.js --etcd-endpoints URL[,URL] --run-dir DIR --node NAME
//
// Prints "ready" once both sockets listen; stops on SIGTERM.
import type http from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openBackend } from '../../datastore';
import { IpamService } from '../../ipam';
import { IPAM_SOCKET, serveIpam } from '../../node/ipam-server';
import { listenUnix } from '../../node/unix-http';
import { type AllocatorCounters, countingBackend, STATS_SOCKET } from './ipam-stats';
import { failAs, report } from './report';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'etcd-endpoints': { type: 'string' },
      'run-dir': { type: 'string' },
      node: { type: 'string' },
    },
  });
  const endpoints = values['etcd-endpoints'];
  const runDir = values['run-dir'];
  const node = values.node;
  if (!endpoints || !runDir || !node) failAs('ipam-node', '--etcd-endpoints, --run-dir and --node are required');
  const { backend, calls } = countingBackend(openBackend({ type: 'etcdv3', etcdEndpoints: endpoints.split(',') }));
  const service = new IpamService(backend, node);
  // As tabby-node: pools, IPAMConfiguration and Node come from a syncer, not from reads per batch.
  service.watchContext();
  const servers: http.Server[] = [
    await serveIpam(path.join(runDir, IPAM_SOCKET), service),
    await listenUnix(path.join(runDir, STATS_SOCKET), (method, route) => {
      if (method !== 'GET' || route !== '/stats') return { status: 404, body: { error: 'GET /stats' } };
      const counters: AllocatorCounters = { ...service.stats, calls: { ...calls } };
      return { status: 200, body: counters };
    }),
  ];
  process.on('SIGTERM', () => {
    for (const server of servers) server.close();
    void backend.close().finally(() => process.exit(0));
  });
  report('ready');
}

main().catch((err: Error) => failAs('ipam-node', err.stack ?? err.message));
