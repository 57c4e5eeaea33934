// The native addon's TCP (native/index.ts): TCP-MD5 and GTSM applied before the SYN, and connects that never block
// the event loop. The loopback tests run in this process; the others put each end in its own network namespace
// (root needed), check the wire with tcpdump, and connect to BIRD 2 with and without the right key.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as fs from 'node:fs';
import type * as net from 'node:net';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectTcp, listenTcp, nativeAvailable, setListenMd5, setSocketTtl } from '../../native';
import { type ProcessHandle, Topology } from '../harness';
import type { ClientCommand, ClientResult, ServerCommand } from './native-tcp-peer';

/** How long a connect that gets no answer waits, here: long enough to count ticks, short enough for a quick suite. */
const SILENT_PEER_TIMEOUT_MS = 1000;

/** Sends `text` and resolves with what comes back before the peer ends the connection. */
async function echo(socket: net.Socket, text: string): Promise<string> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.end(text);
  await once(socket, 'close');
  return Buffer.concat(chunks).toString();
}

/** A server from listenTcp that echoes the first chunk of every connection and ends it. */
async function echoServer(address: string): Promise<net.Server> {
  const server = await listenTcp(address, 0);
  server.on('connection', (socket: net.Socket) => {
    socket.on('error', () => socket.destroy());
    socket.once('data', (data) => socket.end(data));
  });
  return server;
}

function portOf(server: net.Server): number {
  return (server.address() as net.AddressInfo).port;
}

async function closeServer(server: net.Server): Promise<void> {
  server.close();
  await once(server, 'close');
}

function openFdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

test('the addon is built and loads', () => {
  assert.equal(nativeAvailable, true, 'build it with: npx node-gyp rebuild --directory native');
});

describe('loopback, in this process', () => {
  test('setListenMd5 sets, changes and removes the key a listening server demands', async () => {
    const server = await echoServer('127.0.0.1');
    const port = portOf(server);
    const connectWith = (key?: string) =>
      connectTcp('127.0.0.1', port, {
        timeoutMs: 300,
        ...(key === undefined ? {} : { md5: { peerAddress: '127.0.0.1', key } }),
      });
    try {
      setListenMd5(server, '127.0.0.1', 'one');
      assert.equal(await echo(await connectWith('one'), 'first'), 'first');
      setListenMd5(server, '127.0.0.1', 'two');
      await assert.rejects(connectWith('one'), { code: 'ETIMEDOUT' });
      assert.equal(await echo(await connectWith('two'), 'second'), 'second');
      setListenMd5(server, '127.0.0.1', '');
      setListenMd5(server, '127.0.0.1', ''); // removing a key that is not there is fine
      assert.equal(await echo(await connectWith(), 'third'), 'third');
      await assert.rejects(connectWith('two'), { code: 'ETIMEDOUT' }, 'a server without a key drops signed SYNs');
    } finally {
      await closeServer(server);
    }
    assert.throws(() => setListenMd5(server, '127.0.0.1', 'late'), /not a listening server from listenTcp/);
  });

  test('setSocketTtl on an accepted socket: passive GTSM drops data sent with a smaller TTL', async () => {
    const server = await listenTcp('127.0.0.1', 0);
    // The dropped client's FIN and RST are dropped too: its server side ends only when destroyed here.
    const accepted = new Set<net.Socket>();
    server.on('connection', (socket: net.Socket) => {
      accepted.add(socket);
      setSocketTtl(socket, 255, 255);
      socket.once('data', (data) => socket.end(data));
    });
    try {
      for (const [ttl, expected] of [
        [undefined, ''],
        [255, 'gtsm'],
      ] as const) {
        const acceptedNow = once(server, 'connection');
        const client = await connectTcp('127.0.0.1', portOf(server), { timeoutMs: 1000, ...(ttl ? { ttl } : {}) });
        await acceptedNow; // the server has set its minimum TTL before the client sends
        setTimeout(() => client.destroy(), 300);
        assert.equal(await echo(client, 'gtsm'), expected, `client TTL ${ttl ?? 'default (64)'}`);
        assert.throws(() => setSocketTtl(client, 255), /setSocketTtl: the socket is not open/);
      }
    } finally {
      for (const socket of accepted) socket.destroy();
      await closeServer(server);
    }
  });

  test('IPv6: MD5 and GTSM over ::1; a GTSM client needs the listener to send hop limit 255', async () => {
    const server = await echoServer('::1');
    const gtsmClient = () =>
      connectTcp('::1', portOf(server), {
        timeoutMs: 300,
        ttl: 255,
        minTtl: 255,
        md5: { peerAddress: '::1', key: 'v6' },
      });
    try {
      setListenMd5(server, '::1', 'v6');
      await assert.rejects(gtsmClient(), (err: Error) => {
        assert.match(
          err.message,
          /^connect ETIMEDOUT \[::1\]:\d+ \(no answer within 300 ms\): .*TCP-MD5.*TTL below 255/,
        );
        return true;
      });
      setSocketTtl(server, 255);
      assert.equal(await echo(await gtsmClient(), 'over v6'), 'over v6');
    } finally {
      await closeServer(server);
    }
  });

  test('bad arguments reject with TypeError or RangeError; system errors carry Node’s fields', async () => {
    const connect = (host: string, extra: object) => connectTcp(host, 1, { timeoutMs: 100, ...extra });
    await assert.rejects(connect('localhost', {}), { name: 'TypeError', message: /host must be an IPv4 or IPv6/ });
    await assert.rejects(connect('127.0.0.1', { ttl: 0 }), { name: 'RangeError', message: /ttl must be an integer/ });
    await assert.rejects(connect('127.0.0.1', { minTtl: 256 }), { name: 'RangeError' });
    await assert.rejects(connect('127.0.0.1', { timeoutMs: 0 }), { name: 'RangeError', message: /timeoutMs/ });
    await assert.rejects(connect('127.0.0.1', { localAddress: 'here' }), { name: 'TypeError' });
    await assert.rejects(connect('127.0.0.1', { md5: { peerAddress: '127.0.0.1', key: 'k'.repeat(81) } }), {
      name: 'RangeError',
      message: /at most 80 bytes/,
    });
    await assert.rejects(listenTcp('anywhere', 0), { name: 'TypeError' });
    const server = await listenTcp('127.0.0.1', 0);
    try {
      await assert.rejects(listenTcp('127.0.0.1', portOf(server)), {
        code: 'EADDRINUSE',
        errno: -98,
        syscall: 'bind',
        message: `bind EADDRINUSE 127.0.0.1:${portOf(server)} (Address already in use)`,
      });
      assert.throws(() => setSocketTtl(server, 0), { name: 'RangeError' });
    } finally {
      await closeServer(server);
    }
  });

  test('failed connects close their sockets', async () => {
    const server = await listenTcp('127.0.0.1', 0);
    setListenMd5(server, '127.0.0.1', 'right');
    try {
      const before = openFdCount();
      const outcomes = await Promise.allSettled(
        Array.from({ length: 50 }, () => [
          connectTcp('127.0.0.1', 1, { timeoutMs: 1000 }),
          connectTcp('127.0.0.1', 1, { timeoutMs: 1000, localAddress: '192.0.2.123' }),
          connectTcp('127.0.0.1', portOf(server), { timeoutMs: 100, md5: { peerAddress: '127.0.0.1', key: 'wrong' } }),
        ]).flat(),
      );
      const codes = new Set(outcomes.map((o) => (o.status === 'rejected' ? o.reason.code : 'connected')));
      assert.deepEqual([...codes].sort(), ['EADDRNOTAVAIL', 'ECONNREFUSED', 'ETIMEDOUT']);
      assert.equal(openFdCount(), before);
    } finally {
      await closeServer(server);
    }
  });
});

const notRoot = process.getuid?.() === 0 ? false : 'needs root: creates network namespaces';
const PEER_SCRIPT = path.join(__dirname, 'native-tcp-peer.js');
const ADDRESS_A = '192.0.2.1';
const ADDRESS_B = '192.0.2.2';

/** Polls until `condition` holds; fails naming `what` after `timeoutMs`. */
async function waitUntil(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await sleep(20);
  }
}

async function waitForOutput(handle: ProcessHandle, text: string): Promise<void> {
  await waitUntil(`${handle.commandLine} prints "${text}"`, () => {
    if (!handle.running) assert.fail(`${handle.commandLine} exited:\n${handle.output()}`);
    return handle.output().includes(text);
  });
}

function assertTimedOut(result: ClientResult, port: number, what: string): void {
  assert.equal(result.connected, false, `${what}: connected`);
  assert.equal(result.code, 'ETIMEDOUT', `${what}: ${result.message}`);
  assert.ok(result.message?.startsWith(`connect ETIMEDOUT ${ADDRESS_B}:${port} `), result.message);
  assert.ok(
    result.elapsedMs >= SILENT_PEER_TIMEOUT_MS - 50 && result.elapsedMs < SILENT_PEER_TIMEOUT_MS + 1000,
    `${what}: rejected after ${result.elapsedMs} ms`,
  );
  // A 20 ms interval ticks about 50 times a second, unless the event loop is blocked.
  assert.ok(result.ticks >= SILENT_PEER_TIMEOUT_MS / 20 / 2, `${what}: only ${result.ticks} ticks during the wait`);
}

describe('between two network namespaces', { skip: notRoot }, () => {
  let topo: Topology;

  /** A server in namespace b; it runs until the topology is destroyed. */
  const startServer = async (command: Omit<ServerCommand, 'role'>) => {
    const server = await topo.spawn('b', process.execPath, [
      PEER_SCRIPT,
      JSON.stringify({ role: 'server', ...command }),
    ]);
    await waitForOutput(server, '"event":"listening"');
  };

  const runClient = async (command: Omit<ClientCommand, 'role' | 'host'>): Promise<ClientResult> => {
    const json = JSON.stringify({ role: 'client', host: ADDRESS_B, ...command });
    const { stdout } = await topo.exec('a', process.execPath, [PEER_SCRIPT, json]);
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as ClientResult;
  };

  before(async () => {
    topo = await Topology.create();
    await topo.addSegment('lan');
    await topo.addNode('a', { segment: 'lan', address: `${ADDRESS_A}/24` });
    await topo.addNode('b', { segment: 'lan', address: `${ADDRESS_B}/24` });
    await topo.waitUntilLinksUp();
  });

  after(async () => {
    await topo?.destroy();
  });

  test('the same TCP-MD5 key: data flows, and the SYN on the wire is signed with it and sent with TTL 255', async () => {
    const port = 1791;
    await startServer({ address: ADDRESS_B, port, md5Keys: { [ADDRESS_A]: 'secret' } });
    // -M: tcpdump checks the signature with this key and prints "md5 valid".
    const filter = `tcp and dst port ${port}`;
    const tcpdump = await topo.spawn('a', 'tcpdump', ['-n', '-i', 'eth0', '-c', '1', '-v', '-M', 'secret', filter]);
    await waitForOutput(tcpdump, 'listening on eth0');

    const result = await runClient({
      port,
      options: { timeoutMs: SILENT_PEER_TIMEOUT_MS, ttl: 255, md5: { peerAddress: ADDRESS_B, key: 'secret' } },
      send: 'hello',
      readMs: 2000,
    });
    assert.equal(result.connected, true, result.message);
    assert.equal(Buffer.from(result.receivedHex, 'hex').toString(), 'hello');
    assert.equal(result.closedByPeer, true);

    await Promise.race([tcpdump.exited, sleep(3000)]);
    const capture = tcpdump.output();
    assert.match(capture, /Flags \[S\]/, capture);
    assert.match(capture, /md5 valid/, capture);
    assert.match(capture, /ttl 255/, capture);
  });

  test('mismatched or missing TCP-MD5 keys: ETIMEDOUT after timeoutMs, the event loop ticking all along', async () => {
    await startServer({ address: ADDRESS_B, port: 1792, md5Keys: { [ADDRESS_A]: 'secret' } });
    await startServer({ address: ADDRESS_B, port: 1793 });
    const withKey = (key: string) => ({ md5: { peerAddress: ADDRESS_B, key } });
    const cases = [
      { what: 'wrong key', port: 1792, options: withKey('guess') },
      { what: 'no key, server has one', port: 1792, options: {} },
      { what: 'key, server has none', port: 1793, options: withKey('secret') },
    ];
    const results = await Promise.all(
      cases.map(({ port, options }) =>
        runClient({ port, options: { timeoutMs: SILENT_PEER_TIMEOUT_MS, ...options }, send: 'x', readMs: 100 }),
      ),
    );
    for (const [index, { what, port }] of cases.entries()) assertTimedOut(results[index], port, what);
    assert.match(results[0].message!, /TCP-MD5 key that differs/, 'a timeout with a key names the likely cause');
  });

  test('a closed port: ECONNREFUSED at once', async () => {
    const result = await runClient({ port: 1799, options: { timeoutMs: 5000 }, readMs: 0 });
    assert.equal(result.code, 'ECONNREFUSED', result.message);
    assert.match(result.message!, /^connect ECONNREFUSED 192\.0\.2\.2:1799 /);
    assert.ok(result.elapsedMs < 500, `took ${result.elapsedMs} ms`);
  });

  test('GTSM: a listener with minTtl 255 accepts TTL 255 only, and must itself send 255 to a GTSM client', async () => {
    await startServer({ address: ADDRESS_B, port: 1794, listenerTtl: { ttl: 255, minTtl: 255 } });
    await startServer({ address: ADDRESS_B, port: 1795 });
    const gtsm = { ttl: 255, minTtl: 255 };
    const [accepted, defaultTtl, replyWithTtl64] = await Promise.all(
      [
        { port: 1794, options: gtsm },
        { port: 1794, options: {} },
        { port: 1795, options: gtsm },
      ].map(({ port, options }) =>
        runClient({ port, options: { timeoutMs: SILENT_PEER_TIMEOUT_MS, ...options }, send: 'ttl', readMs: 2000 }),
      ),
    );
    assert.equal(accepted.connected, true, accepted.message);
    assert.equal(Buffer.from(accepted.receivedHex, 'hex').toString(), 'ttl');
    assertTimedOut(defaultTtl, 1794, 'client sending TTL 64');
    assertTimedOut(replyWithTtl64, 1795, 'GTSM client, server replying with TTL 64');
    assert.match(replyWithTtl64.message!, /TTL below 255/);
  });

  test('BIRD 2 with password "secret" takes our connection with that key, never with another or none', async () => {
    const config = path.join(topo.dir, 'bird.conf');
    const controlSocket = path.join(topo.dir, 'bird.ctl');
    fs.writeFileSync(
      config,
      `router id ${ADDRESS_B};
log stderr all;
protocol device {}
protocol bgp peer_a {
  local ${ADDRESS_B} as 65002;
  neighbor ${ADDRESS_A} as 65001;
  password "secret";
  passive on;
  ipv4 { import none; export none; };
}
`,
    );
    const bird = await topo.spawn('b', 'bird', ['-f', '-c', config, '-s', controlSocket]);
    await waitUntil('BIRD listens on port 179', async () => {
      if (!bird.running) assert.fail(`bird exited:\n${bird.output()}`);
      return (await topo.exec('b', 'ss', ['-Htln', 'sport = :179'])).stdout.trim() !== '';
    });

    const client = (options: object) =>
      runClient({ port: 179, options: { timeoutMs: SILENT_PEER_TIMEOUT_MS, ...options }, readMs: 1200 });
    const [rightKey, wrongKey, noKey] = await Promise.all([
      client({ md5: { peerAddress: ADDRESS_B, key: 'secret' } }),
      client({ md5: { peerAddress: ADDRESS_B, key: 'public' } }),
      client({}),
    ]);
    assert.equal(rightKey.connected, true, rightKey.message);
    // BIRD answered with its OPEN (marker of 16 x ff, length, type 1) and kept the connection open for 1.2 s.
    assert.match(rightKey.receivedHex, /^f{32}[0-9a-f]{4}01/, `received ${rightKey.receivedHex}`);
    assert.equal(rightKey.closedByPeer, false);
    assertTimedOut(wrongKey, 179, 'wrong key');
    assertTimedOut(noKey, 179, 'no key');
  });
});
