// The integration harness itself: commands, processes, real etcd, namespace topologies and their teardown.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import {
  CommandError,
  cleanupStale,
  listNamespaces,
  run,
  spawnProcess,
  startEtcd,
  Topology,
  withTopology,
} from '../harness';

const skip = process.getuid?.() === 0 ? false : 'needs root: creates network namespaces and runs etcd';

/** Live: not in the process table, or a zombie waiting for a reaper (it has already exited). */
function isGone(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function waitUntil(what: string, condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function namespacesWithPrefix(output: string, prefix: string): string[] {
  return output
    .split('\n')
    .map((line) => line.split(' ')[0])
    .filter((name) => name.startsWith(prefix));
}

async function ping(topo: Topology, from: string, to: string) {
  return topo.exec(from, 'ping', ['-c1', '-W1', to], { allowFail: true });
}

test('run: throws with the command line and stderr; allowFail returns the code', async () => {
  const failing = ['-c', 'echo disk on fire >&2; exit 3'];
  await assert.rejects(run('sh', failing), (err: unknown) => {
    assert.ok(err instanceof CommandError);
    assert.equal(err.result.code, 3);
    assert.match(err.message, /^sh -c "echo disk on fire >&2; exit 3": exited with code 3\ndisk on fire$/);
    return true;
  });
  assert.deepEqual(await run('sh', failing, { allowFail: true }), { stdout: '', stderr: 'disk on fire\n', code: 3 });
  assert.equal((await run('cat', [], { input: 'through stdin' })).stdout, 'through stdin');
  await assert.rejects(run('tabby-no-such-command', []), /tabby-no-such-command: cannot start/);
});

test('spawnProcess: keeps the latest output; stop() escalates to SIGKILL', async () => {
  const chatty = await spawnProcess('sh', ['-c', 'head -c 200000 /dev/zero | tr "\\0" x; echo END'], {
    outputLimitBytes: 1024,
  });
  assert.deepEqual(await chatty.exited, { code: 0, signal: null });
  assert.equal(chatty.output().length, 1024);
  assert.match(chatty.output(), /^x+END\n$/);

  // An ignored SIGTERM survives exec, so sleep itself ignores it.
  const stubborn = await spawnProcess('sh', ['-c', "trap '' TERM; exec sleep 30"]);
  await waitUntil('sh has become sleep', () =>
    fs.readFileSync(`/proc/${stubborn.pid}/cmdline`, 'utf8').startsWith('sleep'),
  );
  assert.equal(stubborn.running, true);
  const started = Date.now();
  assert.deepEqual(await stubborn.stop(300), { code: null, signal: 'SIGKILL' });
  assert.ok(Date.now() - started >= 250, 'SIGKILL came only after the grace period');
  assert.equal(stubborn.running, false);
});

test('etcd: put/get through etcdctl, restart keeps the data, compact, stop removes the data dir', {
  skip,
}, async () => {
  const etcd = await startEtcd();
  const pids: number[] = [];
  try {
    assert.match(etcd.endpoints[0], /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(fs.existsSync(etcd.dataDir));
    await etcd.etcdctl(['put', '/tabby/harness', 'first']);
    const get = async (...extra: string[]) =>
      (await etcd.etcdctl(['get', '/tabby/harness', '--print-value-only', ...extra])).stdout.trim();
    assert.equal(await get(), 'first');

    pids.push(etcd.process.pid);
    await etcd.restart();
    pids.push(etcd.process.pid);
    assert.notEqual(pids[1], pids[0]);
    assert.ok(isGone(pids[0]));
    assert.equal(await get(), 'first', 'the key survives a restart');

    await etcd.etcdctl(['put', '/tabby/harness', 'second']);
    const revision = await etcd.compact();
    assert.equal(await get(`--rev=${revision}`), 'second');
    const beforeCompaction = await etcd.etcdctl(['get', '/tabby/harness', `--rev=${revision - 1}`], {
      allowFail: true,
    });
    assert.notEqual(beforeCompaction.code, 0);
    assert.match(beforeCompaction.stderr, /compacted/);
  } finally {
    await etcd.stop();
  }
  assert.equal(fs.existsSync(etcd.dataDir), false, 'stop() removes the data dir');
  assert.ok(isGone(pids[1]));
  await etcd.stop(); // idempotent
});

test('topology: two nodes on one segment ping each other; etcd on the underlay', { skip }, async () => {
  await withTopology(async (topo) => {
    await topo.addSegment('lan');
    await topo.addNode('a', { segment: 'lan', address: '192.0.2.11/24' });
    await topo.addNode('b', { segment: 'lan', address: '192.0.2.12/24' });

    const addresses = JSON.parse((await topo.exec('a', 'ip', ['-j', 'addr', 'show', 'eth0'])).stdout);
    assert.equal(addresses[0].addr_info.find((a: { family: string }) => a.family === 'inet').local, '192.0.2.11');
    assert.equal((await topo.exec('a', 'sysctl', ['-n', 'net.ipv4.ip_forward'])).stdout.trim(), '1');

    assert.equal((await ping(topo, 'a', '192.0.2.12')).code, 0);
    assert.equal((await ping(topo, 'b', '192.0.2.11')).code, 0);
    assert.notEqual((await ping(topo, 'a', '192.0.2.99')).code, 0, 'an address nobody holds does not answer');

    const etcd = await startEtcd({ netns: topo.nsName('b'), host: '192.0.2.12' });
    try {
      assert.equal(etcd.endpoints[0].startsWith('http://192.0.2.12:'), true);
      const endpoint = `--endpoints=${etcd.endpoints[0]}`;
      await topo.exec('a', 'etcdctl', [endpoint, 'put', 'from-a', 'over-the-underlay']);
      assert.equal((await etcd.etcdctl(['get', 'from-a', '--print-value-only'])).stdout.trim(), 'over-the-underlay');
    } finally {
      await etcd.stop();
    }
  });
});

test('topology: a router joins two segments; nodes reach each other through their gateways', { skip }, async () => {
  await withTopology(async (topo) => {
    await topo.addSegment('left');
    await topo.addSegment('right');
    await topo.addRouter('tor', {
      links: [
        { segment: 'left', address: '192.0.2.1/24' },
        { segment: 'right', address: '198.51.100.1/24' },
      ],
    });
    await topo.addNode('a', { segment: 'left', address: '192.0.2.11/24', gateway: '192.0.2.1' });
    await topo.addNode('b', { segment: 'right', address: '198.51.100.11/24', gateway: '198.51.100.1' });
    await topo.addNode('lonely', { segment: 'right', address: '198.51.100.12/24' });

    const across = await ping(topo, 'a', '198.51.100.11');
    assert.equal(across.code, 0, across.stdout);
    assert.match(across.stdout, /ttl=63/, 'one routed hop');
    assert.equal((await ping(topo, 'b', '192.0.2.11')).code, 0);
    assert.notEqual((await ping(topo, 'lonely', '192.0.2.11')).code, 0, 'no gateway, no route');
    assert.equal((await ping(topo, 'lonely', '198.51.100.11')).code, 0);
  });
});

test('topology: bad input is refused before anything is created', { skip }, async () => {
  await withTopology(async (topo) => {
    await topo.addSegment('lan');
    await assert.rejects(topo.addNode('x', { segment: 'lan', address: '10.0.0.1/24' }), /outside 192\.0\.2\.0\/24/);
    await assert.rejects(topo.addNode('x', { segment: 'lan', address: '192.0.2.5' }), /with \/prefix-length/);
    await assert.rejects(topo.addNode('x', { segment: 'nope', address: '192.0.2.5/24' }), /no segment "nope"/);
    await assert.rejects(topo.addSegment('lan'), /already exists/);
    assert.throws(() => topo.nsName('x'), /no segment, node or router "x"/);
    assert.deepEqual(
      listNamespaces().filter((ns) => ns.startsWith(topo.prefix)),
      [topo.nsName('lan')],
    );
  });
  await assert.rejects(startEtcd({ host: '192.0.2.1' }), /would listen on the host's own network/);
});

test('destroy: stops processes, removes every namespace of the run, is idempotent', { skip }, async () => {
  const topo = await Topology.create();
  await topo.addSegment('lan');
  await topo.addNode('a', { segment: 'lan', address: '192.0.2.11/24' });
  const sleeper = await topo.spawn('a', 'sleep', ['600']);
  // A namespace the test made itself (as a CNI runtime would for a pod) goes too, since it carries the prefix.
  await run('ip', ['netns', 'add', `${topo.prefix}pod`]);
  const stray = await spawnProcess('sleep', ['600'], { netns: `${topo.prefix}pod` });
  assert.equal(
    namespacesWithPrefix((await run('ip', ['netns', 'list'])).stdout, topo.prefix).length,
    3,
    'segment, node and pod exist',
  );

  assert.deepEqual(await topo.destroy(), []);
  assert.deepEqual(namespacesWithPrefix((await run('ip', ['netns', 'list'])).stdout, topo.prefix), []);
  assert.equal(sleeper.running, false);
  await stray.exited;
  assert.equal(fs.existsSync(topo.dir), false);
  assert.deepEqual(await topo.destroy(), []);
  await assert.rejects(topo.addSegment('again'), /is destroyed/);

  let prefix = '';
  await assert.rejects(
    withTopology(async (failing) => {
      prefix = failing.prefix;
      await failing.addSegment('lan');
      throw new Error('test body failed');
    }),
    /test body failed/,
  );
  assert.deepEqual(
    listNamespaces().filter((ns) => ns.startsWith(prefix)),
    [],
  );
});

/** What a child test process built before it died. */
interface DoomedRun {
  prefix: string;
  /** The topology's state dir and etcd's data dir. */
  dirs: string[];
  /** A process in the topology and etcd (in the root namespace). */
  pids: number[];
}

/**
 * Starts a child test process that builds a topology (a segment, a node running sleep) and an etcd, reports them,
 * then waits; writing to its stdin makes it throw an uncaught exception.
 */
async function startDoomedRun() {
  const script = `
    const h = require(${JSON.stringify(path.join(__dirname, '..', 'harness'))});
    (async () => {
      const topo = await h.Topology.create();
      await topo.addSegment('lan');
      await topo.addNode('a', { segment: 'lan', address: '192.0.2.11/24' });
      const sleeper = await topo.spawn('a', 'sleep', ['600']);
      const etcd = await h.startEtcd();
      console.log(JSON.stringify({ prefix: topo.prefix, dirs: [topo.dir, etcd.dataDir],
        pids: [sleeper.pid, etcd.process.pid] }));
      process.stdin.once('data', () => { throw new Error('crash'); });
    })();`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  await waitUntil('the child reports what it built', () => stdout.includes('\n') || child.exitCode !== null, 10_000);
  assert.ok(stdout.includes('\n'), `child failed: ${stderr}`);
  const run = JSON.parse(stdout) as DoomedRun;
  assert.equal(listNamespaces().filter((ns) => ns.startsWith(run.prefix)).length, 2);
  assert.ok(run.pids.every((pid) => !isGone(pid)));
  assert.ok(run.dirs.every((dir) => fs.existsSync(dir)));
  return { child, run, exited, stderr: () => stderr };
}

async function assertAllGone(run: DoomedRun): Promise<void> {
  assert.deepEqual(
    listNamespaces().filter((ns) => ns.startsWith(run.prefix)),
    [],
  );
  await waitUntil('the dead run’s processes are gone', () => run.pids.every(isGone));
  assert.ok(run.dirs.every((dir) => !fs.existsSync(dir)));
}

test('emergency teardown when the test process gets SIGTERM', { skip }, async () => {
  const doomed = await startDoomedRun();
  process.kill(doomed.child.pid!, 'SIGTERM');
  assert.equal(await doomed.exited, 128 + 15);
  await assertAllGone(doomed.run);
});

test('emergency teardown when the test process throws an uncaught exception', { skip }, async () => {
  const doomed = await startDoomedRun();
  doomed.child.stdin.write('crash now\n');
  assert.equal(await doomed.exited, 1);
  assert.match(doomed.stderr(), /Error: crash/);
  await assertAllGone(doomed.run);
});

test('cleanupStale: removes what a SIGKILLed run left, leaves live runs alone', { skip }, async () => {
  await withTopology(async (live) => {
    await live.addSegment('lan');
    const doomed = await startDoomedRun();
    process.kill(doomed.child.pid!, 'SIGKILL');
    await doomed.exited;
    // Nothing runs in a SIGKILLed process: everything is still there.
    assert.equal(listNamespaces().filter((ns) => ns.startsWith(doomed.run.prefix)).length, 2);
    assert.ok(doomed.run.pids.every((pid) => !isGone(pid)));

    const removed = cleanupStale();
    assert.ok(removed.includes(`namespace ${doomed.run.prefix}a`), `removed ${removed.join(', ')}`);
    await assertAllGone(doomed.run);
    assert.deepEqual(
      listNamespaces().filter((ns) => ns.startsWith(live.prefix)),
      [live.nsName('lan')],
    );
    assert.ok(fs.existsSync(live.dir));
  });
});
