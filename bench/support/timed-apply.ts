// Writes resources to the datastore and says when each write was done, for benchmarks that time how long the
// dataplane takes to follow a write: run inside the namespace etcd is reachable in; reads a JSON array of resources
// on stdin, connects (not timed), applies them one after the other (as `tabbyctl apply` does), and prints a JSON
// array of wall-clock times in milliseconds, each taken when its write was acknowledged.
//
//   node dist/bench/support/timed-apply.js --etcd-endpoints URL < resources.json
import { parseArgs } from 'node:util';
import { readStdin } from '../../cni/protocol';
import { kindByAlias, openBackend, type Resource, ResourceClient } from '../../datastore';
import { failAs, wallClockMs } from './report';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'etcd-endpoints': { type: 'string' } } });
  const endpoints = values['etcd-endpoints'];
  if (!endpoints) failAs('timed-apply', '--etcd-endpoints is required');
  const resources = JSON.parse(await readStdin()) as Resource[];
  const backend = openBackend({ type: 'etcdv3', etcdEndpoints: endpoints.split(',') });
  try {
    const client = new ResourceClient(backend);
    // The connection is made before the clock starts: the first write should not pay for it.
    const first = resources[0];
    if (first) await client.list(kindByAlias(first.kind)!).catch(() => []);
    const times: number[] = [];
    for (const resource of resources) {
      await client.apply(resource);
      times.push(wallClockMs());
    }
    process.stdout.write(`${JSON.stringify(times)}\n`);
  } finally {
    await backend.close();
  }
}

main().catch((err: Error) => failAs('timed-apply', err.message));
