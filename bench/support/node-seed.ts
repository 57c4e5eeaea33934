// Seeding a benchmark's node with what a busy cluster gives it, without starting pods one by one: addresses from
// IPAM (allocated in etcd's namespace by ipam-assign.ts), veths and WorkloadEndpoints in bulk, other nodes that
// exist only in the datastore; and felix's status as the node reports it.
import http from 'node:http';
import path from 'node:path';
import { buildEndpoint, hostVethName, type WorkloadIdentity } from '../../cni/workload';
import type { FelixStatus } from '../../felix';
import { Topology } from '../../test/harness';
import { Fabric } from '../../test/support/fabric';
import { waitFor } from '../../test/support/wait';

const IPAM_ASSIGN = path.join(__dirname, 'ipam-assign.js');

/** Addresses from IPAM for these handles (a tunnel request as tabby-node makes it), in order. */
export async function assignAddresses(
  fabric: Fabric,
  requests: { node: string; handleId: string; tunnel?: 'vxlan' }[],
): Promise<string[]> {
  const res = await fabric.topo.exec('etcd', process.execPath, [IPAM_ASSIGN, '--etcd-endpoints', fabric.endpoints], {
    input: JSON.stringify(requests),
    timeoutMs: 120_000,
  });
  return JSON.parse(res.stdout) as string[];
}

/** Nodes that exist only in the datastore: an address on the segment, a VXLAN tunnel address and a block each. */
export async function addRemoteNodes(fabric: Fabric, count: number): Promise<void> {
  const names = Array.from({ length: count }, (_, i) => `remote${i}`);
  const tunnels = await assignAddresses(
    fabric,
    names.map((node) => ({ node, handleId: `vxlan-tunnel-addr-${node}`, tunnel: 'vxlan' as const })),
  );
  await fabric.apply(
    ...names.map((name, i) => ({
      apiVersion: 'projectcalico.org/v3',
      kind: 'Node',
      metadata: { name },
      spec: { bgp: { ipv4Address: `192.0.2.${100 + i}/24` }, ipv4VXLANTunnelAddr: tunnels[i] },
    })),
  );
}

/**
 * `count` veths on `node` (their other ends left in the node) and a WorkloadEndpoint each in namespace `bench`,
 * with an address from the node's own blocks and the labels `labelsOf(i)` gives.
 */
export async function addEndpoints(
  fabric: Fabric,
  node: string,
  count: number,
  labelsOf: (i: number) => Record<string, string> = () => ({}),
): Promise<void> {
  const addresses = await assignAddresses(
    fabric,
    Array.from({ length: count }, (_, i) => ({ node, handleId: `bench.c${i}` })),
  );
  const endpoints = [];
  const links: string[] = [];
  for (let i = 0; i < count; i++) {
    const id: WorkloadIdentity = {
      node,
      orchestrator: 'k8s',
      namespace: 'bench',
      pod: `pod${i}`,
      containerId: `c${i}`,
      ifname: 'eth0',
    };
    const hostVeth = hostVethName(id);
    links.push(`link add ${hostVeth} type veth peer name w${i}`, `link set ${hostVeth} up`);
    const attachment = { hostVeth, ipNetworks: [`${addresses[i]}/32`], mac: '02:00:00:00:00:01' };
    const conf = { cniVersion: '1.0.0', name: 'bench', type: 'tabby', args: { cni: { labels: labelsOf(i) } } };
    endpoints.push(buildEndpoint(id, conf, attachment));
  }
  await fabric.topo.exec(node, 'ip', ['-batch', '-'], { input: `${links.join('\n')}\n` });
  for (let i = 0; i < endpoints.length; i += 250) await fabric.apply(...endpoints.slice(i, i + 250));
}

/**
 * Felix's status as the node reports it on its status socket. A Unix socket is a file: reached from here, outside
 * the node's network namespace, with no process started per reading (benchmarks poll it every few milliseconds).
 */
export function felixStatus(fabric: Fabric, node: string): Promise<FelixStatus> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath: path.join(fabric.runDir(node), 'status.sock'), path: '/status' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve((JSON.parse(body || '{"felix":{}}') as { felix: FelixStatus }).felix));
    });
    req.on('error', reject);
  });
}

/** Waits until `node`'s felix is in sync and `until` holds of its status (polled every `pollMs`); resolves with it. */
export async function felixInSync(
  fabric: Fabric,
  node: string,
  what: string,
  until: (s: FelixStatus) => boolean,
  timeoutMs = 600_000,
  pollMs = 200,
): Promise<FelixStatus> {
  let status: FelixStatus | undefined;
  await waitFor(
    async () => {
      status = await felixStatus(fabric, node);
      return status.inSync && until(status);
    },
    `felix on ${node} in sync with ${what}`,
    timeoutMs,
    pollMs,
  );
  return status!;
}

const TIMED_APPLY = path.join(__dirname, 'timed-apply.js');

/** Applies resources from inside etcd's namespace; the wall-clock time (ms) each write was acknowledged. */
export async function timedApply(fabric: Fabric, ...resources: object[]): Promise<number[]> {
  const res = await fabric.topo.exec('etcd', process.execPath, [TIMED_APPLY, '--etcd-endpoints', fabric.endpoints], {
    input: JSON.stringify(resources),
    timeoutMs: 60_000,
  });
  return JSON.parse(res.stdout) as number[];
}

/** The node a seeded benchmark measures, on a segment with etcd. */
export const BENCH_NODE = 'n1';
const BENCH_NODE_ADDRESS = '192.0.2.11';
const ETCD_ADDRESS = '192.0.2.10';

/**
 * etcd and the node `n1` (not started: the caller starts its tabby-node) on one segment, the pool `bench` and the
 * allow-all profile of namespace `bench` written; `body` runs with the fabric, and everything is torn down after,
 * also on failure.
 */
export async function withBenchNode<T>(
  pool: { cidr: string; vxlanMode: 'Always' | 'Never'; natOutgoing: boolean },
  body: (fabric: Fabric) => Promise<T>,
): Promise<T> {
  const topo = await Topology.create();
  let fabric: Fabric | undefined;
  try {
    await topo.addSegment('lan');
    await topo.addNode('etcd', { segment: 'lan', address: `${ETCD_ADDRESS}/24` });
    await topo.addNode(BENCH_NODE, { segment: 'lan', address: `${BENCH_NODE_ADDRESS}/24`, gateway: ETCD_ADDRESS });
    fabric = await Fabric.start(topo, 'etcd', ETCD_ADDRESS);
    await fabric.apply(
      {
        apiVersion: 'projectcalico.org/v3',
        kind: 'IPPool',
        metadata: { name: 'bench' },
        spec: { blockSize: 26, ipipMode: 'Never', ...pool },
      },
      {
        apiVersion: 'projectcalico.org/v3',
        kind: 'Profile',
        metadata: { name: 'kns.bench' },
        spec: { ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }] },
      },
    );
    return await body(fabric);
  } finally {
    await topo.destroy();
    await fabric?.stop();
  }
}
