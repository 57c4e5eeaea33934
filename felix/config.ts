// Felix's effective settings: FelixConfiguration "default", overridden field by field by "node.<name>", over
// Calico's defaults. Only the fields felix acts on are read.
import { type FelixConfigurationSpec, parseGoDuration, type Resource } from '../datastore';

export interface ProtoPort {
  protocol: 'tcp' | 'udp';
  port: number;
  /** Only to or from this CIDR (Calico's `net`). */
  net?: string;
}

export interface FelixSettings {
  interfacePrefix: string;
  /** undefined: on when a pool uses it (Calico's auto mode). */
  ipipEnabled: boolean | undefined;
  vxlanEnabled: boolean | undefined;
  /** 0: derived from the underlay's MTU. */
  ipipMtu: number;
  vxlanMtu: number;
  vxlanVni: number;
  vxlanPort: number;
  routeRefreshIntervalMs: number;
  iptablesRefreshIntervalMs: number;
  ipsetsRefreshIntervalMs: number;
  failsafeInbound: ProtoPort[];
  failsafeOutbound: ProtoPort[];
  defaultEndpointToHostAction: 'Drop' | 'Accept' | 'Return';
  natOutgoingAddress: string | undefined;
}

/** Calico's defaults (felix/config/config_params.go). */
export const FELIX_DEFAULTS: FelixSettings = {
  interfacePrefix: 'cali',
  ipipEnabled: undefined,
  vxlanEnabled: undefined,
  ipipMtu: 0,
  vxlanMtu: 0,
  vxlanVni: 4096,
  vxlanPort: 4789,
  routeRefreshIntervalMs: 90_000,
  iptablesRefreshIntervalMs: 180_000,
  ipsetsRefreshIntervalMs: 90_000,
  failsafeInbound: [
    { protocol: 'tcp', port: 22 },
    { protocol: 'udp', port: 68 },
    { protocol: 'tcp', port: 179 },
    { protocol: 'tcp', port: 2379 },
    { protocol: 'tcp', port: 2380 },
    { protocol: 'tcp', port: 5473 },
    { protocol: 'tcp', port: 6443 },
  ],
  failsafeOutbound: [
    { protocol: 'udp', port: 53 },
    { protocol: 'udp', port: 67 },
    { protocol: 'tcp', port: 179 },
    { protocol: 'tcp', port: 2379 },
    { protocol: 'tcp', port: 2380 },
    { protocol: 'tcp', port: 5473 },
    { protocol: 'tcp', port: 6443 },
  ],
  defaultEndpointToHostAction: 'Drop',
  natOutgoingAddress: undefined,
};

function duration(text: string | undefined, fallback: number): number {
  return text === undefined ? fallback : (parseGoDuration(text) ?? fallback);
}

function protoPorts(list: FelixConfigurationSpec['failsafeInboundHostPorts'], fallback: ProtoPort[]): ProtoPort[] {
  if (list === undefined) return fallback;
  return list.map((p) => ({
    protocol: (p.protocol ?? 'tcp').toLowerCase() === 'udp' ? 'udp' : 'tcp',
    port: p.port,
    ...(p.net ? { net: p.net } : {}),
  }));
}

function capitalized(text: string | undefined): FelixSettings['defaultEndpointToHostAction'] | undefined {
  const t = text?.toLowerCase();
  return t === 'drop' ? 'Drop' : t === 'accept' ? 'Accept' : t === 'return' ? 'Return' : undefined;
}

/** The settings for one node from the FelixConfiguration resources ("default" and "node.<name>"). */
export function felixSettings(configs: Iterable<Resource>, nodeName: string): FelixSettings {
  let merged: FelixConfigurationSpec = {};
  const byName = new Map([...configs].map((c) => [c.metadata.name, (c.spec ?? {}) as FelixConfigurationSpec]));
  for (const name of ['default', `node.${nodeName}`]) {
    const spec = byName.get(name);
    if (!spec) continue;
    const defined = Object.fromEntries(Object.entries(spec).filter(([, v]) => v !== undefined && v !== null));
    merged = { ...merged, ...defined };
  }
  const d = FELIX_DEFAULTS;
  return {
    interfacePrefix: merged.interfacePrefix || d.interfacePrefix,
    ipipEnabled: merged.ipipEnabled,
    vxlanEnabled: merged.vxlanEnabled,
    ipipMtu: merged.ipipMTU ?? d.ipipMtu,
    vxlanMtu: merged.vxlanMTU ?? d.vxlanMtu,
    vxlanVni: merged.vxlanVNI ?? d.vxlanVni,
    vxlanPort: merged.vxlanPort ?? d.vxlanPort,
    routeRefreshIntervalMs: duration(merged.routeRefreshInterval, d.routeRefreshIntervalMs),
    iptablesRefreshIntervalMs: duration(merged.iptablesRefreshInterval, d.iptablesRefreshIntervalMs),
    ipsetsRefreshIntervalMs: duration(merged.ipsetsRefreshInterval, d.ipsetsRefreshIntervalMs),
    failsafeInbound: protoPorts(merged.failsafeInboundHostPorts, d.failsafeInbound),
    failsafeOutbound: protoPorts(merged.failsafeOutboundHostPorts, d.failsafeOutbound),
    defaultEndpointToHostAction: capitalized(merged.defaultEndpointToHostAction) ?? d.defaultEndpointToHostAction,
    natOutgoingAddress: merged.natOutgoingAddress || undefined,
  };
}
