// tabby-node's CalicoNodeStatus reports without root: the mapping from the speaker's and felix's status to
// Calico's CalicoNodeStatus, when a write is due, and the reporter against the in-memory datastore (creating the
// node's own object, writing changes at once and refreshing on the period, surviving an outage and a conflict).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SpeakerRoute } from '../../bgp';
import { kindByAlias, MemoryBackend, type Resource, ResourceClient, Syncer } from '../../datastore';
import { FELIX_KINDS } from '../../felix/calc/inputs';
import { type BgpSpeakerInfo, NODE_BGP_KINDS, type NodePeerStatus } from '../../node/bgp';
import {
  type CalicoNodeStatusResource,
  NodeStatusReporter,
  type NodeStatusSources,
  reportDue,
  reportedStatus,
} from '../../node/status-report';

const CNS = kindByAlias('caliconodestatus')!;

const peer = (address: string, type: string, state: string, since = '2025-01-02T03:04:05.000Z'): NodePeerStatus => ({
  address,
  asNumber: 64512,
  type,
  state,
  since,
  info: '',
  prefixesReceived: 0,
  prefixesAccepted: 0,
  prefixesAdvertised: 0,
});

const SPEAKER: BgpSpeakerInfo = {
  routerId: '192.0.2.11',
  startedAt: new Date('2025-01-02T03:00:00Z'),
  reconfiguredAt: new Date('2025-01-02T03:01:00Z'),
};

/** Sources whose values a test changes; routes() fails unless routes were given, so a walk nobody asked for shows. */
function sources(init: Partial<{ speaker: BgpSpeakerInfo; peers: NodePeerStatus[]; routes: SpeakerRoute[] }> = {}) {
  const state = {
    speaker: init.speaker as BgpSpeakerInfo | undefined,
    peers: init.peers ?? [],
    routes: init.routes,
    /** How often the RIB was walked. */
    walks: 0,
    felix: { inSync: true, endpoints: 3, policies: 2, lastApplyAt: Date.parse('2025-01-02T03:04:06Z') } as
      | { inSync: boolean; endpoints: number; policies: number; lastApplyAt: number }
      | undefined,
  };
  const view: NodeStatusSources = {
    speaker: () => state.speaker,
    peers: () => state.peers,
    routes: () => {
      if (!state.routes) throw new Error('routes() called without the Routes class');
      state.walks++;
      return state.routes;
    },
    felix: () => state.felix,
  };
  return { state, view };
}

describe('CalicoNodeStatus from the node', () => {
  it("maps the speaker's sessions to Calico's peers, types and counts, and felix as tabby's extension", () => {
    const { view } = sources({
      speaker: SPEAKER,
      peers: [
        peer('192.0.2.12', 'node-to-node mesh', 'Established'),
        peer('192.0.2.1', 'global', 'Active'),
        peer('192.0.2.13', 'node specific', 'OpenSent'),
        peer('2001:db8::1', 'global', 'Established'),
      ],
    });
    assert.deepEqual(reportedStatus(['Agent', 'BGP'], view), {
      agent: {
        birdV4: {
          state: 'Ready',
          routerID: '192.0.2.11',
          lastBootTime: '2025-01-02T03:00:00.000Z',
          lastReconfigurationTime: '2025-01-02T03:01:00.000Z',
        },
        birdV6: { state: 'NotReady' },
        felix: { inSync: true, endpoints: 3, policies: 2, lastApplyAt: '2025-01-02T03:04:06.000Z' },
      },
      bgp: {
        numberEstablishedV4: 1,
        numberNotEstablishedV4: 2,
        numberEstablishedV6: 1,
        numberNotEstablishedV6: 0,
        peersV4: [
          { peerIP: '192.0.2.12', type: 'NodeMesh', state: 'Established', since: '2025-01-02T03:04:05.000Z' },
          { peerIP: '192.0.2.1', type: 'GlobalPeer', state: 'Active', since: '2025-01-02T03:04:05.000Z' },
          { peerIP: '192.0.2.13', type: 'NodePeer', state: 'OpenSent', since: '2025-01-02T03:04:05.000Z' },
        ],
        peersV6: [
          { peerIP: '2001:db8::1', type: 'GlobalPeer', state: 'Established', since: '2025-01-02T03:04:05.000Z' },
        ],
      },
      routes: {},
    });
  });

  it("reports classes nobody asked for as Go's zero values, and a node without a speaker as NotReady", () => {
    const { view, state } = sources({ peers: [peer('192.0.2.12', 'node-to-node mesh', 'Established')] });
    const zeroBgp = {
      numberEstablishedV4: 0,
      numberNotEstablishedV4: 0,
      numberEstablishedV6: 0,
      numberNotEstablishedV6: 0,
    };
    assert.deepEqual(reportedStatus([], view), { agent: { birdV4: {}, birdV6: {} }, bgp: zeroBgp, routes: {} });
    state.peers = [];
    state.felix = undefined;
    assert.deepEqual(reportedStatus(['Agent', 'BGP'], view), {
      agent: { birdV4: { state: 'NotReady' }, birdV6: { state: 'NotReady' } },
      bgp: zeroBgp,
      routes: {},
    });
  });

  it('lists routes as BIRD does: the best path in the FIB, learned from the mesh or a peer, originated as static', () => {
    const { view } = sources({
      peers: [peer('192.0.2.12', 'node-to-node mesh', 'Established'), peer('192.0.2.1', 'global', 'Established')],
      routes: [
        { prefix: '10.48.0.0/26', best: true, nextHop: undefined, peer: undefined },
        { prefix: '10.48.1.0/26', best: true, nextHop: '192.0.2.12', peer: '192.0.2.12' },
        { prefix: '10.48.1.0/26', best: false, nextHop: '192.0.2.12', peer: '192.0.2.1' },
      ],
    });
    assert.deepEqual(reportedStatus(['Routes'], view).routes, {
      routesV4: [
        { type: 'FIB', destination: '10.48.0.0/26', gateway: 'N/A', learnedFrom: { sourceType: 'Static' } },
        {
          type: 'FIB',
          destination: '10.48.1.0/26',
          gateway: '192.0.2.12',
          learnedFrom: { sourceType: 'NodeMesh', peerIP: '192.0.2.12' },
        },
        {
          type: 'RIB',
          destination: '10.48.1.0/26',
          gateway: '192.0.2.12',
          learnedFrom: { sourceType: 'BGPPeer', peerIP: '192.0.2.1' },
        },
      ],
    });
  });

  it('is due when what it reports changed or the period is up; with period 0 once per spec', () => {
    const status = reportedStatus(['BGP'], sources().view);
    const object = (updatePeriodSeconds: number, reported = status): CalicoNodeStatusResource => ({
      apiVersion: CNS.apiVersion,
      kind: CNS.kind,
      metadata: { name: 'n1' },
      spec: { node: 'n1', classes: ['BGP'], updatePeriodSeconds },
      status: { lastUpdated: '2025-01-02T03:00:00.000Z', ...reported },
    });
    const at = (seconds: number) => new Date(Date.parse('2025-01-02T03:00:00Z') + seconds * 1000);
    const changed = reportedStatus(['BGP'], sources({ peers: [peer('192.0.2.1', 'global', 'Idle')] }).view);
    assert.equal(reportDue(object(10), status, at(9.9), true), false);
    assert.equal(reportDue(object(10), status, at(10), true), true);
    assert.equal(reportDue(object(10), changed, at(1), true), true);
    assert.equal(reportDue({ ...object(10), status: undefined }, status, at(1), false), true);
    assert.equal(reportDue(object(0), changed, at(1), false), true);
    assert.equal(reportDue(object(0), changed, at(1), true), false);
    assert.equal(reportDue(object(0), status, at(100_000), false), false);
  });
});

describe('NodeStatusReporter', () => {
  const settle = () => new Promise((r) => setTimeout(r, 20));
  const clock = (start = Date.parse('2025-01-02T03:00:00Z')) => {
    let now = start;
    return {
      now: () => new Date(now),
      advance: (seconds: number) => {
        now += seconds * 1000;
      },
    };
  };
  const read = async (backend: MemoryBackend, name: string) =>
    (await backend.get(CNS, name)) as CalicoNodeStatusResource;

  /** A reporter for node n1 over a fresh store, with a log and a clock the test drives. */
  async function reporterFor(
    backend = new MemoryBackend(),
    init: Parameters<typeof sources>[0] = {},
    ownPeriodSeconds = 10,
  ) {
    const { state, view } = sources({ speaker: SPEAKER, ...init });
    const log: string[] = [];
    const time = clock();
    const reporter = new NodeStatusReporter(backend, 'n1', view, (l) => log.push(l), ownPeriodSeconds, time.now);
    reporter.start();
    await settle();
    return { backend, reporter, state, log, time };
  }

  it('creates the node its own CalicoNodeStatus when it has none, and reports into it', async () => {
    const { backend, reporter } = await reporterFor(undefined, {
      peers: [peer('192.0.2.1', 'global', 'Established')],
    });
    try {
      await reporter.tick();
      const own = await read(backend, 'n1');
      assert.deepEqual(own.spec, { node: 'n1', classes: ['Agent', 'BGP'], updatePeriodSeconds: 10 });
      assert.equal(own.status?.lastUpdated, '2025-01-02T03:00:00.000Z');
      assert.equal(own.status?.bgp?.numberEstablishedV4, 1);
      assert.equal(own.status?.agent?.birdV4?.state, 'Ready');
    } finally {
      reporter.stop();
    }
  });

  it('walks the RIB for a new spec and when the refresh is due, not on every tick', async () => {
    const backend = new MemoryBackend();
    await new ResourceClient(backend).create({
      apiVersion: CNS.apiVersion,
      kind: CNS.kind,
      metadata: { name: 'routes-n1' },
      spec: { node: 'n1', classes: ['BGP', 'Routes'], updatePeriodSeconds: 30 },
    });
    const route = { prefix: '10.48.0.0/26', best: true, nextHop: undefined, peer: undefined };
    const { reporter, state, time } = await reporterFor(backend, { routes: [route] });
    try {
      await reporter.tick();
      assert.equal(state.walks, 1, 'the first report of the spec');
      for (let second = 0; second < 5; second++) {
        time.advance(1);
        await reporter.tick();
      }
      assert.equal(state.walks, 1, 'not again within the period');
      time.advance(30);
      await reporter.tick();
      assert.equal(state.walks, 2, 'again when the refresh is due');
    } finally {
      reporter.stop();
    }
  });

  it('creates none of its own with TABBY_NODE_STATUS_PERIOD=0 (as Calico: only what users create)', async () => {
    const { backend, reporter } = await reporterFor(undefined, {}, 0);
    try {
      await reporter.tick();
      assert.deepEqual((await backend.list(CNS)).items, []);
    } finally {
      reporter.stop();
    }
  });

  it('reports into the objects asked for this node, none other, and creates none of its own then', async () => {
    const backend = new MemoryBackend();
    const client = new ResourceClient(backend);
    const ask = (name: string, node: string) =>
      client.create({
        apiVersion: CNS.apiVersion,
        kind: CNS.kind,
        metadata: { name },
        spec: { node, classes: ['Agent'], updatePeriodSeconds: 30 },
      });
    await ask('watch-n1', 'n1');
    const other = await ask('watch-n2', 'n2');
    const { reporter } = await reporterFor(backend);
    try {
      await reporter.tick();
      assert.equal((await read(backend, 'watch-n1')).status?.agent?.birdV4?.routerID, '192.0.2.11');
      assert.deepEqual(await backend.get(CNS, 'watch-n2'), other);
      assert.deepEqual(
        (await backend.list(CNS)).items.map((r) => r.metadata.name),
        ['watch-n1', 'watch-n2'],
      );
    } finally {
      reporter.stop();
    }
  });

  it('writes a session going down on the next tick, and otherwise only lastUpdated once per period', async () => {
    const { backend, reporter, state, time } = await reporterFor(undefined, {
      peers: [peer('192.0.2.1', 'global', 'Established')],
    });
    try {
      await reporter.tick();
      const first = await read(backend, 'n1');
      time.advance(5);
      await reporter.tick();
      assert.equal((await read(backend, 'n1')).metadata.resourceVersion, first.metadata.resourceVersion, 'unchanged');

      state.peers = [peer('192.0.2.1', 'global', 'Active', '2025-01-02T03:00:05.000Z')];
      time.advance(1);
      await reporter.tick();
      const down = await read(backend, 'n1');
      assert.equal(down.status?.bgp?.peersV4?.[0]?.state, 'Active');
      assert.equal(down.status?.bgp?.numberNotEstablishedV4, 1);
      assert.equal(down.status?.lastUpdated, '2025-01-02T03:00:06.000Z');

      time.advance(9);
      await reporter.tick();
      assert.equal((await read(backend, 'n1')).metadata.resourceVersion, down.metadata.resourceVersion);
      time.advance(1);
      await reporter.tick();
      const refreshed = await read(backend, 'n1');
      assert.equal(refreshed.status?.lastUpdated, '2025-01-02T03:00:16.000Z');
      assert.deepEqual({ ...refreshed.status, lastUpdated: '' }, { ...down.status, lastUpdated: '' });
    } finally {
      reporter.stop();
    }
  });

  it('with updatePeriodSeconds 0 reports once per spec, as Calico', async () => {
    const backend = new MemoryBackend();
    const client = new ResourceClient(backend);
    await client.create({
      apiVersion: CNS.apiVersion,
      kind: CNS.kind,
      metadata: { name: 'once' },
      spec: { node: 'n1', classes: ['BGP'], updatePeriodSeconds: 0 },
    });
    const { reporter, state, time } = await reporterFor(backend);
    try {
      await reporter.tick();
      const first = await read(backend, 'once');
      assert.equal(first.status?.bgp?.numberEstablishedV4, 0);
      state.peers = [peer('192.0.2.1', 'global', 'Established')];
      time.advance(60);
      await reporter.tick();
      assert.equal((await read(backend, 'once')).metadata.resourceVersion, first.metadata.resourceVersion);
      await client.replace({ ...first, spec: { ...first.spec, classes: ['Agent', 'BGP'] } } as Resource);
      await settle();
      await reporter.tick();
      assert.equal((await read(backend, 'once')).status?.bgp?.numberEstablishedV4, 1);
    } finally {
      reporter.stop();
    }
  });

  it('survives the datastore going away and a spec changed under it, logging once and writing when it can', async () => {
    const { backend, reporter, state, log, time } = await reporterFor();
    try {
      await reporter.tick();
      backend.setDown(true);
      state.peers = [peer('192.0.2.1', 'global', 'Established')];
      for (let i = 0; i < 3; i++) {
        time.advance(1);
        await reporter.tick();
      }
      assert.deepEqual(
        log,
        ['node status: created CalicoNodeStatus n1', 'node status: in-memory datastore: unreachable; retrying'],
        'the outage logged once',
      );
      backend.setDown(false);
      await settle();
      time.advance(1);
      await reporter.tick();
      assert.equal((await read(backend, 'n1')).status?.bgp?.numberEstablishedV4, 1);

      // A user adds the Routes class while the reporter's watch is down (it relists after 100 ms): its next write,
      // from the version it holds, conflicts; once it has relisted it reports the new spec.
      const client = new ResourceClient(backend);
      const current = await read(backend, 'n1');
      backend.breakWatches();
      await client.replace({ ...current, spec: { ...current.spec, classes: ['Agent', 'BGP', 'Routes'] } } as Resource);
      state.routes = [{ prefix: '10.48.0.0/26', best: true, nextHop: undefined, peer: undefined }];
      state.peers = [];
      time.advance(1);
      await reporter.tick();
      assert.match(log.at(-1)!, /resourceVersion \d+ is stale/);
      await new Promise((r) => setTimeout(r, 200));
      time.advance(1);
      await reporter.tick();
      const reported = await read(backend, 'n1');
      assert.deepEqual(reported.spec?.classes, ['Agent', 'BGP', 'Routes']);
      assert.equal(reported.status?.routes?.routesV4?.[0]?.destination, '10.48.0.0/26');
    } finally {
      reporter.stop();
    }
  });

  it('wakes neither felix nor BGP: their syncers are not told of status writes', async () => {
    const backend = new MemoryBackend();
    const woken: string[] = [];
    const syncers = Object.entries({ felix: FELIX_KINDS, bgp: NODE_BGP_KINDS }).map(([who, kinds]) => {
      let snapshot = true;
      const syncer = new Syncer(
        backend,
        {
          onUpdates: (updates) => {
            if (!snapshot) woken.push(`${who}: ${updates.map((u) => u.object.kind).join(', ')}`);
            snapshot = false;
          },
        },
        { kinds: kinds.map((k) => kindByAlias(k)!) },
      );
      syncer.start();
      return syncer;
    });
    const { reporter, state, time } = await reporterFor(backend);
    try {
      await reporter.tick();
      state.peers = [peer('192.0.2.1', 'global', 'Established')];
      time.advance(1);
      await reporter.tick();
      await settle();
      assert.equal((await backend.list(CNS)).items.length, 1);
      assert.deepEqual(woken, []);
      // What they follow does wake them.
      await new ResourceClient(backend).create({
        apiVersion: CNS.apiVersion,
        kind: 'Node',
        metadata: { name: 'n2' },
        spec: { bgp: { ipv4Address: '192.0.2.12/24' } },
      });
      await settle();
      assert.deepEqual(woken, ['felix: Node', 'bgp: Node']);
    } finally {
      reporter.stop();
      for (const s of syncers) s.stop();
    }
  });
});
