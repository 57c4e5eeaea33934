// A tabby fabric for end-to-end tests: etcd in its own namespace on the underlay, tabby-nodes in theirs, the
// datastore written with the real tabbyctl, and pods made by the real CNI plugin the way a runtime calls it.
import assert from 'node:assert/strict';
import path from 'node:path';
import { type EtcdHandle, type ProcessHandle, run, runIn, startEtcd, type Topology } from '../harness';
import { callPlugin } from './cni-runtime';
import { waitFor } from './wait';

const DIST = path.join(__dirname, '..', '..');
export const TABBYCTL = path.join(DIST, 'bin', 'tabbyctl');
const TABBY_NODE = path.join(DIST, 'bin', 'tabby-node');
const CNI_PATH = [path.join(DIST, 'cni-bin'), '/usr/lib/cni'];

export interface Pod {
  ns: string;
  ip: string;
}

export class Fabric {
  readonly pods = new Map<string, Pod>();
  readonly nodes = new Map<string, ProcessHandle>();

  private constructor(
    readonly topo: Topology,
    readonly etcd: EtcdHandle,
    /** The namespace etcd runs in; tabbyctl runs there too. */
    private readonly etcdNode: string,
  ) {}

  /** etcd in `etcdNode` (a topology node already added), listening on `etcdAddress`. */
  static async start(topo: Topology, etcdNode: string, etcdAddress: string): Promise<Fabric> {
    await topo.waitUntilLinksUp();
    const etcd = await startEtcd({ netns: topo.nsName(etcdNode), host: etcdAddress });
    return new Fabric(topo, etcd, etcdNode);
  }

  get endpoints(): string {
    return this.etcd.endpoints.join(',');
  }

  runDir(node: string): string {
    return path.join(this.topo.dir, `run-${node}`);
  }

  async ctl(args: string[], input?: string): Promise<string> {
    const res = await this.topo.exec(this.etcdNode, TABBYCTL, args, {
      allowFail: true,
      env: { ...process.env, ETCD_ENDPOINTS: this.endpoints },
      ...(input !== undefined ? { input } : {}),
    });
    assert.equal(res.code, 0, `tabbyctl ${args.join(' ')}: ${res.stderr}`);
    return res.stdout;
  }

  apply(...docs: object[]): Promise<string> {
    return this.ctl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: docs }));
  }

  /** tabby-node in a topology node; resolves once it serves its socket. */
  async startNode(node: string, env: NodeJS.ProcessEnv = {}): Promise<ProcessHandle> {
    const handle = await this.topo.spawn(node, TABBY_NODE, ['--node-name', node, '--run-dir', this.runDir(node)], {
      env: { ...process.env, ETCD_ENDPOINTS: this.endpoints, ...env },
    });
    this.nodes.set(node, handle);
    const socket = path.join(this.runDir(node), 'ipam.sock');
    await waitFor(
      async () => {
        if (!handle.running) throw new Error(`tabby-node ${node} exited: ${handle.output()}`);
        return (await this.topo.exec(node, 'test', ['-S', socket], { allowFail: true })).code === 0;
      },
      `${node}'s tabby-node`,
      20_000,
    );
    return handle;
  }

  /**
   * A pod through the CNI plugin, as a runtime makes one: a namespace, then ADD on the node. `labels` become the
   * endpoint's (the CNI conventions' args.cni.labels, standing in for the Kubernetes pod's labels).
   */
  async addPod(node: string, name: string, namespace = 'default', labels: Record<string, string> = {}): Promise<Pod> {
    const ns = `${this.topo.prefix}${name}`;
    await run('ip', ['netns', 'add', ns]);
    const conf = {
      cniVersion: '1.0.0',
      name: 'k8s-pod-network',
      type: 'tabby',
      run_dir: this.runDir(node),
      ipam: { type: 'tabby-ipam' },
      args: { cni: { labels } },
    };
    const out = await callPlugin((file, opts) => this.topo.exec(node, file, [], opts), 'ADD', conf, {
      containerId: `c-${name}`,
      netns: `/var/run/netns/${ns}`,
      ifname: 'eth0',
      path: CNI_PATH,
      args: { K8S_POD_NAMESPACE: namespace, K8S_POD_NAME: name },
    });
    assert.equal(out.code, 0, `ADD ${name}: ${JSON.stringify(out.out)} ${out.stderr}`);
    const ip = (out.out as { ips: { address: string }[] }).ips[0]!.address.split('/')[0]!;
    const pod = { ns, ip };
    this.pods.set(name, pod);
    return pod;
  }

  pod(name: string): Pod {
    const pod = this.pods.get(name);
    if (!pod) throw new Error(`no pod ${name}`);
    return pod;
  }

  async reaches(from: string, to: string): Promise<boolean> {
    return (
      (await runIn(this.pod(from).ns, 'ping', ['-c', '1', '-W', '1', this.pod(to).ip], { allowFail: true })).code === 0
    );
  }

  /** Waits until every pair reaches (routes converge after a change), or fails naming what it waited for. */
  allReach(pairs: [string, string][], what: string): Promise<true> {
    return waitFor(
      async () => {
        for (const [a, b] of pairs) if (!(await this.reaches(a, b))) return false;
        return true as const;
      },
      what,
      40_000,
      500,
    );
  }

  async stop(): Promise<void> {
    await this.etcd.stop();
  }
}
