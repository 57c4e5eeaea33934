// The CNI IPAM plugin tabby-ipam (CONTRACT §7): ADD allocates one IPv4 address for the handle
// `<network name>.<container id>`, DEL releases it (idempotent), CHECK verifies it is still held, GC releases
// this network's handles of containers the runtime no longer has, STATUS says whether allocation can work.
// The allocator is the node's (cni/node-api.ts), or the plugin's own where no node runs. The tabby plugin runs
// these same commands in its own process (ipamCommand) rather than exec'ing tabby-ipam.
import { checkTabbyConf, etcdEndpointsOf, type TabbyNetConf } from './netconf';
import { type CniAddressRequest, type NodeApi, openNodeApi, toCniError } from './node-api';
import { CniCode, type CniEnvironment, CniError, ipEntry, parseNetworkConfig, requireEnv } from './protocol';

/** tabby-ipam's ADD result: the address, in the shape of the config's version. */
export interface IpamResult {
  cniVersion: string;
  ips: { address: string; version?: string }[];
  dns: Record<string, unknown>;
}

export function handleIdFor(conf: TabbyNetConf, containerId: string): string {
  return `${conf.name}.${containerId}`;
}

/** What the allocator is asked for: the container's handle, its pod, and the pools the config and pod name. */
export function addressRequestFor(conf: TabbyNetConf, cni: CniEnvironment): CniAddressRequest {
  const request: CniAddressRequest = { handleId: handleIdFor(conf, requireEnv(cni, 'containerId')) };
  if (cni.args.K8S_POD_NAMESPACE) request.namespace = cni.args.K8S_POD_NAMESPACE;
  if (cni.args.K8S_POD_NAME) request.pod = cni.args.K8S_POD_NAME;
  if (conf.args?.cni?.annotations) request.podAnnotations = conf.args.cni.annotations;
  if (conf.ipam?.ipv4_pools) request.configuredPools = conf.ipam.ipv4_pools;
  return request;
}

/** Runs one IPAM command against api; ADD returns the result, the others nothing. Errors are CniErrors. */
export async function ipamCommand(
  command: string,
  conf: TabbyNetConf,
  cni: CniEnvironment,
  api: NodeApi,
  env: NodeJS.ProcessEnv,
): Promise<IpamResult | undefined> {
  try {
    switch (command) {
      case 'ADD': {
        const assigned = await api.assign(addressRequestFor(conf, cni));
        return { cniVersion: conf.cniVersion, ips: [ipEntry(conf.cniVersion, `${assigned.address}/32`)], dns: {} };
      }
      case 'DEL':
        await api.release(handleIdFor(conf, requireEnv(cni, 'containerId')));
        return undefined;
      case 'CHECK':
        await checkAllocation(conf, cni, api);
        return undefined;
      case 'STATUS':
        await api.addressesOf(`${conf.name}.status-probe`).catch((err: Error) => {
          throw new CniError(CniCode.NotAvailable, `cannot reach an allocator: ${toCniError(err).message}`);
        });
        return undefined;
      case 'GC':
        await collectGarbage(conf, api, env);
        return undefined;
      default:
        throw new CniError(
          CniCode.InvalidEnvironment,
          `CNI_COMMAND ${command} is not one of ADD, DEL, CHECK, STATUS, GC, VERSION`,
        );
    }
  } catch (err) {
    throw toCniError(err);
  }
}

export async function runIpamPlugin(cni: CniEnvironment, stdin: string, env: NodeJS.ProcessEnv): Promise<unknown> {
  const conf = checkTabbyConf(parseNetworkConfig(stdin));
  const api = openNodeApi(conf, env);
  try {
    return await ipamCommand(cni.command, conf, cni, api, env);
  } finally {
    await api.close();
  }
}

/** CHECK: the handle holds an address, and every address of the prevResult is among them. */
async function checkAllocation(conf: TabbyNetConf, cni: CniEnvironment, api: NodeApi): Promise<void> {
  const handleId = handleIdFor(conf, requireEnv(cni, 'containerId'));
  const held = await api.addressesOf(handleId);
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
}

/** CNI GC: release every handle of this network whose container is not among the valid attachments. */
async function collectGarbage(conf: TabbyNetConf, api: NodeApi, env: NodeJS.ProcessEnv): Promise<void> {
  const valid =
    (conf as { 'cni.dev/valid-attachments'?: { containerID?: string }[] })['cni.dev/valid-attachments'] ?? [];
  const keep = new Set(valid.map((a) => handleIdFor(conf, String(a.containerID ?? ''))));
  const { listHandles } = require('./direct') as typeof import('./direct');
  const handles = await listHandles(etcdEndpointsOf(conf, env), conf.datastore_type, `${conf.name}.`);
  for (const handle of handles.filter((h) => !keep.has(h))) await api.release(handle);
}
