// CNI calls that the plugin's native front (cni/front/tabby.c) hands to tabby-node: the same plugin code as the
// Node.js plugin, run in this long-lived process with the node's allocator and endpoint store in place of the
// socket, so a pod's ADD pays no Node.js start-up (about 0.1 s of CPU each, 20 pods at once: seconds). The
// answer is what the plugin would print, with its exit status in x-cni-exit-code. 421 means "run the plugin
// yourself": this process does not see the workload's network namespace (it runs in another mount namespace).
//   POST /v1/cni   {"env": {CNI_COMMAND, CNI_NETNS, ..., CNI_PATH, PATH}, "stdin": "<network config>"}
import { existsSync } from 'node:fs';
import type { WorkloadEndpointStore } from '../cni/endpoint-store';
import type { NodeApi } from '../cni/node-api';
import { runTabbyPlugin } from '../cni/plugin';
import { cniCall } from '../cni/protocol';
import type { AddressRequest, IpamService } from '../ipam';
import type { UnixReply } from './unix-http';

export const CNI_ROUTE = '/v1/cni';
export const CNI_EXIT_HEADER = 'x-cni-exit-code';

/** How the calls handed over went: `<COMMAND> <ok|error|handed-back>` → count, for /metrics. */
export type CniCallCounts = Map<string, number>;

function count(counts: CniCallCounts, command: string, result: 'ok' | 'error' | 'handed-back'): void {
  const key = `${command} ${result}`;
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

/** The node's own allocator and endpoint store behind the plugin's NodeApi. */
export function localNodeApi(service: IpamService, store: WorkloadEndpointStore): NodeApi {
  return {
    assign: (request) => service.assign(request as AddressRequest),
    release: (handleId) => service.release(handleId),
    addressesOf: (handleId) => service.addressesOf(handleId),
    applyEndpoint: async (endpoint) => void (await store.apply(endpoint)),
    getEndpoint: (namespace, name) => store.get(namespace, name),
    deleteEndpoint: (namespace, name, containerId) => store.delete(namespace, name, containerId),
    close: async () => undefined,
  };
}

function stringRecord(value: unknown): value is Record<string, string> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === 'string')
  );
}

export async function runCniCall(api: NodeApi, counts: CniCallCounts, body: unknown): Promise<UnixReply> {
  const call = body as { env?: unknown; stdin?: unknown } | undefined;
  if (!stringRecord(call?.env) || typeof call.stdin !== 'string') {
    return { status: 400, body: { error: 'env (an object of strings) and stdin (a string) are required' } };
  }
  const { env, stdin } = call;
  const netns = env.CNI_NETNS ?? '';
  const command = env.CNI_COMMAND ?? '';
  if ((command === 'ADD' || command === 'CHECK') && netns !== '' && !existsSync(netns)) {
    count(counts, command, 'handed-back');
    return { status: 421, body: { error: `tabby-node does not see ${netns}: run the plugin on the host` } };
  }
  const outcome = await cniCall(
    (cni, config) => runTabbyPlugin(cni, config, env, api),
    env,
    async () => stdin,
  );
  count(counts, command, outcome.exitCode === 0 ? 'ok' : 'error');
  return {
    status: 200,
    body: undefined,
    text: outcome.stdout,
    headers: { [CNI_EXIT_HEADER]: String(outcome.exitCode) },
  };
}
