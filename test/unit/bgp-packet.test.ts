import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import {
  AsPathSegmentType,
  BgpError,
  type BgpMessage,
  decodeMessage,
  decodeOpen,
  decodeUpdate,
  encodeAttributes,
  encodeEndOfRib,
  encodeKeepalive,
  encodeNotification,
  encodeOpen,
  encodeRouteRefresh,
  encodeUpdates,
  encodeWithdrawals,
  formatIpv4Prefix,
  type Ipv4PrefixKey,
  isEndOfRib,
  MessageReader,
  MessageType,
  type NotificationMessage,
  type OpenMessage,
  type PathAttributes,
  parseIpv4Prefix,
  type RouteRefreshMessage,
  type SessionCodecContext,
} from '../../bgp/packet';

const FIXTURES = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'bgp');
const EBGP4: SessionCodecContext = { fourOctetAs: true, ibgp: false };
const EBGP2: SessionCodecContext = { fourOctetAs: false, ibgp: false };
const IBGP4: SessionCodecContext = { fourOctetAs: true, ibgp: true };

const fromHex = (hex: string) => Uint8Array.from(Buffer.from(hex.replace(/\s+/g, ''), 'hex'));
const toHex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const u16 = (n: number) => [n >>> 8, n & 0xff];
const u32 = (n: number) => [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];

/** A whole message from its type and body. */
function message(type: MessageType, body: readonly number[]): Uint8Array {
  return Uint8Array.from([...new Array(16).fill(0xff), ...u16(19 + body.length), type, ...body]);
}

/** One path attribute: flags, type, length (extended when the flag says so) and value. */
function attr(flags: number, type: number, value: readonly number[]): number[] {
  return flags & 0x10 ? [flags, type, ...u16(value.length), ...value] : [flags, type, value.length, ...value];
}

/** An UPDATE from its parts. */
function update(parts: { withdrawn?: number[]; attributes?: number[][]; nlri?: number[] }): Uint8Array {
  const withdrawn = parts.withdrawn ?? [];
  const attributes = (parts.attributes ?? []).flat();
  return message(MessageType.Update, [
    ...u16(withdrawn.length),
    ...withdrawn,
    ...u16(attributes.length),
    ...attributes,
    ...(parts.nlri ?? []),
  ]);
}

const ORIGIN_IGP = attr(0x40, 1, [0]);
const AS_PATH_65001 = attr(0x40, 2, [2, 1, ...u32(65001)]);
const NEXT_HOP = attr(0x40, 3, [192, 0, 2, 1]);
const NLRI_10_8 = [8, 10];

function assertBgpError(fn: () => unknown, code: number, subcode: number, data?: Uint8Array): BgpError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof BgpError, `expected BgpError, got ${error}`);
    assert.equal(`${error.code}/${error.subcode}`, `${code}/${subcode}`, error.message);
    if (data) assert.equal(toHex(error.data), toHex(data));
    return error;
  }
  assert.fail(`expected BgpError ${code}/${subcode}`);
}

interface CapturedMessage {
  from: string;
  bytes: Uint8Array;
}

function loadFixture(name: string): CapturedMessage[] {
  return fs
    .readFileSync(path.join(FIXTURES, name), 'utf8')
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [direction, hex] = line.split(' ');
      return { from: direction.split('>')[0], bytes: fromHex(hex) };
    });
}

const FIXTURE_CONTEXTS: Record<string, SessionCodecContext> = {
  'bird-gobgp-as4.hex': EBGP4,
  'bird-gobgp-as2.hex': EBGP2,
};

/**
 * Whether attribute bytes are laid out the way encodeAttributes writes them: MP attributes first, then ascending
 * type codes, the extended length flag exactly on values over 255 bytes. Only such captures can re-encode
 * byte-exactly (GoBGP keeps its own order; BIRD sets the extended length flag on every MP attribute).
 */
function isCanonicalLayout(raw: Uint8Array): boolean {
  const types: number[] = [];
  for (let pos = 0; pos < raw.length; ) {
    const extended = (raw[pos] & 0x10) !== 0;
    const length = extended ? (raw[pos + 2] << 8) | raw[pos + 3] : raw[pos + 2];
    if (extended !== length > 255) return false;
    types.push(raw[pos + 1]);
    pos += (extended ? 4 : 3) + length;
  }
  const rank = (type: number) => (type === 14 || type === 15 ? type - 100 : type);
  return types.every((type, i) => i === 0 || rank(types[i - 1]) < rank(type));
}

describe('prefix text', () => {
  it('formats and parses packed IPv4 prefixes', () => {
    for (const text of ['0.0.0.0/0', '10.0.0.0/8', '192.168.1.128/25', '255.255.255.255/32', '100.64.0.0/10']) {
      assert.equal(formatIpv4Prefix(parseIpv4Prefix(text)), text);
    }
    assert.equal(parseIpv4Prefix('10.0.0.0/8'), 10 * 2 ** 24 * 64 + 8);
  });

  it('rejects bad text and host bits', () => {
    for (const text of ['10.0.0.1/8', '10.0.0.0', '10.0.0.0/33', '10.0.0/8', '256.0.0.0/8', '10.0.0.0/08', 'a/8', '']) {
      assert.throws(() => parseIpv4Prefix(text), Error, text);
    }
  });
});

describe('MessageReader', () => {
  const stream = [
    encodeKeepalive(),
    ...encodeUpdates(encodeAttributes({ origin: 0, asPath: [], nextHop: '192.0.2.1' }, EBGP4), keys(3000, 24)),
    encodeNotification(6, 2, undefined, 'bye'),
  ];
  const joined = Buffer.concat(stream);

  function readAll(reader: MessageReader, chunkSizes: () => number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let pos = 0; pos < joined.length; ) {
      const size = Math.min(chunkSizes(), joined.length - pos);
      reader.push(Uint8Array.from(joined.subarray(pos, pos + size)));
      pos += size;
      for (let m = reader.next(); m; m = reader.next()) out.push(m);
    }
    return out;
  }

  it('frames messages from chunks of any size, and earlier views stay intact', () => {
    for (const chunk of [1, 7, 19, 20, 4096, 65536, 1 << 20]) {
      const got = readAll(new MessageReader(), () => chunk);
      assert.deepEqual(got.map(toHex), stream.map(toHex), `chunk size ${chunk}`);
    }
    const random = mulberry32(7);
    const got = readAll(new MessageReader(), () => 1 + Math.floor(random() * 5000));
    assert.deepEqual(got.map(toHex), stream.map(toHex));
  });

  it('returns views of the pushed chunk when a message lies inside it', () => {
    const reader = new MessageReader();
    const chunk = Uint8Array.from(joined);
    reader.push(chunk);
    const first = reader.next();
    assert.ok(first);
    assert.equal(first.buffer, chunk.buffer);
  });

  it('throws header errors with the RFC 4271 data', () => {
    const bad =
      (bytes: Uint8Array, extended = false) =>
      () => {
        const reader = new MessageReader({ extendedMessages: extended });
        reader.push(bytes);
        return reader.next();
      };
    const marker = encodeKeepalive();
    marker[3] = 0;
    assertBgpError(bad(marker), 1, 1);
    assertBgpError(bad(fromHex(`${'ff'.repeat(16)}001404ff`)), 1, 2, fromHex('0014'));
    assertBgpError(bad(fromHex(`${'ff'.repeat(16)}001209`)), 1, 2, fromHex('0012'));
    assertBgpError(bad(fromHex(`${'ff'.repeat(16)}001309`)), 1, 3, fromHex('09'));
    assertBgpError(bad(fromHex(`${'ff'.repeat(16)}001602000000`)), 1, 2, fromHex('0016'));
    const big = encodeUpdates(
      encodeAttributes({ origin: 0, asPath: [], nextHop: '192.0.2.1' }, EBGP4),
      keys(3000, 24),
      65535,
    );
    assert.equal(big.length, 1);
    assertBgpError(bad(big[0]), 1, 2);
    assert.equal(toHex(bad(big[0], true)() ?? new Uint8Array(0)), toHex(big[0]));
    const reader = new MessageReader();
    reader.extendedMessages = true;
    reader.push(big[0]);
    assert.equal(reader.next()?.length, big[0].length);
  });

  it('waits for the rest of a message', () => {
    const reader = new MessageReader();
    reader.push(joined.subarray(0, 18));
    assert.equal(reader.next(), undefined);
    reader.push(joined.subarray(18, 19));
    assert.equal(reader.next()?.length, 19);
    assert.equal(reader.next(), undefined);
  });
});

/** `count` distinct prefixes of `length` bits, in order from 16.0.0.0. */
function keys(count: number, length: number): Ipv4PrefixKey[] {
  const step = 2 ** (32 - length);
  return Array.from({ length: count }, (_, i) => (16 * 2 ** 24 + i * step) * 64 + length);
}

const FULL_OPEN: Omit<OpenMessage, 'type'> = {
  version: 4,
  myAs: 23456,
  holdTime: 240,
  bgpId: '192.0.2.11',
  capabilities: {
    multiprotocol: [
      [1, 1],
      [2, 1],
    ],
    routeRefresh: true,
    extendedMessages: true,
    gracefulRestart: {
      restarting: true,
      notification: true,
      restartTimeSec: 120,
      families: [
        { afi: 1, safi: 1, forwardingPreserved: true },
        { afi: 2, safi: 1, forwardingPreserved: false },
      ],
    },
    fourOctetAs: 4200000011,
    enhancedRouteRefresh: true,
    unknown: [{ code: 73, value: fromHex('02766d00') }],
  },
};

describe('OPEN', () => {
  it('round-trips every capability byte-exactly', () => {
    const bytes = encodeOpen(FULL_OPEN);
    const decoded = decodeOpen(bytes);
    assert.deepEqual(decoded, { type: MessageType.Open, ...FULL_OPEN });
    assert.equal(toHex(encodeOpen(decoded)), toHex(bytes));
    const capabilities = [
      '010400010001', // multiprotocol IPv4 unicast
      '010400020001', // multiprotocol IPv6 unicast
      '0200', // route refresh
      '0600', // extended messages
      '400ac078' + '00010180' + '00020100', // graceful restart: R and N bits, 120 s, IPv4 with F bit, IPv6
      '4104fa56ea0b', // 4-octet AS 4200000011
      '4600', // enhanced route refresh
      '490402766d00', // unknown capability 73, as given
    ].join('');
    assert.equal(toHex(bytes), `${'ff'.repeat(16)}004901045ba000f0c000020b2c022a${capabilities}`);
  });

  it('accepts the Cisco route refresh code, a bare OPEN and RFC 9072 extended parameters', () => {
    const cisco = message(MessageType.Open, [4, ...u16(65001), ...u16(90), 192, 0, 2, 1, 4, 2, 2, 128, 0]);
    assert.equal(decodeOpen(cisco).capabilities.routeRefresh, true);
    const bare = decodeOpen(message(MessageType.Open, [4, ...u16(65001), 0, 0, 192, 0, 2, 1, 0]));
    assert.deepEqual(bare.capabilities, {
      multiprotocol: [],
      routeRefresh: false,
      enhancedRouteRefresh: false,
      unknown: [],
    });
    const caps = [65, 4, ...u32(4200000001), 1, 4, 0, 1, 0, 1];
    const extended = message(MessageType.Open, [
      4,
      ...u16(23456),
      ...u16(90),
      192,
      0,
      2,
      1,
      255,
      255,
      ...u16(3 + caps.length),
      2,
      ...u16(caps.length),
      ...caps,
    ]);
    const decoded = decodeOpen(extended);
    assert.equal(decoded.capabilities.fourOctetAs, 4200000001);
    assert.deepEqual(decoded.capabilities.multiprotocol, [[1, 1]]);
  });

  it('throws the OPEN errors of RFC 4271 §6.2', () => {
    const open = (body: number[]) => () => decodeOpen(message(MessageType.Open, body));
    const fixed = (version: number, as: number, hold: number, id: number[]) => [
      version,
      ...u16(as),
      ...u16(hold),
      ...id,
    ];
    assertBgpError(open([...fixed(3, 65001, 90, [1, 2, 3, 4]), 0]), 2, 1, fromHex('0004'));
    assertBgpError(open([...fixed(4, 0, 90, [1, 2, 3, 4]), 0]), 2, 2);
    assertBgpError(open([...fixed(4, 65001, 90, [0, 0, 0, 0]), 0]), 2, 3);
    assertBgpError(open([...fixed(4, 65001, 90, [1, 2, 3, 4]), 2, 1, 0]), 2, 4);
    assertBgpError(open([...fixed(4, 65001, 2, [1, 2, 3, 4]), 0]), 2, 6, fromHex('0002'));
    assertBgpError(open([...fixed(4, 65001, 1, [1, 2, 3, 4]), 0]), 2, 6);
    assertBgpError(open([...fixed(4, 23456, 90, [1, 2, 3, 4]), 8, 2, 6, 65, 4, 0, 0, 0, 0]), 2, 2);
    assertBgpError(open([...fixed(4, 65001, 90, [1, 2, 3, 4]), 5, 2, 3, 1, 1, 0]), 2, 0); // MP of length 1
    assertBgpError(open([...fixed(4, 65001, 90, [1, 2, 3, 4]), 4, 2, 9, 1, 4]), 2, 0); // parameter overruns
    assertBgpError(open([...fixed(4, 65001, 90, [1, 2, 3, 4]), 3, 2, 0]), 2, 0); // length mismatch
  });
});

describe('KEEPALIVE, ROUTE-REFRESH, NOTIFICATION', () => {
  it('round-trips KEEPALIVE and ROUTE-REFRESH with RFC 7313 subtypes', () => {
    assert.equal(toHex(encodeKeepalive()), `${'ff'.repeat(16)}001304`);
    assert.deepEqual(decodeMessage(encodeKeepalive(), EBGP4), { type: MessageType.Keepalive });
    for (const subtype of [0, 1, 2]) {
      const bytes = encodeRouteRefresh(2, 1, subtype);
      const decoded = decodeMessage(bytes, EBGP4) as RouteRefreshMessage;
      assert.deepEqual(decoded, { type: MessageType.RouteRefresh, afi: 2, safi: 1, subtype });
      assert.equal(toHex(encodeRouteRefresh(decoded.afi, decoded.safi, decoded.subtype)), toHex(bytes));
    }
    assert.equal(toHex(encodeRouteRefresh(1, 1)), `${'ff'.repeat(16)}00170500010001`);
    const long = message(MessageType.RouteRefresh, [0, 1, 0, 1, 0]);
    assertBgpError(() => decodeMessage(long, EBGP4), 7, 1, long);
  });

  it('carries RFC 9003 shutdown communications', () => {
    const bytes = encodeNotification(6, 2, undefined, 'maintenance ✓');
    const decoded = decodeMessage(bytes, EBGP4) as NotificationMessage;
    assert.equal(decoded.shutdownText, 'maintenance ✓');
    assert.equal(decoded.data[0], Buffer.byteLength('maintenance ✓'));
    assert.equal(toHex(encodeNotification(decoded.code, decoded.subcode, decoded.data)), toHex(bytes));
    const reset = decodeMessage(encodeNotification(6, 4, undefined, 'reset'), EBGP4) as NotificationMessage;
    assert.equal(reset.shutdownText, 'reset');
    assert.throws(() => encodeNotification(3, 1, undefined, 'no'), RangeError);
  });

  it('cuts a long shutdown communication to 255 bytes on a character boundary', () => {
    const text = '€'.repeat(100); // 3 bytes each
    const decoded = decodeMessage(encodeNotification(6, 2, undefined, text), EBGP4) as NotificationMessage;
    assert.equal(decoded.data[0], 255);
    assert.equal(decoded.shutdownText, '€'.repeat(85));
    const split = decodeMessage(encodeNotification(6, 2, undefined, `a${text}`), EBGP4) as NotificationMessage;
    assert.equal(split.data[0], 253);
    assert.equal(split.shutdownText, `a${'€'.repeat(84)}`);
  });

  it('ignores a malformed shutdown communication but keeps the NOTIFICATION', () => {
    for (const data of [[5, 0x61], [2, 0xc3, 0x28], [0]]) {
      const decoded = decodeMessage(message(MessageType.Notification, [6, 2, ...data]), EBGP4) as NotificationMessage;
      assert.equal(decoded.shutdownText, undefined);
      assert.deepEqual([...decoded.data], data);
    }
    const plain = decodeMessage(encodeNotification(3, 1, Uint8Array.of(1, 2)), EBGP4) as NotificationMessage;
    assert.deepEqual(plain, { type: MessageType.Notification, code: 3, subcode: 1, data: Uint8Array.of(1, 2) });
  });

  it('truncates NOTIFICATION data to the message limit', () => {
    assert.equal(encodeNotification(3, 1, new Uint8Array(5000)).length, 4096);
  });
});

const EVERY_ATTRIBUTE: PathAttributes = {
  mpReach: {
    afi: 2,
    safi: 1,
    nextHops: ['2001:db8::1', 'fe80::1'],
    nlri: ['2001:db8:100::/48', '2001:db8:101:8000::/49', '::/0'],
  },
  mpUnreach: { afi: 2, safi: 1, withdrawn: ['2001:db8:200::/40'] },
  origin: 2,
  asPath: [
    { type: AsPathSegmentType.AsSequence, asns: [65001, 4200000001] },
    { type: AsPathSegmentType.AsSet, asns: [65020, 65030] },
  ],
  nextHop: '192.0.2.1',
  med: 4294967295,
  localPref: 200,
  atomicAggregate: true,
  aggregator: { asn: 4200000002, address: '192.0.2.2' },
  communities: [0xfde90064, 0xffffff01],
  originatorId: '192.0.2.9',
  clusterList: ['192.0.2.100', '10.0.0.1'],
  extendedCommunities: ['0002fde900000007', '010300000000000a'],
  largeCommunities: [
    [4200000002, 1, 2],
    [65002, 3, 4],
  ],
  unknown: [{ flags: 0xe0, type: 99, value: fromHex('abcdef') }],
};

describe('path attributes', () => {
  it('round-trips every attribute on a 4-octet session, byte-exactly', () => {
    const raw = encodeAttributes(EVERY_ATTRIBUTE, IBGP4);
    const decoded = decodeUpdate(update({ attributes: [[...raw]], nlri: NLRI_10_8 }), IBGP4);
    assert.equal(decoded.action, 'accept', decoded.problems.join());
    assert.deepEqual(decoded.problems, []);
    assert.deepEqual(decoded.update.attributes, EVERY_ATTRIBUTE);
    assert.equal(toHex(encodeAttributes(decoded.update.attributes, IBGP4)), toHex(raw));
    assert.ok(isCanonicalLayout(raw));
    assert.deepEqual(decoded.update.nlri, [parseIpv4Prefix('10.0.0.0/8')]);
  });

  it('writes AS_TRANS with AS4_PATH / AS4_AGGREGATOR for 2-octet sessions and merges them back', () => {
    const raw = encodeAttributes(EVERY_ATTRIBUTE, { fourOctetAs: false, ibgp: true });
    const wire = toHex(raw);
    assert.ok(wire.includes('40020c0202fde95ba0'), wire); // AS_PATH: 65001, AS_TRANS
    assert.ok(wire.includes('c007065ba0c0000202'), wire); // AGGREGATOR with AS_TRANS
    assert.ok(wire.includes('c011140202' + '0000fde9fa56ea01' + '0102' + '0000fdfc0000fe06'), wire); // AS4_PATH
    assert.ok(wire.includes('c01208fa56ea02c0000202'), wire); // AS4_AGGREGATOR
    const decoded = decodeUpdate(update({ attributes: [[...raw]], nlri: NLRI_10_8 }), {
      fourOctetAs: false,
      ibgp: true,
    });
    assert.deepEqual(decoded.problems, []);
    assert.deepEqual(decoded.update.attributes, EVERY_ATTRIBUTE);
  });

  it('sends no AS4 attributes when every AS fits in 2 octets, and none on 4-octet sessions', () => {
    const attrs: PathAttributes = {
      origin: 0,
      asPath: [{ type: 2, asns: [65001] }],
      aggregator: { asn: 65001, address: '192.0.2.1' },
    };
    assert.equal(toHex(encodeAttributes(attrs, EBGP2)), '40010100' + '4002040201fde9' + 'c00706fde9c0000201');
    assert.ok(!toHex(encodeAttributes(EVERY_ATTRIBUTE, EBGP4)).includes('c011'));
  });

  it('uses the extended length flag only for values over 255 bytes, and reads it on short ones', () => {
    const communities = Array.from({ length: 64 }, (_, i) => 0xfde90000 + i); // 256 bytes
    const raw = encodeAttributes({ origin: 0, asPath: [], nextHop: '192.0.2.1', communities }, EBGP4);
    assert.equal(toHex(raw.subarray(14, 18)), 'd0080100');
    assert.deepEqual(
      decodeUpdate(update({ attributes: [[...raw]], nlri: NLRI_10_8 }), EBGP4).update.attributes.communities,
      communities,
    );
    const shortExtended = update({ attributes: [attr(0x50, 1, [0]), AS_PATH_65001, NEXT_HOP], nlri: NLRI_10_8 });
    const decoded = decodeUpdate(shortExtended, EBGP4);
    assert.equal(decoded.action, 'accept');
    assert.equal(decoded.update.attributes.origin, 0);
  });

  it('splits AS_PATH segments longer than 255 ASes', () => {
    const asns = Array.from({ length: 300 }, (_, i) => 64512 + i);
    const raw = encodeAttributes({ origin: 0, asPath: [{ type: 2, asns }], nextHop: '192.0.2.1' }, EBGP4);
    const decoded = decodeUpdate(update({ attributes: [[...raw]], nlri: NLRI_10_8 }), EBGP4).update.attributes.asPath;
    assert.deepEqual(decoded, [
      { type: 2, asns: asns.slice(0, 255) },
      { type: 2, asns: asns.slice(255) },
    ]);
  });

  it('keeps unknown optional attributes with their flags and writes them in type order', () => {
    const raw = encodeAttributes(
      {
        origin: 0,
        unknown: [
          { flags: 0xc0 | 0x20, type: 40, value: fromHex('01') },
          { flags: 0x80, type: 3 + 250, value: new Uint8Array(300) },
          { flags: 0xc0, type: 20, value: fromHex('02') },
        ],
      },
      EBGP4,
    );
    assert.equal(toHex(raw.subarray(0, 12)), '40010100' + 'c0140102' + 'e0280101');
    assert.equal(toHex(raw.subarray(12, 16)), '90fd012c');
  });

  it('rejects values it cannot encode', () => {
    assert.throws(() => encodeAttributes({ nextHop: '192.0.2' }, EBGP4), /NEXT_HOP/);
    assert.throws(() => encodeAttributes({ extendedCommunities: ['xyz'] }, EBGP4), /extended community/);
    assert.throws(() =>
      encodeAttributes({ mpReach: { afi: 2, safi: 1, nextHops: ['::1'], nlri: ['10.0.0.0/8'] } }, EBGP4),
    );
  });
});

/** The AS_PATH of a 2-octet session: AS numbers as 2 bytes. */
const asPath2 = (...segments: [number, number[]][]) =>
  attr(
    0x40,
    2,
    segments.flatMap(([type, asns]) => [type, asns.length, ...asns.flatMap(u16)]),
  );
const as4Path = (...segments: [number, number[]][]) =>
  attr(
    0xc0,
    17,
    segments.flatMap(([type, asns]) => [type, asns.length, ...asns.flatMap(u32)]),
  );

describe('RFC 6793 on 2-octet sessions', () => {
  const decode = (attributes: number[][]) =>
    decodeUpdate(update({ attributes: [ORIGIN_IGP, NEXT_HOP, ...attributes], nlri: NLRI_10_8 }), EBGP2);

  it('merges AS4_PATH behind the ASes a 2-octet speaker prepended', () => {
    const decoded = decode([asPath2([2, [65000, 23456, 23456]]), as4Path([2, [4200000001, 4200000002]])]);
    assert.deepEqual(decoded.update.attributes.asPath, [{ type: 2, asns: [65000, 4200000001, 4200000002] }]);
    const withSet = decode([
      asPath2([2, [65000, 23456]], [1, [23456, 7]]),
      as4Path([2, [4200000001]], [1, [4200000002, 7]]),
    ]);
    assert.deepEqual(withSet.update.attributes.asPath, [
      { type: 2, asns: [65000, 4200000001] },
      { type: 1, asns: [4200000002, 7] },
    ]);
  });

  it('ignores an AS4_PATH longer than AS_PATH', () => {
    const decoded = decode([asPath2([2, [23456]]), as4Path([2, [4200000001, 4200000002]])]);
    assert.deepEqual(decoded.update.attributes.asPath, [{ type: 2, asns: [23456] }]);
    assert.match(decoded.problems.join(), /AS4_PATH longer/);
  });

  it('ignores AS4_AGGREGATOR and AS4_PATH when AGGREGATOR is not AS_TRANS', () => {
    const decoded = decode([
      asPath2([2, [65000, 23456]]),
      attr(0xc0, 7, [...u16(65000), 192, 0, 2, 1]),
      as4Path([2, [4200000001]]),
      attr(0xc0, 18, [...u32(4200000009), 192, 0, 2, 9]),
    ]);
    assert.deepEqual(decoded.update.attributes.asPath, [{ type: 2, asns: [65000, 23456] }]);
    assert.deepEqual(decoded.update.attributes.aggregator, { asn: 65000, address: '192.0.2.1' });
  });

  it('drops confederation segments from AS4_PATH', () => {
    const decoded = decode([asPath2([2, [65000, 23456]]), as4Path([3, [4200000005]], [2, [4200000001]])]);
    assert.deepEqual(decoded.update.attributes.asPath, [{ type: 2, asns: [65000, 4200000001] }]);
  });
});

interface Rfc7606Case {
  name: string;
  message: Uint8Array;
  ctx?: SessionCodecContext;
  /** Expected verdict, or the NOTIFICATION code/subcode the session must send. */
  expect: 'accept' | 'treat-as-withdraw' | [code: number, subcode: number];
  /** Problems reported must match. */
  problem?: RegExp;
  /** Checks on the decoded UPDATE. */
  check?: (attributes: PathAttributes, nlri: Ipv4PrefixKey[]) => void;
}

/** A valid IPv4 UPDATE with `replace` substituted for the attributes of the same type (or added). */
function withAttributes(...replace: number[][]): Uint8Array {
  const base = [ORIGIN_IGP, AS_PATH_65001, NEXT_HOP];
  const types = new Set(replace.map((a) => a[1]));
  return update({ attributes: [...base.filter((a) => !types.has(a[1])), ...replace], nlri: NLRI_10_8 });
}

const MP_REACH_V6 = attr(0x80, 14, [
  0,
  2,
  1,
  16,
  ...fromHex('20010db8000000000000000000000001'),
  0,
  32,
  0x20,
  0x01,
  0x0d,
  0xb8,
]);
const MP_UNREACH_V6 = attr(0x80, 15, [0, 2, 1, 32, 0x20, 0x01, 0x0d, 0xb9]);

const RFC7606_CASES: Rfc7606Case[] = [
  { name: 'a clean UPDATE', message: withAttributes(), expect: 'accept' },
  {
    name: 'ORIGIN of length 2 (§7.1)',
    message: withAttributes(attr(0x40, 1, [0, 0])),
    expect: 'treat-as-withdraw',
    problem: /ORIGIN of length 2/,
  },
  {
    name: 'undefined ORIGIN value (§7.1)',
    message: withAttributes(attr(0x40, 1, [3])),
    expect: 'treat-as-withdraw',
    problem: /undefined ORIGIN 3/,
  },
  {
    name: 'AS_PATH segment overrun (§7.2)',
    message: withAttributes(attr(0x40, 2, [2, 2, ...u32(65001)])),
    expect: 'treat-as-withdraw',
    problem: /overruns/,
  },
  {
    name: 'AS_PATH single trailing octet (§7.2)',
    message: withAttributes(attr(0x40, 2, [2, 1, ...u32(65001), 2])),
    expect: 'treat-as-withdraw',
    problem: /truncated/,
  },
  {
    name: 'AS_PATH zero-length segment (§7.2)',
    message: withAttributes(attr(0x40, 2, [2, 0])),
    expect: 'treat-as-withdraw',
    problem: /empty segment/,
  },
  {
    name: 'AS_PATH unknown segment type (§7.2)',
    message: withAttributes(attr(0x40, 2, [5, 1, ...u32(1)])),
    expect: 'treat-as-withdraw',
    problem: /segment type 5/,
  },
  {
    name: 'AS_PATH with AS 0 (RFC 7607)',
    message: withAttributes(attr(0x40, 2, [2, 1, ...u32(0)])),
    expect: 'treat-as-withdraw',
    problem: /AS 0/,
  },
  {
    name: 'AS_PATH confederation segment from an external peer',
    message: withAttributes(attr(0x40, 2, [3, 1, ...u32(65001)])),
    expect: 'treat-as-withdraw',
    problem: /confederation/,
  },
  {
    name: 'AS_PATH confederation segment from an internal peer',
    message: withAttributes(attr(0x40, 2, [3, 1, ...u32(65001)])),
    ctx: IBGP4,
    expect: 'accept',
  },
  {
    name: 'AS_PATH with 2-octet ASes on a 4-octet session',
    message: withAttributes(asPath2([2, [65001, 65002, 65003]])),
    expect: 'treat-as-withdraw',
    problem: /AS_PATH/,
  },
  {
    name: 'NEXT_HOP of length 5 (§7.3)',
    message: withAttributes(attr(0x40, 3, [192, 0, 2, 1, 0])),
    expect: 'treat-as-withdraw',
    problem: /NEXT_HOP of length 5/,
  },
  {
    name: 'NEXT_HOP 0.0.0.0 (RFC 4271 §6.3)',
    message: withAttributes(attr(0x40, 3, [0, 0, 0, 0])),
    expect: 'treat-as-withdraw',
    problem: /not a host address/,
  },
  {
    name: 'NEXT_HOP multicast',
    message: withAttributes(attr(0x40, 3, [224, 0, 0, 5])),
    expect: 'treat-as-withdraw',
    problem: /not a host address/,
  },
  {
    name: 'MULTI_EXIT_DISC of length 3 (§7.4)',
    message: withAttributes(attr(0x80, 4, [0, 0, 1])),
    expect: 'treat-as-withdraw',
    problem: /MULTI_EXIT_DISC of length 3/,
  },
  {
    name: 'LOCAL_PREF from an external peer (§7.5)',
    message: withAttributes(attr(0x40, 5, [0, 0, 0, 100])),
    expect: 'accept',
    problem: /LOCAL_PREF from an external peer \(attribute discarded\)/,
    check: (a) => assert.equal(a.localPref, undefined),
  },
  {
    name: 'malformed LOCAL_PREF from an external peer is just discarded (§7.5)',
    message: withAttributes(attr(0x40, 5, [0, 100])),
    expect: 'accept',
    problem: /discarded/,
  },
  {
    name: 'LOCAL_PREF of length 2 from an internal peer (§7.5)',
    message: withAttributes(attr(0x40, 5, [0, 100])),
    ctx: IBGP4,
    expect: 'treat-as-withdraw',
    problem: /LOCAL_PREF of length 2/,
  },
  {
    name: 'LOCAL_PREF from an internal peer',
    message: withAttributes(attr(0x40, 5, [0, 0, 0, 100])),
    ctx: IBGP4,
    expect: 'accept',
    check: (a) => assert.equal(a.localPref, 100),
  },
  {
    name: 'ATOMIC_AGGREGATE of length 1 (§7.6)',
    message: withAttributes(attr(0x40, 6, [0])),
    expect: 'accept',
    problem: /ATOMIC_AGGREGATE of length 1 \(attribute discarded\)/,
    check: (a) => assert.equal(a.atomicAggregate, undefined),
  },
  {
    name: 'AGGREGATOR of length 7 on a 4-octet session (§7.7)',
    message: withAttributes(attr(0xc0, 7, [0, 0, 0xfd, 0xe9, 192, 0, 2])),
    expect: 'accept',
    problem: /AGGREGATOR of length 7 \(attribute discarded\)/,
    check: (a) => assert.equal(a.aggregator, undefined),
  },
  {
    name: 'AGGREGATOR of length 8 on a 2-octet session (§7.7)',
    message: withAttributes(asPath2([2, [65001]]), attr(0xc0, 7, [...u32(65001), 192, 0, 2, 1])),
    ctx: EBGP2,
    expect: 'accept',
    problem: /AGGREGATOR of length 8/,
  },
  {
    name: 'AGGREGATOR with AS 0 (RFC 7607)',
    message: withAttributes(attr(0xc0, 7, [...u32(0), 192, 0, 2, 1])),
    expect: 'accept',
    problem: /AGGREGATOR with AS 0/,
  },
  {
    name: 'COMMUNITIES of length 0 (§7.8)',
    message: withAttributes(attr(0xc0, 8, [])),
    expect: 'treat-as-withdraw',
    problem: /COMMUNITIES of length 0/,
  },
  {
    name: 'COMMUNITIES of length 5 (§7.8)',
    message: withAttributes(attr(0xc0, 8, [0, 0, 0, 1, 2])),
    expect: 'treat-as-withdraw',
    problem: /COMMUNITIES of length 5/,
  },
  {
    name: 'ORIGINATOR_ID of length 3 (§7.9)',
    message: withAttributes(attr(0x80, 9, [1, 2, 3])),
    ctx: IBGP4,
    expect: 'treat-as-withdraw',
    problem: /ORIGINATOR_ID/,
  },
  {
    name: 'CLUSTER_LIST of length 6 (§7.10)',
    message: withAttributes(attr(0x80, 10, [1, 2, 3, 4, 5, 6])),
    ctx: IBGP4,
    expect: 'treat-as-withdraw',
    problem: /CLUSTER_LIST/,
  },
  {
    name: 'ORIGINATOR_ID from an external peer is discarded (§7.9)',
    message: withAttributes(attr(0x80, 9, [192, 0, 2, 1])),
    expect: 'accept',
    problem: /ORIGINATOR_ID from an external peer \(attribute discarded\)/,
    check: (a) => assert.equal(a.originatorId, undefined),
  },
  {
    name: 'CLUSTER_LIST from an external peer is discarded (§7.10)',
    message: withAttributes(attr(0x80, 10, [224, 0, 0, 1])),
    expect: 'accept',
    problem: /CLUSTER_LIST from an external peer \(attribute discarded\)/,
    check: (a) => assert.equal(a.clusterList, undefined),
  },
  {
    name: 'EXTENDED_COMMUNITIES of length 12 (§7.14)',
    message: withAttributes(attr(0xc0, 16, new Array(12).fill(1))),
    expect: 'treat-as-withdraw',
    problem: /EXTENDED_COMMUNITIES/,
  },
  {
    name: 'LARGE_COMMUNITIES of length 8 (RFC 8092 §6)',
    message: withAttributes(attr(0xc0, 32, new Array(8).fill(1))),
    expect: 'treat-as-withdraw',
    problem: /LARGE_COMMUNITIES/,
  },
  {
    name: 'ORIGIN with the Optional bit (§3 c)',
    message: withAttributes(attr(0xc0, 1, [0])),
    expect: 'treat-as-withdraw',
    problem: /ORIGIN with conflicting flags 0xc0/,
  },
  {
    name: 'COMMUNITIES without the Transitive bit (§3 c)',
    message: withAttributes(attr(0x80, 8, [0, 0, 0, 1])),
    expect: 'treat-as-withdraw',
    problem: /conflicting flags/,
  },
  {
    name: 'the Partial bit on a well-known attribute is ignored',
    message: withAttributes(attr(0x60, 1, [0])),
    expect: 'accept',
  },
  {
    name: 'MP_REACH_NLRI with conflicting flags is still read so its NLRI can be withdrawn',
    message: update({ attributes: [attr(0xc0, 14, MP_REACH_V6.slice(3)), ORIGIN_IGP, AS_PATH_65001] }),
    expect: 'treat-as-withdraw',
    check: (a) => assert.deepEqual(a.mpReach?.nlri, ['2001:db8::/32']),
  },
  {
    name: 'AS4_PATH on a 4-octet session (RFC 6793)',
    message: withAttributes(as4Path([2, [1]])),
    expect: 'accept',
    problem: /AS4_PATH on a 4-octet AS session \(attribute discarded\)/,
  },
  {
    name: 'AS4_AGGREGATOR on a 4-octet session (RFC 6793)',
    message: withAttributes(attr(0xc0, 18, [...u32(1), 1, 2, 3, 4])),
    expect: 'accept',
    problem: /AS4_AGGREGATOR on a 4-octet/,
  },
  {
    name: 'malformed AS4_PATH on a 2-octet session (RFC 6793 §6)',
    message: withAttributes(asPath2([2, [65001, 23456]]), attr(0xc0, 17, [2, 3, ...u32(1)])),
    ctx: EBGP2,
    expect: 'accept',
    problem: /malformed AS4_PATH.*discarded/,
    check: (a) => assert.deepEqual(a.asPath, [{ type: 2, asns: [65001, 23456] }]),
  },
  {
    name: 'AS4_AGGREGATOR of length 6 on a 2-octet session',
    message: withAttributes(asPath2([2, [65001]]), attr(0xc0, 18, [0, 1, 1, 2, 3, 4])),
    ctx: EBGP2,
    expect: 'accept',
    problem: /AS4_AGGREGATOR of length 6/,
  },
  {
    name: 'unknown optional transitive attribute is kept',
    message: withAttributes(attr(0xc0, 99, [1, 2, 3])),
    expect: 'accept',
    check: (a) => assert.deepEqual(a.unknown, [{ flags: 0xc0, type: 99, value: Uint8Array.of(1, 2, 3) }]),
  },
  {
    name: 'unrecognized well-known attribute (RFC 4271 §6.3)',
    message: withAttributes(attr(0x40, 99, [1])),
    expect: [3, 2],
  },
  {
    name: 'duplicate COMMUNITIES: all but the first discarded (§3 g)',
    message: withAttributes(attr(0xc0, 8, [0, 0, 0, 1]), attr(0xc0, 8, [0, 0, 0, 2])),
    expect: 'accept',
    problem: /COMMUNITIES appears more than once/,
    check: (a) => assert.deepEqual(a.communities, [1]),
  },
  {
    name: 'duplicate MP_REACH_NLRI (§3 g)',
    message: update({ attributes: [MP_REACH_V6, MP_REACH_V6, ORIGIN_IGP, AS_PATH_65001] }),
    expect: [3, 1],
  },
  {
    name: 'duplicate MP_UNREACH_NLRI (§3 g)',
    message: update({ attributes: [MP_UNREACH_V6, MP_UNREACH_V6] }),
    expect: [3, 1],
  },
  {
    name: 'MP_REACH_NLRI of length 3 (RFC 4760 §7)',
    message: update({ attributes: [attr(0x80, 14, [0, 2, 1]), ORIGIN_IGP, AS_PATH_65001] }),
    expect: [3, 9],
  },
  {
    name: 'MP_REACH_NLRI next hop longer than it',
    message: update({ attributes: [attr(0x80, 14, [0, 2, 1, 16, 0, 0])] }),
    expect: [3, 9],
  },
  {
    name: 'MP_REACH_NLRI next hop length 5 for IPv6 (§7.11)',
    message: update({ attributes: [attr(0x80, 14, [0, 2, 1, 5, 1, 2, 3, 4, 5, 0])] }),
    expect: [3, 9],
  },
  {
    name: 'MP_REACH_NLRI prefix longer than 128 bits',
    message: update({
      attributes: [attr(0x80, 14, [...MP_REACH_V6.slice(3, 24), 129, 0x20]), ORIGIN_IGP, AS_PATH_65001],
    }),
    expect: [3, 9],
  },
  { name: 'MP_UNREACH_NLRI of length 2', message: update({ attributes: [attr(0x80, 15, [0, 2])] }), expect: [3, 9] },
  {
    name: 'MP_UNREACH_NLRI prefix overrunning it',
    message: update({ attributes: [attr(0x80, 15, [0, 2, 1, 64, 0x20, 1])] }),
    expect: [3, 9],
  },
  {
    name: 'MP_REACH_NLRI of a family we do not read is discarded',
    message: update({
      attributes: [attr(0x80, 14, [0, 1, 128, 4, 1, 2, 3, 4, 0, 1, 2, 3]), ORIGIN_IGP, AS_PATH_65001],
    }),
    expect: 'accept',
    problem: /AFI 1 SAFI 128/,
  },
  {
    name: 'missing ORIGIN with NLRI (§3 d)',
    message: update({ attributes: [AS_PATH_65001, NEXT_HOP], nlri: NLRI_10_8 }),
    expect: 'treat-as-withdraw',
    problem: /missing well-known attribute ORIGIN/,
  },
  {
    name: 'missing NEXT_HOP with IPv4 NLRI (§3 d)',
    message: update({ attributes: [ORIGIN_IGP, AS_PATH_65001], nlri: NLRI_10_8 }),
    expect: 'treat-as-withdraw',
    problem: /NEXT_HOP/,
  },
  { name: 'no attributes at all with NLRI (§3 d)', message: update({ nlri: NLRI_10_8 }), expect: 'treat-as-withdraw' },
  {
    name: 'MP_REACH_NLRI without NEXT_HOP is complete',
    message: update({ attributes: [MP_REACH_V6, ORIGIN_IGP, AS_PATH_65001] }),
    expect: 'accept',
  },
  {
    name: 'missing AS_PATH with MP_REACH_NLRI (§3 d)',
    message: update({ attributes: [MP_REACH_V6, ORIGIN_IGP] }),
    expect: 'treat-as-withdraw',
    problem: /AS_PATH/,
  },
  { name: 'withdrawals need no attributes', message: update({ withdrawn: NLRI_10_8 }), expect: 'accept' },
  {
    name: 'MP_UNREACH_NLRI needs no attributes (§3 e)',
    message: update({ attributes: [MP_UNREACH_V6] }),
    expect: 'accept',
  },
  {
    name: 'attribute overrunning the list: treat-as-withdraw, NLRI found by the total length (§4)',
    message: update({ attributes: [ORIGIN_IGP, AS_PATH_65001, NEXT_HOP, [0xc0, 8, 10, 0, 0, 0, 1]], nlri: NLRI_10_8 }),
    expect: 'treat-as-withdraw',
    problem: /overruns the attribute list/,
    check: (_, nlri) => assert.deepEqual(nlri.map(formatIpv4Prefix), ['10.0.0.0/8']),
  },
  {
    name: 'stray bytes at the end of the attribute list (§4)',
    message: update({ attributes: [ORIGIN_IGP, AS_PATH_65001, NEXT_HOP, [0x40, 1]], nlri: NLRI_10_8 }),
    expect: 'treat-as-withdraw',
    problem: /stray bytes/,
  },
  {
    name: 'MP_REACH_NLRI overrunning the list: its NLRI is lost',
    message: update({ attributes: [ORIGIN_IGP, AS_PATH_65001, NEXT_HOP, [0x80, 14, 40, 0, 2, 1]], nlri: NLRI_10_8 }),
    expect: [3, 1],
  },
  {
    name: 'malformed attribute and no NLRI to withdraw (§5.2)',
    message: update({ withdrawn: NLRI_10_8, attributes: [attr(0x40, 1, [9])] }),
    expect: [3, 1],
  },
  {
    name: 'withdrawn routes length overruns the message',
    message: message(MessageType.Update, [0, 10, 8, 10, 0, 0]),
    expect: [3, 1],
  },
  {
    name: 'total attribute length overruns the message',
    message: message(MessageType.Update, [0, 0, 0, 10, ...ORIGIN_IGP]),
    expect: [3, 1],
  },
  {
    name: 'NLRI prefix length 33',
    message: update({ attributes: [ORIGIN_IGP, AS_PATH_65001, NEXT_HOP], nlri: [33, 10, 0, 0, 0, 0] }),
    expect: [3, 10],
  },
  {
    name: 'NLRI prefix truncated',
    message: update({ attributes: [ORIGIN_IGP, AS_PATH_65001, NEXT_HOP], nlri: [24, 10, 0] }),
    expect: [3, 10],
  },
  { name: 'withdrawn prefix length 40', message: update({ withdrawn: [40, 1, 2, 3, 4, 5] }), expect: [3, 10] },
  {
    name: 'several errors: the strongest action wins (§3 b)',
    message: withAttributes(attr(0x40, 6, [1]), attr(0x80, 4, [1])),
    expect: 'treat-as-withdraw',
    problem: /ATOMIC_AGGREGATE.*discarded.*MULTI_EXIT_DISC.*treat-as-withdraw/,
  },
  {
    name: 'host bits in NLRI are cleared',
    message: update({
      attributes: [ORIGIN_IGP, AS_PATH_65001, NEXT_HOP],
      nlri: [8, 10, 20, 10, 255, 0xff, 0, 32, 1, 2, 3, 4, 1, 0xff],
    }),
    expect: 'accept',
    check: (_, nlri) =>
      assert.deepEqual(nlri.map(formatIpv4Prefix), [
        '10.0.0.0/8',
        '10.255.240.0/20',
        '0.0.0.0/0',
        '1.2.3.4/32',
        '128.0.0.0/1',
      ]),
  },
];

describe('RFC 7606 error handling', () => {
  for (const c of RFC7606_CASES) {
    it(c.name, () => {
      const ctx = c.ctx ?? EBGP4;
      if (Array.isArray(c.expect)) {
        assertBgpError(() => decodeUpdate(c.message, ctx), c.expect[0], c.expect[1]);
        assertBgpError(() => decodeMessage(c.message, ctx), c.expect[0], c.expect[1]);
        return;
      }
      const decoded = decodeUpdate(c.message, ctx);
      assert.equal(decoded.action, c.expect, decoded.problems.join('; '));
      if (c.problem) assert.match(decoded.problems.join('; '), c.problem);
      else if (c.expect === 'accept') assert.deepEqual(decoded.problems, []);
      c.check?.(decoded.update.attributes, decoded.update.nlri);
    });
  }

  it('reports an unrecognized well-known attribute with the attribute as data', () => {
    assertBgpError(() => decodeUpdate(withAttributes(attr(0x40, 99, [1])), EBGP4), 3, 2, Uint8Array.of(0x40, 99, 1, 1));
  });
});

describe('UPDATE packing and End-of-RIB', () => {
  const raw = encodeAttributes({ origin: 0, asPath: [{ type: 2, asns: [64512] }], nextHop: '192.0.2.1' }, EBGP4);

  function decodeAll(messages: Uint8Array[]) {
    return messages.map((m) => decodeUpdate(m, EBGP4).update);
  }

  it('packs NLRI tightly into messages of at most the size asked for', () => {
    const mixed = [...keys(2000, 24), ...keys(500, 32), ...keys(100, 9), ...keys(50, 17), 0];
    for (const max of [4096, 65535, 200]) {
      const messages = encodeUpdates(raw, mixed, max);
      const decoded = decodeAll(messages);
      assert.deepEqual(
        decoded.flatMap((u) => u.nlri),
        mixed,
      );
      for (const [i, m] of messages.entries()) {
        assert.ok(m.length <= max);
        assert.equal(toHex(decoded[i].rawAttributes), toHex(raw));
        const next = mixed[decoded.slice(0, i + 1).reduce((n, u) => n + u.nlri.length, 0)];
        if (next !== undefined) assert.ok(m.length + 1 + (((next & 63) + 7) >> 3) > max, 'a message left room');
      }
    }
    assert.deepEqual(encodeUpdates(raw, []), []);
    assert.throws(() => encodeUpdates(new Uint8Array(4080), [0]), RangeError);
  });

  it('writes withdrawals the same way', () => {
    const withdrawn = [...keys(3000, 24), ...keys(3, 32)];
    const messages = encodeWithdrawals(withdrawn);
    const decoded = decodeAll(messages);
    assert.deepEqual(
      decoded.flatMap((u) => u.withdrawn),
      withdrawn,
    );
    assert.ok(decoded.every((u) => u.nlri.length === 0 && u.rawAttributes.length === 0));
    assert.ok(messages.every((m) => m.length <= 4096));
  });

  it('writes and recognises End-of-RIB markers', () => {
    assert.equal(toHex(encodeEndOfRib(1, 1)), `${'ff'.repeat(16)}00170200000000`);
    assert.equal(toHex(encodeEndOfRib(2, 1)), `${'ff'.repeat(16)}001d0200000006800f03000201`);
    assert.deepEqual(isEndOfRib(decodeUpdate(encodeEndOfRib(1, 1), EBGP4).update), { afi: 1, safi: 1 });
    assert.deepEqual(isEndOfRib(decodeUpdate(encodeEndOfRib(2, 1), EBGP4).update), { afi: 2, safi: 1 });
    assert.deepEqual(isEndOfRib(decodeUpdate(encodeEndOfRib(1, 128), EBGP4).update), { afi: 1, safi: 128 });
    const extendedFlag = update({ attributes: [attr(0x90, 15, [0, 2, 1])] });
    assert.deepEqual(isEndOfRib(decodeUpdate(extendedFlag, EBGP4).update), { afi: 2, safi: 1 });
    for (const notEor of [
      update({ withdrawn: NLRI_10_8 }),
      update({ attributes: [MP_UNREACH_V6] }),
      update({ attributes: [attr(0x80, 15, [0, 2, 1]), ORIGIN_IGP] }),
      encodeUpdates(raw, [0])[0],
    ]) {
      assert.equal(isEndOfRib(decodeUpdate(notEor, EBGP4).update), undefined);
    }
  });
});

describe('captures of BIRD 2 and GoBGP', () => {
  for (const [name, ctx] of Object.entries(FIXTURE_CONTEXTS)) {
    const captured = loadFixture(name);

    it(`${name}: every message decodes and re-encodes`, () => {
      let exactAttributes = 0;
      let exactMessages = 0;
      for (const { from, bytes } of captured) {
        const decoded = decodeMessage(bytes, ctx);
        const reencoded = reencode(decoded, from, ctx);
        if (reencoded === undefined) continue;
        assert.equal(toHex(reencoded), toHex(bytes));
        exactMessages++;
      }
      for (const { bytes } of captured.filter((m) => m.bytes[18] === MessageType.Update)) {
        const { update: u, action, problems } = decodeUpdate(bytes, ctx);
        assert.equal(action, 'accept');
        assert.deepEqual(problems, []);
        const attributes = encodeAttributes(u.attributes, ctx);
        if (isCanonicalLayout(u.rawAttributes)) {
          assert.equal(toHex(attributes), toHex(u.rawAttributes));
          exactAttributes++;
        } else {
          const again = decodeUpdate(update({ attributes: [[...attributes]] }), ctx);
          assert.deepEqual(again.update.attributes, u.attributes);
        }
      }
      assert.ok(exactMessages >= 20, `${exactMessages} messages re-encoded byte-exactly`);
      assert.ok(exactAttributes >= 10, `${exactAttributes} attribute sets re-encoded byte-exactly`);
    });

    it(`${name}: what BIRD and GoBGP sent`, () => {
      const opens = captured
        .filter((m) => m.bytes[18] === MessageType.Open)
        .map((m) => ({ from: m.from, open: decodeOpen(m.bytes) }));
      const bird = opens.find((o) => o.from === 'bird')!.open;
      const gobgp = opens.find((o) => o.from === 'gobgp')!.open;
      assert.equal(bird.myAs, 65001);
      assert.equal(bird.capabilities.extendedMessages, true);
      assert.equal(bird.capabilities.enhancedRouteRefresh, true);
      assert.equal(bird.capabilities.fourOctetAs, ctx.fourOctetAs ? 65001 : undefined);
      assert.equal(gobgp.myAs, 23456);
      assert.equal(gobgp.capabilities.fourOctetAs, 4200000002);
      assert.deepEqual(
        gobgp.capabilities.gracefulRestart?.families.map((f) => [f.afi, f.safi]),
        [
          [1, 1],
          [2, 1],
        ],
      );

      const updates = captured
        .filter((m) => m.bytes[18] === MessageType.Update)
        .map((m) => ({ from: m.from, update: decodeUpdate(m.bytes, ctx).update }));
      const fromGobgp = updates.filter((u) => u.from === 'gobgp').map((u) => u.update);
      const rich = fromGobgp.find((u) => u.nlri.map(formatIpv4Prefix).includes('10.1.0.0/24'))!;
      assert.deepEqual(rich.attributes.asPath, [
        { type: AsPathSegmentType.AsSequence, asns: [4200000002, 65010] },
        { type: AsPathSegmentType.AsSet, asns: [65020, 4200000030] },
      ]);
      assert.deepEqual(rich.attributes.aggregator, { asn: 4200000002, address: '192.0.2.2' });
      assert.equal(rich.attributes.med, 50);
      assert.deepEqual(
        rich.attributes.communities,
        [(65002 << 16) + 100, (65002 << 16) + 200].map((c) => c >>> 0),
      );
      assert.deepEqual(rich.attributes.largeCommunities, [
        [4200000002, 1, 2],
        [65002, 3, 4],
      ]);
      assert.deepEqual(rich.attributes.extendedCommunities, ['0002fdea00000007']);
      const v6 = fromGobgp.find((u) => u.attributes.mpReach)!;
      assert.deepEqual(v6.attributes.mpReach, {
        afi: 2,
        safi: 1,
        nextHops: ['2001:db8::2'],
        nlri: ['2001:db8:200::/48'],
      });

      const fromBird = updates.filter((u) => u.from === 'bird').map((u) => u.update);
      const tagged = fromBird.find((u) => u.nlri.map(formatIpv4Prefix).includes('10.30.0.0/16'))!;
      assert.deepEqual(tagged.attributes.asPath, [{ type: 2, asns: [65001, 4200000009] }]);
      assert.equal(tagged.attributes.med, 77);
      assert.deepEqual(tagged.attributes.largeCommunities, [[65001, 1, 2]]);
      const announced = fromBird.flatMap((u) => u.nlri).map(formatIpv4Prefix);
      assert.equal(announced.filter((p) => p.startsWith('10.20.')).length, 300);
      assert.equal(fromBird.flatMap((u) => u.withdrawn).length, 302);
      assert.deepEqual(fromBird.map(isEndOfRib).filter(Boolean), [
        { afi: 2, safi: 1 },
        { afi: 1, safi: 1 },
        { afi: 1, safi: 1 },
        { afi: 2, safi: 1 },
      ]);

      const notifications = captured
        .filter((m) => m.bytes[18] === MessageType.Notification)
        .map((m) => decodeMessage(m.bytes, ctx) as NotificationMessage);
      assert.deepEqual(
        notifications.map((n) => [n.code, n.subcode, n.shutdownText]),
        [
          [6, 2, 'tabby fixture: maintenance ✓'],
          [6, 4, 'gobgp reset for the fixture'],
        ],
      );
    });
  }
});

/** The message written again from its decoded form, where our encoder makes the same choices as the sender. */
function reencode(decoded: BgpMessage, from: string, ctx: SessionCodecContext): Uint8Array | undefined {
  switch (decoded.type) {
    case MessageType.Open:
      // BIRD orders capabilities as we do; GoBGP has an order of its own.
      return from === 'bird' ? encodeOpen(decoded) : undefined;
    case MessageType.Update: {
      const { withdrawn, nlri, rawAttributes, attributes } = decoded;
      if (withdrawn.length > 0 && nlri.length === 0 && rawAttributes.length === 0) {
        const messages = encodeWithdrawals(withdrawn);
        return messages.length === 1 ? messages[0] : undefined;
      }
      if (withdrawn.length === 0 && nlri.length > 0) {
        const messages = encodeUpdates(rawAttributes, nlri);
        return messages.length === 1 ? messages[0] : undefined;
      }
      const eor = isEndOfRib(decoded);
      if (eor) return encodeEndOfRib(eor.afi, eor.safi);
      return isCanonicalLayout(rawAttributes) && withdrawn.length === 0 && nlri.length === 0
        ? update({ attributes: [[...encodeAttributes(attributes, ctx)]] })
        : undefined;
    }
    case MessageType.Notification:
      return encodeNotification(decoded.code, decoded.subcode, decoded.data);
    case MessageType.Keepalive:
      return encodeKeepalive();
    case MessageType.RouteRefresh:
      return encodeRouteRefresh(decoded.afi, decoded.safi, decoded.subtype);
  }
}

/** Small seeded PRNG (mulberry32), so the fuzz run is the same every time. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('fuzzing', () => {
  it('random mutations of valid messages only ever yield a result or a BgpError', () => {
    const seeds: Uint8Array[] = [
      ...Object.keys(FIXTURE_CONTEXTS).flatMap((name) => loadFixture(name).map((m) => m.bytes)),
      encodeOpen(FULL_OPEN),
      update({ attributes: [[...encodeAttributes(EVERY_ATTRIBUTE, IBGP4)]], nlri: NLRI_10_8 }),
      update({ attributes: [[...encodeAttributes(EVERY_ATTRIBUTE, EBGP2)]], nlri: NLRI_10_8 }),
      ...RFC7606_CASES.map((c) => c.message),
      encodeNotification(6, 2, undefined, 'fuzz ✓'),
      encodeRouteRefresh(1, 1, 1),
    ];
    const random = mulberry32(0x7abb1);
    const pick = (n: number) => Math.floor(random() * n);
    const contexts = [EBGP4, EBGP2, IBGP4, { fourOctetAs: false, ibgp: true }];
    let errors = 0;
    let results = 0;
    const codes = new Set<string>();
    for (let iteration = 0; iteration < 20000; iteration++) {
      const bytes = [...seeds[pick(seeds.length)]];
      const mutations = 1 + pick(4);
      for (let m = 0; m < mutations; m++) {
        const at = 19 + pick(Math.max(1, bytes.length - 19));
        switch (pick(5)) {
          case 0:
            bytes[at] = pick(256);
            break;
          case 1:
            bytes[at] ^= 1 << pick(8);
            break;
          case 2:
            bytes.splice(at, 1 + pick(8));
            break;
          case 3:
            bytes.splice(at, 0, ...Array.from({ length: 1 + pick(8) }, () => pick(256)));
            break;
          default:
            bytes.length = Math.max(19, at);
        }
      }
      // Mostly keep the header length right, so the mutation reaches the body decoders.
      if (random() < 0.9) {
        bytes[16] = (bytes.length >> 8) & 0xff;
        bytes[17] = bytes.length & 0xff;
      } else if (random() < 0.5) {
        bytes[pick(19)] = pick(256);
      }
      const input = Uint8Array.from(bytes);
      const ctx = contexts[pick(contexts.length)];
      // decodeMessage is what sessions call; the typed decoders also get every input, whatever its type byte.
      try {
        decodeMessage(input, ctx);
        results++;
      } catch (error) {
        if (!(error instanceof BgpError)) assert.fail(`iteration ${iteration}: ${error} for ${toHex(input)}`);
        errors++;
        codes.add(`${error.code}/${error.subcode}`);
      }
      for (const decode of [() => decodeUpdate(input, ctx), () => decodeOpen(input)]) {
        try {
          decode();
        } catch (error) {
          if (!(error instanceof BgpError)) assert.fail(`iteration ${iteration}: ${error} for ${toHex(input)}`);
        }
      }
      const reader = new MessageReader({ extendedMessages: random() < 0.5 });
      try {
        for (let pos = 0; pos < input.length; pos += 7) {
          reader.push(input.subarray(pos, pos + 7));
          while (reader.next());
        }
      } catch (error) {
        if (!(error instanceof BgpError)) assert.fail(`iteration ${iteration}: reader threw ${error}`);
      }
    }
    // Both outcomes must be common and the errors varied, or the mutations are not exercising the decoders.
    assert.ok(results > 2000 && errors > 2000, `results ${results}, errors ${errors}`);
    assert.ok(codes.size >= 10, [...codes].join());
  });
});
