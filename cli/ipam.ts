// `tabbyctl ipam show|check|release|configure`: calicoctl's IPAM commands (CONTRACT §4) over tabby's IPAM
// records. The rendering functions are pure, so the tables and reports are tested without a datastore.
import { type IPAMConfigurationSpec, isDatastoreError, kindByAlias, type Resource } from '../datastore';
import { formatIp, parseIp } from '../datastore/model/net';
import {
  type Allocation,
  type AllocationBlock,
  attributeOf,
  type BlockUsage,
  IPAM_CONFIG_NAME,
  type IpamCheckReport,
  isIpamError,
  ordinalOf,
  parseIpv4,
  type Utilization,
} from '../ipam';
import type { CliContext, CliDatastore, Options } from './context';

export const IPAM_USAGE = `Usage: tabbyctl ipam <subcommand> [options]

Subcommands:
  show [--show-blocks]                 usage of each IP pool (and of each block)
  show --ip IP                         whether IP is allocated, with its handle and attributes
  check [--show-problem-ips] [-o json] compare IPAM with the endpoints and nodes that use addresses
  release --ip IP                      release an allocated address, whoever holds it
  configure --strictaffinity=true|false [--max-blocks-per-host N]
                                       change the IPAMConfiguration "default"
`;

// ---- ipam show

/** Go's `%.5g` of an integer, as calicoctl prints counts: 65536, 1.3107e+05, 1.2089e+24. */
export function formatCount(n: number): string {
  const digits = BigInt(n).toString();
  if (digits.length <= 5) return digits;
  let head = BigInt(digits.slice(0, 5));
  const rest = digits.slice(5);
  const half = `5${'0'.repeat(rest.length - 1)}`;
  // Go rounds the exact value to nearest, ties to even; rest and half have the same length.
  if (rest > half || (rest === half && head % 2n === 1n)) head++;
  let exponent = digits.length - 1;
  let mantissa = head.toString();
  if (mantissa.length > 5) {
    mantissa = mantissa.slice(0, 5);
    exponent++;
  }
  const fraction = mantissa.slice(1).replace(/0+$/, '');
  return `${mantissa[0]}${fraction ? `.${fraction}` : ''}e+${String(exponent).padStart(2, '0')}`;
}

/** Go's `%.f` of a percentage: nearest integer, an exact half to even (JavaScript's toFixed rounds it up). */
export function formatPercent(part: number, whole: number): string {
  const value = (100 * part) / whole;
  const floor = Math.floor(value);
  const rounded = value - floor === 0.5 ? (floor % 2 === 0 ? floor : floor + 1) : Math.round(value);
  return `${rounded}%`;
}

/** go-pretty's default table (calicoctl's): headers left-aligned, the given columns right-aligned in rows. */
export function renderBoxTable(headers: string[], rows: string[][], rightAligned: ReadonlySet<number>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const rule = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const line = (cells: string[], alignRight: boolean) =>
    `|${cells
      .map((c, i) => ` ${alignRight && rightAligned.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)} `)
      .join('|')}|`;
  return [rule, line(headers, false), rule, ...rows.map((r) => line(r, true)), rule, ''].join('\n');
}

function usageRow(grouping: string, cidr: string, capacity: number, inUse: number): string[] {
  const withPercent = (n: number) => `${formatCount(n)} (${formatPercent(n, capacity)})`;
  return [grouping, cidr, formatCount(capacity), withPercent(inUse), withPercent(capacity - inUse)];
}

const USAGE_HEADERS = ['GROUPING', 'CIDR', 'IPS TOTAL', 'IPS IN USE', 'IPS FREE'];

/** calicoctl ipam show [--show-blocks]. */
export function renderUtilization(usage: Utilization, showBlocks: boolean): string {
  const rows: string[][] = [];
  const blockRows = (blocks: BlockUsage[]) =>
    showBlocks ? blocks.map((b) => usageRow('Block', b.cidr, b.capacity, b.inUse)) : [];
  for (const pool of usage.pools) {
    rows.push(usageRow('IP Pool', pool.cidr, pool.capacity, pool.inUse), ...blockRows(pool.blocks));
  }
  rows.push(...blockRows(usage.orphanBlocks));
  return renderBoxTable(USAGE_HEADERS, rows, new Set([2, 3, 4]));
}

/** Attribute entries in key order, so output does not depend on the order they were written in. */
function byKey([a]: [string, string], [b]: [string, string]): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** calicoctl ipam show --ip: the address's allocation, its handle and its attributes in key order. */
export function renderAddress(address: string, blocks: readonly AllocationBlock[]): string {
  const numeric = parseIpv4(address);
  for (const block of numeric === undefined ? [] : blocks) {
    const ordinal = ordinalOf(block, numeric!);
    if (ordinal === undefined) continue;
    const attr = attributeOf(block, ordinal);
    if (!attr) break;
    const lines = [`IP ${address} is in use`, `Handle ID: ${attr.handle_id ?? '<none>'}`];
    const attrs = Object.entries(attr.secondary ?? {}).sort(byKey);
    if (attrs.length === 0) lines.push('No Active Owner attributes defined');
    else lines.push('Active Owner Attributes:', ...attrs.map(([k, v]) => `  ${k}: ${v}`));
    return `${lines.join('\n')}\n`;
  }
  return `IP ${address} is not assigned\n`;
}

// ---- ipam check

function describeAllocation(a: Allocation): string {
  const attrs = Object.entries(a.attrs)
    .sort(byKey)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return `  ${a.address} leaked; handle ${a.handle ?? '<none>'}${attrs ? `; ${attrs}` : ''}`;
}

/** calicoctl ipam check's report: a count per problem class, the details with --show-problem-ips. */
export function renderCheckReport(report: IpamCheckReport, showProblemIps: boolean): string {
  const out: string[] = ['Checking IPAM for inconsistencies...', ''];
  out.push(`Found ${report.blocks} IPAM blocks.`, `IPAM blocks record ${report.allocations} allocations.`, '');
  const section = (count: number, headline: string, details: () => string[]) => {
    out.push(headline.replace('%d', String(count)));
    if (showProblemIps) out.push(...details());
  };
  const users = (list: string[]) => list.join(', ');
  section(report.leaked.length, 'Found %d IPs that are allocated in IPAM but not actually in use.', () =>
    report.leaked.map(describeAllocation),
  );
  section(
    report.unallocated.length,
    'Found %d in-use IPs that are in IP pools but have no corresponding IPAM allocation.',
    () => report.unallocated.map((u) => `  ${u.address} in use by ${users(u.users)} has no IPAM allocation.`),
  );
  section(report.outsidePools.length, 'Found %d in-use IPs that are not in active IP pools.', () =>
    report.outsidePools.map((u) => `  ${u.address} in use by ${users(u.users)} is not in an active IP pool.`),
  );
  section(report.duplicateUses.length, 'Found %d IPs in use by more than one workload or node.', () =>
    report.duplicateUses.map((u) => `  ${u.address} has multiple owners: ${users(u.users)}.`),
  );
  section(report.blocksWithoutAffinity.length, 'Found %d blocks affine to a node with no affinity record.', () =>
    report.blocksWithoutAffinity.map((b) => `  block ${b.cidr} has affinity ${b.affinity} but no affinity record.`),
  );
  section(report.affinitiesWithoutBlock.length, 'Found %d affinity records with no matching block.', () =>
    report.affinitiesWithoutBlock.map((a) => `  node ${a.node} claims block ${a.cidr}, which is not its block.`),
  );
  section(report.duplicateAffinities.length, 'Found %d blocks claimed by more than one node.', () =>
    report.duplicateAffinities.map((d) => `  block ${d.cidr} is claimed by ${d.nodes.join(', ')}.`),
  );
  section(report.handleMismatches.length, 'Found %d handles that disagree with the blocks.', () =>
    report.handleMismatches.map((h) => `  handle ${h.handle} ${h.detail}.`),
  );
  out.push(`Check complete; found ${report.problems} problems.`, '');
  return out.join('\n');
}

// ---- the commands

async function withDatastore<T>(ctx: CliContext, values: Options, body: (ds: CliDatastore) => Promise<T>): Promise<T> {
  const ds = ctx.openDatastore(values);
  try {
    return await body(ds);
  } finally {
    await ds.close();
  }
}

/** A valid IPv4 or IPv6 address in canonical form, or a usage error naming the flag. */
function addressArg(ctx: CliContext, value: string | boolean | undefined, command: string): string {
  if (typeof value !== 'string') throw ctx.usageError(`ipam ${command}: --ip IP is required`);
  const ip = parseIp(value);
  if (!ip) throw ctx.usageError(`--ip: invalid IP address "${value}"`);
  return formatIp(ip);
}

function noPositionals(ctx: CliContext, command: string, positionals: string[]): void {
  if (positionals.length > 0) throw ctx.usageError(`ipam ${command}: unexpected argument "${positionals[0]}"`);
}

async function showCommand(ctx: CliContext, args: string[]): Promise<string> {
  const { values, positionals } = ctx.parse(args, { 'show-blocks': { type: 'boolean' }, ip: { type: 'string' } });
  if (values.help) return IPAM_USAGE;
  noPositionals(ctx, 'show', positionals);
  if (values.ip !== undefined) {
    const address = addressArg(ctx, values.ip, 'show');
    return withDatastore(ctx, values, async ({ ipam }) => renderAddress(address, await ipam.blocks()));
  }
  return withDatastore(ctx, values, async ({ ipam }) =>
    renderUtilization(await ipam.utilization(), values['show-blocks'] === true),
  );
}

async function checkCommand(ctx: CliContext, args: string[]): Promise<string> {
  const { values, positionals } = ctx.parse(args, {
    'show-problem-ips': { type: 'boolean' },
    output: { type: 'string', short: 'o' },
  });
  if (values.help) return IPAM_USAGE;
  noPositionals(ctx, 'check', positionals);
  const format = values.output ?? 'text';
  if (format !== 'text' && format !== 'json') throw ctx.usageError(`-o: must be text or json, got "${format}"`);
  return withDatastore(ctx, values, async ({ ipam }) => {
    const report = await ipam.check();
    // The check ran: problems are its result, not a failure of the command (as calicoctl).
    return format === 'json'
      ? `${JSON.stringify(report, null, 2)}\n`
      : renderCheckReport(report, values['show-problem-ips'] === true);
  });
}

async function releaseCommand(ctx: CliContext, args: string[]): Promise<string> {
  const { values, positionals } = ctx.parse(args, { ip: { type: 'string' } });
  if (values.help) return IPAM_USAGE;
  noPositionals(ctx, 'release', positionals);
  const address = addressArg(ctx, values.ip, 'release');
  return withDatastore(ctx, values, async ({ ipam }) => {
    try {
      await ipam.releaseAddress(address);
    } catch (err) {
      if (isIpamError(err, 'NotAssigned')) throw new Error(`IP address ${address} is not assigned`);
      throw err;
    }
    return `Successfully released IP address ${address}\n`;
  });
}

function parseStrictAffinity(ctx: CliContext, value: string | boolean | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 'true' || value === 'false') return value === 'true';
  throw ctx.usageError(`--strictaffinity: must be true or false, got "${value}"`);
}

function parseMaxBlocks(ctx: CliContext, value: string | boolean | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^\d+$/.test(value)) {
    throw ctx.usageError(`--max-blocks-per-host: must be a whole number (0: no limit), got "${value}"`);
  }
  return Number(value);
}

async function configureCommand(ctx: CliContext, args: string[]): Promise<string> {
  const { values, positionals } = ctx.parse(args, {
    strictaffinity: { type: 'string' },
    'max-blocks-per-host': { type: 'string' },
  });
  if (values.help) return IPAM_USAGE;
  noPositionals(ctx, 'configure', positionals);
  const strictAffinity = parseStrictAffinity(ctx, values.strictaffinity);
  const maxBlocksPerHost = parseMaxBlocks(ctx, values['max-blocks-per-host']);
  if (strictAffinity === undefined && maxBlocksPerHost === undefined) {
    throw ctx.usageError('ipam configure: give --strictaffinity=true|false and/or --max-blocks-per-host N');
  }
  return withDatastore(ctx, values, async ({ client }) => {
    const kind = kindByAlias('ipamconfiguration')!;
    let current: Resource;
    try {
      current = await client.get(kind, IPAM_CONFIG_NAME);
    } catch (err) {
      if (!isDatastoreError(err, 'NotFound')) throw err;
      current = { apiVersion: kind.apiVersion, kind: kind.kind, metadata: { name: IPAM_CONFIG_NAME }, spec: {} };
    }
    const spec: Partial<IPAMConfigurationSpec> = { ...(current.spec ?? {}) };
    if (strictAffinity !== undefined) spec.strictAffinity = strictAffinity;
    if (maxBlocksPerHost !== undefined) spec.maxBlocksPerHost = maxBlocksPerHost;
    // The stored resourceVersion goes along: a concurrent change makes this fail instead of being overwritten.
    await client.apply({ ...current, spec: spec as Record<string, unknown> });
    const lines: string[] = [];
    if (strictAffinity !== undefined) lines.push(`Successfully set StrictAffinity to: ${strictAffinity}`);
    if (maxBlocksPerHost !== undefined) lines.push(`Successfully set MaxBlocksPerHost to: ${maxBlocksPerHost}`);
    return `${lines.join('\n')}\n`;
  });
}

export async function ipamCommand(args: string[], ctx: CliContext): Promise<void> {
  const [sub, ...rest] = args;
  let output: string;
  switch (sub) {
    case 'show':
      output = await showCommand(ctx, rest);
      break;
    case 'check':
      output = await checkCommand(ctx, rest);
      break;
    case 'release':
      output = await releaseCommand(ctx, rest);
      break;
    case 'configure':
      output = await configureCommand(ctx, rest);
      break;
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      output = IPAM_USAGE;
      break;
    default:
      throw ctx.usageError(`ipam: unknown subcommand "${sub}" (try: show, check, release, configure)`);
  }
  process.stdout.write(output);
}
