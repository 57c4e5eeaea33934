// Policy end to end on one node (DESIGN §4 and issue 7: 1,000 policies over 5,000 endpoints; one changed policy in
// the dataplane ≤ 50 ms after the datastore write). Root: network namespaces. etcd and node n1 (a real
// tabby-node) on one segment; n1 gets ENDPOINTS workload endpoints (a veth each) and then POLICIES NetworkPolicies,
// written with tabbyctl in lists of 250: the workload of bench/support/policy-workload.ts (every policy selects 1 in
// 50 of the endpoints, every rule matches on a selector's IP set).
//   full apply  from the first policy write to felix reporting all of them in sync
//   one change  CHANGES times, each after a quiet half second: one policy's port changed by a datastore client
//               (bench/support/timed-apply.ts, as tabbyctl apply writes it); from the write's acknowledgement to
//               the end of the apply felix reports in sync after it (status `lastApplyAt`, wall clock)
//   reference   one rule of a policy chain replaced by itself with a raw `iptables-<backend>-restore --noflush`
//               in the node's namespace, against the same table: what the kernel and the iptables tool take for
//               the smallest change, whoever writes it
// Asserts nothing; prints the figures and the goal.
//
//   node dist/bench/policy.bench.js [--endpoints 5000] [--policies 1000]
import * as os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { detectBackend } from '../felix/iptables';
import type { Fabric } from '../test/support/fabric';
import { addEndpoints, BENCH_NODE, felixInSync, felixStatus, timedApply, withBenchNode } from './support/node-seed';
import { benchLabels, benchPolicy } from './support/policy-workload';
import { machine, markdownTable, median, positiveInteger } from './support/report';

const CHANGES = 9;
const QUIET_MS = 500;
/** Felix says when its apply ended (lastApplyAt): polling often would only load the node being measured. */
const POLL_MS = 20;

/**
 * The reference for one change: the kernel's part alone. One rule of a policy chain felix wrote, replaced by itself
 * (`-R`, what felix writes for a changed rule) with `<backend>-restore --noflush`, timed inside the node's namespace
 * (no process start of ours counted), CHANGES times, against the same table.
 */
async function rawRestoreOfOneRule(f: Fabric): Promise<{ command: string; medianMs: number }> {
  const backend = await detectBackend({ netns: f.topo.nsName(BENCH_NODE) });
  const saved = await f.topo.exec(BENCH_NODE, backend.saveCommand, ['-t', 'filter']);
  const chain = 'cali-pi-np/bench/p0';
  const rule = saved.stdout.split('\n').find((line) => line.startsWith(`-A ${chain} `));
  if (!rule) throw new Error(`${chain} not found in the node's filter table`);
  const input = `*filter\n-R ${chain} 1 ${rule.slice(`-A ${chain} `.length)}\nCOMMIT\n`;
  const script = `for i in $(seq ${CHANGES}); do s=$(date +%s%N); ${backend.restoreCommand} --noflush --wait 10 <<'EOF'
${input}EOF
e=$(date +%s%N); echo $(( (e - s) / 1000 )); done`;
  const res = await f.topo.exec(BENCH_NODE, 'bash', ['-c', script]);
  const micros = res.stdout.trim().split('\n').map(Number);
  return { command: backend.restoreCommand, medianMs: median(micros) / 1000 };
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
    await addEndpoints(f, BENCH_NODE, endpointCount, benchLabels);
    await felixInSync(f, BENCH_NODE, `${endpointCount} endpoints`, (s) => s.endpoints === endpointCount, 600_000, 500);

    const started = performance.now();
    const policies = Array.from({ length: policyCount }, (_, i) => benchPolicy(i));
    for (let i = 0; i < policies.length; i += 250) await f.apply(...policies.slice(i, i + 250));
    const { lastApplyMs } = await felixInSync(
      f,
      BENCH_NODE,
      `${policyCount} policies`,
      (s) => s.policies === policyCount,
    );
    const fullS = (performance.now() - started) / 1000;

    const changes: number[] = [];
    const applies: number[] = [];
    for (let c = 0; c < CHANGES; c++) {
      // Quiet first: no apply under way that a change could be mistaken for.
      await sleep(QUIET_MS);
      const before = (await felixStatus(f, BENCH_NODE)).applies;
      const seen = (async () => {
        for (;;) {
          const s = await felixStatus(f, BENCH_NODE);
          if (s.inSync && s.applies > before) return { at: s.lastApplyAt, applyMs: s.lastApplyMs };
          await sleep(POLL_MS);
        }
      })();
      const [writtenAt] = await timedApply(f, benchPolicy(c, 9000 + c));
      const { at, applyMs } = await seen;
      changes.push(at - writtenAt!);
      applies.push(applyMs);
      console.log(`change ${c + 1}: ${(at - writtenAt!).toFixed(0)} ms, of which felix's apply ${applyMs} ms`);
    }
    const changeMedian = median(changes);
    const applyMedian = median(applies);
    const raw = await rawRestoreOfOneRule(f);
    console.log(
      `\n${markdownTable(
        [
          'endpoints',
          'policies',
          'full apply s (writes → in sync)',
          'last apply ms',
          'one change median ms',
          "of which felix's apply median ms",
          'one change max ms',
          `raw ${raw.command} of one rule, median ms`,
        ],
        [
          [
            String(endpointCount),
            String(policyCount),
            fullS.toFixed(1),
            String(lastApplyMs),
            changeMedian.toFixed(0),
            String(applyMedian),
            Math.max(...changes).toFixed(0),
            raw.medianMs.toFixed(0),
          ],
        ],
      )}\n`,
    );
    console.log(
      `goal: one changed policy ≤ 50 ms end to end: ${changeMedian <= 50 ? 'met' : 'NOT met'} (median ${changeMedian.toFixed(0)} ms)`,
    );
  });
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exit(1);
});
