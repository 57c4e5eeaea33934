// The CNI calling convention (CNI spec 1.1, and 0.3.x/0.4.0): the command and container in CNI_* variables,
// the network config on stdin, a result or an error object on stdout. Shared by tabby and tabby-ipam.

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

/** The spec's well-known error codes; 100 and up are ours. */
export const CniCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodeFailure: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  NotAvailable: 50,
  /** No free address in the usable pools. */
  NoFreeAddress: 100,
  /** The address asked for is held by someone else. */
  AddressInUse: 101,
} as const;

export class CniError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly details = '',
  ) {
    super(message);
    this.name = 'CniError';
  }
}

export interface CniEnvironment {
  command: string;
  containerId: string;
  netns: string;
  ifname: string;
  /** CNI_ARGS as key → value. */
  args: Record<string, string>;
  path: string[];
}

export function readEnvironment(env: NodeJS.ProcessEnv): CniEnvironment {
  const command = env.CNI_COMMAND ?? '';
  if (command === '') throw new CniError(CniCode.InvalidEnvironment, 'CNI_COMMAND is not set');
  const args: Record<string, string> = {};
  for (const pair of (env.CNI_ARGS ?? '').split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CniError(CniCode.InvalidEnvironment, `CNI_ARGS: "${pair}" is not KEY=VALUE`);
    args[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return {
    command,
    containerId: env.CNI_CONTAINERID ?? '',
    netns: env.CNI_NETNS ?? '',
    ifname: env.CNI_IFNAME ?? '',
    args,
    path: (env.CNI_PATH ?? '').split(':').filter((p) => p !== ''),
  };
}

export function requireEnv(env: CniEnvironment, field: 'containerId' | 'netns' | 'ifname'): string {
  const names = { containerId: 'CNI_CONTAINERID', netns: 'CNI_NETNS', ifname: 'CNI_IFNAME' };
  const value = env[field];
  if (value === '') throw new CniError(CniCode.InvalidEnvironment, `${names[field]} is not set`);
  return value;
}

export interface NetworkConfig {
  cniVersion: string;
  name: string;
  type: string;
  [key: string]: unknown;
}

export function parseNetworkConfig(text: string): NetworkConfig {
  let conf: unknown;
  try {
    conf = JSON.parse(text);
  } catch (err) {
    throw new CniError(CniCode.DecodeFailure, `network config on stdin is not JSON: ${(err as Error).message}`);
  }
  if (typeof conf !== 'object' || conf === null || Array.isArray(conf)) {
    throw new CniError(CniCode.InvalidConfig, 'network config must be a JSON object');
  }
  const c = conf as Record<string, unknown>;
  for (const field of ['cniVersion', 'name'] as const) {
    if (typeof c[field] !== 'string' || c[field] === '') {
      throw new CniError(CniCode.InvalidConfig, `network config: "${field}" must be a non-empty string`);
    }
  }
  if (!SUPPORTED_VERSIONS.includes(c.cniVersion as string)) {
    throw new CniError(
      CniCode.IncompatibleVersion,
      `network config: cniVersion ${c.cniVersion} is not supported (supported: ${SUPPORTED_VERSIONS.join(', ')})`,
    );
  }
  return c as NetworkConfig;
}

/** Reads all of stdin (the network config). */
export async function readStdin(stream: NodeJS.ReadableStream = process.stdin): Promise<string> {
  let text = '';
  stream.setEncoding('utf8');
  for await (const chunk of stream) text += chunk as string;
  return text;
}

/** An IP entry of a result, in the shape of the config's version (0.3.x/0.4.0 carry "version"). */
export function ipEntry(cniVersion: string, address: string, extra: Record<string, unknown> = {}) {
  return cniVersion.startsWith('0.') ? { version: '4', address, ...extra } : { address, ...extra };
}

/** What a plugin command prints and its exit status. */
export interface CniCallOutcome {
  exitCode: number;
  stdout: string;
}

/**
 * Runs a plugin command: the result, or the error object with exit status 1. A failure that is not a CniError
 * becomes code 999 with its message, so a runtime always gets a readable error. `input` gives the network config
 * (stdin, or the body tabby-node was handed by the plugin's front).
 */
export async function cniCall(
  run: (env: CniEnvironment, stdin: string) => Promise<unknown>,
  env: NodeJS.ProcessEnv,
  input: () => Promise<string>,
): Promise<CniCallOutcome> {
  let version = '1.0.0';
  try {
    const cni = readEnvironment(env);
    if (cni.command === 'VERSION') {
      const text = await input().catch(() => '');
      const requested = /"cniVersion"\s*:\s*"([^"]+)"/.exec(text)?.[1];
      const versions = { cniVersion: requested ?? '1.1.0', supportedVersions: SUPPORTED_VERSIONS };
      return { exitCode: 0, stdout: `${JSON.stringify(versions)}\n` };
    }
    const stdin = await input();
    const match = /"cniVersion"\s*:\s*"([^"]+)"/.exec(stdin);
    if (match) version = match[1]!;
    const result = await run(cni, stdin);
    return { exitCode: 0, stdout: result === undefined ? '' : `${JSON.stringify(result)}\n` };
  } catch (err) {
    const e = err instanceof CniError ? err : new CniError(999, (err as Error).message);
    const error = { cniVersion: version, code: e.code, msg: e.message, details: e.details };
    return { exitCode: 1, stdout: `${JSON.stringify(error)}\n` };
  }
}

/** A plugin process's command: cniCall on this process's environment and stdin, printed; the exit status. */
export async function runCni(
  run: (env: CniEnvironment, stdin: string) => Promise<unknown>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const outcome = await cniCall(run, env, () => readStdin());
  process.stdout.write(outcome.stdout);
  return outcome.exitCode;
}
