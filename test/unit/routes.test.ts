// The route manager's pure parts: canonical routes, the diff, the ip batch text and listings, and RouteTable's
// bookkeeping against an in-memory kernel.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type CanonicalRoute,
  canonicalDestination,
  canonicalRoute,
  diffDestination,
  formatBatch,
  parseBatchErrors,
  parseRouteListing,
  type RouteBackend,
  type RouteBatch,
  type RouteOp,
  type RouteSpec,
  RouteState,
  RouteTable,
} from '../../felix/routes';

const OURS = 80;
const STATIC = 4;
const owned = new Set([OURS]);

function route(spec: RouteSpec, protocol = OURS): CanonicalRoute {
  return canonicalRoute(spec, protocol);
}

/** Ops in a comparable form: "replace|delete <dst> <protocol> <metric>". */
function summary(ops: readonly RouteOp[]): string[] {
  return ops.map((op) => `${op.kind} ${op.route.dst} proto ${op.route.protocol} metric ${op.route.metric}`);
}

describe('canonicalDestination', () => {
  it('writes every destination as network/length', () => {
    assert.equal(canonicalDestination('10.65.0.7'), '10.65.0.7/32');
    assert.equal(canonicalDestination('default'), '0.0.0.0/0');
    assert.equal(canonicalDestination('10.65.0.7/24'), '10.65.0.0/24');
    assert.equal(canonicalDestination('10.65.0.7/0'), '0.0.0.0/0');
    assert.equal(canonicalDestination('255.255.255.255/31'), '255.255.255.254/31');
    const canonical = '10.65.0.64/26';
    assert.equal(canonicalDestination(canonical), canonical);
  });

  it('refuses what is not an IPv4 CIDR', () => {
    for (const bad of [
      '',
      '10.65.0',
      '10.65.0.1.2',
      '10.65.0.256',
      '010.65.0.1',
      '10.65.0.0/33',
      '10.65.0.0/',
      'fd00::/64',
      '10.65.0.0/08',
    ]) {
      assert.throws(() => canonicalDestination(bad), /bad route destination/, bad);
    }
  });
});

describe('canonicalRoute', () => {
  it('fills in the defaults iproute2 and the kernel use', () => {
    assert.deepEqual(route({ dst: '10.65.0.7', dev: 'cali1234567890a' }), {
      dst: '10.65.0.7/32',
      type: 'unicast',
      dev: 'cali1234567890a',
      via: undefined,
      onlink: false,
      scope: 'link',
      src: undefined,
      metric: 0,
      protocol: OURS,
      mtu: undefined,
    });
    assert.equal(route({ dst: '10.66.0.0/26', via: '192.0.2.12', dev: 'tunl0', onlink: true }).scope, 'global');
    assert.equal(route({ dst: '10.65.0.0/26', type: 'blackhole' }).scope, 'global');
  });

  it('makes different spellings of one route equal', () => {
    const a = route({ dst: '10.65.0.7', dev: 'cali1' });
    const b = route({ dst: '10.65.0.7/32', dev: 'cali1', scope: 'link', metric: 0, onlink: false });
    assert.deepEqual(a, b);
  });

  it('names the destination and the field at fault', () => {
    const cases: [RouteSpec, RegExp][] = [
      [
        { dst: '10.65.0.0/26', type: 'blackhole', dev: 'eth0' },
        /route 10\.65\.0\.0\/26: a blackhole route takes no device/,
      ],
      [{ dst: '10.65.0.0/26' }, /needs a device or a gateway/],
      [{ dst: '10.65.0.0/26', via: '192.0.2.1', onlink: true }, /onlink needs both/],
      [{ dst: '10.65.0.0/26', dev: 'a b' }, /bad device name "a b"/],
      [{ dst: '10.65.0.0/26', dev: 'sixteen-chars-xx' }, /bad device name/],
      [{ dst: '10.65.0.0/26', via: '192.0.2' }, /bad gateway "192\.0\.2"/],
      [{ dst: '10.65.0.0/26', dev: 'eth0', metric: -1 }, /bad metric -1/],
      [{ dst: '10.65.0.0/26', dev: 'eth0', mtu: 20 }, /bad mtu 20/],
      [{ dst: '10.65.0.0/26', dev: 'eth0', type: 'bogus' as 'unicast' }, /unknown type "bogus"/],
      [{ dst: '10.65.0.0/26', dev: 'eth0', scope: 'toString' as 'link' }, /unknown scope "toString"/],
    ];
    for (const [spec, error] of cases) assert.throws(() => route(spec), error);
    assert.throws(() => route({ dst: '10.65.0.0/26', dev: 'eth0' }, 256), /bad protocol 256/);
  });
});

describe('diffDestination', () => {
  const want = route({ dst: '10.65.0.7/32', dev: 'cali1' });

  it('adds, leaves alone, replaces and deletes', () => {
    assert.deepEqual(diffDestination(want, [], owned), [{ kind: 'replace', route: want, previous: undefined }]);
    assert.deepEqual(diffDestination(want, [route({ dst: '10.65.0.7', dev: 'cali1' })], owned), []);
    const stale = route({ dst: '10.65.0.7', dev: 'cali2' });
    assert.deepEqual(diffDestination(want, [stale], owned), [{ kind: 'replace', route: want, previous: stale }]);
    assert.deepEqual(diffDestination(undefined, [stale], owned), [{ kind: 'delete', route: stale }]);
    assert.deepEqual(diffDestination(undefined, [], owned), []);
  });

  it('never deletes a foreign route, and takes over one at the same key', () => {
    const foreign = route({ dst: '10.65.0.7', dev: 'eth0' }, STATIC);
    assert.deepEqual(diffDestination(undefined, [foreign], owned), []);
    // The kernel's replace overwrites whatever is at (dst, metric); it is no route of ours, so this is an add.
    assert.deepEqual(diffDestination(want, [foreign], owned), [{ kind: 'replace', route: want, previous: undefined }]);
  });

  it('deletes ours at another metric, and appended duplicates before writing', () => {
    const atMetric5 = route({ dst: '10.65.0.7', dev: 'cali1', metric: 5 });
    assert.deepEqual(summary(diffDestination(want, [atMetric5], owned)), [
      'delete 10.65.0.7/32 proto 80 metric 5',
      'replace 10.65.0.7/32 proto 80 metric 0',
    ]);
    const appended = route({ dst: '10.65.0.7', dev: 'cali2' });
    assert.deepEqual(summary(diffDestination(want, [want, appended], owned)), [
      'delete 10.65.0.7/32 proto 80 metric 0',
      'delete 10.65.0.7/32 proto 80 metric 0',
      'replace 10.65.0.7/32 proto 80 metric 0',
    ]);
  });
});

describe('RouteState', () => {
  const unchanged = route({ dst: '10.65.0.1', dev: 'cali1' });
  const changed = route({ dst: '10.65.0.2', dev: 'cali2' });
  const added = route({ dst: '10.65.0.3', dev: 'cali3' });
  const gone = route({ dst: '10.65.0.4', dev: 'cali4' });
  const foreign = route({ dst: '10.65.0.5', dev: 'eth0' }, STATIC);
  const atMetric5 = route({ dst: '10.65.0.1', dev: 'cali1', metric: 5 });

  function loaded(): RouteState {
    const state = new RouteState(OURS, owned);
    state.setDesired([unchanged, changed, added]);
    state.loadKernel([atMetric5, unchanged, route({ dst: '10.65.0.2', dev: 'cali9' }), gone, foreign]);
    return state;
  }

  it('compares every destination after reading the kernel: its deletes, then its replace', () => {
    assert.deepEqual(summary([...loaded().diff()]), [
      'delete 10.65.0.1/32 proto 80 metric 5',
      'replace 10.65.0.2/32 proto 80 metric 0',
      'replace 10.65.0.3/32 proto 80 metric 0',
      'delete 10.65.0.4/32 proto 80 metric 0',
    ]);
  });

  it('then compares only what changed or failed', () => {
    const state = loaded();
    const ops = [...state.diff()];
    assert.deepEqual(state.settle(new Map([[2, 'Cannot find device "cali3"']])), {
      added: 0,
      replaced: 1,
      deleted: 2,
      failed: [{ dst: '10.65.0.3/32', error: 'Cannot find device "cali3"' }],
    });
    assert.equal(ops.length, 4);
    assert.deepEqual(summary([...state.diff()]), ['replace 10.65.0.3/32 proto 80 metric 0']);
    state.settle(new Map());
    assert.deepEqual([...state.diff()], []);
    state.settle(new Map());

    state.set({ dst: '10.65.0.1/32', dev: 'cali1', scope: 'link' }); // the same route, spelled out
    state.set({ dst: '10.65.0.7', dev: 'cali3' });
    state.delete('10.65.0.2');
    state.delete('10.65.0.99');
    assert.deepEqual(summary([...state.diff()]), [
      'replace 10.65.0.7/32 proto 80 metric 0',
      'delete 10.65.0.2/32 proto 80 metric 0',
    ]);
    state.settle(new Map());
    assert.equal(state.size, 3);

    // The whole set again, one route changed: one replace.
    state.setDesired([unchanged, added, { dst: '10.65.0.7', dev: 'cali2' }]);
    assert.deepEqual(summary([...state.diff()]), ['replace 10.65.0.7/32 proto 80 metric 0']);
  });

  it('refuses a bad set without changing anything', () => {
    const state = loaded();
    assert.throws(
      () => state.setDesired([added, { dst: '10.65.0.3/32', dev: 'cali1' }]),
      /route 10\.65\.0\.3\/32: given twice/,
    );
    assert.throws(() => state.setDesired([added, { dst: '10.65.0.6', dev: 'a b' }]), /bad device name/);
    assert.throws(
      () => state.set({ dst: '10.65.0.6', dev: 'cali6', protocol: 186 }),
      /protocol 186 is not this table's \(80\)/,
    );
    assert.equal(state.size, 3);
    assert.deepEqual(state.get('10.65.0.2'), changed);
    assert.equal([...state.diff()].length, 4);
  });

  it('rewrites the routes through a device whose routes the kernel dropped', () => {
    const state = new RouteState(OURS, owned);
    state.setDesired([unchanged, changed]);
    state.loadKernel([unchanged, changed]);
    assert.deepEqual([...state.diff()], []);
    state.settle(new Map());
    state.forgetDevice('cali2');
    assert.deepEqual(summary([...state.diff()]), ['replace 10.65.0.2/32 proto 80 metric 0']);
  });

  it('knows nothing of the kernel after an abandoned batch', () => {
    const state = loaded();
    [...state.diff()];
    state.abandon();
    assert.equal(state.knowsKernel, false);
    assert.throws(() => [...state.diff()], /diff before the kernel was read/);
  });
});

describe('ip batch text', () => {
  it('writes one line per operation, the type before the destination', () => {
    const blackhole = route({ dst: '10.65.0.0/26', type: 'blackhole' });
    const tunnel = route({ dst: '10.66.0.0/26', via: '192.0.2.12', dev: 'tunl0', onlink: true, mtu: 1480 });
    const workload = route({ dst: '10.65.0.7', dev: 'cali1', src: '192.0.2.11', metric: 7 });
    const ops: RouteOp[] = [
      { kind: 'delete', route: route({ dst: '10.67.0.0/26', via: '192.0.2.13' }) },
      { kind: 'delete', route: workload },
      { kind: 'replace', route: blackhole, previous: undefined },
      { kind: 'replace', route: tunnel, previous: undefined },
      { kind: 'replace', route: workload, previous: undefined },
      { kind: 'replace', route: route({ dst: '10.78.0.0/26', dev: 'eth0', scope: 'global' }), previous: undefined },
    ];
    assert.equal(
      formatBatch(ops, 254),
      [
        'route del 10.67.0.0/26 proto 80',
        'route del 10.65.0.7/32 proto 80 metric 7',
        'route replace blackhole 10.65.0.0/26 proto 80',
        'route replace 10.66.0.0/26 via 192.0.2.12 dev tunl0 onlink mtu 1480 proto 80',
        'route replace 10.65.0.7/32 dev cali1 src 192.0.2.11 metric 7 proto 80',
        // Scopes are named only where they are not ip's default.
        'route replace 10.78.0.0/26 dev eth0 scope global proto 80',
        '',
      ].join('\n'),
    );
    assert.equal(formatBatch(ops.slice(2, 3), 100), 'route replace blackhole 10.65.0.0/26 proto 80 table 100\n');
  });

  it('reads the errors of ip -force -batch by line', () => {
    // As iproute2 6.1 prints them.
    const stderr = [
      'Cannot find device "nosuch"',
      'Command failed -:2',
      'Error: Nexthop has invalid gateway.',
      'Command failed -:4',
      'RTNETLINK answers: No such process',
      'Command failed -:5',
      '',
    ].join('\n');
    assert.deepEqual(
      parseBatchErrors(stderr),
      new Map([
        [2, 'Cannot find device "nosuch"'],
        [4, 'Error: Nexthop has invalid gateway.'],
        [5, 'RTNETLINK answers: No such process'],
      ]),
    );
  });

  it('reads ip -N -json route listings into the routes that were written', () => {
    // `ip -N -json -4 route show table main proto 80` (iproute2 6.1) after writing the routes below.
    const listing = JSON.stringify([
      { dst: 'default', gateway: '192.0.2.254', dev: 'd0', flags: [] },
      { dst: '10.65.0.2', dev: 'd0', scope: '253', prefsrc: '192.0.2.1', flags: [] },
      { type: '6', dst: '10.65.1.0/26', flags: [] },
      { dst: '10.66.0.0/26', gateway: '192.0.2.7', dev: 'd0', flags: ['onlink'], metrics: [{ mtu: 1440 }] },
      { dst: '10.68.0.0/26', gateway: '192.0.2.8', dev: 'd0', metric: 5, flags: [] },
      { type: '7', dst: '10.69.0.0/26', flags: [] },
      { dst: '10.78.0.0/26', dev: 'd0', flags: [] },
      {
        dst: '10.79.0.0/24',
        flags: [],
        nexthops: [
          { gateway: '192.0.2.5', dev: 'd0', weight: 1, flags: [] },
          { gateway: '192.0.2.6', dev: 'd0', weight: 1, flags: [] },
        ],
      },
    ]);
    const written: RouteSpec[] = [
      { dst: '0.0.0.0/0', via: '192.0.2.254', dev: 'd0' },
      { dst: '10.65.0.2', dev: 'd0', src: '192.0.2.1' },
      { dst: '10.65.1.0/26', type: 'blackhole' },
      { dst: '10.66.0.0/26', via: '192.0.2.7', dev: 'd0', onlink: true, mtu: 1440 },
      { dst: '10.68.0.0/26', via: '192.0.2.8', dev: 'd0', metric: 5 },
      { dst: '10.69.0.0/26', type: 'unreachable' },
      { dst: '10.78.0.0/26', dev: 'd0', scope: 'global' },
    ];
    const read = parseRouteListing(listing, OURS);
    assert.deepEqual(
      read.slice(0, -1),
      written.map((spec) => route(spec)),
    );
    const multipath = read.at(-1)!;
    assert.equal(multipath.dev, undefined);
    assert.equal(multipath.via, undefined);
    assert.equal(diffDestination(route({ dst: '10.79.0.0/24', via: '192.0.2.5' }), [multipath], owned).length, 1);
  });
});

/**
 * An in-memory kernel table with the semantics RouteTable relies on: replace overwrites (dst, metric) whoever owns
 * it, delete matches protocol and metric (0: any, lowest first), a route to an unknown device fails.
 */
class FakeKernel implements RouteBackend {
  routes: CanonicalRoute[] = [];
  devices = new Set(['eth0', 'cali1', 'cali2', 'cali3']);
  /** The text of each batch that was finished non-empty. */
  writes: string[] = [];
  lists = 0;
  failNextWrite = false;

  async list(_table: number, protocol: number): Promise<CanonicalRoute[]> {
    this.lists++;
    return this.routes.filter((r) => r.protocol === protocol);
  }

  startBatch(table: number): RouteBatch {
    const ops: RouteOp[] = [];
    return {
      add: (op) => ops.push(op),
      finish: async () => {
        if (ops.length === 0) return new Map();
        if (this.failNextWrite) {
          this.failNextWrite = false;
          throw new Error('ip died');
        }
        this.writes.push(formatBatch(ops, table));
        const failures = new Map<number, string>();
        ops.forEach((op, index) => {
          const error = this.run(op);
          if (error !== undefined) failures.set(index, error);
        });
        return failures;
      },
    };
  }

  private run(op: RouteOp): string | undefined {
    const { dst, metric, protocol, dev } = op.route;
    if (op.kind === 'replace') {
      if (dev !== undefined && !this.devices.has(dev)) return `Cannot find device "${dev}"`;
      this.routes = this.routes.filter((r) => !(r.dst === dst && r.metric === metric)).concat(op.route);
      return undefined;
    }
    const lowest = this.routes
      .filter((r) => r.dst === dst && r.protocol === protocol && (metric === 0 || r.metric === metric))
      .sort((a, b) => a.metric - b.metric)[0];
    this.routes = this.routes.filter((r) => r !== lowest);
    return undefined;
  }

  show(): string[] {
    return this.routes.map((r) => `${r.dst} ${r.type} ${r.dev ?? '-'} proto ${r.protocol}`).sort();
  }
}

describe('RouteTable (in-memory kernel)', () => {
  const workload = (n: number, dev = `cali${n}`): RouteSpec => ({ dst: `10.65.0.${n}`, dev });

  it('reads the kernel once, then writes only the difference', async () => {
    const kernel = new FakeKernel();
    kernel.routes.push(
      route({ dst: '10.65.0.9', dev: 'cali1' }),
      route({ dst: '203.0.113.0/24', dev: 'eth0' }, STATIC),
    );
    const table = new RouteTable({ protocol: OURS, backend: kernel });
    table.setDesired([workload(1), workload(2), { dst: '10.65.0.0/26', type: 'blackhole' }]);
    const first = await table.apply();
    assert.deepEqual([first.added, first.replaced, first.deleted, first.failed], [3, 0, 1, []]);
    assert.equal(kernel.lists, 1);
    assert.deepEqual(kernel.show(), [
      '10.65.0.0/26 blackhole - proto 80',
      '10.65.0.1/32 unicast cali1 proto 80',
      '10.65.0.2/32 unicast cali2 proto 80',
      '203.0.113.0/24 unicast eth0 proto 4',
    ]);

    // The same set again (spelled differently): nothing to write.
    table.setDesired([
      { dst: '10.65.0.1/32', dev: 'cali1', scope: 'link' },
      workload(2),
      { dst: '10.65.0.0/26', type: 'blackhole' },
    ]);
    const writes = kernel.writes.length;
    assert.deepEqual((await table.apply()).failed, []);
    assert.equal(kernel.writes.length, writes);

    table.set(workload(2, 'cali3'));
    table.delete('10.65.0.1');
    const second = await table.apply();
    assert.deepEqual([second.added, second.replaced, second.deleted], [0, 1, 1]);
    assert.equal(
      kernel.writes.at(-1),
      'route replace 10.65.0.2/32 dev cali3 proto 80\nroute del 10.65.0.1/32 proto 80\n',
    );
    assert.equal(kernel.lists, 1);
  });

  it('retries a route whose device is missing until the device appears; the rest applies', async () => {
    const kernel = new FakeKernel();
    const table = new RouteTable({ protocol: OURS, backend: kernel });
    table.setDesired([workload(1), workload(7)]);
    const first = await table.apply();
    assert.equal(first.added, 1);
    assert.deepEqual(first.failed, [{ dst: '10.65.0.7/32', error: 'Cannot find device "cali7"' }]);
    assert.equal((await table.apply()).failed.length, 1);
    kernel.devices.add('cali7');
    const third = await table.apply();
    assert.deepEqual([third.added, third.failed], [1, []]);
    assert.equal(kernel.writes.at(-1), 'route replace 10.65.0.7/32 dev cali7 proto 80\n');
  });

  it('repairs drift after a resync, and after a device came back', async () => {
    const kernel = new FakeKernel();
    const table = new RouteTable({ protocol: OURS, backend: kernel });
    table.setDesired([workload(1), workload(2)]);
    await table.apply();
    kernel.routes = kernel.routes.filter((r) => r.dst !== '10.65.0.1/32');
    kernel.routes.push(route({ dst: '10.65.0.99', dev: 'cali3' }));
    assert.equal((await table.apply()).added, 0, 'without a resync the table trusts what it wrote');
    await table.resync();
    const repaired = await table.apply();
    assert.deepEqual([repaired.added, repaired.deleted], [1, 1]);
    assert.deepEqual(kernel.show(), ['10.65.0.1/32 unicast cali1 proto 80', '10.65.0.2/32 unicast cali2 proto 80']);

    kernel.routes = kernel.routes.filter((r) => r.dev !== 'cali2'); // cali2 went down
    table.deviceChanged('cali2');
    assert.equal((await table.apply()).added, 1);
    assert.equal(kernel.routes.length, 2);
  });

  it('re-reads the kernel after a write whose outcome is unknown', async () => {
    const kernel = new FakeKernel();
    const table = new RouteTable({ protocol: OURS, backend: kernel });
    table.setDesired([workload(1)]);
    kernel.failNextWrite = true;
    await assert.rejects(table.apply(), /ip died/);
    assert.equal((await table.apply()).added, 1);
    assert.equal(kernel.lists, 2);
  });

  it('owns adopted protocols too, and writes its own', async () => {
    const kernel = new FakeKernel();
    kernel.routes.push(route({ dst: '10.65.0.1', dev: 'cali1' }, 3), route({ dst: '10.65.0.2', dev: 'cali2' }, 3));
    const table = new RouteTable({ protocol: OURS, adoptProtocols: [3], backend: kernel });
    table.setDesired([workload(1)]);
    const result = await table.apply();
    assert.deepEqual([result.replaced, result.deleted], [1, 1]);
    assert.deepEqual(kernel.show(), ['10.65.0.1/32 unicast cali1 proto 80']);
  });

  it('refuses a bad protocol or table', () => {
    assert.throws(() => new RouteTable({ protocol: 300 }), /bad route protocol 300/);
    assert.throws(() => new RouteTable({ protocol: OURS, adoptProtocols: [-1] }), /bad route protocol -1/);
    assert.throws(() => new RouteTable({ protocol: OURS, table: 0 }), /bad route table 0/);
  });
});
