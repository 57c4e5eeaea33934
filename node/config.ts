// tabby-node's flags (CONTRACT §3), each also read from its environment variable. What is parsed here is
// checked here: a bad value is one line naming the flag, before anything starts.
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { type DatastoreConfig, parseGoDuration } from '../datastore';

export interface NodeConfig {
  nodeName: string;
  /** `ip/prefix`, or 'autodetect'. */
  ip: string;
  ipAutodetectionMethod: string;
  /** This node's AS; undefined: BGPConfiguration's (64512). */
  asNumber: number | undefined;
  healthPort: number;
  metricsPort: number;
  datastore: DatastoreConfig;
  runDir: string;
  /** Unused addresses are released after this long (0: never). */
  ipamLeakGracePeriodMs: number;
  /** How often the IPAM garbage collector runs. */
  ipamGcIntervalMs: number;
  defaultPool: DefaultPoolConfig;
  /** TABBY_DISABLE_FELIX / CALICO_DISABLE_FELIX: run without programming this host's dataplane. */
  felixDisabled: boolean;
  /** TABBY_NETWORKING_BACKEND / CALICO_NETWORKING_BACKEND: `bird` (BGP, the default), `vxlan` or `none` (no BGP). */
  bgpEnabled: boolean;
  /**
   * TABBY_NODE_STATUS_PERIOD: the updatePeriodSeconds of the CalicoNodeStatus the node creates for itself when none
   * exists (0: create none, report only into those users create, as Calico).
   */
  nodeStatusPeriodSeconds: number;
}

export interface DefaultPoolConfig {
  cidr: string;
  blockSize: number;
  ipipMode: 'Always' | 'CrossSubnet' | 'Never';
  vxlanMode: 'Always' | 'CrossSubnet' | 'Never';
  natOutgoing: boolean;
}

export class ConfigError extends Error {}

export const NODE_USAGE = `Usage: tabby-node [flags]   (each flag also from the environment variable in brackets)
  --node-name NAME              (NODENAME; default: the hostname)
  --ip IP/LEN|autodetect        (IP; default autodetect) this node's IPv4 address with its prefix length
  --ip-autodetection-method M   (IP_AUTODETECTION_METHOD) first-found | interface=REGEX | can-reach=IP
  --as N                        (AS) this node's AS number (default: BGPConfiguration's, 64512)
  --health-port N               (TABBY_HEALTH_PORT; 9099) /liveness and /readiness on the node's address
  --metrics-port N              (TABBY_METRICS_PORT; 9091) Prometheus /metrics on the node's address
  --datastore-type etcdv3       (DATASTORE_TYPE)
  --etcd-endpoints URL[,URL]    (ETCD_ENDPOINTS)
  --kubeconfig FILE             (KUBECONFIG)
  --run-dir DIR                 (TABBY_RUN_DIR; default /var/run/tabby): status.sock, ipam.sock, nodename
  --ipam-leak-grace-period DUR  (TABBY_IPAM_LEAK_GRACE_PERIOD; default 15m, 0 disables): release addresses
                                no endpoint has used for this long
First start against an empty datastore creates the default pool from TABBY_IPV4POOL_CIDR (192.168.0.0/16),
TABBY_IPV4POOL_BLOCK_SIZE (26), TABBY_IPV4POOL_IPIP (Always), TABBY_IPV4POOL_VXLAN (Never),
TABBY_IPV4POOL_NAT_OUTGOING (true); the CALICO_ names are accepted too.
TABBY_DISABLE_FELIX=true (or CALICO_DISABLE_FELIX) runs it without programming the dataplane;
TABBY_NETWORKING_BACKEND=vxlan|none (or CALICO_NETWORKING_BACKEND) runs it without BGP.
TABBY_NODE_STATUS_PERIOD (default 10s; 0 creates none) is the refresh period of the CalicoNodeStatus the node
creates for itself when none reports it: every node watches these, so a large cluster wants a longer one.
`;

const FLAGS = {
  'node-name': { type: 'string', env: 'NODENAME' },
  ip: { type: 'string', env: 'IP' },
  'ip-autodetection-method': { type: 'string', env: 'IP_AUTODETECTION_METHOD' },
  as: { type: 'string', env: 'AS' },
  'health-port': { type: 'string', env: 'TABBY_HEALTH_PORT' },
  'metrics-port': { type: 'string', env: 'TABBY_METRICS_PORT' },
  'datastore-type': { type: 'string', env: 'DATASTORE_TYPE' },
  'etcd-endpoints': { type: 'string', env: 'ETCD_ENDPOINTS' },
  kubeconfig: { type: 'string', env: 'KUBECONFIG' },
  'run-dir': { type: 'string', env: 'TABBY_RUN_DIR' },
  'ipam-leak-grace-period': { type: 'string', env: 'TABBY_IPAM_LEAK_GRACE_PERIOD' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A Go duration (`90s`, `15m`, `1h30m`) in milliseconds, or a ConfigError naming the flag. */
export function parseDuration(text: string, flag: string): number {
  const ms = parseGoDuration(text.trim());
  if (ms === undefined) throw new ConfigError(`--${flag}: "${text}" is not a duration such as 90s, 15m or 1h`);
  return ms;
}

function poolEnv(env: NodeJS.ProcessEnv, name: string): string | undefined {
  return env[`TABBY_${name}`] ?? env[`CALICO_${name}`];
}

function encapMode(value: string | undefined, fallback: DefaultPoolConfig['ipipMode'], variable: string) {
  if (value === undefined || value === '') return fallback;
  const mode = ['Always', 'CrossSubnet', 'Never'].find((m) => m.toLowerCase() === value.toLowerCase());
  if (!mode) throw new ConfigError(`TABBY_${variable}: must be Always, CrossSubnet or Never, got "${value}"`);
  return mode as DefaultPoolConfig['ipipMode'];
}

function defaultPool(env: NodeJS.ProcessEnv): DefaultPoolConfig {
  const blockSizeText = poolEnv(env, 'IPV4POOL_BLOCK_SIZE') ?? '26';
  const blockSize = Number(blockSizeText);
  if (!Number.isInteger(blockSize) || blockSize < 20 || blockSize > 32) {
    throw new ConfigError(`TABBY_IPV4POOL_BLOCK_SIZE: must be 20 to 32, got "${blockSizeText}"`);
  }
  const nat = (poolEnv(env, 'IPV4POOL_NAT_OUTGOING') ?? 'true').toLowerCase();
  if (nat !== 'true' && nat !== 'false')
    throw new ConfigError(`TABBY_IPV4POOL_NAT_OUTGOING: must be true or false, got "${nat}"`);
  return {
    cidr: poolEnv(env, 'IPV4POOL_CIDR') ?? '192.168.0.0/16',
    blockSize,
    ipipMode: encapMode(poolEnv(env, 'IPV4POOL_IPIP'), 'Always', 'IPV4POOL_IPIP'),
    vxlanMode: encapMode(poolEnv(env, 'IPV4POOL_VXLAN'), 'Never', 'IPV4POOL_VXLAN'),
    natOutgoing: nat === 'true',
  };
}

function networkingBackend(env: NodeJS.ProcessEnv): 'bird' | 'vxlan' | 'none' {
  const value = (env.TABBY_NETWORKING_BACKEND ?? env.CALICO_NETWORKING_BACKEND ?? 'bird').toLowerCase();
  if (value !== 'bird' && value !== 'vxlan' && value !== 'none') {
    throw new ConfigError(`TABBY_NETWORKING_BACKEND: must be bird, vxlan or none, got "${value}"`);
  }
  return value;
}

function nodeStatusPeriod(env: NodeJS.ProcessEnv): number {
  const text = env.TABBY_NODE_STATUS_PERIOD ?? '10s';
  const ms = parseGoDuration(text.trim());
  if (ms === undefined || ms % 1000 !== 0) {
    throw new ConfigError(`TABBY_NODE_STATUS_PERIOD: "${text}" is not a whole number of seconds such as 10s or 1m`);
  }
  return ms / 1000;
}

/** The configuration, or undefined when --help was asked for. */
export function parseNodeConfig(argv: string[], env: NodeJS.ProcessEnv): NodeConfig | undefined {
  let values: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries(
      Object.entries(FLAGS).map(([name, f]) => [
        name,
        'short' in f ? { type: f.type, short: f.short } : { type: f.type },
      ]),
    );
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new ConfigError((err as Error).message.split('. ')[0]!);
  }
  if (values.help) return undefined;
  const get = (name: Exclude<keyof typeof FLAGS, 'help'>): string | undefined => {
    const v = values[name];
    return typeof v === 'string' ? v : env[FLAGS[name].env] || undefined;
  };
  const type = get('datastore-type') ?? 'etcdv3';
  if (type !== 'etcdv3' && type !== 'kubernetes') {
    throw new ConfigError(`--datastore-type: must be etcdv3 or kubernetes, got "${type}"`);
  }
  const endpoints = (get('etcd-endpoints') ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  const kubeconfig = get('kubeconfig');
  const nodeName = get('node-name') ?? hostname();
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(nodeName)) {
    throw new ConfigError(
      `--node-name: "${nodeName}" is not a valid node name (lower-case letters, digits, '-' and '.')`,
    );
  }
  const ip = get('ip') ?? 'autodetect';
  if (ip !== 'autodetect' && !/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(ip)) {
    throw new ConfigError(
      `--ip: "${ip}" is not an IPv4 address with its prefix length (e.g. 192.0.2.11/24) or autodetect`,
    );
  }
  const asText = get('as');
  const asNumber = asText === undefined ? undefined : Number(asText);
  if (asNumber !== undefined && (!Number.isInteger(asNumber) || asNumber < 1 || asNumber > 4294967295)) {
    throw new ConfigError(`--as: "${asText}" is not an AS number (1 to 4294967295)`);
  }
  const port = (name: 'health-port' | 'metrics-port', fallback: number) => {
    const text = get(name);
    const n = text === undefined ? fallback : Number(text);
    if (!Number.isInteger(n) || n < 0 || n > 65535)
      throw new ConfigError(`--${name}: "${text}" is not a port (0 turns it off)`);
    return n;
  };
  return {
    nodeName,
    ip,
    ipAutodetectionMethod: get('ip-autodetection-method') ?? 'first-found',
    asNumber,
    healthPort: port('health-port', 9099),
    metricsPort: port('metrics-port', 9091),
    datastore: { type, etcdEndpoints: endpoints, ...(kubeconfig ? { kubeconfig } : {}) },
    runDir: get('run-dir') ?? '/var/run/tabby',
    ipamLeakGracePeriodMs: parseDuration(get('ipam-leak-grace-period') ?? '15m', 'ipam-leak-grace-period'),
    ipamGcIntervalMs: 60_000,
    defaultPool: defaultPool(env),
    felixDisabled: /^(true|1|yes)$/i.test(env.TABBY_DISABLE_FELIX ?? env.CALICO_DISABLE_FELIX ?? ''),
    bgpEnabled: networkingBackend(env) === 'bird',
    nodeStatusPeriodSeconds: nodeStatusPeriod(env),
  };
}
