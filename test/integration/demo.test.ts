// `npm run demo` as a smoke test (CONTRACT §1): dist/demo/main.js brings up etcd, a BIRD ToR and three tabby-node
// nodes in network namespaces, makes pods through the CNI plugin, and prints the ToR's table and a reachability
// matrix; it exits 0 only when every node peers with the ToR and every pod reaches exactly the pods its policy
// lets it reach (the frontend may enter the backend; nobody else may). Afterwards nothing of
// the fabric is left; with --keep it stays up until --down removes it.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { isProcessAlive } from '../../demo/fabric';
import { DEMO_PREFIX_PATTERN, DEMO_STATE_ROOT } from '../../demo/main';
import { listNamespaces, run } from '../harness';

const isRoot = process.getuid?.() === 0;
const DEMO = path.join(__dirname, '..', '..', 'demo', 'main.js');
const NODE_ADDRESSES = ['192.0.2.11', '192.0.2.12', '192.0.2.13'];

const demo = (...args: string[]) => run(process.execPath, [DEMO, ...args], { allowFail: true, timeoutMs: 150_000 });

/** The fabric's namespace prefix, from the demo's first line. */
function prefixOf(stdout: string): string {
  const prefix = /fabric (td[0-9a-f]{6}-)/.exec(stdout)?.[1];
  assert.ok(prefix && DEMO_PREFIX_PATTERN.test(prefix), `no fabric prefix in:\n${stdout}`);
  return prefix;
}

/** The lines of a `== title ==` section, up to the next section or progress line. */
function section(stdout: string, title: string): string[] {
  const lines = stdout.split('\n');
  const start = lines.findIndex((l) => l.startsWith('== ') && l.includes(title));
  assert.ok(start >= 0, `no section "${title}" in:\n${stdout}`);
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((l) => l.startsWith('== ') || l.startsWith('['));
  return end < 0 ? rest : rest.slice(0, end);
}

const leftovers = (prefix: string) => listNamespaces().filter((ns) => ns.startsWith(prefix));
const stateDir = (prefix: string) => path.join(DEMO_STATE_ROOT, prefix.slice(0, -1));

describe('npm run demo', { skip: isRoot ? false : 'needs root' }, () => {
  it('brings up the fabric, pods reach each other through the ToR as the policy allows, and leaves nothing behind', async () => {
    const res = await demo();
    const output = `${res.stdout}\n${res.stderr}`;
    assert.equal(res.code, 0, output);
    const prefix = prefixOf(res.stdout);

    // The matrix: one row per pod (node, namespace/pod, address), one ✓ or ✗ per destination.
    const rows = section(res.stdout, 'reachability').filter((l) => /^ {2}node-\d/.test(l));
    assert.equal(rows.length, 6, output);
    const nodes = new Set(rows.map((r) => r.trim().split(/\s+/)[0]));
    assert.equal(nodes.size, 3, 'pods on three nodes');
    for (const row of rows) {
      const cells = row.match(/[✓✗]/g) ?? [];
      assert.equal(cells.length, 6, row);
      // The policy lets only the frontend into the backend: a backend pod is denied its two backend neighbours.
      const denied = cells.filter((c) => c === '✗').length;
      assert.equal(denied, row.includes('backend/') ? 2 : 0, row);
    }
    assert.match(res.stdout, /applied and enforced by felix/);
    assert.match(res.stdout, /36\/36 as expected/);

    // The ToR's table: one /26 aggregate from each node.
    const table = section(res.stdout, 'birdc show route');
    const blocksFrom = new Map<string, string[]>();
    table.forEach((line, i) => {
      const block = /^(10\.48\.\d+\.\d+\/26)\s/.exec(line)?.[1];
      const via = /via (\S+)/.exec(table[i + 1] ?? '')?.[1];
      if (block && via) blocksFrom.set(via, [...(blocksFrom.get(via) ?? []), block]);
    });
    for (const address of NODE_ADDRESSES) assert.equal(blocksFrom.get(address)?.length, 1, table.join('\n'));

    assert.deepEqual(leftovers(prefix), []);
    assert.equal(fs.existsSync(stateDir(prefix)), false);
  });

  it('--keep leaves the fabric running, --down removes it all', async () => {
    const kept = await demo('--keep');
    assert.equal(kept.code, 0, `${kept.stdout}\n${kept.stderr}`);
    const prefix = prefixOf(kept.stdout);
    assert.match(kept.stdout, /npm run demo -- --down/);
    const state = JSON.parse(fs.readFileSync(path.join(stateDir(prefix), 'fabric.json'), 'utf8')) as {
      processes: { name: string; pid: number; startTime: string }[];
    };
    const alive = () => state.processes.filter((p) => isProcessAlive(p.pid, p.startTime)).map((p) => p.name);
    try {
      // etcd, the ToR and three nodes; a segment, etcd, the ToR, three nodes and six pods.
      assert.deepEqual(alive().sort(), ['etcd', 'node-1', 'node-2', 'node-3', 'tor']);
      assert.equal(leftovers(prefix).length, 12, leftovers(prefix).join(' '));
    } finally {
      const down = await demo('--down', prefix);
      assert.equal(down.code, 0, `${down.stdout}\n${down.stderr}`);
      assert.match(down.stdout, new RegExp(`removed fabric ${prefix}`));
    }
    assert.deepEqual(alive(), []);
    assert.deepEqual(leftovers(prefix), []);
    assert.equal(fs.existsSync(stateDir(prefix)), false);
  });
});
