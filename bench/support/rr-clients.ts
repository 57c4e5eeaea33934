// The route-reflector benchmark's clients, all in one process run in a network namespace of its own: N iBGP
// sessions to the reflector under test, session i from local address i, each doing the OPEN/KEEPALIVE handshake
// with tabby's codec and then announcing its own PREFIXES_PER_CLIENT prefixes (NEXT_HOP = its own address). Every
// session counts the distinct client prefixes reflected to it; it is converged when it holds everybody else's.
// It reports on stdout, one line each, times in ms on a clock shared by all processes of the machine
// (performance.timeOrigin + performance.now()):
//   connecting <t>                                  the first connect() is issued
//   established <t>                                 every session is established
//   converged <t>                                   every session holds all (N − 1) × PREFIXES_PER_CLIENT
//   progress <t> <established> <converged> <prefixes received>   once a second, for a timeout's report
// Anything unexpected (a NOTIFICATION, a session closing) ends it with exit code 1 and a line on stderr.
import net from 'node:net';
import { parseArgs } from 'node:util';
import {
  AFI_IPV4,
  decodeNotification,
  decodeOpen,
  encodeAttributes,
  encodeKeepalive,
  encodeOpen,
  encodeUpdates,
  HEADER_LENGTH,
  type Ipv4PrefixKey,
  ipv4PrefixAddress,
  ipv4PrefixKey,
  ipv4PrefixLength,
  MessageReader,
  MessageType,
  Origin,
  SAFI_UNICAST,
} from '../../bgp/packet';
import { decodeIpv4Prefixes } from '../../bgp/packet/prefix';
import { failAs, now, report } from './report';

const HOLD_TIME_SEC = 240;
const KEEPALIVE_MS = 30_000;
const PROGRESS_MS = 1_000;
/** Client prefixes are /24s counting up from 10.0.0.0/24: prefix j of client i is block i × PREFIXES_PER_CLIENT + j. */
const FIRST_BLOCK = 10 << 16;
const PREFIXES_PER_CLIENT = 10;

function fail(message: string): never {
  return failAs('rr-clients', message);
}

const USAGE = 'Usage: rr-clients --peer ADDR --as ASN --local ADDR,ADDR,...';

function clientPrefix(client: number, j: number): Ipv4PrefixKey {
  return ipv4PrefixKey((FIRST_BLOCK + client * PREFIXES_PER_CLIENT + j) * 256, 24);
}

/** The block number of a client prefix among `blocks`, or -1 for anything else. */
function blockOf(key: Ipv4PrefixKey, blocks: number): number {
  if (ipv4PrefixLength(key) !== 24) return -1;
  const block = ipv4PrefixAddress(key) / 256 - FIRST_BLOCK;
  return block >= 0 && block < blocks ? block : -1;
}

function announcement(client: number, nextHop: string, asNumber: number): Uint8Array[] {
  const keys = Array.from({ length: PREFIXES_PER_CLIENT }, (_, j) => clientPrefix(client, j));
  // iBGP: an empty AS_PATH and a LOCAL_PREF, as a real client would send.
  const attributes = encodeAttributes(
    { origin: Origin.Igp, asPath: [], nextHop, localPref: 100 },
    { fourOctetAs: asNumber > 0xffff, ibgp: true },
  );
  return encodeUpdates(attributes, keys);
}

/** The client prefixes announced in one UPDATE (header included). */
function announcedKeys(message: Uint8Array): Ipv4PrefixKey[] {
  const attributesLengthAt = HEADER_LENGTH + 2 + ((message[19] << 8) | message[20]);
  const nlriStart = attributesLengthAt + 2 + ((message[attributesLengthAt] << 8) | message[attributesLengthAt + 1]);
  const keys: Ipv4PrefixKey[] = [];
  if (!decodeIpv4Prefixes(message, nlriStart, message.length, keys)) fail('malformed NLRI in an UPDATE');
  return keys;
}

interface Options {
  peer: string;
  asNumber: number;
  locals: string[];
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: { peer: { type: 'string' }, as: { type: 'string' }, local: { type: 'string' } },
  });
  if (!values.peer || !values.as || !values.local) fail(USAGE);
  const asNumber = Number(values.as);
  if (!Number.isInteger(asNumber) || asNumber < 1) fail(`--as must be a positive integer, got "${values.as}"`);
  return { peer: values.peer, asNumber, locals: values.local.split(',') };
}

function main(): void {
  const { peer, asNumber, locals } = parseOptions(process.argv.slice(2));
  const clients = locals.length;
  const expected = (clients - 1) * PREFIXES_PER_CLIENT;
  const blocks = clients * PREFIXES_PER_CLIENT;
  let establishedCount = 0;
  let convergedCount = 0;
  let received = 0;

  const connect = (client: number) => {
    const local = locals[client];
    // One byte per client prefix: which of them this session has received.
    const seen = new Uint8Array(blocks);
    let distinct = 0;
    let established = false;
    const socket = net.connect({ host: peer, port: 179, localAddress: local });
    socket.setNoDelay(true);
    socket.on('connect', () => {
      socket.write(
        encodeOpen({
          version: 4,
          myAs: asNumber,
          holdTime: HOLD_TIME_SEC,
          bgpId: local,
          capabilities: {
            multiprotocol: [[AFI_IPV4, SAFI_UNICAST]],
            routeRefresh: true,
            enhancedRouteRefresh: false,
            fourOctetAs: asNumber,
            unknown: [],
          },
        }),
      );
    });
    socket.on('error', (err) => fail(`${local} → ${peer}: ${err.message}`));
    socket.on('close', () => fail(`${peer} closed the session from ${local}`));

    const receive = (message: Uint8Array) => {
      switch (message[18]) {
        case MessageType.Open:
          decodeOpen(message);
          socket.write(encodeKeepalive());
          break;
        case MessageType.Keepalive:
          if (established) break;
          established = true;
          for (const update of announcement(client, local, asNumber)) socket.write(update);
          setInterval(() => socket.write(encodeKeepalive()), KEEPALIVE_MS);
          establishedCount++;
          if (establishedCount === clients) report(`established ${now()}`);
          break;
        case MessageType.Notification: {
          const n = decodeNotification(message);
          fail(`NOTIFICATION ${n.code}/${n.subcode} to ${local}${n.shutdownText ? `: ${n.shutdownText}` : ''}`);
          break;
        }
        case MessageType.Update: {
          if (distinct === expected) break;
          for (const key of announcedKeys(message)) {
            const block = blockOf(key, blocks);
            // Its own prefixes reflected back would be a reflector bug; they do not count toward convergence.
            if (block < 0 || seen[block] === 1 || Math.floor(block / PREFIXES_PER_CLIENT) === client) continue;
            seen[block] = 1;
            distinct++;
            received++;
          }
          if (distinct === expected) {
            convergedCount++;
            if (convergedCount === clients) report(`converged ${now()}`);
          }
          break;
        }
      }
    };
    const reader = new MessageReader();
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      for (let message = reader.next(); message; message = reader.next()) receive(message);
    });
  };

  report(`connecting ${now()}`);
  for (let client = 0; client < clients; client++) connect(client);
  setInterval(() => report(`progress ${now()} ${establishedCount} ${convergedCount} ${received}`), PROGRESS_MS).unref();
}

main();
