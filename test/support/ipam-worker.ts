// One allocator process for the IPAM concurrency tests: allocates COUNT addresses one after another for
// node NODE and prints each as a JSON line the moment it is committed, so a test that SIGKILLs it knows what
// it got. Datastore outages are retried with the same handle, as a container runtime retries a CNI ADD.
import { isDatastoreError, openBackend } from '../../datastore';
import { IpamService, isIpamError } from '../../ipam';

async function main(): Promise<void> {
  const [endpoints, node, countText, prefix] = process.argv.slice(2);
  if (!endpoints || !node || !countText || !prefix) throw new Error('usage: ipam-worker ENDPOINTS NODE COUNT PREFIX');
  const backend = openBackend({ type: 'etcdv3', etcdEndpoints: endpoints.split(',') });
  const service = new IpamService(backend, node);
  for (let i = 0; i < Number(countText); i++) {
    const handleId = `${prefix}.${i}`;
    for (;;) {
      try {
        const got = await service.assign({ handleId, namespace: 'default', pod: handleId });
        process.stdout.write(`${JSON.stringify({ handleId, address: got.address })}\n`);
        break;
      } catch (err) {
        if (isIpamError(err, 'Exhausted')) {
          process.stdout.write(`${JSON.stringify({ handleId, exhausted: (err as Error).message })}\n`);
          await backend.close();
          return;
        }
        if (!isDatastoreError(err, 'Unavailable') && !isIpamError(err, 'Contention')) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
  await backend.close();
}

main().catch((err: Error) => {
  process.stderr.write(`ipam-worker: ${err.stack}\n`);
  process.exit(1);
});
