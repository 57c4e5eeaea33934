// tabby-bgp's configuration file (CONTRACT §8), read and checked with errors that name the file and field.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { parseIpv4Prefix } from './packet';
import { AFI_IPV4, SAFI_UNICAST } from './packet/types';
import { PEER_DEFAULTS, type PeerConfig } from './session';

export interface SpeakerPeerConfig extends PeerConfig {
  routeReflectorClient: boolean;
  nextHopSelf: boolean;
  /** For status: "node-to-node mesh", "global", "node specific" (tabby-node), or "" (tabby-bgp). */
  type: string;
  /** Calico-style name, e.g. Mesh_192_0_2_12; defaults to the address. */
  name: string;
}

export interface SpeakerConfig {
  asNumber: number;
  routerId: string;
  listen: { address: string; port: number };
  peers: SpeakerPeerConfig[];
  routeReflectorClusterId: string;
  originate: string[];
  kernel: { export: boolean; table: string };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Json = Record<string, unknown>;

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

class FieldReader {
  constructor(
    private readonly file: string,
    private readonly path: string,
    readonly obj: Json,
  ) {}

  fail(field: string, detail: string): never {
    throw new ConfigError(`${this.file}: ${this.path}${field}: ${detail}`);
  }

  only(allowed: readonly string[]): void {
    for (const k of Object.keys(this.obj)) if (!allowed.includes(k)) this.fail(k, `unknown field`);
  }

  int(field: string, min: number, max: number, fallback?: number): number {
    const v = this.obj[field];
    if (v === undefined || v === null) {
      if (fallback === undefined) this.fail(field, 'required');
      return fallback;
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.fail(field, `must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  bool(field: string, fallback: boolean): boolean {
    const v = this.obj[field];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') this.fail(field, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  str(field: string, fallback?: string): string {
    const v = this.obj[field];
    if (v === undefined || v === null) {
      if (fallback === undefined) this.fail(field, 'required');
      return fallback;
    }
    if (typeof v !== 'string') this.fail(field, `must be a string, got ${JSON.stringify(v)}`);
    return v;
  }

  ipv4(field: string, fallback?: string, allowEmpty = false): string {
    const v = this.str(field, fallback);
    if ((allowEmpty && v === '') || IPV4.test(v)) return v;
    return this.fail(field, `must be an IPv4 address, got ${JSON.stringify(v)}`);
  }

  object(field: string): FieldReader {
    const v = this.obj[field] ?? {};
    if (typeof v !== 'object' || Array.isArray(v)) this.fail(field, 'must be a mapping');
    return new FieldReader(this.file, `${this.path}${field}.`, v as Json);
  }

  list(field: string): unknown[] {
    const v = this.obj[field] ?? [];
    if (!Array.isArray(v)) this.fail(field, 'must be a list');
    return v;
  }
}

const MAX_ASN = 4294967295;

export function parseSpeakerConfig(text: string, file: string): SpeakerConfig {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new ConfigError(`${file}: invalid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new ConfigError(`${file}: must be a mapping`);
  const top = new FieldReader(file, '', doc as Json);
  top.only(['asNumber', 'routerId', 'listen', 'peers', 'routeReflectorClusterId', 'originate', 'kernel']);
  const asNumber = top.int('asNumber', 1, MAX_ASN);
  const routerId = top.ipv4('routerId');
  const listen = top.object('listen');
  listen.only(['address', 'port']);
  const kernel = top.object('kernel');
  kernel.only(['export', 'table']);
  const table = kernel.str('table', 'main');
  if (!/^(main|local|default|\d+)$/.test(table))
    kernel.fail('table', `must be main, local, default or a number, got "${table}"`);
  const originate = top.list('originate').map((v, i) => {
    try {
      if (typeof v === 'string') {
        parseIpv4Prefix(v);
        return v;
      }
    } catch {
      // reported below
    }
    return top.fail(`originate[${i}]`, `must be an IPv4 CIDR without host bits, got ${JSON.stringify(v)}`);
  });
  const seen = new Set<string>();
  const peers = top.list('peers').map((p, i) => {
    if (typeof p !== 'object' || p === null || Array.isArray(p)) top.fail(`peers[${i}]`, 'must be a mapping');
    const r = new FieldReader(file, `peers[${i}].`, p as Json);
    r.only([
      'address',
      'asNumber',
      'port',
      'passive',
      'password',
      'holdTime',
      'keepaliveTime',
      'routeReflectorClient',
      'nextHopSelf',
      'ttlSecurity',
      'gracefulRestart',
      'restartTime',
      'connectRetryTime',
      'name',
    ]);
    const address = r.ipv4('address');
    if (seen.has(address)) r.fail('address', `${address} is configured twice`);
    seen.add(address);
    const holdTimeSec = r.int('holdTime', 0, 65535, PEER_DEFAULTS.holdTimeSec);
    if (holdTimeSec === 1 || holdTimeSec === 2) r.fail('holdTime', 'must be 0 or at least 3 (RFC 4271)');
    const peer: SpeakerPeerConfig = {
      ...PEER_DEFAULTS,
      families: [[AFI_IPV4, SAFI_UNICAST]],
      address,
      asNumber: r.int('asNumber', 1, MAX_ASN),
      port: r.int('port', 1, 65535, 179),
      passive: r.bool('passive', false),
      password: r.str('password', ''),
      holdTimeSec,
      keepaliveTimeSec: r.int('keepaliveTime', 1, 65535, Math.max(1, Math.floor(holdTimeSec / 3))),
      connectRetrySec: r.int('connectRetryTime', 1, 3600, PEER_DEFAULTS.connectRetrySec),
      ttlSecurity: r.int('ttlSecurity', 0, 254, 0),
      gracefulRestart: r.bool('gracefulRestart', true),
      restartTimeSec: r.int('restartTime', 1, 4095, PEER_DEFAULTS.restartTimeSec),
      routeReflectorClient: r.bool('routeReflectorClient', false),
      nextHopSelf: r.bool('nextHopSelf', false),
      type: '',
      name: r.str('name', address),
    };
    // Sessions leave from the address we listen on, so the peer sees the address it expects.
    const listenAddress = listen.obj.address;
    if (typeof listenAddress === 'string' && listenAddress !== '0.0.0.0') peer.localAddress = listenAddress;
    return peer;
  });
  return {
    asNumber,
    routerId,
    listen: { address: listen.ipv4('address', '0.0.0.0'), port: listen.int('port', 0, 65535, 179) },
    peers,
    routeReflectorClusterId: top.ipv4('routeReflectorClusterId', '', true),
    originate,
    kernel: { export: kernel.bool('export', false), table },
  };
}

export function readSpeakerConfig(file: string): SpeakerConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseSpeakerConfig(text, file);
}
