// The workload's veth (CONTRACT §6), made with iproute2 in two commands. On the host: `caliX` with MAC
// ee:ee:ee:ee:ee:ee and felix's sysctls (proxy ARP answering at once, so the workload's first packet goes out),
// up, and the route `<ip>/32 dev caliX scope link proto 80`, which felix adopts once the endpoint is in the
// datastore. The workload's end is created straight inside its network namespace (a path: the runtime's
// CNI_NETNS) as CNI_IFNAME, so it never exists on the host under a name that could clash; there it gets the
// address /32, `169.254.1.1 dev <ifname> scope link` and the default route via 169.254.1.1.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { type CommandResult, commandRunner } from '../felix/command';
import { workloadSysctls } from '../felix/interfaces';
import { FELIX_ROUTE_PROTOCOL } from '../felix/routes/route';
import { loadNativeAddon } from '../native/addon';
import { CniCode, CniError } from './protocol';
import { HOST_SIDE_MAC } from './result';

/** The workload's gateway: no host holds it; proxy ARP on the host veth answers for it. */
export const WORKLOAD_GATEWAY = '169.254.1.1';

export interface WorkloadLink {
  hostVeth: string;
  /** Path of the workload's network namespace. */
  netns: string;
  ifname: string;
  /** The workload's IPv4 address (without prefix length). */
  address: string;
  mtu: number;
}

const run = commandRunner();

/** Our own network namespace's /proc/sys/net: per process, whatever mount namespace we run in. */
const PROC_NET = '/proc/sys/net';

function failure(what: string, result: CommandResult): CniError {
  return new CniError(CniCode.IoFailure, `${what}: ${(result.stderr || result.stdout).trim()}`);
}

function hostIp(args: string[], input?: string): Promise<CommandResult> {
  return run('ip', args, input);
}

function workloadIp(netns: string, args: string[], input?: string): Promise<CommandResult> {
  return run('nsenter', [`--net=${netns}`, 'ip', ...args], input);
}

/**
 * The workload's end is configured over netlink from inside its namespace by the native addon (no `nsenter ip`
 * per pod); where the addon does not load, through `nsenter ip`.
 */
interface NetnsLink {
  configureWorkloadInterface(netns: string, ifname: string, address: string, gateway: string): Promise<void>;
  /** False when the namespace or the interface is gone. */
  deleteWorkloadInterface(netns: string, ifname: string): Promise<boolean>;
}
const addon = loadNativeAddon();
const netnsLink = addon instanceof Error ? undefined : (addon as unknown as NetnsLink);

function isMissingDevice(result: CommandResult): boolean {
  return /Cannot find device|does not exist/.test(result.stderr);
}

/** A random locally administered unicast MAC, as the kernel would give the workload's end itself. */
function randomMac(): string {
  const bytes = randomBytes(6);
  bytes[0] = (bytes[0]! & 0xfe) | 0x02;
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

function writeSysctl(key: string, value: string): void {
  try {
    writeFileSync(`${PROC_NET}/${key}`, value);
  } catch (err) {
    throw new CniError(CniCode.IoFailure, `sysctl net.${key.replaceAll('/', '.')}=${value}: ${(err as Error).message}`);
  }
}

/** Makes the veth and everything on both ends; returns the MAC of the workload's end. */
export async function createWorkloadLink(link: WorkloadLink): Promise<string> {
  const { hostVeth, netns, ifname, address, mtu } = link;
  // A veth of an earlier ADD for this workload (a retry, or a new sandbox of the same pod) is replaced, as Calico does.
  if (existsSync(`${PROC_NET}/ipv4/conf/${hostVeth}`)) await deleteHostVeth(hostVeth);
  const mac = randomMac();
  const host = await hostIp(
    ['-batch', '-'],
    [
      `link add ${hostVeth} mtu ${mtu} address ${HOST_SIDE_MAC} type veth peer name ${ifname} mtu ${mtu} address ${mac} netns ${netns}`,
      `link set ${hostVeth} up`,
      `route replace ${address}/32 dev ${hostVeth} scope link proto ${FELIX_ROUTE_PROTOCOL}`,
      '',
    ].join('\n'),
  );
  if (host.code !== 0) throw failure(`creating ${hostVeth} with ${ifname} in ${netns}`, host);
  const rpFilter = readFileSync(`${PROC_NET}/ipv4/conf/default/rp_filter`, 'utf8').trim();
  for (const [key, value] of workloadSysctls(hostVeth, rpFilter)) writeSysctl(key, value);
  await configureInside(netns, ifname, address);
  return mac;
}

/** `<address>/32`, up, `169.254.1.1 dev <ifname> scope link`, `default via 169.254.1.1`. */
async function configureInside(netns: string, ifname: string, address: string): Promise<void> {
  if (netnsLink) {
    try {
      await netnsLink.configureWorkloadInterface(netns, ifname, address, WORKLOAD_GATEWAY);
      return;
    } catch (err) {
      throw new CniError(CniCode.IoFailure, `configuring ${ifname} in ${netns}: ${(err as Error).message}`);
    }
  }
  const inside = await workloadIp(
    netns,
    ['-batch', '-'],
    [
      `addr add ${address}/32 dev ${ifname}`,
      `link set ${ifname} up`,
      `route add ${WORKLOAD_GATEWAY} dev ${ifname} scope link`,
      `route add default via ${WORKLOAD_GATEWAY} dev ${ifname}`,
      '',
    ].join('\n'),
  );
  if (inside.code !== 0) throw failure(`configuring ${ifname} in ${netns}`, inside);
}

/** Deletes the host end (and with it the workload's); false when there was none. */
export async function deleteHostVeth(hostVeth: string): Promise<boolean> {
  const result = await hostIp(['link', 'del', 'dev', hostVeth]);
  if (result.code === 0) return true;
  if (isMissingDevice(result)) return false;
  throw failure(`deleting ${hostVeth}`, result);
}

/**
 * Deletes the workload's interface from inside its namespace (its host end goes with it): false when the
 * namespace or the interface is gone already.
 */
export async function deleteWorkloadInterface(netns: string, ifname: string): Promise<boolean> {
  if (!existsSync(netns)) return false;
  if (netnsLink) {
    try {
      return await netnsLink.deleteWorkloadInterface(netns, ifname);
    } catch (err) {
      throw new CniError(CniCode.IoFailure, `deleting ${ifname} in ${netns}: ${(err as Error).message}`);
    }
  }
  const result = await workloadIp(netns, ['link', 'del', 'dev', ifname]);
  if (result.code === 0) return true;
  // nsenter itself failed: the path is no namespace any more (its mount went away), so nothing of ours is inside.
  if (isMissingDevice(result) || result.stderr.startsWith('nsenter:')) return false;
  throw failure(`deleting ${ifname} in ${netns}`, result);
}

interface IpLink {
  flags?: string[];
  address?: string;
  /** With `addr show`. */
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}
interface IpRoute {
  dst?: string;
  dev?: string;
  gateway?: string;
  scope?: string;
}

/** `ip -j -batch` prints one JSON document per command, each on its own line. */
function jsonLines(stdout: string): unknown[] {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as unknown);
}

function checkFailure(message: string): CniError {
  return new CniError(CniCode.UnknownContainer, message);
}

/** CHECK: both ends are there, up, addressed and routed as createWorkloadLink left them; else says what is not. */
export async function checkWorkloadLink(link: Omit<WorkloadLink, 'mtu'>): Promise<void> {
  const { hostVeth, netns, ifname, address } = link;
  const host = await hostIp(['-j', '-batch', '-'], `link show dev ${hostVeth}\nroute show exact ${address}/32\n`);
  if (host.code !== 0) {
    if (isMissingDevice(host)) throw checkFailure(`host interface ${hostVeth} does not exist`);
    throw failure(`reading ${hostVeth}`, host);
  }
  const [[hostLink], hostRoutes] = jsonLines(host.stdout) as [IpLink[], IpRoute[]];
  if (!hostLink?.flags?.includes('UP')) throw checkFailure(`host interface ${hostVeth} is not up`);
  if (hostLink.address !== HOST_SIDE_MAC) {
    throw checkFailure(`host interface ${hostVeth} has MAC ${hostLink.address}, not ${HOST_SIDE_MAC}`);
  }
  if (!hostRoutes.some((r) => r.dev === hostVeth)) {
    throw checkFailure(`the host has no route ${address}/32 dev ${hostVeth}`);
  }

  if (!existsSync(netns)) throw checkFailure(`network namespace ${netns} does not exist`);
  const inside = await workloadIp(
    netns,
    ['-j', '-batch', '-'],
    // `addr show` rather than `link show` and `addr show`: in a batch, an `addr show` after a `link show` lists no
    // addresses.
    `addr show dev ${ifname}\nroute show dev ${ifname}\n`,
  );
  if (inside.code !== 0) {
    if (isMissingDevice(inside)) throw checkFailure(`interface ${ifname} does not exist in ${netns}`);
    throw failure(`reading ${ifname} in ${netns}`, inside);
  }
  const [[podLink], podRoutes] = jsonLines(inside.stdout) as [IpLink[], IpRoute[]];
  if (!podLink?.flags?.includes('UP')) throw checkFailure(`interface ${ifname} in ${netns} is not up`);
  const addresses = (podLink.addr_info ?? []).filter((a) => a.family === 'inet');
  if (!addresses.some((a) => a.local === address && a.prefixlen === 32)) {
    const held = addresses.map((a) => `${a.local}/${a.prefixlen}`).join(', ') || 'none';
    throw checkFailure(`interface ${ifname} in ${netns} lacks ${address}/32 (it has ${held})`);
  }
  if (!podRoutes.some((r) => r.dst === WORKLOAD_GATEWAY && r.scope === 'link')) {
    throw checkFailure(`${netns} has no route ${WORKLOAD_GATEWAY} dev ${ifname} scope link`);
  }
  if (!podRoutes.some((r) => r.dst === 'default' && r.gateway === WORKLOAD_GATEWAY)) {
    throw checkFailure(`${netns} has no default route via ${WORKLOAD_GATEWAY} dev ${ifname}`);
  }
}
