// tabby-node: the per-node daemon (CONTRACT §3). It runs felix (the dataplane), serves the node's address
// allocator on <run-dir>/ipam.sock (CNI ADDs on this node are batched there), garbage-collects leaked
// addresses, creates the default pool on an empty datastore, runs BGP, and reports on <run-dir>/status.sock and
// in its CalicoNodeStatus objects.
import { mkdirSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { type Backend, isDatastoreError, kindByAlias, openBackend, ResourceClient } from '../datastore';
import { Felix, VXLAN_OVERHEAD } from '../felix';
import { IPIP_OVERHEAD_BYTES } from '../felix/ipip';
import { IpamGarbageCollector, IpamService } from '../ipam';
import { autodetectAddress, interfaceMtuOf, parseAutodetectMethod } from './autodetect';
import { NodeBgp } from './bgp';
import type { CniCallCounts } from './cni-calls';
import { ConfigError, NODE_USAGE, type NodeConfig, parseNodeConfig } from './config';
import { serveHealth } from './health';
import { IPAM_SOCKET, serveIpam } from './ipam-server';
import { registerNode } from './register';
import { NodeStatusReporter } from './status-report';
import { serveStatus } from './status-server';

type Log = (line: string) => void;

const DEFAULT_POOL_NAME = 'default-ipv4-ippool';

/** Creates the default pool when the datastore has no pool at all (as calico-node does on first start). */
async function ensureDefaultPool(backend: Backend, config: NodeConfig, log: Log): Promise<void> {
  const ippool = kindByAlias('ippool')!;
  if ((await backend.list(ippool)).items.length > 0) return;
  const { cidr, blockSize, ipipMode, vxlanMode, natOutgoing } = config.defaultPool;
  try {
    await new ResourceClient(backend).create({
      apiVersion: ippool.apiVersion,
      kind: ippool.kind,
      metadata: { name: DEFAULT_POOL_NAME },
      spec: { cidr, blockSize, ipipMode, vxlanMode, natOutgoing, nodeSelector: 'all()' },
    });
    log(`created IPPool ${DEFAULT_POOL_NAME} ${cidr} (block size ${blockSize}, IPIP ${ipipMode}, VXLAN ${vxlanMode})`);
  } catch (err) {
    // Another node created it first.
    if (!isDatastoreError(err, 'AlreadyExists')) throw err;
  }
}

/** Retries a start-up step while the datastore is unreachable, saying so; other errors end the start. */
async function whenReachable(step: () => Promise<void>, what: string, log: Log): Promise<void> {
  for (let delay = 500; ; delay = Math.min(delay * 2, 10_000)) {
    try {
      return await step();
    } catch (err) {
      if (!isDatastoreError(err, 'Unavailable')) throw err;
      log(`${what}: ${(err as Error).message}; retrying in ${delay} ms`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

function startGarbageCollector(
  backend: Backend,
  service: IpamService,
  config: NodeConfig,
  log: Log,
): NodeJS.Timeout | undefined {
  if (config.ipamLeakGracePeriodMs <= 0) return undefined;
  const gc = new IpamGarbageCollector(backend, service.allocator, config.ipamLeakGracePeriodMs);
  const interval = Math.min(config.ipamGcIntervalMs, Math.max(1000, config.ipamLeakGracePeriodMs / 2));
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    gc.run()
      .then((r) => {
        if (r.released.length > 0)
          log(`ipam gc: released ${r.released.length} unused address(es): ${r.released.join(' ')}`);
        if (r.blocksReleased.length > 0) log(`ipam gc: gave back empty block(s) ${r.blocksReleased.join(' ')}`);
      })
      .catch((err: Error) => log(`ipam gc: ${err.message}`))
      .finally(() => {
        running = false;
      });
  }, interval);
  timer.unref();
  return timer;
}

export async function main(argv: string[]): Promise<void> {
  const fail = (message: string): never => {
    process.stderr.write(`tabby-node: ${message}\n`);
    process.exit(2);
  };
  let config: NodeConfig | undefined;
  let backend: Backend;
  try {
    config = parseNodeConfig(argv, process.env);
    if (!config) return void process.stdout.write(NODE_USAGE);
    backend = openBackend(config.datastore);
  } catch (err) {
    return fail(err instanceof ConfigError ? err.message : (err as Error).message);
  }
  const cfg = config;
  const log: Log = (line) => process.stderr.write(`${new Date().toISOString()} tabby-node ${cfg.nodeName}: ${line}\n`);

  mkdirSync(cfg.runDir, { recursive: true });
  // The CNI plugin reads the node's name here when its network config has none.
  writeFileSync(path.join(cfg.runDir, 'nodename'), `${cfg.nodeName}\n`);
  await whenReachable(() => ensureDefaultPool(backend, cfg, log), 'default pool', log);

  const ipam = new IpamService(backend, cfg.nodeName);
  ipam.watchContext();
  let address: string;
  try {
    address =
      cfg.ip === 'autodetect'
        ? await autodetectAddress(parseAutodetectMethod(cfg.ipAutodetectionMethod)).then(
            (a) => `${a.address}/${a.prefixLength}`,
          )
        : cfg.ip;
  } catch (err) {
    return fail((err as Error).message);
  }
  const register = () =>
    whenReachable(
      async () => void (await registerNode(backend, ipam, { nodeName: cfg.nodeName, address, asNumber: cfg.asNumber })),
      'node registration',
      log,
    );
  await register();
  log(`registered with address ${address}`);

  // The CNI plugin gives pods the MTU written here: the underlay's, less what the encapsulation in use takes.
  const underlayMtu = await interfaceMtuOf(address.split('/')[0]!).catch(() => undefined);
  let workloadMtu = 0;
  const writeWorkloadMtu = (overhead: number) => {
    if (underlayMtu === undefined || underlayMtu - overhead === workloadMtu) return;
    workloadMtu = underlayMtu - overhead;
    writeFileSync(path.join(cfg.runDir, 'mtu'), `${workloadMtu}\n`);
  };
  const bgp = cfg.bgpEnabled ? new NodeBgp(backend, cfg.nodeName, log) : undefined;
  bgp?.start();
  // Tunnel addresses follow the pools: register again when IPIP or VXLAN is switched on or off.
  let encapsulation = '';
  const felix = cfg.felixDisabled
    ? undefined
    : new Felix(backend, {
        nodeName: cfg.nodeName,
        runDir: cfg.runDir,
        log,
        onDesired: (desired) => {
          bgp?.setOriginated(desired.advertised);
          writeWorkloadMtu(desired.vxlan ? VXLAN_OVERHEAD : desired.ipip ? IPIP_OVERHEAD_BYTES : 0);
          const now = `${desired.ipip !== undefined} ${desired.vxlan !== undefined}`;
          if (now !== encapsulation) {
            encapsulation = now;
            void register().catch((err: Error) => log(`node registration: ${err.message}`));
          }
        },
      });
  felix?.start();
  const servers: http.Server[] = [];
  const cniCalls: CniCallCounts = new Map();
  try {
    servers.push(await serveIpam(path.join(cfg.runDir, IPAM_SOCKET), ipam, new ResourceClient(backend), cniCalls));
    servers.push(
      await serveStatus(path.join(cfg.runDir, 'status.sock'), () => ({
        node: cfg.nodeName,
        bgp: { peers: bgp?.peers() ?? [] },
        felix: felix?.status() ?? { inSync: false, endpoints: 0, policies: 0, lastApplyMs: 0, disabled: true },
        ipam: { ...ipam.stats },
      })),
    );
  } catch (err) {
    return fail((err as Error).message);
  }
  try {
    servers.push(
      ...(await serveHealth(address.split('/')[0]!, { health: cfg.healthPort, metrics: cfg.metricsPort }, () => ({
        felix: felix?.status(),
        bgp: bgp?.status(),
        ipam: { ...ipam.stats },
        cniCalls,
      }))),
    );
  } catch (err) {
    return fail(`health/metrics: ${(err as Error).message}`);
  }
  const gcTimer = startGarbageCollector(backend, ipam, cfg, log);
  const statusReporter = new NodeStatusReporter(
    backend,
    cfg.nodeName,
    {
      speaker: () => bgp?.info(),
      peers: () => bgp?.peers() ?? [],
      routes: () => bgp?.routes() ?? [],
      felix: () => felix?.status(),
    },
    log,
    cfg.nodeStatusPeriodSeconds,
  );
  statusReporter.start();
  log(`ready: ${backend.description}, run dir ${cfg.runDir}`);

  const shutdown = async (signal: string) => {
    log(`${signal}: stopping (graceful restart: routes stay)`);
    if (gcTimer) clearInterval(gcTimer);
    statusReporter.stop();
    felix?.stop();
    ipam.stop();
    for (const s of servers) s.close();
    await bgp?.stop().catch((err: Error) => log(`bgp: ${err.message}`));
    await backend.close().catch(() => undefined);
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}
