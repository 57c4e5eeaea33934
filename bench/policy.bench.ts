// Policy end to end on one node (DESIGN §4 and issue 7: 1,000 policies over 5,000 endpoints; one changed policy in
// the dataplane ≤ 50 ms after the datastore write). Root: network namespaces. etcd and node n1 (a real
// tabby-node) on one segment; n1 gets ENDPOINTS workload endpoints (a veth each, labels app=app<i mod 50> and
// role=client<i mod 20>) and then POLICIES NetworkPolicies, written with tabbyctl in lists of 250: policy i selects
// app == 'app<i mod 50>' and allows TCP port 8000+i from role == 'client<i mod 20>', so every policy selects local
// endpoints and every rule needs a selector set.
//   full apply  from the first policy write to felix reporting all of them in sync
//   one change  CHANGES times: one policy's port changed with `tabbyctl apply`; from tabbyctl's exit (just after
//               its write) to felix reporting an apply begun after it, in sync (polled through the status socket
//               every few milliseconds, so the figure is a little high)
// Asserts nothing; prints the figures and the goal.
//
//   node dist/bench/policy.bench.js [--endpoints 5000] [--policies 1000]
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import { waitFor } from '../test/support/wait';
import { addEndpoints, BENCH_NODE, felixStatus, withBenchNode } from './support/node-seed';
import { machine, markdownTable, positiveInteger } from './support/report';

const CHANGES = 5;

function policy(i: number, port = 8000 + i): object {
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'NetworkPolicy',
    metadata: { name: `p${i}`, namespace: 'bench' },
    spec: {
      selector: `app == 'app${i % 50}'`,
      types: ['Ingress'],
      ingress: [
        {
          action: 'Allow',
          protocol: 'TCP',
          source: { selector: `role == 'client${i % 20}'` },
          destination: { ports: [port] },
        },
      ],
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { endpoints: { type: 'string', default: '5000' }, policies: { type: 'string', default: '1000' } },
  });
  const endpointCount = positiveInteger('endpoints', values.endpoints!);
  const policyCount = positiveInteger('policies', values.policies!);
  if (process.getuid?.() !== 0) throw new Error('needs root: creates network namespaces');
  console.log(`machine: ${machine()}; load average at start ${os.loadavg()[0]!.toFixed(2)}`);
  await withBenchNode({ cidr: '10.76.0.0/16', vxlanMode: 'Never', natOutgoing: false }, async (f) => {
    await f.startNode(BENCH_NODE);
    await addEndpoints(f, BENCH_NODE, endpointCount, (i) => ({ app: `app${i % 50}`, role: `client${i % 20}` }));
    await waitFor(
      async () => {
        const s = await felixStatus(f, BENCH_NODE);
        return s.inSync && s.endpoints === endpointCount;
      },
      `felix in sync with ${endpointCount} endpoints`,
      600_000,
      500,
    );

    const started = performance.now();
    const policies = Array.from({ length: policyCount }, (_, i) => policy(i));
    for (let i = 0; i < policies.length; i += 250) await f.apply(...policies.slice(i, i + 250));
    await waitFor(
      async () => {
        const s = await felixStatus(f, BENCH_NODE);
        return s.inSync && s.policies === policyCount;
      },
      `felix in sync with ${policyCount} policies`,
      600_000,
      200,
    );
    const fullS = (performance.now() - started) / 1000;
    const lastApplyMs = (await felixStatus(f, BENCH_NODE)).lastApplyMs;

    const changes: number[] = [];
    for (let c = 0; c < CHANGES; c++) {
      const before = (await felixStatus(f, BENCH_NODE)).applies;
      await f.apply(policy(c, 9000 + c));
      const written = performance.now();
      await waitFor(
        async () => {
          const s = await felixStatus(f, BENCH_NODE);
          return s.inSync && s.applies > before;
        },
        'the change applied',
        60_000,
        2,
      );
      changes.push(performance.now() - written);
      console.log(`change ${c + 1}: ${changes[changes.length - 1]!.toFixed(0)} ms`);
    }
    const sorted = [...changes].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    console.log(
      `\n${markdownTable(
        [
          'endpoints',
          'policies',
          'full apply s (writes → in sync)',
          'last apply ms',
          'one change median ms',
          'one change max ms',
        ],
        [
          [
            String(endpointCount),
            String(policyCount),
            fullS.toFixed(1),
            String(lastApplyMs),
            median.toFixed(0),
            sorted[sorted.length - 1]!.toFixed(0),
          ],
        ],
      )}\n`,
    );
    console.log(
      `goal: one changed policy ≤ 50 ms end to end: ${median <= 50 ? 'met' : 'NOT met'} (median ${median.toFixed(0)} ms)`,
    );
  });
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exit(1);
});
