// Felix's iptables engine without root: rendering, Calico's rule hashes, reading iptables-save, planning the
// iptables-restore input, backend detection, and IptablesTable against a small in-memory iptables.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  Actions,
  type Chain,
  type CommandResult,
  type CommandRunner,
  chooseBackendMode,
  commandRunner,
  countSavedRules,
  type DesiredTable,
  detectBackend,
  escapeComment,
  FOREIGN_RULE,
  failedRestoreLine,
  IptablesRestoreError,
  IptablesTable,
  iptablesBackend,
  type KernelChain,
  type KernelTable,
  type PlanOptions,
  parseIptablesSave,
  parseIptablesVersion,
  planRestore,
  type Rule,
  renderAction,
  renderChain,
  renderRuleBody,
  ruleHashes,
  startPlan,
} from '../../felix/iptables';

const isOurChain = (name: string) => name.startsWith('cali-');

describe('renderAction', () => {
  it('renders each action as Calico does', () => {
    const cases: [ReturnType<typeof Actions.accept>, string][] = [
      [Actions.accept(), '--jump ACCEPT'],
      [Actions.drop(), '--jump DROP'],
      [Actions.return(), '--jump RETURN'],
      [Actions.jump('cali-INPUT'), '--jump cali-INPUT'],
      [Actions.goto('cali-tw-cali1234'), '--goto cali-tw-cali1234'],
      [Actions.setMark(0x10000), '--jump MARK --set-mark 0x10000/0x10000'],
      [Actions.setMark(0x20000, 0x30000), '--jump MARK --set-mark 0x20000/0x30000'],
      [Actions.setMark(0, 0xffffffff), '--jump MARK --set-mark 0x0/0xffffffff'],
      [Actions.clearMark(0x1b0000), '--jump MARK --set-mark 0/0x1b0000'],
      [Actions.masquerade(), '--jump MASQUERADE'],
      [Actions.log('calico-drop'), '--jump LOG --log-prefix "calico-drop: " --log-level 5'],
      [Actions.reject(), '--jump REJECT'],
      [Actions.reject('icmp-port-unreachable'), '--jump REJECT --reject-with icmp-port-unreachable'],
      [Actions.noTrack(), '--jump NOTRACK'],
      [
        Actions.fragment('--jump CONNMARK --save-mark --mask 0xffffffff'),
        '--jump CONNMARK --save-mark --mask 0xffffffff',
      ],
    ];
    for (const [action, text] of cases) assert.equal(renderAction(action), text);
  });
});

describe('rule rendering', () => {
  it('puts user comments first, then the match, then the action', () => {
    const rule: Rule = {
      match: '-i cali+ -m conntrack --ctstate INVALID',
      action: Actions.drop(),
      comment: ['a', 'b'],
    };
    assert.equal(
      renderRuleBody(rule),
      '-m comment --comment "a" -m comment --comment "b" -i cali+ -m conntrack --ctstate INVALID --jump DROP',
    );
    assert.equal(renderRuleBody({ match: '', action: Actions.accept() }), '--jump ACCEPT');
    assert.equal(renderRuleBody({ match: '', action: Actions.fragment('') }), '');
  });

  it('replaces characters a shell would not take literally in comments, one per character, and cuts at 256', () => {
    assert.equal(escapeComment('Policy default.allow-dns'), 'Policy default.allow-dns');
    assert.equal(escapeComment('say "hi"\n$(rm -rf)'), 'say _hi____rm -rf_');
    assert.equal(escapeComment('café 🐱'), 'caf_ _');
    assert.equal(escapeComment('x'.repeat(300)), 'x'.repeat(256));
  });
});

describe('ruleHashes (Calico generictables.RuleHashes)', () => {
  // From a real Calico node: felix/fv/cali-iptables-dump.txt in the Calico repository (iptables-save output).
  it('reproduces the hooks of a Calico node', () => {
    assert.deepEqual(ruleHashes('INPUT', [{ match: '', action: Actions.jump('cali-INPUT') }]), ['Cz_u1IQiXIMmKD4c']);
    assert.deepEqual(ruleHashes('FORWARD', [{ match: '', action: Actions.jump('cali-FORWARD') }]), [
      'wUHhoiAYhphO9Mso',
    ]);
    assert.deepEqual(ruleHashes('OUTPUT', [{ match: '', action: Actions.jump('cali-OUTPUT') }]), ['tVnHkvAo15HuiPy0']);
    assert.deepEqual(ruleHashes('PREROUTING', [{ match: '', action: Actions.jump('cali-PREROUTING') }]), [
      '6gwbT8clXdHdC1b1',
    ]);
  });

  it('reproduces a whole chain of a Calico node (cali-FORWARD), each hash chained to the one before', () => {
    const rules: Rule[] = [
      { match: '', action: Actions.clearMark(0x1a0000) },
      { match: '-m mark --mark 0/0x10000', action: Actions.jump('cali-from-hep-forward') },
      { match: '--in-interface cali+', action: Actions.jump('cali-from-wl-dispatch') },
      { match: '--out-interface cali+', action: Actions.jump('cali-to-wl-dispatch') },
      { match: '', action: Actions.jump('cali-to-hep-forward') },
      { match: '', action: Actions.jump('cali-cidr-block') },
    ];
    assert.deepEqual(ruleHashes('cali-FORWARD', rules), [
      'W_vvds1Nw3n9QE2f',
      'ZfgmjuiLaA8Pg0kp',
      'tAzwBLPaV-j53OOZ',
      '4Z0Pf0byo05NFe-P',
      'hQ7Oc16wmUtLuneJ',
      'rnKNH2WxGcRQcIlD',
    ]);
    // The raw table's cali-OUTPUT of the same dump.
    assert.deepEqual(
      ruleHashes('cali-OUTPUT', [
        { match: '', action: Actions.clearMark(0x1b0000) },
        { match: '', action: Actions.jump('cali-to-host-endpoint') },
        { match: '-p udp --dport 4789', action: Actions.noTrack() },
      ]),
      ['clI8WObfCl4yhr60', 'ZbkN6P8OdRcBRPpU', 'ry5_UEpt1OaPPCxO'],
    );
  });

  it('hashes user comments as Calico renders them', () => {
    // Computed by hand in Python from the steps of generictables.RuleHashes and iptablesRenderer.RenderAppend:
    //   h = sha224(b"cali-pi-_pol").digest()
    //   for line in rendered: h = sha224(h + line.encode()).digest(); base64.urlsafe_b64encode(h).rstrip(b"=")[:16]
    // with rendered =
    //   '-A cali-pi-_pol HASH -m comment --comment "Policy default.allow-dns" -m comment --comment "tab_here caf_"
    //      -p udp -m multiport --destination-ports 53 --jump MARK --set-mark 0x10000/0x10000'   (one line)
    //   '-A cali-pi-_pol HASH -m mark --mark 0x10000/0x10000 --jump RETURN'
    //   '-A cali-pi-_pol HASH -m comment --comment "xxx…" (256 x) --jump LOG --log-prefix "calico-drop: "
    //      --log-level 5'   (one line)
    //   '-A cali-pi-_pol HASH'
    const rules: Rule[] = [
      {
        match: '-p udp -m multiport --destination-ports 53',
        action: Actions.setMark(0x10000),
        comment: ['Policy default.allow-dns', 'tab\there café'],
      },
      { match: '-m mark --mark 0x10000/0x10000', action: Actions.return() },
      { match: '', action: Actions.log('calico-drop'), comment: ['x'.repeat(300)] },
      { match: '', action: Actions.fragment('') },
    ];
    assert.deepEqual(ruleHashes('cali-pi-_pol', rules), [
      'hOUGrjNPPWlrHOJ4',
      '21jpL7zfeB338URn',
      '9M7Z_hoFzRgNjTIg',
      'hH-7Kpgl8vEYq_c-',
    ]);
  });

  it('gives the same rule different hashes in different chains and places', () => {
    const rule: Rule = { match: '', action: Actions.accept() };
    const [a] = ruleHashes('cali-a', [rule]);
    const [b] = ruleHashes('cali-b', [rule]);
    const [, second] = ruleHashes('cali-a', [rule, rule]);
    assert.equal(new Set([a, b, second]).size, 3);
  });
});

describe('renderChain', () => {
  it('refuses what cannot be one restore line, naming the chain and rule', () => {
    const chain = (name: string, rules: Rule[]): Chain => ({ name, rules });
    assert.throws(() => renderChain(chain('cali-x', [{ match: '-i eth0\n-A INPUT', action: Actions.accept() }])), {
      message: 'chain cali-x rule 1: match contains a line break',
    });
    assert.throws(() => renderChain(chain('cali with space', [])), /bad iptables chain name/);
    assert.throws(() => renderChain(chain(`cali-${'x'.repeat(24)}`, [])), /bad iptables chain name/);
    assert.throws(
      () =>
        renderChain(
          chain('cali-x', [
            { match: '', action: Actions.accept() },
            { match: '', action: Actions.setMark(2 ** 32) },
          ]),
        ),
      /chain cali-x rule 2: mark 4294967296 is not a 32-bit unsigned integer/,
    );
    assert.throws(
      () => renderChain(chain('cali-x', [{ match: '', action: Actions.goto('bad target') }])),
      /bad iptables chain name/,
    );
    assert.throws(
      () => renderChain(chain('cali-x', [{ match: '', action: Actions.log('a"b') }])),
      /log prefix contains "/,
    );
  });

  it('hashes a chain once, when first asked', () => {
    const rules: Rule[] = [{ match: '-p tcp', action: Actions.accept() }];
    const chain = renderChain({ name: 'cali-x', rules });
    assert.deepEqual(chain.bodies, ['-p tcp --jump ACCEPT']);
    const hashes = chain.hashes;
    assert.deepEqual(hashes, ruleHashes('cali-x', rules));
    assert.equal(chain.hashes, hashes);
  });
});

// iptables-nft-save output as this machine's iptables 1.8.9 prints it (note `-i` moved before the comment).
const SAVED = `# Generated by iptables-nft-save v1.8.9 (nf_tables) on Sun Nov 22 06:21:37 2026
*filter
:INPUT ACCEPT [12:3400]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:cali-INPUT - [0:0]
:cali-empty - [0:0]
-A INPUT -s 192.0.2.1/32 -j ACCEPT
-A INPUT -m comment --comment "cali:Cz_u1IQiXIMmKD4c" -j cali-INPUT
-A FORWARD -j DOCKER
-A FORWARD -i eth1 -g cali-kept
-A FORWARD -m comment --comment "not -j cali-fake" -j ACCEPT
-A DOCKER -m comment --comment "cali:stalestalestale0" -j ACCEPT
-A DOCKER -m comment --comment "not ours" -j RETURN
-A cali-INPUT -i cali+ -m comment --comment "cali:aHEL4xyrRO0mTRS_" -g cali-wl-to-host
-A cali-INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A cali-INPUT -j cali-other
COMMIT
# Completed on Sun Nov 22 06:21:37 2026
*nat
:PREROUTING ACCEPT [0:0]
:cali-nat - [0:0]
-A cali-nat -m comment --comment "cali:natnatnatnatnatn" -j MASQUERADE
COMMIT
# Warning: iptables-legacy tables present, use iptables-legacy-save to see them
`;

describe('parseIptablesSave', () => {
  it('reads every chain of the table, our hash or a foreign mark per rule', () => {
    const { chains } = parseIptablesSave(SAVED, 'filter', { hashPrefix: 'cali:', isOurChain });
    assert.deepEqual([...chains.keys()], ['INPUT', 'FORWARD', 'OUTPUT', 'DOCKER', 'cali-INPUT', 'cali-empty']);
    assert.deepEqual(chains.get('INPUT')!.hashes, [FOREIGN_RULE, 'Cz_u1IQiXIMmKD4c']);
    assert.deepEqual(chains.get('FORWARD')!.hashes, [FOREIGN_RULE, FOREIGN_RULE, FOREIGN_RULE]);
    assert.deepEqual(chains.get('OUTPUT')!.hashes, []);
    assert.deepEqual(chains.get('DOCKER')!.hashes, ['stalestalestale0', FOREIGN_RULE]);
    assert.deepEqual(chains.get('cali-INPUT')!.hashes, ['aHEL4xyrRO0mTRS_', FOREIGN_RULE, FOREIGN_RULE]);
    assert.deepEqual(chains.get('cali-empty')!.hashes, []);
  });

  it('keeps the text of our rules in chains that are not ours, to delete them by value', () => {
    const { chains } = parseIptablesSave(SAVED, 'filter', { hashPrefix: 'cali:', isOurChain });
    assert.deepEqual(
      [...chains.get('INPUT')!.ourRuleSpecs],
      [[1, '-m comment --comment "cali:Cz_u1IQiXIMmKD4c" -j cali-INPUT']],
    );
    assert.deepEqual(
      [...chains.get('DOCKER')!.ourRuleSpecs],
      [[0, '-m comment --comment "cali:stalestalestale0" -j ACCEPT']],
    );
    assert.equal(chains.get('cali-INPUT')!.ourRuleSpecs.size, 0);
  });

  it('notes chains of ours that rules of others refer to (from chains not ours)', () => {
    const { foreignReferences } = parseIptablesSave(SAVED, 'filter', { hashPrefix: 'cali:', isOurChain });
    assert.deepEqual([...foreignReferences], ['cali-kept']);
  });

  it('reads only the table asked for', () => {
    const { chains } = parseIptablesSave(SAVED, 'nat', { hashPrefix: 'cali:', isOurChain });
    assert.deepEqual([...chains.keys()], ['PREROUTING', 'cali-nat']);
    assert.deepEqual(chains.get('cali-nat')!.hashes, ['natnatnatnatnatn']);
  });

  it('fails on a table iptables-nft cannot show', () => {
    const text = "*filter\n# Table `filter' is incompatible, use 'nft' tool.\n";
    assert.throws(() => parseIptablesSave(text, 'filter', { hashPrefix: 'cali:', isOurChain }), /cannot show/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Planning

const LEGACY: PlanOptions = {
  table: 'filter',
  hashPrefix: 'cali:',
  isOurChain,
  rewriteWholeChains: false,
  deleteChainsInSecondTransaction: false,
};
const NFT: PlanOptions = { ...LEGACY, deleteChainsInSecondTransaction: true };

function desired(chains: Chain[], insertions: Chain[] = []): DesiredTable {
  return {
    chains: new Map(chains.map((chain) => [chain.name, renderChain(chain)])),
    insertions: new Map(insertions.map((chain) => [chain.name, renderChain(chain)])),
  };
}

function kernelOf(chains: [string, KernelChain][], foreignReferences: string[] = []): KernelTable {
  return { chains: new Map(chains), foreignReferences: new Set(foreignReferences) };
}

function kernelChain(hashes: (string | null)[], specs: [number, string][] = []): KernelChain {
  return { hashes, ourRuleSpecs: new Map(specs) };
}

/** The kernel holding exactly `chain`, as our write would leave it. */
function written(chain: Chain): KernelChain {
  return kernelChain(ruleHashes(chain.name, chain.rules));
}

function spec(chainName: string, rules: Rule[], index: number): string {
  const hash = ruleHashes(chainName, rules)[index];
  return `-m comment --comment "cali:${hash}" ${renderRuleBody(rules[index])}`;
}

const endpointRules: Rule[] = [
  { match: '-m conntrack --ctstate RELATED,ESTABLISHED', action: Actions.accept() },
  { match: '-m conntrack --ctstate INVALID', action: Actions.drop() },
  { match: '', action: Actions.clearMark(0x30000) },
  { match: '', action: Actions.jump('cali-pi-_pol') },
  { match: '-m mark --mark 0x10000/0x10000', action: Actions.return() },
  { match: '', action: Actions.drop(), comment: ['Drop if no policies passed packet'] },
];
const endpoint: Chain = { name: 'cali-tw-cali1234', rules: endpointRules };
const policy: Chain = {
  name: 'cali-pi-_pol',
  rules: [{ match: '-s 10.65.0.2/32 -p tcp --dport 80', action: Actions.setMark(0x10000) }],
};
const inputHook: Chain = { name: 'INPUT', rules: [{ match: '', action: Actions.jump('cali-INPUT') }] };
const cali_INPUT: Chain = {
  name: 'cali-INPUT',
  rules: [{ match: '-i cali+', action: Actions.goto('cali-tw-cali1234') }],
};

describe('planRestore', () => {
  it('writes a new state in one transaction: declarations, rules, then our hooks at the top', () => {
    const kernel = kernelOf([
      ['INPUT', kernelChain([FOREIGN_RULE])],
      ['FORWARD', kernelChain([])],
      ['OUTPUT', kernelChain([])],
    ]);
    const plan = planRestore(kernel, desired([endpoint, policy, cali_INPUT], [inputHook]), LEGACY);
    const ep = (i: number) => `-A cali-tw-cali1234 ${spec(endpoint.name, endpointRules, i)}`;
    assert.equal(
      plan.text,
      [
        '*filter',
        ':cali-INPUT - -',
        ':cali-pi-_pol - -',
        ':cali-tw-cali1234 - -',
        `-A cali-INPUT ${spec('cali-INPUT', [...cali_INPUT.rules], 0)}`,
        `-A cali-pi-_pol ${spec(policy.name, [...policy.rules], 0)}`,
        ep(0),
        ep(1),
        ep(2),
        ep(3),
        ep(4),
        ep(5),
        '-I INPUT -m comment --comment "cali:Cz_u1IQiXIMmKD4c" --jump cali-INPUT',
        'COMMIT',
        '',
      ].join('\n'),
    );
    assert.match(ep(5), /cali:\S+" -m comment --comment "Drop if no policies passed packet" --jump DROP$/);
    assert.equal(plan.lineCount, 14);
    assert.deepEqual(plan.kernelAfter.get('INPUT')!.hashes, ['Cz_u1IQiXIMmKD4c', FOREIGN_RULE]);
    assert.deepEqual(plan.kernelAfter.get(endpoint.name)!.hashes, ruleHashes(endpoint.name, endpointRules));
    // FORWARD and OUTPUT have nothing of ours and need nothing.
    assert.equal(plan.kernelAfter.has('FORWARD'), false);
  });

  it('writes nothing when the kernel matches', () => {
    const kernel = kernelOf([
      ['INPUT', kernelChain(['Cz_u1IQiXIMmKD4c', FOREIGN_RULE], [[0, 'x']])],
      [endpoint.name, written(endpoint)],
      [policy.name, written(policy)],
    ]);
    const plan = planRestore(kernel, desired([endpoint, policy], [inputHook]), LEGACY);
    assert.deepEqual([plan.text, plan.lineCount, plan.kernelAfter.size], ['', 0, 0]);
  });

  it('edits a changed chain in place from the first difference on, keeping its head', () => {
    const changed = [...endpointRules];
    changed[4] = { match: '-m mark --mark 0x10000/0x10000', action: Actions.accept() };
    const plan = planRestore(
      kernelOf([[endpoint.name, written(endpoint)]]),
      desired([{ name: endpoint.name, rules: changed }]),
      LEGACY,
    );
    // Rule 6 is unchanged but its hash chains in rule 5's: it is rewritten too.
    assert.equal(
      plan.text,
      [
        '*filter',
        `-R cali-tw-cali1234 5 ${spec(endpoint.name, changed, 4)}`,
        `-R cali-tw-cali1234 6 ${spec(endpoint.name, changed, 5)}`,
        'COMMIT',
        '',
      ].join('\n'),
    );
  });

  it('appends to a chain that grew and deletes from one that shrank', () => {
    const grown = planRestore(
      kernelOf([[endpoint.name, written({ name: endpoint.name, rules: endpointRules.slice(0, 4) })]]),
      desired([endpoint]),
      LEGACY,
    );
    assert.deepEqual(grown.text.split('\n').slice(1, -2), [
      `-A cali-tw-cali1234 ${spec(endpoint.name, endpointRules, 4)}`,
      `-A cali-tw-cali1234 ${spec(endpoint.name, endpointRules, 5)}`,
    ]);
    const shrunk = planRestore(
      kernelOf([[endpoint.name, written(endpoint)]]),
      desired([{ name: endpoint.name, rules: endpointRules.slice(0, 4) }]),
      LEGACY,
    );
    assert.equal(shrunk.text, '*filter\n-D cali-tw-cali1234 5\n-D cali-tw-cali1234 5\nCOMMIT\n');
  });

  it('flushes and refills a chain when that takes fewer lines', () => {
    const one: Rule[] = [{ match: '', action: Actions.drop() }];
    const plan = planRestore(
      kernelOf([[endpoint.name, written(endpoint)]]),
      desired([{ name: endpoint.name, rules: one }]),
      LEGACY,
    );
    // In place: 1 replace + 5 deletes; flushed: 2 lines.
    assert.equal(
      plan.text,
      `*filter\n:cali-tw-cali1234 - -\n-A cali-tw-cali1234 ${spec(endpoint.name, one, 0)}\nCOMMIT\n`,
    );
  });

  it('rewrites a chain of ours that holds a foreign rule', () => {
    const hashes = ruleHashes(endpoint.name, endpointRules);
    const tampered = kernelChain([hashes[0], FOREIGN_RULE, ...hashes.slice(1)]);
    const plan = planRestore(kernelOf([[endpoint.name, tampered]]), desired([endpoint]), LEGACY);
    assert.equal(plan.kernelAfter.get(endpoint.name)!.hashes.length, 6);
    assert.match(plan.text, /^\*filter\n-R cali-tw-cali1234 2 /);
    assert.match(plan.text, /\n-D cali-tw-cali1234 7\nCOMMIT\n$/);
  });

  it('rewrites changed chains whole for an old iptables-nft', () => {
    const changed = [...endpointRules];
    changed[5] = { match: '', action: Actions.reject() };
    const plan = planRestore(
      kernelOf([[endpoint.name, written(endpoint)]]),
      desired([{ name: endpoint.name, rules: changed }]),
      { ...NFT, rewriteWholeChains: true },
    );
    assert.equal(plan.lineCount, 1 + 1 + 6 + 1);
    assert.match(plan.text, /^\*filter\n:cali-tw-cali1234 - -\n-A cali-tw-cali1234 /);
  });

  it('flushes unwanted chains of ours first and deletes them last', () => {
    const kernel = kernelOf([
      ['cali-INPUT', written(cali_INPUT)],
      [endpoint.name, written(endpoint)],
      ['cali-old', kernelChain(['x', 'y'])],
    ]);
    // cali-INPUT stops jumping to the endpoint chain, which goes away with cali-old.
    const newInput: Chain = { name: 'cali-INPUT', rules: [{ match: '', action: Actions.accept() }] };
    const legacy = planRestore(kernel, desired([newInput]), LEGACY);
    assert.equal(
      legacy.text,
      [
        '*filter',
        ':cali-old - -',
        ':cali-tw-cali1234 - -',
        `-R cali-INPUT 1 ${spec('cali-INPUT', [...newInput.rules], 0)}`,
        '-X cali-old',
        '-X cali-tw-cali1234',
        'COMMIT',
        '',
      ].join('\n'),
    );
    assert.equal(legacy.kernelAfter.get('cali-old'), undefined);
    assert.equal(legacy.kernelAfter.has('cali-old'), true);
    const nft = planRestore(kernel, desired([newInput]), NFT);
    assert.equal(
      nft.text,
      [
        '*filter',
        ':cali-old - -',
        ':cali-tw-cali1234 - -',
        `-R cali-INPUT 1 ${spec('cali-INPUT', [...newInput.rules], 0)}`,
        'COMMIT',
        '*filter',
        ':cali-old - -',
        ':cali-tw-cali1234 - -',
        '-X cali-old',
        '-X cali-tw-cali1234',
        'COMMIT',
        '',
      ].join('\n'),
    );
  });

  it('only empties an unwanted chain of ours that a rule of others refers to', () => {
    const plan = planRestore(kernelOf([['cali-old', kernelChain(['x', 'y'])]], ['cali-old']), desired([]), NFT);
    assert.equal(plan.text, '*filter\n:cali-old - -\nCOMMIT\n');
    assert.deepEqual(plan.kernelAfter.get('cali-old')!.hashes, []);
    const empty = planRestore(kernelOf([['cali-old', kernelChain([])]], ['cali-old']), desired([]), NFT);
    assert.equal(empty.lineCount, 0);
  });

  it('puts our hooks back at the top, deleting ours by value and never touching foreign rules', () => {
    const stale = '-m comment --comment "cali:Cz_u1IQiXIMmKD4c" -j cali-INPUT';
    // Someone inserted a rule above our hook.
    const kernel = kernelOf([['INPUT', kernelChain([FOREIGN_RULE, 'Cz_u1IQiXIMmKD4c', FOREIGN_RULE], [[1, stale]])]]);
    const hooks: Chain = {
      name: 'INPUT',
      rules: [...inputHook.rules, { match: '-m mark --mark 0x10000/0x10000', action: Actions.accept() }],
    };
    const plan = planRestore(kernel, desired([], [hooks]), LEGACY);
    assert.equal(
      plan.text,
      [
        '*filter',
        `-D INPUT ${stale}`,
        `-I INPUT ${spec('INPUT', [...hooks.rules], 1)}`,
        `-I INPUT ${spec('INPUT', [...hooks.rules], 0)}`,
        'COMMIT',
        '',
      ].join('\n'),
    );
    const after = plan.kernelAfter.get('INPUT')!;
    assert.deepEqual(after.hashes, [...ruleHashes('INPUT', hooks.rules), FOREIGN_RULE, FOREIGN_RULE]);
    assert.equal(after.ourRuleSpecs.get(0), spec('INPUT', [...hooks.rules], 0));
  });

  it('removes rules of ours from chains we no longer hook and leaves foreign chains alone', () => {
    const kernel = kernelOf([
      ['DOCKER', kernelChain(['stale', FOREIGN_RULE], [[0, '-m comment --comment "cali:stale" -j ACCEPT']])],
      ['FOREIGN', kernelChain([FOREIGN_RULE, FOREIGN_RULE])],
      ['OUTPUT', kernelChain([])],
    ]);
    const plan = planRestore(kernel, desired([]), LEGACY);
    assert.equal(plan.text, '*filter\n-D DOCKER -m comment --comment "cali:stale" -j ACCEPT\nCOMMIT\n');
    assert.deepEqual([...plan.kernelAfter.keys()], ['DOCKER']);
  });

  it('looks only at the candidate chains when told', () => {
    const kernel = kernelOf([['cali-old', kernelChain(['x'])]]);
    const plan = planRestore(kernel, desired([policy]), LEGACY, [policy.name]);
    assert.equal(
      plan.text,
      `*filter\n:cali-pi-_pol - -\n-A cali-pi-_pol ${spec(policy.name, [...policy.rules], 0)}\nCOMMIT\n`,
    );
  });
});

describe('startPlan', () => {
  it('makes a big input in pieces as they are taken, and knows the new hashes once all are', () => {
    const chains: Chain[] = [];
    for (let i = 0; i < 300; i++) chains.push({ name: `cali-tw-cali${i}`, rules: endpointRules });
    const planned = startPlan(kernelOf([]), desired(chains), LEGACY);
    assert.equal(planned.empty, false);
    assert.equal(planned.kernelAfter.size, 0);
    const chunks = [...planned.chunks()];
    assert.ok(chunks.length > 1);
    for (const chunk of chunks) {
      assert.ok(chunk.endsWith('\n'));
      assert.ok(chunk.length < 70 * 1024);
    }
    assert.equal(chunks.join(''), planRestore(kernelOf([]), desired(chains), LEGACY).text);
    assert.equal(planned.lineCount, 1 + 300 + 300 * 6 + 1);
    assert.deepEqual(planned.kernelAfter.get('cali-tw-cali7')!.hashes, ruleHashes('cali-tw-cali7', endpointRules));
  });

  it('is empty when the kernel matches', () => {
    const planned = startPlan(kernelOf([[policy.name, written(policy)]]), desired([policy]), LEGACY);
    assert.equal(planned.empty, true);
    assert.deepEqual([...planned.chunks()], []);
  });
});

describe('commandRunner', () => {
  const runner = commandRunner();

  it('feeds a command its input in pieces as it reads them', async () => {
    const pieces = Array.from({ length: 64 }, (_, i) => `${String(i).padStart(4, '0')}${'x'.repeat(32 * 1024)}\n`);
    const result = await runner('cat', [], pieces);
    assert.equal(result.code, 0);
    assert.equal(result.stdout, pieces.join(''));
  });

  it('stops feeding a command that is gone, and reports its status', async () => {
    const pieces = (function* () {
      for (let i = 0; i < 1000; i++) yield 'y'.repeat(64 * 1024);
    })();
    const result = await runner('sh', ['-c', 'head -c 10 >/dev/null; exit 3'], pieces);
    assert.equal(result.code, 3);
  });

  it('kills the command and rejects when making a piece fails', async () => {
    const pieces = (function* () {
      yield 'first\n';
      throw new Error('no more');
    })();
    await assert.rejects(runner('cat', [], pieces), /no more/);
  });

  it('reports a command that cannot start', async () => {
    const result = await runner('/nonexistent/iptables-restore', []);
    assert.equal(result.code, 127);
    assert.match(result.stderr, /cannot start/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Backends

describe('backend detection', () => {
  const rules = (n: number) => `*filter\n:INPUT ACCEPT [0:0]\n${'-A INPUT -j ACCEPT\n'.repeat(n)}COMMIT\n`;

  it('follows Kubernetes hint chains first, then whichever backend holds more rules, nft on a tie', () => {
    assert.equal(chooseBackendMode({ legacy: rules(5), nft: `${rules(0)}:KUBE-IPTABLES-HINT - [0:0]\n` }), 'nft');
    assert.equal(chooseBackendMode({ legacy: `:KUBE-KUBELET-CANARY - [0:0]\n`, nft: rules(5) }), 'legacy');
    assert.equal(chooseBackendMode({ legacy: rules(3), nft: rules(2) }), 'legacy');
    assert.equal(chooseBackendMode({ legacy: rules(2), nft: rules(3) }), 'nft');
    assert.equal(chooseBackendMode({ legacy: '', nft: '' }), 'nft');
    assert.equal(countSavedRules(rules(4)), 4);
  });

  it('knows what each backend needs', () => {
    assert.deepEqual(parseIptablesVersion('iptables v1.8.9 (nf_tables)\n'), [1, 8, 9]);
    assert.equal(parseIptablesVersion('nonsense'), undefined);
    const nft = iptablesBackend('nft', [1, 8, 9]);
    assert.deepEqual(nft, {
      mode: 'nft',
      saveCommand: 'iptables-nft-save',
      restoreCommand: 'iptables-nft-restore',
      rewriteWholeChains: false,
      deleteChainsInSecondTransaction: true,
    });
    assert.equal(iptablesBackend('nft', [1, 8, 2]).rewriteWholeChains, true);
    assert.equal(iptablesBackend('nft').rewriteWholeChains, true);
    assert.equal(iptablesBackend('nft', [1, 10, 0]).rewriteWholeChains, false);
    const legacy = iptablesBackend('legacy');
    assert.deepEqual(
      [legacy.saveCommand, legacy.restoreCommand, legacy.rewriteWholeChains, legacy.deleteChainsInSecondTransaction],
      ['iptables-legacy-save', 'iptables-legacy-restore', false, false],
    );
  });

  it('does not read legacy tables whose module is not loaded', async () => {
    const commands: string[] = [];
    const runner: CommandRunner = async (command, args) => {
      commands.push([command, ...args].join(' '));
      if (command === 'iptables-nft') return ok('iptables v1.8.9 (nf_tables)\n');
      return ok(command.includes('legacy') ? rules(10) : rules(1));
    };
    const notLoaded = await detectBackend({ runner, legacyLoaded: () => false });
    assert.equal(notLoaded.mode, 'nft');
    assert.deepEqual(commands.sort(), ['ip6tables-nft-save', 'iptables-nft --version', 'iptables-nft-save']);
    const loaded = await detectBackend({ runner, legacyLoaded: () => true });
    assert.equal(loaded.mode, 'legacy');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// IptablesTable against an in-memory iptables

function ok(stdout = ''): CommandResult {
  return { code: 0, stdout, stderr: '' };
}

/**
 * Enough of iptables-save and iptables-restore --noflush for one table: chains as lists of rule specs, each
 * transaction applied whole or not at all; rules deleted by value match by exact text.
 */
class FakeIptables {
  chains = new Map<string, string[]>([
    ['INPUT', []],
    ['FORWARD', []],
    ['OUTPUT', []],
  ]);
  saves = 0;
  restoreInputs: string[] = [];
  /** Results to return instead of running the next restores. */
  failures: CommandResult[] = [];
  /** Called when a restore starts, before it takes effect. */
  onRestore: () => void = () => {};

  readonly runner: CommandRunner = async (command, args, input) => {
    if (command.endsWith('-save')) {
      assert.deepEqual(args, ['-t', 'filter']);
      this.saves++;
      return ok(this.save());
    }
    assert.equal(command, 'iptables-legacy-restore');
    assert.deepEqual(args, ['--noflush', '--wait', '10']);
    const text = typeof input === 'string' ? input : [...input!].join('');
    this.restoreInputs.push(text);
    this.onRestore();
    const failure = this.failures.shift();
    return failure ?? this.restore(text);
  };

  save(): string {
    const lines = ['*filter'];
    for (const name of this.chains.keys()) lines.push(`:${name} - [0:0]`);
    for (const [name, rules] of this.chains) for (const rule of rules) lines.push(`-A ${name} ${rule}`);
    return `${lines.join('\n')}\nCOMMIT\n`;
  }

  private restore(input: string): CommandResult {
    const chains = new Map([...this.chains].map(([name, rules]) => [name, [...rules]]));
    const lines = input.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const fail = () => ({ code: 1, stdout: '', stderr: `iptables-restore: line ${i + 1} failed\n` });
      const [op, name, ...rest] = lines[i].split(' ');
      const rules = chains.get(name);
      if (op === '' || op === '*filter' || op === 'COMMIT') continue;
      if (op.startsWith(':')) {
        chains.set(op.slice(1), []);
      } else if (rules === undefined) {
        return fail();
      } else if (op === '-A') {
        rules.push(rest.join(' '));
      } else if (op === '-I') {
        rules.unshift(rest.join(' '));
      } else if (op === '-R' || (op === '-D' && /^\d+$/.test(rest[0]))) {
        const index = Number(rest[0]) - 1;
        if (index >= rules.length) return fail();
        if (op === '-R') rules[index] = rest.slice(1).join(' ');
        else rules.splice(index, 1);
      } else if (op === '-D') {
        const index = rules.indexOf(rest.join(' '));
        if (index === -1) return fail();
        rules.splice(index, 1);
      } else if (op === '-X') {
        chains.delete(name);
      } else {
        return fail();
      }
    }
    this.chains = chains;
    return ok();
  }
}

function fakeTable(fake: FakeIptables, extra: { clock?: () => number; resyncIntervalMs?: number } = {}): IptablesTable {
  return new IptablesTable({
    table: 'filter',
    backend: iptablesBackend('legacy'),
    runner: fake.runner,
    retryDelayMs: 1,
    ...extra,
  });
}

describe('IptablesTable', () => {
  it('writes once, then nothing until something changes', async () => {
    const fake = new FakeIptables();
    fake.chains.set('INPUT', ['-s 192.0.2.1/32 -j ACCEPT']);
    const table = fakeTable(fake);
    table.setChains([endpoint, policy, cali_INPUT]);
    table.setInsertions('INPUT', inputHook.rules);
    const first = await table.apply();
    assert.deepEqual([first.read, first.restores, first.linesWritten], [true, 1, 14]);
    assert.deepEqual(fake.chains.get('INPUT'), [
      '-m comment --comment "cali:Cz_u1IQiXIMmKD4c" --jump cali-INPUT',
      '-s 192.0.2.1/32 -j ACCEPT',
    ]);
    assert.equal(fake.chains.get(endpoint.name)!.length, 6);

    const second = await table.apply();
    assert.deepEqual([second.read, second.restores, second.linesWritten], [false, 0, 0]);
    assert.deepEqual([fake.saves, fake.restoreInputs.length], [1, 1]);
    // Setting the same state again changes nothing either.
    table.setChains([endpoint, policy, cali_INPUT]);
    table.setInsertions('INPUT', inputHook.rules);
    assert.equal((await table.apply()).linesWritten, 0);
    assert.deepEqual(table.stats, {
      linesWritten: 14,
      restores: 1,
      failedRestores: 0,
      reads: 1,
      lastApplyMs: table.stats.lastApplyMs,
    });
  });

  it('takes the same rules in a new array as unchanged, refuses a chain given twice, and drops chains not named', async () => {
    const fake = new FakeIptables();
    const table = fakeTable(fake);
    table.setChains([endpoint, policy]);
    await table.apply();
    table.setChains([endpoint, { name: policy.name, rules: policy.rules.map((r) => ({ ...r })) }]);
    assert.equal((await table.apply()).linesWritten, 0);

    assert.throws(() => table.setChains([policy, endpoint, policy]), /chain cali-pi-_pol given twice/);
    assert.throws(() => table.setChains([cali_INPUT, cali_INPUT]), /chain cali-INPUT given twice/);
    assert.equal((await table.apply()).linesWritten, 0, 'a refused call changes nothing');
    assert.ok(fake.chains.has(policy.name) && !fake.chains.has(cali_INPUT.name));

    table.setChains([endpoint]);
    await table.apply();
    assert.deepEqual([fake.chains.has(endpoint.name), fake.chains.has(policy.name)], [true, false]);
  });

  it('writes one changed chain without reading the kernel', async () => {
    const fake = new FakeIptables();
    const table = fakeTable(fake);
    table.setChains([endpoint, policy]);
    await table.apply();
    table.updateChain({ name: policy.name, rules: [{ match: '-s 10.65.0.3/32', action: Actions.setMark(0x10000) }] });
    const result = await table.apply();
    assert.deepEqual([result.read, result.linesWritten, fake.saves], [false, 3, 1]);
    assert.match(fake.restoreInputs[1], /^\*filter\n-R cali-pi-_pol 1 .* -s 10\.65\.0\.3\/32 --jump MARK/);
  });

  it('repairs what others changed once told to look (markDirty), and deletes chains no longer wanted', async () => {
    const fake = new FakeIptables();
    const table = fakeTable(fake);
    table.setChains([endpoint, policy, cali_INPUT]);
    table.setInsertions('INPUT', inputHook.rules);
    await table.apply();
    const wanted = fake.save();

    fake.chains.get(endpoint.name)!.splice(2, 1);
    fake.chains.set(policy.name, []);
    fake.chains.set('INPUT', ['-j LOG']);
    assert.equal((await table.apply()).linesWritten, 0, 'not looked yet');
    table.markDirty();
    const repaired = await table.apply();
    assert.equal(repaired.read, true);
    assert.deepEqual(fake.chains.get('INPUT'), [
      '-m comment --comment "cali:Cz_u1IQiXIMmKD4c" --jump cali-INPUT',
      '-j LOG',
    ]);
    fake.chains.set('INPUT', fake.chains.get('INPUT')!.slice(0, 1));
    assert.equal(fake.save(), wanted);

    table.removeChain(policy.name);
    table.updateChain({ name: endpoint.name, rules: endpointRules.filter((rule) => rule.action.kind !== 'jump') });
    await table.apply();
    assert.equal(fake.chains.has(policy.name), false);
  });

  it('re-reads the kernel when the resync interval has passed', async () => {
    let now = 1_000_000;
    const fake = new FakeIptables();
    const table = fakeTable(fake, { clock: () => now, resyncIntervalMs: 180_000 });
    table.setChains([policy]);
    await table.apply();
    assert.equal(table.msUntilResync(), 180_000);
    now += 179_999;
    assert.equal((await table.apply()).read, false);
    fake.chains.delete(policy.name);
    now += 1;
    assert.equal(table.msUntilResync(), 0);
    const resynced = await table.apply();
    assert.deepEqual([resynced.read, resynced.restores], [true, 1]);
    assert.equal(fake.chains.get(policy.name)!.length, 1);
  });

  it('retries a failed write after re-reading the kernel', async () => {
    const fake = new FakeIptables();
    const table = fakeTable(fake);
    table.setChains([policy]);
    fake.failures.push({ code: 4, stdout: '', stderr: 'iptables-restore: line 2 failed\n' });
    fake.failures.push({ code: 4, stdout: '', stderr: 'iptables-restore: line 2 failed\n' });
    const result = await table.apply();
    assert.deepEqual([result.failedAttempts, result.restores, fake.saves], [2, 1, 3]);
    assert.equal(fake.chains.get(policy.name)!.length, 1);
    assert.equal(table.stats.failedRestores, 2);
  });

  it('gives up after its tries with the line iptables-restore failed on', async () => {
    const fake = new FakeIptables();
    const table = fakeTable(fake);
    table.setChains([policy]);
    const stderr =
      "iptables-restore v1.8.9 (legacy): Couldn't load match `bogus':No such file or directory\n\n" +
      'Error occurred at line: 3\n' +
      "Try `iptables-restore -h' or 'iptables-restore --help' for more information.\n";
    fake.failures = new Array(5).fill({ code: 2, stdout: '', stderr });
    await assert.rejects(table.apply(), (err: unknown) => {
      assert.ok(err instanceof IptablesRestoreError);
      assert.equal(err.failedLineNumber, 3);
      assert.equal(err.failedLine, `-A cali-pi-_pol ${spec(policy.name, [...policy.rules], 0)}`);
      assert.equal(
        err.message,
        'iptables-legacy-restore --noflush (table filter) failed 5 time(s); last: exit 2 at input line 3 ' +
          `"${err.failedLine}": iptables-restore v1.8.9 (legacy): ` +
          "Couldn't load match `bogus':No such file or directory; Error occurred at line: 3",
      );
      return true;
    });
    assert.equal(fake.restoreInputs.length, 5);
    // The change is still wanted: the next apply writes it.
    assert.equal((await table.apply()).restores, 1);
    assert.equal(fake.chains.get(policy.name)!.length, 1);
  });

  it('keeps changes made while a write runs for the next apply', async () => {
    const fake = new FakeIptables();
    const table = fakeTable(fake);
    table.setChains([policy]);
    const later: Chain = { name: 'cali-later', rules: [{ match: '', action: Actions.drop() }] };
    fake.onRestore = () => {
      table.updateChain(later);
      fake.onRestore = () => {};
    };
    await table.apply();
    assert.equal(fake.chains.has('cali-later'), false);
    assert.equal((await table.apply()).restores, 1);
    assert.equal(fake.chains.get('cali-later')!.length, 1);
  });

  it('refuses chains that are not ours and hooks into ours', () => {
    const table = fakeTable(new FakeIptables());
    assert.throws(() => table.updateChain({ name: 'INPUT', rules: [] }), /chain INPUT is not ours/);
    assert.throws(() => table.setChains([policy, policy]), /given twice/);
    assert.throws(() => table.setInsertions('cali-INPUT', []), /one of our chains/);
  });

  it('finds the failing line in what each iptables-restore prints', () => {
    assert.equal(failedRestoreLine('Error occurred at line: 4\n'), 4);
    assert.equal(failedRestoreLine('iptables-nft-restore: line 2 failed: Index of deletion too big.'), 2);
    assert.equal(failedRestoreLine('line 7: CHAIN_DEL failed (Device or resource busy): chain cali-a'), 7);
    assert.equal(failedRestoreLine('something else'), undefined);
  });
});
