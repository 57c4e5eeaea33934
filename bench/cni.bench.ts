// CNI ADD latency, CONCURRENCY at once on one node, against the reference plugins (DESIGN §4: p50 ≤ 2 × the
// reference `bridge` + `host-local`). Root: network namespaces. Each case runs in its own node namespace:
//   reference  bridge (a bridge per node, isGateway) with host-local IPAM: Go binaries, no datastore
//   tabby      the tabby plugin with tabby-ipam, a tabby-node on the node (etcd on the same segment)
//   no-node    the same config without a tabby-node: the plugin allocates and writes to etcd itself
// All cases are built first and their rounds alternate. Per round: CONCURRENCY pod namespaces are made (not timed), then one ADD each, all started at once, each
// timed from spawn to exit as a runtime sees it (`nsenter --net=<node>` runs the plugin in the node's network
// namespace for every case); then a DEL each, also all at once. Prints p50/p90/max per case and the ratios;
// asserts nothing.
//
//   node dist/bench/cni.bench.js [--concurrency 20] [--rounds 5] [--cases reference,tabby,no-node] [--cases reference,tabby,no-node]
import * as os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { run, Topology } from '../test/harness';
import { callPlugin } from '../test/support/cni-runtime';
import { Fabric } from '../test/support/fabric';
import { machine, markdownTable, positiveInteger } from './support/report';

const NODE = 'n1';
const NODE_ADDRESS = '192.0.2.11';
const ETCD_ADDRESS = '192.0.2.10';
const REFERENCE_SUBNET = '10.71.0.0/16';
const POOL_CIDR = '10.72.0.0/16';
const CNI_PATH = [path.join(__dirname, '..', 'cni-bin'), '/usr/lib/cni'];

type CaseName = 'reference' | 'tabby' | 'no-node';

interface Timings {
  add: number[];
  del: number[];
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** One round: CONCURRENCY namespaces, ADD all at once, DEL all at once; the milliseconds of each call. */
async function round(
  topo: Topology,
  conf: Record<string, unknown>,
  tag: string,
  concurrency: number,
  into: Timings,
): Promise<void> {
  const pods = Array.from({ length: concurrency }, (_, i) => `${topo.prefix}${tag}${i}`);
  for (const ns of pods) await run('ip', ['netns', 'add', ns]);
  const nodeNetns = `/var/run/netns/${topo.nsName(NODE)}`;
  const call = async (command: 'ADD' | 'DEL', ns: string, i: number): Promise<number> => {
    const started = performance.now();
    const out = await callPlugin((file, opts) => run('nsenter', [`--net=${nodeNetns}`, file], opts), command, conf, {
      containerId: `${tag}-${i}`,
      netns: `/var/run/netns/${ns}`,
      path: CNI_PATH,
      args: { IgnoreUnknown: '1', K8S_POD_NAMESPACE: 'bench', K8S_POD_NAME: `${tag}-${i}` },
    });
    const ms = performance.now() - started;
    if (out.code !== 0) throw new Error(`${command} ${tag}-${i}: ${JSON.stringify(out.out)} ${out.stderr}`);
    return ms;
  };
  into.add.push(...(await Promise.all(pods.map((ns, i) => call('ADD', ns, i)))));
  into.del.push(...(await Promise.all(pods.map((ns, i) => call('DEL', ns, i)))));
  for (const ns of pods) await run('ip', ['netns', 'delete', ns]);
}

function referenceConf(topo: Topology): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: 'bench-reference',
    type: 'bridge',
    bridge: `${topo.prefix}br`,
    isGateway: true,
    ipMasq: false,
    ipam: { type: 'host-local', subnet: REFERENCE_SUBNET, dataDir: path.join(topo.dir, 'host-local') },
  };
}

interface Case {
  name: CaseName;
  topo: Topology;
  fabric?: Fabric;
  conf: Record<string, unknown>;
  timings: Timings;
}

/** The case's node (and etcd and tabby-node where it has them), ready for ADDs. */
async function buildCase(name: CaseName, topo: Topology): Promise<Case> {
  await topo.addSegment('lan');
  await topo.addNode('etcd', { segment: 'lan', address: `${ETCD_ADDRESS}/24` });
  await topo.addNode(NODE, { segment: 'lan', address: `${NODE_ADDRESS}/24`, gateway: ETCD_ADDRESS });
  const timings = { add: [], del: [] };
  if (name === 'reference') {
    await topo.waitUntilLinksUp();
    return { name, topo, conf: referenceConf(topo), timings };
  }
  const fabric = await Fabric.start(topo, 'etcd', ETCD_ADDRESS);
  await fabric.apply({
    apiVersion: 'projectcalico.org/v3',
    kind: 'IPPool',
    metadata: { name: 'bench' },
    spec: { cidr: POOL_CIDR, blockSize: 26, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: false },
  });
  // The no-node case still needs the node's registration (its Node resource and the run dir's files): it
  // starts the node once, then stops it, as a node whose tabby-node is down.
  const node = await fabric.startNode(NODE);
  if (name === 'no-node') await node.stop();
  const conf = {
    cniVersion: '1.0.0',
    name: 'bench',
    type: 'tabby',
    nodename: NODE,
    etcd_endpoints: fabric.endpoints,
    run_dir: fabric.runDir(NODE),
    ipam: { type: 'tabby-ipam' },
  };
  return { name, topo, fabric, conf, timings };
}

/**
 * Every case is built first; then each round runs every case in turn, so a change in the machine's load during
 * the run falls on all of them alike. Everything is torn down at the end, also on failure.
 */
async function runCases(names: CaseName[], concurrency: number, rounds: number): Promise<Case[]> {
  const cases: Case[] = [];
  try {
    for (const name of names) cases.push(await buildCase(name, await Topology.create()));
    // One round that is not counted: first-time costs (the bridge, the first block) are not what is measured.
    for (const c of cases) await round(c.topo, c.conf, 'w', concurrency, { add: [], del: [] });
    for (let r = 1; r <= rounds; r++) {
      for (const c of cases) {
        await round(c.topo, c.conf, `r${r}-`, concurrency, c.timings);
        const last = c.timings.add.slice(-concurrency);
        console.log(`${c.name} round ${r}: ADD p50 ${percentile(last, 50).toFixed(0)} ms`);
      }
    }
    return cases;
  } finally {
    for (const c of cases) {
      await c.topo.destroy();
      await c.fabric?.stop();
    }
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      concurrency: { type: 'string', default: '20' },
      rounds: { type: 'string', default: '5' },
      cases: { type: 'string', default: 'reference,tabby,no-node' },
    },
  });
  const concurrency = positiveInteger('concurrency', values.concurrency!);
  const rounds = positiveInteger('rounds', values.rounds!);
  if (process.getuid?.() !== 0) throw new Error('needs root: creates network namespaces');
  console.log(`machine: ${machine()}; load average at start ${os.loadavg()[0]!.toFixed(2)}`);
  const cases = values.cases!.split(',') as CaseName[];
  const unknown = cases.filter((c) => !['reference', 'tabby', 'no-node'].includes(c));
  if (unknown.length > 0 || !cases.includes('reference')) {
    throw new Error(`--cases: a list of reference, tabby, no-node, with reference (got ${values.cases})`);
  }
  const results = new Map((await runCases(cases, concurrency, rounds)).map((c) => [c.name, c.timings]));

  const referenceP50 = percentile(results.get('reference')!.add, 50);
  const ms = (v: number) => v.toFixed(0);
  const rows = cases.map((name) => {
    const t = results.get(name)!;
    return [
      name,
      ms(percentile(t.add, 50)),
      ms(percentile(t.add, 90)),
      ms(Math.max(...t.add)),
      (percentile(t.add, 50) / referenceP50).toFixed(2),
      ms(percentile(t.del, 50)),
      ms(Math.max(...t.del)),
    ];
  });
  console.log(`\n${concurrency} at once, ${rounds} rounds (${concurrency * rounds} ADDs per case):\n`);
  console.log(
    markdownTable(
      ['case', 'ADD p50 ms', 'ADD p90 ms', 'ADD max ms', 'p50 × reference', 'DEL p50 ms', 'DEL max ms'],
      rows,
    ),
  );
  const tabby = results.get('tabby');
  if (tabby) {
    const ratio = percentile(tabby.add, 50) / referenceP50;
    console.log(`\ngoal: tabby ADD p50 ≤ 2 × reference: ${ratio <= 2 ? 'met' : 'NOT met'} (${ratio.toFixed(2)} ×)`);
  }
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exit(1);
});
