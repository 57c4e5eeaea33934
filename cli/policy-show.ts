// `tabbyctl policy show --endpoint NAME`: the policies that apply to one workload endpoint, in the order felix
// evaluates them, with the iptables chains they render to (what calicoq's `endpoint` command and Calico
// Enterprise's policy ordering view show). Selection and ordering are felix's own calculation (felix/calc/policy.ts)
// run over the datastore's resources; this module only reads those resources and presents the result.
import { type KindInfo, kindByAlias, type ResourceClient } from '../datastore';
import { applyResourceUpdates, emptyInputs } from '../felix/calc/inputs';
import { computePolicy, type EndpointTier, type PolicyInputs, type TierDefaultAction } from '../felix/calc/policy';
import { WORKLOAD_FROM_ENDPOINT_PREFIX, WORKLOAD_TO_ENDPOINT_PREFIX } from '../felix/rules/defs';
import { endpointChainName, NO_PROFILE_MATCHED_COMMENT, type PolicyDirection } from '../felix/rules/endpoints';
import { endOfTierComment, type PolicyKind, policyChainName, profileChainName } from '../felix/rules/policy';
import type { CliContext } from './context';

export const POLICY_USAGE = `Usage: tabbyctl policy show --endpoint NAME [-n NAMESPACE] [-o table|json]

  The policies that apply to a workload endpoint (NAME as in the datastore, e.g. node1-k8s-web--0-eth0;
  NAMESPACE defaults to "default"), per direction in evaluation order: tiers, their policies, then profiles.
`;

export interface ShownPolicy {
  kind: PolicyKind;
  /** `<namespace>/<name>`, or `<name>` for a GlobalNetworkPolicy. */
  name: string;
  /** null: no order, evaluated after every ordered policy of its tier. */
  order: number | null;
  chain: string;
}

export interface ShownTier {
  name: string;
  /** null: no order, evaluated after every ordered tier. */
  order: number | null;
  defaultAction: TierDefaultAction;
  policies: ShownPolicy[];
}

export interface ShownProfile {
  name: string;
  chain: string;
}

/** Where traffic that no rule matches ends: always dropped, by a tier's default action or after the profiles. */
export interface UnmatchedTraffic {
  action: 'Drop';
  /** The tier whose default action drops it; null when it reaches the profiles and none matches. */
  tier: string | null;
  /** The comment of the iptables rule that drops it. */
  rule: string;
}

export interface DirectionPolicy {
  /** The endpoint chain this direction's policy hangs off (cali-tw- for ingress, cali-fw- for egress). */
  chain: string;
  tiers: ShownTier[];
  profiles: ShownProfile[];
  unmatched: UnmatchedTraffic;
}

export interface EndpointPolicyView {
  endpoint: {
    namespace: string;
    name: string;
    workload: string;
    node: string;
    interface: string;
    ipNetworks: string[];
  };
  ingress: DirectionPolicy;
  egress: DirectionPolicy;
  /** Profiles the endpoint names that do not exist: felix skips them. */
  missingProfiles: string[];
}

interface WorkloadEndpointSpec {
  workload?: string;
  pod?: string;
  node?: string;
  interfaceName?: string;
  ipNetworks?: string[];
  profiles?: string[];
}

/** An order as shown: Infinity (none given, evaluated last) is null in JSON. */
function shownOrder(order: number): number | null {
  return Number.isFinite(order) ? order : null;
}

function directionPolicy(
  direction: PolicyDirection,
  iface: string,
  tiers: readonly EndpointTier[],
  profiles: readonly string[],
): DirectionPolicy {
  const shownTiers = tiers.map((tier) => ({
    name: tier.name,
    order: shownOrder(tier.order),
    defaultAction: tier.defaultAction,
    policies: tier.policies.map((ref) => ({
      kind: ref.kind,
      name: ref.name,
      order: shownOrder(ref.order),
      chain: policyChainName(direction, ref.kind, ref.name),
    })),
  }));
  const denyingTier = tiers.find((t) => t.defaultAction === 'Deny');
  return {
    chain: endpointChainName(
      direction === 'ingress' ? WORKLOAD_TO_ENDPOINT_PREFIX : WORKLOAD_FROM_ENDPOINT_PREFIX,
      iface,
    ),
    tiers: shownTiers,
    profiles: profiles.map((name) => ({ name, chain: profileChainName(direction, name) })),
    unmatched: denyingTier
      ? { action: 'Drop', tier: denyingTier.name, rule: endOfTierComment(denyingTier.name) }
      : { action: 'Drop', tier: null, rule: NO_PROFILE_MATCHED_COMMENT },
  };
}

/**
 * What applies to the endpoint `<namespace>/<name>` in `inputs` (keyed as felix/calc/inputs.ts keys them), by felix's
 * calculation; undefined when the endpoint is not among the inputs.
 */
export function endpointPolicyView(
  inputs: PolicyInputs,
  namespace: string,
  name: string,
): EndpointPolicyView | undefined {
  const key = `${namespace}/${name}`;
  const endpoint = inputs.endpoints.get(key);
  if (!endpoint) return undefined;
  // The key stands in for the interface: it only names the calculation's result.
  const result = computePolicy(inputs, [{ iface: key, endpoint: key }]).endpoints.get(key)!;
  const spec = (endpoint.spec ?? {}) as WorkloadEndpointSpec;
  const iface = spec.interfaceName ?? '';
  return {
    endpoint: {
      namespace,
      name,
      workload: spec.workload || spec.pod || '',
      node: spec.node ?? '',
      interface: iface,
      ipNetworks: spec.ipNetworks ?? [],
    },
    ingress: directionPolicy('ingress', iface, result.ingress, result.profiles),
    egress: directionPolicy('egress', iface, result.egress, result.profiles),
    missingProfiles: (spec.profiles ?? []).filter((p) => !result.profiles.includes(p)),
  };
}

// ---- rendering

/** Columns padded to a common width, three spaces apart, as calicoctl's tables are. */
function aligned(rows: readonly string[][], indent: string): string[] {
  const widths = rows[0]!.map((_c, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) =>
    (indent + row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]! + 3))).join('')).trimEnd(),
  );
}

const orderText = (order: number | null): string => (order === null ? '-' : String(order));

function tierFallThrough(tier: ShownTier, next: string): string {
  return tier.defaultAction === 'Deny'
    ? `no policy matched: Deny (${endOfTierComment(tier.name)})`
    : `no policy matched: Pass, on to ${next}`;
}

function directionLines(title: string, policy: DirectionPolicy): string[] {
  const lines = [`${title} (chain ${policy.chain})`];
  if (policy.tiers.length === 0) lines.push('  no policy selects this endpoint: its profiles decide');
  // One set of column widths for the whole direction, so the tiers' policies line up with each other.
  const policyRows = aligned(
    [
      ['ORDER', 'KIND', 'NAME', 'CHAIN'],
      ...policy.tiers.flatMap((t) => t.policies.map((p) => [orderText(p.order), p.kind, p.name, p.chain])),
    ],
    '    ',
  );
  let row = 1;
  policy.tiers.forEach((tier, i) => {
    const next = i + 1 < policy.tiers.length ? `tier ${policy.tiers[i + 1]!.name}` : 'the profiles';
    lines.push(`  TIER ${tier.name} (order ${orderText(tier.order)}, default action ${tier.defaultAction})`);
    lines.push(policyRows[0]!, ...policyRows.slice(row, row + tier.policies.length));
    row += tier.policies.length;
    lines.push(`    ${tierFallThrough(tier, next)}`);
  });
  const reached = policy.tiers.length > 0 ? ' (for traffic every tier passed on)' : '';
  if (policy.profiles.length === 0) lines.push(`  PROFILES${reached}: none`);
  else {
    lines.push(`  PROFILES${reached}`);
    lines.push(...aligned([['NAME', 'CHAIN'], ...policy.profiles.map((p) => [p.name, p.chain])], '    '));
  }
  lines.push(`    no profile matched: Drop (${NO_PROFILE_MATCHED_COMMENT})`);
  const { unmatched } = policy;
  lines.push(
    unmatched.tier === null
      ? `  Traffic no rule matches: Drop, after the profiles (${unmatched.rule})`
      : `  Traffic no rule matches: Drop, by the default action of tier ${unmatched.tier}`,
  );
  return lines;
}

export function renderPolicyTable(view: EndpointPolicyView): string {
  const { endpoint } = view;
  const networks = endpoint.ipNetworks.length > 0 ? endpoint.ipNetworks.join(',') : 'none';
  const lines = [
    `Workload endpoint ${endpoint.namespace}/${endpoint.name}`,
    `  workload ${endpoint.workload || '-'}, node ${endpoint.node || '-'}, interface ${endpoint.interface || '-'}, networks ${networks}`,
    ...view.missingProfiles.map((p) => `  profile ${p} does not exist: skipped`),
    '',
    ...directionLines('INGRESS, traffic to the endpoint', view.ingress),
    '',
    ...directionLines('EGRESS, traffic from the endpoint', view.egress),
  ];
  return `${lines.join('\n')}\n`;
}

export function renderPolicyJson(view: EndpointPolicyView): string {
  return `${JSON.stringify(view, null, 2)}\n`;
}

// ---- datastore

/** The kinds whose resources decide which policies select an endpoint and in which order. */
const POLICY_KINDS = ['networkpolicy', 'knp', 'globalnetworkpolicy', 'tier', 'profile'].map(
  (alias) => kindByAlias(alias)!,
);
const WORKLOAD_ENDPOINT: KindInfo = kindByAlias('workloadendpoint')!;

/**
 * The calculation's inputs for one endpoint: the endpoint itself, the policies that could select it (namespaced
 * ones from its namespace only, as no other namespace's can), every tier and profile. Other endpoints and network
 * sets only fill IP sets, which this view does not show. Rejects with NotFound when the endpoint does not exist.
 */
export async function readPolicyInputs(client: ResourceClient, namespace: string, name: string): Promise<PolicyInputs> {
  const resources = [await client.get(WORKLOAD_ENDPOINT, name, namespace)];
  for (const kind of POLICY_KINDS) resources.push(...(await client.list(kind, { namespace })));
  const inputs = emptyInputs();
  applyResourceUpdates(
    inputs,
    resources.map((object) => ({ type: 'ADDED', object })),
  );
  return inputs;
}

const FORMATS = ['table', 'json'] as const;

async function showCommand(ctx: CliContext, args: string[]): Promise<string> {
  const { values, positionals } = ctx.parse(args, {
    endpoint: { type: 'string' },
    namespace: { type: 'string', short: 'n' },
    output: { type: 'string', short: 'o' },
  });
  if (values.help) return POLICY_USAGE;
  if (positionals.length > 0) throw ctx.usageError(`policy show: unexpected argument "${positionals[0]}"`);
  if (typeof values.endpoint !== 'string' || values.endpoint === '') {
    throw ctx.usageError('policy show: --endpoint NAME is required');
  }
  const format = String(values.output ?? 'table');
  if (!(FORMATS as readonly string[]).includes(format)) {
    throw ctx.usageError(`-o: output format must be one of ${FORMATS.join(', ')}, got "${format}"`);
  }
  const namespace = String(values.namespace ?? 'default');
  const { client, close } = ctx.openDatastore(values);
  try {
    const inputs = await readPolicyInputs(client, namespace, values.endpoint);
    const view = endpointPolicyView(inputs, namespace, values.endpoint)!;
    return format === 'json' ? renderPolicyJson(view) : renderPolicyTable(view);
  } finally {
    await close();
  }
}

/** `tabbyctl policy ...`: what to print; usage and datastore errors are thrown for the caller's one-line report. */
export async function policyCommand(args: string[], ctx: CliContext): Promise<string> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'show':
      return showCommand(ctx, rest);
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      return POLICY_USAGE;
    default:
      throw ctx.usageError(`policy: unknown subcommand "${sub}" (try: policy show)`);
  }
}
