// Policy and profile chains (felix/rules/policy): the cases of Calico's felix/rules/policy_test.go (v3.32.0) with
// tabby's mark bits (accept 0x10000, pass 0x20000, drop 0x40000, scratch 0x80000 and 0x100000) in place of the
// test's, flow logs off. Rules are compared as Calico's test renders them: `-A test` and the rule without its hash.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Chain, type Rule, renderRuleBody } from '../../felix/iptables';
import {
  type PolicyRenderOptions,
  policyChainName,
  policyChains,
  profileChainName,
  profileChains,
  protoRuleToRules,
  type RuleOwner,
  splitPortList,
} from '../../felix/rules/policy';
import { emptyRule, type PortRange, type ProtoRule } from '../../policy/rule';

const FOO: RuleOwner = { kindShortName: 'gnp', namespace: '', name: 'default.foo', tier: 'default' };

function rule(fields: Partial<ProtoRule>): ProtoRule {
  return { ...emptyRule('allow'), ...fields };
}

function line(r: Rule): string {
  const body = renderRuleBody(r);
  return body === '' ? '-A test' : `-A test ${body}`;
}

function render(protoRule: ProtoRule, options?: PolicyRenderOptions): string[] {
  return protoRuleToRules(protoRule, FOO, options).map(line);
}

function chainLines(chain: Chain): string[] {
  return chain.rules.map(line);
}

const TCP = { name: 'tcp' };
const UDP = { name: 'udp' };
const range = (first: number, last: number): PortRange => ({ first, last });
/** Eight ranges: 16 multiport slots, one more than a match holds. */
const EIGHT_RANGES = [
  range(1, 2),
  range(3, 4),
  range(5, 6),
  range(7, 8),
  range(9, 10),
  range(11, 12),
  range(13, 14),
  range(15, 16),
];
const FIRST_SEVEN = '1:2,3:4,5:6,7:8,9:10,11:12,13:14';

const CLEAR_BOTH_MARKS = '-A test --jump MARK --set-mark 0x0/0x180000';
const PRESET_ALL_BLOCKS_MARK = '-A test --jump MARK --set-mark 0x80000/0x180000';
const ALLOW_IF_ALL_MARK = '-A test -m mark --mark 0x80000/0x80000 --jump MARK --set-mark 0x10000/0x10000';
const ALLOW_IF_ALL_MARK_AND_TCP =
  '-A test -p tcp -m mark --mark 0x80000/0x80000 --jump MARK --set-mark 0x10000/0x10000';
const ALLOW_IF_ALL_MARK_AND_UDP =
  '-A test -p udp -m mark --mark 0x80000/0x80000 --jump MARK --set-mark 0x10000/0x10000';
const RETURN_IF_ACCEPTED = '-A test -m mark --mark 0x10000/0x10000 --jump RETURN';
/** Ends every positive block after the first: all blocks pass only if this one did. */
const ALL_BLOCKS_AND_THIS_BLOCK = '-A test -m mark --mark 0/0x100000 --jump MARK --set-mark 0/0x80000';

/** Calico's ruleTestData (its IPv4 entries): one ProtoRule each and the match it renders to. */
const MATCH_CASES: [string, Partial<ProtoRule>, string][] = [
  ['empty rule', {}, ''],
  ['protocol name', { protocol: TCP }, '-p tcp'],
  ['protocol number', { protocol: { number: 8 } }, '-p 8'],
  ['source net', { srcNet: ['10.0.0.0/16'] }, '--source 10.0.0.0/16'],
  ['source IP set', { srcIpSetIds: ['ipsetid1'] }, '-m set --match-set cali40ipsetid1 src'],
  [
    'source IP sets',
    { srcIpSetIds: ['ipsetid1', 'ipsetid2'] },
    '-m set --match-set cali40ipsetid1 src -m set --match-set cali40ipsetid2 src',
  ],
  ['source ports', { srcPorts: [range(10, 12)] }, '-m multiport --source-ports 10:12'],
  [
    'source ports (multiple)',
    { srcPorts: [range(10, 12), range(20, 30), range(8080, 8080)] },
    '-m multiport --source-ports 10:12,20:30,8080',
  ],
  ['ICMP', { icmp: { type: 10 } }, '-m icmp --icmp-type 10'],
  ['ICMP with code', { icmp: { type: 10, code: 12 } }, '-m icmp --icmp-type 10/12'],
  ['dest net', { dstNet: ['10.0.0.0/16'] }, '--destination 10.0.0.0/16'],
  ['dest IP set', { dstIpSetIds: ['ipsetid1'] }, '-m set --match-set cali40ipsetid1 dst'],
  [
    'dest IP sets',
    { dstIpSetIds: ['ipsetid1', 'ipsetid2'] },
    '-m set --match-set cali40ipsetid1 dst -m set --match-set cali40ipsetid2 dst',
  ],
  ['dest ports', { dstPorts: [range(10, 12)] }, '-m multiport --destination-ports 10:12'],
  [
    'dest ports (multiple)',
    { dstPorts: [range(10, 12), range(20, 30), range(8080, 8080)] },
    '-m multiport --destination-ports 10:12,20:30,8080',
  ],
  ['negated protocol name', { notProtocol: TCP }, '! -p tcp'],
  ['negated protocol number', { notProtocol: { number: 8 } }, '! -p 8'],
  ['negated source net', { notSrcNet: ['10.0.0.0/16'] }, '! --source 10.0.0.0/16'],
  ['negated source IP set', { notSrcIpSetIds: ['ipsetid1'] }, '-m set ! --match-set cali40ipsetid1 src'],
  [
    'negated source IP sets',
    { notSrcIpSetIds: ['ipsetid1', 'ipsetid2'] },
    '-m set ! --match-set cali40ipsetid1 src -m set ! --match-set cali40ipsetid2 src',
  ],
  ['negated source ports', { notSrcPorts: [range(10, 12)] }, '-m multiport ! --source-ports 10:12'],
  [
    'negated source ports (multiple)',
    { notSrcPorts: [range(10, 12), range(20, 30), range(8080, 8080)] },
    '-m multiport ! --source-ports 10:12,20:30,8080',
  ],
  [
    'negated source ports (>15) broken into multiport matches',
    { notSrcPorts: EIGHT_RANGES },
    `-m multiport ! --source-ports ${FIRST_SEVEN} -m multiport ! --source-ports 15:16`,
  ],
  ['negated ICMP', { notIcmp: { type: 10 } }, '-m icmp ! --icmp-type 10'],
  ['negated ICMP with code', { notIcmp: { type: 10, code: 12 } }, '-m icmp ! --icmp-type 10/12'],
  ['negated dest net', { notDstNet: ['10.0.0.0/16'] }, '! --destination 10.0.0.0/16'],
  ['negated dest IP set', { notDstIpSetIds: ['ipsetid1'] }, '-m set ! --match-set cali40ipsetid1 dst'],
  [
    'negated dest IP sets',
    { notDstIpSetIds: ['ipsetid1', 'ipsetid2'] },
    '-m set ! --match-set cali40ipsetid1 dst -m set ! --match-set cali40ipsetid2 dst',
  ],
  ['negated dest ports', { notDstPorts: [range(10, 12)] }, '-m multiport ! --destination-ports 10:12'],
  [
    'negated dest ports (>15) broken into multiport matches',
    { notDstPorts: EIGHT_RANGES },
    `-m multiport ! --destination-ports ${FIRST_SEVEN} -m multiport ! --destination-ports 15:16`,
  ],
  [
    'negated dest ports (multiple)',
    { notDstPorts: [range(10, 12), range(20, 30), range(8080, 8080)] },
    '-m multiport ! --destination-ports 10:12,20:30,8080',
  ],
];

/** `-A test <match> <rest>`, leaving out an empty match. */
function withMatch(match: string, rest: string): string {
  return match === '' ? `-A test ${rest}` : `-A test ${match} ${rest}`;
}

describe('protoRuleToRules: one match per rule', () => {
  for (const [name, fields, match] of MATCH_CASES) {
    it(`${name}: allow sets the accept mark and returns`, () => {
      assert.deepEqual(render(rule({ ...fields, action: 'allow' })), [
        withMatch(match, '--jump MARK --set-mark 0x10000/0x10000'),
        RETURN_IF_ACCEPTED,
      ]);
    });
    it(`${name}: pass sets the pass mark and returns`, () => {
      assert.deepEqual(render(rule({ ...fields, action: 'pass' })), [
        withMatch(match, '--jump MARK --set-mark 0x20000/0x20000'),
        '-A test -m mark --mark 0x20000/0x20000 --jump RETURN',
      ]);
    });
    it(`${name}: deny sets the drop mark and drops`, () => {
      assert.deepEqual(render(rule({ ...fields, action: 'deny' })), [
        withMatch(match, '--jump MARK --set-mark 0x40000/0x40000'),
        '-A test -m mark --mark 0x40000/0x40000 --jump DROP',
      ]);
    });
    it(`${name}: log logs with Calico's default prefix`, () => {
      assert.deepEqual(render(rule({ ...fields, action: 'log' })), [
        withMatch(match, '--jump LOG --log-prefix "calico-packet: " --log-level 5'),
      ]);
    });
  }

  it('rejects instead of dropping when the deny action is REJECT', () => {
    assert.deepEqual(render(rule({ action: 'deny', protocol: TCP }), { denyAction: 'reject' }), [
      '-A test -p tcp --jump MARK --set-mark 0x40000/0x40000',
      '-A test -m mark --mark 0x40000/0x40000 --jump REJECT',
    ]);
  });

  it('writes the positive matches before the negated ones, in Calico order', () => {
    // One CIDR per direction, so that all of it fits in one rule.
    const everything = rule({
      protocol: TCP,
      srcNet: ['10.0.0.0/8'],
      srcIpSetIds: ['s:a'],
      srcPorts: [range(1, 1)],
      dstIpSetIds: ['s:b'],
      dstPorts: [range(2, 2)],
      icmp: { type: 8 },
      notProtocol: UDP,
      notSrcIpSetIds: ['s:c'],
      notSrcPorts: [range(3, 3)],
      notDstNet: ['13.0.0.0/8'],
      notDstIpSetIds: ['s:d'],
      notDstPorts: [range(4, 4)],
      notIcmp: { type: 0 },
    });
    assert.deepEqual(render(everything), [
      [
        '-A test -p tcp --source 10.0.0.0/8 -m set --match-set cali40s:a src -m multiport --source-ports 1',
        '-m set --match-set cali40s:b dst -m multiport --destination-ports 2 -m icmp --icmp-type 8 ! -p udp',
        '-m set ! --match-set cali40s:c src -m multiport ! --source-ports 3 ! --destination 13.0.0.0/8',
        '-m set ! --match-set cali40s:d dst -m multiport ! --destination-ports 4 -m icmp ! --icmp-type 0',
        '--jump MARK --set-mark 0x10000/0x10000',
      ].join(' '),
      RETURN_IF_ACCEPTED,
    ]);
  });
});

describe('protoRuleToRules: IPv4 only', () => {
  for (const field of ['notSrcNet', 'notDstNet'] as const) {
    it(`drops a rule whose ${field} holds 0.0.0.0/0 (it could match nothing)`, () => {
      assert.deepEqual(render(rule({ [field]: ['0.0.0.0/0'] })), []);
    });
  }
  for (const field of ['srcNet', 'notSrcNet', 'dstNet', 'notDstNet'] as const) {
    it(`drops a rule whose ${field} is only IPv6`, () => {
      assert.deepEqual(render(rule({ [field]: ['feed::beef'] })), []);
    });
  }
  it('renders the IPv4 CIDRs of a mixed list', () => {
    assert.deepEqual(render(rule({ srcNet: ['feed::beef/128', '10.0.0.1/32'] })), [
      '-A test --source 10.0.0.1/32 --jump MARK --set-mark 0x10000/0x10000',
      RETURN_IF_ACCEPTED,
    ]);
  });
  it('keeps a positive 0.0.0.0/0', () => {
    assert.deepEqual(
      render(rule({ srcNet: ['0.0.0.0/0'] }))[0],
      '-A test --source 0.0.0.0/0 --jump MARK --set-mark 0x10000/0x10000',
    );
  });
});

describe('protoRuleToRules: CIDR blocks', () => {
  const cidrs = (numSrc: number, numNotSrc: number, numDst: number, numNotDst: number) =>
    render(
      rule({
        srcNet: ['10.0.0.0/24', '10.0.1.0/24'].slice(0, numSrc),
        notSrcNet: ['11.0.0.0/24', '11.0.1.0/24'].slice(0, numNotSrc),
        dstNet: ['12.0.0.0/24', '12.0.1.0/24'].slice(0, numDst),
        notDstNet: ['13.0.0.0/24', '13.0.1.0/24'].slice(0, numNotDst),
      }),
    );

  it('2 src: one positive block setting the all-blocks bit', () => {
    assert.deepEqual(cidrs(2, 0, 0, 0), [
      CLEAR_BOTH_MARKS,
      '-A test --source 10.0.0.0/24 --jump MARK --set-mark 0x80000/0x80000',
      '-A test --source 10.0.1.0/24 --jump MARK --set-mark 0x80000/0x80000',
      ALLOW_IF_ALL_MARK,
      RETURN_IF_ACCEPTED,
    ]);
  });
  it('2 !src: one negated block clearing the preset bit', () => {
    assert.deepEqual(cidrs(0, 2, 0, 0), [
      PRESET_ALL_BLOCKS_MARK,
      '-A test --source 11.0.0.0/24 --jump MARK --set-mark 0/0x80000',
      '-A test --source 11.0.1.0/24 --jump MARK --set-mark 0/0x80000',
      ALLOW_IF_ALL_MARK,
      RETURN_IF_ACCEPTED,
    ]);
  });
  it('2 dst', () => {
    assert.deepEqual(cidrs(0, 0, 2, 0), [
      CLEAR_BOTH_MARKS,
      '-A test --destination 12.0.0.0/24 --jump MARK --set-mark 0x80000/0x80000',
      '-A test --destination 12.0.1.0/24 --jump MARK --set-mark 0x80000/0x80000',
      ALLOW_IF_ALL_MARK,
      RETURN_IF_ACCEPTED,
    ]);
  });
  it('2 !dst', () => {
    assert.deepEqual(cidrs(0, 0, 0, 2), [
      PRESET_ALL_BLOCKS_MARK,
      '-A test --destination 13.0.0.0/24 --jump MARK --set-mark 0/0x80000',
      '-A test --destination 13.0.1.0/24 --jump MARK --set-mark 0/0x80000',
      ALLOW_IF_ALL_MARK,
      RETURN_IF_ACCEPTED,
    ]);
  });
  it('1 src and 1 !src overflow the one source slot', () => {
    assert.deepEqual(cidrs(1, 1, 0, 0), [
      PRESET_ALL_BLOCKS_MARK,
      '-A test --source 11.0.0.0/24 --jump MARK --set-mark 0/0x80000',
      '-A test --source 10.0.0.0/24 -m mark --mark 0x80000/0x80000 --jump MARK --set-mark 0x10000/0x10000',
      RETURN_IF_ACCEPTED,
    ]);
  });
  it('2 src and 1 !src: the !src fits in the main rule', () => {
    assert.deepEqual(cidrs(2, 1, 0, 0), [
      CLEAR_BOTH_MARKS,
      '-A test --source 10.0.0.0/24 --jump MARK --set-mark 0x80000/0x80000',
      '-A test --source 10.0.1.0/24 --jump MARK --set-mark 0x80000/0x80000',
      '-A test ! --source 11.0.0.0/24 -m mark --mark 0x80000/0x80000 --jump MARK --set-mark 0x10000/0x10000',
      RETURN_IF_ACCEPTED,
    ]);
  });
  it('1 dst and 1 !dst', () => {
    assert.deepEqual(cidrs(0, 0, 1, 1), [
      PRESET_ALL_BLOCKS_MARK,
      '-A test --destination 13.0.0.0/24 --jump MARK --set-mark 0/0x80000',
      '-A test --destination 12.0.0.0/24 -m mark --mark 0x80000/0x80000 --jump MARK --set-mark 0x10000/0x10000',
      RETURN_IF_ACCEPTED,
    ]);
  });
  it('2 dst and 1 !dst', () => {
    assert.deepEqual(cidrs(0, 0, 2, 1), [
      CLEAR_BOTH_MARKS,
      '-A test --destination 12.0.0.0/24 --jump MARK --set-mark 0x80000/0x80000',
      '-A test --destination 12.0.1.0/24 --jump MARK --set-mark 0x80000/0x80000',
      '-A test ! --destination 13.0.0.0/24 -m mark --mark 0x80000/0x80000 --jump MARK --set-mark 0x10000/0x10000',
      RETURN_IF_ACCEPTED,
    ]);
  });
  it('one of each: only !src and !dst overflow', () => {
    assert.deepEqual(cidrs(1, 1, 1, 1), [
      PRESET_ALL_BLOCKS_MARK,
      '-A test --source 11.0.0.0/24 --jump MARK --set-mark 0/0x80000',
      '-A test --destination 13.0.0.0/24 --jump MARK --set-mark 0/0x80000',
      '-A test --source 10.0.0.0/24 --destination 12.0.0.0/24 -m mark --mark 0x80000/0x80000 --jump MARK --set-mark 0x10000/0x10000',
      RETURN_IF_ACCEPTED,
    ]);
  });
  it('two of each: every list becomes a block, the second positive one through scratch 1', () => {
    assert.deepEqual(cidrs(2, 2, 2, 2), [
      CLEAR_BOTH_MARKS,
      '-A test --source 10.0.0.0/24 --jump MARK --set-mark 0x80000/0x80000',
      '-A test --source 10.0.1.0/24 --jump MARK --set-mark 0x80000/0x80000',
      '-A test --destination 12.0.0.0/24 --jump MARK --set-mark 0x100000/0x100000',
      '-A test --destination 12.0.1.0/24 --jump MARK --set-mark 0x100000/0x100000',
      ALL_BLOCKS_AND_THIS_BLOCK,
      '-A test --source 11.0.0.0/24 --jump MARK --set-mark 0/0x80000',
      '-A test --source 11.0.1.0/24 --jump MARK --set-mark 0/0x80000',
      '-A test --destination 13.0.0.0/24 --jump MARK --set-mark 0/0x80000',
      '-A test --destination 13.0.1.0/24 --jump MARK --set-mark 0/0x80000',
      ALLOW_IF_ALL_MARK,
      RETURN_IF_ACCEPTED,
    ]);
  });
});

describe('protoRuleToRules: port and named-port blocks', () => {
  it('a named port on its own stays in the main rule', () => {
    assert.deepEqual(render(rule({ protocol: TCP, srcNamedPortIpSetIds: ['ipset-1'] })), [
      '-A test -p tcp -m set --match-set cali40ipset-1 src,src --jump MARK --set-mark 0x10000/0x10000',
      RETURN_IF_ACCEPTED,
    ]);
    assert.deepEqual(render(rule({ protocol: TCP, dstNamedPortIpSetIds: ['ipset-1'] })), [
      '-A test -p tcp -m set --match-set cali40ipset-1 dst,dst --jump MARK --set-mark 0x10000/0x10000',
      RETURN_IF_ACCEPTED,
    ]);
  });
  it('two source named ports need a block', () => {
    assert.deepEqual(render(rule({ protocol: UDP, srcNamedPortIpSetIds: ['ipset-1', 'ipset-2'] })), [
      CLEAR_BOTH_MARKS,
      '-A test -m set --match-set cali40ipset-1 src,src --jump MARK --set-mark 0x80000/0x80000',
      '-A test -m set --match-set cali40ipset-2 src,src --jump MARK --set-mark 0x80000/0x80000',
      ALLOW_IF_ALL_MARK_AND_UDP,
      RETURN_IF_ACCEPTED,
    ]);
  });
  it('two dest named ports need a block', () => {
    assert.deepEqual(render(rule({ protocol: TCP, dstNamedPortIpSetIds: ['ipset-1', 'ipset-2'] })), [
      CLEAR_BOTH_MARKS,
      '-A test -m set --match-set cali40ipset-1 dst,dst --jump MARK --set-mark 0x80000/0x80000',
      '-A test -m set --match-set cali40ipset-2 dst,dst --jump MARK --set-mark 0x80000/0x80000',
      ALLOW_IF_ALL_MARK_AND_TCP,
      RETURN_IF_ACCEPTED,
    ]);
  });
  it('numeric port groups, then named ports, in one block', () => {
    assert.deepEqual(
      render(rule({ protocol: TCP, srcPorts: EIGHT_RANGES, srcNamedPortIpSetIds: ['ipset-1', 'ipset-2', 'ipset-3'] })),
      [
        CLEAR_BOTH_MARKS,
        `-A test -p tcp -m multiport --source-ports ${FIRST_SEVEN} --jump MARK --set-mark 0x80000/0x80000`,
        '-A test -p tcp -m multiport --source-ports 15:16 --jump MARK --set-mark 0x80000/0x80000',
        '-A test -m set --match-set cali40ipset-1 src,src --jump MARK --set-mark 0x80000/0x80000',
        '-A test -m set --match-set cali40ipset-2 src,src --jump MARK --set-mark 0x80000/0x80000',
        '-A test -m set --match-set cali40ipset-3 src,src --jump MARK --set-mark 0x80000/0x80000',
        ALLOW_IF_ALL_MARK_AND_TCP,
        RETURN_IF_ACCEPTED,
      ],
    );
  });
  it('more than 15 source or dest port slots overflow into a block', () => {
    assert.deepEqual(render(rule({ protocol: UDP, srcPorts: EIGHT_RANGES })), [
      CLEAR_BOTH_MARKS,
      `-A test -p udp -m multiport --source-ports ${FIRST_SEVEN} --jump MARK --set-mark 0x80000/0x80000`,
      '-A test -p udp -m multiport --source-ports 15:16 --jump MARK --set-mark 0x80000/0x80000',
      ALLOW_IF_ALL_MARK_AND_UDP,
      RETURN_IF_ACCEPTED,
    ]);
    assert.deepEqual(render(rule({ protocol: UDP, dstPorts: EIGHT_RANGES })), [
      CLEAR_BOTH_MARKS,
      `-A test -p udp -m multiport --destination-ports ${FIRST_SEVEN} --jump MARK --set-mark 0x80000/0x80000`,
      '-A test -p udp -m multiport --destination-ports 15:16 --jump MARK --set-mark 0x80000/0x80000',
      ALLOW_IF_ALL_MARK_AND_UDP,
      RETURN_IF_ACCEPTED,
    ]);
  });
  it('a named port beside numeric ports needs a block (source and dest)', () => {
    assert.deepEqual(render(rule({ protocol: TCP, srcPorts: [range(1, 2)], srcNamedPortIpSetIds: ['ipset-1'] })), [
      CLEAR_BOTH_MARKS,
      '-A test -p tcp -m multiport --source-ports 1:2 --jump MARK --set-mark 0x80000/0x80000',
      '-A test -m set --match-set cali40ipset-1 src,src --jump MARK --set-mark 0x80000/0x80000',
      ALLOW_IF_ALL_MARK_AND_TCP,
      RETURN_IF_ACCEPTED,
    ]);
    assert.deepEqual(render(rule({ protocol: TCP, dstPorts: [range(1, 2)], dstNamedPortIpSetIds: ['ipset-1'] })), [
      CLEAR_BOTH_MARKS,
      '-A test -p tcp -m multiport --destination-ports 1:2 --jump MARK --set-mark 0x80000/0x80000',
      '-A test -m set --match-set cali40ipset-1 dst,dst --jump MARK --set-mark 0x80000/0x80000',
      ALLOW_IF_ALL_MARK_AND_TCP,
      RETURN_IF_ACCEPTED,
    ]);
  });
  it('only the direction that needs a block gets one', () => {
    assert.deepEqual(
      render(
        rule({
          protocol: UDP,
          srcPorts: [range(1, 2)],
          srcNamedPortIpSetIds: ['ipset-1'],
          dstPorts: [range(3, 4)],
        }),
      ),
      [
        CLEAR_BOTH_MARKS,
        '-A test -p udp -m multiport --source-ports 1:2 --jump MARK --set-mark 0x80000/0x80000',
        '-A test -m set --match-set cali40ipset-1 src,src --jump MARK --set-mark 0x80000/0x80000',
        '-A test -p udp -m multiport --destination-ports 3:4 -m mark --mark 0x80000/0x80000 --jump MARK --set-mark 0x10000/0x10000',
        RETURN_IF_ACCEPTED,
      ],
    );
    assert.deepEqual(
      render(
        rule({
          protocol: TCP,
          srcPorts: [range(1, 2)],
          dstPorts: [range(3, 4)],
          dstNamedPortIpSetIds: ['ipset-1'],
        }),
      ),
      [
        CLEAR_BOTH_MARKS,
        '-A test -p tcp -m multiport --destination-ports 3:4 --jump MARK --set-mark 0x80000/0x80000',
        '-A test -m set --match-set cali40ipset-1 dst,dst --jump MARK --set-mark 0x80000/0x80000',
        '-A test -p tcp -m multiport --source-ports 1:2 -m mark --mark 0x80000/0x80000 --jump MARK --set-mark 0x10000/0x10000',
        RETURN_IF_ACCEPTED,
      ],
    );
  });
  it('source and dest blocks: the second ORs into scratch 1', () => {
    assert.deepEqual(
      render(
        rule({
          protocol: TCP,
          srcPorts: [range(1, 2)],
          srcNamedPortIpSetIds: ['ipset-1'],
          dstPorts: [range(3, 4)],
          dstNamedPortIpSetIds: ['ipset-2'],
        }),
      ),
      [
        CLEAR_BOTH_MARKS,
        '-A test -p tcp -m multiport --source-ports 1:2 --jump MARK --set-mark 0x80000/0x80000',
        '-A test -m set --match-set cali40ipset-1 src,src --jump MARK --set-mark 0x80000/0x80000',
        '-A test -p tcp -m multiport --destination-ports 3:4 --jump MARK --set-mark 0x100000/0x100000',
        '-A test -m set --match-set cali40ipset-2 dst,dst --jump MARK --set-mark 0x100000/0x100000',
        ALL_BLOCKS_AND_THIS_BLOCK,
        ALLOW_IF_ALL_MARK_AND_TCP,
        RETURN_IF_ACCEPTED,
      ],
    );
  });
  it('negated numeric and named ports all fit in the main rule', () => {
    assert.deepEqual(
      render(rule({ protocol: TCP, notSrcPorts: [range(1, 2)], notSrcNamedPortIpSetIds: ['ipset-1'] })),
      [
        '-A test -p tcp -m multiport ! --source-ports 1:2 -m set ! --match-set cali40ipset-1 src,src --jump MARK --set-mark 0x10000/0x10000',
        RETURN_IF_ACCEPTED,
      ],
    );
    assert.deepEqual(
      render(
        rule({ protocol: UDP, notDstPorts: EIGHT_RANGES, notDstNamedPortIpSetIds: ['ipset-1', 'ipset-2', 'ipset-3'] }),
      ),
      [
        [
          '-A test -p udp',
          `-m multiport ! --destination-ports ${FIRST_SEVEN}`,
          '-m multiport ! --destination-ports 15:16',
          '-m set ! --match-set cali40ipset-1 dst,dst',
          '-m set ! --match-set cali40ipset-2 dst,dst',
          '-m set ! --match-set cali40ipset-3 dst,dst',
          '--jump MARK --set-mark 0x10000/0x10000',
        ].join(' '),
        RETURN_IF_ACCEPTED,
      ],
    );
  });
  it('numeric and named ports with CIDRs', () => {
    assert.deepEqual(
      render(
        rule({
          protocol: TCP,
          srcPorts: EIGHT_RANGES,
          srcNamedPortIpSetIds: ['ipset-1', 'ipset-2', 'ipset-3'],
          srcNet: ['10.1.0.0/16', '11.0.0.0/8'],
        }),
      ),
      [
        CLEAR_BOTH_MARKS,
        `-A test -p tcp -m multiport --source-ports ${FIRST_SEVEN} --jump MARK --set-mark 0x80000/0x80000`,
        '-A test -p tcp -m multiport --source-ports 15:16 --jump MARK --set-mark 0x80000/0x80000',
        '-A test -m set --match-set cali40ipset-1 src,src --jump MARK --set-mark 0x80000/0x80000',
        '-A test -m set --match-set cali40ipset-2 src,src --jump MARK --set-mark 0x80000/0x80000',
        '-A test -m set --match-set cali40ipset-3 src,src --jump MARK --set-mark 0x80000/0x80000',
        '-A test --source 10.1.0.0/16 --jump MARK --set-mark 0x100000/0x100000',
        '-A test --source 11.0.0.0/8 --jump MARK --set-mark 0x100000/0x100000',
        ALL_BLOCKS_AND_THIS_BLOCK,
        ALLOW_IF_ALL_MARK_AND_TCP,
        RETURN_IF_ACCEPTED,
      ],
    );
  });
  it('positive and negated ports, named ports and CIDRs in both directions', () => {
    assert.deepEqual(
      render(
        rule({
          protocol: TCP,
          srcPorts: EIGHT_RANGES,
          srcNamedPortIpSetIds: ['ipset-1'],
          srcNet: ['10.1.0.0/16', '11.0.0.0/8'],
          notSrcPorts: [range(101, 101)],
          notSrcNamedPortIpSetIds: ['ipset-3'],
          notSrcNet: ['14.1.0.0/16', '15.0.0.0/8'],
          dstPorts: [range(2, 3)],
          dstNamedPortIpSetIds: ['ipset-2'],
          dstNet: ['12.1.0.0/16', '13.0.0.0/8'],
          notDstPorts: [range(201, 201)],
          notDstNamedPortIpSetIds: ['ipset-4'],
          notDstNet: ['16.1.0.0/16', '17.0.0.0/8'],
        }),
      ),
      [
        CLEAR_BOTH_MARKS,
        `-A test -p tcp -m multiport --source-ports ${FIRST_SEVEN} --jump MARK --set-mark 0x80000/0x80000`,
        '-A test -p tcp -m multiport --source-ports 15:16 --jump MARK --set-mark 0x80000/0x80000',
        '-A test -m set --match-set cali40ipset-1 src,src --jump MARK --set-mark 0x80000/0x80000',
        '-A test -p tcp -m multiport --destination-ports 2:3 --jump MARK --set-mark 0x100000/0x100000',
        '-A test -m set --match-set cali40ipset-2 dst,dst --jump MARK --set-mark 0x100000/0x100000',
        ALL_BLOCKS_AND_THIS_BLOCK,
        '-A test --source 10.1.0.0/16 --jump MARK --set-mark 0x100000/0x100000',
        '-A test --source 11.0.0.0/8 --jump MARK --set-mark 0x100000/0x100000',
        ALL_BLOCKS_AND_THIS_BLOCK,
        '-A test --destination 12.1.0.0/16 --jump MARK --set-mark 0x100000/0x100000',
        '-A test --destination 13.0.0.0/8 --jump MARK --set-mark 0x100000/0x100000',
        ALL_BLOCKS_AND_THIS_BLOCK,
        '-A test --source 14.1.0.0/16 --jump MARK --set-mark 0/0x80000',
        '-A test --source 15.0.0.0/8 --jump MARK --set-mark 0/0x80000',
        '-A test --destination 16.1.0.0/16 --jump MARK --set-mark 0/0x80000',
        '-A test --destination 17.0.0.0/8 --jump MARK --set-mark 0/0x80000',
        [
          '-A test -p tcp',
          '-m multiport ! --source-ports 101',
          '-m set ! --match-set cali40ipset-3 src,src',
          '-m multiport ! --destination-ports 201',
          '-m set ! --match-set cali40ipset-4 dst,dst',
          '-m mark --mark 0x80000/0x80000',
          '--jump MARK --set-mark 0x10000/0x10000',
        ].join(' '),
        RETURN_IF_ACCEPTED,
      ],
    );
  });
});

describe('protoRuleToRules: LOG', () => {
  const logRule = rule({ action: 'log', protocol: TCP });

  it('uses the configured prefix', () => {
    assert.deepEqual(render(logRule, { logPrefix: 'foobar' }), [
      '-A test -p tcp --jump LOG --log-prefix "foobar: " --log-level 5',
    ]);
  });
  it('replaces %t, %k, %n and %p in the prefix', () => {
    assert.deepEqual(render(logRule, { logPrefix: 'foobar %t %k %p %n - %n %p %k %t' }), [
      '-A test -p tcp --jump LOG --log-prefix "foobar default gnp default.foo default.foo - default.foo default.foo gnp default: " --log-level 5',
    ]);
  });
  it('limits the rate, with the default burst of 5 or the one configured (0: none)', () => {
    assert.deepEqual(render(logRule, { logActionRateLimit: '50/minute' }), [
      '-A test -m limit --limit 50/minute --limit-burst 5 -p tcp --jump LOG --log-prefix "calico-packet: " --log-level 5',
    ]);
    assert.deepEqual(render(logRule, { logActionRateLimit: '50/minute', logActionRateLimitBurst: 90 }), [
      '-A test -m limit --limit 50/minute --limit-burst 90 -p tcp --jump LOG --log-prefix "calico-packet: " --log-level 5',
    ]);
    assert.deepEqual(render(rule({ action: 'log' }), { logActionRateLimit: '50/minute', logActionRateLimitBurst: 0 }), [
      '-A test -m limit --limit 50/minute --jump LOG --log-prefix "calico-packet: " --log-level 5',
    ]);
  });
});

describe('protoRuleToRules: annotations', () => {
  it("puts the rule's annotations on every rule it renders, as key=value comments", () => {
    const annotated = rule({ protocol: TCP, annotations: { testkey01: 'testvalue01', testkey00: 'testvalue00' } });
    const rules = protoRuleToRules(annotated, FOO);
    assert.equal(rules.length, 2);
    for (const r of rules) assert.deepEqual(r.comment, ['testkey00=testvalue00', 'testkey01=testvalue01']);
  });
});

describe('splitPortList', () => {
  const ports = (...numbers: number[]) => numbers.map((n) => range(n, n));
  it('splits nothing into no groups', () => {
    assert.deepEqual(splitPortList([]), []);
  });
  it('keeps 15 single ports in one group and starts another at the 16th', () => {
    assert.deepEqual(splitPortList(ports(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)), [
      ports(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
    ]);
    assert.deepEqual(splitPortList(ports(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)), [
      ports(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
      ports(16),
    ]);
  });
  it('counts a range as two slots', () => {
    const fits = [...EIGHT_RANGES.slice(0, 7), range(15, 15)];
    assert.deepEqual(splitPortList(fits), [fits]);
    assert.deepEqual(splitPortList(EIGHT_RANGES), [EIGHT_RANGES.slice(0, 7), [range(15, 16)]]);
  });
  it('splits further in the same places as Calico', () => {
    const second = [
      range(15, 16),
      range(21, 22),
      range(23, 24),
      range(23, 26),
      range(27, 28),
      range(29, 210),
      range(211, 212),
    ];
    const third = [range(213, 214), range(215, 216)];
    assert.deepEqual(splitPortList([...EIGHT_RANGES, ...second.slice(1), ...third]), [
      EIGHT_RANGES.slice(0, 7),
      second,
      third,
    ]);
  });
});

describe('chain names', () => {
  it('names a policy chain by kind and name', () => {
    assert.equal(policyChainName('ingress', 'GlobalNetworkPolicy', 'default.foo'), 'cali-pi-gnp/default.foo');
    assert.equal(policyChainName('egress', 'GlobalNetworkPolicy', 'default.foo'), 'cali-po-gnp/default.foo');
    assert.equal(policyChainName('ingress', 'NetworkPolicy', 'app/foo'), 'cali-pi-np/app/foo');
    assert.equal(policyChainName('egress', 'KubernetesNetworkPolicy', 'app/foo'), 'cali-po-knp/app/foo');
  });
  it('hashes names that do not fit, as Calico does', () => {
    assert.equal(
      policyChainName('ingress', 'GlobalNetworkPolicy', 'long-policy-name-that-gets-hashed'),
      'cali-pi-_PymyFHQQg3808jiz1OJ',
    );
    assert.equal(profileChainName('ingress', 'long-policy-name-that-gets-hashed'), 'cali-pri-_ffOMcf6pikpiZ6hgKc');
    assert.equal(profileChainName('egress', 'long-policy-name-that-gets-hashed'), 'cali-pro-_ffOMcf6pikpiZ6hgKc');
  });
  it('keeps a profile name that just fits', () => {
    assert.equal(profileChainName('ingress', 'kns.default'), 'cali-pri-kns.default');
    assert.equal(profileChainName('egress', 'ksa.default.default'), 'cali-pro-ksa.default.default');
  });
});

describe('policyChains', () => {
  const allowAll = rule({ action: 'allow' });

  it('renders inbound then outbound; an empty direction holds only its comment', () => {
    const chains = policyChains(
      {
        tier: 'default',
        name: 'default.foo',
        inboundRules: [rule({ action: 'deny', srcNet: ['10.0.0.0/16'] })],
        outboundRules: [],
      },
      'GlobalNetworkPolicy',
    );
    assert.deepEqual(
      chains.map((chain) => [chain.name, chainLines(chain)]),
      [
        [
          'cali-pi-gnp/default.foo',
          [
            '-A test -m comment --comment "GlobalNetworkPolicy default.foo ingress" --source 10.0.0.0/16 --jump MARK --set-mark 0x40000/0x40000',
            '-A test -m mark --mark 0x40000/0x40000 --jump DROP',
          ],
        ],
        ['cali-po-gnp/default.foo', ['-A test -m comment --comment "GlobalNetworkPolicy default.foo egress"']],
      ],
    );
  });

  it('drops the RETURN that would end a chain, keeping earlier ones', () => {
    const [inbound] = policyChains(
      {
        tier: 'default',
        name: 'long-policy-name-that-gets-hashed',
        inboundRules: [rule({ action: 'allow', protocol: TCP }), allowAll],
        outboundRules: [],
      },
      'GlobalNetworkPolicy',
    );
    assert.equal(inbound.name, 'cali-pi-_PymyFHQQg3808jiz1OJ');
    assert.deepEqual(chainLines(inbound), [
      '-A test -m comment --comment "GlobalNetworkPolicy long-policy-name-that-gets-hashed ingress" -p tcp --jump MARK --set-mark 0x10000/0x10000',
      RETURN_IF_ACCEPTED,
      '-A test --jump MARK --set-mark 0x10000/0x10000',
    ]);
  });

  it('names a namespaced policy by namespace and name, and fills %p and %n apart', () => {
    const chains = policyChains(
      { tier: 'admin', name: 'app/foo', inboundRules: [], outboundRules: [rule({ action: 'log' })] },
      'NetworkPolicy',
      { logPrefix: 'calico-packet %k:%p:%t:%n' },
    );
    assert.deepEqual(
      chains.map((chain) => [chain.name, chainLines(chain)]),
      [
        ['cali-pi-np/app/foo', ['-A test -m comment --comment "NetworkPolicy app/foo ingress"']],
        [
          'cali-po-np/app/foo',
          [
            '-A test -m comment --comment "NetworkPolicy app/foo egress" --jump LOG --log-prefix "calico-packet np:app/foo:admin:foo: " --log-level 5',
          ],
        ],
      ],
    );
  });

  it("puts the chain comment after the first rule's annotations", () => {
    const [inbound] = policyChains(
      {
        tier: 'default',
        name: 'p',
        inboundRules: [rule({ action: 'deny', annotations: { k: 'v' } })],
        outboundRules: [],
      },
      'GlobalNetworkPolicy',
    );
    assert.deepEqual(chainLines(inbound), [
      '-A test -m comment --comment "k=v" -m comment --comment "GlobalNetworkPolicy p ingress" --jump MARK --set-mark 0x40000/0x40000',
      '-A test -m comment --comment "k=v" -m mark --mark 0x40000/0x40000 --jump DROP',
    ]);
  });

  it('renders no chains for staged policies', () => {
    for (const kind of ['StagedNetworkPolicy', 'StagedGlobalNetworkPolicy', 'StagedKubernetesNetworkPolicy'] as const) {
      assert.deepEqual(
        policyChains({ tier: 'default', name: 'foo', inboundRules: [allowAll], outboundRules: [] }, kind),
        [],
      );
    }
  });
});

describe('profileChains', () => {
  it("renders a namespace's allow-all profile as Calico does", () => {
    const chains = profileChains({
      name: 'kns.default',
      inboundRules: [rule({ action: 'allow' })],
      outboundRules: [rule({ action: 'allow' })],
    });
    assert.deepEqual(
      chains.map((chain) => [chain.name, chainLines(chain)]),
      [
        [
          'cali-pri-kns.default',
          ['-A test -m comment --comment "Profile kns.default ingress" --jump MARK --set-mark 0x10000/0x10000'],
        ],
        [
          'cali-pro-kns.default',
          ['-A test -m comment --comment "Profile kns.default egress" --jump MARK --set-mark 0x10000/0x10000'],
        ],
      ],
    );
  });

  it('hashes a long name and keeps a comment-only chain for a direction without rules', () => {
    const chains = profileChains({
      name: 'long-policy-name-that-gets-hashed',
      inboundRules: [rule({ action: 'allow' })],
      outboundRules: [],
    });
    assert.deepEqual(
      chains.map((chain) => [chain.name, chainLines(chain)]),
      [
        [
          'cali-pri-_ffOMcf6pikpiZ6hgKc',
          [
            '-A test -m comment --comment "Profile long-policy-name-that-gets-hashed ingress" --jump MARK --set-mark 0x10000/0x10000',
          ],
        ],
        [
          'cali-pro-_ffOMcf6pikpiZ6hgKc',
          ['-A test -m comment --comment "Profile long-policy-name-that-gets-hashed egress"'],
        ],
      ],
    );
  });

  it('fills the LOG prefix of a profile: kind pro, no tier, other % signs kept', () => {
    const [inbound] = profileChains(
      { name: 'profile1', inboundRules: [rule({ action: 'log' })], outboundRules: [] },
      { logPrefix: 'calico-packet %p:%k:%%y%t%%n' },
    );
    assert.deepEqual(chainLines(inbound), [
      '-A test -m comment --comment "Profile profile1 ingress" --jump LOG --log-prefix "calico-packet profile1:pro:%%y%profile1: " --log-level 5',
    ]);
  });
});
