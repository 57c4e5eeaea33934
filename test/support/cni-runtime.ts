// Calling CNI plugins as a container runtime does (libcni, cnitool): CNI_* variables and the network config on
// stdin for one plugin; for a network configuration list, ADD through the plugins in order, each given the previous
// one's result as prevResult and the runtimeConfig its capabilities ask for, CHECK with the final result, DEL in
// reverse order with the result ADD returned.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { RunOptions, RunResult } from '../harness';

/** Runs an executable (inside a node's namespace in tests): file, stdin, environment. */
export type PluginRunner = (file: string, opts: RunOptions) => Promise<RunResult>;

export interface CniCall {
  containerId: string;
  /** Path of the workload's network namespace. */
  netns: string;
  ifname?: string;
  /** CNI_ARGS as key → value. */
  args?: Record<string, string>;
  /** Directories searched for plugins (CNI_PATH). */
  path: string[];
}

export interface CniOutcome {
  code: number;
  /** The result, or the error object when code is not 0; undefined when the plugin printed nothing. */
  out: Record<string, unknown> | undefined;
  stderr: string;
}

export interface NetworkConfigList {
  cniVersion: string;
  name: string;
  plugins: Record<string, unknown>[];
}

function environment(command: string, call: CniCall): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    CNI_COMMAND: command,
    CNI_CONTAINERID: call.containerId,
    CNI_NETNS: call.netns,
    CNI_IFNAME: call.ifname ?? 'eth0',
    CNI_ARGS: Object.entries(call.args ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(';'),
    CNI_PATH: call.path.join(':'),
  };
}

function pluginFile(type: string, dirs: string[]): string {
  // The runtime's search; the plugin itself runs wherever the runner puts it.
  for (const dir of dirs) {
    if (existsSync(path.join(dir, type))) return path.join(dir, type);
  }
  throw new Error(`plugin ${type} not found in ${dirs.join(':')}`);
}

/** One plugin, one command, with conf as its network config. */
export async function callPlugin(
  runner: PluginRunner,
  command: string,
  conf: Record<string, unknown>,
  call: CniCall,
): Promise<CniOutcome> {
  const res = await runner(pluginFile(String(conf.type), call.path), {
    allowFail: true,
    input: JSON.stringify(conf),
    env: environment(command, call),
  });
  const text = res.stdout.trim();
  return {
    code: res.code,
    out: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>),
    stderr: res.stderr,
  };
}

/** A plugin's config within a list: name and version from the list, runtimeConfig for its capabilities. */
function pluginConf(
  list: NetworkConfigList,
  plugin: Record<string, unknown>,
  runtimeConfig: Record<string, unknown>,
  prevResult: unknown,
): Record<string, unknown> {
  const capabilities = (plugin.capabilities ?? {}) as Record<string, boolean>;
  const granted = Object.fromEntries(Object.entries(runtimeConfig).filter(([key]) => capabilities[key]));
  return {
    ...plugin,
    cniVersion: list.cniVersion,
    name: list.name,
    ...(Object.keys(granted).length > 0 ? { runtimeConfig: granted } : {}),
    ...(prevResult !== undefined ? { prevResult } : {}),
  };
}

/**
 * A command through a list. ADD returns the last plugin's result (the first failure stops it); CHECK and DEL need
 * the result ADD returned (`result`), DEL goes through every plugin in reverse even after a failure.
 */
export async function callList(
  runner: PluginRunner,
  command: 'ADD' | 'CHECK' | 'DEL',
  list: NetworkConfigList,
  call: CniCall,
  runtimeConfig: Record<string, unknown> = {},
  result?: unknown,
): Promise<CniOutcome> {
  const plugins = command === 'DEL' ? [...list.plugins].reverse() : list.plugins;
  let prev: unknown = command === 'ADD' ? undefined : result;
  let outcome: CniOutcome = { code: 0, out: undefined, stderr: '' };
  for (const plugin of plugins) {
    const step = await callPlugin(runner, command, pluginConf(list, plugin, runtimeConfig, prev), call);
    if (step.code !== 0) {
      if (command !== 'DEL') return step;
      outcome = outcome.code === 0 ? step : outcome;
      continue;
    }
    if (command === 'ADD') {
      prev = step.out;
      outcome = step;
    }
  }
  return outcome;
}
