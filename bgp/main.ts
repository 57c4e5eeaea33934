// tabby-bgp: the BGP speaker alone, from a YAML file (CONTRACT §8) — a route reflector, a route server, or a
// peer in tests and benchmarks. SIGTERM/SIGINT stop it as a graceful restart: sessions are dropped without a
// NOTIFICATION and kernel routes stay, so peers that help with graceful restart keep forwarding.
import { parseArgs } from 'node:util';
import { serveStatus } from '../node/status-server';
import { ConfigError, readSpeakerConfig } from './config';
import { BgpSpeaker } from './speaker';

const USAGE = `Usage: tabby-bgp --config FILE [--status-socket PATH]

Runs tabby's BGP speaker from FILE (YAML: asNumber, routerId, listen, peers, routeReflectorClusterId,
originate, kernel). GET /status on the status socket returns the sessions and RIB counters as JSON.
`;

function fail(message: string): never {
  process.stderr.write(`tabby-bgp: ${message}\n`);
  process.exit(1);
}

export async function main(argv: string[]): Promise<void> {
  let values: { config?: string; 'status-socket'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        'status-socket': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    fail((err as Error).message.split('. ')[0]!);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (!values.config) fail('--config FILE is required');
  let config: ReturnType<typeof readSpeakerConfig>;
  try {
    config = readSpeakerConfig(values.config);
  } catch (err) {
    fail(err instanceof ConfigError ? err.message : `${values.config}: ${(err as Error).message}`);
  }
  const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const speaker = new BgpSpeaker(config, { log });
  try {
    await speaker.start();
  } catch (err) {
    fail(`cannot start: ${(err as Error).message}`);
  }
  const statusSocket = values['status-socket'];
  const statusServer = statusSocket
    ? await serveStatus(statusSocket, () => speaker.status()).catch((err: Error) => fail(err.message))
    : undefined;
  log(
    `tabby-bgp: AS ${config.asNumber}, router id ${config.routerId}, listening on ${config.listen.address}:${speaker.listenPort}, ${config.peers.length} peer(s)`,
  );
  const shutdown = async (signal: string) => {
    log(`tabby-bgp: ${signal}: stopping (graceful restart: routes stay)`);
    await speaker.stop({ graceful: true });
    statusServer?.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}
