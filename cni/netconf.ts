// tabby's fields in a CNI network config (CONTRACT §7) and where a plugin finds its node and datastore.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { CniCode, CniError, type NetworkConfig } from './protocol';

export const DEFAULT_RUN_DIR = '/var/run/tabby';

export interface TabbyNetConf extends NetworkConfig {
  etcd_endpoints?: string;
  datastore_type?: string;
  nodename?: string;
  run_dir?: string;
  mtu?: number;
  ipam?: { type?: string; ipv4_pools?: string[] };
  /** The CNI conventions' args: labels for the endpoint, annotations such as cni.projectcalico.org/ipv4pools. */
  args?: { cni?: { labels?: Record<string, string>; annotations?: Record<string, string> } };
}

function stringMap(value: unknown, field: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (
    typeof value !== 'object' ||
    value === null ||
    Array.isArray(value) ||
    Object.values(value).some((v) => typeof v !== 'string')
  ) {
    throw new CniError(CniCode.InvalidConfig, `network config: ${field} must be an object of strings`);
  }
  return value as Record<string, string>;
}

/** Checks the fields tabby reads, so a typo is reported by name rather than ignored. */
export function checkTabbyConf(conf: NetworkConfig): TabbyNetConf {
  const c = conf as TabbyNetConf;
  for (const f of ['etcd_endpoints', 'datastore_type', 'nodename', 'run_dir'] as const) {
    if (c[f] !== undefined && typeof c[f] !== 'string')
      throw new CniError(CniCode.InvalidConfig, `network config: ${f} must be a string`);
  }
  if (c.datastore_type !== undefined && c.datastore_type !== 'etcdv3' && c.datastore_type !== 'kubernetes') {
    throw new CniError(
      CniCode.InvalidConfig,
      `network config: datastore_type must be etcdv3 or kubernetes, got ${c.datastore_type}`,
    );
  }
  if (c.mtu !== undefined && (!Number.isInteger(c.mtu) || c.mtu < 68 || c.mtu > 65535)) {
    throw new CniError(CniCode.InvalidConfig, `network config: mtu must be an integer from 68 to 65535, got ${c.mtu}`);
  }
  const pools = c.ipam?.ipv4_pools;
  if (pools !== undefined && (!Array.isArray(pools) || pools.some((p) => typeof p !== 'string'))) {
    throw new CniError(CniCode.InvalidConfig, 'network config: ipam.ipv4_pools must be a list of pool names or CIDRs');
  }
  stringMap(c.args?.cni?.labels, 'args.cni.labels');
  stringMap(c.args?.cni?.annotations, 'args.cni.annotations');
  return c;
}

export function runDirOf(conf: TabbyNetConf): string {
  return conf.run_dir || DEFAULT_RUN_DIR;
}

/** The config's nodename, else the name tabby-node wrote to <run-dir>/nodename, else the hostname (as Calico). */
export function nodeNameOf(conf: TabbyNetConf): string {
  if (conf.nodename) return conf.nodename;
  try {
    const written = readFileSync(path.join(runDirOf(conf), 'nodename'), 'utf8').trim();
    if (written) return written;
  } catch {
    // No tabby-node has run here.
  }
  return hostname();
}

export function etcdEndpointsOf(conf: TabbyNetConf, env: NodeJS.ProcessEnv): string[] {
  const text = conf.etcd_endpoints || env.ETCD_ENDPOINTS || '';
  return text
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
}
