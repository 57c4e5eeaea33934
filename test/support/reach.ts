// Reachability probes for policy tests, run inside pod namespaces:
//   node reach.js serve PORT[,PORT...]         answers TCP (writes "ok", closes) and UDP (echoes) on each port;
//                                              prints {"event":"listening"} once all listen; runs until killed
//   node reach.js probe TIMEOUT_MS TARGET...   TARGET = tcp|udp:ADDRESS:PORT; prints {"<target>": true|false, ...}
// A TCP probe succeeds when the server's "ok" arrives; a UDP probe when the datagram comes back. Everything is
// probed at once, each within TIMEOUT_MS.
import * as dgram from 'node:dgram';
import * as net from 'node:net';

function serve(ports: number[]): void {
  let pending = ports.length * 2;
  const listening = () => {
    if (--pending === 0) process.stdout.write(`${JSON.stringify({ event: 'listening' })}\n`);
  };
  for (const port of ports) {
    net
      .createServer((socket) => {
        socket.on('error', () => socket.destroy());
        socket.end('ok');
      })
      .listen(port, '0.0.0.0', listening);
    const udp = dgram.createSocket('udp4');
    udp.on('message', (msg, from) => udp.send(msg, from.port, from.address));
    udp.bind(port, '0.0.0.0', listening);
  }
}

function probeTcp(address: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: address, port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('data', (data) => done(data.toString() === 'ok'));
    socket.on('error', () => done(false));
  });
}

function probeUdp(address: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('message', (msg) => done(msg.toString() === 'probe'));
    socket.on('error', () => done(false));
    socket.send('probe', port, address);
  });
}

async function probe(timeoutMs: number, targets: string[]): Promise<void> {
  const results = await Promise.all(
    targets.map((target) => {
      const [proto, address, port] = target.split(':');
      return (proto === 'udp' ? probeUdp : probeTcp)(address!, Number(port), timeoutMs);
    }),
  );
  process.stdout.write(`${JSON.stringify(Object.fromEntries(targets.map((t, i) => [t, results[i]])))}\n`);
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'serve') serve(args[0]!.split(',').map(Number));
else if (mode === 'probe') void probe(Number(args[0]), args.slice(1));
else {
  process.stderr.write('usage: reach.js serve PORTS | probe TIMEOUT_MS TARGET...\n');
  process.exit(2);
}
