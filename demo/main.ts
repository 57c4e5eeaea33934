// `npm run demo` (CONTRACT §1): a tabby fabric on this machine, in network namespaces. A real etcd, a top-of-rack
// router running BIRD 2, three tabby-node nodes peering with it over eBGP, pods made through the CNI plugin as a
// container runtime makes them, a policy applied; then the nodes' BGP status, the ToR's table, felix's status and
// a pod-to-pod reachability matrix. It is a smoke test too: it exits non-zero when the fabric does not come up.
// Everything is torn down at the end, on Ctrl-C and on errors, unless --keep; --down removes a kept fabric.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { readStatus } from '../node/status-server';
import { run, runIn } from '../test/harness/exec';
import { callPlugin } from '../test/support/cni-runtime';
import { DEMO_PREFIX_PATTERN, Fabric, type FabricProcess, findFabrics, removeFabric } from './fabric';
import { type FelixStatus, felixLine, type Matrix, renderMatrix, unexpectedCells } from './report';
import {
  ETCD,
  fabricConfig,
  NODE_AS,
  type NodePlan,
  POLICY_NAME,
  POOL_CIDR,
  type PodPlan,
  planNodes,
  planPods,
  policy,
  policyDenies,
  TOR,
  UNDERLAY_PREFIX_LENGTH,
} from './resources';
import { Tor } from './tor';

// What a test of the demo looks for on the machine.
export { DEMO_PREFIX_PATTERN, DEMO_STATE_ROOT } from './fabric';

const DIST = path.join(__dirname, '..');
const TABBYCTL = path.join(DIST, 'bin', 'tabbyctl');
const TABBY_NODE = path.join(DIST, 'bin', 'tabby-node');
/** Our plugins, then the reference plugins, as a runtime's CNI_PATH. */
const CNI_PATH = [path.join(DIST, 'cni-bin'), '/usr/lib/cni'];
const NETWORK_NAME = 'k8s-pod-network';

const NODE_COUNT = 3;
const ESTABLISHED_TIMEOUT_MS = 30_000;
const CONVERGE_TIMEOUT_MS = 20_000;
const PING_ATTEMPTS = 3;

const USAGE = `Usage: npm run demo [-- --keep | --down [PREFIX]]   (or: node dist/demo/main.js [--keep | --down [PREFIX]])

Builds a tabby fabric in network namespaces on this machine (root): etcd, a top-of-rack router (BIRD 2, AS 65000),
${NODE_COUNT} tabby-node nodes peering with it over eBGP, two pods per node made through the CNI plugin, a network
policy; prints the BGP status, the ToR's routes, felix's status and a pod-to-pod reachability matrix, then tears
everything down. Exits non-zero when the fabric does not come up.

  --keep   leave the fabric running, and print how to look around
  --down   remove kept fabrics (and leftovers of a demo that was killed); with PREFIX (td3f09a1-), only that one
  --help   this text
`;

/** A failure the demo explains in one line, with the log of the process at fault. */
class DemoFailure extends Error {
  constructor(
    message: string,
    readonly culprit?: FabricProcess,
  ) {
    super(message);
  }
}

interface Options {
  keep: boolean;
  down: boolean;
  /** --down's PREFIX: only the fabric with this prefix. */
  only?: string;
}

function parseArgs(argv: string[]): Options | undefined {
  const opts: Options = { keep: false, down: false };
  for (const arg of argv) {
    if (arg === '--help' || arg === '-h') return undefined;
    if (arg === '--keep') opts.keep = true;
    else if (arg === '--down') opts.down = true;
    else if (opts.down && opts.only === undefined && DEMO_PREFIX_PATTERN.test(arg.endsWith('-') ? arg : `${arg}-`)) {
      opts.only = arg.endsWith('-') ? arg : `${arg}-`;
    } else throw new DemoFailure(`unknown argument "${arg}" (try --help)`);
  }
  if (opts.keep && opts.down) throw new DemoFailure('--keep and --down exclude each other');
  return opts;
}

/** etcd reads its flags from ETCD_* variables and etcdctl refuses ones that shadow its flags: none of the caller's. */
function etcdEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('ETCD')));
  // etcd 3.4 refuses to start on anything but amd64 without this.
  return { ...env, ETCD_UNSUPPORTED_ARCH: process.arch === 'x64' ? 'amd64' : process.arch };
}

/** Polls `probe` until it returns a value or the time is up (then undefined); errors it throws end the wait. */
async function until<T>(probe: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) return undefined;
    await sleep(intervalMs);
  }
}

function requireRunning(proc: FabricProcess): void {
  if (!proc.running) throw new DemoFailure(`${proc.name} exited`, proc);
}

interface NodeStatus {
  bgp: {
    peers: {
      address: string;
      state: string;
      info: string;
      prefixesReceived: number;
      prefixesAccepted: number;
    }[];
  };
  felix: FelixStatus;
}

interface DemoNode extends NodePlan {
  process: FabricProcess;
  runDir: string;
}

interface DemoPod extends PodPlan {
  ns: string;
  ip: string;
  hostVeth: string;
}

class Demo {
  private readonly startedAt = Date.now();
  private readonly fabric: Fabric;
  private readonly endpoints = `http://${ETCD.address}:${ETCD.clientPort}`;
  private etcd: FabricProcess | undefined;
  private tor: Tor | undefined;
  private readonly plans = planNodes(NODE_COUNT);
  private nodes: DemoNode[] = [];
  private pods: DemoPod[] = [];

  constructor(private readonly keep: boolean) {
    this.fabric = Fabric.create();
  }

  /** Builds the fabric, prints what it shows, and returns whether everything came out as expected. */
  async run(): Promise<boolean> {
    try {
      await this.build();
      return await this.report();
    } catch (err) {
      this.explain(err);
      return false;
    } finally {
      await this.finish();
    }
  }

  private say(line: string): void {
    const seconds = ((Date.now() - this.startedAt) / 1000).toFixed(1).padStart(5);
    console.log(`[${seconds}s] ${line}`);
  }

  private section(title: string, body: string): void {
    console.log(`\n== ${title} ==\n${body.trimEnd()}`);
  }

  private async build(): Promise<void> {
    const f = this.fabric;
    this.say(`fabric ${f.prefix}: namespaces ${f.prefix}*, state and logs in ${f.dir}`);
    await this.underlay();
    await this.startEtcd();
    await this.configure();
    await this.startTor();
    await this.startNodes();
    await this.createPods();
    await this.waitForRoutes();
  }

  private async underlay(): Promise<void> {
    const f = this.fabric;
    const cidr = (address: string) => `${address}/${UNDERLAY_PREFIX_LENGTH}`;
    await f.addSegment('lan');
    await f.addHost(TOR.name, cidr(TOR.address));
    await f.addHost(ETCD.name, cidr(ETCD.address), TOR.address);
    for (const node of this.plans) await f.addHost(node.name, cidr(node.address), TOR.address);
    // The ToR routes between hosts of its own segment: without redirects, so every packet really goes through it.
    await f.exec(TOR.name, 'sysctl', [
      '-qw',
      'net.ipv4.ip_forward=1',
      'net.ipv4.conf.all.send_redirects=0',
      'net.ipv4.conf.eth0.send_redirects=0',
    ]);
    await f.waitUntilLinksUp();
    const addresses = this.plans.map((n) => `${n.name} ${n.address}`).join(', ');
    this.say(`underlay 192.0.2.0/24 on bridge ${f.prefix}lan: ToR ${TOR.address}, etcd ${ETCD.address}, ${addresses}`);
  }

  private async startEtcd(): Promise<void> {
    const client = this.endpoints;
    const peer = `http://${ETCD.address}:${ETCD.peerPort}`;
    this.etcd = await this.fabric.spawn(
      'etcd',
      ETCD.name,
      'etcd',
      [
        '--name=demo',
        `--data-dir=${this.fabric.file('etcd-data')}`,
        `--listen-client-urls=${client}`,
        `--advertise-client-urls=${client}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=demo=${peer}`,
        // A lone member elects itself after one election timeout.
        '--heartbeat-interval=25',
        '--election-timeout=250',
        '--log-level=warn',
      ],
      etcdEnv(),
    );
    const etcd = this.etcd;
    const healthy = await until(async () => {
      requireRunning(etcd);
      const health = await this.fabric.exec(
        ETCD.name,
        'etcdctl',
        [`--endpoints=${client}`, 'endpoint', 'health', '--dial-timeout=300ms', '--command-timeout=500ms'],
        { allowFail: true, env: etcdEnv() },
      );
      return health.code === 0 ? true : undefined;
    }, 10_000);
    if (!healthy) throw new DemoFailure(`etcd does not answer at ${client} after 10 s`, etcd);
    this.say(`etcd up at ${client} (namespace ${this.fabric.nsName(ETCD.name)})`);
  }

  /** tabbyctl in the etcd namespace, as an operator on the underlay runs it. */
  private async tabbyctl(args: string[]): Promise<string> {
    const res = await this.fabric.exec(ETCD.name, TABBYCTL, args, {
      allowFail: true,
      env: { ...process.env, ETCD_ENDPOINTS: this.endpoints },
    });
    if (res.code !== 0) throw new DemoFailure(`tabbyctl ${args.join(' ')}: ${res.stderr.trim()}`, this.etcd);
    return res.stdout;
  }

  /** Writes the documents as a YAML file in the fabric's directory and applies it with tabbyctl. */
  private async apply(file: string, docs: Record<string, unknown>[]): Promise<string> {
    const target = this.fabric.file(file);
    fs.writeFileSync(target, docs.map((d) => stringify(d)).join('---\n'));
    return (await this.tabbyctl(['apply', '-f', target])).trim();
  }

  /** Before the nodes start, so that they come up peering with the ToR and find the pool (no default pool). */
  private async configure(): Promise<void> {
    const applied = await this.apply('fabric.yaml', fabricConfig());
    this.say(
      `tabbyctl apply -f fabric.yaml: IPPool pods ${POOL_CIDR} (ipipMode Never, vxlanMode Never, natOutgoing), ` +
        `BGPConfiguration default (AS ${NODE_AS}, node-to-node mesh off), BGPPeer tor (global: ${TOR.address} ` +
        `AS ${TOR.asNumber}), Profiles kns.frontend, kns.backend${applied ? ` — ${applied}` : ''}`,
    );
  }

  private async startTor(): Promise<void> {
    try {
      this.tor = await Tor.start(this.fabric, TOR.name, {
        routerId: TOR.address,
        asNumber: TOR.asNumber,
        neighbors: this.plans.map((n) => ({
          protocol: n.name.replace(/\W/g, '_'),
          address: n.address,
          asNumber: NODE_AS,
        })),
      });
    } catch (err) {
      const bird = this.fabric.processNamed('tor');
      throw new DemoFailure(`the ToR's BIRD did not start: ${(err as Error).message}`, bird);
    }
    const version = (await this.tor.birdc('show', 'status')).match(/BIRD ([\d.]+)/)?.[1] ?? '2';
    this.say(
      `ToR up: BIRD ${version} at ${TOR.address}, AS ${TOR.asNumber}, eBGP with ` +
        `${this.plans.map((n) => n.address).join(', ')} (config ${this.fabric.file('tor-bird.conf')})`,
    );
  }

  private async status(node: DemoNode): Promise<NodeStatus | undefined> {
    try {
      return (await readStatus(path.join(node.runDir, 'status.sock'), 1000)) as NodeStatus;
    } catch {
      return undefined;
    }
  }

  private async startNodes(): Promise<void> {
    for (const plan of this.plans) {
      const runDir = this.fabric.file(plan.name);
      const proc = await this.fabric.spawn(
        plan.name,
        plan.name,
        TABBY_NODE,
        ['--node-name', plan.name, '--run-dir', runDir],
        { ...process.env, ETCD_ENDPOINTS: this.endpoints },
      );
      this.nodes.push({ ...plan, runDir, process: proc });
    }
    this.say(`tabby-node started on ${this.nodes.map((n) => `${n.name} (pid ${n.process.pid})`).join(', ')}`);
    await Promise.all(this.nodes.map((node) => this.waitForNode(node)));
  }

  /** The node registered, felix in sync, and its session with the ToR Established. */
  private async waitForNode(node: DemoNode): Promise<void> {
    let last: NodeStatus | undefined;
    const up = await until(async () => {
      requireRunning(node.process);
      last = await this.status(node);
      const tor = last?.bgp.peers.find((p) => p.address === TOR.address);
      return last?.felix.inSync && tor?.state === 'Established' ? true : undefined;
    }, ESTABLISHED_TIMEOUT_MS);
    if (!up) {
      const tor = last?.bgp.peers.find((p) => p.address === TOR.address);
      const why = !last
        ? 'its status socket does not answer'
        : !tor
          ? `it has no BGP peer ${TOR.address}`
          : tor.state !== 'Established'
            ? `BGP with ${TOR.address} is ${tor.state}${tor.info ? ` (${tor.info})` : ''}`
            : 'felix is not in sync';
      throw new DemoFailure(
        `${node.name} did not come up within ${ESTABLISHED_TIMEOUT_MS / 1000} s: ${why}`,
        node.process,
      );
    }
    const spec = JSON.parse(await this.tabbyctl(['get', 'node', node.name, '-o', 'json'])) as {
      spec?: { bgp?: { ipv4Address?: string; asNumber?: number } };
    };
    this.say(
      `${node.name} registered ${spec.spec?.bgp?.ipv4Address ?? '(no address)'}, BGP Established with ` +
        `${TOR.address}, felix in sync`,
    );
  }

  /** Each pod: a namespace made from the host, then CNI ADD run inside its node, as a container runtime does. */
  private async createPods(): Promise<void> {
    const plans = planPods(this.nodes);
    this.pods = await Promise.all(plans.map((plan) => this.createPod(plan)));
    for (const pod of this.pods) {
      this.say(`pod ${pod.namespace}/${pod.name} on ${pod.node}: ${pod.ip} (host veth ${pod.hostVeth}), CNI ADD`);
    }
  }

  private async createPod(plan: PodPlan): Promise<DemoPod> {
    const node = this.nodes.find((n) => n.name === plan.node)!;
    const ns = await this.fabric.addNamespace(plan.name);
    const containerId = randomBytes(32).toString('hex');
    const cni = (conf: Record<string, unknown>, ifname: string) =>
      callPlugin((file, opts) => this.fabric.exec(node.name, file, [], opts), 'ADD', conf, {
        containerId,
        netns: `/var/run/netns/${ns}`,
        ifname,
        args: {
          IgnoreUnknown: '1',
          K8S_POD_NAMESPACE: plan.namespace,
          K8S_POD_NAME: plan.name,
          K8S_POD_INFRA_CONTAINER_ID: containerId,
        },
        path: CNI_PATH,
      });
    const fail = (what: string, outcome: { out: unknown; stderr: string }) => {
      const error = outcome.out ? JSON.stringify(outcome.out) : outcome.stderr.trim();
      return new DemoFailure(
        `${what} of ${plan.namespace}/${plan.name} on ${plan.node} failed: ${error}`,
        node.process,
      );
    };
    // The runtime brings the sandbox's loopback up with the reference plugin before the pod network.
    const loopback = await cni({ cniVersion: '1.0.0', name: 'cni-loopback', type: 'loopback' }, 'lo');
    if (loopback.code !== 0) throw fail('CNI ADD (loopback)', loopback);
    const add = await cni(
      {
        cniVersion: '1.0.0',
        name: NETWORK_NAME,
        type: 'tabby',
        run_dir: node.runDir,
        ipam: { type: 'tabby-ipam' },
        args: { cni: { labels: plan.labels } },
      },
      'eth0',
    );
    if (add.code !== 0) throw fail('CNI ADD', add);
    const result = add.out as { ips: { address: string }[]; interfaces: { name: string }[] };
    return { ...plan, ns, ip: result.ips[0]!.address.split('/')[0]!, hostVeth: result.interfaces[0]!.name };
  }

  /** Felix has programmed every endpoint and the ToR has learned one block of each node from that node. */
  private async waitForRoutes(): Promise<void> {
    const tor = this.tor!;
    const converged = async () => {
      for (const node of this.nodes) requireRunning(node.process);
      requireRunning(tor.process);
      const statuses = await Promise.all(this.nodes.map((n) => this.status(n)));
      const programmed = this.nodes.every((n, i) => {
        const felix = statuses[i]?.felix;
        return felix?.inSync && felix.endpoints === this.pods.filter((p) => p.node === n.name).length;
      });
      const routes = await tor.routes();
      const blocks = this.nodes.map((n) => routes.find((r) => r.prefix.endsWith('/26') && r.via.includes(n.address)));
      return programmed && blocks.every((b) => b !== undefined) ? blocks.map((b) => b!.prefix) : undefined;
    };
    const blocks = await until(converged, CONVERGE_TIMEOUT_MS, 200);
    if (!blocks) {
      const routes = await tor.routes();
      const missing = this.nodes.filter(
        (n) => !routes.some((r) => r.prefix.endsWith('/26') && r.via.includes(n.address)),
      );
      const why =
        missing.length > 0
          ? `the ToR has no /26 block from ${missing.map((n) => n.name).join(', ')}`
          : 'felix did not program every endpoint';
      throw new DemoFailure(
        `routes did not converge within ${CONVERGE_TIMEOUT_MS / 1000} s: ${why}`,
        missing[0]?.process ?? tor.process,
      );
    }
    this.say(
      `ToR learned the blocks: ${this.nodes.map((n, i) => `${blocks[i]} via ${n.address} (${n.name})`).join(', ')}`,
    );
  }

  /** Applies the policy; true when felix enforces it (some node reports policies). */
  private async applyPolicy(): Promise<boolean> {
    const doc = policy();
    await this.apply('policy.yaml', [doc]);
    this.section('tabbyctl apply -f policy.yaml', stringify(doc));
    // Enforced once every node is in sync and the nodes with backend pods report the policy.
    const statuses = await until(async () => {
      const all = await Promise.all(this.nodes.map((n) => this.status(n)));
      return all.every((s) => s?.felix.inSync) && all.some((s) => (s?.felix.policies ?? 0) > 0) ? all : undefined;
    }, 10_000);
    const enforced = statuses !== undefined;
    this.say(
      enforced
        ? `policy ${POLICY_NAME} applied and enforced by felix`
        : `policy ${POLICY_NAME} applied, but NOT enforced: after 10 s no node's felix is in sync with it ` +
            "(the nodes' logs say why)",
    );
    return enforced;
  }

  /** Prints the status views and the matrix; true when the matrix is as expected. */
  private async report(): Promise<boolean> {
    const enforced = await this.applyPolicy();
    for (const node of this.nodes) {
      const out = await this.fabric.exec(node.name, TABBYCTL, ['node', 'status', '--run-dir', node.runDir]);
      this.section(`${node.name}: tabbyctl node status --run-dir ${node.runDir}`, out.stdout);
    }
    const tor = this.tor!;
    this.section(`ToR (${TOR.address}): birdc show protocols`, await tor.birdc('show', 'protocols'));
    this.section(`ToR (${TOR.address}): birdc show route`, await tor.birdc('show', 'route'));
    const felix = await Promise.all(
      this.nodes.map(async (n) => {
        const s = await this.status(n);
        return s ? felixLine(n.name, s.felix) : `${n.name}: no status`;
      }),
    );
    this.section('felix', felix.join('\n'));
    this.section('how pod traffic crosses the fabric', await this.describePath());

    const matrix = await this.measure();
    const unexpected = unexpectedCells(matrix, enforced);
    const total = matrix.pods.length ** 2;
    const legend = enforced
      ? `  * the policy ${POLICY_NAME} denies this pair, and felix enforces it`
      : `  * the policy ${POLICY_NAME} denies this pair once enforced: NOT enforced`;
    this.section(
      `reachability: ping -c1 -W1 from each pod (row) to each pod (column)`,
      `${renderMatrix(matrix)}\n\n${legend}\n  ${total - unexpected.length}/${total} as expected`,
    );
    if (unexpected.length > 0) {
      const pairs = unexpected.map(({ from, to }) => `${from.name} (${from.node}) → ${to.name} ${to.ip} (${to.node})`);
      const culprit = this.nodes.find((n) => n.name === unexpected[0]!.to.node)?.process;
      throw new DemoFailure(`reachability not as expected for ${pairs.length} pair(s): ${pairs.join(', ')}`, culprit);
    }
    const seconds = ((Date.now() - this.startedAt) / 1000).toFixed(1);
    this.say(
      `fabric OK: ${this.nodes.length} nodes Established with the ToR, ${total} pod pairs as expected (${seconds} s)`,
    );
    return true;
  }

  /**
   * Where pod traffic between nodes goes. The nodes share AS 64512, so each drops the other nodes' blocks the ToR
   * passes on (its own AS is in their path: RFC 4271's loop check) and reaches them by its default route.
   */
  private async describePath(): Promise<string> {
    const from = this.pods[0]!;
    const to = this.pods.find((p) => p.node !== from.node)!;
    const routeGet = async (host: string) =>
      (await this.fabric.exec(host, 'ip', ['route', 'get', to.ip])).stdout
        .split('\n')[0]!
        .replace(/ uid \d+/, '')
        .trim();
    const fromTor = await Promise.all(
      this.nodes.map(async (n) => (await this.status(n))?.bgp.peers.find((p) => p.address === TOR.address)),
    );
    const counts = this.nodes.map(
      (n, i) =>
        `${n.name} ${fromTor[i]?.prefixesReceived ?? '?'} received, ${fromTor[i]?.prefixesAccepted ?? '?'} accepted`,
    );
    const noneAccepted = fromTor.every((p) => p?.prefixesAccepted === 0);
    return [
      'Each node advertises its block to the ToR (eBGP), which installs it in its kernel and passes it on to the',
      `other nodes (routes from the ToR: ${counts.join('; ')}).`,
      ...(noneAccepted
        ? [
            `The nodes drop them, their own AS ${NODE_AS} being in the path, and reach other nodes' pods by their`,
            'default route, through the ToR:',
          ]
        : []),
      `  ${from.node}$ ip route get ${to.ip}   → ${await routeGet(from.node)}   (${to.name} on ${to.node})`,
      `  ${TOR.name}$ ip route get ${to.ip}      → ${await routeGet(TOR.name)}`,
    ].join('\n');
  }

  /** Every pod pings every pod; a pair that fails is tried again (a first packet may wait on ARP). */
  private async measure(): Promise<Matrix> {
    const ping = async (from: DemoPod, to: DemoPod) => {
      for (let attempt = 1; attempt <= PING_ATTEMPTS; attempt++) {
        const res = await runIn(from.ns, 'ping', ['-c1', '-W1', to.ip], { allowFail: true });
        if (res.code === 0) return true;
      }
      return false;
    };
    const reachable = await Promise.all(this.pods.map((from) => Promise.all(this.pods.map((to) => ping(from, to)))));
    return {
      pods: this.pods,
      reachable,
      denied: this.pods.map((from) => this.pods.map((to) => policyDenies(from, to))),
    };
  }

  private explain(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    console.error(`\ndemo: FAILED: ${message}`);
    const culprit = err instanceof DemoFailure ? err.culprit : undefined;
    if (culprit) console.error(`--- last lines of ${culprit.log} ---\n${culprit.logTail()}\n---`);
    else if (!(err instanceof DemoFailure) && err instanceof Error && err.stack) console.error(err.stack);
  }

  private async finish(): Promise<void> {
    const f = this.fabric;
    if (this.keep) {
      f.keep();
      console.log(keepHints(f, this.nodes, this.pods, this.endpoints));
      return;
    }
    await f.teardown();
    this.say(`torn down: ${f.prefix}* namespaces and ${f.dir} removed`);
  }
}

function keepHints(f: Fabric, nodes: DemoNode[], pods: DemoPod[], endpoints: string): string {
  const node = nodes[0];
  const [from, to] = [pods[0], pods.find((p) => p.node !== pods[0]?.node)];
  const lines = [
    `\nThe fabric ${f.prefix} stays up (--keep). Look around:`,
    `  ip netns list | grep ^${f.prefix}`,
    ...(node
      ? [
          `  ip netns exec ${f.nsName(node.name)} ip route                # ${node.name}: pod /32s, its block's blackhole, default via the ToR`,
          `  ip netns exec ${f.nsName(node.name)} ${TABBYCTL} node status --run-dir ${node.runDir}`,
        ]
      : []),
    ...(from && to ? [`  ip netns exec ${from.ns} ping -c3 ${to.ip}      # ${from.name} → ${to.name}`] : []),
    `  birdc -s ${f.file('tor-bird.ctl')} show route          # the ToR's table`,
    `  ip netns exec ${f.nsName(ETCD.name)} env ETCD_ENDPOINTS=${endpoints} ${TABBYCTL} get workloadendpoints -A -o wide`,
    `  ls ${f.dir}                # configs, logs (*.log), node run dirs`,
    'Remove it: npm run demo -- --down   (or: node dist/demo/main.js --down)',
  ];
  return lines.join('\n');
}

/** --down: every kept fabric, and what a killed demo left; a demo still running keeps its own. */
async function down(only: string | undefined): Promise<boolean> {
  const fabrics = findFabrics().filter((f) => only === undefined || f.prefix === only);
  for (const fabric of fabrics) {
    if (fabric.ownerRunning) {
      console.log(
        `demo: ${fabric.prefix} belongs to a demo still running (pid ${fabric.state!.owner.pid}): left alone`,
      );
      continue;
    }
    const processes = fabric.state?.processes.length ?? 0;
    await removeFabric(fabric);
    console.log(
      `demo: removed fabric ${fabric.prefix}: ${processes} process(es), ${fabric.namespaces.length} namespace(s), ${fabric.dir}`,
    );
  }
  if (fabrics.length === 0) console.log(`demo: no demo fabric ${only ? `${only} ` : ''}on this machine`);
  return true;
}

/** Leftovers of demos that were killed outright (not kept, owner gone): removed before a new run. */
async function removeCrashed(): Promise<void> {
  for (const fabric of findFabrics()) {
    if (fabric.ownerRunning) continue;
    if (fabric.state?.kept) {
      console.log(`demo: note: the kept fabric ${fabric.prefix} is still up (npm run demo -- --down removes it)`);
      continue;
    }
    await removeFabric(fabric);
    console.log(`demo: removed the leftovers of a killed demo: ${fabric.prefix}`);
  }
}

async function checkPrerequisites(): Promise<void> {
  if (process.getuid?.() !== 0) throw new DemoFailure('needs root: it creates network namespaces');
  for (const tool of ['etcd', 'etcdctl', 'bird', 'birdc', 'ping', 'ip', 'bridge']) {
    const found = await run('sh', ['-c', `command -v ${tool}`], { allowFail: true });
    if (found.code !== 0)
      throw new DemoFailure(`${tool} is not installed: run bash scripts/setup.sh (or npm run demo)`);
  }
  for (const exe of [TABBYCTL, TABBY_NODE, path.join(CNI_PATH[0]!, 'tabby')]) {
    if (!fs.existsSync(exe)) throw new DemoFailure(`${exe} is missing: run npm run build`);
  }
}

export async function main(argv: string[]): Promise<void> {
  let ok: boolean;
  try {
    const opts = parseArgs(argv);
    if (!opts) {
      process.stdout.write(USAGE);
      return;
    }
    if (opts.down) {
      ok = await down(opts.only);
    } else {
      await checkPrerequisites();
      await removeCrashed();
      ok = await new Demo(opts.keep).run();
    }
  } catch (err) {
    console.error(`demo: ${(err as Error).message}`);
    ok = false;
  }
  process.exitCode = ok ? 0 : 1;
}

// `node dist/demo/main.js` runs it as well as scripts/demo.js does.
if (require.main === module) void main(process.argv.slice(2));
