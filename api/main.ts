// tabby-apiserver (CONTRACT §5): `--listen ADDR:PORT [--token-file F] [--tls-cert F --tls-key F [--client-ca F]]`
// with the datastore flags. Serves until SIGINT/SIGTERM, then closes the listener and the datastore.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { datastoreConfigFromFlags, openBackend } from '../datastore';
import { TokenTable } from './auth';
import { buildApiServer } from './server';

const USAGE = `usage: tabby-apiserver --listen ADDR:PORT [--token-file F] [--tls-cert F --tls-key F [--client-ca F]]
  --datastore-type etcdv3  (DATASTORE_TYPE)
  --etcd-endpoints URL[,URL]  (ETCD_ENDPOINTS, default http://127.0.0.1:2379)
  --token-file F   lines TOKEN,USER[,readonly]: every request but /healthz and /readyz needs a bearer token
  --tls-cert F --tls-key F   serve HTTPS; --client-ca F also requires client certificates signed by that CA`;

/** `ADDR:PORT`, `[v6]:PORT` or `:PORT` (every address). */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || port > 65535) throw new Error(`--listen: expected ADDR:PORT, got "${text}"`);
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
}

export async function main(argv: string[]): Promise<void> {
  let values: Record<string, string | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        listen: { type: 'string' },
        'token-file': { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'client-ca': { type: 'string' },
        'datastore-type': { type: 'string' },
        'etcd-endpoints': { type: 'string' },
      },
    }).values as Record<string, string | undefined>;
    if (!values.listen) throw new Error('--listen is required');
    if (Boolean(values['tls-cert']) !== Boolean(values['tls-key'])) {
      throw new Error('--tls-cert and --tls-key go together');
    }
    if (values['client-ca'] && !values['tls-cert']) throw new Error('--client-ca needs --tls-cert and --tls-key');
  } catch (err) {
    process.stderr.write(`tabby-apiserver: ${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  try {
    const { host, port } = parseListen(values.listen);
    const tokenFile = values['token-file'];
    const tokens = tokenFile ? TokenTable.parse(readFileSync(tokenFile, 'utf8'), tokenFile) : undefined;
    const backend = openBackend(datastoreConfigFromFlags(values['datastore-type'], values['etcd-endpoints']));
    const https = values['tls-cert']
      ? {
          cert: readFileSync(values['tls-cert']),
          key: readFileSync(values['tls-key']!),
          ...(values['client-ca']
            ? { ca: readFileSync(values['client-ca']), requestCert: true, rejectUnauthorized: true }
            : {}),
        }
      : undefined;
    const app = buildApiServer({ backend, tokens, logger: true, https });
    await app.listen({ host, port });
    const stop = () => {
      void app.close().then(() => backend.close());
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  } catch (err) {
    process.stderr.write(`tabby-apiserver: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
