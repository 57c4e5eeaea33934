// Policy and profile chains, after Calico's felix/rules/policy.go (v3.32.0, iptables mode, IPv4, flow logs off): the
// `cali-pi-`/`cali-po-` chains of a policy and the `cali-pri-`/`cali-pro-` chains of a profile, each rule of the
// calculation's ProtoRule turned into the iptables rules Calico writes for it, word for word, so the hashes match.
//
// A verdict leaves a chain in the packet mark: allow sets the accept bit and pass the pass bit, then RETURN to the
// endpoint chain that reads them; deny sets the drop bit and drops. One iptables rule can only AND its matches, and
// holds one source and one destination CIDR and at most 15 multiport slots, so the parts of a ProtoRule that are
// ORs (several CIDRs, several port groups, named ports beside numeric ones) become "match blocks" ahead of the main
// rule: each block ORs its alternatives into a scratch mark bit, and the main rule requires that bit.
import { ipSetNameForId } from '../../policy';
import type { IcmpMatch, PortRange, ProtoPolicy, ProtoProfile, ProtoRule, RuleProtocol } from '../../policy/rule';
import type { DesiredPolicy, EndpointPolicy, PolicyTable, SelectorIpSet } from '../calc/policy';
import type { IpSetSpec } from '../ipsets';
import { type Action, Actions, type Chain, type Rule } from '../iptables';
import { MARK_ACCEPT, MARK_DROP, MARK_PASS, MARK_SCRATCH0, MARK_SCRATCH1 } from './defs';
import { endpointChainName, type PolicyDirection } from './endpoints';
import {
  all,
  destIpSet,
  destNet,
  markClear,
  markSet,
  notDestIpSet,
  protocol,
  protocolNumber,
  sourceIpSet,
  sourceNet,
} from './match';
import type { BaseRulesInput } from './render';

export const POLICY_INBOUND_PREFIX = 'cali-pi-';
export const POLICY_OUTBOUND_PREFIX = 'cali-po-';
export const PROFILE_INBOUND_PREFIX = 'cali-pri-';
export const PROFILE_OUTBOUND_PREFIX = 'cali-pro-';

/** Calico's LogPrefix default. */
const DEFAULT_LOG_PREFIX = 'calico-packet';
/** Calico's LogActionRateLimitBurst default, used once a rate limit is set. */
const DEFAULT_LOG_RATE_LIMIT_BURST = 5;

/** iptables' multiport match holds 15 slots: a port takes one, a range two. */
const MULTIPORT_SLOTS = 15;

/** The policy kinds felix knows, each with the short name Calico puts in chain names and LOG prefixes. */
const POLICY_KIND_SHORT_NAMES = {
  NetworkPolicy: 'np',
  GlobalNetworkPolicy: 'gnp',
  StagedNetworkPolicy: 'snp',
  StagedGlobalNetworkPolicy: 'sgnp',
  StagedKubernetesNetworkPolicy: 'sknp',
  KubernetesNetworkPolicy: 'knp',
  KubernetesClusterNetworkPolicy: 'kcnp',
} as const;

export type PolicyKind = keyof typeof POLICY_KIND_SHORT_NAMES;

/** Staged policies only report what they would do (flow logs); Calico renders no chains for them. */
const STAGED_KINDS: ReadonlySet<PolicyKind> = new Set([
  'StagedNetworkPolicy',
  'StagedGlobalNetworkPolicy',
  'StagedKubernetesNetworkPolicy',
]);

/** The FelixConfiguration settings that change how rules render; each defaults to Calico's default. */
export interface PolicyRenderOptions {
  /** logPrefix: `%t` tier, `%k` kind's short name, `%n` name, `%p` namespace/name. Default `calico-packet`. */
  logPrefix?: string;
  /** logActionRateLimit, e.g. `10/second`: LOG rules then match `-m limit`. Unset: no limit. */
  logActionRateLimit?: string;
  /** logActionRateLimitBurst: 0 leaves `--limit-burst` out. Default 5. */
  logActionRateLimitBurst?: number;
  /** iptablesFilterDenyAction. Default drop. */
  denyAction?: 'drop' | 'reject';
}

/** Whose rules these are, for the LOG prefix's specifiers (Calico's IDMaker and the tier). */
export interface RuleOwner {
  /** `gnp`, `np`, ... for policies, `pro` for profiles. */
  kindShortName: string;
  /** Empty unless the owner is namespaced. */
  namespace: string;
  name: string;
  /** Empty for profiles. */
  tier: string;
}

/**
 * Calico's PolicyChainName: the prefix and `<kind>/<name>` (`name` as ProtoPolicy has it, `<namespace>/<name>` for
 * namespaced kinds), hashed to fit when too long.
 */
export function policyChainName(direction: PolicyDirection, kind: PolicyKind, name: string): string {
  const prefix = direction === 'ingress' ? POLICY_INBOUND_PREFIX : POLICY_OUTBOUND_PREFIX;
  return endpointChainName(prefix, `${POLICY_KIND_SHORT_NAMES[kind]}/${name}`);
}

/** Calico's ProfileChainName: the prefix and the profile's name, hashed to fit when too long. */
export function profileChainName(direction: PolicyDirection, name: string): string {
  return endpointChainName(direction === 'ingress' ? PROFILE_INBOUND_PREFIX : PROFILE_OUTBOUND_PREFIX, name);
}

/**
 * Calico's PolicyToIptablesChains: the inbound chain, then the outbound one, both always present (a direction without
 * rules gets a chain holding only its comment). ProtoPolicy carries no kind, so it is given beside it.
 */
export function policyChains(policy: ProtoPolicy, kind: PolicyKind, options: PolicyRenderOptions = {}): Chain[] {
  if (STAGED_KINDS.has(kind)) return [];
  const slash = policy.name.indexOf('/');
  const owner: RuleOwner = {
    kindShortName: POLICY_KIND_SHORT_NAMES[kind],
    namespace: slash < 0 ? '' : policy.name.slice(0, slash),
    name: policy.name.slice(slash + 1),
    tier: policy.tier,
  };
  return [
    {
      name: policyChainName('ingress', kind, policy.name),
      rules: chainRules(policy.inboundRules, owner, options, `${kind} ${policy.name} ingress`),
    },
    {
      name: policyChainName('egress', kind, policy.name),
      rules: chainRules(policy.outboundRules, owner, options, `${kind} ${policy.name} egress`),
    },
  ];
}

/** Calico's ProfileToIptablesChains: the inbound chain, then the outbound one. */
export function profileChains(profile: ProtoProfile, options: PolicyRenderOptions = {}): Chain[] {
  const owner: RuleOwner = { kindShortName: 'pro', namespace: '', name: profile.name, tier: '' };
  return [
    {
      name: profileChainName('ingress', profile.name),
      rules: chainRules(profile.inboundRules, owner, options, `Profile ${profile.name} ingress`),
    },
    {
      name: profileChainName('egress', profile.name),
      rules: chainRules(profile.outboundRules, owner, options, `Profile ${profile.name} egress`),
    },
  ];
}

/**
 * Calico's ProtoRulesToIptablesRules: the rules of every ProtoRule in order, without the RETURNs at the end (they
 * change nothing there), and the chain's comment on the first rule (a rule of its own when there is none).
 */
function chainRules(
  protoRules: readonly ProtoRule[],
  owner: RuleOwner,
  options: PolicyRenderOptions,
  chainComment: string,
): Rule[] {
  const rules = protoRules.flatMap((protoRule) => protoRuleToRules(protoRule, owner, options));
  while (rules.length > 0 && rules[rules.length - 1].action.kind === 'return') rules.pop();
  const [first = { match: '', action: Actions.fragment('') }, ...rest] = rules;
  return [{ ...first, comment: [...(first.comment ?? []), chainComment] }, ...rest];
}

/**
 * Calico's SplitPortList: the ports in order, in groups that each fit one multiport match (a new group starts when
 * the next port or range would not fit). No ports, no groups.
 */
export function splitPortList(ports: readonly PortRange[]): PortRange[][] {
  const groups: PortRange[][] = [];
  let group: PortRange[] = [];
  let slotsLeft = MULTIPORT_SLOTS;
  for (const range of ports) {
    const slots = range.first === range.last ? 1 : 2;
    if (slots > slotsLeft) {
      groups.push(group);
      group = [];
      slotsLeft = MULTIPORT_SLOTS;
    }
    group.push(range);
    slotsLeft -= slots;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/**
 * Calico's ProtoRuleToIptablesRules for IPv4: the match blocks the rule needs, the main rule, and the rules that
 * carry out its action, each with the rule's annotations as `key=value` comments. None when the rule cannot match
 * IPv4 traffic.
 */
export function protoRuleToRules(protoRule: ProtoRule, owner: RuleOwner, options: PolicyRenderOptions = {}): Rule[] {
  const rule = ipv4Rule(protoRule);
  if (rule === undefined) return [];
  const blocks = new MatchBlocks();

  // Numeric port groups and named-port sets are alternatives: more than one in a direction needs a block.
  const srcPortGroups = splitPortList(rule.srcPorts);
  if (srcPortGroups.length + rule.srcNamedPortIpSetIds.length > 1) {
    blocks.positive([
      ...srcPortGroups.map((group) => all(...protocolMatches(rule.protocol), sourcePortRanges(group))),
      ...rule.srcNamedPortIpSetIds.map((id) => sourceIpPortSet(ipSetNameForId(id))),
    ]);
    rule.srcPorts = [];
    rule.srcNamedPortIpSetIds = [];
  }
  const dstPortGroups = splitPortList(rule.dstPorts);
  if (dstPortGroups.length + rule.dstNamedPortIpSetIds.length > 1) {
    blocks.positive([
      ...dstPortGroups.map((group) => all(...protocolMatches(rule.protocol), destPortRanges(group))),
      ...rule.dstNamedPortIpSetIds.map((id) => destIpPortSet(ipSetNameForId(id))),
    ]);
    rule.dstPorts = [];
    rule.dstNamedPortIpSetIds = [];
  }
  // One CIDR fits in the main rule; several are alternatives.
  if (rule.srcNet.length > 1) {
    blocks.positive(rule.srcNet.map(sourceNet));
    rule.srcNet = [];
  }
  if (rule.dstNet.length > 1) {
    blocks.positive(rule.dstNet.map(destNet));
    rule.dstNet = [];
  }
  // iptables takes one source and one destination CIDR per rule, negated or not: what does not fit is a block.
  if (rule.srcNet.length + rule.notSrcNet.length > 1) {
    blocks.negated(rule.notSrcNet.map(sourceNet));
    rule.notSrcNet = [];
  }
  if (rule.dstNet.length + rule.notDstNet.length > 1) {
    blocks.negated(rule.notDstNet.map(destNet));
    rule.notDstNet = [];
  }

  const matches = ruleMatches(rule);
  if (blocks.used) matches.push(markSet(MARK_SCRATCH0));
  const rules = [...blocks.rules, ...actionRules(rule.action, all(...matches), owner, options)];
  // Calico walks a Go map, in no fixed order; sorted keys keep the text, and so the hashes, stable.
  const annotations = Object.entries(protoRule.annotations ?? {})
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([key, value]) => `${key}=${value}`);
  return annotations.length === 0
    ? rules
    : rules.map((r) => ({ ...r, comment: [...(r.comment ?? []), ...annotations] }));
}

/**
 * Calico's FilterRuleToIPVersion for IPv4: the rule without its IPv6 CIDRs, or undefined when a CIDR list had only
 * IPv6 ones (the rule cannot match) or a negated list holds 0.0.0.0/0 (it matches nothing).
 */
function ipv4Rule(rule: ProtoRule): ProtoRule | undefined {
  const srcNet = ipv4Nets(rule.srcNet, false);
  const notSrcNet = ipv4Nets(rule.notSrcNet, true);
  const dstNet = ipv4Nets(rule.dstNet, false);
  const notDstNet = ipv4Nets(rule.notDstNet, true);
  if (srcNet === undefined || notSrcNet === undefined || dstNet === undefined || notDstNet === undefined) {
    return undefined;
  }
  return { ...rule, srcNet, notSrcNet, dstNet, notDstNet };
}

function ipv4Nets(nets: readonly string[], negated: boolean): string[] | undefined {
  if (nets.length === 0) return [];
  const kept: string[] = [];
  for (const net of nets) {
    if (net.includes(':')) continue;
    if (negated && net === '0.0.0.0/0') return undefined;
    kept.push(net);
  }
  return kept.length === 0 ? undefined : kept;
}

/**
 * Calico's matchBlockBuilder. Scratch 0 ends up set when every block matched. The first block to start clears both
 * bits (or, if it is negated, sets scratch 0). The first positive block sets scratch 0 directly; later ones OR into
 * scratch 1 and then clear scratch 0 where scratch 1 stayed clear. Negated blocks clear scratch 0 on any match.
 */
class MatchBlocks {
  readonly rules: Rule[] = [];
  private started = false;
  private positiveDone = false;

  get used(): boolean {
    return this.started;
  }

  positive(alternatives: readonly string[]): void {
    this.start(0);
    const mark = this.positiveDone ? MARK_SCRATCH1 : MARK_SCRATCH0;
    for (const match of alternatives) this.rules.push({ match, action: Actions.setMark(mark) });
    if (this.positiveDone) {
      this.rules.push({ match: markClear(MARK_SCRATCH1), action: Actions.clearMark(MARK_SCRATCH0) });
    }
    this.positiveDone = true;
  }

  negated(matches: readonly string[]): void {
    this.start(MARK_SCRATCH0);
    for (const match of matches) this.rules.push({ match, action: Actions.clearMark(MARK_SCRATCH0) });
  }

  private start(initialBits: number): void {
    if (this.started) return;
    this.rules.push({ match: '', action: Actions.setMark(initialBits, MARK_SCRATCH0 | MARK_SCRATCH1) });
    this.started = true;
  }
}

/** Calico's CalculateRuleMatch: every match the blocks left in the rule, positive ones first, in Calico's order. */
function ruleMatches(rule: ProtoRule): string[] {
  return [
    ...protocolMatches(rule.protocol),
    ...rule.srcNet.map(sourceNet),
    ...rule.srcIpSetIds.map((id) => sourceIpSet(ipSetNameForId(id))),
    ...(rule.srcPorts.length > 0 ? [sourcePortRanges(rule.srcPorts)] : []),
    ...rule.srcNamedPortIpSetIds.map((id) => sourceIpPortSet(ipSetNameForId(id))),
    ...rule.dstNet.map(destNet),
    ...rule.dstIpSetIds.map((id) => destIpSet(ipSetNameForId(id))),
    ...(rule.dstPorts.length > 0 ? [destPortRanges(rule.dstPorts)] : []),
    ...rule.dstNamedPortIpSetIds.map((id) => destIpPortSet(ipSetNameForId(id))),
    ...(rule.icmp === undefined ? [] : [icmpType(rule.icmp)]),
    ...(rule.notProtocol === undefined ? [] : [notProtocol(rule.notProtocol)]),
    ...rule.notSrcNet.map(notSourceNet),
    ...rule.notSrcIpSetIds.map((id) => notSourceIpSet(ipSetNameForId(id))),
    ...splitPortList(rule.notSrcPorts).map(notSourcePortRanges),
    ...rule.notSrcNamedPortIpSetIds.map((id) => notSourceIpPortSet(ipSetNameForId(id))),
    ...rule.notDstNet.map(notDestNet),
    ...rule.notDstIpSetIds.map((id) => notDestIpSet(ipSetNameForId(id))),
    ...splitPortList(rule.notDstPorts).map(notDestPortRanges),
    ...rule.notDstNamedPortIpSetIds.map((id) => notDestIpPortSet(ipSetNameForId(id))),
    ...(rule.notIcmp === undefined ? [] : [notIcmpType(rule.notIcmp)]),
  ];
}

/**
 * Calico's CombineMatchAndActionsForProtoRule. Allow, pass and deny set their mark bit on a match and act in a rule
 * of their own on that bit; log logs on the match itself and lets the packet go on.
 */
function actionRules(
  action: ProtoRule['action'],
  match: string,
  owner: RuleOwner,
  options: PolicyRenderOptions,
): Rule[] {
  switch (action) {
    case 'allow':
      return markThen(match, MARK_ACCEPT, Actions.return());
    case 'pass':
      return markThen(match, MARK_PASS, Actions.return());
    case 'deny':
      return markThen(match, MARK_DROP, options.denyAction === 'reject' ? Actions.reject() : Actions.drop());
    case 'log': {
      const rate = options.logActionRateLimit;
      const burst = options.logActionRateLimitBurst ?? DEFAULT_LOG_RATE_LIMIT_BURST;
      const matches = rate === undefined ? [match] : [limit(rate, burst), match];
      return [{ match: all(...matches.filter((m) => m !== '')), action: Actions.log(logPrefix(owner, options)) }];
    }
  }
}

function markThen(match: string, mark: number, then: Action): Rule[] {
  return [
    { match, action: Actions.setMark(mark) },
    { match: markSet(mark), action: then },
  ];
}

/** Calico's generateLogPrefix: the configured prefix with `%t`, `%k`, `%n` and `%p` replaced; other `%`s stay. */
function logPrefix(owner: RuleOwner, options: PolicyRenderOptions): string {
  const format = options.logPrefix || DEFAULT_LOG_PREFIX;
  const values: Record<string, string> = {
    '%t': owner.tier,
    '%k': owner.kindShortName,
    '%n': owner.name,
    '%p': owner.namespace === '' ? owner.name : `${owner.namespace}/${owner.name}`,
  };
  return format.replace(/%[tknp]/g, (specifier) => values[specifier]);
}

function protocolMatches(p: RuleProtocol | undefined): string[] {
  return p === undefined ? [] : [protocolMatch(p)];
}

// Match builders match.ts lacks, written as Calico's match builder writes them.

function protocolMatch(p: RuleProtocol): string {
  return 'name' in p ? protocol(p.name) : protocolNumber(p.number);
}

function notProtocol(p: RuleProtocol): string {
  return `! ${protocolMatch(p)}`;
}

function notSourceNet(cidr: string): string {
  return `! --source ${cidr}`;
}

function notDestNet(cidr: string): string {
  return `! --destination ${cidr}`;
}

function notSourceIpSet(name: string): string {
  return `-m set ! --match-set ${name} src`;
}

/** A named-port set holds (IP, protocol, port) entries: address and port are looked up on the same side. */
function sourceIpPortSet(name: string): string {
  return `-m set --match-set ${name} src,src`;
}

function notSourceIpPortSet(name: string): string {
  return `-m set ! --match-set ${name} src,src`;
}

function destIpPortSet(name: string): string {
  return `-m set --match-set ${name} dst,dst`;
}

function notDestIpPortSet(name: string): string {
  return `-m set ! --match-set ${name} dst,dst`;
}

/** Calico's PortRangesToMultiport: `80`, `8000:8080`, comma-separated. */
function multiport(ranges: readonly PortRange[]): string {
  return ranges.map((r) => (r.first === r.last ? `${r.first}` : `${r.first}:${r.last}`)).join(',');
}

function sourcePortRanges(ranges: readonly PortRange[]): string {
  return `-m multiport --source-ports ${multiport(ranges)}`;
}

function notSourcePortRanges(ranges: readonly PortRange[]): string {
  return `-m multiport ! --source-ports ${multiport(ranges)}`;
}

function destPortRanges(ranges: readonly PortRange[]): string {
  return `-m multiport --destination-ports ${multiport(ranges)}`;
}

function notDestPortRanges(ranges: readonly PortRange[]): string {
  return `-m multiport ! --destination-ports ${multiport(ranges)}`;
}

function icmpTypeCode(icmp: IcmpMatch): string {
  return icmp.code === undefined ? `${icmp.type}` : `${icmp.type}/${icmp.code}`;
}

function icmpType(icmp: IcmpMatch): string {
  return `-m icmp --icmp-type ${icmpTypeCode(icmp)}`;
}

function notIcmpType(icmp: IcmpMatch): string {
  return `-m icmp ! --icmp-type ${icmpTypeCode(icmp)}`;
}

/** `-m limit --limit <rate>`, with `--limit-burst` unless the burst is 0. */
function limit(rate: string, burst: number): string {
  return burst === 0 ? `-m limit --limit ${rate}` : `-m limit --limit ${rate} --limit-burst ${burst}`;
}

/** The comment Calico's endpoint chains give the drop at the end of a tier whose default action is Deny. */
export function endOfTierComment(tier: string): string {
  return `End of tier ${tier}. Drop if no policies passed packet`;
}

/** What an endpoint chain runs in one direction: the tiers that apply, then the endpoint's profiles. */
export interface EndpointPolicyPlan {
  tiers: readonly {
    name: string;
    defaultAction: 'Deny' | 'Pass';
    policies: readonly { kind: PolicyKind; name: string }[];
  }[];
  profiles: readonly string[];
  /** The raw table's untracked policy: what a policy accepts is also exempted from conntrack (NOTRACK). */
  untracked?: boolean;
  /**
   * Default true: a tier whose default action is Deny drops what none of its policies passed. False for untracked
   * and pre-DNAT policy (as Calico): the filter table's policy is still to come.
   */
  endOfTierDrop?: boolean;
}

/**
 * The policy part of an endpoint chain, as Calico's endpoints.go writes it: per tier, clear the pass bit, jump to
 * each policy chain while nothing passed, return once one accepted, and at the tier's end drop what no policy
 * passed on (unless the tier's default action is Pass); then each profile the same way. The chain's last rule
 * (drop if no profile matched) is the caller's.
 */
export function endpointPolicyRules(direction: PolicyDirection, plan: EndpointPolicyPlan): Rule[] {
  const rules: Rule[] = [];
  for (const tier of plan.tiers) {
    rules.push({ match: '', action: Actions.clearMark(MARK_PASS), comment: [`Start of tier ${tier.name}`] });
    for (const policy of tier.policies) {
      rules.push({
        match: markClear(MARK_PASS),
        action: Actions.jump(policyChainName(direction, policy.kind, policy.name)),
      });
      if (plan.untracked) rules.push({ match: markSet(MARK_ACCEPT), action: Actions.noTrack() });
      rules.push({ match: markSet(MARK_ACCEPT), action: Actions.return(), comment: ['Return if policy accepted'] });
    }
    if (tier.defaultAction === 'Deny' && plan.endOfTierDrop !== false) {
      rules.push({
        match: markClear(MARK_PASS),
        action: Actions.drop(),
        comment: [endOfTierComment(tier.name)],
      });
    }
  }
  for (const profile of plan.profiles) {
    rules.push(
      { match: '', action: Actions.jump(profileChainName(direction, profile)) },
      { match: markSet(MARK_ACCEPT), action: Actions.return(), comment: ['Return if profile accepted'] },
    );
  }
  return rules;
}

/** What was rendered from each endpoint plan, policy, profile and set of a PolicyCalculation, kept by identity. */
export class PolicyRenderMemo {
  readonly endpointRules = new WeakMap<EndpointPolicy, Record<PolicyDirection, readonly Rule[]>>();
  readonly chains = new WeakMap<object, Chain[]>();
  readonly ipSets = new WeakMap<SelectorIpSet, IpSetSpec>();
}

/** What `make` gives for `key`, made once per key object. */
function remembered<K extends object, V>(memo: WeakMap<K, V>, key: K, make: () => V): V {
  let value = memo.get(key);
  if (value === undefined) {
    value = make();
    memo.set(key, value);
  }
  return value;
}

/**
 * The policy part of renderBaseRules' input from the calculation's result. What the calculation kept (the same
 * plan, policy, profile or set object as last time) is rendered once per memo and handed over as the same arrays,
 * which the iptables and ipset engines then skip with one comparison.
 */
export function policyRulesInput(
  policy: DesiredPolicy,
  memo: PolicyRenderMemo,
): Pick<
  BaseRulesInput,
  | 'endpointPolicy'
  | 'hostEndpointInterfaces'
  | 'hostEndpointPolicy'
  | 'policyChains'
  | 'untrackedPolicyChains'
  | 'preDnatPolicyChains'
  | 'policyIpSets'
> {
  const inTable = (table: PolicyTable) =>
    policy.policies.flatMap((p) =>
      p.table === table ? remembered(memo.chains, p, () => policyChains(p.policy, p.kind)) : [],
    );
  return {
    hostEndpointInterfaces: policy.hostInterfaces,
    hostEndpointPolicy: (iface, direction, chain) => {
      const plan = policy.endpoints.get(iface);
      if (chain === 'normal')
        return endpointPolicyRules(direction, { tiers: plan?.[direction] ?? [], profiles: plan?.profiles ?? [] });
      const tiers = plan?.[chain]?.[direction] ?? [];
      const untracked = chain === 'untracked';
      return endpointPolicyRules(direction, { tiers, profiles: [], untracked, endOfTierDrop: chain === 'forward' });
    },
    // An endpoint felix knows no policy or profile of gets none: its chain drops everything, as Calico's does.
    endpointPolicy: (iface, direction) => {
      const plan = policy.endpoints.get(iface);
      if (!plan) return endpointPolicyRules(direction, { tiers: [], profiles: [] });
      return remembered(memo.endpointRules, plan, () => ({
        ingress: endpointPolicyRules('ingress', { tiers: plan.ingress, profiles: plan.profiles }),
        egress: endpointPolicyRules('egress', { tiers: plan.egress, profiles: plan.profiles }),
      }))[direction];
    },
    policyChains: [
      ...inTable('filter'),
      ...policy.profiles.flatMap((p) => remembered(memo.chains, p, () => profileChains(p))),
    ],
    untrackedPolicyChains: inTable('raw'),
    preDnatPolicyChains: inTable('mangle'),
    policyIpSets: policy.ipSets.map((set) =>
      remembered(memo.ipSets, set, () => ({ name: ipSetNameForId(set.id), type: set.type, members: set.members })),
    ),
  };
}
