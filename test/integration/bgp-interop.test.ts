// tabby-bgp against real BGP daemons (BIRD 2, GoBGP) in network namespaces on 192.0.2.0/24.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Topology } from '../harness';
import { Bird, GoBgp, TABBY_AT_11, TabbyBgp } from '../support/bgp-daemons';
import { waitFor } from '../support/wait';

const isRoot = process.getuid?.() === 0;

describe('BGP interop', { skip: isRoot ? false : 'needs root: network namespaces' }, () => {
  let topo: Topology;

  before(async () => {
    topo = await Topology.create();
    await topo.addSegment('lan');
    await topo.addNode('tabby', { segment: 'lan', address: '192.0.2.11/24' });
    await topo.addNode('bird', { segment: 'lan', address: '192.0.2.1/24' });
    await topo.addNode('gobgp', { segment: 'lan', address: '192.0.2.2/24' });
  });
  after(async () => {
    await topo?.destroy();
  });

  it("eBGP with BIRD over TCP-MD5: both learn each other's routes; the kernel gets BIRD's", async () => {
    const bird = await Bird.start(topo, 'bird', {
      routerId: '192.0.2.1',
      asNumber: 65000,
      staticRoutes: ['10.66.0.0/24'],
      peers: [{ name: 'tabby', address: '192.0.2.11', asNumber: 64512, password: 's3cret' }],
    });
    const tabby = await TabbyBgp.start(topo, 'tabby', {
      ...TABBY_AT_11,
      peers: [{ address: '192.0.2.1', asNumber: 65000, password: 's3cret', connectRetryTime: 1 }],
      originate: ['10.65.1.0/26'],
      kernel: { export: true, table: 'main' },
    });
    try {
      await waitFor(async () => (await tabby.peer('192.0.2.1'))?.state === 'Established', 'tabby: session Established');
      await waitFor(() => bird.established('tabby'), 'BIRD: session Established');
      const learned = await waitFor(() => bird.route('10.65.1.0/26'), 'BIRD learns 10.65.1.0/26');
      assert.match(learned, /BGP\.as_path: 64512\s*$/m);
      assert.match(learned, /BGP\.next_hop: 192\.0\.2\.11/);
      const kernel = await waitFor(
        async () => ((await tabby.kernelRoutes()).includes('10.66.0.0/24') ? tabby.kernelRoutes() : undefined),
        'tabby installs 10.66.0.0/24 in the kernel',
      );
      assert.match(kernel, /^10\.66\.0\.0\/24 via 192\.0\.2\.1 dev eth0/m);
      const peer = await tabby.peer('192.0.2.1');
      // BIRD also announces its connected 192.0.2.0/24: installed with BIRD's metric 32, it must not replace the
      // connected route (metric 0) the session itself runs over.
      assert.equal(peer?.prefixesReceived, 2);
      const underlay = (await topo.exec('tabby', 'ip', ['-4', 'route', 'show', '192.0.2.0/24'])).stdout;
      assert.match(underlay, /^192\.0\.2\.0\/24 dev eth0 proto kernel scope link/m, underlay);
      assert.match(underlay, /^192\.0\.2\.0\/24 via 192\.0\.2\.1 dev eth0 proto bgp metric 32/m, underlay);
      assert.equal(peer?.prefixesAdvertised, 1);
    } finally {
      await tabby.process.stop();
      await bird.process.stop();
    }
  });

  it('iBGP with GoBGP: routes both ways, LOCAL_PREF kept', async () => {
    const gobgp = await GoBgp.start(topo, 'gobgp', {
      routerId: '192.0.2.2',
      asNumber: 64512,
      peers: [{ address: '192.0.2.11', asNumber: 64512 }],
    });
    const tabby = await TabbyBgp.start(topo, 'tabby', {
      ...TABBY_AT_11,
      peers: [{ address: '192.0.2.2', asNumber: 64512, connectRetryTime: 1 }],
      originate: ['10.65.2.0/26'],
      kernel: { export: true, table: 'main' },
    });
    try {
      await waitFor(
        async () => (await tabby.peer('192.0.2.2'))?.state === 'Established',
        'tabby: session Established',
        20_000,
      );
      await waitFor(() => gobgp.established('192.0.2.11'), 'GoBGP: session established');
      await gobgp.gobgp('global', 'rib', 'add', '10.67.0.0/24', 'nexthop', '192.0.2.2', 'local-pref', '200');
      const rib = await waitFor(async () => {
        const r = await gobgp.ribJson();
        return r['10.65.2.0/26'] ? r : undefined;
      }, 'GoBGP learns 10.65.2.0/26');
      const attrs = rib['10.65.2.0/26']![0]!.attrs;
      assert.equal(attrs.find((a) => a.type === 3)?.nexthop, '192.0.2.11', JSON.stringify(attrs));
      assert.equal(attrs.find((a) => a.type === 5)?.value, 100, `LOCAL_PREF 100 on iBGP: ${JSON.stringify(attrs)}`);
      await waitFor(async () => (await tabby.kernelRoutes()).includes('10.67.0.0/24'), 'tabby installs 10.67.0.0/24');
      assert.match(await tabby.kernelRoutes(), /^10\.67\.0\.0\/24 via 192\.0\.2\.2 dev eth0/m);
    } finally {
      await tabby.process.stop();
      await gobgp.process.stop();
    }
  });

  it('route reflector between a BIRD client and a GoBGP client: ORIGINATOR_ID and CLUSTER_LIST set', async () => {
    const bird = await Bird.start(topo, 'bird', {
      routerId: '192.0.2.1',
      asNumber: 64512,
      staticRoutes: ['10.68.0.0/24'],
      peers: [{ name: 'reflector', address: '192.0.2.11', asNumber: 64512 }],
    });
    const gobgp = await GoBgp.start(topo, 'gobgp', {
      routerId: '192.0.2.2',
      asNumber: 64512,
      peers: [{ address: '192.0.2.11', asNumber: 64512 }],
    });
    const tabby = await TabbyBgp.start(topo, 'tabby', {
      ...TABBY_AT_11,
      routeReflectorClusterId: '224.0.0.1',
      peers: [
        { address: '192.0.2.1', asNumber: 64512, routeReflectorClient: true, connectRetryTime: 1 },
        { address: '192.0.2.2', asNumber: 64512, routeReflectorClient: true, connectRetryTime: 1 },
      ],
    });
    try {
      await gobgp.gobgp('global', 'rib', 'add', '10.69.0.0/24', 'nexthop', '192.0.2.2');
      const rib = await waitFor(
        async () => {
          const r = await gobgp.ribJson();
          return r['10.68.0.0/24'] ? r : undefined;
        },
        "GoBGP gets BIRD's 10.68.0.0/24 through the reflector",
        20_000,
      );
      const attrs = rib['10.68.0.0/24']![0]!.attrs;
      assert.equal(attrs.find((a) => a.type === 3)?.nexthop, '192.0.2.1', 'next hop unchanged by reflection');
      assert.equal(attrs.find((a) => a.type === 9)?.value, '192.0.2.1', `ORIGINATOR_ID: ${JSON.stringify(attrs)}`);
      assert.deepEqual(
        attrs.find((a) => a.type === 10)?.value,
        ['224.0.0.1'],
        `CLUSTER_LIST: ${JSON.stringify(attrs)}`,
      );
      const reflected = await waitFor(() => bird.route('10.69.0.0/24'), "BIRD gets GoBGP's 10.69.0.0/24");
      assert.match(reflected, /BGP\.originator_id: 192\.0\.2\.2/);
      assert.match(reflected, /BGP\.cluster_list: 224\.0\.0\.1/);
      assert.match(reflected, /BGP\.next_hop: 192\.0\.2\.2/);
    } finally {
      await tabby.process.stop();
      await gobgp.process.stop();
      await bird.process.stop();
    }
  });

  it('graceful restart: tabby restarts, BIRD keeps its route and the kernel loses none', async () => {
    const bird = await Bird.start(topo, 'bird', {
      routerId: '192.0.2.1',
      asNumber: 65000,
      staticRoutes: ['10.66.0.0/24', '10.66.1.0/24'],
      peers: [{ name: 'tabby', address: '192.0.2.11', asNumber: 64512 }],
    });
    const config = {
      ...TABBY_AT_11,
      peers: [{ address: '192.0.2.1', asNumber: 65000, connectRetryTime: 1 }],
      originate: ['10.65.1.0/26'],
      kernel: { export: true, table: 'main' },
    };
    let tabby = await TabbyBgp.start(topo, 'tabby', config);
    let watching = true;
    const kernelGaps: string[] = [];
    const birdGaps: string[] = [];
    try {
      await waitFor(async () => (await tabby.kernelRoutes()).includes('10.66.1.0/24'), 'kernel routes from BIRD');
      await waitFor(() => bird.route('10.65.1.0/26'), 'BIRD learns 10.65.1.0/26');
      const watcher = (async () => {
        while (watching) {
          const routes = await tabby.kernelRoutes();
          if (!routes.includes('10.66.0.0/24') || !routes.includes('10.66.1.0/24')) kernelGaps.push(routes);
          if (!(await bird.route('10.65.1.0/26'))) birdGaps.push(new Date().toISOString());
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      await tabby.process.stop(); // SIGTERM: a graceful stop
      await new Promise((r) => setTimeout(r, 1000));
      assert.match(
        await bird.birdc('show', 'protocols', 'all', 'tabby'),
        /Neighbor graceful restart active|Restart timer/,
      );
      tabby = await tabby.restart();
      await waitFor(async () => (await tabby.peer('192.0.2.1'))?.state === 'Established', 'session back', 20_000);
      await waitFor(() => bird.established('tabby'), 'BIRD: session back');
      await new Promise((r) => setTimeout(r, 1500));
      watching = false;
      await watcher;
      assert.deepEqual(kernelGaps, [], 'no kernel route disappeared during the restart');
      assert.deepEqual(birdGaps, [], 'BIRD kept our route during the restart');
      assert.match(await bird.route('10.65.1.0/26'), /BGP\.as_path: 64512/);
    } finally {
      watching = false;
      await tabby.process.stop();
      await bird.process.stop();
    }
  });

  it('client of a BIRD route reflector: routes from another client arrive with their next hop', async () => {
    const bird = await Bird.start(topo, 'bird', {
      routerId: '192.0.2.1',
      asNumber: 64512,
      clusterId: '224.0.0.2',
      peers: [
        { name: 'tabby', address: '192.0.2.11', asNumber: 64512, rrClient: true },
        { name: 'gobgp', address: '192.0.2.2', asNumber: 64512, rrClient: true },
      ],
    });
    const gobgp = await GoBgp.start(topo, 'gobgp', {
      routerId: '192.0.2.2',
      asNumber: 64512,
      peers: [{ address: '192.0.2.1', asNumber: 64512 }],
    });
    const tabby = await TabbyBgp.start(topo, 'tabby', {
      ...TABBY_AT_11,
      peers: [{ address: '192.0.2.1', asNumber: 64512, connectRetryTime: 1 }],
      originate: ['10.65.5.0/26'],
      kernel: { export: true, table: 'main' },
    });
    try {
      await gobgp.gobgp('global', 'rib', 'add', '10.73.0.0/24', 'nexthop', '192.0.2.2');
      await waitFor(
        async () => (await tabby.kernelRoutes()).includes('10.73.0.0/24'),
        'tabby gets 10.73.0.0/24',
        20_000,
      );
      assert.match(await tabby.kernelRoutes(), /^10\.73\.0\.0\/24 via 192\.0\.2\.2 dev eth0/m);
      const rib = await waitFor(async () => {
        const r = await gobgp.ribJson();
        return r['10.65.5.0/26'] ? r : undefined;
      }, "GoBGP gets tabby's 10.65.5.0/26 reflected");
      const attrs = rib['10.65.5.0/26']![0]!.attrs;
      assert.equal(attrs.find((a) => a.type === 3)?.nexthop, '192.0.2.11');
      assert.equal(attrs.find((a) => a.type === 9)?.value, '192.0.2.11', `ORIGINATOR_ID: ${JSON.stringify(attrs)}`);
    } finally {
      await tabby.process.stop();
      await gobgp.process.stop();
      await bird.process.stop();
    }
  });

  it('graceful restart helper: BIRD crashes and comes back; tabby keeps its routes, then sweeps the one not resent', async () => {
    const birdConfig = {
      routerId: '192.0.2.1',
      asNumber: 65000,
      staticRoutes: ['10.66.0.0/24', '10.66.1.0/24'],
      peers: [{ name: 'tabby', address: '192.0.2.11', asNumber: 64512 }],
    };
    let bird = await Bird.start(topo, 'bird', birdConfig);
    const tabby = await TabbyBgp.start(topo, 'tabby', {
      ...TABBY_AT_11,
      peers: [{ address: '192.0.2.1', asNumber: 65000, connectRetryTime: 1 }],
      kernel: { export: true, table: 'main' },
    });
    try {
      await waitFor(async () => (await tabby.kernelRoutes()).includes('10.66.1.0/24'), 'kernel routes from BIRD');
      // A crash: no NOTIFICATION, so the routes stay, stale, for BIRD's restart time.
      process.kill(bird.process.pid, 'SIGKILL');
      await bird.process.exited;
      await waitFor(
        async () => (await tabby.peer('192.0.2.1'))?.state !== 'Established',
        'tabby sees the session gone',
      );
      await new Promise((r) => setTimeout(r, 1000));
      const during = await tabby.kernelRoutes();
      assert.match(during, /^10\.66\.0\.0\/24 via 192\.0\.2\.1/m, 'kept while BIRD is down');
      assert.match(during, /^10\.66\.1\.0\/24 via 192\.0\.2\.1/m, 'kept while BIRD is down');
      // BIRD comes back in recovery mode without 10.66.1.0/24: after its End-of-RIB that route is swept.
      bird = await Bird.start(topo, 'bird', { ...birdConfig, staticRoutes: ['10.66.0.0/24'], recovery: true });
      await waitFor(async () => (await tabby.peer('192.0.2.1'))?.state === 'Established', 'session back', 20_000);
      await waitFor(async () => !(await tabby.kernelRoutes()).includes('10.66.1.0/24'), 'stale 10.66.1.0/24 swept');
      assert.match(await tabby.kernelRoutes(), /^10\.66\.0\.0\/24 via 192\.0\.2\.1/m);
    } finally {
      await tabby.process.stop();
      await bird.process.stop();
    }
  });
});
