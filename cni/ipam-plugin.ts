// The CNI IPAM plugin tabby-ipam (CONTRACT §7): ADD allocates one IPv4 address for the handle
// `<network name>.<container id>`, DEL releases it (idempotent), CHECK verifies it is still held, GC releases
// this network's handles of containers the runtime no longer has, STATUS says whether allocation can work.
// It asks the node's allocator on <run-dir>/ipam.sock, which batches concurrent ADDs; where no tabby-node
// runs, it allocates against the datastore itself.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { callUnix, UnixSocketError } from '../node/unix-http';
import { checkTabbyConf, etcdEndpointsOf, nodeNameOf, runDirOf, type TabbyNetConf } from './netconf';
import { CniCode, type CniEnvironment, CniError, ipEntry, parseNetworkConfig, requireEnv } from './protocol';

/** What the plugin needs of an allocator: the node's (over its socket) or its own (direct). */
export interface CniIpam {
  assign(request: CniAddressRequest): Promise<{ address: string; pool: string }>;
  release(handleId: string): Promise<string[]>;
  addressesOf(handleId: string): Promise<string[]>;
  close(): Promise<void>;
}

/** The request as the node's allocator takes it (ipam AddressRequest). */
export interface CniAddressRequest {
  handleId: string;
  namespace?: string;
  pod?: string;
  podAnnotations?: Record<string, string>;
  configuredPools?: string[];
}

const IPAM_SOCKET = 'ipam.sock';

/** IPAM and datastore error codes (from the socket or thrown directly) as CNI errors. */
export function toCniError(err: unknown): CniError {
  if (err instanceof CniError) return err;
  const e = err as Error & { code?: string };
  switch (e.code) {
    case 'Exhausted':
      return new CniError(CniCode.NoFreeAddress, e.message);
    case 'InUse':
      return new CniError(CniCode.AddressInUse, e.message);
    case 'InvalidRequest':
    case 'Invalid':
      return new CniError(CniCode.InvalidConfig, e.message);
    case 'Unavailable':
    case 'Contention':
      return new CniError(CniCode.TryAgainLater, e.message);
    default:
      return new CniError(999, e.message);
  }
}

class CodedError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

function socketIpam(socketPath: string): CniIpam {
  const call = async (route: string, body: object) => {
    const reply = await callUnix(socketPath, 'POST', route, body, 30_000);
    const b = reply.body as { error?: string; code?: string };
    if (reply.status !== 200) throw new CodedError(b.error ?? `node allocator answered ${reply.status}`, b.code);
    return reply.body as Record<string, unknown>;
  };
  return {
    assign: async (request) => (await call('/v1/assign', request)) as unknown as { address: string; pool: string },
    release: async (handleId) => (await call('/v1/release', { handleId })).released as string[],
    addressesOf: async (handleId) => (await call('/v1/addresses', { handleId })).addresses as string[],
    close: async () => undefined,
  };
}

function directIpam(conf: TabbyNetConf, env: NodeJS.ProcessEnv): CniIpam {
  const endpoints = etcdEndpointsOf(conf, env);
  if (endpoints.length === 0) {
    throw new CniError(
      CniCode.InvalidConfig,
      `no tabby-node allocator at ${path.join(runDirOf(conf), IPAM_SOCKET)} and no etcd_endpoints in the network config`,
    );
  }
  // Required here, not imported above: the etcd client takes half a second to load, and the common path
  // (a node allocator on the socket) never needs it.
  const { openDirectIpam } = require('./ipam-direct') as typeof import('./ipam-direct');
  return openDirectIpam(nodeNameOf(conf), endpoints, conf.datastore_type);
}

/** Runs fn against the node's allocator, or directly when no node answers on the socket. */
async function withIpam<T>(conf: TabbyNetConf, env: NodeJS.ProcessEnv, fn: (ipam: CniIpam) => Promise<T>): Promise<T> {
  const socketPath = path.join(runDirOf(conf), IPAM_SOCKET);
  if (existsSync(socketPath)) {
    try {
      return await fn(socketIpam(socketPath));
    } catch (err) {
      // A socket left by a node that is gone: allocate directly (correct, only slower).
      if (!(err instanceof UnixSocketError)) throw toCniError(err);
    }
  }
  const ipam = directIpam(conf, env);
  try {
    return await fn(ipam);
  } catch (err) {
    throw toCniError(err);
  } finally {
    await ipam.close();
  }
}

export function handleIdFor(conf: TabbyNetConf, containerId: string): string {
  return `${conf.name}.${containerId}`;
}

export async function runIpamPlugin(cni: CniEnvironment, stdin: string, env: NodeJS.ProcessEnv): Promise<unknown> {
  const conf = checkTabbyConf(parseNetworkConfig(stdin));
  switch (cni.command) {
    case 'ADD': {
      const handleId = handleIdFor(conf, requireEnv(cni, 'containerId'));
      const request: CniAddressRequest = { handleId };
      if (cni.args.K8S_POD_NAMESPACE) request.namespace = cni.args.K8S_POD_NAMESPACE;
      if (cni.args.K8S_POD_NAME) request.pod = cni.args.K8S_POD_NAME;
      if (conf.args?.cni?.annotations) request.podAnnotations = conf.args.cni.annotations;
      if (conf.ipam?.ipv4_pools) request.configuredPools = conf.ipam.ipv4_pools;
      const assigned = await withIpam(conf, env, (ipam) => ipam.assign(request));
      return { cniVersion: conf.cniVersion, ips: [ipEntry(conf.cniVersion, `${assigned.address}/32`)], dns: {} };
    }
    case 'DEL': {
      const containerId = requireEnv(cni, 'containerId');
      await withIpam(conf, env, (ipam) => ipam.release(handleIdFor(conf, containerId)));
      return undefined;
    }
    case 'CHECK': {
      const handleId = handleIdFor(conf, requireEnv(cni, 'containerId'));
      const held = await withIpam(conf, env, (ipam) => ipam.addressesOf(handleId));
      if (held.length === 0) throw new CniError(CniCode.UnknownContainer, `no address is allocated to ${handleId}`);
      const prev = (conf as { prevResult?: { ips?: { address?: string }[] } }).prevResult;
      for (const ip of prev?.ips ?? []) {
        const address = String(ip.address ?? '').split('/')[0]!;
        if (!held.includes(address)) {
          throw new CniError(
            CniCode.UnknownContainer,
            `${address} (in prevResult) is not allocated to ${handleId}: it holds ${held.join(', ')}`,
          );
        }
      }
      return undefined;
    }
    case 'STATUS': {
      await withIpam(conf, env, (ipam) => ipam.addressesOf(`${conf.name}.status-probe`)).catch((err: CniError) => {
        throw new CniError(CniCode.NotAvailable, `cannot reach an allocator: ${err.message}`);
      });
      return undefined;
    }
    case 'GC':
      return collectGarbage(conf, env);
    default:
      throw new CniError(
        CniCode.InvalidEnvironment,
        `CNI_COMMAND ${cni.command} is not one of ADD, DEL, CHECK, STATUS, GC, VERSION`,
      );
  }
}

/** CNI GC: release every handle of this network whose container is not among the valid attachments. */
async function collectGarbage(conf: TabbyNetConf, env: NodeJS.ProcessEnv): Promise<undefined> {
  const valid =
    (conf as { 'cni.dev/valid-attachments'?: { containerID?: string }[] })['cni.dev/valid-attachments'] ?? [];
  const keep = new Set(valid.map((a) => handleIdFor(conf, String(a.containerID ?? ''))));
  const { listHandles } = require('./ipam-direct') as typeof import('./ipam-direct');
  const prefix = `${conf.name}.`;
  const stale = (await listHandles(etcdEndpointsOf(conf, env), conf.datastore_type, prefix)).filter(
    (h) => !keep.has(h),
  );
  await withIpam(conf, env, async (ipam) => {
    for (const h of stale) await ipam.release(h);
  });
  return undefined;
}
