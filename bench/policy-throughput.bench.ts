// Pod-to-pod TCP throughput through 1,000 policies against none (issue 7: ipsets keep it flat). Root: network
// namespaces, iperf3. Two tabby-nodes, routed (bench/support/two-node-fabric.ts); the client pod pa on n1
// (role=iperf-client), the server pod pb on n2 (app=server). Cases, both in each round, their order alternating
// from round to round (none, policies | policies, none | ...), ROUNDS rounds of runs of SECONDS each:
//   none       no policy: pb's ingress is its namespace profile's allow
//   policies   POLICIES NetworkPolicies selecting pb, policy i (order i) allowing TCP port 8000+i from
//              role == 'client<i mod 20>' (an IP set each, none holding pa), the last one allowing iperf's port from
//              role == 'iperf-client': a new connection to pb passes every policy's chain before it is allowed
// Each run starts once both nodes' felix are in sync and quiet for 3 s. Per case the median of the receiver's bits
// per second (`iperf3 -J`), and the median of the per-round ratios. Prints a table; asserts nothing.
//
//   node dist/bench/policy-throughput.bench.js [--seconds 3] [--rounds 3] [--policies 1000]
import * as os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Topology } from '../test/harness';
import type { Fabric } from '../test/support/fabric';
import { gbits, IPERF_PORT, type IperfEndpoints, runIperf, startIperfServer } from './support/iperf';
import { felixInSync } from './support/node-seed';
import { machine, markdownTable, median, positiveInteger } from './support/report';
import { buildTwoNodeFabric } from './support/two-node-fabric';

const V3 = 'projectcalico.org/v3';
const QUIET_MS = 3000;

function policies(count: number): object[] {
  return Array.from({ length: count }, (_, i) => {
    const last = i === count - 1;
    return {
      apiVersion: V3,
      kind: 'NetworkPolicy',
      metadata: { name: `p${i}`, namespace: 'default' },
      spec: {
        order: i,
        selector: "app == 'server'",
        types: ['Ingress'],
        ingress: [
          {
            action: 'Allow',
            protocol: 'TCP',
            source: { selector: last ? "role == 'iperf-client'" : `role == 'client${i % 20}'` },
            destination: { ports: [last ? IPERF_PORT : 8000 + i] },
          },
        ],
      },
    };
  });
}

/**
 * Waits until n2's felix has `count` policies in force, both nodes are in sync, and then a few quiet seconds: a
 * run must not share the two vCPUs with felix still at work.
 */
async function policiesInForce(fabric: Fabric, count: number): Promise<void> {
  await felixInSync(fabric, 'n2', `${count} policies`, (s) => s.policies === count, 300_000);
  await felixInSync(fabric, 'n1', 'its dataplane', () => true, 300_000);
  await sleep(QUIET_MS);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      seconds: { type: 'string', default: '3' },
      rounds: { type: 'string', default: '3' },
      policies: { type: 'string', default: '1000' },
    },
  });
  const seconds = positiveInteger('seconds', values.seconds!);
  const rounds = positiveInteger('rounds', values.rounds!);
  const policyCount = positiveInteger('policies', values.policies!);
  if (process.getuid?.() !== 0) throw new Error('needs root: creates network namespaces');
  console.log(`machine: ${machine()}; load average at start ${os.loadavg()[0]!.toFixed(2)}`);
  const topo = await Topology.create();
  let fabric: Fabric | undefined;
  try {
    fabric = await buildTwoNodeFabric(
      topo,
      { ipipMode: 'Never', vxlanMode: 'Never' },
      { pa: { role: 'iperf-client' }, pb: { app: 'server' } },
    );
    const [a, b] = [fabric.pod('pa'), fabric.pod('pb')];
    const at: IperfEndpoints = { clientNs: a.ns, serverNs: b.ns, serverAddress: b.ip };
    const server = await startIperfServer(at);
    const rates = { none: [] as number[], policies: [] as number[] };
    const ratios: number[] = [];
    const written = policies(policyCount);
    try {
      const list = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: written });
      const setPolicies = async (on: boolean) => {
        if (on) for (let i = 0; i < written.length; i += 250) await fabric!.apply(...written.slice(i, i + 250));
        else await fabric!.ctl(['delete', '-f', '-'], list);
        await policiesInForce(fabric!, on ? policyCount : 0);
      };
      await policiesInForce(fabric, 0);
      let on = false;
      for (let round = 1; round <= rounds; round++) {
        // Each round measures both cases back to back, in alternating order, so a drift of the machine's speed
        // during the run falls on both alike; the per-round ratio is what is compared.
        for (let i = 0; i < 2; i++) {
          (on ? rates.policies : rates.none).push((await runIperf(at, seconds)).bitsPerSecond);
          if (i === 0) {
            on = !on;
            await setPolicies(on);
          }
        }
        ratios.push(rates.policies.at(-1)! / rates.none.at(-1)!);
        console.log(
          `round ${round}: none ${gbits(rates.none.at(-1)!)}, ${policyCount} policies ${gbits(rates.policies.at(-1)!)} Gbit/s`,
        );
      }
    } finally {
      await server.stop();
    }
    const row = (name: string, values: number[]) => [name, ...values.map(gbits), `**${gbits(median(values))}**`];
    const runColumns = Array.from({ length: rounds }, (_, i) => `run ${i + 1} Gbit/s`);
    console.log(
      `\n${markdownTable(
        ['case', ...runColumns, 'median Gbit/s'],
        [row('no policy', rates.none), row(`${policyCount} policies`, rates.policies)],
      )}\n`,
    );
    console.log(
      `${policyCount} policies / none, per round: ${ratios.map((r) => r.toFixed(2)).join(', ')}; ` +
        `median ${median(ratios).toFixed(2)}`,
    );
  } finally {
    await topo.destroy();
    await fabric?.stop();
  }
}

main().catch((err: Error) => {
  console.error(`policy-throughput.bench: ${err.message}`);
  process.exit(1);
});
