// iptables programming against raw iptables-restore, in one run (DESIGN §4 and issue 7: 1,000 policies over 5,000
// endpoints, full apply ≤ 1.5 × raw restore of the same rule text; one changed policy applied ≤ 50 ms).
//
// The filter table felix renders for the policy workload of bench/support/policy-workload.ts on one node: E
// workload endpoints (a cali-tw- and a cali-fw- chain each, with a jump to each of the 1 in 50 policies that select
// it), P NetworkPolicies (a chain each, its rule matching a selector's IP set), the dispatch trees, felix's static
// chains and the hooks into INPUT, FORWARD and OUTPUT: what felix's calculation and renderer produce, not a
// synthetic table. Its IP sets are created first, untimed. Per backend and round, in a fresh network namespace each
// time (prefix tbip<6 hex>-, deleted in finally):
//   reference   one `iptables-<backend>-restore --noflush` of the whole state: the same lines IptablesTable writes
//               (hash comments included), text built beforehand
//   full        IptablesTable from nothing: setChains + setInsertions (render: rules to text, validated) + apply
//               (read: iptables-save of the empty table; plan: what to write; write: iptables-restore, fed the lines,
//               hashes included, as they are made); the backend is detected once beforehand and handed in, as felix
//               does
//   one change  then, CHANGES times: one policy's port changed, its chain as felix renders it then handed to
//               updateChain + apply (only the changed rules are written), against raw iptables-restore of the same
//               restore text
//   resync      markDirty + apply: read back the whole table, compare, nothing to write
// Medians over --rounds rounds after one uncounted warm-up round. Prints numbers, asserts no goal.
//
//   node dist/bench/iptables.bench.js [--policies 1000] [--endpoints 5000] [--rounds 3] [--backends nft,legacy]
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { IpSetManager, type IpSetSpec } from '../felix/ipsets';
import {
  type BackendMode,
  type Chain,
  type IptablesBackend,
  IptablesTable,
  iptablesBackend,
  parseIptablesVersion,
  planRestore,
  RULE_HASH_PREFIX,
  type Rule,
  renderChain,
  renderHashComment,
  renderRuleSpec,
} from '../felix/iptables';
import { registerEmergencyCleanup, run } from '../test/harness/exec';
import { RenderedPolicyWorkload } from './support/policy-workload';
import { machine, markdownTable, median, positiveInteger, ratio } from './support/report';

/** Changed policies measured per round. */
const CHANGES = 5;

interface Options {
  policies: number;
  endpoints: number;
  rounds: number;
  backends: BackendMode[];
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      policies: { type: 'string', default: '1000' },
      endpoints: { type: 'string', default: '5000' },
      rounds: { type: 'string', default: '3' },
      backends: { type: 'string', default: 'nft,legacy' },
    },
  });
  const backends = values.backends.split(',');
  for (const backend of backends) {
    if (backend !== 'nft' && backend !== 'legacy') throw new Error(`--backends: "${backend}" is not nft or legacy`);
  }
  return {
    policies: positiveInteger('policies', values.policies),
    endpoints: positiveInteger('endpoints', values.endpoints),
    rounds: positiveInteger('rounds', values.rounds),
    backends: backends as BackendMode[],
  };
}

interface Workload {
  rendered: RenderedPolicyWorkload;
  chains: readonly Chain[];
  insertions: Record<string, Rule[]>;
  ipSets: IpSetSpec[];
  rules: number;
  /** What the reference restores: the whole state as IptablesTable writes it. */
  referenceText: string;
}

function workload(policies: number, endpoints: number): Workload {
  const rendered = new RenderedPolicyWorkload(endpoints, policies);
  const { chains, insertions } = rendered.rules.filter;
  const lines = ['*filter'];
  for (const chain of chains) lines.push(`:${chain.name} - -`);
  const append = (command: string, chain: Chain) => {
    const text = renderChain(chain);
    text.bodies.forEach((body, i) => {
      lines.push(
        `${command} ${chain.name} ${renderRuleSpec(body, renderHashComment(RULE_HASH_PREFIX, text.hashes[i]))}`,
      );
    });
  };
  for (const chain of chains) append('-A', chain);
  for (const [kernelChain, rules] of Object.entries(insertions)) append('-I', { name: kernelChain, rules });
  lines.push('COMMIT', '');
  const rules =
    chains.reduce((sum, chain) => sum + chain.rules.length, 0) +
    Object.values(insertions).reduce((sum, hook) => sum + hook.length, 0);
  return { rendered, chains, insertions, ipSets: rendered.rules.ipSets, rules, referenceText: lines.join('\n') };
}

async function timed(work: () => Promise<unknown> | unknown): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

/** A fresh, empty network namespace; removed by the returned function (and at exit, whatever happens). */
async function freshNamespace(): Promise<{ ns: string; remove: () => Promise<void> }> {
  // `ip` and `p` are not hex digits: the test harness's stale-run cleanup (tb + 6 hex + '-') leaves it alone.
  const ns = `tbip${randomBytes(3).toString('hex')}-bench`;
  const unregister = registerEmergencyCleanup(() => spawnSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' }));
  await run('ip', ['netns', 'add', ns]);
  return {
    ns,
    remove: async () => {
      await run('ip', ['netns', 'delete', ns], { allowFail: true });
      unregister();
    },
  };
}

/** The workload's IP sets in the namespace (its rules cannot name a set that does not exist); not timed. */
async function createIpSets(ns: string, sets: readonly IpSetSpec[]): Promise<void> {
  const manager = new IpSetManager({ netns: ns });
  for (const set of sets) manager.setIpSet(set);
  await manager.apply();
}

async function restore(ns: string, backend: IptablesBackend, text: string): Promise<void> {
  await run('ip', ['netns', 'exec', ns, backend.restoreCommand, '--noflush', '--wait', '10'], {
    input: text,
    timeoutMs: 600_000,
  });
}

async function countRules(ns: string, backend: IptablesBackend): Promise<number> {
  const { stdout } = await run('ip', ['netns', 'exec', ns, backend.saveCommand, '-t', 'filter'], { timeoutMs: 60_000 });
  return stdout.split('\n').filter((line) => line.startsWith('-A ')).length;
}

interface Sample {
  reference: number;
  full: number;
  render: number;
  read: number;
  plan: number;
  write: number;
  fullLines: number;
  change: number;
  changeReference: number;
  changeLines: number;
  resync: number;
  resyncRead: number;
}

async function measure(backend: IptablesBackend, work: Workload, policies: number, round: number): Promise<Sample> {
  const reference = await freshNamespace();
  let referenceMs: number;
  try {
    await createIpSets(reference.ns, work.ipSets);
    referenceMs = await timed(() => restore(reference.ns, backend, work.referenceText));
    if ((await countRules(reference.ns, backend)) !== work.rules) throw new Error('reference: rules missing');
  } finally {
    await reference.remove();
  }

  const { ns, remove } = await freshNamespace();
  try {
    await createIpSets(ns, work.ipSets);
    const table = new IptablesTable({ table: 'filter', netns: ns, backend });
    const started = performance.now();
    const render = await timed(() => {
      table.setChains(work.chains);
      for (const [kernelChain, rules] of Object.entries(work.insertions)) table.setInsertions(kernelChain, rules);
    });
    const full = await table.apply();
    const fullMs = performance.now() - started;
    if ((await countRules(ns, backend)) !== work.rules) throw new Error('IptablesTable: rules missing');

    const changes: number[] = [];
    const changeReferences: number[] = [];
    let changeLines = 0;
    // The chains as this table holds them: a policy changed in an earlier round is in its first version here.
    const held = new Map(work.chains.map((chain) => [chain.name, chain]));
    for (let c = 0; c < CHANGES; c++) {
      const change = round * CHANGES + c;
      const changed = work.rendered.changedPolicyChains((change * 97 + 13) % policies, 9000 + change);
      const result = { linesWritten: 0 };
      changes.push(
        await timed(async () => {
          for (const chain of changed) table.updateChain(chain);
          Object.assign(result, await table.apply());
        }),
      );
      changeLines = result.linesWritten;
      // The reference writes the same text again (replacing rules with themselves).
      const before = new Map(changed.map((chain) => [chain.name, renderChain(held.get(chain.name)!)]));
      const text = planRestore(
        {
          chains: new Map(
            [...before].map(([name, chain]) => [name, { hashes: chain.hashes, ourRuleSpecs: new Map() }]),
          ),
          foreignReferences: new Set(),
        },
        { chains: new Map(changed.map((chain) => [chain.name, renderChain(chain)])), insertions: new Map() },
        {
          table: 'filter',
          hashPrefix: RULE_HASH_PREFIX,
          isOurChain: (name) => table.isOurChain(name),
          rewriteWholeChains: backend.rewriteWholeChains,
          deleteChainsInSecondTransaction: backend.deleteChainsInSecondTransaction,
        },
      ).text;
      changeReferences.push(await timed(() => restore(ns, backend, text)));
      for (const chain of changed) held.set(chain.name, chain);
    }

    table.markDirty();
    const resyncStarted = performance.now();
    const resync = await table.apply();
    const resyncMs = performance.now() - resyncStarted;
    if (resync.linesWritten !== 0) throw new Error('resync found something to write where nothing changed');
    return {
      reference: referenceMs,
      full: fullMs,
      render,
      read: full.readMs,
      plan: full.planMs,
      write: full.writeMs,
      fullLines: full.linesWritten,
      change: median(changes),
      changeReference: median(changeReferences),
      changeLines,
      resync: resyncMs,
      resyncRead: resync.readMs,
    };
  } finally {
    await remove();
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const work = workload(options.policies, options.endpoints);
  console.log(
    `iptables programming: felix's filter table for ${options.endpoints} endpoints and ${options.policies} ` +
      `policies (${work.chains.length} chains, ${work.rules} rules, ${work.ipSets.length} IP sets); ` +
      `${work.referenceText.length.toLocaleString('en')} bytes of restore text. ` +
      `Median of ${options.rounds} rounds after one warm-up round; ${machine()}; ` +
      `load average ${os.loadavg()[0].toFixed(2)}`,
  );
  const rows: string[][] = [];
  const ms = (value: number) => value.toFixed(1);
  for (const mode of options.backends) {
    const version = parseIptablesVersion((await run(`iptables-${mode}`, ['--version'])).stdout);
    const backend = iptablesBackend(mode, version);
    // A long-running felix has its code compiled: the first round (JIT warm-up) is not counted.
    await measure(backend, work, options.policies, options.rounds);
    const samples: Sample[] = [];
    for (let round = 0; round < options.rounds; round++) {
      samples.push(await measure(backend, work, options.policies, round));
      process.stderr.write(`  ${mode} round ${round + 1}/${options.rounds} done\n`);
    }
    const m = (key: keyof Sample) => median(samples.map((sample) => sample[key]));
    rows.push([
      `iptables-${mode} ${version?.join('.') ?? '?'}`,
      ms(m('reference')),
      `${ms(m('full'))} (render ${ms(m('render'))}, read ${ms(m('read'))}, ` +
        `plan ${ms(m('plan'))}, write ${ms(m('write'))})`,
      ratio(m('full'), m('reference')),
      `${ms(m('change'))} (${m('changeLines')} lines)`,
      ms(m('changeReference')),
      `${ms(m('resync'))} (read ${ms(m('resyncRead'))})`,
    ]);
  }
  console.log(
    markdownTable(
      [
        'backend',
        'raw restore ms',
        'IptablesTable full apply ms',
        'full / raw',
        'one policy changed ms',
        'raw restore of that change ms',
        'resync, nothing to write ms',
      ],
      rows,
    ),
  );
  console.log('goal: full apply ≤ 1.5 × raw restore; one changed policy ≤ 50 ms');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
