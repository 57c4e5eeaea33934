// Felix's iptables engine against the real iptables-nft and iptables-legacy, inside a network namespace of its own
// (run prefix, removed afterwards, whatever happens). The host's own rules are never read or written.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  Actions,
  type BackendMode,
  type Chain,
  detectBackend,
  IptablesRestoreError,
  IptablesTable,
  iptablesBackend,
  parseIptablesVersion,
  type Rule,
  ruleHashes,
  type TableName,
} from '../../felix/iptables';
import { run, runIn, withTopology } from '../harness';

const skip = process.getuid?.() === 0 ? false : 'needs root: creates network namespaces';

/** What others put in the node's filter table before felix starts: a chain of theirs and rules in INPUT/FORWARD. */
const FOREIGN_SETUP = [
  '*filter',
  ':KUBE-FIREWALL - [0:0]',
  '-A KUBE-FIREWALL -s 198.51.100.0/24 -j DROP',
  '-A INPUT -s 192.0.2.1/32 -j ACCEPT',
  '-A INPUT -j KUBE-FIREWALL',
  '-A FORWARD -j KUBE-FIREWALL',
  'COMMIT',
  '',
].join('\n');

const ACCEPT_MARK = '-m mark --mark 0x10000/0x10000';

function endpointChain(name: string, policyChain: string): Chain {
  return {
    name,
    rules: [
      { match: '-m conntrack --ctstate RELATED,ESTABLISHED', action: Actions.accept() },
      { match: '-m conntrack --ctstate INVALID', action: Actions.drop() },
      { match: '', action: Actions.clearMark(0x30000) },
      { match: '', action: Actions.jump(policyChain) },
      { match: ACCEPT_MARK, action: Actions.return(), comment: ['Return if policy accepted'] },
      { match: '', action: Actions.drop(), comment: ['Drop if no policies passed packet'] },
    ],
  };
}

function policyChain(name: string, source: string): Chain {
  return {
    name,
    rules: [
      { match: `-s ${source} -p tcp --dport 80`, action: Actions.setMark(0x10000) },
      { match: ACCEPT_MARK, action: Actions.return() },
    ],
  };
}

/** A node with one workload, as felix's filter table has it (abridged). */
function felixChains(): Chain[] {
  return [
    {
      name: 'cali-INPUT',
      rules: [
        { match: '-i cali+', action: Actions.goto('cali-wl-to-host') },
        { match: ACCEPT_MARK, action: Actions.accept() },
      ],
    },
    { name: 'cali-wl-to-host', rules: [{ match: '', action: Actions.jump('cali-from-wl-dispatch') }] },
    {
      name: 'cali-FORWARD',
      rules: [
        { match: '', action: Actions.clearMark(0x30000) },
        { match: '-i cali+', action: Actions.jump('cali-from-wl-dispatch') },
        { match: '-o cali+', action: Actions.jump('cali-to-wl-dispatch') },
        { match: ACCEPT_MARK, action: Actions.accept(), comment: ['Policy explicitly accepted packet.'] },
      ],
    },
    { name: 'cali-OUTPUT', rules: [{ match: ACCEPT_MARK, action: Actions.accept() }] },
    {
      name: 'cali-from-wl-dispatch',
      rules: [
        { match: '-i caliaaaaaaaaaaa', action: Actions.goto('cali-fw-caliaaaaaaaaaaa') },
        { match: '', action: Actions.drop(), comment: ['Unknown interface'] },
      ],
    },
    {
      name: 'cali-to-wl-dispatch',
      rules: [
        { match: '-o caliaaaaaaaaaaa', action: Actions.goto('cali-tw-caliaaaaaaaaaaa') },
        { match: '', action: Actions.drop(), comment: ['Unknown interface'] },
      ],
    },
    endpointChain('cali-fw-caliaaaaaaaaaaa', 'cali-po-_web'),
    endpointChain('cali-tw-caliaaaaaaaaaaa', 'cali-pi-_web'),
    policyChain('cali-po-_web', '10.65.0.0/16'),
    policyChain('cali-pi-_web', '10.65.0.2/32'),
  ];
}

const HOOKS: Record<string, Rule[]> = {
  INPUT: [{ match: '', action: Actions.jump('cali-INPUT') }],
  FORWARD: [{ match: '', action: Actions.jump('cali-FORWARD') }],
  OUTPUT: [{ match: '', action: Actions.jump('cali-OUTPUT') }],
};

interface Node {
  ns: string;
  mode: BackendMode;
  /** iptables-save of a table, without its comment lines and with counters zeroed. */
  save(table?: TableName): Promise<string>;
  /** Runs `iptables-<mode> <args>` (others changing the table behind felix's back). */
  iptables(...args: string[]): Promise<void>;
  newTable(extra?: { resyncIntervalMs?: number; attempts?: number; table?: TableName }): IptablesTable;
}

/** A namespace with the foreign rules in place, destroyed afterwards. */
async function withNode(mode: BackendMode, body: (node: Node) => Promise<void>): Promise<void> {
  await withTopology(async (topo) => {
    const ns = `${topo.prefix}ipt`;
    await run('ip', ['netns', 'add', ns]);
    await runIn(ns, `iptables-${mode}-restore`, ['--noflush'], { input: FOREIGN_SETUP });
    const version = parseIptablesVersion((await run(`iptables-${mode}`, ['--version'])).stdout);
    const backend = iptablesBackend(mode, version);
    await body({
      ns,
      mode,
      save: async (table = 'filter') => {
        const { stdout } = await runIn(ns, `iptables-${mode}-save`, ['-t', table]);
        return stdout
          .split('\n')
          .filter((line) => !line.startsWith('#'))
          .join('\n')
          .replace(/\[\d+:\d+\]/g, '[0:0]');
      },
      iptables: async (...args) => {
        await runIn(ns, `iptables-${mode}`, args);
      },
      newTable: (extra = {}) => new IptablesTable({ table: 'filter', netns: ns, backend, retryDelayMs: 5, ...extra }),
    });
  });
}

function programFelix(table: IptablesTable, chains = felixChains()): void {
  table.setChains(chains);
  for (const [chain, rules] of Object.entries(HOOKS)) table.setInsertions(chain, rules);
}

/** The `-A` lines of `chain` in iptables-save output. */
function rulesOf(saved: string, chain: string): string[] {
  return saved.split('\n').filter((line) => line.startsWith(`-A ${chain} `));
}

/** The hash in each rule of `chain`, or `-` for a rule without one. */
function hashesOf(saved: string, chain: string): string[] {
  return rulesOf(saved, chain).map((line) => /--comment "cali:([\w-]+)"/.exec(line)?.[1] ?? '-');
}

function chainNames(saved: string): string[] {
  return saved
    .split('\n')
    .filter((line) => line.startsWith(':'))
    .map((line) => line.slice(1).split(' ')[0]);
}

for (const mode of ['nft', 'legacy'] as const) {
  describe(`felix iptables (iptables-${mode})`, { skip }, () => {
    it('writes our chains with their hashes and hooks at the top; foreign chains and rules survive', async () => {
      await withNode(mode, async (node) => {
        const table = node.newTable();
        programFelix(table);
        const first = await table.apply();
        assert.deepEqual([first.read, first.restores], [true, 1]);

        const saved = await node.save();
        const wanted = felixChains();
        assert.deepEqual(
          chainNames(saved)
            .filter((name) => name.startsWith('cali-'))
            .sort(),
          wanted.map((chain) => chain.name).sort(),
        );
        for (const chain of wanted) assert.deepEqual(hashesOf(saved, chain.name), ruleHashes(chain.name, chain.rules));
        // Rules as iptables reads them back: our hash comment first, then the user comment.
        const tw = endpointChain('cali-tw-caliaaaaaaaaaaa', 'cali-pi-_web');
        assert.equal(
          rulesOf(saved, tw.name)[5],
          `-A ${tw.name} -m comment --comment "cali:${ruleHashes(tw.name, tw.rules)[5]}" ` +
            '-m comment --comment "Drop if no policies passed packet" -j DROP',
        );
        assert.deepEqual(rulesOf(saved, 'INPUT'), [
          '-A INPUT -m comment --comment "cali:Cz_u1IQiXIMmKD4c" -j cali-INPUT',
          '-A INPUT -s 192.0.2.1/32 -j ACCEPT',
          '-A INPUT -j KUBE-FIREWALL',
        ]);
        assert.deepEqual(rulesOf(saved, 'FORWARD'), [
          '-A FORWARD -m comment --comment "cali:wUHhoiAYhphO9Mso" -j cali-FORWARD',
          '-A FORWARD -j KUBE-FIREWALL',
        ]);
        assert.deepEqual(rulesOf(saved, 'OUTPUT'), [
          '-A OUTPUT -m comment --comment "cali:tVnHkvAo15HuiPy0" -j cali-OUTPUT',
        ]);
        assert.deepEqual(rulesOf(saved, 'KUBE-FIREWALL'), ['-A KUBE-FIREWALL -s 198.51.100.0/24 -j DROP']);

        // Nothing to do the second time, and nothing either after reading the kernel back.
        const second = await table.apply();
        assert.deepEqual([second.read, second.restores, second.linesWritten], [false, 0, 0]);
        table.markDirty();
        const reread = await table.apply();
        assert.deepEqual([reread.read, reread.restores, reread.linesWritten], [true, 0, 0]);
        assert.equal(await node.save(), saved);

        // felix restarted: a new table object finds everything in place.
        const restarted = node.newTable();
        programFelix(restarted);
        assert.equal((await restarted.apply()).linesWritten, 0);
        assert.deepEqual(restarted.stats.restores, 0);
      });
    });

    it('repairs what others changed at the next apply after markDirty', async () => {
      await withNode(mode, async (node) => {
        const table = node.newTable();
        programFelix(table);
        await table.apply();
        const saved = await node.save();

        await node.iptables('-D', 'cali-tw-caliaaaaaaaaaaa', '3');
        await node.iptables('-F', 'cali-pi-_web');
        await node.iptables('-D', 'OUTPUT', '1');
        await node.iptables('-I', 'INPUT', '1', '-s', '203.0.113.9/32', '-j', 'ACCEPT');
        await node.iptables('-A', 'cali-po-_web', '-j', 'ACCEPT');
        assert.equal((await table.apply()).linesWritten, 0, 'the change is unseen until the kernel is read');

        table.markDirty();
        const repaired = await table.apply();
        assert.deepEqual([repaired.read, repaired.restores], [true, 1]);
        const after = await node.save();
        // Our hook is back on top; the rule someone inserted stays, below it.
        assert.deepEqual(rulesOf(after, 'INPUT'), [
          '-A INPUT -m comment --comment "cali:Cz_u1IQiXIMmKD4c" -j cali-INPUT',
          '-A INPUT -s 203.0.113.9/32 -j ACCEPT',
          '-A INPUT -s 192.0.2.1/32 -j ACCEPT',
          '-A INPUT -j KUBE-FIREWALL',
        ]);
        const withoutInserted = after
          .split('\n')
          .filter((line) => line !== '-A INPUT -s 203.0.113.9/32 -j ACCEPT')
          .join('\n');
        assert.equal(withoutInserted, saved);
      });
    });

    it('repairs drift by itself once the resync interval has passed', async () => {
      await withNode(mode, async (node) => {
        const table = node.newTable({ resyncIntervalMs: 300 });
        programFelix(table);
        await table.apply();
        const saved = await node.save();
        await node.iptables('-D', 'FORWARD', '1');
        assert.equal((await table.apply()).read, false);
        await new Promise((resolve) => setTimeout(resolve, table.msUntilResync() + 10));
        const resynced = await table.apply();
        assert.deepEqual([resynced.read, resynced.restores], [true, 1]);
        assert.equal(await node.save(), saved);
      });
    });

    it('edits a changed chain in place and deletes chains no longer wanted', async () => {
      await withNode(mode, async (node) => {
        const table = node.newTable();
        programFelix(table);
        await table.apply();

        const changed = policyChain('cali-pi-_web', '10.65.0.3/32');
        table.updateChain(changed);
        const edit = await table.apply();
        // *filter, two replaced rules (the second one's hash chains in the first's), COMMIT.
        assert.equal(edit.linesWritten, 4);
        assert.deepEqual(hashesOf(await node.save(), changed.name), ruleHashes(changed.name, changed.rules));

        // The workload's egress policy goes: its chain is deleted, and the endpoint chain stops jumping to it.
        const chains = felixChains().filter((chain) => !['cali-po-_web', changed.name].includes(chain.name));
        const fw = chains.findIndex((chain) => chain.name === 'cali-fw-caliaaaaaaaaaaa');
        chains[fw] = { name: chains[fw].name, rules: chains[fw].rules.filter((rule) => rule.action.kind !== 'jump') };
        programFelix(table, [...chains, changed]);
        await table.apply();
        const saved = await node.save();
        assert.ok(!chainNames(saved).includes('cali-po-_web'));
        assert.ok(chainNames(saved).includes('KUBE-FIREWALL'));
        assert.deepEqual(hashesOf(saved, chains[fw].name), ruleHashes(chains[fw].name, chains[fw].rules));

        // Wanting nothing leaves only what others wrote.
        table.setChains([]);
        for (const chain of Object.keys(HOOKS)) table.setInsertions(chain, []);
        await table.apply();
        const empty = await node.save();
        assert.deepEqual(chainNames(empty), ['INPUT', 'FORWARD', 'OUTPUT', 'KUBE-FIREWALL']);
        assert.ok(!empty.includes('cali'));
        assert.deepEqual(rulesOf(empty, 'INPUT'), ['-A INPUT -s 192.0.2.1/32 -j ACCEPT', '-A INPUT -j KUBE-FIREWALL']);
      });
    });

    it('empties a chain no longer wanted while others refer to it, deletes it once they do not', async () => {
      await withNode(mode, async (node) => {
        const table = node.newTable();
        programFelix(table);
        await table.apply();
        await node.iptables('-A', 'KUBE-FIREWALL', '-s', '203.0.113.0/24', '-j', 'cali-pi-_web');

        const chains = felixChains().filter((chain) => chain.name !== 'cali-pi-_web');
        const tw = chains.findIndex((chain) => chain.name === 'cali-tw-caliaaaaaaaaaaa');
        chains[tw] = { name: chains[tw].name, rules: chains[tw].rules.filter((rule) => rule.action.kind !== 'jump') };
        programFelix(table, chains);
        // The kernel is known from our last read, before the reference: the deletion fails, is retried after a
        // re-read that finds the reference, and then the chain is only emptied. (With iptables-nft the first of the
        // write's two transactions, the edits, went through already: the retry finds nothing left to write.)
        const result = await table.apply();
        assert.equal(result.failedAttempts, 1);
        assert.equal(result.restores, mode === 'nft' ? 0 : 1);
        let saved = await node.save();
        assert.ok(chainNames(saved).includes('cali-pi-_web'));
        assert.deepEqual(rulesOf(saved, 'cali-pi-_web'), []);
        assert.deepEqual(hashesOf(saved, chains[tw].name), ruleHashes(chains[tw].name, chains[tw].rules));
        assert.equal((await table.apply()).linesWritten, 0);

        await node.iptables('-D', 'KUBE-FIREWALL', '2');
        table.markDirty();
        await table.apply();
        saved = await node.save();
        assert.ok(!chainNames(saved).includes('cali-pi-_web'));
      });
    });

    it('hooks the nat table separately', async () => {
      await withNode(mode, async (node) => {
        const nat = node.newTable({ table: 'nat' });
        nat.setChains([
          { name: 'cali-POSTROUTING', rules: [{ match: '', action: Actions.jump('cali-nat-outgoing') }] },
          {
            name: 'cali-nat-outgoing',
            rules: [{ match: '-s 10.65.0.0/16 ! -d 10.65.0.0/16', action: Actions.masquerade() }],
          },
        ]);
        nat.setInsertions('POSTROUTING', [{ match: '', action: Actions.jump('cali-POSTROUTING') }]);
        await nat.apply();
        const saved = await node.save('nat');
        assert.deepEqual(rulesOf(saved, 'POSTROUTING'), [
          '-A POSTROUTING -m comment --comment "cali:O3lYWMrLQYEMJtB5" -j cali-POSTROUTING',
        ]);
        assert.equal(rulesOf(saved, 'cali-nat-outgoing').length, 1);
        assert.ok(!(await node.save('filter')).includes('cali'));
      });
    });

    it('fails with the line iptables-restore rejected, after its tries', async () => {
      await withNode(mode, async (node) => {
        const table = node.newTable({ attempts: 2 });
        table.setChains([{ name: 'cali-bad', rules: [{ match: '-m no-such-match --x', action: Actions.accept() }] }]);
        await assert.rejects(table.apply(), (err: unknown) => {
          assert.ok(err instanceof IptablesRestoreError);
          assert.equal(err.attempts, 2);
          assert.match(err.failedLine ?? '', /^-A cali-bad -m comment --comment "cali:[\w-]{16}" -m no-such-match --x/);
          assert.match(err.message, /no-such-match/);
          return true;
        });
        assert.ok(!chainNames(await node.save()).includes('cali-bad'), 'a failed transaction leaves nothing');
      });
    });
  });
}

describe('felix iptables backend detection', { skip }, () => {
  it('picks the backend that holds the rules, nft when neither does', async () => {
    await withTopology(async (topo) => {
      const ns = `${topo.prefix}detect`;
      await run('ip', ['netns', 'add', ns]);
      assert.equal((await detectBackend({ netns: ns })).mode, 'nft');
      await runIn(ns, 'iptables-legacy-restore', ['--noflush'], { input: FOREIGN_SETUP });
      assert.equal((await detectBackend({ netns: ns })).mode, 'legacy');
      await runIn(ns, 'iptables-nft-restore', ['--noflush'], {
        input: FOREIGN_SETUP.replace('COMMIT', '-A OUTPUT -j ACCEPT\n-A OUTPUT -j ACCEPT\nCOMMIT'),
      });
      assert.equal((await detectBackend({ netns: ns })).mode, 'nft');
    });
  });
});
