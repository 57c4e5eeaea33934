// The node's IPv4 address (CONTRACT §3 `--ip`, `--ip-autodetection-method`), as calico-node finds it:
// `first-found` (the first global address on an interface that is not a container or tunnel interface),
// `interface=REGEX`, `can-reach=IP` (the source the kernel would use towards IP). Wrong autodetection is a known
// Calico pain, so every failure says what was looked at.
import { type CommandRunner, commandOutput, commandRunner } from '../felix/command';

/** Interfaces calico-node skips in first-found (its DEFAULT_INTERFACES_TO_EXCLUDE). */
const EXCLUDED_INTERFACES = [
  /^docker.*/,
  /^cbr.*/,
  /^dummy.*/,
  /^virbr.*/,
  /^lxcbr.*/,
  /^veth.*/,
  /^lo$/,
  /^cali.*/,
  /^tunl.*/,
  /^flannel.*/,
  /^kube-ipvs.*/,
  /^cni.*/,
  /^vxlan\.calico$/,
  /^vxlan-v6\.calico$/,
  /^wireguard\.cali$/,
  /^nodelocaldns.*/,
  /^podman.*/,
];

export interface InterfaceAddress {
  ifname: string;
  address: string;
  prefixLength: number;
}

interface AddrJson {
  ifname: string;
  flags?: string[];
  addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[];
}

/** Global IPv4 addresses of up interfaces, in the kernel's order. */
export function parseAddresses(json: string): InterfaceAddress[] {
  const result: InterfaceAddress[] = [];
  for (const link of JSON.parse(json) as AddrJson[]) {
    if (link.flags && !link.flags.includes('UP')) continue;
    for (const a of link.addr_info ?? []) {
      if (a.family === 'inet' && (a.scope ?? 'global') === 'global') {
        result.push({ ifname: link.ifname, address: a.local, prefixLength: a.prefixlen });
      }
    }
  }
  return result;
}

export type AutodetectMethod =
  | { kind: 'first-found' }
  | { kind: 'interface'; pattern: RegExp }
  | { kind: 'can-reach'; destination: string };

/** Parses `first-found`, `interface=REGEX[,REGEX]`, `can-reach=IP`; throws naming the method at fault. */
export function parseAutodetectMethod(text: string): AutodetectMethod {
  if (text === '' || text === 'first-found') return { kind: 'first-found' };
  const eq = text.indexOf('=');
  const name = eq < 0 ? text : text.slice(0, eq);
  const value = eq < 0 ? '' : text.slice(eq + 1);
  if (name === 'interface' && value !== '') {
    try {
      return { kind: 'interface', pattern: new RegExp(`^(?:${value.split(',').join('|')})$`) };
    } catch (err) {
      throw new Error(`--ip-autodetection-method: interface=${value}: ${(err as Error).message}`);
    }
  }
  if (name === 'can-reach' && value !== '') return { kind: 'can-reach', destination: value };
  throw new Error(
    `--ip-autodetection-method: "${text}" is not first-found, interface=REGEX or can-reach=IP (other Calico methods are not supported)`,
  );
}

/** The first address the method picks among these (pure: can-reach is resolved by the caller). */
export function pickAddress(
  addresses: readonly InterfaceAddress[],
  method: AutodetectMethod,
): InterfaceAddress | undefined {
  if (method.kind === 'interface') return addresses.find((a) => method.pattern.test(a.ifname));
  return addresses.find((a) => !EXCLUDED_INTERFACES.some((re) => re.test(a.ifname)));
}

export async function autodetectAddress(
  method: AutodetectMethod,
  run: CommandRunner = commandRunner(),
): Promise<InterfaceAddress> {
  const addresses = parseAddresses(await commandOutput(run, 'ip', ['-j', '-4', 'addr', 'show']));
  const seen = addresses.map((a) => `${a.ifname} ${a.address}/${a.prefixLength}`).join(', ') || 'none';
  if (method.kind === 'can-reach') {
    const route = JSON.parse(await commandOutput(run, 'ip', ['-j', '-4', 'route', 'get', method.destination])) as {
      prefsrc?: string;
    }[];
    const source = route[0]?.prefsrc;
    const found = addresses.find((a) => a.address === source);
    if (!found)
      throw new Error(
        `IP autodetection (can-reach=${method.destination}): no local address reaches it (addresses: ${seen})`,
      );
    return found;
  }
  const found = pickAddress(addresses, method);
  if (!found) {
    const how = method.kind === 'interface' ? `interface=${method.pattern.source}` : 'first-found';
    throw new Error(`IP autodetection (${how}): no IPv4 address found (addresses: ${seen}); set --ip`);
  }
  return found;
}

/** The MTU of the interface that holds an address (the underlay a node's tunnels and pods are sized from). */
export async function interfaceMtuOf(address: string, run: CommandRunner = commandRunner()): Promise<number> {
  const links = JSON.parse(await commandOutput(run, 'ip', ['-j', '-4', 'addr', 'show'])) as (AddrJson & {
    mtu?: number;
  })[];
  const holder = links.find((l) => l.addr_info?.some((a) => a.local === address));
  if (holder?.mtu === undefined) throw new Error(`no interface holds ${address}`);
  return holder.mtu;
}
