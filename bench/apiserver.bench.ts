// tabby-apiserver under load (issue 8): requests per second and latency of a GET list of 1,000 resources and of
// small PUTs, driven by autocannon, beside the same read and write on the JSON gateway of the etcd the server
// stores in (/v3/kv/range of the same 1,000 keys, /v3/kv/put of one key), in the same run: the datastore's own
// cost over HTTP, which every API request pays at least once.
//
//   node dist/bench/apiserver.bench.js [--seconds 10] [--connections 10] [--objects 1000] [--rounds 3]
//
// Root is not needed: etcd and the API server listen on loopback. The server is the real executable
// (dist/bin/tabby-apiserver) with a token file; the load generator runs in this process.
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import {
  EtcdBackend,
  etcdKey,
  kindByAlias,
  kindPrefix,
  prefixRangeEnd,
  type Resource,
  ResourceClient,
} from '../datastore';
import { startEtcd } from '../test/harness';
import { API_TOKEN, startApiServer } from '../test/support/apiserver';
import { machine, markdownTable, median, memoryOf, positiveInteger } from './support/report';

const NAMESPACE = 'bench';
const policies = kindByAlias('networkpolicy')!;
const netsets = kindByAlias('networkset')!;

function policy(i: number): Resource {
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'NetworkPolicy',
    metadata: { name: `policy-${i}`, namespace: NAMESPACE, labels: { app: `app-${i % 50}` } },
    spec: {
      selector: `app == "app-${i % 50}"`,
      types: ['Ingress'],
      ingress: [
        {
          action: 'Allow',
          protocol: 'TCP',
          source: { selector: `role == "client-${i % 7}"` },
          destination: { ports: [80, 443] },
        },
      ],
    },
  };
}

/** The small object each PUT writes (about 200 bytes of JSON). */
function netset(i: number): Resource {
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'NetworkSet',
    metadata: { name: `netset-${i}`, namespace: NAMESPACE, labels: { role: 'external' } },
    spec: { nets: [`198.51.100.${i % 256}/32`] },
  };
}

function base64(text: string | Buffer): string {
  return Buffer.from(text).toString('base64');
}

interface Case {
  name: string;
  server: string;
  options: Partial<autocannon.Options>;
}

interface Row {
  name: string;
  server: string;
  rps: number;
  p50: number;
  p99: number;
  bytesPerRequest: number;
  failures: number;
}

async function load(url: string, c: Case, seconds: number, connections: number): Promise<Row> {
  const result = await autocannon({ url, connections, duration: seconds, ...c.options });
  return {
    name: c.name,
    server: c.server,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    bytesPerRequest: result.throughput.total / Math.max(1, result.requests.total),
    failures: result.non2xx + result.errors + result.timeouts,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '10' },
      connections: { type: 'string', default: '10' },
      objects: { type: 'string', default: '1000' },
      rounds: { type: 'string', default: '3' },
    },
  });
  const seconds = positiveInteger('seconds', values.seconds);
  const connections = positiveInteger('connections', values.connections);
  const objects = positiveInteger('objects', values.objects);
  const rounds = positiveInteger('rounds', values.rounds);

  const etcd = await startEtcd();
  const backend = new EtcdBackend(etcd.endpoints);
  const server = await startApiServer(etcd);
  try {
    const client = new ResourceClient(backend);
    for (let i = 0; i < objects; i += 50) {
      const batch = Array.from({ length: Math.min(50, objects - i) }, (_, k) => i + k);
      await Promise.all(batch.flatMap((n) => [client.create(policy(n)), client.create(netset(n))]));
    }
    const auth = { authorization: `Bearer ${API_TOKEN}` };
    const listPath = `/apis/projectcalico.org/v3/namespaces/${NAMESPACE}/networkpolicies`;
    const listed = (await (await fetch(`${server.url}${listPath}`, { headers: auth })).json()) as { items: unknown[] };
    if (listed.items.length !== objects) throw new Error(`the list has ${listed.items.length} items, not ${objects}`);

    const etcdUrl = etcd.endpoints[0]!;
    const prefix = kindPrefix(policies, NAMESPACE);
    const rangeBody = JSON.stringify({ key: base64(prefix), range_end: base64(prefixRangeEnd(prefix)) });
    const ranged = (await (await fetch(`${etcdUrl}/v3/kv/range`, { method: 'POST', body: rangeBody })).json()) as {
      count: string;
    };
    if (Number(ranged.count) !== objects) throw new Error(`etcd's range has ${ranged.count} keys, not ${objects}`);

    // Each PUT goes to the next object in turn, so concurrent requests rarely meet on one object.
    let next = 0;
    const nextNetset = () => netset(next++ % objects);
    const cases: [string, Case][] = [
      [
        `${server.url}${listPath}`,
        { name: `GET list of ${objects}`, server: 'tabby-apiserver', options: { headers: auth } },
      ],
      [
        `${etcdUrl}/v3/kv/range`,
        {
          name: `GET list of ${objects}`,
          server: 'etcd JSON gateway (/v3/kv/range)',
          options: { method: 'POST', body: rangeBody },
        },
      ],
      [
        server.url,
        {
          name: 'small PUT',
          server: 'tabby-apiserver',
          options: {
            requests: [
              {
                method: 'PUT',
                setupRequest: (req) => {
                  const doc = nextNetset();
                  return {
                    ...req,
                    path: `/apis/projectcalico.org/v3/namespaces/${NAMESPACE}/networksets/${doc.metadata.name}`,
                    headers: { ...auth, 'content-type': 'application/json' },
                    body: JSON.stringify(doc),
                  };
                },
              },
            ],
          },
        },
      ],
      [
        `${etcdUrl}/v3/kv/put`,
        {
          name: 'small PUT',
          server: 'etcd JSON gateway (/v3/kv/put)',
          options: {
            requests: [
              {
                method: 'POST',
                setupRequest: (req) => {
                  const doc = nextNetset();
                  const key = etcdKey(netsets, doc.metadata.name, NAMESPACE);
                  return { ...req, body: JSON.stringify({ key: base64(key), value: base64(JSON.stringify(doc)) }) };
                },
              },
            ],
          },
        },
      ],
    ];
    // Rounds of all four cases, so that the VM's drift over minutes falls on both servers alike; medians reported.
    const runs = new Map<string, Row[]>();
    for (let round = 1; round <= rounds; round++) {
      for (const [url, c] of cases) {
        // A short warm-up (JIT, connection pools, etcd's caches), not counted.
        await load(url, c, 2, connections);
        const row = await load(url, c, seconds, connections);
        const key = `${c.name} | ${c.server}`;
        runs.set(key, [...(runs.get(key) ?? []), row]);
        process.stderr.write(`round ${round}: ${c.name} on ${c.server}: ${row.rps.toFixed(0)} req/s\n`);
      }
    }
    const middle = (rows: Row[], pick: (r: Row) => number) => median(rows.map(pick));
    const memory = memoryOf(server.process.pid);
    console.log(
      `\n${machine()}; ${connections} connections; ${rounds} rounds of ${seconds} s per case; medians of the rounds\n`,
    );
    console.log(
      markdownTable(
        ['request', 'server', 'req/s', 'p50 ms', 'p99 ms', 'bytes/response', 'failed (all rounds)'],
        [...runs.values()].map((rows) => [
          rows[0]!.name,
          rows[0]!.server,
          middle(rows, (r) => r.rps).toFixed(0),
          middle(rows, (r) => r.p50).toFixed(1),
          middle(rows, (r) => r.p99).toFixed(1),
          middle(rows, (r) => r.bytesPerRequest).toFixed(0),
          String(rows.reduce((sum, r) => sum + r.failures, 0)),
        ]),
      ),
    );
    console.log(
      `\ntabby-apiserver: RSS ${(memory.rss / 2 ** 20).toFixed(0)} MB, peak ${(memory.peak / 2 ** 20).toFixed(0)} MB`,
    );
  } finally {
    await server.stop();
    await backend.close();
    await etcd.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`apiserver.bench: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
