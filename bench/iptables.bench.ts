// iptables programming against raw iptables-restore, in one run (DESIGN §4: 1,000 policies and 5,000 endpoints,
// full apply ≤ 1.5 × raw restore of the same rule text; one changed policy applied ≤ 50 ms).
//
// The filter table of a busy node: P policy chains `cali-pi-_<n>` of 10 rules (9 `-s <ip>/32 -p tcp --dport <port>`
// setting the accept mark, then return if it is set), E endpoint chains `cali-tw-cali<11 hex>` of 7 rules (conntrack
// accept and drop, clear the marks, jump to two policies, return if accepted, drop), a dispatch chain with one goto
// per endpoint, cali-FORWARD and its hook at the top of FORWARD. Per backend and round, in a fresh network namespace
// each time (prefix tbip<6 hex>-, deleted in finally):
//   reference   one `iptables-<backend>-restore --noflush` of the whole state: the same lines IptablesTable writes
//               (hash comments included), text built beforehand
//   full        IptablesTable from nothing: setChains + setInsertions (render: rules to text, validated) + apply
//               (read: iptables-save of the empty table; plan: what to write; write: iptables-restore, fed the lines,
//               hashes included, as they are made); the backend is detected once beforehand and handed in, as felix
//               does
//   one change  then, CHANGES times: one rule of one policy changed, updateChain + apply (only the changed rules are
//               written), against raw iptables-restore of the same restore text
//   resync      markDirty + apply: read back the whole table, compare, nothing to write
// Medians over --rounds rounds after one uncounted warm-up round. Prints numbers, asserts no goal.
//
//   node dist/bench/iptables.bench.js [--policies 1000] [--endpoints 5000] [--rounds 3] [--backends nft,legacy]
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  Actions,
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
import { machine, markdownTable, positiveInteger, ratio } from './support/report';

/** Changed policies measured per round. */
const CHANGES = 5;
const ACCEPT_MARK = 0x10000;
const PASS_MARK = 0x20000;

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

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function policyName(i: number): string {
  return `cali-pi-_${i.toString(36).padStart(6, '0')}`;
}

function policyRules(i: number, version = 0): Rule[] {
  const rules: Rule[] = [];
  for (let r = 0; r < 9; r++) {
    // 10.<policy>.<rule>.<version>: every source distinct, a new version a new address.
    const source = `10.${(i >> 8) & 255}.${i & 255}.${r * 16 + version}`;
    rules.push({ match: `-s ${source}/32 -p tcp --dport ${8000 + r}`, action: Actions.setMark(ACCEPT_MARK) });
  }
  rules.push({ match: `-m mark --mark ${hex(ACCEPT_MARK)}/${hex(ACCEPT_MARK)}`, action: Actions.return() });
  return rules;
}

function hex(value: number): string {
  return `0x${value.toString(16)}`;
}

function interfaceName(i: number): string {
  return `cali${i.toString(16).padStart(11, '0')}`;
}

function endpointChain(i: number, policies: number): Chain {
  const accepted = `-m mark --mark ${hex(ACCEPT_MARK)}/${hex(ACCEPT_MARK)}`;
  return {
    name: `cali-tw-${interfaceName(i)}`,
    rules: [
      { match: '-m conntrack --ctstate RELATED,ESTABLISHED', action: Actions.accept() },
      { match: '-m conntrack --ctstate INVALID', action: Actions.drop() },
      { match: '', action: Actions.clearMark(ACCEPT_MARK | PASS_MARK) },
      { match: '', action: Actions.jump(policyName(i % policies)) },
      { match: `-m mark --mark 0x0/${hex(ACCEPT_MARK)}`, action: Actions.jump(policyName((i * 7 + 1) % policies)) },
      { match: accepted, action: Actions.return(), comment: ['Return if policy accepted'] },
      { match: '', action: Actions.drop(), comment: ['Drop if no policies passed packet'] },
    ],
  };
}

interface Workload {
  chains: Chain[];
  forwardHook: Rule[];
  rules: number;
  /** What the reference restores: the whole state as IptablesTable writes it. */
  referenceText: string;
}

function workload(policies: number, endpoints: number): Workload {
  const chains: Chain[] = [];
  for (let i = 0; i < policies; i++) chains.push({ name: policyName(i), rules: policyRules(i) });
  for (let i = 0; i < endpoints; i++) chains.push(endpointChain(i, policies));
  const dispatch: Rule[] = [];
  for (let i = 0; i < endpoints; i++) {
    dispatch.push({ match: `-o ${interfaceName(i)}`, action: Actions.goto(`cali-tw-${interfaceName(i)}`) });
  }
  dispatch.push({ match: '', action: Actions.drop(), comment: ['Unknown interface'] });
  chains.push({ name: 'cali-to-wl-dispatch', rules: dispatch });
  chains.push({ name: 'cali-FORWARD', rules: [{ match: '-o cali+', action: Actions.jump('cali-to-wl-dispatch') }] });
  const forwardHook: Rule[] = [{ match: '', action: Actions.jump('cali-FORWARD') }];

  const lines = ['*filter'];
  for (const chain of chains) lines.push(`:${chain.name} - -`);
  const append = (command: string, chain: Chain) => {
    const rendered = renderChain(chain);
    rendered.bodies.forEach((body, i) => {
      lines.push(
        `${command} ${chain.name} ${renderRuleSpec(body, renderHashComment(RULE_HASH_PREFIX, rendered.hashes[i]))}`,
      );
    });
  };
  for (const chain of chains) append('-A', chain);
  append('-I', { name: 'FORWARD', rules: forwardHook });
  lines.push('COMMIT', '');
  const rules = chains.reduce((sum, chain) => sum + chain.rules.length, 0) + forwardHook.length;
  return { chains, forwardHook, rules, referenceText: lines.join('\n') };
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
    referenceMs = await timed(() => restore(reference.ns, backend, work.referenceText));
    if ((await countRules(reference.ns, backend)) !== work.rules) throw new Error('reference: rules missing');
  } finally {
    await reference.remove();
  }

  const { ns, remove } = await freshNamespace();
  try {
    const table = new IptablesTable({ table: 'filter', netns: ns, backend });
    const started = performance.now();
    const render = await timed(() => {
      table.setChains(work.chains);
      table.setInsertions('FORWARD', work.forwardHook);
    });
    const full = await table.apply();
    const fullMs = performance.now() - started;
    if ((await countRules(ns, backend)) !== work.rules) throw new Error('IptablesTable: rules missing');

    const changes: number[] = [];
    const changeReferences: number[] = [];
    let changeLines = 0;
    for (let c = 0; c < CHANGES; c++) {
      const policy = (round * CHANGES + c) * 97 + 13;
      const before = renderChain({ name: policyName(policy % policies), rules: policyRules(policy % policies) });
      const rules = policyRules(policy % policies);
      // The fifth rule's source moves: rules 5 to 10 are rewritten (their hashes chain in the fifth's).
      rules[4] = policyRules(policy % policies, 1 + c)[4];
      const changed: Chain = { name: before.name, rules };
      const result = { linesWritten: 0 };
      changes.push(
        await timed(async () => {
          table.updateChain(changed);
          Object.assign(result, await table.apply());
        }),
      );
      changeLines = result.linesWritten;
      // The reference writes the same text again (replacing rules with themselves).
      const text = planRestore(
        {
          chains: new Map([[before.name, { hashes: before.hashes, ourRuleSpecs: new Map() }]]),
          foreignReferences: new Set(),
        },
        { chains: new Map([[changed.name, renderChain(changed)]]), insertions: new Map() },
        {
          table: 'filter',
          hashPrefix: RULE_HASH_PREFIX,
          isOurChain: (name) => table.isOurChain(name),
          rewriteWholeChains: backend.rewriteWholeChains,
          deleteChainsInSecondTransaction: backend.deleteChainsInSecondTransaction,
        },
      ).text;
      changeReferences.push(await timed(() => restore(ns, backend, text)));
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
    `iptables programming: ${options.policies} policy chains (10 rules), ${options.endpoints} endpoint chains ` +
      `(7 rules), a dispatch chain of ${options.endpoints + 1} rules: ${work.rules} rules in the filter table; ` +
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
