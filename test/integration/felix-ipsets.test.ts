// Felix's ipset manager against the real kernel, inside a network namespace of its own (run prefix, removed with the
// topology whatever happens). ipsets are per network namespace, so the sets of one run touch no one else's.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IpSetManager, IpsetCommandBackend, tempIpSetName } from '../../felix/ipsets';
import { ipSetNameForId, selectorIpSetId } from '../../policy';
import { run, runIn, withTopology } from '../harness';

const skip = process.getuid?.() === 0 ? false : 'needs root: creates network namespaces';

const DB = ipSetNameForId(selectorIpSetId("role == 'db'"));
const POOLS = 'cali40all-ipam-pools';
const PORTS = ipSetNameForId('n:web-http-ports');
const FOREIGN = 'KUBE-TEST-FOREIGN';

/** The command backend, counting the restore transactions it runs. */
class CountingBackend extends IpsetCommandBackend {
  restores = 0;

  override restore(lines: readonly string[]): Promise<void> {
    this.restores++;
    return super.restore(lines);
  }
}

/** A fresh network namespace for one test, with a manager working in it. */
async function withIpsets(body: (ns: string, manager: IpSetManager, backend: CountingBackend) => Promise<void>) {
  await withTopology(async (topo) => {
    const ns = `${topo.prefix}ipsets`;
    await run('ip', ['netns', 'add', ns]);
    const backend = new CountingBackend(ns);
    await body(ns, new IpSetManager({ backend }), backend);
  });
}

function ipset(ns: string, args: string[]): Promise<unknown> {
  return runIn(ns, 'ipset', args);
}

async function setNames(ns?: string): Promise<string[]> {
  const { stdout } =
    ns === undefined ? await run('ipset', ['list', '-name']) : await runIn(ns, 'ipset', ['list', '-name']);
  return stdout
    .split('\n')
    .filter((name) => name !== '')
    .sort();
}

/** The set's `create` options that matter and its members, sorted, as `ipset save` prints them. */
async function saved(ns: string, name: string): Promise<{ header: string; members: string[] }> {
  const { stdout } = await runIn(ns, 'ipset', ['save', name]);
  const lines = stdout.split('\n').filter((line) => line !== '');
  const header = lines[0]!.replace(/ hashsize \d+/, '').replace(/ bucketsize .*$/, '');
  const members = lines.slice(1).map((line) => line.split(' ')[2]!);
  return { header, members: members.sort() };
}

test('ipsets: the kernel keeps ipsets per network namespace', { skip }, async () => {
  await withIpsets(async (ns) => {
    await ipset(ns, ['create', DB, 'hash:ip']);
    assert.deepEqual(await setNames(ns), [DB]);
    assert.equal((await setNames()).includes(DB), false, 'a set made in the namespace is not in the root namespace');
  });
});

test('ipsets: apply creates the sets with their members, and a second apply runs no restore', { skip }, async () => {
  await withIpsets(async (ns, manager, backend) => {
    manager.setIpSet({ name: DB, type: 'hash:ip', members: ['10.65.0.2', '10.65.0.3/32'] });
    manager.setIpSet({ name: POOLS, type: 'hash:net', members: ['10.65.0.0/16', '192.168.7.9/24'] });
    manager.setIpSet({ name: PORTS, type: 'hash:ip,port', members: ['10.65.0.2,tcp:80', '10.65.0.3,UDP:53'] });
    const first = await manager.apply();
    assert.deepEqual([first.readKernel, first.written, backend.restores], [true, [POOLS, PORTS, DB], 1]);

    assert.deepEqual(await saved(ns, DB), {
      header: `create ${DB} hash:ip family inet maxelem 1048576`,
      members: ['10.65.0.2', '10.65.0.3'],
    });
    assert.deepEqual(await saved(ns, POOLS), {
      header: `create ${POOLS} hash:net family inet maxelem 1048576`,
      members: ['10.65.0.0/16', '192.168.7.0/24'],
    });
    assert.deepEqual((await saved(ns, PORTS)).members, ['10.65.0.2,tcp:80', '10.65.0.3,udp:53']);

    const second = await manager.apply();
    assert.deepEqual([second.lines, backend.restores], [0, 1]);
    // What the kernel prints back reads equal to what we asked for: a fresh reading finds nothing to write.
    manager.markDirty();
    const third = await manager.apply();
    assert.deepEqual([third.readKernel, third.lines, backend.restores], [true, 0, 1]);
  });
});

test('ipsets: drift made by hand is repaired after markDirty', { skip }, async () => {
  await withIpsets(async (ns, manager) => {
    manager.setIpSet({ name: DB, type: 'hash:ip', members: ['10.65.0.2', '10.65.0.3', '10.65.0.4'] });
    manager.setIpSet({ name: POOLS, type: 'hash:net', members: ['10.65.0.0/16'] });
    await manager.apply();

    await ipset(ns, ['del', DB, '10.65.0.3']);
    await ipset(ns, ['add', DB, '10.99.0.1']);
    await ipset(ns, ['destroy', POOLS]);
    manager.markDirty();
    const repair = await manager.apply();
    assert.deepEqual(repair.written, [POOLS, DB]);
    assert.deepEqual((await saved(ns, DB)).members, ['10.65.0.2', '10.65.0.3', '10.65.0.4']);
    assert.deepEqual((await saved(ns, POOLS)).members, ['10.65.0.0/16']);
  });
});

test('ipsets: foreign sets survive; removed sets go in applyDeletions, once no rule uses them', { skip }, async () => {
  await withIpsets(async (ns, manager) => {
    await ipset(ns, ['create', FOREIGN, 'hash:ip']);
    await ipset(ns, ['add', FOREIGN, '10.96.0.1']);
    manager.setIpSet({ name: DB, type: 'hash:ip', members: ['10.65.0.2'] });
    manager.setIpSet({ name: POOLS, type: 'hash:net', members: ['10.65.0.0/16'] });
    await manager.apply();
    // A rule still matches on POOLS, as the iptables rules of a policy being removed would.
    const rule = ['INPUT', '-m', 'set', '--match-set', POOLS, 'src', '-j', 'DROP'];
    await runIn(ns, 'iptables', ['-A', ...rule]);

    manager.removeIpSet(DB);
    manager.removeIpSet(POOLS);
    await manager.apply();
    assert.deepEqual(await setNames(ns), [FOREIGN, POOLS, DB].sort(), 'apply destroys nothing');

    const blocked = await manager.applyDeletions();
    assert.deepEqual(blocked.destroyed, [DB]);
    assert.deepEqual(blocked.failed, [
      { name: POOLS, reason: 'Set cannot be destroyed: it is in use by a kernel component' },
    ]);

    await runIn(ns, 'iptables', ['-D', ...rule]);
    manager.markDirty();
    assert.deepEqual(await manager.applyDeletions(), { destroyed: [POOLS], failed: [] });
    assert.deepEqual(await setNames(ns), [FOREIGN]);
    assert.deepEqual((await saved(ns, FOREIGN)).members, ['10.96.0.1']);
  });
});

test('ipsets: a set whose size changes is swapped in under the rule that uses it', { skip }, async () => {
  await withIpsets(async (ns, manager) => {
    manager.setIpSet({ name: DB, type: 'hash:ip', members: ['10.65.0.2'], maxElements: 1000 });
    await manager.apply();
    await runIn(ns, 'iptables', ['-A', 'INPUT', '-m', 'set', '--match-set', DB, 'src', '-j', 'DROP']);

    manager.setIpSet({ name: DB, type: 'hash:ip', members: ['10.65.0.2', '10.65.0.5'], maxElements: 2000 });
    await manager.apply();
    assert.deepEqual(await saved(ns, DB), {
      header: `create ${DB} hash:ip family inet maxelem 2000`,
      members: ['10.65.0.2', '10.65.0.5'],
    });
    assert.equal((await setNames(ns)).includes(tempIpSetName(DB)), false, 'the temporary set is gone');
    const { stdout } = await runIn(ns, 'iptables', ['-S', 'INPUT']);
    assert.match(stdout, new RegExp(`--match-set ${DB} src -j DROP`));
  });
});

test('ipsets: a 100,000-member set is written in one transaction', { skip }, async () => {
  await withIpsets(async (ns, manager, backend) => {
    const members = Array.from({ length: 100_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    const started = performance.now();
    manager.setIpSet({ name: DB, type: 'hash:ip', members });
    const modelled = performance.now();
    const first = await manager.apply();
    assert.deepEqual([first.lines, backend.restores], [100_001, 1]);
    const { stdout } = await runIn(ns, 'ipset', ['list', '-terse', DB]);
    assert.match(stdout, /Number of entries: 100000/);

    manager.markDirty();
    const reread = await manager.apply();
    assert.deepEqual([reread.lines, backend.restores], [0, 1]);
    manager.addMembers(DB, ['10.200.0.1']);
    const one = await manager.apply();
    assert.equal(one.lines, 1);
    console.log(
      `ipsets: 100,000 members: setIpSet ${(modelled - started).toFixed(0)} ms, ` +
        `apply ${first.ms.toFixed(0)} ms (read ${first.readMs.toFixed(0)}, restore ${first.writeMs.toFixed(0)}); ` +
        `re-read and compare ${reread.ms.toFixed(0)} ms; one member added ${one.ms.toFixed(1)} ms`,
    );
  });
});
