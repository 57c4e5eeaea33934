// The real tabby-apiserver executable for tests, on loopback over a test's etcd, and the two ways tabbyctl reaches
// the data (CONTRACT §4): the datastore directly, or `--server URL --token T` through the API server.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type EtcdHandle, type ProcessHandle, spawnProcess } from '../harness';
import { waitFor } from './wait';

const TABBY_APISERVER = path.join(__dirname, '..', '..', 'bin', 'tabby-apiserver');

export const API_TOKEN = 'test-writer-token-0123456789';

export interface ApiServerHandle {
  /** e.g. http://127.0.0.1:40123 */
  url: string;
  process: ProcessHandle;
  stop(): Promise<void>;
}

/** Starts tabby-apiserver on a free loopback port with one read-write token (API_TOKEN); extra flags appended. */
export async function startApiServer(etcd: EtcdHandle, extraArgs: string[] = []): Promise<ApiServerHandle> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tabby-apiserver-test-'));
  const tokenFile = path.join(dir, 'tokens.csv');
  writeFileSync(tokenFile, `${API_TOKEN},tester\n`, { mode: 0o600 });
  const proc = await spawnProcess(TABBY_APISERVER, [
    '--listen',
    '127.0.0.1:0',
    '--token-file',
    tokenFile,
    '--etcd-endpoints',
    etcd.endpoints.join(','),
    ...extraArgs,
  ]);
  const stop = async () => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // fastify's pino log names the address it listens on.
    const url = await waitFor(
      () => {
        if (!proc.running) throw new Error(`tabby-apiserver exited: ${proc.output()}`);
        return /Server listening at (https?:\/\/127\.0\.0\.1:\d+)/.exec(proc.output())?.[1];
      },
      'tabby-apiserver listening',
      10_000,
    );
    return { url, process: proc, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** How a test runs tabbyctl: the environment and the arguments appended to every command. */
export interface TabbyctlRoute {
  env: NodeJS.ProcessEnv;
  args: string[];
  stop(): Promise<void>;
}

export const TABBYCTL_ROUTES = ['etcd', 'apiserver'] as const;
export type TabbyctlVia = (typeof TABBYCTL_ROUTES)[number];

export async function tabbyctlRoute(via: TabbyctlVia, etcd: EtcdHandle): Promise<TabbyctlRoute> {
  if (via === 'etcd') {
    return { env: { ...process.env, ETCD_ENDPOINTS: etcd.endpoints.join(',') }, args: [], stop: async () => undefined };
  }
  const server = await startApiServer(etcd);
  return {
    // A dead etcd endpoint in the environment: a command that went around the API server would fail.
    env: { ...process.env, ETCD_ENDPOINTS: 'http://127.0.0.1:9', TABBY_TOKEN: API_TOKEN },
    args: ['--server', server.url],
    stop: () => server.stop(),
  };
}
