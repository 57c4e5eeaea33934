// Allocates addresses for benchmarks that seed a datastore, from inside the namespace etcd is reachable in:
// reads [{node, handleId, tunnel?: "vxlan"|"ipip"}] as JSON on stdin, assigns each through an IpamService of its
// node (a tunnel request as tabby-node makes it), and prints the addresses as a JSON array, in order.
//
//   node dist/bench/support/ipam-assign.js --etcd-endpoints URL < requests.json
import { parseArgs } from 'node:util';
import { readStdin } from '../../cni/protocol';
import { openBackend } from '../../datastore';
import { IpamService, tunnelAddressRequest } from '../../ipam';
import { failAs } from './report';

const WAVE = 200;

interface AssignmentRequest {
  node: string;
  handleId: string;
  tunnel?: 'vxlan' | 'ipip';
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'etcd-endpoints': { type: 'string' } } });
  const endpoints = values['etcd-endpoints'];
  if (!endpoints) failAs('ipam-assign', '--etcd-endpoints is required');
  const requests = JSON.parse(await readStdin()) as AssignmentRequest[];
  const backend = openBackend({ type: 'etcdv3', etcdEndpoints: endpoints.split(',') });
  try {
    const services = new Map<string, IpamService>();
    const serviceOf = (node: string) => {
      const service = services.get(node) ?? new IpamService(backend, node);
      services.set(node, service);
      return service;
    };
    // In waves, as pods arrive: thousands at once on one node keep claiming blocks under each other.
    const addresses: string[] = [];
    for (let i = 0; i < requests.length; i += WAVE) {
      const wave = requests.slice(i, i + WAVE).map(async (r) => {
        const request = r.tunnel ? tunnelAddressRequest(r.node, r.tunnel) : { handleId: r.handleId };
        return (await serviceOf(r.node).assign(request)).address;
      });
      addresses.push(...(await Promise.all(wave)));
    }
    process.stdout.write(`${JSON.stringify(addresses)}\n`);
  } finally {
    await backend.close();
  }
}

main().catch((err: Error) => failAs('ipam-assign', err.stack ?? err.message));
