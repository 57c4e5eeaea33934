// A BGP peer for the BGP benchmark, run in a network namespace of its own. It connects to the daemon under test,
// does the OPEN/KEEPALIVE handshake with tabby's codec, and then, by mode:
//   feed  waits for SIGUSR1, then writes the pre-encoded feed (./update-feed) as fast as the socket takes it
//   sink  marks every feed prefix the daemon announces to it
// It reports on stdout, one line each, times in ms on a clock shared by all processes of the machine
// (performance.timeOrigin + performance.now(), so the benchmark can subtract one process's times from another's):
//   established <t>        the handshake is done
//   sending <t> <bytes>    (feed) the first UPDATE byte goes to the socket
//   sent <t>               (feed) the kernel has taken the last byte
//   complete <t>           (sink) every prefix of the feed has arrived
// Anything unexpected (a NOTIFICATION, the session closing) ends it with exit code 1 and a line on stderr.
import net from 'node:net';
import { parseArgs } from 'node:util';
import {
  AFI_IPV4,
  decodeNotification,
  decodeOpen,
  encodeKeepalive,
  encodeOpen,
  MessageReader,
  MessageType,
  SAFI_UNICAST,
} from '../../bgp/packet';
import { failAs, now, report } from './report';
import { encodeFeed, markAnnounced } from './update-feed';

const HOLD_TIME_SEC = 240;
const KEEPALIVE_MS = 30_000;

function fail(message: string): never {
  return failAs('update-feeder', message);
}

const USAGE = `Usage: update-feeder feed|sink --peer ADDR --local ADDR --as ASN --prefixes N [--attribute-sets K]`;

interface Options {
  mode: 'feed' | 'sink';
  peer: string;
  local: string;
  asNumber: number;
  prefixes: number;
  attributeSets: number;
}

function parseOptions(argv: string[]): Options {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      peer: { type: 'string' },
      local: { type: 'string' },
      as: { type: 'string' },
      prefixes: { type: 'string' },
      'attribute-sets': { type: 'string', default: '1' },
    },
    allowPositionals: true,
  });
  const [mode] = positionals;
  if ((mode !== 'feed' && mode !== 'sink') || !values.peer || !values.local || !values.as || !values.prefixes) {
    fail(USAGE);
  }
  const positive = (flag: string, text: string) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) fail(`--${flag} must be a positive integer, got "${text}"`);
    return n;
  };
  return {
    mode,
    peer: values.peer,
    local: values.local,
    asNumber: positive('as', values.as),
    prefixes: positive('prefixes', values.prefixes),
    attributeSets: positive('attribute-sets', values['attribute-sets']),
  };
}

function main(): void {
  const options = parseOptions(process.argv.slice(2));
  // Encoded before connecting: the measured time is the daemon's, not ours.
  const feed = options.mode === 'feed' ? encodeFeed(options.prefixes, options.attributeSets, options.local) : undefined;
  const seen = new Uint8Array(options.prefixes);
  let announced = 0;
  let established = false;

  const socket = net.connect({ host: options.peer, port: 179, localAddress: options.local });
  socket.setNoDelay(true);
  socket.on('connect', () => {
    socket.write(
      encodeOpen({
        version: 4,
        myAs: options.asNumber,
        holdTime: HOLD_TIME_SEC,
        bgpId: options.local,
        capabilities: {
          multiprotocol: [[AFI_IPV4, SAFI_UNICAST]],
          routeRefresh: true,
          enhancedRouteRefresh: false,
          fourOctetAs: options.asNumber,
          unknown: [],
        },
      }),
    );
  });
  socket.on('error', (err) => fail(`${options.peer}: ${err.message}`));
  socket.on('close', () => fail(`${options.peer} closed the session`));

  // Installed before the handshake, so the signal can never arrive at the default handler (which would kill us).
  process.once('SIGUSR1', () => {
    if (!feed || !established) fail('SIGUSR1 before the session was established, or in sink mode');
    report(`sending ${now()} ${feed.stream.length}`);
    socket.write(feed.stream, () => report(`sent ${now()}`));
  });

  const reader = new MessageReader();
  const receive = (message: Uint8Array) => {
    switch (message[18]) {
      case MessageType.Open:
        decodeOpen(message);
        socket.write(encodeKeepalive());
        break;
      case MessageType.Keepalive:
        if (established) break;
        established = true;
        setInterval(() => socket.write(encodeKeepalive()), KEEPALIVE_MS);
        report(`established ${now()}`);
        break;
      case MessageType.Notification: {
        const n = decodeNotification(message);
        fail(`NOTIFICATION ${n.code}/${n.subcode} from ${options.peer}${n.shutdownText ? `: ${n.shutdownText}` : ''}`);
        break;
      }
      case MessageType.Update:
        if (options.mode !== 'sink' || announced === options.prefixes) break;
        announced += markAnnounced(message, seen);
        if (announced === options.prefixes) report(`complete ${now()}`);
        break;
    }
  };
  socket.on('data', (chunk: Buffer) => {
    reader.push(chunk);
    for (let message = reader.next(); message; message = reader.next()) receive(message);
  });
}

main();
