// Felix inside tabby-node, on two nodes in network namespaces with etcd on the underlay: workload routes,
// permanent ARP entries and sysctls, blackholes for local blocks, VXLAN or IPIP between the nodes (a pod pings a
// pod on the other node, UDP 4789 or IP protocol 4 seen on the underlay), a steady state that writes nothing, a
// restart that changes nothing, and drift repair.
// The pods are plumbed by hand here as the CNI plugin will (CONTRACT §6); their addresses come from tabby-ipam.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type EtcdHandle, type ProcessHandle, run, runIn, startEtcd, Topology } from '../harness';
import { waitFor } from '../support/wait';

const isRoot = process.getuid?.() === 0;
const DIST = path.join(__dirname, '..', '..');
const TABBYCTL = path.join(DIST, 'bin', 'tabbyctl');
const TABBY_NODE = path.join(DIST, 'bin', 'tabby-node');
const PLUGIN = path.join(DIST, 'cni-bin', 'tabby-ipam');

interface Pod {
  ns: string;
  iface: string;
  ip: string;
  mac: string;
}

interface NodeStatus {
  felix: { inSync: boolean; endpoints: number; problems: string[]; applies: number; writes: number };
}

/** The tunnel addresses IPAM gave the nodes (Node spec), for what the encapsulation's checks expect. */
interface Tunnels {
  n1: string | undefined;
  n2: string | undefined;
}

/** What differs between the ways pod traffic crosses the underlay: pool modes, device, routes, the wire. */
interface Encapsulation {
  name: 'VXLAN' | 'IPIP' | 'BGP';
  pool: Record<string, string>;
  /** The tunnel address in a Node's spec. */
  tunnelOf(spec: { ipv4VXLANTunnelAddr?: string; bgp?: { ipv4IPIPTunnelAddr?: string } }): string | undefined;
  device: string | undefined;
  mtu: number;
  /** The route to n2's block on n1. */
  remoteRoute(t: Tunnels): RegExp;
  /** tcpdump's filter and what it prints for the pod's ping on n1's underlay. */
  capture: string[];
  onTheWire: RegExp;
}

const ip = (text: string | undefined) => (text ?? 'none').replace(/\./g, '\\.');

const ENCAPSULATIONS: Encapsulation[] = [
  {
    name: 'VXLAN',
    pool: { vxlanMode: 'Always', ipipMode: 'Never' },
    tunnelOf: (spec) => spec.ipv4VXLANTunnelAddr,
    device: 'vxlan.calico',
    mtu: 1450,
    remoteRoute: (t) => new RegExp(`10\\.66\\.\\d+\\.\\d+/26 via ${ip(t.n2)} dev vxlan\\.calico proto 80 onlink`),
    capture: ['udp', 'port', '4789'],
    onTheWire: /192\.0\.2\.11\.\d+ > 192\.0\.2\.12\.4789: VXLAN/,
  },
  {
    name: 'IPIP',
    pool: { ipipMode: 'Always', vxlanMode: 'Never' },
    tunnelOf: (spec) => spec.bgp?.ipv4IPIPTunnelAddr,
    device: 'tunl0',
    mtu: 1480,
    remoteRoute: () => /10\.66\.\d+\.\d+\/26 via 192\.0\.2\.12 dev tunl0 proto 80 onlink/,
    capture: ['ip', 'proto', '4'],
    onTheWire: /192\.0\.2\.11 > 192\.0\.2\.12: IP 10\.66\.[\d.]+ > 10\.66\.[\d.]+: ICMP echo request/,
  },
  {
    name: 'BGP',
    pool: { ipipMode: 'Never', vxlanMode: 'Never' },
    tunnelOf: () => undefined,
    device: undefined,
    mtu: 0,
    remoteRoute: () => /10\.66\.\d+\.\d+\/26 via 192\.0\.2\.12 dev eth0 proto bgp metric 32/,
    capture: ['icmp'],
    onTheWire: /10\.66\.[\d.]+ > 10\.66\.[\d.]+: ICMP echo request/,
  },
];

for (const encap of ENCAPSULATIONS) {
  describe(`felix in tabby-node over ${encap.name}: routes, ARP, sysctls, tunnel, drift`, {
    skip: isRoot ? false : 'needs root',
  }, () => {
    let topo: Topology;
    let etcd: EtcdHandle;
    let endpoints: string;
    const pods = new Map<string, Pod>();
    const nodes = new Map<string, ProcessHandle>();
    const tunnels: Tunnels = { n1: undefined, n2: undefined };

    const ctl = async (args: string[], input?: string) => {
      const res = await topo.exec('etcd', TABBYCTL, args, {
        allowFail: true,
        env: { ...process.env, ETCD_ENDPOINTS: endpoints },
        ...(input !== undefined ? { input } : {}),
      });
      assert.equal(res.code, 0, `tabbyctl ${args.join(' ')}: ${res.stderr}`);
      return res.stdout;
    };
    const runDir = (node: string) => path.join(topo.dir, `run-${node}`);
    const status = async (node: string) => {
      const res = await topo.exec(
        node,
        'curl',
        ['-s', '--unix-socket', path.join(runDir(node), 'status.sock'), 'http://x/status'],
        {
          allowFail: true,
        },
      );
      return JSON.parse(res.stdout) as NodeStatus;
    };
    const inNode = async (node: string, cmd: string, args: string[]) => (await topo.exec(node, cmd, args)).stdout;

    /** A pod as the CNI plugin will make it: address from tabby-ipam, veth caliX ↔ eth0, /32 and a default via 169.254.1.1. */
    const addPod = async (node: string, name: string): Promise<Pod> => {
      const add = await topo.exec(node, PLUGIN, [], {
        input: JSON.stringify({
          cniVersion: '1.0.0',
          name: 'net',
          type: 'tabby',
          run_dir: runDir(node),
          ipam: { type: 'tabby-ipam' },
        }),
        env: {
          PATH: process.env.PATH,
          CNI_COMMAND: 'ADD',
          CNI_CONTAINERID: name,
          CNI_NETNS: 'x',
          CNI_IFNAME: 'eth0',
          CNI_PATH: '',
        },
      });
      const ip = (JSON.parse(add.stdout) as { ips: { address: string }[] }).ips[0]!.address.split('/')[0]!;
      const ns = `${topo.prefix}${name}`;
      const iface = `cali${name.padEnd(11, '0').slice(0, 11)}`;
      // Made from the host: a namespace added under `ip netns exec` would be bound in that command's mount namespace only.
      await run('ip', ['netns', 'add', ns]);
      await inNode(node, 'ip', ['link', 'add', iface, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      await inNode(node, 'ip', ['link', 'set', iface, 'address', 'ee:ee:ee:ee:ee:ee', 'up']);
      for (const args of [
        ['link', 'set', 'lo', 'up'],
        ['link', 'set', 'eth0', 'up'],
        ['addr', 'add', `${ip}/32`, 'dev', 'eth0'],
        ['route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link'],
        ['route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0'],
      ]) {
        await runIn(ns, 'ip', args);
      }
      const mac = (
        JSON.parse((await runIn(ns, 'ip', ['-j', 'link', 'show', 'eth0'])).stdout) as { address: string }[]
      )[0]!.address;
      await ctl(
        ['apply', '-f', '-'],
        JSON.stringify({
          apiVersion: 'projectcalico.org/v3',
          kind: 'WorkloadEndpoint',
          metadata: { name: `${node}-k8s-${name}-eth0`, namespace: 'default' },
          spec: {
            node,
            orchestrator: 'k8s',
            pod: name,
            endpoint: 'eth0',
            interfaceName: iface,
            ipNetworks: [`${ip}/32`],
            mac,
            profiles: ['kns.default'],
          },
        }),
      );
      const pod = { ns, iface, ip, mac };
      pods.set(name, pod);
      return pod;
    };

    before(async () => {
      topo = await Topology.create();
      await topo.addSegment('lan');
      await topo.addNode('etcd', { segment: 'lan', address: '192.0.2.10/24' });
      // Nodes have a default route, as real ones do: proxy ARP answers a pod's ARP for 169.254.1.1 only when the
      // host has a route to it. It points at the etcd namespace, which forwards nothing.
      await topo.addNode('n1', { segment: 'lan', address: '192.0.2.11/24', gateway: '192.0.2.10' });
      await topo.addNode('n2', { segment: 'lan', address: '192.0.2.12/24', gateway: '192.0.2.10' });
      await topo.waitUntilLinksUp();
      await topo.exec('etcd', 'ip', ['addr', 'add', '198.51.100.10/32', 'dev', 'lo']);
      etcd = await startEtcd({ netns: topo.nsName('etcd'), host: '192.0.2.10' });
      endpoints = etcd.endpoints.join(',');
      await ctl(
        ['apply', '-f', '-'],
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'List',
          items: [
            // The namespace's profile as Calico's controllers write it: pods may talk until a policy selects them.
            {
              apiVersion: 'projectcalico.org/v3',
              kind: 'Profile',
              metadata: { name: 'kns.default' },
              spec: { ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }] },
            },
            {
              apiVersion: 'projectcalico.org/v3',
              kind: 'IPPool',
              metadata: { name: 'pods' },
              spec: { cidr: '10.66.0.0/20', ...encap.pool, blockSize: 26, natOutgoing: true },
            },
            {
              apiVersion: 'projectcalico.org/v3',
              kind: 'FelixConfiguration',
              metadata: { name: 'default' },
              spec: { routeRefreshInterval: '2s', iptablesRefreshInterval: '2s', ipsetsRefreshInterval: '2s' },
            },
          ],
        }),
      );
      for (const n of ['n1', 'n2']) {
        nodes.set(
          n,
          await topo.spawn(n, TABBY_NODE, ['--node-name', n, '--run-dir', runDir(n)], {
            env: { ...process.env, ETCD_ENDPOINTS: endpoints },
          }),
        );
      }
      await waitFor(
        async () => (await status('n1')).felix.inSync && (await status('n2')).felix.inSync,
        'felix in sync',
        20_000,
      );
      // The nodes registered themselves (address autodetected on eth0) and got their tunnel addresses from IPAM.
      for (const n of ['n1', 'n2'] as const) {
        const spec = (
          JSON.parse(await ctl(['get', 'node', n, '-o', 'json'])) as {
            spec: Parameters<Encapsulation['tunnelOf']>[0] & { bgp?: { ipv4Address?: string } };
          }
        ).spec;
        assert.equal(spec.bgp?.ipv4Address, n === 'n1' ? '192.0.2.11/24' : '192.0.2.12/24');
        tunnels[n] = encap.tunnelOf(spec);
        if (encap.device) assert.ok(tunnels[n], `${n} has a ${encap.name} tunnel address`);
      }
    });

    after(async () => {
      if (process.env.TABBY_TEST_VERBOSE) for (const [n, p] of nodes) console.log(`--- ${n}\n${p.output()}`);
      await topo?.destroy();
      await etcd?.stop();
    });

    it(`programs workload routes, ARP entries, sysctls and blackholes, and a ${encap.name} path between pods`, async () => {
      const a = await addPod('n1', 'poda');
      const b = await addPod('n2', 'podb');
      await waitFor(
        async () => (await status('n1')).felix.endpoints === 1 && (await status('n2')).felix.endpoints === 1,
        'both endpoints',
      );
      await waitFor(
        async () => (await inNode('n1', 'ip', ['route', 'show', 'proto', '80'])).includes(`${a.ip} dev ${a.iface}`),
        'pod route',
      );
      const routes = await inNode('n1', 'ip', ['route', 'show', 'proto', '80']);
      assert.match(routes, new RegExp(`${a.ip.replace(/\./g, '\\.')} dev ${a.iface} scope link`));
      assert.match(routes, /blackhole 10\.66\.\d+\.\d+\/26/);
      if (encap.name === 'BGP') {
        // The mesh is one-way: n1 waits for n2 (the greater address) to connect.
        const established = /\| 192\.0\.2\.12 +\| node-to-node mesh \| up +\| [^|]+\| Established/;
        await waitFor(
          async () =>
            established.test((await topo.exec('n1', TABBYCTL, ['node', 'status', '--run-dir', runDir('n1')])).stdout),
          'the mesh session Established in `tabbyctl node status`',
          20_000,
          200,
        );
      }
      if (encap.name === 'BGP') {
        const curl = (url: string) => topo.exec('n1', 'curl', ['-s', '-w', ' %{http_code}', url], { allowFail: true });
        assert.match((await curl('http://192.0.2.11:9099/liveness')).stdout, /"alive":true\}\s+200$/);
        await waitFor(
          async () => (await curl('http://192.0.2.11:9099/readiness')).stdout.endsWith(' 200'),
          'readiness 200',
        );
        const metrics = (await curl('http://192.0.2.11:9091/metrics')).stdout;
        assert.match(metrics, /^tabby_bgp_peers\{state="Established"\} 1$/m);
        assert.match(metrics, /^tabby_felix_endpoints 1$/m);
      }
      // What the CNI plugin gives pods when its config has no mtu: the underlay's less the encapsulation's.
      const workloadMtu = (await inNode('n1', 'cat', [path.join(runDir('n1'), 'mtu')])).trim();
      assert.equal(workloadMtu, String(encap.device ? encap.mtu : 1500));
      const remoteRoute = encap.remoteRoute(tunnels);
      await waitFor(
        async () => remoteRoute.test(await inNode('n1', 'ip', ['route', 'show'])),
        `the route ${remoteRoute}`,
      );
      const neigh = await inNode('n1', 'ip', ['neigh', 'show', 'nud', 'permanent']);
      assert.ok(neigh.includes(`${a.ip} dev ${a.iface} lladdr ${a.mac}`), neigh);
      if (encap.name === 'VXLAN') {
        assert.match(neigh, new RegExp(`${ip(tunnels.n2)} dev vxlan\\.calico lladdr 66(:[0-9a-f]{2}){5}`));
      }
      for (const [key, value] of [
        [`ipv4/conf/${a.iface}/proxy_arp`, '1'],
        [`ipv4/neigh/${a.iface}/proxy_delay`, '0'],
        [`ipv4/conf/${a.iface}/route_localnet`, '1'],
        [`ipv4/conf/${a.iface}/forwarding`, '1'],
        ['ipv4/ip_forward', '1'],
      ]) {
        assert.equal((await inNode('n1', 'cat', [`/proc/sys/net/${key}`])).trim(), value, key);
      }
      if (encap.device) {
        const link = JSON.parse(await inNode('n1', 'ip', ['-j', '-d', 'link', 'show', encap.device])) as {
          mtu: number;
          linkinfo?: { info_data?: { id: number; port: number } };
        }[];
        assert.equal(link[0]!.mtu, encap.mtu);
        if (encap.name === 'VXLAN') {
          assert.equal(link[0]!.linkinfo?.info_data?.id, 4096);
          assert.equal(link[0]!.linkinfo?.info_data?.port, 4789);
        }
        const addresses = await inNode('n1', 'ip', ['-4', 'addr', 'show', 'dev', encap.device]);
        assert.match(addresses, new RegExp(`inet ${ip(tunnels.n1)}/32`));
      }

      const capture = await topo.spawn('n1', 'tcpdump', ['-l', '-n', '-i', 'eth0', ...encap.capture]);
      await new Promise((r) => setTimeout(r, 500));
      const ping = await runIn(a.ns, 'ping', ['-c', '3', '-W', '2', b.ip], { allowFail: true });
      assert.equal(ping.code, 0, `pod a → pod b over ${encap.name}: ${ping.stdout}${ping.stderr}`);
      await new Promise((r) => setTimeout(r, 300));
      await capture.stop();
      assert.match(capture.output(), encap.onTheWire, capture.output());
    });

    it('programs the iptables chains and masquerades pod traffic leaving the pools', async () => {
      const a = pods.get('poda')!;
      const filter = await inNode('n1', 'iptables-save', ['-t', 'filter']);
      assert.match(filter, /^-A FORWARD -m comment --comment "cali:wUHhoiAYhphO9Mso" -j cali-FORWARD$/m);
      assert.ok(filter.includes(`:cali-fw-${a.iface}`) && filter.includes(`:cali-tw-${a.iface}`), filter);
      const nat = await inNode('n1', 'iptables-save', ['-t', 'nat']);
      assert.match(
        nat,
        /-A cali-nat-outgoing -m comment --comment "cali:[\w-]{16}" -m set --match-set cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst -j MASQUERADE/,
      );
      assert.match(await inNode('n1', 'ipset', ['list', 'cali40masq-ipam-pools']), /10\.66\.0\.0\/20/);

      // 198.51.100.10 is outside the pools, on the etcd namespace (the nodes' gateway), which has no route back to
      // pod addresses: an answer proves the source was the node's.
      const capture = await topo.spawn('etcd', 'tcpdump', ['-l', '-n', '-i', 'eth0', 'icmp']);
      await new Promise((r) => setTimeout(r, 500));
      const ping = await runIn(a.ns, 'ping', ['-c', '2', '-W', '2', '198.51.100.10'], { allowFail: true });
      await new Promise((r) => setTimeout(r, 300));
      await capture.stop();
      assert.equal(ping.code, 0, `${ping.stdout}${ping.stderr}`);
      assert.match(capture.output(), /192\.0\.2\.11 > 198\.51\.100\.10: ICMP echo request/, capture.output());
      assert.ok(!capture.output().includes(`${a.ip} > 198.51.100.10`), 'no pod address leaves the node');
    });

    it('writes nothing in a steady state and repairs drift at the next refresh', async () => {
      const a = pods.get('poda')!;
      const before = (await status('n1')).felix;
      await new Promise((r) => setTimeout(r, 4500));
      const steady = (await status('n1')).felix;
      assert.ok(steady.applies > before.applies, 'the refresh ran');
      assert.equal(steady.writes, before.writes, 'a refresh over a right dataplane writes nothing');

      await inNode('n1', 'ip', ['route', 'del', `${a.ip}/32`, 'dev', a.iface]);
      await inNode('n1', 'ip', ['neigh', 'del', a.ip, 'dev', a.iface]);
      await inNode('n1', 'sh', ['-c', `echo 0 > /proc/sys/net/ipv4/conf/${a.iface}/proxy_arp`]);
      await inNode('n1', 'ip', ['route', 'add', '203.0.113.0/24', 'dev', 'eth0']);
      await inNode('n1', 'iptables', ['-D', 'FORWARD', '1']);
      await inNode('n1', 'ipset', ['del', 'cali40masq-ipam-pools', '10.66.0.0/20']);
      await waitFor(
        async () => {
          const routes = await inNode('n1', 'ip', ['route', 'show']);
          const neigh = await inNode('n1', 'ip', ['neigh', 'show', 'nud', 'permanent']);
          const proxyArp = (await inNode('n1', 'cat', [`/proc/sys/net/ipv4/conf/${a.iface}/proxy_arp`])).trim();
          const hook = (await inNode('n1', 'iptables-save', ['-t', 'filter'])).includes('-A FORWARD -m comment');
          const masq = (await inNode('n1', 'ipset', ['list', 'cali40masq-ipam-pools'])).includes('10.66.0.0/20');
          return routes.includes(`${a.ip} dev ${a.iface}`) && neigh.includes(a.ip) && proxyArp === '1' && hook && masq;
        },
        'the route, the ARP entry, proxy_arp, the FORWARD hook and the ipset member restored',
        10_000,
      );
      assert.match(
        await inNode('n1', 'ip', ['route', 'show']),
        /203\.0\.113\.0\/24 dev eth0/,
        'a foreign route survives',
      );
    });

    it('restarted over its own dataplane, writes nothing and keeps traffic flowing', async () => {
      const a = pods.get('poda')!;
      const b = pods.get('podb')!;
      const pinger = await topo.spawn('n1', 'ip', ['netns', 'exec', a.ns, 'ping', '-i', '0.1', b.ip]);
      await new Promise((r) => setTimeout(r, 500));
      const old = nodes.get('n1')!;
      await old.stop();
      const fresh = await topo.spawn('n1', TABBY_NODE, ['--node-name', 'n1', '--run-dir', runDir('n1')], {
        env: { ...process.env, ETCD_ENDPOINTS: endpoints },
      });
      nodes.set('n1', fresh);
      await waitFor(async () => (await status('n1')).felix.inSync, 'the restarted felix in sync', 20_000);
      const after = (await status('n1')).felix;
      assert.equal(after.writes, 0, `a restart over a right dataplane writes nothing: ${fresh.output()}`);
      await new Promise((r) => setTimeout(r, 500));
      await pinger.stop();
      // ping prints no summary when terminated: count the replies and the gaps in their sequence numbers.
      const out = pinger.output();
      const seqs = [...out.matchAll(/icmp_seq=(\d+) ttl/g)].map((m) => Number(m[1]));
      assert.ok(seqs.length >= 5, out);
      const lost = Math.max(...seqs) - seqs.length;
      // The kernel forwards through the restart, and so does the userspace IPIP datapath: a process of its own
      // that outlives tabby-node.
      assert.ok(lost <= 1, `at most one ping (one per 0.1 s) lost across the restart, lost ${lost}: ${out}`);
    });

    it('removes what a deleted endpoint had', async () => {
      const a = pods.get('poda')!;
      await ctl(['delete', 'workloadendpoint', 'n1-k8s-poda-eth0', '-n', 'default']);
      await waitFor(
        async () =>
          !(await inNode('n1', 'ip', ['route', 'show', 'proto', '80'])).includes(`${a.ip} dev`) &&
          !(await inNode('n1', 'ip', ['neigh', 'show', 'nud', 'permanent'])).includes(`${a.ip} dev ${a.iface}`) &&
          !(await inNode('n1', 'iptables-save', ['-t', 'filter'])).includes(`cali-fw-${a.iface}`),
        'the route, the ARP entry and the endpoint chains gone',
      );
    });
  });
}
