// tabby-bgp against FRR (eBGP) and ExaBGP (RFC 7606 error handling on the wire), in network namespaces on
// 192.0.2.0/24.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Topology } from '../harness';
import { ExaBgp, Frr, TABBY_AT_11, TabbyBgp } from '../support/bgp-daemons';
import { waitFor } from '../support/wait';

const isRoot = process.getuid?.() === 0;

describe('BGP interop with FRR and ExaBGP', { skip: isRoot ? false : 'needs root: network namespaces' }, () => {
  let topo: Topology;

  before(async () => {
    topo = await Topology.create();
    await topo.addSegment('lan');
    await topo.addNode('tabby', { segment: 'lan', address: '192.0.2.11/24' });
    await topo.addNode('frr', { segment: 'lan', address: '192.0.2.3/24' });
    await topo.addNode('exabgp', { segment: 'lan', address: '192.0.2.4/24' });
  });
  after(async () => {
    await topo?.destroy();
  });

  it("eBGP with FRR: both learn each other's routes; the kernel gets FRR's", async () => {
    const frr = await Frr.start(topo, 'frr', {
      routerId: '192.0.2.3',
      asNumber: 65003,
      peers: [{ address: '192.0.2.11', asNumber: 64512 }],
      networks: ['10.70.0.0/24'],
    });
    const tabby = await TabbyBgp.start(topo, 'tabby', {
      ...TABBY_AT_11,
      peers: [{ address: '192.0.2.3', asNumber: 65003, connectRetryTime: 1 }],
      originate: ['10.65.3.0/26'],
      kernel: { export: true, table: 'main' },
    });
    try {
      await waitFor(async () => (await tabby.peer('192.0.2.3'))?.state === 'Established', 'tabby: session Established');
      await waitFor(() => frr.established('192.0.2.11'), 'FRR: session Established');
      const [learned] = await waitFor(async () => {
        const paths = await frr.route('10.65.3.0/26');
        return paths.length > 0 ? paths : undefined;
      }, 'FRR learns 10.65.3.0/26');
      assert.equal(learned!.aspath.string, '64512', JSON.stringify(learned));
      assert.deepEqual(
        learned!.nexthops.map((n) => n.ip),
        ['192.0.2.11'],
        JSON.stringify(learned),
      );
      assert.equal(learned!.valid, true, JSON.stringify(learned));
      const kernel = await waitFor(async () => {
        const routes = await tabby.kernelRoutes();
        return routes.includes('10.70.0.0/24') ? routes : undefined;
      }, 'tabby installs 10.70.0.0/24 in the kernel');
      assert.match(kernel, /^10\.70\.0\.0\/24 via 192\.0\.2\.3 dev eth0/m);
      // FRR sends our own route back (it does no sender-side loop detection): tabby receives it and rejects it for
      // the AS_PATH loop, so it is counted received but not accepted and never reaches the kernel.
      const peer = await waitFor(async () => {
        const p = await tabby.peer('192.0.2.3');
        return p?.prefixesReceived === 2 ? p : undefined;
      }, 'tabby receives both of FRR’s routes');
      assert.equal(peer.prefixesAccepted, 1, JSON.stringify(peer));
      assert.deepEqual(
        (await tabby.status()).rib,
        { prefixes: 2, paths: 2 },
        'our 10.65.3.0/26 and FRR’s 10.70.0.0/24',
      );
      assert.equal(peer.prefixesAdvertised, 1, JSON.stringify(peer));
      assert.doesNotMatch(await tabby.kernelRoutes(), /10\.65\.3\.0\/26/);
    } finally {
      await tabby.process.stop();
      await frr.process.stop();
    }
  });

  it('RFC 7606 with ExaBGP: malformed attributes withdraw routes and keep the session; a bad MP_REACH_NLRI resets it', async () => {
    const exabgp = await ExaBgp.start(topo, 'exabgp', {
      routerId: '192.0.2.4',
      asNumber: 65004,
      localAddress: '192.0.2.4',
      peers: [{ address: '192.0.2.11', asNumber: 64512 }],
    });
    const tabby = await TabbyBgp.start(topo, 'tabby', {
      ...TABBY_AT_11,
      // ExaBGP only connects out.
      peers: [{ address: '192.0.2.4', asNumber: 65004, passive: true }],
      kernel: { export: true, table: 'main' },
    });
    const kernelHas = async (prefix: string) => (await tabby.kernelRoutes()).includes(`${prefix} via 192.0.2.4`);
    const context = async () =>
      `tabby: ${JSON.stringify(await tabby.peer('192.0.2.4'))}\nkernel:\n${await tabby.kernelRoutes()}\n` +
      `tabby log:\n${tabby.process.output()}\nExaBGP log (tail):\n${exabgp.log().slice(-4000)}`;
    try {
      const up = await waitFor(async () => {
        const p = await tabby.peer('192.0.2.4');
        return p?.state === 'Established' ? p : undefined;
      }, 'tabby: session with ExaBGP Established');

      exabgp.command('announce route 10.71.0.0/24 next-hop self');
      await waitFor(() => kernelHas('10.71.0.0/24'), 'tabby installs 10.71.0.0/24');

      // ORIGIN 3 is undefined (RFC 7606 §7.1): treat-as-withdraw. The next UPDATE carries an ATOMIC_AGGREGATE of
      // length 1, whose attribute is discarded (§7.6) while its route is accepted; once that route is in, the bad one
      // before it on the same TCP stream has been handled too.
      exabgp.command('announce route 10.71.1.0/24 next-hop self attribute [ 0x01 0x40 0x03 ]');
      exabgp.command('announce route 10.71.3.0/24 next-hop self attribute [ 0x06 0x40 0x00 ]');
      await waitFor(
        () => kernelHas('10.71.3.0/24'),
        'tabby accepts 10.71.3.0/24 without its malformed ATOMIC_AGGREGATE',
      );
      assert.doesNotMatch(await tabby.kernelRoutes(), /10\.71\.1\.0\/24/, await context());

      // COMMUNITIES of length 3 (§7.8) on a prefix tabby has: treat-as-withdraw takes the earlier route away.
      exabgp.command('announce route 10.71.0.0/24 next-hop self attribute [ 0x08 0xc0 0x000102 ]');
      await waitFor(async () => !(await kernelHas('10.71.0.0/24')), 'tabby withdraws 10.71.0.0/24');

      const during = await tabby.peer('192.0.2.4');
      assert.equal(during?.state, 'Established', await context());
      assert.equal(during?.since, up.since, `the session did not flap\n${await context()}`);
      assert.deepEqual(exabgp.notifications(), [], await context());
      assert.equal(during?.prefixesAccepted, 1, `only 10.71.3.0/24 is left\n${await context()}`);
      assert.deepEqual((await tabby.status()).rib, { prefixes: 1, paths: 1 }, await context());

      // A clean re-announcement is accepted again.
      exabgp.command('announce route 10.71.0.0/24 next-hop self');
      await waitFor(() => kernelHas('10.71.0.0/24'), 'tabby installs 10.71.0.0/24 again');

      // IPv4 unicast routes may also come in MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 4760): 10.72.17.0/24 via
      // 192.0.2.4 rides along an ordinary announcement, then is withdrawn the same way.
      exabgp.command('announce route 10.71.5.0/24 next-hop self attribute [ 0x0e 0x80 0x00010104c000020400180a4811 ]');
      await waitFor(
        async () => /^10\.72\.17\.0\/24 via 192\.0\.2\.4 /m.test(await tabby.kernelRoutes()),
        'route from MP_REACH_NLRI',
      );
      exabgp.command('announce route 10.71.6.0/24 next-hop self attribute [ 0x0f 0x80 0x000101180a4811 ]');
      await waitFor(
        async () => !(await tabby.kernelRoutes()).includes('10.72.17.0/24'),
        'MP_UNREACH_NLRI withdraws it',
      );

      // An MP_REACH_NLRI too short to hold AFI, SAFI and next hop length: its NLRI cannot be located, so treat-as-
      // withdraw is impossible and the session must be reset (RFC 7606 §7.11, RFC 4760 §7: Optional Attribute Error).
      exabgp.command('announce route 10.71.2.0/24 next-hop self attribute [ 0x0e 0x80 0x0001 ]');
      const [reset] = await waitFor(() => {
        const notifications = exabgp.notifications();
        return notifications.length > 0 ? notifications : undefined;
      }, 'ExaBGP receives a NOTIFICATION');
      assert.deepEqual(reset, { direction: 'received', code: 3, subcode: 9 }, await context());

      // ExaBGP reconnects; the routes of the old session are gone (a NOTIFICATION ends graceful restart too).
      const back = await waitFor(async () => {
        const p = await tabby.peer('192.0.2.4');
        return p?.state === 'Established' && p.since !== up.since ? p : undefined;
      }, 'the session comes back up');
      assert.equal(back.prefixesReceived, 0, await context());
      await waitFor(
        async () => !/10\.71\./.test(await tabby.kernelRoutes()),
        'the old session’s routes leave the kernel',
      );
      exabgp.command('announce route 10.71.0.0/24 next-hop self');
      await waitFor(() => kernelHas('10.71.0.0/24'), 'tabby installs 10.71.0.0/24 on the new session');
      assert.equal(exabgp.notifications().length, 1, await context());
    } finally {
      await tabby.process.stop();
      await exabgp.process.stop();
    }
  });
});
