// Felix's base iptables rules (felix/rules) without root: the exact chains of a small node, Calico's own hashes for
// what tabby renders as Calico does, the dispatch tree for many endpoints, NAT outgoing, the endpoint-to-host
// action, the policy hook's place in the endpoint chains, and what bad input becomes.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { FELIX_DEFAULTS } from '../../felix/config';
import {
  Actions,
  type Chain,
  MAX_CHAIN_NAME_LENGTH,
  parseIptablesSave,
  type Rule,
  renderChain,
  renderRuleBody,
  ruleHashes,
} from '../../felix/iptables';
import {
  type BaseRules,
  type BaseRulesInput,
  endpointChainName,
  MAX_LINEAR_DISPATCH,
  type PolicyDirection,
  renderBaseRules,
  type TableRules,
} from '../../felix/rules';
import { endpointPolicyRules } from '../../felix/rules/policy';

/** Every endpoint with its namespace's profile and no policy, as CNI-made pods start out. */
const namespaceProfileOnly = (_iface: string, direction: PolicyDirection) =>
  endpointPolicyRules(direction, { tiers: [], profiles: ['kns.default'] });

/** Three workloads (two sharing the character after `cali`), IPIP with a tunnel address, NAT outgoing. */
const SMALL_NODE: BaseRulesInput = {
  endpointPolicy: namespaceProfileOnly,
  workloadInterfaces: ['cali2444', 'cali1234', 'cali2333'],
  interfacePrefix: 'cali',
  failsafeInbound: [
    { protocol: 'tcp', port: 22 },
    { protocol: 'tcp', port: 179, net: '192.0.2.0/24' },
  ],
  failsafeOutbound: [{ protocol: 'udp', port: 53 }],
  defaultEndpointToHostAction: 'Drop',
  ipipEnabled: true,
  ipipTunnelAddress: '10.65.0.1',
  vxlanEnabled: false,
  vxlanPort: 4789,
  vxlanTunnelAddress: undefined,
  nodeAddress: '192.0.2.11/24',
  hostAddresses: ['192.0.2.12', '192.0.2.11/24'],
  natPools: ['10.65.0.0/16'],
  allPools: ['10.65.0.0/16', '10.66.0.0/16'],
  natOutgoingAddress: undefined,
};

/** The node of felix/fv/cali-iptables-dump.txt in the Calico repository: VXLAN, no workloads, endpoint-to-host ACCEPT. */
const CALICO_FV_NODE: BaseRulesInput = {
  endpointPolicy: namespaceProfileOnly,
  workloadInterfaces: [],
  interfacePrefix: 'cali',
  failsafeInbound: FELIX_DEFAULTS.failsafeInbound,
  failsafeOutbound: FELIX_DEFAULTS.failsafeOutbound,
  defaultEndpointToHostAction: 'Accept',
  ipipEnabled: false,
  ipipTunnelAddress: undefined,
  vxlanEnabled: true,
  vxlanPort: 4789,
  vxlanTunnelAddress: '10.65.0.1',
  nodeAddress: '192.0.2.11',
  hostAddresses: ['192.0.2.11'],
  natPools: [],
  allPools: [],
  natOutgoingAddress: undefined,
};

/** A table as text: `-I <kernel chain> <rule>` for the hooks, then `:<chain>` and `-A <chain> <rule>` per chain. */
function tableText(table: TableRules): string {
  const lines: string[] = [];
  for (const [chain, rules] of Object.entries(table.insertions)) {
    for (const rule of rules) lines.push(`-I ${chain} ${renderRuleBody(rule)}`);
  }
  for (const chain of table.chains) {
    lines.push(`:${chain.name}`);
    for (const rule of chain.rules) lines.push(`-A ${chain.name} ${renderRuleBody(rule)}`);
  }
  return lines.join('\n');
}

/** The text of some chains of a table, in the order named. */
function chainsText(table: TableRules, names: string[]): string {
  return tableText({ insertions: {}, chains: names.map((name) => chain(table, name)) });
}

function chain(table: TableRules, name: string): Chain {
  const found = table.chains.find((c) => c.name === name);
  assert.ok(found, `no chain ${name}`);
  return found;
}

function text(lines: string): string {
  return lines.trim().replace(/^ +/gm, '');
}

describe('renderBaseRules: a small node, rule for rule', () => {
  const rules = renderBaseRules(SMALL_NODE);

  it('hooks the filter table and renders its static chains as Calico does', () => {
    assert.equal(
      tableText({ insertions: rules.filter.insertions, chains: [] }),
      text(`
        -I INPUT --jump cali-INPUT
        -I FORWARD --jump cali-FORWARD
        -I OUTPUT --jump cali-OUTPUT`),
    );
    assert.equal(
      chainsText(rules.filter, [
        'cali-INPUT',
        'cali-wl-to-host',
        'cali-FORWARD',
        'cali-OUTPUT',
        'cali-failsafe-in',
        'cali-failsafe-out',
        'cali-from-host-endpoint',
        'cali-to-host-endpoint',
        'cali-from-hep-forward',
        'cali-to-hep-forward',
        'cali-cidr-block',
      ]),
      text(`
        :cali-INPUT
        -A cali-INPUT -m comment --comment "Allow IPIP packets from Calico hosts" -p 4 -m set --match-set cali40all-hosts-net src -m addrtype --dst-type LOCAL --jump ACCEPT
        -A cali-INPUT -m comment --comment "Drop IPIP packets from non-Calico hosts" -p 4 --jump DROP
        -A cali-INPUT --in-interface cali+ --goto cali-wl-to-host
        -A cali-INPUT -m mark --mark 0x10000/0x10000 --jump ACCEPT
        -A cali-INPUT --jump MARK --set-mark 0/0x1b0000
        -A cali-INPUT --jump cali-from-host-endpoint
        -A cali-INPUT -m comment --comment "Host endpoint policy accepted packet." -m mark --mark 0x10000/0x10000 --jump ACCEPT
        :cali-wl-to-host
        -A cali-wl-to-host --jump cali-from-wl-dispatch
        -A cali-wl-to-host -m comment --comment "Configured DefaultEndpointToHostAction" --jump DROP
        :cali-FORWARD
        -A cali-FORWARD --jump MARK --set-mark 0/0x1a0000
        -A cali-FORWARD -m mark --mark 0/0x10000 --jump cali-from-hep-forward
        -A cali-FORWARD --in-interface cali+ --jump cali-from-wl-dispatch
        -A cali-FORWARD --out-interface cali+ --jump cali-to-wl-dispatch
        -A cali-FORWARD --jump cali-to-hep-forward
        -A cali-FORWARD --jump cali-cidr-block
        -A cali-FORWARD -m comment --comment "Policy explicitly accepted packet." -m mark --mark 0x10000/0x10000 --jump ACCEPT
        :cali-OUTPUT
        -A cali-OUTPUT -m mark --mark 0x10000/0x10000 --jump ACCEPT
        -A cali-OUTPUT --out-interface cali+ --jump RETURN
        -A cali-OUTPUT -m comment --comment "Allow IPIP packets to other Calico hosts" -p 4 -m set --match-set cali40all-hosts-net dst -m addrtype --src-type LOCAL --jump ACCEPT
        -A cali-OUTPUT --jump MARK --set-mark 0/0x1b0000
        -A cali-OUTPUT -m conntrack ! --ctstate DNAT --jump cali-to-host-endpoint
        -A cali-OUTPUT -m comment --comment "Host endpoint policy accepted packet." -m mark --mark 0x10000/0x10000 --jump ACCEPT
        :cali-failsafe-in
        -A cali-failsafe-in -p tcp -m multiport --destination-ports 22 --jump ACCEPT
        -A cali-failsafe-in -p tcp -m multiport --destination-ports 179 --source 192.0.2.0/24 --jump ACCEPT
        :cali-failsafe-out
        -A cali-failsafe-out -p udp -m multiport --destination-ports 53 --jump ACCEPT
        :cali-from-host-endpoint
        :cali-to-host-endpoint
        :cali-from-hep-forward
        :cali-to-hep-forward
        :cali-cidr-block`),
    );
  });

  it('dispatches each workload interface to its chains, as Calico splits them by prefix', () => {
    // Calico's own case (felix/rules/dispatch_test.go, "interfaces sharing prefix").
    assert.equal(
      chainsText(rules.filter, [
        'cali-from-wl-dispatch',
        'cali-from-wl-dispatch-2',
        'cali-to-wl-dispatch',
        'cali-to-wl-dispatch-2',
      ]),
      text(`
        :cali-from-wl-dispatch
        -A cali-from-wl-dispatch --in-interface cali1234 --goto cali-fw-cali1234
        -A cali-from-wl-dispatch --in-interface cali2+ --goto cali-from-wl-dispatch-2
        -A cali-from-wl-dispatch -m comment --comment "Unknown interface" --jump DROP
        :cali-from-wl-dispatch-2
        -A cali-from-wl-dispatch-2 --in-interface cali2333 --goto cali-fw-cali2333
        -A cali-from-wl-dispatch-2 --in-interface cali2444 --goto cali-fw-cali2444
        -A cali-from-wl-dispatch-2 -m comment --comment "Unknown interface" --jump DROP
        :cali-to-wl-dispatch
        -A cali-to-wl-dispatch --out-interface cali1234 --goto cali-tw-cali1234
        -A cali-to-wl-dispatch --out-interface cali2+ --goto cali-to-wl-dispatch-2
        -A cali-to-wl-dispatch -m comment --comment "Unknown interface" --jump DROP
        :cali-to-wl-dispatch-2
        -A cali-to-wl-dispatch-2 --out-interface cali2333 --goto cali-tw-cali2333
        -A cali-to-wl-dispatch-2 --out-interface cali2444 --goto cali-tw-cali2444
        -A cali-to-wl-dispatch-2 -m comment --comment "Unknown interface" --jump DROP`),
    );
  });

  it('renders each workload endpoint chain: conntrack, marks cleared, encapsulation guards, its profile, drop', () => {
    assert.equal(
      chainsText(rules.filter, ['cali-tw-cali1234', 'cali-fw-cali1234']),
      text(`
        :cali-tw-cali1234
        -A cali-tw-cali1234 -m conntrack --ctstate RELATED,ESTABLISHED --jump ACCEPT
        -A cali-tw-cali1234 -m conntrack --ctstate INVALID --jump DROP
        -A cali-tw-cali1234 --jump MARK --set-mark 0/0x30000
        -A cali-tw-cali1234 --jump cali-pri-kns.default
        -A cali-tw-cali1234 -m comment --comment "Return if profile accepted" -m mark --mark 0x10000/0x10000 --jump RETURN
        -A cali-tw-cali1234 -m comment --comment "Drop if no profiles matched" --jump DROP
        :cali-fw-cali1234
        -A cali-fw-cali1234 -m conntrack --ctstate RELATED,ESTABLISHED --jump ACCEPT
        -A cali-fw-cali1234 -m conntrack --ctstate INVALID --jump DROP
        -A cali-fw-cali1234 --jump MARK --set-mark 0/0x30000
        -A cali-fw-cali1234 -m comment --comment "Drop VXLAN encapped packets originating in workloads" -p 17 -m multiport --destination-ports 4789 --jump DROP
        -A cali-fw-cali1234 -m comment --comment "Drop IPinIP encapped packets originating in workloads" -p 4 --jump DROP
        -A cali-fw-cali1234 --jump cali-pro-kns.default
        -A cali-fw-cali1234 -m comment --comment "Return if profile accepted" -m mark --mark 0x10000/0x10000 --jump RETURN
        -A cali-fw-cali1234 -m comment --comment "Drop if no profiles matched" --jump DROP`),
    );
    const endpointChains = rules.filter.chains.filter((c) => /^cali-[tf]w-/.test(c.name)).map((c) => c.name);
    assert.deepEqual(endpointChains, [
      'cali-tw-cali1234',
      'cali-fw-cali1234',
      'cali-tw-cali2333',
      'cali-fw-cali2333',
      'cali-tw-cali2444',
      'cali-fw-cali2444',
    ]);
  });

  it('renders the raw table: marks cleared, the workload mark, the RPF check, failsafe with replies', () => {
    assert.equal(
      tableText(rules.raw),
      text(`
        -I PREROUTING --jump cali-PREROUTING
        -I OUTPUT --jump cali-OUTPUT
        :cali-failsafe-in
        -A cali-failsafe-in -p tcp -m multiport --destination-ports 22 --jump ACCEPT
        -A cali-failsafe-in -p tcp -m multiport --destination-ports 179 --source 192.0.2.0/24 --jump ACCEPT
        -A cali-failsafe-in -p udp -m multiport --source-ports 53 --jump ACCEPT
        :cali-failsafe-out
        -A cali-failsafe-out -p udp -m multiport --destination-ports 53 --jump ACCEPT
        -A cali-failsafe-out -p tcp -m multiport --source-ports 22 --jump ACCEPT
        -A cali-failsafe-out -p tcp -m multiport --source-ports 179 --destination 192.0.2.0/24 --jump ACCEPT
        :cali-PREROUTING
        -A cali-PREROUTING --jump MARK --set-mark 0/0x1b0000
        -A cali-PREROUTING --in-interface cali+ --jump MARK --set-mark 0x80000/0x80000
        -A cali-PREROUTING -m mark --mark 0x80000/0x80000 --jump cali-rpf-skip
        -A cali-PREROUTING -m mark --mark 0x80000/0x80000 -m rpfilter --invert --validmark --jump DROP
        -A cali-PREROUTING -m mark --mark 0/0x80000 --jump cali-from-host-endpoint
        -A cali-PREROUTING -m mark --mark 0x10000/0x10000 --jump ACCEPT
        :cali-OUTPUT
        -A cali-OUTPUT --jump MARK --set-mark 0/0x1b0000
        -A cali-OUTPUT --jump cali-to-host-endpoint
        -A cali-OUTPUT -m mark --mark 0x10000/0x10000 --jump ACCEPT
        :cali-rpf-skip
        :cali-from-host-endpoint
        :cali-to-host-endpoint`),
    );
  });

  it('renders the nat table: NAT outgoing and the tunnel source fix-up', () => {
    assert.equal(
      tableText(rules.nat),
      text(`
        -I PREROUTING --jump cali-PREROUTING
        -I OUTPUT --jump cali-OUTPUT
        -I POSTROUTING --jump cali-POSTROUTING
        :cali-PREROUTING
        -A cali-PREROUTING --jump cali-fip-dnat
        :cali-POSTROUTING
        -A cali-POSTROUTING --jump cali-fip-snat
        -A cali-POSTROUTING --jump cali-nat-outgoing
        -A cali-POSTROUTING --out-interface tunl0 -m addrtype ! --src-type LOCAL --limit-iface-out -m addrtype --src-type LOCAL --jump MASQUERADE --random-fully
        :cali-OUTPUT
        -A cali-OUTPUT --jump cali-fip-dnat
        :cali-fip-dnat
        :cali-fip-snat
        :cali-nat-outgoing
        -A cali-nat-outgoing -m set --match-set cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst --jump MASQUERADE --random-fully`),
    );
  });

  it('renders the ipsets the rules match on, node addresses without their prefix', () => {
    assert.deepEqual(rules.ipSets, [
      { name: 'cali40all-ipam-pools', type: 'hash:net', members: ['10.65.0.0/16', '10.66.0.0/16'] },
      { name: 'cali40masq-ipam-pools', type: 'hash:net', members: ['10.65.0.0/16'] },
      { name: 'cali40all-hosts-net', type: 'hash:net', members: ['192.0.2.11', '192.0.2.12'] },
    ]);
    assert.deepEqual(rules.warnings, []);
  });

  it('gives the iptables engine only chains and rules it can write, each chain once, jumps within the table', () => {
    const withHosts = renderBaseRules({ ...SMALL_NODE, hostEndpointInterfaces: ['eth0'] });
    for (const [name, table] of Object.entries(withHosts).filter(([k]) => k !== 'ipSets' && k !== 'warnings')) {
      const { chains, insertions } = table as TableRules;
      const names = chains.map((c) => c.name);
      assert.equal(new Set(names).size, names.length);
      for (const c of chains) renderChain(c);
      // iptables-restore refuses a whole table for one jump to a chain it does not have. (Policy and profile
      // chains, cali-p*, come from the policy renderer, which this input leaves out.)
      for (const rule of [...chains.flatMap((c) => c.rules), ...Object.values(insertions).flat()]) {
        const target = (rule.action as { target?: string }).target;
        if (target === undefined || /^cali-p(i|o|ri|ro)-/.test(target)) continue;
        assert.ok(names.includes(target), `${name}: ${target} is not a chain of the table`);
      }
    }
  });

  it('adds the VXLAN rules and set when VXLAN is on, the other nodes only', () => {
    const vxlan = renderBaseRules({ ...SMALL_NODE, ipipEnabled: false, vxlanEnabled: true, vxlanPort: 4790 });
    const input = chainsText(vxlan.filter, ['cali-INPUT']);
    assert.ok(
      input.includes(
        '-A cali-INPUT -m comment --comment "Allow IPv4 VXLAN packets from allowed hosts" -p 17 -m multiport --destination-ports 4790 -m set --match-set cali40all-vxlan-net src -m addrtype --dst-type LOCAL --jump ACCEPT\n' +
          '-A cali-INPUT -m comment --comment "Drop IPv4 VXLAN packets from non-allowed hosts" -p 17 -m multiport --destination-ports 4790 -m addrtype --dst-type LOCAL --jump DROP',
      ),
      input,
    );
    assert.ok(!input.includes('IPIP'));
    assert.ok(tableText(vxlan.raw).includes('-A cali-PREROUTING -p udp --dport 4790 --jump NOTRACK'));
    assert.ok(!tableText(vxlan.nat).includes('tunl0'));
    assert.deepEqual(
      vxlan.ipSets.map((set) => [set.name, [...set.members]]),
      [
        ['cali40all-ipam-pools', ['10.65.0.0/16', '10.66.0.0/16']],
        ['cali40masq-ipam-pools', ['10.65.0.0/16']],
        ['cali40all-vxlan-net', ['192.0.2.12']],
      ],
    );
  });
});

/**
 * The filter, nat and raw rules of a Calico node (felix/fv/cali-iptables-dump.txt in the Calico repository, v3.30
 * era). Calico's test data lacks the rules that match on ipsets (its test loads the dump where those sets do not
 * exist), but every rule still has the hash it had in its chain.
 */
const CALICO_DUMP = `
*raw
-A PREROUTING -m comment --comment "cali:6gwbT8clXdHdC1b1" -j cali-PREROUTING
-A OUTPUT -m comment --comment "cali:tVnHkvAo15HuiPy0" -j cali-OUTPUT
-A cali-OUTPUT -m comment --comment "cali:clI8WObfCl4yhr60" -j MARK --set-xmark 0x0/0x1b0000
-A cali-OUTPUT -m comment --comment "cali:ZbkN6P8OdRcBRPpU" -j cali-to-host-endpoint
-A cali-OUTPUT -p udp -m comment --comment "cali:ry5_UEpt1OaPPCxO" -m udp --dport 4789 -j NOTRACK
-A cali-OUTPUT -m comment --comment "cali:MGhICIksKDnYMIkW" -m mark --mark 0x10000/0x10000 -j ACCEPT
-A cali-PREROUTING -m comment --comment "cali:DQ6LK2guiBRMyrLK" -j MARK --set-xmark 0x0/0x1b0000
-A cali-PREROUTING -p udp -m comment --comment "cali:sIsu2aAqNN6K3YYn" -m udp --dport 4789 -j NOTRACK
-A cali-PREROUTING -i cali+ -m comment --comment "cali:W0qKAga6QivxLxL1" -j MARK --set-xmark 0x80000/0x80000
-A cali-PREROUTING -m comment --comment "cali:QOYCZUivPyJL6Dp1" -m mark --mark 0x80000/0x80000 -j cali-rpf-skip
-A cali-PREROUTING -m comment --comment "cali:uvipz_NmQPrGYnTB" -m mark --mark 0x80000/0x80000 -m rpfilter --validmark --invert -j DROP
-A cali-PREROUTING -m comment --comment "cali:pj4jqF0K2OCNLmzX" -m mark --mark 0x0/0x80000 -j cali-from-host-endpoint
-A cali-PREROUTING -m comment --comment "cali:Jefg6QI5khJcHnVl" -m mark --mark 0x10000/0x10000 -j ACCEPT
COMMIT
*nat
-A PREROUTING -m comment --comment "cali:6gwbT8clXdHdC1b1" -j cali-PREROUTING
-A OUTPUT -m comment --comment "cali:tVnHkvAo15HuiPy0" -j cali-OUTPUT
-A POSTROUTING -m comment --comment "cali:0i8pjzKKPyA34aQD" -j cali-POSTROUTING
-A cali-OUTPUT -m comment --comment "cali:GBTAv2p5CwevEyJm" -j cali-fip-dnat
-A cali-POSTROUTING -m comment --comment "cali:Z-c7XtVd2Bq7s_hA" -j cali-fip-snat
-A cali-POSTROUTING -m comment --comment "cali:nYKhEzDlr11Jccal" -j cali-nat-outgoing
-A cali-POSTROUTING -o vxlan.calico -m comment --comment "cali:e9dnSgSVNmIcpVhP" -m addrtype ! --src-type LOCAL --limit-iface-out -m addrtype --src-type LOCAL -j MASQUERADE --random-fully
-A cali-PREROUTING -m comment --comment "cali:r6XmIziWUJsdOK6Z" -j cali-fip-dnat
COMMIT
*filter
-A INPUT -m comment --comment "cali:Cz_u1IQiXIMmKD4c" -j cali-INPUT
-A FORWARD -m comment --comment "cali:wUHhoiAYhphO9Mso" -j cali-FORWARD
-A FORWARD -m comment --comment "cali:S93hcgKJrXEqnTfs" -m comment --comment "Policy explicitly accepted packet." -m mark --mark 0x10000/0x10000 -j ACCEPT
-A FORWARD -m comment --comment "cali:mp77cMpurHhyjLrM" -j MARK --set-xmark 0x10000/0x10000
-A OUTPUT -m comment --comment "cali:tVnHkvAo15HuiPy0" -j cali-OUTPUT
-A cali-FORWARD -m comment --comment "cali:W_vvds1Nw3n9QE2f" -j MARK --set-xmark 0x0/0x1a0000
-A cali-FORWARD -m comment --comment "cali:ZfgmjuiLaA8Pg0kp" -m mark --mark 0x0/0x10000 -j cali-from-hep-forward
-A cali-FORWARD -i cali+ -m comment --comment "cali:tAzwBLPaV-j53OOZ" -j cali-from-wl-dispatch
-A cali-FORWARD -o cali+ -m comment --comment "cali:4Z0Pf0byo05NFe-P" -j cali-to-wl-dispatch
-A cali-FORWARD -m comment --comment "cali:hQ7Oc16wmUtLuneJ" -j cali-to-hep-forward
-A cali-FORWARD -m comment --comment "cali:rnKNH2WxGcRQcIlD" -j cali-cidr-block
-A cali-INPUT -p udp -m comment --comment "cali:EDCNTTxYfggApx8C" -m comment --comment "Drop IPv4 VXLAN packets from non-allowed hosts" -m multiport --dports 4789 -m addrtype --dst-type LOCAL -j DROP
-A cali-INPUT -i cali+ -m comment --comment "cali:H03xYXARh4e8pwd4" -g cali-wl-to-host
-A cali-INPUT -m comment --comment "cali:MN6K3isIWBigb1Va" -m mark --mark 0x10000/0x10000 -j ACCEPT
-A cali-INPUT -m comment --comment "cali:aKDQAoV0P_FFAIwV" -j MARK --set-xmark 0x0/0x1b0000
-A cali-INPUT -m comment --comment "cali:vIx3xkWzuvLW9fr4" -j cali-from-host-endpoint
-A cali-INPUT -m comment --comment "cali:5W9XghKma9wuz47x" -m comment --comment "Host endpoint policy accepted packet." -m mark --mark 0x10000/0x10000 -j ACCEPT
-A cali-OUTPUT -m comment --comment "cali:Mq1_rAdXXH3YkrzW" -m mark --mark 0x10000/0x10000 -j ACCEPT
-A cali-OUTPUT -o cali+ -m comment --comment "cali:69FkRTJDvD5Vu6Vl" -j RETURN
-A cali-OUTPUT -m comment --comment "cali:6T0hFtymUtXMOfEV" -j MARK --set-xmark 0x0/0x1b0000
-A cali-OUTPUT -m comment --comment "cali:IpTGXsDHURPUaLjJ" -m conntrack ! --ctstate DNAT -j cali-to-host-endpoint
-A cali-OUTPUT -m comment --comment "cali:wgnULo2gucg1umsA" -m comment --comment "Host endpoint policy accepted packet." -m mark --mark 0x10000/0x10000 -j ACCEPT
-A cali-from-wl-dispatch -m comment --comment "cali:zTj6P0TIgYvgz-md" -m comment --comment "Unknown interface" -j DROP
-A cali-to-wl-dispatch -m comment --comment "cali:7KNphB1nNHw80nIO" -m comment --comment "Unknown interface" -j DROP
-A cali-wl-to-host -m comment --comment "cali:Ee9Sbo10IpVujdIY" -j cali-from-wl-dispatch
-A cali-wl-to-host -m comment --comment "cali:nSZbcOoG1xPONxb8" -m comment --comment "Configured DefaultEndpointToHostAction" -j ACCEPT
COMMIT
`;

type TableName = 'filter' | 'nat' | 'raw';

/** Calico's hashes per chain of one table of the dump. */
function calicoHashes(table: TableName): Map<string, string[]> {
  const section = CALICO_DUMP.split(`*${table}\n`)[1]!.split('COMMIT')[0]!;
  const parsed = parseIptablesSave(`*${table}\n${section}COMMIT\n`, table, {
    hashPrefix: 'cali:',
    isOurChain: (name) => name.startsWith('cali-'),
  });
  return new Map([...parsed.chains].map(([name, c]) => [name, c.hashes.filter((h): h is string => h !== null)]));
}

/** Our rules per chain (hooks under the kernel chain's name), with their hashes. */
function ourRules(table: TableRules): Map<string, { rule: Rule; hash: string }[]> {
  const chains = [...table.chains, ...Object.entries(table.insertions).map(([name, rules]) => ({ name, rules }))];
  return new Map(
    chains.map((c) => {
      const hashes = ruleHashes(c.name, c.rules);
      return [c.name, c.rules.map((rule, i) => ({ rule, hash: hashes[i]! }))];
    }),
  );
}

describe("renderBaseRules against a Calico node's rules (felix/fv/cali-iptables-dump.txt)", () => {
  const rules = renderBaseRules(CALICO_FV_NODE);

  for (const table of ['filter', 'nat', 'raw'] as const) {
    it(`renders every rule of Calico's ${table} table with Calico's hash, apart from the documented differences`, () => {
      const ours = ourRules(rules[table]);
      for (const [chainName, calico] of calicoHashes(table)) {
        const rendered = ours.get(chainName) ?? [];
        const renderedHashes = rendered.map((r) => r.hash);
        // Calico appends these to FORWARD and POSTROUTING, the iptables engine only inserts (see static.ts, render.ts).
        const appended = { FORWARD: 2, POSTROUTING: 1 }[chainName] ?? 0;
        if (appended > 0) {
          assert.deepEqual(renderedHashes.slice(0, calico.length - appended), calico.slice(0, -appended), chainName);
          continue;
        }
        // Ours, in order, less the rules the dump lacks: those matching on ipsets, and the accept ending cali-FORWARD.
        const kept = rendered.filter(
          (r) =>
            !renderRuleBody(r.rule).includes('--match-set') &&
            r.rule.comment?.[0] !== 'Policy explicitly accepted packet.',
        );
        assert.deepEqual(
          kept.map((r) => r.hash),
          calico,
          `${table} ${chainName}:\n${rendered.map((r) => `${r.hash} ${renderRuleBody(r.rule)}`).join('\n')}`,
        );
      }
    });
  }

  it('has every chain of the dump, and no hook Calico does not have', () => {
    for (const table of ['filter', 'nat', 'raw'] as const) {
      const names = new Set(rules[table].chains.map((c) => c.name));
      for (const chainName of calicoHashes(table).keys()) {
        if (chainName.startsWith('cali-')) assert.ok(names.has(chainName), `${table} ${chainName}`);
        else assert.ok(chainName in rules[table].insertions, `${table} ${chainName}`);
      }
    }
  });
});

describe('NAT outgoing', () => {
  const natOutgoing = (input: Partial<BaseRulesInput>) =>
    chain(renderBaseRules({ ...SMALL_NODE, ...input }).nat, 'cali-nat-outgoing').rules.map(renderRuleBody);

  it("is DESIGN §2's rule exactly (iptables-save writes --jump as -j), with --random-fully by default", () => {
    const design =
      '-m set --match-set cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst -j MASQUERADE';
    assert.deepEqual(
      natOutgoing({ randomFully: false }).map((body) => body.replace('--jump', '-j')),
      [design],
    );
    assert.deepEqual(
      natOutgoing({}).map((body) => body.replace('--jump', '-j')),
      [`${design} --random-fully`],
    );
  });

  it('SNATs to natOutgoingAddress when it is set', () => {
    assert.deepEqual(natOutgoing({ natOutgoingAddress: '203.0.113.7' }), [
      '-m set --match-set cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst --jump SNAT --to-source 203.0.113.7 --random-fully',
    ]);
    assert.deepEqual(natOutgoing({ natOutgoingAddress: '203.0.113.7', randomFully: false }), [
      '-m set --match-set cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst --jump SNAT --to-source 203.0.113.7',
    ]);
  });

  it('is empty without a natOutgoing pool, and the pool sets are still there', () => {
    const rules = renderBaseRules({ ...SMALL_NODE, natPools: [] });
    assert.deepEqual(chain(rules.nat, 'cali-nat-outgoing').rules, []);
    assert.deepEqual(
      rules.ipSets.slice(0, 2).map((set) => [set.name, [...set.members]]),
      [
        ['cali40all-ipam-pools', ['10.65.0.0/16', '10.66.0.0/16']],
        ['cali40masq-ipam-pools', []],
      ],
    );
  });

  it('masquerades, with a warning, when natOutgoingAddress is not an IPv4 address', () => {
    const rules = renderBaseRules({ ...SMALL_NODE, natOutgoingAddress: '1.2.3.4 -j ACCEPT' });
    assert.match(renderRuleBody(chain(rules.nat, 'cali-nat-outgoing').rules[0]!), /--jump MASQUERADE --random-fully$/);
    assert.deepEqual(rules.warnings, [
      'natOutgoingAddress "1.2.3.4 -j ACCEPT" is not an IPv4 address: masquerading instead',
    ]);
  });
});

describe('defaultEndpointToHostAction', () => {
  for (const [action, target] of [
    ['Drop', 'DROP'],
    ['Accept', 'ACCEPT'],
    ['Return', 'RETURN'],
  ] as const) {
    it(`${action}: cali-wl-to-host ends with ${target} once the workload's egress policy allowed the packet`, () => {
      const rules = renderBaseRules({ ...SMALL_NODE, defaultEndpointToHostAction: action });
      assert.deepEqual(chain(rules.filter, 'cali-wl-to-host').rules.map(renderRuleBody), [
        '--jump cali-from-wl-dispatch',
        `-m comment --comment "Configured DefaultEndpointToHostAction" --jump ${target}`,
      ]);
    });
  }

  it('hashes as on a Calico node (Accept)', () => {
    const rules = renderBaseRules({ ...SMALL_NODE, defaultEndpointToHostAction: 'Accept' });
    assert.deepEqual(ruleHashes('cali-wl-to-host', chain(rules.filter, 'cali-wl-to-host').rules), [
      'Ee9Sbo10IpVujdIY',
      'nSZbcOoG1xPONxb8',
    ]);
  });
});

describe('the endpoint policy hook', () => {
  const marker = (iface: string, direction: PolicyDirection): Rule => ({
    match: '',
    action: Actions.jump(`cali-p${direction === 'ingress' ? 'i' : 'o'}-${iface}`),
  });

  it('places the policy rules after the prologue and the guards, before the final drop, per interface and direction', () => {
    const calls: string[] = [];
    const rules = renderBaseRules({
      ...SMALL_NODE,
      endpointPolicy: (iface, direction) => {
        calls.push(`${iface} ${direction}`);
        return [marker(iface, direction), { match: '-m mark --mark 0x10000/0x10000', action: Actions.return() }];
      },
    });
    assert.deepEqual(chain(rules.filter, 'cali-tw-cali2333').rules.map(renderRuleBody), [
      '-m conntrack --ctstate RELATED,ESTABLISHED --jump ACCEPT',
      '-m conntrack --ctstate INVALID --jump DROP',
      '--jump MARK --set-mark 0/0x30000',
      '--jump cali-pi-cali2333',
      '-m mark --mark 0x10000/0x10000 --jump RETURN',
      '-m comment --comment "Drop if no profiles matched" --jump DROP',
    ]);
    assert.deepEqual(chain(rules.filter, 'cali-fw-cali2333').rules.map(renderRuleBody).slice(3), [
      '-m comment --comment "Drop VXLAN encapped packets originating in workloads" -p 17 -m multiport --destination-ports 4789 --jump DROP',
      '-m comment --comment "Drop IPinIP encapped packets originating in workloads" -p 4 --jump DROP',
      '--jump cali-po-cali2333',
      '-m mark --mark 0x10000/0x10000 --jump RETURN',
      '-m comment --comment "Drop if no profiles matched" --jump DROP',
    ]);
    assert.deepEqual(calls.sort(), [
      'cali1234 egress',
      'cali1234 ingress',
      'cali2333 egress',
      'cali2333 ingress',
      'cali2444 egress',
      'cali2444 ingress',
    ]);
  });

  it('an endpoint its hook gives no rules is denied everything', () => {
    const rules = renderBaseRules({
      ...SMALL_NODE,
      endpointPolicy: (iface, direction) =>
        iface === 'cali1234' && direction === 'ingress' ? [] : namespaceProfileOnly(iface, direction),
    });
    const tw = chain(rules.filter, 'cali-tw-cali1234').rules;
    assert.deepEqual(tw.slice(3).map(renderRuleBody), [
      '-m comment --comment "Drop if no profiles matched" --jump DROP',
    ]);
    const fw = chain(rules.filter, 'cali-fw-cali1234').rules;
    assert.deepEqual(fw.slice(5, -1), namespaceProfileOnly('cali1234', 'egress'));
  });
});

describe('host endpoints (Calico HostEndpointToFilterChains, hostDispatchChains)', () => {
  const gnp = (name: string) => ({ kind: 'GlobalNetworkPolicy' as const, name, order: 10 });
  const tier = (...names: string[]) => [
    { name: 'default', order: 1_000_000, defaultAction: 'Deny' as const, policies: names.map(gnp) },
  ];
  const rules = renderBaseRules({
    ...SMALL_NODE,
    hostEndpointInterfaces: ['eth1', 'eth0'],
    hostEndpointPolicy: (iface, direction, kind) => {
      if (iface !== 'eth0') return [];
      const name =
        { normal: 'a', forward: 'af', untracked: 'au', preDnat: 'ap' }[kind] + (direction === 'ingress' ? 'i' : 'e');
      return endpointPolicyRules(direction, {
        tiers: tier(name),
        profiles: kind === 'normal' ? ['prof1'] : [],
        untracked: kind === 'untracked',
        endOfTierDrop: kind === 'normal' || kind === 'forward',
      });
    },
  });
  const bodies = (name: string) => chain(rules.filter, name).rules.map(renderRuleBody);

  it('dispatches to and from each host endpoint interface, for the host and for forwarded traffic, and returns the rest', () => {
    assert.deepEqual(bodies('cali-from-host-endpoint'), [
      '--in-interface eth0 --goto cali-fh-eth0',
      '--in-interface eth1 --goto cali-fh-eth1',
    ]);
    assert.deepEqual(bodies('cali-to-host-endpoint'), [
      '--out-interface eth0 --goto cali-th-eth0',
      '--out-interface eth1 --goto cali-th-eth1',
    ]);
    assert.deepEqual(bodies('cali-from-hep-forward'), [
      '--in-interface eth0 --goto cali-fhfw-eth0',
      '--in-interface eth1 --goto cali-fhfw-eth1',
    ]);
    assert.deepEqual(bodies('cali-to-hep-forward'), [
      '--out-interface eth0 --goto cali-thfw-eth0',
      '--out-interface eth1 --goto cali-thfw-eth1',
    ]);
    const none = renderBaseRules(SMALL_NODE);
    for (const name of [
      'cali-from-host-endpoint',
      'cali-to-host-endpoint',
      'cali-from-hep-forward',
      'cali-to-hep-forward',
    ]) {
      assert.deepEqual(chain(none.filter, name).rules, [], `${name} empty without host endpoints`);
    }
  });

  it('renders the failsafe chain before any policy, the policies, the profiles, then the drop', () => {
    assert.deepEqual(bodies('cali-fh-eth0'), [
      '-m conntrack --ctstate RELATED,ESTABLISHED --jump ACCEPT',
      '-m conntrack --ctstate INVALID --jump DROP',
      '--jump cali-failsafe-in',
      '--jump MARK --set-mark 0/0x30000',
      '-m comment --comment "Start of tier default" --jump MARK --set-mark 0/0x20000',
      '-m mark --mark 0/0x20000 --jump cali-pi-gnp/ai',
      '-m comment --comment "Return if policy accepted" -m mark --mark 0x10000/0x10000 --jump RETURN',
      '-m comment --comment "End of tier default. Drop if no policies passed packet" -m mark --mark 0/0x20000 --jump DROP',
      '--jump cali-pri-prof1',
      '-m comment --comment "Return if profile accepted" -m mark --mark 0x10000/0x10000 --jump RETURN',
      '-m comment --comment "Drop if no profiles matched" --jump DROP',
    ]);
    assert.deepEqual(bodies('cali-th-eth0').slice(2, 6), [
      '--jump cali-failsafe-out',
      '--jump MARK --set-mark 0/0x30000',
      '-m comment --comment "Start of tier default" --jump MARK --set-mark 0/0x20000',
      '-m mark --mark 0/0x20000 --jump cali-po-gnp/ae',
    ]);
  });

  it('renders doNotTrack policy in the raw table: no conntrack, failsafe first, NOTRACK on accept, no drop at all', () => {
    const raw = (name: string) => chain(rules.raw, name).rules.map(renderRuleBody);
    assert.deepEqual(raw('cali-fh-eth0'), [
      '--jump cali-failsafe-in',
      '--jump MARK --set-mark 0/0x30000',
      '-m comment --comment "Start of tier default" --jump MARK --set-mark 0/0x20000',
      '-m mark --mark 0/0x20000 --jump cali-pi-gnp/aui',
      '-m mark --mark 0x10000/0x10000 --jump NOTRACK',
      '-m comment --comment "Return if policy accepted" -m mark --mark 0x10000/0x10000 --jump RETURN',
    ]);
    assert.deepEqual(raw('cali-from-host-endpoint'), [
      '--in-interface eth0 --goto cali-fh-eth0',
      '--in-interface eth1 --goto cali-fh-eth1',
    ]);
    assert.deepEqual(raw('cali-th-eth1'), ['--jump cali-failsafe-out', '--jump MARK --set-mark 0/0x30000']);
    assert.ok(!rules.raw.chains.some((c) => c.name === 'cali-from-hep-forward'), 'no forward dispatch in raw');
  });

  it('renders preDNAT policy in the mangle table: conntrack, failsafe, the policy, no drop; hooked at PREROUTING', () => {
    const mangle = (name: string) => chain(rules.mangle, name).rules.map(renderRuleBody);
    assert.deepEqual(mangle('cali-PREROUTING'), [
      '-m conntrack --ctstate RELATED,ESTABLISHED --jump ACCEPT',
      '-m mark --mark 0x10000/0x10000 --jump ACCEPT',
      '--jump cali-from-host-endpoint',
      '-m comment --comment "Host endpoint policy accepted packet." -m mark --mark 0x10000/0x10000 --jump ACCEPT',
    ]);
    assert.deepEqual(mangle('cali-from-host-endpoint'), [
      '--in-interface eth0 --goto cali-fh-eth0',
      '--in-interface eth1 --goto cali-fh-eth1',
    ]);
    assert.deepEqual(mangle('cali-fh-eth0').slice(2, 6), [
      '--jump cali-failsafe-in',
      '--jump MARK --set-mark 0/0x30000',
      '-m comment --comment "Start of tier default" --jump MARK --set-mark 0/0x20000',
      '-m mark --mark 0/0x20000 --jump cali-pi-gnp/api',
    ]);
    assert.equal(
      mangle('cali-fh-eth0').at(-1),
      '-m comment --comment "Return if policy accepted" -m mark --mark 0x10000/0x10000 --jump RETURN',
    );
    assert.ok(!rules.mangle.chains.some((c) => c.name === 'cali-th-eth0'), 'ingress only');
    assert.deepEqual(Object.keys(rules.mangle.insertions), ['PREROUTING']);
  });

  it('applies only applyOnForward policy to forwarded traffic, no profile, and allows it when there is none', () => {
    assert.deepEqual(bodies('cali-fhfw-eth0'), [
      '-m conntrack --ctstate RELATED,ESTABLISHED --jump ACCEPT',
      '-m conntrack --ctstate INVALID --jump DROP',
      '--jump MARK --set-mark 0/0x30000',
      '-m comment --comment "Start of tier default" --jump MARK --set-mark 0/0x20000',
      '-m mark --mark 0/0x20000 --jump cali-pi-gnp/afi',
      '-m comment --comment "Return if policy accepted" -m mark --mark 0x10000/0x10000 --jump RETURN',
      '-m comment --comment "End of tier default. Drop if no policies passed packet" -m mark --mark 0/0x20000 --jump DROP',
    ]);
    assert.deepEqual(bodies('cali-thfw-eth1').slice(3), [
      '-m comment --comment "Allow forwarded traffic by default" --jump MARK --set-mark 0x10000/0x10000',
      '-m comment --comment "Return for accepted forward traffic" --jump RETURN',
    ]);
    // No policy and no profile for the host itself: only the failsafe ports get through.
    assert.deepEqual(bodies('cali-fh-eth1').slice(2), [
      '--jump cali-failsafe-in',
      '--jump MARK --set-mark 0/0x30000',
      '-m comment --comment "Drop if no profiles matched" --jump DROP',
    ]);
  });
});

/** Where a packet on `iface` ends up: the chain a goto leads to outside the tree, or 'DROP'. */
function dispatch(chains: Map<string, Chain>, root: string, iface: string): string {
  let current = chains.get(root)!;
  for (let depth = 0; depth < 10; depth++) {
    const rule = current.rules.find((r) => {
      const pattern = /^--in-interface (\S+)$/.exec(r.match)?.[1];
      if (pattern === undefined) return r.match === '';
      return pattern.endsWith('+') ? iface.startsWith(pattern.slice(0, -1)) : iface === pattern;
    });
    assert.ok(rule, `${iface} fell off the end of ${current.name}`);
    if (rule.action.kind === 'drop') return 'DROP';
    assert.equal(rule.action.kind, 'goto');
    const target = (rule.action as { target: string }).target;
    const next = chains.get(target);
    if (next === undefined || !target.startsWith(root)) return target;
    current = next;
  }
  assert.fail(`${iface}: dispatch tree deeper than 10`);
}

describe('the dispatch tree', () => {
  /** Interface names as the CNI plugin makes them: `cali` + 11 hex characters of a SHA-1. */
  const calicoNames = (count: number) =>
    Array.from(
      { length: count },
      (_, i) => `cali${createHash('sha1').update(`ns.pod-${i}`).digest('hex').slice(0, 11)}`,
    );

  function dispatchChains(rules: BaseRules, root: string): Map<string, Chain> {
    return new Map(rules.filter.chains.filter((c) => c.name.startsWith(root)).map((c) => [c.name, c]));
  }

  it('takes each of 5,000 interfaces to its own chain through chains of at most a few dozen rules', () => {
    const names = calicoNames(5000);
    const rules = renderBaseRules({ ...SMALL_NODE, workloadInterfaces: names });
    const from = dispatchChains(rules, 'cali-from-wl-dispatch');
    for (const iface of names) assert.equal(dispatch(from, 'cali-from-wl-dispatch', iface), `cali-fw-${iface}`);
    assert.equal(dispatch(from, 'cali-from-wl-dispatch', 'cali0123456789a'), 'DROP');
    assert.equal(dispatch(from, 'cali-from-wl-dispatch', 'eth0'), 'DROP');
    const longest = Math.max(...[...from.values()].map((c) => c.rules.length));
    assert.ok(longest <= MAX_LINEAR_DISPATCH + 1, `a dispatch chain of ${longest} rules`);
    // The root splits on the first hex character, each child once more.
    assert.equal(from.get('cali-from-wl-dispatch')!.rules.length, 17);
    assert.ok(from.has('cali-from-wl-dispatch-a') && from.has('cali-from-wl-dispatch-a0'));
    for (const name of from.keys()) assert.ok(name.length <= MAX_CHAIN_NAME_LENGTH, name);
    // The to-workload tree has the same shape, on the outgoing interface.
    const to = dispatchChains(rules, 'cali-to-wl-dispatch');
    assert.equal(to.size, from.size);
    assert.ok(
      [...to.values()].every((c) => c.rules.every((r) => r.match === '' || r.match.startsWith('--out-interface '))),
    );
    const every = rules.filter.chains.map((c) => c.name);
    assert.equal(new Set(every).size, every.length);
  });

  it('lists up to MAX_LINEAR_DISPATCH names of a prefix in one child, as Calico does', () => {
    const names = Array.from({ length: MAX_LINEAR_DISPATCH }, (_, i) => `calia${i.toString(16).padStart(4, '0')}`);
    const rules = renderBaseRules({ ...SMALL_NODE, workloadInterfaces: [...names, 'calib0000'] });
    const from = dispatchChains(rules, 'cali-from-wl-dispatch');
    assert.deepEqual([...from.keys()].sort(), ['cali-from-wl-dispatch', 'cali-from-wl-dispatch-a']);
    assert.equal(from.get('cali-from-wl-dispatch-a')!.rules.length, MAX_LINEAR_DISPATCH + 1);
  });

  it('stops splitting where child chain names would grow too long', () => {
    // 40 names sharing 13 characters: their children would be `cali-from-wl-dispatch-` + 10 characters.
    const names = Array.from({ length: 40 }, (_, i) => `cali012345678${i.toString(16).padStart(2, '0')}`);
    const rules = renderBaseRules({ ...SMALL_NODE, workloadInterfaces: [...names, 'calix'] });
    const from = dispatchChains(rules, 'cali-from-wl-dispatch');
    for (const iface of names) assert.equal(dispatch(from, 'cali-from-wl-dispatch', iface), `cali-fw-${iface}`);
    assert.equal(from.get('cali-from-wl-dispatch-0')!.rules.length, 41);
    for (const c of from.values()) renderChain(c);
  });
});

describe('endpointChainName (Calico GetLengthLimitedID)', () => {
  it('is prefix + interface name while that fits in 28 characters', () => {
    assert.equal(endpointChainName('cali-fw-', 'cali0123456789a'), 'cali-fw-cali0123456789a');
  });

  it("hashes longer names (Calico's own test values: sha256 of the name, base64url, cut to fit)", () => {
    // GetLengthLimitedID("felix", "12345678910", 13) == "felix_Y2QCZIS"; ("felix", "_2345", 10) == "felix_kMQI".
    assert.equal(endpointChainName('cali-from-wl-dispatch', '12345678910'), 'cali-from-wl-dispatch_Y2QCZI');
    assert.equal(endpointChainName('cali-to-wl-dispatch-abc', '_2345'), 'cali-to-wl-dispatch-abc_kMQI');
  });
});

describe('input that cannot be rendered safely', () => {
  it('is left out with a warning, the rest rendered', () => {
    const rules = renderBaseRules({
      ...SMALL_NODE,
      workloadInterfaces: ['cali1234', 'cali1 -j ACCEPT', 'cali+', 'cali1234', 'calithisnameistoolong'],
      interfacePrefix: 'cali, tap ,bad prefix',
      failsafeInbound: [
        { protocol: 'tcp', port: 22, net: 'not-a-cidr' },
        { protocol: 'tcp', port: 70000 },
        { protocol: 'tcp', port: 6443, net: '2001:db8::/64' },
      ],
      hostAddresses: ['192.0.2.11', 'node-b'],
      allPools: ['10.65.0.0/16', '0.0.0.0/0'],
    });
    assert.deepEqual(rules.warnings, [
      'interface prefix "bad prefix" left out: not the start of a valid interface name',
      'workload interface "cali1 -j ACCEPT" left out: not a valid interface name',
      'workload interface "cali+" left out: not a valid interface name',
      'workload interface "cali1234" belongs to more than one endpoint',
      'workload interface "calithisnameistoolong" left out: not a valid interface name',
      'failsafeInbound tcp:22 left out: net "not-a-cidr" is not a CIDR',
      'failsafeInbound tcp:70000 left out: not a port',
      'node address "node-b" left out: not an IPv4 address',
      'allPools "0.0.0.0/0" left out: bad hash:net ipset member "0.0.0.0/0": a hash:net set cannot hold /0: use 0.0.0.0/1 and 128.0.0.0/1',
    ]);
    assert.deepEqual(
      rules.filter.chains.filter((c) => /^cali-[tf]w-/.test(c.name)).map((c) => c.name),
      ['cali-tw-cali1234', 'cali-fw-cali1234'],
    );
    assert.deepEqual(chain(rules.filter, 'cali-failsafe-in').rules, []);
    // Both prefixes are dispatched.
    assert.deepEqual(
      chain(rules.filter, 'cali-FORWARD')
        .rules.map(renderRuleBody)
        .filter((body) => body.includes('interface')),
      [
        '--in-interface cali+ --jump cali-from-wl-dispatch',
        '--out-interface cali+ --jump cali-to-wl-dispatch',
        '--in-interface tap+ --jump cali-from-wl-dispatch',
        '--out-interface tap+ --jump cali-to-wl-dispatch',
      ],
    );
  });

  it('falls back to the cali prefix when none is valid', () => {
    const rules = renderBaseRules({ ...SMALL_NODE, interfacePrefix: '' });
    assert.deepEqual(rules.warnings, [
      'interface prefix "" left out: not the start of a valid interface name',
      'no valid interface prefix in "": using "cali"',
    ]);
    assert.ok(chain(rules.filter, 'cali-INPUT').rules.some((r) => r.match === '--in-interface cali+'));
  });
});
