// felix/ipip: the userspace IPIP datapath between two nodes (root: network namespaces). Nodes a and b share the
// underlay segment 192.0.2.0/24; each runs the datapath in a helper process inside its namespace and has one pod
// plumbed as Calico's CNI plugin does (test/support/ipip-topology.ts). Node a also routes 10.66.0.0/16 into tunl0
// without telling the datapath, as a destination it has no route for.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { callUnix } from '../../node/unix-http';
import { run, runIn, spawnProcess, Topology } from '../harness';
import type { IpipNodeConfig } from '../support/ipip-node';
import { ipBatch, IPIP_NODES as NODES, type NodePlan, PodPair, peerRoutes, TUNNEL_MTU } from '../support/ipip-topology';
import type { EchoResult } from '../support/tcp-echo';
import { waitFor } from '../support/wait';

const notRoot = process.getuid?.() === 0 ? false : 'needs root: creates network namespaces';
const HELPER = path.join(__dirname, '..', 'support', 'ipip-node.js');
const ECHO = path.join(__dirname, '..', 'support', 'tcp-echo.js');
/** Enough for the kernel to hand the datapath TCP super-packets (and for a dropped segment to be noticed). */
const BULK_BYTES = 32 * 2 ** 20;
/** An underlay address no node holds, for routes whose packets must go nowhere useful. */
const NOWHERE = '192.0.2.99';
/** Where no route of the datapath leads: node a routes it into tunl0 all the same. */
const UNROUTED = { cidr: '10.66.0.0/16', address: '10.66.0.1' };

describe('userspace IPIP between two nodes', { skip: notRoot }, () => {
  let topo: Topology;
  let pair: PodPair;

  before(async () => {
    topo = await Topology.create();
    pair = await PodPair.create(topo, 'userspace-ipip');
    await ipBatch(topo.nsName('a'), [`route add ${UNROUTED.cidr} dev tunl0`]);
  });

  after(async () => {
    await topo?.destroy();
  });

  test('the datapath made tunl0, a TUN device with the MTU it was given', async () => {
    const { stdout } = await topo.exec('a', 'ip', ['-d', 'link', 'show', 'tunl0']);
    assert.match(stdout, new RegExp(`mtu ${TUNNEL_MTU} `));
    assert.match(stdout, /tun type tun pi off vnet_hdr on persist off/);
  });

  test('pods ping each other both ways; the underlay carries protocol 4 with their ICMP inside', async () => {
    const tcpdump = await topo.spawn('a', 'tcpdump', ['-i', 'eth0', '-n', '-l', '-v', '-c', '4', 'ip proto 4']);
    await waitFor(() => tcpdump.output().includes('listening on eth0'), 'tcpdump to listen');
    assert.equal(await pair.ping('a', NODES.b.pod), true, 'pod a → pod b');
    assert.equal(await pair.ping('b', NODES.a.pod), true, 'pod b → pod a');
    await waitFor(() => !tcpdump.running, 'tcpdump to capture 4 packets', 5000);
    const capture = tcpdump.output();
    // -v prints each header on its own line: the outer one (protocol 4), the inner one, then the ICMP message.
    const ip = (address: string) => address.replaceAll('.', '\\.');
    const encapsulated = (from: NodePlan, to: NodePlan, message: string) =>
      new RegExp(
        String.raw`proto IPIP \(4\), length 104\)\n\s+${ip(from.underlay)} > ${ip(to.underlay)}: IP \(` +
          String.raw`[^)]*proto ICMP \(1\), length 84\)\n\s+${ip(from.pod)} > ${ip(to.pod)}: ICMP echo ${message}`,
      );
    const { a, b } = NODES;
    assert.match(capture, encapsulated(a, b, 'request'));
    assert.match(capture, encapsulated(b, a, 'reply'));
    assert.match(capture, encapsulated(b, a, 'request'));
    assert.match(capture, encapsulated(a, b, 'reply'));
    assert.doesNotMatch(capture, /bad cksum/);
  });

  test('bulk TCP both ways (super-packets segmented and coalesced in userspace) arrives intact', async () => {
    const port = 5001;
    const server = await spawnProcess(process.execPath, [ECHO, 'server', NODES.b.pod, String(port)], {
      netns: pair.podNs('b'),
    });
    try {
      await waitFor(() => {
        if (!server.running) throw new Error(`tcp-echo exited: ${server.output()}`);
        return server.output().includes('"event":"listening"');
      }, 'the echo server to listen');
      const before = await pair.stats('a');
      const { stdout } = await runIn(pair.podNs('a'), process.execPath, [
        ECHO,
        'client',
        NODES.b.pod,
        String(port),
        String(BULK_BYTES),
      ]);
      const result = JSON.parse(stdout) as EchoResult;
      assert.deepEqual(
        { received: result.received, identical: result.identical },
        {
          received: BULK_BYTES,
          identical: true,
        },
      );
      const after = await pair.stats('a');
      assert.ok(after.encapsulated.bytes - before.encapsulated.bytes >= BULK_BYTES, JSON.stringify(after));
      assert.ok(after.decapsulated.bytes - before.decapsulated.bytes >= BULK_BYTES, JSON.stringify(after));
      // Both offload paths carried some of it, so their checksums were checked by the pods' TCP.
      for (const node of ['a', 'b'] as const) {
        const { superPackets } = await pair.stats(node);
        assert.ok(superPackets.segmented > 0 && superPackets.coalesced > 0, `${node}: ${JSON.stringify(superPackets)}`);
      }
      for (const node of ['a', 'b'] as const) {
        const { stdout: counters } = await runIn(pair.podNs(node), 'nstat', ['-asz', 'TcpInCsumErrors']);
        assert.match(counters, /TcpInCsumErrors\s+0\s/, `pod ${node}: ${counters}`);
      }
    } finally {
      await server.stop();
    }
  });

  test('the longest prefix decides the outer destination', async () => {
    try {
      await pair.setRoutes('a', [
        { cidr: '10.65.0.0/16', remote: NOWHERE },
        { cidr: NODES.b.block, remote: NODES.b.underlay },
      ]);
      assert.equal(await pair.ping('a', NODES.b.pod), true, 'the /26 to b beats the /16 to nowhere');
      await pair.setRoutes('a', [
        { cidr: NODES.b.block, remote: NODES.b.underlay },
        { cidr: `${NODES.b.pod}/32`, remote: NOWHERE },
      ]);
      assert.equal(await pair.ping('a', NODES.b.pod), false, 'the /32 to nowhere beats the /26 to b');
      assert.equal((await pair.stats('a')).routes, 2);
    } finally {
      await pair.setRoutes('a', peerRoutes('a'));
    }
    assert.equal(await pair.ping('a', NODES.b.pod), true);
  });

  test('a destination routed into tunl0 but not in the table is dropped and counted', async () => {
    const before = (await pair.stats('a')).dropped.noRoute;
    assert.equal(await pair.ping('a', UNROUTED.address, 2), false);
    const after = (await pair.stats('a')).dropped.noRoute;
    assert.ok(after - before >= 2, `noRoute went from ${before} to ${after}`);
  });

  test('packets from a node that is no route’s remote are dropped and counted', async () => {
    const before = (await pair.stats('b')).dropped.unknownRemote;
    try {
      await pair.setRoutes('b', []);
      assert.equal(await pair.ping('a', NODES.b.pod), false);
    } finally {
      await pair.setRoutes('b', peerRoutes('b'));
    }
    const after = (await pair.stats('b')).dropped.unknownRemote;
    assert.ok(after - before >= 1, `unknownRemote went from ${before} to ${after}`);
    assert.equal(await pair.ping('a', NODES.b.pod), true);
  });

  test('a bad route table is refused whole, naming the route', async () => {
    const reply = await callUnix(pair.controlSocket('a'), 'PUT', '/routes', [
      ...peerRoutes('a'),
      { cidr: '10.65.1.1/26', remote: NODES.b.underlay },
    ]);
    assert.equal(reply.status, 500);
    assert.match(JSON.stringify(reply.body), /routes\[1\]\.cidr: \\"10\.65\.1\.1\/26\\" has host bits set/);
    assert.equal(await pair.ping('a', NODES.b.pod), true);
  });

  test('start fails with a clear error when the name belongs to another kind of device or the address is not ours', async () => {
    const attempt = async (options: Partial<IpipNodeConfig>) => {
      const config = { localAddress: NODES.b.underlay, routes: [], controlSocket: path.join(topo.dir, 'x.sock') };
      const result = await topo.exec('b', process.execPath, [HELPER, JSON.stringify({ ...config, ...options })], {
        allowFail: true,
      });
      assert.notEqual(result.code, 0);
      return result.stderr;
    };
    assert.match(
      await attempt({ ifname: 'eth0' }),
      /ioctl TUNSETIFF EINVAL eth0 .*a device named eth0 exists and is not a TUN device/,
    );
    assert.match(await attempt({ ifname: 'tunl1', localAddress: NOWHERE }), /bind EADDRNOTAVAIL tunl1/);
    assert.match(await attempt({ ifname: 'tunl0' }), /ioctl TUNSETIFF EBUSY tunl0/);
  });

  test('stopping the datapath removes tunl0, and the routes into it with it', async () => {
    const reply = await callUnix(pair.controlSocket('a'), 'POST', '/stop');
    assert.equal(reply.status, 200);
    assert.equal(pair.helpers.get('a')?.running, true, 'the helper process is still alive');
    const link = await topo.exec('a', 'ip', ['link', 'show', 'tunl0'], { allowFail: true });
    assert.notEqual(link.code, 0);
    assert.match(link.stderr, /does not exist/);
    const { stdout } = await topo.exec('a', 'ip', ['route', 'show', NODES.b.block]);
    assert.equal(stdout.trim(), '');
    assert.equal((await callUnix(pair.controlSocket('a'), 'GET', '/stats')).status, 500, 'stats of a stopped datapath');
  });
});

describe('userspace IPIP start and stop', { skip: notRoot }, () => {
  test('starting and stopping 20 times leaves no thread, fd or device behind', async () => {
    // In a throwaway network namespace of its own (unshare), on loopback: nothing else is needed to start.
    const script = `
      const fs = require('node:fs');
      const { execFileSync } = require('node:child_process');
      const { UserspaceIpip } = require(${JSON.stringify(path.join(__dirname, '..', '..', 'felix', 'ipip'))});
      execFileSync('ip', ['link', 'set', 'lo', 'up']);
      const count = (dir) => fs.readdirSync(dir).length;
      const before = { fds: count('/proc/self/fd'), threads: count('/proc/self/task') };
      let runningThreads = 0;
      for (let i = 0; i < 20; i++) {
        const ipip = UserspaceIpip.start({ localAddress: '127.0.0.1', mtu: 1480 });
        ipip.setRoutes([{ cidr: '10.0.0.0/8', remote: '127.0.0.2' }]);
        runningThreads = count('/proc/self/task') - before.threads;
        ipip.stop();
        ipip.stop();
      }
      const after = { fds: count('/proc/self/fd'), threads: count('/proc/self/task') };
      const tunl0 = execFileSync('ip', ['-o', 'link', 'show']).toString().includes('tunl0');
      console.log(JSON.stringify({ before, after, runningThreads, tunl0 }));
    `;
    const { stdout } = await run('unshare', ['--net', process.execPath, '-e', script]);
    const result = JSON.parse(stdout) as {
      before: { fds: number; threads: number };
      after: { fds: number; threads: number };
      runningThreads: number;
      tunl0: boolean;
    };
    assert.equal(result.runningThreads, 2, 'two forwarding threads while running');
    assert.deepEqual(result.after, result.before);
    assert.equal(result.tunl0, false);
  });
});
