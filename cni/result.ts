// The tabby plugin's results (pure): what ADD prints, in the shape of the config's CNI version, and the IPv4
// address read back from an IPAM result or a prevResult. Chained plugins (portmap, bandwidth) read it: the
// interfaces, with the workload's marked by its sandbox, and the addresses pointing at it.
import { isIPv4 } from 'node:net';
import { CniCode, CniError, ipEntry } from './protocol';

/** Every host-side veth has this MAC (Calico's), so a pod's neighbour entry for its gateway never changes. */
export const HOST_SIDE_MAC = 'ee:ee:ee:ee:ee:ee';

export interface AddResultInput {
  hostVeth: string;
  /** The workload's interface: its name, MAC, MTU and network namespace path. */
  ifname: string;
  mac: string;
  mtu: number;
  netns: string;
  /** The workload's address with its prefix length (/32). */
  address: string;
  dns: Record<string, unknown>;
}

/**
 * ADD's result: interfaces [host veth, workload interface with its sandbox], the address on interface 1 with no
 * gateway and the default route (as Calico returns them: the workload routes through 169.254.1.1, which is no
 * address of the result's), and the DNS settings. 0.3.x/0.4.0 addresses carry their version; the interface MTU
 * is a 1.1.0 field.
 */
export function addResult(cniVersion: string, input: AddResultInput) {
  return {
    cniVersion,
    interfaces: [
      { name: input.hostVeth, mac: HOST_SIDE_MAC },
      {
        name: input.ifname,
        mac: input.mac,
        ...(cniVersion === '1.1.0' ? { mtu: input.mtu } : {}),
        sandbox: input.netns,
      },
    ],
    ips: [ipEntry(cniVersion, input.address, { interface: 1 })],
    routes: [{ dst: '0.0.0.0/0' }],
    dns: input.dns,
  };
}

/** The first IPv4 address of a result's `ips` (without its prefix length), or undefined. */
export function firstIpv4(result: unknown): string | undefined {
  const ips = (result as { ips?: unknown } | undefined)?.ips;
  if (!Array.isArray(ips)) return undefined;
  for (const entry of ips) {
    const address = String((entry as { address?: unknown } | null)?.address ?? '').split('/')[0]!;
    if (isIPv4(address)) return address;
  }
  return undefined;
}

/** The IPv4 address an IPAM plugin returned; tabby plumbs IPv4 only, so a result without one is an error. */
export function ipamAddress(result: unknown, ipamType: string): string {
  const address = firstIpv4(result);
  if (address === undefined) {
    throw new CniError(
      CniCode.InvalidConfig,
      `IPAM plugin ${ipamType} returned no IPv4 address (tabby supports IPv4 only): ${JSON.stringify(result)}`,
    );
  }
  return address;
}
