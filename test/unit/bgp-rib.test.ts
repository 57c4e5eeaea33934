import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AsPathSegmentType, ipv4PrefixKey, Origin, type PathAttributes } from '../../bgp/packet/types';
import {
  AttrSet,
  comparePaths,
  exportAttributes,
  exportTarget,
  IPV4_UNICAST,
  Ipv4PrefixList,
  Ipv4PrefixTable,
  ipv4ToNumber,
  type LocalIdentity,
  NO_ADVERTISE,
  NO_EXPORT,
  Path,
  Peer,
  type PeerInfo,
  Rib,
} from '../../bgp/rib';

// Stands in for the codec: any injective encoding of the attributes will do for the RIB.
const textEncoder = new TextEncoder();
let encoderCalls = 0;
function encodeAttributes(attributes: PathAttributes, ctx: { fourOctetAs: boolean }): Uint8Array {
  encoderCalls++;
  return textEncoder.encode(JSON.stringify([ctx.fourOctetAs, attributes]));
}

function prefix(text: string) {
  const [address, length] = text.split('/');
  return ipv4PrefixKey(ipv4ToNumber(address), Number(length));
}

const LOCAL_AS = 64512;
const LOCAL: LocalIdentity = { asn: LOCAL_AS, routerId: '192.0.2.100' };
const REFLECTOR: LocalIdentity = { ...LOCAL, clusterId: '1.1.1.1' };

/** Peer n: address and router id 192.0.2.n; eBGP in AS 65000+n unless ibgp. */
function peerInfo(id: number, options: Partial<PeerInfo> = {}): PeerInfo {
  const ibgp = options.ibgp ?? false;
  return {
    id,
    address: `192.0.2.${id}`,
    asn: ibgp ? LOCAL_AS : 65000 + id,
    routerId: `192.0.2.${id}`,
    ibgp,
    routeReflectorClient: false,
    nextHopSelf: false,
    localAddress: '192.0.2.100',
    ...options,
  };
}

function newRib(local: LocalIdentity = LOCAL): Rib<number> {
  return new Rib({ local, family: IPV4_UNICAST, encodeAttributes, recordBestPathChanges: true });
}

function announce(rib: Rib<number>, peerId: number, attributes: PathAttributes, prefixes: number[]): void {
  rib.update(peerId, rib.attrSets.intern(encodeAttributes(attributes, { fourOctetAs: true }), attributes), prefixes);
}

/** Attributes as an eBGP neighbour in AS `asn` sends them. */
function fromAs(asn: number, extra: PathAttributes = {}): PathAttributes {
  return {
    origin: Origin.Igp,
    asPath: [{ type: AsPathSegmentType.AsSequence, asns: [asn] }],
    nextHop: '203.0.113.1',
    ...extra,
  };
}

/** A Path built directly, for the decision process and the export policy. */
function path(info: PeerInfo, attributes: PathAttributes): Path {
  return new Path(new Peer(info), new AttrSet(new Uint8Array(), attributes, true, 0));
}

const localPeer = Peer.local(LOCAL).info;
const seq = (...asns: number[]) => ({ type: AsPathSegmentType.AsSequence, asns });

describe('Ipv4PrefixTable', () => {
  it('agrees with a Map through inserts, overwrites, deletes and growth/shrink', () => {
    const table = new Ipv4PrefixTable();
    const reference = new Map<number, number>();
    let seed = 1;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed;
    };
    for (let step = 0; step < 200_000; step++) {
      const key = ipv4PrefixKey((random() & 0xfff) << 20, 8 + (random() % 25));
      if (random() % 3 === 0) {
        assert.equal(table.delete(key), reference.get(key));
        reference.delete(key);
      } else {
        assert.equal(table.set(key, step), reference.get(key));
        reference.set(key, step);
      }
      if (step % 50_000 === 0) assert.equal(table.size, reference.size);
    }
    assert.equal(table.size, reference.size);
    for (const [key, value] of reference) assert.equal(table.get(key), value);
    let visited = 0;
    table.forEach((value, key) => {
      assert.equal(reference.get(key), value);
      visited++;
    });
    assert.equal(visited, reference.size);
    for (const key of reference.keys()) table.delete(key);
    assert.equal(table.size, 0);
    assert.equal(table.get(prefix('10.0.0.0/8')), undefined);
  });
});

describe('decision process: one case per tie-breaker', () => {
  const ebgp = (id: number, options: Partial<PeerInfo> = {}) => peerInfo(id, options);
  const ibgp = (id: number, options: Partial<PeerInfo> = {}) => peerInfo(id, { ibgp: true, ...options });
  const base: PathAttributes = { origin: Origin.Igp, asPath: [seq(65001)], nextHop: '203.0.113.1' };
  const cases: { name: string; better: Path; worse: Path }[] = [
    {
      name: 'higher LOCAL_PREF',
      better: path(ibgp(2), { ...base, localPref: 200 }),
      worse: path(ibgp(1), { ...base, localPref: 150 }),
    },
    {
      name: 'missing LOCAL_PREF counts as 100',
      better: path(ibgp(2), base),
      worse: path(ibgp(1), { ...base, localPref: 99 }),
    },
    {
      name: 'LOCAL_PREF from an eBGP peer is ignored (100)',
      better: path(ibgp(2), { ...base, localPref: 101 }),
      worse: path(ebgp(1), { ...base, localPref: 500 }),
    },
    {
      name: 'locally originated',
      better: path(localPeer, { origin: Origin.Incomplete, asPath: [] }),
      worse: path(ibgp(1), { origin: Origin.Igp, asPath: [], nextHop: '192.0.2.1' }),
    },
    {
      name: 'shorter AS_PATH',
      better: path(ebgp(2), { ...base, asPath: [seq(65002, 65010)] }),
      worse: path(ebgp(1), { ...base, asPath: [seq(65001, 65010, 65020)] }),
    },
    {
      name: 'an AS_SET counts as one AS',
      better: path(ebgp(2), {
        ...base,
        asPath: [seq(65002, 65010), { type: AsPathSegmentType.AsSet, asns: [1, 2, 3] }],
      }),
      worse: path(ebgp(1), { ...base, asPath: [seq(65001, 65010, 65020, 65030)] }),
    },
    {
      name: 'confederation segments do not count',
      better: path(ibgp(2), {
        ...base,
        asPath: [{ type: AsPathSegmentType.ConfedSequence, asns: [1, 2, 3] }, seq(65001)],
      }),
      worse: path(ibgp(1), { ...base, asPath: [seq(65001, 65010)] }),
    },
    {
      name: 'lower ORIGIN',
      better: path(ebgp(2), { ...base, asPath: [seq(65002)], origin: Origin.Egp }),
      worse: path(ebgp(1), { ...base, asPath: [seq(65001)], origin: Origin.Incomplete }),
    },
    {
      name: 'lower MED from the same neighbour AS',
      better: path(ebgp(2, { asn: 65001 }), { ...base, med: 10 }),
      worse: path(ebgp(1, { asn: 65001 }), { ...base, med: 20 }),
    },
    {
      name: 'missing MED counts as 0',
      better: path(ebgp(2, { asn: 65001 }), base),
      worse: path(ebgp(1, { asn: 65001 }), { ...base, med: 1 }),
    },
    {
      name: 'MED not compared across neighbour ASes (router id decides)',
      better: path(ebgp(1), { ...base, asPath: [seq(65001)], med: 500 }),
      worse: path(ebgp(2), { ...base, asPath: [seq(65002)], med: 10 }),
    },
    {
      name: 'eBGP over iBGP',
      better: path(ebgp(2), base),
      worse: path(ibgp(1), base),
    },
    {
      name: 'lower router id',
      better: path(ebgp(2, { routerId: '10.0.0.1' }), { ...base, asPath: [seq(65002)] }),
      worse: path(ebgp(1, { routerId: '10.0.0.2' }), { ...base, asPath: [seq(65001)] }),
    },
    {
      name: 'ORIGINATOR_ID stands for the router id (RFC 4456)',
      better: path(ibgp(1, { routerId: '10.0.0.9' }), { ...base, originatorId: '10.0.0.3' }),
      worse: path(ibgp(2, { routerId: '10.0.0.5' }), base),
    },
    {
      name: 'shorter CLUSTER_LIST',
      better: path(ibgp(2), { ...base, originatorId: '10.0.0.3', clusterList: ['1.1.1.1'] }),
      worse: path(ibgp(1), { ...base, originatorId: '10.0.0.3', clusterList: ['2.2.2.2', '1.1.1.1'] }),
    },
    {
      name: 'lower peer address',
      better: path(ibgp(1, { routerId: '10.0.0.1' }), base),
      worse: path(ibgp(2, { routerId: '10.0.0.1' }), base),
    },
  ];
  for (const { name, better, worse } of cases) {
    it(name, () => {
      assert.ok(comparePaths(better, worse) < 0, 'better < worse');
      assert.ok(comparePaths(worse, better) > 0, 'worse > better');
    });
  }
});

describe('Loc-RIB', () => {
  it('withdrawing the best path selects the next best, and the changes are queued', () => {
    const rib = newRib();
    for (const id of [1, 2, 3]) rib.addPeer(peerInfo(id));
    const p = prefix('10.1.0.0/16');
    announce(rib, 1, fromAs(65001, { asPath: [seq(65001, 1, 2)] }), [p]);
    announce(rib, 2, fromAs(65002), [p]);
    announce(rib, 3, fromAs(65003, { asPath: [seq(65003, 1)] }), [p]);
    assert.equal(rib.locRib.best(p)?.peer.info.id, 2);
    assert.deepEqual(
      rib.locRib.candidates(p).map((c) => c.peer.info.id),
      [2, 1, 3],
    );
    assert.deepEqual(rib.counters, { prefixes: 1, paths: 3, attrSets: 3 });

    rib.withdraw(2, [p]);
    assert.equal(rib.locRib.best(p)?.peer.info.id, 3);
    rib.withdraw(3, [p]);
    assert.equal(rib.locRib.best(p)?.peer.info.id, 1);
    rib.withdraw(1, [p]);
    assert.equal(rib.locRib.best(p), undefined);
    assert.deepEqual(rib.counters, { prefixes: 0, paths: 0, attrSets: 0 });

    const changes: [number, number | undefined][] = [];
    rib.takeBestPathChanges().forEach((changed, best) => {
      changes.push([changed, best?.peer.info.id]);
    });
    assert.deepEqual(changes, [
      [p, 1],
      [p, 2],
      [p, 3],
      [p, 1],
      [p, undefined],
    ]);
    assert.equal(rib.takeBestPathChanges().length, 0);
  });

  it('a better announcement from the same peer replaces its path; a worse one lets another win', () => {
    const rib = newRib();
    rib.addPeer(peerInfo(1));
    rib.addPeer(peerInfo(2));
    const p = prefix('10.2.0.0/16');
    announce(rib, 1, fromAs(65001), [p]);
    announce(rib, 2, fromAs(65002, { asPath: [seq(65002, 7)] }), [p]);
    assert.equal(rib.locRib.best(p)?.peer.info.id, 1);
    announce(rib, 1, fromAs(65001, { asPath: [seq(65001, 7, 8)] }), [p]);
    assert.equal(rib.locRib.best(p)?.peer.info.id, 2);
    assert.equal(rib.counters.paths, 2);
    assert.deepEqual(rib.peerCounters(1), { received: 1, accepted: 1, advertised: 0 });
  });

  it('locally originated prefixes win over learned ones and are withdrawn on their own', () => {
    const rib = newRib();
    rib.addPeer(peerInfo(1, { ibgp: true }));
    const block = prefix('10.65.0.0/26');
    announce(rib, 1, { origin: Origin.Igp, asPath: [], nextHop: '192.0.2.1', localPref: 100 }, [block]);
    rib.originate([block]);
    assert.equal(rib.locRib.best(block)?.peer.local, true);
    rib.withdrawOriginated([block]);
    assert.equal(rib.locRib.best(block)?.peer.info.id, 1);
  });
});

describe('attribute-set interning', () => {
  it('1,000,000 prefixes with one attribute set hold one AttrSet and one Path; withdrawing drops them', () => {
    const rib = newRib();
    rib.addPeer(peerInfo(1));
    const attributes = fromAs(65001);
    const all: number[] = [];
    for (let i = 0; i < 1_000_000; i += 1000) {
      const chunk: number[] = [];
      for (let j = i; j < i + 1000; j++) chunk.push(ipv4PrefixKey(0x0a000000 + j * 256, 24));
      announce(rib, 1, attributes, chunk);
      all.push(...chunk);
    }
    assert.deepEqual(rib.counters, { prefixes: 1_000_000, paths: 1_000_000, attrSets: 1 });
    const first = rib.locRib.best(all[0]);
    assert.ok(first);
    assert.equal(first.refs, 1_000_000);
    assert.equal(first.attrs.refs, 1);
    assert.equal(rib.locRib.best(all[999_999]), first);
    assert.deepEqual(rib.peerCounters(1), { received: 1_000_000, accepted: 1_000_000, advertised: 0 });

    rib.withdraw(1, all.slice(0, 500_000));
    assert.equal(first.refs, 500_000);
    assert.equal(rib.counters.attrSets, 1);
    rib.withdraw(1, all.slice(500_000));
    assert.deepEqual(rib.counters, { prefixes: 0, paths: 0, attrSets: 0 });
    assert.equal(first.attrs.refs, 0);
  });

  it('equal bytes share one set across peers; a set replaced on every prefix is dropped', () => {
    const rib = newRib();
    rib.addPeer(peerInfo(1));
    rib.addPeer(peerInfo(2));
    const shared = fromAs(65000);
    announce(rib, 1, shared, [prefix('10.0.0.0/24')]);
    announce(rib, 2, shared, [prefix('10.0.1.0/24')]);
    assert.equal(rib.counters.attrSets, 1);
    const a = rib.locRib.best(prefix('10.0.0.0/24'));
    const b = rib.locRib.best(prefix('10.0.1.0/24'));
    assert.equal(a?.attrs, b?.attrs);
    assert.notEqual(a, b, 'one Path per (peer, set)');
    announce(rib, 1, fromAs(65000, { med: 5 }), [prefix('10.0.0.0/24')]);
    assert.equal(rib.counters.attrSets, 2);
    rib.withdraw(2, [prefix('10.0.1.0/24')]);
    assert.equal(rib.counters.attrSets, 1);
  });

  it('an announcement that changes nothing leaves no set behind', () => {
    const rib = newRib();
    rib.addPeer(peerInfo(1));
    announce(rib, 1, fromAs(65001), []);
    assert.equal(rib.counters.attrSets, 0);
  });
});

describe('inbound loop checks', () => {
  const cases: { name: string; local: LocalIdentity; peer: Partial<PeerInfo>; attributes: PathAttributes }[] = [
    {
      name: 'our AS in AS_PATH',
      local: LOCAL,
      peer: {},
      attributes: fromAs(65001, { asPath: [seq(65001, LOCAL_AS, 7)] }),
    },
    {
      name: 'our AS in an AS_SET',
      local: LOCAL,
      peer: {},
      attributes: fromAs(65001, { asPath: [seq(65001), { type: AsPathSegmentType.AsSet, asns: [LOCAL_AS] }] }),
    },
    {
      name: 'ORIGINATOR_ID is our router id',
      local: LOCAL,
      peer: { ibgp: true },
      attributes: { origin: Origin.Igp, asPath: [], nextHop: '192.0.2.1', originatorId: LOCAL.routerId },
    },
    {
      name: 'our cluster id in CLUSTER_LIST (route reflector)',
      local: REFLECTOR,
      peer: { ibgp: true },
      attributes: { origin: Origin.Igp, asPath: [], nextHop: '192.0.2.1', clusterList: ['9.9.9.9', '1.1.1.1'] },
    },
  ];
  for (const { name, local, peer, attributes } of cases) {
    it(`drops: ${name} (received, not accepted)`, () => {
      const rib = newRib(local);
      rib.addPeer(peerInfo(1, peer));
      const p = prefix('10.3.0.0/16');
      announce(rib, 1, attributes, [p]);
      assert.equal(rib.locRib.best(p), undefined);
      assert.deepEqual(rib.peerCounters(1), { received: 1, accepted: 0, advertised: 0 });
      rib.withdraw(1, [p]);
      assert.deepEqual(rib.peerCounters(1), { received: 0, accepted: 0, advertised: 0 });
      assert.equal(rib.counters.attrSets, 0);
    });
  }

  it('a CLUSTER_LIST is not checked when we are not a route reflector', () => {
    const rib = newRib(LOCAL);
    rib.addPeer(peerInfo(1, { ibgp: true }));
    const p = prefix('10.3.0.0/16');
    announce(rib, 1, { origin: Origin.Igp, asPath: [], nextHop: '192.0.2.1', clusterList: ['1.1.1.1'] }, [p]);
    assert.equal(rib.peerCounters(1).accepted, 1);
  });

  it('a looping re-announcement withdraws the accepted route it replaces', () => {
    const rib = newRib();
    rib.addPeer(peerInfo(1));
    const p = prefix('10.4.0.0/16');
    announce(rib, 1, fromAs(65001), [p]);
    assert.ok(rib.locRib.best(p));
    announce(rib, 1, fromAs(65001, { asPath: [seq(65001, LOCAL_AS)] }), [p]);
    assert.equal(rib.locRib.best(p), undefined);
    assert.deepEqual(rib.peerCounters(1), { received: 1, accepted: 0, advertised: 0 });
    assert.deepEqual(rib.counters, { prefixes: 0, paths: 0, attrSets: 1 });
  });
});

describe('graceful restart', () => {
  it('keeps a restarting peer’s routes as stale; re-announced ones stay, the rest are swept', () => {
    const rib = newRib();
    rib.addPeer(peerInfo(1));
    rib.addPeer(peerInfo(2));
    rib.peerUp(2, { fourOctetAs: true });
    const [a, b, c] = ['10.5.1.0/24', '10.5.2.0/24', '10.5.3.0/24'].map(prefix);
    rib.peerUp(1, { fourOctetAs: true });
    announce(rib, 1, fromAs(65001), [a, b, c]);
    rib.drainOutbound(2);
    assert.equal(rib.peerCounters(2).advertised, 3);

    rib.peerDown(1, { gracefulRestart: true });
    assert.equal(rib.counters.prefixes, 3, 'routes kept through the restart');
    assert.equal(rib.locRib.best(a)?.stale, true);
    assert.equal(rib.pendingOutbound(2), 0, 'nothing to tell other peers yet');

    rib.peerUp(1, { fourOctetAs: true });
    announce(rib, 1, fromAs(65001), [a]);
    announce(rib, 1, fromAs(65001, { med: 7 }), [b]);
    assert.equal(rib.locRib.best(a)?.stale, false);
    assert.equal(rib.locRib.best(b)?.stale, false);
    assert.equal(rib.locRib.best(c)?.stale, true);

    assert.equal(rib.sweepStale(1), 1);
    assert.equal(rib.sweepStale(1), 0);
    assert.equal(rib.locRib.best(c), undefined);
    assert.deepEqual(rib.peerCounters(1), { received: 2, accepted: 2, advertised: 0 });
    // Peer 2 is told only of c's withdrawal: a and b leave with the same attributes as before (MED is not
    // passed to eBGP), so they are not sent again.
    assert.deepEqual(rib.drainOutbound(2), { withdrawn: [c], announced: [] });
    assert.equal(rib.peerCounters(2).advertised, 2);
    assert.equal(rib.counters.attrSets, 3, 'two inbound sets and the one outbound set');
  });

  it('dropping a peer removes only its routes; the others take over', () => {
    const rib = newRib();
    rib.addPeer(peerInfo(1));
    rib.addPeer(peerInfo(2));
    const [shared, own] = ['10.14.1.0/24', '10.14.2.0/24'].map(prefix);
    announce(rib, 1, fromAs(65001), [shared, own]);
    announce(rib, 2, fromAs(65002, { asPath: [seq(65002, 1)] }), [shared]);
    announce(rib, 1, fromAs(65001, { asPath: [seq(65001, LOCAL_AS)] }), [prefix('10.14.3.0/24')]);
    assert.deepEqual(rib.peerCounters(1), { received: 3, accepted: 2, advertised: 0 });
    rib.dropPeer(1);
    assert.equal(rib.locRib.best(shared)?.peer.info.id, 2);
    assert.equal(rib.locRib.best(own), undefined);
    assert.deepEqual(rib.peerCounters(1), { received: 0, accepted: 0, advertised: 0 });
    assert.deepEqual(rib.counters, { prefixes: 1, paths: 1, attrSets: 1 });
  });

  it('without graceful restart a session loss removes the routes', () => {
    const rib = newRib();
    rib.addPeer(peerInfo(1));
    announce(rib, 1, fromAs(65001), [prefix('10.6.0.0/16')]);
    rib.peerDown(1, { gracefulRestart: false });
    assert.deepEqual(rib.counters, { prefixes: 0, paths: 0, attrSets: 0 });
  });
});

describe('export policy: who gets what', () => {
  type Kind = 'ebgp' | 'ibgp' | 'client' | 'local';
  const infoOf = (kind: Kind, id: number): PeerInfo =>
    kind === 'local' ? localPeer : peerInfo(id, { ibgp: kind !== 'ebgp', routeReflectorClient: kind === 'client' });
  const attributesFrom = (kind: Kind): PathAttributes =>
    kind === 'ebgp' ? fromAs(65001) : { origin: Origin.Igp, asPath: [], nextHop: '192.0.2.1', localPref: 100 };
  // [source, target, sent without RR, sent as RR]
  const matrix: [Kind, Exclude<Kind, 'local'>, boolean, boolean][] = [
    ['ebgp', 'ebgp', true, true],
    ['ebgp', 'ibgp', true, true],
    ['ebgp', 'client', true, true],
    ['ibgp', 'ebgp', true, true],
    ['ibgp', 'ibgp', false, false],
    ['ibgp', 'client', false, true],
    ['client', 'ebgp', true, true],
    ['client', 'ibgp', false, true],
    ['client', 'client', false, true],
    ['local', 'ebgp', true, true],
    ['local', 'ibgp', true, true],
    ['local', 'client', true, true],
  ];
  for (const [source, target, plain, reflector] of matrix) {
    it(`${source} → ${target}: ${plain ? 'sent' : 'not sent'}; as route reflector: ${reflector ? 'sent' : 'not sent'}`, () => {
      const p = path(infoOf(source, 1), attributesFrom(source));
      const to = exportTarget(infoOf(target, 2), true);
      assert.equal(exportAttributes(p, to, LOCAL) !== null, plain);
      assert.equal(exportAttributes(p, to, REFLECTOR) !== null, reflector);
    });
  }

  it('well-known communities: NO_EXPORT stays in the AS, NO_ADVERTISE goes nowhere', () => {
    const noExport = path(peerInfo(1), fromAs(65001, { communities: [NO_EXPORT] }));
    assert.equal(exportAttributes(noExport, exportTarget(peerInfo(2), true), LOCAL), null);
    assert.notEqual(exportAttributes(noExport, exportTarget(peerInfo(2, { ibgp: true }), true), LOCAL), null);
    const noAdvertise = path(peerInfo(1), fromAs(65001, { communities: [NO_ADVERTISE] }));
    assert.equal(exportAttributes(noAdvertise, exportTarget(peerInfo(2, { ibgp: true }), true), LOCAL), null);
  });
});

describe('export policy: outgoing attributes', () => {
  const toEbgp = exportTarget(peerInfo(9), true);
  const toIbgp = exportTarget(peerInfo(9, { ibgp: true }), true);
  const toClient = exportTarget(peerInfo(9, { ibgp: true, routeReflectorClient: true }), true);
  const toIbgpSelf = exportTarget(peerInfo(9, { ibgp: true, nextHopSelf: true }), true);
  const learnedOverIbgp: PathAttributes = {
    origin: Origin.Igp,
    asPath: [seq(65001, 65002)],
    nextHop: '192.0.2.1',
    med: 50,
    localPref: 300,
    communities: [0xfde80001],
  };

  it('to eBGP: our AS prepended, our next hop, no LOCAL_PREF / MED / ORIGINATOR_ID / CLUSTER_LIST', () => {
    const reflectedBefore = { ...learnedOverIbgp, originatorId: '10.0.0.7', clusterList: ['2.2.2.2'] };
    assert.deepEqual(exportAttributes(path(peerInfo(1, { ibgp: true }), reflectedBefore), toEbgp, LOCAL), {
      origin: Origin.Igp,
      asPath: [seq(LOCAL_AS, 65001, 65002)],
      nextHop: '192.0.2.100',
      communities: [0xfde80001],
    });
  });

  it('to eBGP: a path starting with an AS_SET gets a new sequence; confederation segments are dropped', () => {
    const set = { type: AsPathSegmentType.AsSet, asns: [1, 2] };
    const confed = { type: AsPathSegmentType.ConfedSequence, asns: [65100] };
    const out = exportAttributes(path(peerInfo(1), fromAs(65001, { asPath: [confed, set] })), toEbgp, LOCAL);
    assert.deepEqual(out?.asPath, [seq(LOCAL_AS), set]);
  });

  it('to eBGP: a locally originated MED is kept, non-transitive extended communities are not', () => {
    const local = path(localPeer, {
      origin: Origin.Igp,
      asPath: [],
      med: 10,
      extendedCommunities: ['0002fde800000001', '4300000000000000'],
    });
    assert.deepEqual(exportAttributes(local, toEbgp, LOCAL), {
      origin: Origin.Igp,
      asPath: [seq(LOCAL_AS)],
      nextHop: '192.0.2.100',
      med: 10,
      extendedCommunities: ['0002fde800000001'],
    });
  });

  it('to iBGP from eBGP: next hop and MED kept, LOCAL_PREF set (received one ignored)', () => {
    const fromEbgp = path(peerInfo(1), fromAs(65001, { med: 5, localPref: 999 }));
    assert.deepEqual(exportAttributes(fromEbgp, toIbgp, LOCAL), {
      origin: Origin.Igp,
      asPath: [seq(65001)],
      nextHop: '203.0.113.1',
      med: 5,
      localPref: 100,
    });
    assert.equal(exportAttributes(fromEbgp, toIbgpSelf, LOCAL)?.nextHop, '192.0.2.100');
  });

  it('locally originated to iBGP: empty AS_PATH, ORIGIN IGP, communities, our next hop, LOCAL_PREF', () => {
    const block = path(localPeer, { origin: Origin.Igp, asPath: [], communities: [0xfde8000a] });
    assert.deepEqual(exportAttributes(block, toIbgp, LOCAL), {
      origin: Origin.Igp,
      asPath: [],
      nextHop: '192.0.2.100',
      localPref: 100,
      communities: [0xfde8000a],
    });
  });

  it('reflection: ORIGINATOR_ID set when absent, our cluster id prepended, next hop and LOCAL_PREF kept', () => {
    const fromClient = path(peerInfo(1, { ibgp: true, routeReflectorClient: true }), learnedOverIbgp);
    assert.deepEqual(exportAttributes(fromClient, toIbgp, REFLECTOR), {
      ...learnedOverIbgp,
      originatorId: '192.0.2.1',
      clusterList: ['1.1.1.1'],
    });
    const alreadyReflected = path(peerInfo(1, { ibgp: true }), {
      ...learnedOverIbgp,
      originatorId: '10.0.0.7',
      clusterList: ['2.2.2.2'],
    });
    const out = exportAttributes(alreadyReflected, toClient, REFLECTOR);
    assert.equal(out?.originatorId, '10.0.0.7');
    assert.deepEqual(out?.clusterList, ['1.1.1.1', '2.2.2.2']);
  });

  it('unknown optional transitive attributes travel on marked partial; non-transitive ones stop', () => {
    const value = new Uint8Array([1, 2]);
    const withUnknown = path(
      peerInfo(1),
      fromAs(65001, {
        unknown: [
          { flags: 0xc0, type: 99, value },
          { flags: 0x80, type: 98, value },
        ],
      }),
    );
    assert.deepEqual(exportAttributes(withUnknown, toEbgp, LOCAL)?.unknown, [{ flags: 0xe0, type: 99, value }]);
  });
});

describe('Adj-RIB-Out', () => {
  it('peers of one update group share the outgoing set, encoded once; never back to the source', () => {
    const rib = newRib();
    for (const id of [1, 2, 3]) {
      rib.addPeer(peerInfo(id));
      rib.peerUp(id, { fourOctetAs: true });
    }
    const prefixes = ['10.7.0.0/24', '10.7.1.0/24', '10.7.2.0/24'].map(prefix);
    const callsBefore = encoderCalls;
    announce(rib, 1, fromAs(65001), prefixes);
    assert.equal(encoderCalls - callsBefore, 2, 'the inbound set (by the test) and one outgoing set');

    const to2 = rib.drainOutbound(2);
    const to3 = rib.drainOutbound(3);
    assert.deepEqual(rib.drainOutbound(1), { withdrawn: [], announced: [] }, 'not sent back to peer 1');
    assert.equal(to2.announced.length, 1);
    assert.equal(to2.announced[0].attrs, to3.announced[0].attrs, 'one shared outgoing AttrSet');
    assert.deepEqual(to2.announced[0].prefixes, prefixes);
    assert.deepEqual(to2.announced[0].attrs.attributes.asPath, [seq(LOCAL_AS, 65001)]);
    assert.deepEqual(
      to2.announced[0].attrs.raw,
      encodeAttributes(to2.announced[0].attrs.attributes, { fourOctetAs: true }),
    );
    assert.deepEqual(
      [1, 2, 3].map((id) => rib.peerCounters(id).advertised),
      [0, 3, 3],
    );

    rib.withdraw(1, [prefixes[1]]);
    assert.deepEqual(rib.drainOutbound(2), { withdrawn: [prefixes[1]], announced: [] });
    assert.equal(rib.peerCounters(2).advertised, 2);
  });

  it('when the best moves from peer 1 to peer 2, peer 1 is sent the route and peer 2 a withdrawal', () => {
    const rib = newRib();
    for (const id of [1, 2, 3]) {
      rib.addPeer(peerInfo(id, { asn: 65000 }));
      rib.peerUp(id, { fourOctetAs: true });
    }
    const p = prefix('10.8.0.0/16');
    announce(rib, 1, fromAs(65000), [p]);
    announce(rib, 2, fromAs(65000, { asPath: [seq(65000, 5)] }), [p]);
    for (const id of [1, 2, 3]) rib.drainOutbound(id);
    rib.withdraw(1, [p]);
    assert.equal(rib.locRib.best(p)?.peer.info.id, 2);
    assert.deepEqual(rib.drainOutbound(2), { withdrawn: [p], announced: [] });
    const to1 = rib.drainOutbound(1);
    assert.deepEqual(to1.announced[0].prefixes, [p]);
    assert.deepEqual(to1.announced[0].attrs.attributes.asPath, [seq(LOCAL_AS, 65000, 5)]);
    assert.deepEqual(rib.drainOutbound(3).announced[0].prefixes, [p]);
  });

  it('a peer coming up is queued the whole table; drains can be partial; groups split by export behaviour', () => {
    const rib = newRib();
    rib.addPeer(peerInfo(1));
    const prefixes = Array.from({ length: 10 }, (_, i) => ipv4PrefixKey(0x0a090000 + i * 256, 24));
    announce(rib, 1, fromAs(65001), prefixes.slice(0, 5));
    announce(rib, 1, fromAs(65001, { communities: [7] }), prefixes.slice(5));
    rib.originate([prefix('10.65.0.0/26')], { communities: [0xfde8000a] });
    rib.addPeer(peerInfo(2));
    rib.addPeer(peerInfo(3, { ibgp: true }));
    rib.peerUp(2, { fourOctetAs: true });
    rib.peerUp(3, { fourOctetAs: false });
    assert.equal(rib.pendingOutbound(2), 11);
    assert.equal(rib.peerCounters(2).advertised, 11);

    const first = rib.drainOutbound(2, 4);
    assert.equal(
      first.announced.reduce((n, a) => n + a.prefixes.length, 0),
      4,
    );
    assert.equal(rib.pendingOutbound(2), 7);
    const rest = rib.drainOutbound(2);
    const sent = [...first.announced, ...rest.announced].flatMap((a) => a.prefixes);
    assert.deepEqual(new Set(sent), new Set([...prefixes, prefix('10.65.0.0/26')]));
    assert.equal(rib.pendingOutbound(2), 0);

    const toIbgp = rib.drainOutbound(3);
    assert.equal(toIbgp.announced.length, 3, 'three distinct outgoing sets');
    assert.ok(
      toIbgp.announced.every((a) => !a.attrs.fourOctetAs),
      'encoded for a 2-octet-AS session',
    );
    const own = toIbgp.announced.find((a) => a.prefixes.includes(prefix('10.65.0.0/26')));
    assert.deepEqual(own?.attrs.attributes, {
      origin: Origin.Igp,
      asPath: [],
      nextHop: '192.0.2.100',
      localPref: 100,
      communities: [0xfde8000a],
    });

    rib.refreshOutbound(3);
    assert.equal(rib.pendingOutbound(3), 11);
    assert.equal(rib.peerCounters(3).advertised, 11);
  });

  it('partial drains hand over the queued runs in pieces, each prefix under its set', () => {
    const rib = newRib();
    rib.addPeer(peerInfo(1));
    rib.addPeer(peerInfo(2));
    rib.peerUp(2, { fourOctetAs: true });
    const prefixes = Array.from({ length: 15 }, (_, i) => ipv4PrefixKey(0x0a0b0000 + i * 256, 24));
    announce(rib, 1, fromAs(65001), prefixes.slice(0, 10));
    announce(rib, 1, fromAs(65001, { communities: [9] }), prefixes.slice(10));
    const sizes = [7, 4, 100].map((max) => rib.drainOutbound(2, max).announced.map((a) => a.prefixes));
    assert.deepEqual(sizes, [
      [prefixes.slice(0, 7)],
      [prefixes.slice(7, 10), prefixes.slice(10, 11)],
      [prefixes.slice(11)],
    ]);
    assert.equal(rib.pendingOutbound(2), 0);
  });

  it('a prefix that changes again before the drain is sent once, in its last state', () => {
    const rib = newRib();
    rib.addPeer(peerInfo(1));
    rib.addPeer(peerInfo(2));
    rib.peerUp(2, { fourOctetAs: true });
    const [flap, gone, moved, steady] = ['10.12.1.0/24', '10.12.2.0/24', '10.12.3.0/24', '10.12.4.0/24'].map(prefix);
    announce(rib, 1, fromAs(65001), [steady, flap, gone, moved]);
    rib.withdraw(1, [flap, gone]);
    announce(rib, 1, fromAs(65001), [flap]);
    announce(rib, 1, fromAs(65001, { asPath: [seq(65001, 65009)] }), [moved]);
    const batch = rib.drainOutbound(2);
    assert.deepEqual(batch.withdrawn, [gone]);
    const byPath = new Map(batch.announced.map((a) => [JSON.stringify(a.attrs.attributes.asPath), a.prefixes]));
    assert.deepEqual(byPath.get(JSON.stringify([seq(LOCAL_AS, 65001)])), [steady, flap]);
    assert.deepEqual(byPath.get(JSON.stringify([seq(LOCAL_AS, 65001, 65009)])), [moved]);
    assert.equal(rib.peerCounters(2).advertised, 3);
  });

  it('a withdrawal and a re-announcement queued in order are sent in their last state', () => {
    const rib = newRib();
    rib.addPeer(peerInfo(1));
    rib.addPeer(peerInfo(2));
    rib.peerUp(2, { fourOctetAs: true });
    const p = prefix('10.13.0.0/16');
    announce(rib, 1, fromAs(65001), [p]);
    rib.drainOutbound(2);
    rib.withdraw(1, [p]);
    announce(rib, 1, fromAs(65001), [p]);
    const batch = rib.drainOutbound(2);
    assert.deepEqual(batch.withdrawn, []);
    assert.deepEqual(
      batch.announced.map((a) => a.prefixes),
      [[p]],
    );
  });

  it('outgoing sets are released with the paths and groups that held them', () => {
    const rib = newRib();
    rib.addPeer(peerInfo(1));
    rib.addPeer(peerInfo(2));
    rib.peerUp(2, { fourOctetAs: true });
    announce(rib, 1, fromAs(65001), [prefix('10.10.0.0/16')]);
    assert.equal(rib.counters.attrSets, 2);
    rib.withdraw(1, [prefix('10.10.0.0/16')]);
    assert.equal(rib.counters.attrSets, 0);
    announce(rib, 1, fromAs(65001), [prefix('10.10.0.0/16')]);
    rib.peerDown(2, { gracefulRestart: false });
    assert.equal(rib.counters.attrSets, 1);
    assert.deepEqual(rib.peerCounters(2), { received: 0, accepted: 0, advertised: 0 });
  });
});

describe('Ipv4PrefixList', () => {
  it('keeps every prefix in order across the small first chunk, its growth and full chunks', () => {
    for (const n of [0, 1, 64, 65, 256, 257, 16_384, 16_385, 40_000]) {
      const list = new Ipv4PrefixList();
      for (let i = 0; i < n; i++) list.push(i * 64 + 24);
      assert.equal(list.length, n);
      for (let i = 0; i < n; i++) if (list.at(i) !== i * 64 + 24) assert.fail(`list of ${n}: index ${i}`);
    }
  });
});
