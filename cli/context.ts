// How tabbyctl reaches the data: the datastore directly (CONTRACT §4's datastore flags), or tabby-apiserver with
// `--server URL [--token T]`. Either way the commands get the same ResourceClient (defaults, validation) and
// IpamOperations, so every command runs unchanged through both.
import { readFileSync } from 'node:fs';
import { ApiClient } from '../api';
import { type DatastoreConfig, datastoreConfigFromFlags, openBackend, ResourceClient } from '../datastore';
import { DatastoreIpamOperations, type IpamOperations, ipPoolDeletionHooks } from '../ipam';

export type Options = Record<string, string | boolean | undefined>;
export type OptionSpecs = Record<string, { type: 'string' | 'boolean'; short?: string }>;

/** The flags that choose where the data is, accepted by every command. */
export const CONNECTION_OPTIONS = {
  'datastore-type': { type: 'string' },
  'etcd-endpoints': { type: 'string' },
  kubeconfig: { type: 'string' },
  server: { type: 'string' },
  token: { type: 'string' },
  'certificate-authority': { type: 'string' },
  'client-certificate': { type: 'string' },
  'client-key': { type: 'string' },
} as const;

export const CONNECTION_USAGE = `Datastore options (also from the environment):
  --datastore-type etcdv3|kubernetes  (DATASTORE_TYPE, default etcdv3)
  --etcd-endpoints URL[,URL]          (ETCD_ENDPOINTS, default http://127.0.0.1:2379)
Or through tabby-apiserver:
  --server URL [--token T]            (TABBY_TOKEN) the API server instead of the datastore
  --certificate-authority F           CA of the server's certificate (https)
  --client-certificate F --client-key F   a client certificate, for a server started with --client-ca
`;

/** Where a command reads and writes. */
export interface CliDatastore {
  client: ResourceClient;
  ipam: IpamOperations;
  close(): Promise<void>;
}

/** What tabbyctl's main module lends its subcommands: its option parser, the data and usage errors. */
export interface CliContext {
  parse(args: string[], extra: OptionSpecs): { values: Options; positionals: string[] };
  openDatastore(values: Options): CliDatastore;
  usageError(message: string): Error;
}

function flag(values: Options, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

function readFlagFile(values: Options, name: string, usageError: (m: string) => Error): Buffer | undefined {
  const file = flag(values, name);
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw usageError(`--${name}: ${(err as Error).message}`);
  }
}

/** Opens what the flags name; a bad combination of flags is a usage error. */
export function openDatastore(values: Options, usageError: (message: string) => Error): CliDatastore {
  const server = flag(values, 'server');
  if (server !== undefined) {
    if (values['etcd-endpoints'] !== undefined || values['datastore-type'] !== undefined) {
      throw usageError('give either --server or the datastore flags, not both');
    }
    if (Boolean(values['client-certificate']) !== Boolean(values['client-key'])) {
      throw usageError('--client-certificate and --client-key go together');
    }
    let api: ApiClient;
    try {
      api = new ApiClient({
        server,
        token: flag(values, 'token') ?? process.env.TABBY_TOKEN,
        ca: readFlagFile(values, 'certificate-authority', usageError),
        cert: readFlagFile(values, 'client-certificate', usageError),
        key: readFlagFile(values, 'client-key', usageError),
      });
    } catch (err) {
      throw usageError((err as Error).message);
    }
    // The server guards IPPool deletion and releases a deleted pool's blocks itself.
    return { client: new ResourceClient(api), ipam: api, close: () => api.close() };
  }
  for (const name of ['token', 'certificate-authority', 'client-certificate', 'client-key']) {
    if (values[name] !== undefined) throw usageError(`--${name} goes with --server`);
  }
  let config: DatastoreConfig;
  try {
    config = datastoreConfigFromFlags(flag(values, 'datastore-type'), flag(values, 'etcd-endpoints'));
  } catch (err) {
    throw usageError((err as Error).message);
  }
  const backend = openBackend(config);
  return {
    // IPPools in use are not deleted out from under their workloads, and a deleted pool's blocks are released.
    client: new ResourceClient(backend, ipPoolDeletionHooks(backend)),
    ipam: new DatastoreIpamOperations(backend, 'tabbyctl'),
    close: () => backend.close(),
  };
}
