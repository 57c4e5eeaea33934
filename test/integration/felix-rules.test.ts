// Felix's base rules in a real kernel: rendered for a node with three workloads, applied by the ipset and iptables
// engines inside a network namespace of the run (ipsets first, as their rules refer to them), then traffic between
// two veth "pods" through FORWARD: allowed by the namespace profile, counted in the endpoint chains, dropped when the
// endpoint policy hook says so, and a spoofed source dropped by the RPF check in raw.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FELIX_DEFAULTS } from '../../felix/config';
import { IpSetManager } from '../../felix/ipsets';
import {
  type BackendMode,
  IptablesTable,
  iptablesBackend,
  parseIptablesVersion,
  type TableName,
} from '../../felix/iptables';
import { type BaseRules, type BaseRulesInput, renderBaseRules } from '../../felix/rules';
import { endpointPolicyRules, profileChains } from '../../felix/rules/policy';
import { emptyRule } from '../../policy';
import { run, runIn, withTopology } from '../harness';

const skip = process.getuid?.() === 0 ? false : 'needs root: creates network namespaces';

/** The namespace's profile as Calico's controllers write it: allow all, both ways. */
const PROFILE = { name: 'kns.default', inboundRules: [emptyRule('allow')], outboundRules: [emptyRule('allow')] };

const NAT_OUTGOING =
  '-m set --match-set cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst -j MASQUERADE';

interface Pod {
  ns: string;
  iface: string;
  ip: string;
}

/** A pod plumbed as the CNI plugin does it (CONTRACT §6), with permanent ARP entries on both ends. */
async function addPod(node: string, ns: string, iface: string, ip: string): Promise<Pod> {
  await run('ip', ['netns', 'add', ns]);
  await runIn(node, 'ip', ['link', 'add', iface, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  await runIn(node, 'ip', ['link', 'set', iface, 'address', 'ee:ee:ee:ee:ee:ee', 'up']);
  for (const args of [
    ['link', 'set', 'lo', 'up'],
    ['link', 'set', 'eth0', 'up'],
    ['addr', 'add', `${ip}/32`, 'dev', 'eth0'],
    ['route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link'],
    ['route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0'],
    ['neigh', 'replace', '169.254.1.1', 'lladdr', 'ee:ee:ee:ee:ee:ee', 'dev', 'eth0', 'nud', 'permanent'],
  ]) {
    await runIn(ns, 'ip', args);
  }
  const mac = (JSON.parse((await runIn(ns, 'ip', ['-j', 'link', 'show', 'eth0'])).stdout) as { address: string }[])[0]!
    .address;
  await runIn(node, 'ip', ['route', 'add', `${ip}/32`, 'dev', iface, 'scope', 'link']);
  await runIn(node, 'ip', ['neigh', 'replace', ip, 'lladdr', mac, 'dev', iface, 'nud', 'permanent']);
  return { ns, iface, ip };
}

async function pings(from: Pod, to: Pod, source?: string): Promise<boolean> {
  const args = ['-c', '1', '-W', '1', ...(source === undefined ? [] : ['-I', source]), to.ip];
  try {
    await runIn(from.ns, 'ping', args);
    return true;
  } catch {
    return false;
  }
}

/** Packets counted by the rule of `chain` whose text includes `fragment`, from `iptables-save -c`. */
function packets(saved: string, chain: string, fragment: string): number {
  const line = saved.split('\n').find((l) => l.includes(`-A ${chain} `) && l.includes(fragment));
  assert.ok(line, `no rule of ${chain} with "${fragment}" in:\n${saved}`);
  return Number(/^\[(\d+):/.exec(line)![1]);
}

for (const mode of ['nft', 'legacy'] as BackendMode[]) {
  test(`felix rules (iptables-${mode}): applied with the engines, they carry pod-to-pod traffic through the endpoint chains`, {
    skip,
  }, async () => {
    await withTopology(async (topo) => {
      const node = `${topo.prefix}node`;
      await run('ip', ['netns', 'add', node]);
      await runIn(node, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
      const [a, b, c] = [
        await addPod(node, `${topo.prefix}pa`, 'caliaaaaaaaaaaa', '10.65.0.2'),
        await addPod(node, `${topo.prefix}pb`, 'calibbbbbbbbbbb', '10.65.0.3'),
        await addPod(node, `${topo.prefix}pc`, 'calicccccccccc0', '10.65.0.4'),
      ] as const;

      const input: BaseRulesInput = {
        workloadInterfaces: [a.iface, b.iface, c.iface],
        interfacePrefix: 'cali',
        failsafeInbound: FELIX_DEFAULTS.failsafeInbound,
        failsafeOutbound: FELIX_DEFAULTS.failsafeOutbound,
        defaultEndpointToHostAction: 'Drop',
        ipipEnabled: true,
        ipipTunnelAddress: '10.65.0.1',
        vxlanEnabled: true,
        vxlanPort: 4789,
        vxlanTunnelAddress: '10.65.0.65',
        nodeAddress: '192.0.2.11',
        hostAddresses: ['192.0.2.11', '192.0.2.12'],
        natPools: ['10.65.0.0/16'],
        allPools: ['10.65.0.0/16'],
        natOutgoingAddress: undefined,
        // Each pod with its namespace's allow-all profile and no policy, as CNI-made pods start out.
        endpointPolicy: (_, direction) => endpointPolicyRules(direction, { tiers: [], profiles: [PROFILE.name] }),
        policyChains: profileChains(PROFILE),
      };
      const backend = iptablesBackend(
        mode,
        parseIptablesVersion((await run(`iptables-${mode}`, ['--version'])).stdout),
      );
      const tables = new Map(
        (['filter', 'nat', 'raw'] as const).map((table) => [table, new IptablesTable({ table, netns: node, backend })]),
      );
      const ipsets = new IpSetManager({ netns: node });
      const apply = async (rules: BaseRules) => {
        assert.deepEqual(rules.warnings, []);
        for (const set of rules.ipSets) ipsets.setIpSet(set);
        await ipsets.apply();
        for (const [name, table] of tables) {
          table.setChains(rules[name].chains);
          for (const [kernelChain, inserted] of Object.entries(rules[name].insertions)) {
            table.setInsertions(kernelChain, inserted);
          }
          // iptables-restore takes the whole table in one transaction or nothing: apply() throws on any rule it rejects.
          await table.apply();
        }
      };
      const save = async (table: TableName) => (await runIn(node, backend.saveCommand, ['-c', '-t', table])).stdout;

      await apply(renderBaseRules(input));
      const filter = await save('filter');
      for (const line of [
        ':cali-FORWARD',
        ':cali-from-wl-dispatch',
        `-A cali-from-wl-dispatch -i ${a.iface} `,
        `:cali-tw-${b.iface}`,
        `:cali-fw-${a.iface}`,
        '-A INPUT -m comment --comment "cali:Cz_u1IQiXIMmKD4c" -j cali-INPUT',
        '-A FORWARD -m comment --comment "cali:wUHhoiAYhphO9Mso" -j cali-FORWARD',
      ]) {
        assert.ok(filter.includes(line), `${line} not in:\n${filter}`);
      }
      const nat = await save('nat');
      assert.ok(nat.includes(`${NAT_OUTGOING} --random-fully`), nat);
      assert.ok((await save('raw')).includes('-m rpfilter --validmark --invert -j DROP'));
      const sets = (await runIn(node, 'ipset', ['list', '-name'])).stdout.split('\n').sort();
      for (const set of [
        'cali40all-hosts-net',
        'cali40all-ipam-pools',
        'cali40all-vxlan-net',
        'cali40masq-ipam-pools',
      ]) {
        assert.ok(sets.includes(set), sets.join(' '));
      }

      // Through FORWARD: a's egress chain, then b's ingress chain, each allowed by the profile.
      assert.ok(await pings(a, b), 'pod a reaches pod b');
      const counted = await save('filter');
      assert.ok(packets(counted, `cali-fw-${a.iface}`, 'cali-pro-kns.default') >= 1);
      assert.ok(packets(counted, `cali-tw-${b.iface}`, 'cali-pri-kns.default') >= 1);

      // A spoofed source fails the strict RPF check in raw PREROUTING.
      await runIn(a.ns, 'ip', ['addr', 'add', '10.65.0.99/32', 'dev', 'eth0']);
      assert.ok(!(await pings(a, b, '10.65.0.99')), 'a spoofed source is dropped');
      assert.ok(packets(await save('raw'), 'cali-PREROUTING', '-m rpfilter') >= 1);

      // b's ingress without its profile allows nothing; the others are untouched.
      await apply(
        renderBaseRules({
          ...input,
          endpointPolicy: (iface, direction) =>
            iface === b.iface && direction === 'ingress' ? [] : input.endpointPolicy(iface, direction),
        }),
      );
      assert.ok(!(await pings(a, b)), 'pod b is cut off by its ingress policy');
      assert.ok(await pings(a, c), 'pod c is still reached');
      assert.ok(await pings(b, c), 'pod b still sends');
    });
  });
}
