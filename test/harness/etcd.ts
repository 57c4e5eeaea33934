// A real single-member etcd v3 for tests: private data dir, free ports, fast elections, restartable in place.
import * as net from 'node:net';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createRunScope,
  type ProcessHandle,
  type RunOptions,
  type RunResult,
  type RunScope,
  run,
  runIn,
  spawnProcess,
} from './exec';
import { cleanupStaleOnce } from './netns';

export interface EtcdOptions {
  /** Run inside this network namespace (e.g. a topology node's); default: the host's loopback. */
  netns?: string;
  /** Address to listen on: 127.0.0.1 by default; another address only inside `netns`. */
  host?: string;
}

const STARTUP_TIMEOUT_MS = 10_000;

/**
 * The environment for etcd and etcdctl: without the caller's ETCD_* / ETCDCTL_* variables (etcd reads its flags
 * from them, and etcdctl refuses a variable that shadows a flag it is given), and with ETCD_UNSUPPORTED_ARCH, which
 * etcd 3.4 demands before it starts on anything but amd64 (Go's name for x64).
 */
function etcdEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('ETCD')));
  return { ...env, ETCD_UNSUPPORTED_ARCH: process.arch === 'x64' ? 'amd64' : process.arch };
}

/** A TCP port nobody listens on right now (the kernel's pick for port 0). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export class EtcdHandle {
  /** Client URLs, e.g. `['http://127.0.0.1:23791']`; unchanged by restart(). */
  readonly endpoints: string[];
  readonly dataDir: string;
  private current: ProcessHandle | undefined;

  private constructor(
    private readonly scope: RunScope,
    private readonly netns: string | undefined,
    private readonly args: string[],
    clientUrl: string,
    dataDir: string,
  ) {
    this.endpoints = [clientUrl];
    this.dataDir = dataDir;
  }

  static async start(opts: EtcdOptions): Promise<EtcdHandle> {
    const host = opts.host ?? '127.0.0.1';
    if (!net.isIPv4(host)) throw new Error(`startEtcd: host "${host}" is not an IPv4 address`);
    if (opts.netns === undefined && !host.startsWith('127.')) {
      throw new Error(`startEtcd: host ${host} outside a namespace would listen on the host's own network`);
    }
    cleanupStaleOnce();
    const [clientPort, peerPort] = [await freePort(), await freePort()];
    const scope = createRunScope();
    const name = `${scope.prefix}etcd`;
    const clientUrl = `http://${host}:${clientPort}`;
    const peerUrl = `http://${host}:${peerPort}`;
    const dataDir = path.join(scope.dir, 'data');
    const args = [
      `--name=${name}`,
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=${name}=${peerUrl}`,
      `--initial-cluster-token=${name}`,
      // A lone member elects itself after one election timeout: keep it short so start and restart are quick.
      '--heartbeat-interval=25',
      '--election-timeout=250',
      '--enable-v2=false',
      '--logger=zap',
      '--log-level=warn',
    ];
    const etcd = new EtcdHandle(scope, opts.netns, args, clientUrl, dataDir);
    try {
      await etcd.launch();
    } catch (err) {
      await etcd.stop();
      throw err;
    }
    return etcd;
  }

  /** The running etcd process (a new one after restart()). */
  get process(): ProcessHandle {
    if (!this.current) throw new Error('etcd is stopped');
    return this.current;
  }

  /** Runs etcdctl (v3 API) against this etcd, inside its namespace if it has one. */
  etcdctl(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const fullArgs = [`--endpoints=${this.endpoints.join(',')}`, ...args];
    const runOpts = { ...opts, env: etcdEnv() };
    return this.netns ? runIn(this.netns, 'etcdctl', fullArgs, runOpts) : run('etcdctl', fullArgs, runOpts);
  }

  /** Stops etcd and starts it again on the same data dir and ports; resolves when it answers again. */
  async restart(): Promise<void> {
    await this.process.stop();
    this.current = undefined;
    await this.launch();
  }

  /** Compacts the key-value history up to the current revision (physically); returns that revision. */
  async compact(): Promise<number> {
    const { stdout } = await this.etcdctl(['endpoint', 'status', '--write-out=json']);
    const [status] = JSON.parse(stdout) as [{ Status: { header: { revision: number } } }];
    const revision = status.Status.header.revision;
    await this.etcdctl(['compact', String(revision), '--physical']);
    return revision;
  }

  /** Stops etcd (SIGTERM, then SIGKILL) and removes its data dir. Idempotent. */
  async stop(): Promise<void> {
    await this.current?.stop();
    this.current = undefined;
    this.scope.release();
  }

  private async launch(): Promise<void> {
    const etcd = await spawnProcess('etcd', this.args, { netns: this.netns, env: etcdEnv() });
    this.current = etcd;
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    for (;;) {
      if (!etcd.running) {
        throw new Error(`etcd exited before answering (${etcd.commandLine}):\n${etcd.output().slice(-4000)}`);
      }
      const health = await this.etcdctl(['endpoint', 'health', '--dial-timeout=300ms', '--command-timeout=500ms'], {
        allowFail: true,
      });
      if (health.code === 0) return;
      if (Date.now() > deadline) {
        throw new Error(
          `etcd did not answer within ${STARTUP_TIMEOUT_MS} ms (${etcd.commandLine}):\n` +
            `${health.stderr.trim()}\n${etcd.output().slice(-4000)}`,
        );
      }
      await sleep(50);
    }
  }
}

export function startEtcd(opts: EtcdOptions = {}): Promise<EtcdHandle> {
  return EtcdHandle.start(opts);
}
