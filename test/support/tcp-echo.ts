// A TCP echo for checking that bulk data crosses a datapath intact in both directions, run inside a namespace:
//   node tcp-echo.js server ADDRESS PORT        echoes every connection; prints {"event":"listening"}; runs until killed
//   node tcp-echo.js client ADDRESS PORT BYTES  sends BYTES random bytes, reads them back, prints an EchoResult
import { createHash, randomBytes } from 'node:crypto';
import * as net from 'node:net';

export interface EchoResult {
  sent: number;
  received: number;
  /** The bytes that came back are exactly those sent. */
  identical: boolean;
  elapsedMs: number;
}

function sha256(data: Buffer | Buffer[]): string {
  const hash = createHash('sha256');
  for (const chunk of Array.isArray(data) ? data : [data]) hash.update(chunk);
  return hash.digest('hex');
}

function serve(address: string, port: number): void {
  const server = net.createServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  server.listen(port, address, () => process.stdout.write(`${JSON.stringify({ event: 'listening' })}\n`));
}

function echo(address: string, port: number, bytes: number): void {
  const payload = randomBytes(bytes);
  const chunks: Buffer[] = [];
  let received = 0;
  const started = Date.now();
  const socket = net.connect(port, address, () => socket.end(payload));
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    received += chunk.length;
  });
  socket.on('end', () => {
    const result: EchoResult = {
      sent: bytes,
      received,
      identical: received === bytes && sha256(chunks) === sha256(payload),
      elapsedMs: Date.now() - started,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  });
  socket.on('error', (err) => {
    process.stderr.write(`tcp-echo: ${err.message}\n`);
    process.exit(1);
  });
}

const [role, address, port, bytes] = process.argv.slice(2);
if (role === 'server') serve(address, Number(port));
else if (role === 'client') echo(address, Number(port), Number(bytes));
else {
  process.stderr.write('usage: tcp-echo.js server ADDRESS PORT | client ADDRESS PORT BYTES\n');
  process.exit(2);
}
