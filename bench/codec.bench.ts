// The BGP codec alone, on the speaker's hot paths (DESIGN §4: 1,000,000 prefixes ingested about as fast as BIRD):
//   encode   encodeUpdates of 1,000,000 /24s behind one shared attribute encoding (goal: well under 200 ms)
//   frame    MessageReader over those messages arriving in 64 KiB TCP-sized chunks
//   decode   decodeUpdate of every message (RFC 7606 checks included)
//   ingest   frame + decode together, what a session does per chunk
//   small    decodeUpdate of 100,000 UPDATEs of one prefix each with attributes of their own (per-UPDATE cost)
// Best of ROUNDS runs after a warm-up; prints ns per prefix, asserts nothing.
import { performance } from 'node:perf_hooks';
import {
  AsPathSegmentType,
  decodeUpdate,
  encodeAttributes,
  encodeUpdates,
  type Ipv4PrefixKey,
  ipv4PrefixKey,
  MessageReader,
  type SessionCodecContext,
} from '../bgp/packet';

const PREFIXES = 1_000_000;
const SMALL_UPDATES = 100_000;
const ROUNDS = 5;
const CHUNK = 64 * 1024;
const CTX: SessionCodecContext = { fourOctetAs: true, ibgp: false };

/** Prefix i: a /24 counting up from 16.0.0.0 (1,000,000 of them reach 31.66.63.0/24). */
function prefixes(count: number): Ipv4PrefixKey[] {
  return Array.from({ length: count }, (_, i) => ipv4PrefixKey(16 * 2 ** 24 + i * 256, 24));
}

function best(work: () => void): number {
  work();
  let fastest = Number.POSITIVE_INFINITY;
  for (let round = 0; round < ROUNDS; round++) {
    const started = performance.now();
    work();
    fastest = Math.min(fastest, performance.now() - started);
  }
  return fastest;
}

function chunks(messages: Uint8Array[]): Uint8Array[] {
  const stream = Buffer.concat(messages);
  const out: Uint8Array[] = [];
  for (let pos = 0; pos < stream.length; pos += CHUNK) out.push(stream.subarray(pos, pos + CHUNK));
  return out;
}

function main(): void {
  const keys = prefixes(PREFIXES);
  const attributes = encodeAttributes(
    {
      origin: 0,
      asPath: [{ type: AsPathSegmentType.AsSequence, asns: [65000, 64512, 4200000001] }],
      nextHop: '192.0.2.1',
      med: 10,
      communities: [(64512 * 65536 + 100) >>> 0],
      largeCommunities: [[4200000001, 1, 2]],
    },
    CTX,
  );
  const messages = encodeUpdates(attributes, keys);
  const stream = chunks(messages);

  let sink = 0;
  const encodeMs = best(() => {
    sink += encodeUpdates(attributes, keys).length;
  });
  const frameMs = best(() => {
    const reader = new MessageReader();
    for (const chunk of stream) {
      reader.push(chunk);
      for (let m = reader.next(); m; m = reader.next()) sink += m.length;
    }
  });
  const decodeMs = best(() => {
    for (const message of messages) sink += decodeUpdate(message, CTX).update.nlri.length;
  });
  const ingestMs = best(() => {
    const reader = new MessageReader();
    for (const chunk of stream) {
      reader.push(chunk);
      for (let m = reader.next(); m; m = reader.next()) sink += decodeUpdate(m, CTX).update.nlri.length;
    }
  });
  // One prefix per UPDATE, each with a MED of its own: the attribute list is decoded every time.
  const small = keys.slice(0, SMALL_UPDATES).map((key, i) => {
    const own = encodeAttributes(
      {
        origin: 0,
        asPath: [{ type: AsPathSegmentType.AsSequence, asns: [65000, 64512] }],
        nextHop: '192.0.2.1',
        med: i,
      },
      CTX,
    );
    return encodeUpdates(own, [key])[0];
  });
  const smallMs = best(() => {
    for (const message of small) sink += decodeUpdate(message, CTX).update.nlri.length;
  });
  if (sink === 0) throw new Error('nothing was measured');

  const bytes = messages.reduce((n, m) => n + m.length, 0);
  console.log(
    `${PREFIXES.toLocaleString('en')} IPv4 /24 prefixes in ${messages.length} UPDATEs of up to 4096 bytes ` +
      `(${(bytes / 1e6).toFixed(1)} MB, ${attributes.length} bytes of shared attributes); best of ${ROUNDS}`,
  );
  const row = (what: string, ms: number) =>
    console.log(
      `  ${what.padEnd(40)} ${ms.toFixed(1).padStart(7)} ms  ${((ms * 1e6) / PREFIXES).toFixed(1).padStart(6)} ns/prefix`,
    );
  row('encode (encodeUpdates)', encodeMs);
  row('frame (MessageReader, 64 KiB chunks)', frameMs);
  row('decode (decodeUpdate)', decodeMs);
  row('ingest (frame + decode)', ingestMs);
  console.log(
    `  ${'decode, 1 prefix per UPDATE'.padEnd(40)} ${smallMs.toFixed(1).padStart(7)} ms  ` +
      `${((smallMs * 1e6) / SMALL_UPDATES).toFixed(1).padStart(6)} ns/UPDATE (${SMALL_UPDATES.toLocaleString('en')} UPDATEs)`,
  );
}

main();
