// The CNI plugin tabby (CONTRACT §7). ADD: an address from IPAM (tabby-ipam in this process, any other IPAM
// plugin exec'd as the spec says), the veth with its routes and sysctls (cni/veth.ts), then the WorkloadEndpoint
// in the datastore, from which felix programs the rest; a failure undoes what was done, newest first. DEL undoes
// all of it and succeeds for a container it never saw. CHECK says which part is missing. STATUS and GC are
// IPAM's. The node's socket serves allocation and endpoint writes; without a node, the datastore is used directly.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Resource } from '../datastore';
import { execPlugin } from './delegate';
import { ipamCommand } from './ipam-plugin';
import { checkTabbyConf, nodeNameOf, runDirOf, type TabbyNetConf } from './netconf';
import { type NodeApi, openNodeApi, toCniError } from './node-api';
import { CniCode, type CniEnvironment, CniError, parseNetworkConfig, requireEnv } from './protocol';
import { addResult, firstIpv4, ipamAddress } from './result';
import { checkWorkloadLink, createWorkloadLink, deleteHostVeth, deleteWorkloadInterface } from './veth';
import { buildEndpoint, endpointNameOf, hostVethName, type WorkloadIdentity, workloadIdentity } from './workload';

/** The workload's MTU when neither the config nor tabby-node says: the usual Ethernet underlay. */
export const DEFAULT_MTU = 1500;

/** The MTU tabby-node wrote for workloads (<run_dir>/mtu: the underlay's minus the encapsulation in use). */
function nodeMtu(conf: TabbyNetConf): number | undefined {
  try {
    const mtu = Number(readFileSync(path.join(runDirOf(conf), 'mtu'), 'utf8').trim());
    return Number.isInteger(mtu) && mtu >= 68 ? mtu : undefined;
  } catch {
    return undefined;
  }
}

const TABBY_IPAM = 'tabby-ipam';

type IpamCommand = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC';
/** Runs an IPAM command: tabby-ipam's code in this process, or the configured IPAM plugin exec'd. */
type Ipam = (command: IpamCommand) => Promise<unknown>;

interface Call {
  conf: TabbyNetConf;
  cni: CniEnvironment;
  api: NodeApi;
  ipam: Ipam;
}

function ipamTypeOf(conf: TabbyNetConf): string {
  const type = conf.ipam?.type;
  if (typeof type !== 'string' || type === '') {
    throw new CniError(CniCode.InvalidConfig, 'network config: ipam.type is required (e.g. "tabby-ipam")');
  }
  return type;
}

function ipamFor(conf: TabbyNetConf, cni: CniEnvironment, stdin: string, api: NodeApi, env: NodeJS.ProcessEnv): Ipam {
  const type = ipamTypeOf(conf);
  if (type === TABBY_IPAM) return (command) => ipamCommand(command, conf, cni, api, env);
  return (command) => execPlugin(type, command, stdin, cni.path, env);
}

/**
 * One plugin command. `nodeApi` is the node's allocator and endpoint store when tabby-node itself runs the call
 * (handed over by the plugin's native front); otherwise the node's socket, or the datastore directly.
 */
export async function runTabbyPlugin(
  cni: CniEnvironment,
  stdin: string,
  env: NodeJS.ProcessEnv,
  nodeApi?: NodeApi,
): Promise<unknown> {
  const conf = checkTabbyConf(parseNetworkConfig(stdin));
  const commands: Record<string, (call: Call) => Promise<unknown>> = {
    ADD: add,
    DEL: del,
    CHECK: check,
    STATUS: ({ ipam }) => ipam('STATUS'),
    GC: ({ ipam }) => ipam('GC'),
  };
  const command = commands[cni.command];
  if (!command) {
    throw new CniError(
      CniCode.InvalidEnvironment,
      `CNI_COMMAND ${cni.command} is not one of ADD, DEL, CHECK, STATUS, GC, VERSION`,
    );
  }
  const api = nodeApi ?? openNodeApi(conf, env);
  try {
    return await command({ conf, cni, api, ipam: ipamFor(conf, cni, stdin, api, env) });
  } catch (err) {
    throw toCniError(err);
  } finally {
    if (api !== nodeApi) await api.close();
  }
}

function identityOf({ conf, cni }: Call): WorkloadIdentity {
  return workloadIdentity(cni, conf, nodeNameOf(conf));
}

interface Undo {
  what: string;
  run(): Promise<unknown>;
}

async function add(call: Call): Promise<unknown> {
  const { conf, cni, api, ipam } = call;
  const netns = requireEnv(cni, 'netns');
  const id = identityOf(call);
  // Everything that can be refused without side effects is checked before anything is allocated.
  const endpointName = endpointNameOf(id);
  const hostVeth = hostVethName(id);
  if (!existsSync(netns)) throw new CniError(CniCode.InvalidEnvironment, `CNI_NETNS ${netns} does not exist`);
  const mtu = conf.mtu ?? nodeMtu(conf) ?? DEFAULT_MTU;

  const undo: Undo[] = [];
  let step = 'allocating an address';
  try {
    const allocated = await ipam('ADD');
    undo.push({ what: 'release the address', run: () => ipam('DEL') });
    const address = ipamAddress(allocated, ipamTypeOf(conf));

    step = `creating ${hostVeth} and ${id.ifname} in ${netns}`;
    undo.push({ what: `delete ${hostVeth}`, run: () => deleteHostVeth(hostVeth) });
    const mac = await createWorkloadLink({ hostVeth, netns, ifname: id.ifname, address, mtu });

    step = `writing WorkloadEndpoint ${id.namespace}/${endpointName}`;
    // A reply lost after the write would leave the endpoint behind: undone too (only if it is this container's).
    undo.push({
      what: `delete WorkloadEndpoint ${id.namespace}/${endpointName}`,
      run: () => api.deleteEndpoint(id.namespace, endpointName, id.containerId),
    });
    await api.applyEndpoint(buildEndpoint(id, conf, { hostVeth, ipNetworks: [`${address}/32`], mac }));

    const dns = (allocated as { dns?: Record<string, unknown> }).dns ?? {};
    return addResult(conf.cniVersion, { hostVeth, ifname: id.ifname, mac, mtu, netns, address: `${address}/32`, dns });
  } catch (err) {
    const failure = toCniError(err);
    const leftovers: string[] = [];
    for (const u of undo.reverse()) {
      await u.run().catch((undoErr: Error) => leftovers.push(`could not ${u.what}: ${undoErr.message}`));
    }
    throw new CniError(
      failure.code,
      `${step}: ${failure.message}`,
      [failure.details, ...leftovers].filter((d) => d !== '').join('; '),
    );
  }
}

/**
 * DEL: the endpoint, the veth, the address, in that order and each idempotent, stopping at the first failure so
 * an address is never released while an endpoint still holds it (the runtime retries DEL). The endpoint is
 * spared, and so is the host veth of the same name, when a newer sandbox of the pod owns them.
 */
async function del(call: Call): Promise<undefined> {
  const { cni, api, ipam } = call;
  const id = identityOf(call);
  let endpoint: string | undefined;
  try {
    endpoint = endpointNameOf(id);
  } catch {
    // An ADD with these arguments was refused before it wrote anything: there is no endpoint to delete.
  }
  const deletion = endpoint ? await api.deleteEndpoint(id.namespace, endpoint, id.containerId) : 'absent';
  const removedInside = cni.netns !== '' && (await deleteWorkloadInterface(cni.netns, id.ifname));
  if (!removedInside && deletion !== 'another-container') await deleteHostVeth(hostVethName(id));
  await ipam('DEL');
  return undefined;
}

/** The address CHECK expects: the prevResult's, which must be the endpoint's too. */
function checkedAddress(conf: TabbyNetConf, endpoint: Resource, name: string): string {
  const networks = (endpoint.spec as { ipNetworks?: string[] }).ipNetworks ?? [];
  const fromPrev = firstIpv4((conf as { prevResult?: unknown }).prevResult);
  const fromEndpoint = networks.map((n) => n.split('/')[0]!);
  const address = fromPrev ?? fromEndpoint[0];
  if (address === undefined) throw new CniError(CniCode.UnknownContainer, `WorkloadEndpoint ${name} has no address`);
  if (!fromEndpoint.includes(address)) {
    throw new CniError(
      CniCode.UnknownContainer,
      `WorkloadEndpoint ${name} has ${networks.join(', ') || 'no address'}, not ${address} of the prevResult`,
    );
  }
  return address;
}

async function check(call: Call): Promise<undefined> {
  const { conf, cni, api, ipam } = call;
  const netns = requireEnv(cni, 'netns');
  const id = identityOf(call);
  const name = `${id.namespace}/${endpointNameOf(id)}`;
  const endpoint = await api.getEndpoint(id.namespace, endpointNameOf(id));
  if (!endpoint) throw new CniError(CniCode.UnknownContainer, `WorkloadEndpoint ${name} does not exist`);
  const spec = endpoint.spec as { containerID?: string; interfaceName?: string };
  if (spec.containerID !== id.containerId) {
    throw new CniError(CniCode.UnknownContainer, `WorkloadEndpoint ${name} belongs to container ${spec.containerID}`);
  }
  const hostVeth = hostVethName(id);
  if (spec.interfaceName !== hostVeth) {
    throw new CniError(
      CniCode.UnknownContainer,
      `WorkloadEndpoint ${name} names ${spec.interfaceName}, not ${hostVeth}`,
    );
  }
  const address = checkedAddress(conf, endpoint, name);
  await checkWorkloadLink({ hostVeth, netns, ifname: id.ifname, address });
  await ipam('CHECK');
  return undefined;
}
