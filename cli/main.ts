// tabbyctl: calicoctl's resource commands over tabby's datastore (CONTRACT §4).
// Every failure is one line on stderr and exit code 1; success prints what calicoctl prints.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { mergePatch } from '../api';
import {
  DocumentRejected,
  isDatastoreError,
  type KindInfo,
  kindByAlias,
  type Resource,
  resolveKind,
  type WriteMode,
} from '../datastore';
import { parseSelector, validateSelector } from '../policy';
import {
  type CliContext,
  type CliDatastore,
  CONNECTION_OPTIONS,
  CONNECTION_USAGE,
  type OptionSpecs,
  type Options,
  openDatastore,
} from './context';
import { DocumentError, parseDocuments, readSource, type SourceDocument } from './documents';
import { ipamCommand } from './ipam';
import { nodeStatus, reportedNodeStatus } from './node-status';
import { formatResources, OUTPUT_FORMATS, type OutputFormat } from './output';
import { policyCommand } from './policy-show';

export const VERSION = '0.1.0';

class UsageError extends Error {}

const USAGE = `Usage: tabbyctl <command> [options]

Commands:
  apply|create|replace -f FILE        write the resources in FILE (YAML or JSON, several documents; - for stdin)
  delete -f FILE | delete KIND NAME   delete resources [-n NS] [--skip-not-exists]
  get KIND [NAME...]                  [-n NS | -A] [-o ps|wide|yaml|json] [-l|--selector EXPR]
  label KIND NAME k=v [--overwrite]   set a label;  label KIND NAME k --remove  removes it
  patch KIND NAME -p|--patch JSON     apply a JSON merge patch
  ipam show [--show-blocks] [--ip IP] usage of the IP pools and blocks, or one address's allocation
  ipam check [--show-problem-ips]     compare IPAM with the endpoints and nodes using addresses [-o json]
  ipam release --ip IP                release an allocated address
  ipam configure --strictaffinity=true|false [--max-blocks-per-host N]
  policy show --endpoint NAME [-n NS] the policies that apply to an endpoint, in evaluation order [-o table|json]
  node status [--run-dir DIR]         BGP sessions of the node whose run dir is DIR (TABBY_RUN_DIR, /var/run/tabby);
                                      with --server, its CalicoNodeStatus report [--node NAME]
  version                             print the client version

${CONNECTION_USAGE}`;

const COMMON_OPTIONS = { ...CONNECTION_OPTIONS, help: { type: 'boolean', short: 'h' } } as const;

function parse(args: string[], extra: OptionSpecs): { values: Options; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { ...COMMON_OPTIONS, ...extra },
      allowPositionals: true,
      strict: true,
    });
    return { values: values as Options, positionals };
  } catch (err) {
    throw new UsageError((err as Error).message.split('. ')[0]!.replace(/\.$/, ''));
  }
}

function open(values: Options): CliDatastore {
  return openDatastore(values, (message) => new UsageError(message));
}

function kindArg(name: string | undefined): KindInfo {
  if (!name) throw new UsageError('missing resource kind, e.g. "tabbyctl get ippools"');
  const kind = kindByAlias(name);
  if (!kind) throw new UsageError(`unknown resource kind "${name}"`);
  return kind;
}

function namespaceOf(kind: KindInfo, values: Options): string | undefined {
  return kind.namespaced ? String(values.namespace ?? 'default') : undefined;
}

function plural(n: number, kinds: Set<string>): string {
  return `${n} '${[...kinds].join("', '")}' resource(s)`;
}

async function writeCommand(verb: WriteMode, args: string[]): Promise<void> {
  const { values, positionals } = parse(args, { filename: { type: 'string', short: 'f' } });
  if (values.help) return void process.stdout.write(USAGE);
  if (positionals.length > 0) throw new UsageError(`${verb}: unexpected argument "${positionals[0]}"`);
  const file = values.filename;
  if (typeof file !== 'string') throw new UsageError(`${verb}: -f FILE is required`);
  const docs = parseDocuments(readSource(file), file);
  if (docs.length === 0) throw new DocumentError(`${file}: no resources found`);
  for (const d of docs) ensureKnownKind(d, file);
  const { client, close } = open(values);
  try {
    const written = await client.write(
      docs.map((d) => d.resource),
      verb,
    );
    const pastTense = { apply: 'applied', create: 'created', replace: 'replaced' }[verb];
    process.stdout.write(`Successfully ${pastTense} ${plural(written.length, new Set(written.map((r) => r.kind)))}\n`);
  } catch (err) {
    if (err instanceof DocumentRejected)
      throw new DocumentError(`${file}: document ${docs[err.index]!.index}: ${err.message}`);
    throw err;
  } finally {
    await close();
  }
}

function ensureKnownKind(d: SourceDocument, file: string): void {
  try {
    resolveKind(d.resource);
  } catch (err) {
    throw new DocumentError(`${file}: document ${d.index}: ${(err as Error).message}`);
  }
}

async function deleteCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    filename: { type: 'string', short: 'f' },
    namespace: { type: 'string', short: 'n' },
    'skip-not-exists': { type: 'boolean' },
  });
  if (values.help) return void process.stdout.write(USAGE);
  let targets: { kind: KindInfo; name: string; namespace: string | undefined }[];
  if (typeof values.filename === 'string') {
    if (positionals.length > 0) throw new UsageError(`delete: give either -f FILE or KIND NAME, not both`);
    const docs = parseDocuments(readSource(values.filename), values.filename);
    for (const d of docs) ensureKnownKind(d, values.filename);
    targets = docs.map(({ resource }) => {
      const kind = resolveKind(resource);
      return {
        kind,
        name: resource.metadata.name,
        namespace: kind.namespaced ? (resource.metadata.namespace ?? 'default') : undefined,
      };
    });
  } else {
    const [kindName, ...names] = positionals;
    const kind = kindArg(kindName);
    if (names.length === 0) throw new UsageError(`delete: missing the name of the ${kind.kind} to delete`);
    targets = names.map((name) => ({ kind, name, namespace: namespaceOf(kind, values) }));
  }
  const { client, close } = open(values);
  try {
    const deleted: Resource[] = [];
    for (const t of targets) {
      try {
        deleted.push(await client.delete(t.kind, t.name, t.namespace));
      } catch (err) {
        if (values['skip-not-exists'] && isDatastoreError(err, 'NotFound')) continue;
        throw err;
      }
    }
    process.stdout.write(`Successfully deleted ${plural(deleted.length, new Set(targets.map((t) => t.kind.kind)))}\n`);
  } finally {
    await close();
  }
}

async function getCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    namespace: { type: 'string', short: 'n' },
    'all-namespaces': { type: 'boolean', short: 'A' },
    output: { type: 'string', short: 'o' },
    selector: { type: 'string', short: 'l' },
  });
  if (values.help) return void process.stdout.write(USAGE);
  const [kindName, ...names] = positionals;
  const kind = kindArg(kindName);
  const format = String(values.output ?? 'ps') as OutputFormat;
  if (!OUTPUT_FORMATS.includes(format)) {
    throw new UsageError(`-o: output format must be one of ${OUTPUT_FORMATS.join(', ')}, got "${format}"`);
  }
  if (values['all-namespaces'] && values.namespace) throw new UsageError('give either -n NAMESPACE or -A, not both');
  const allNamespaces = kind.namespaced && values['all-namespaces'] === true;
  const selector = typeof values.selector === 'string' ? values.selector : undefined;
  if (selector !== undefined) checkSelector(selector);
  const { client, close } = open(values);
  try {
    let items: Resource[];
    if (names.length > 0) {
      items = [];
      for (const name of names) items.push(await client.get(kind, name, namespaceOf(kind, values)));
      if (selector !== undefined) {
        const matches = parseSelector(selector);
        items = items.filter((r) => matches.evaluate(r.metadata.labels ?? {}));
      }
    } else {
      items = await client.list(kind, {
        ...(allNamespaces ? {} : kind.namespaced ? { namespace: namespaceOf(kind, values)! } : {}),
        ...(selector !== undefined ? { labelSelector: selector } : {}),
      });
    }
    process.stdout.write(
      formatResources(kind, items, format, { single: names.length === 1, withNamespace: allNamespaces }),
    );
  } finally {
    await close();
  }
}

function checkSelector(selector: string): void {
  const problem = validateSelector(selector);
  if (problem) throw new UsageError(`--selector: ${problem}`);
}

async function labelCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    namespace: { type: 'string', short: 'n' },
    overwrite: { type: 'boolean' },
    remove: { type: 'boolean' },
  });
  if (values.help) return void process.stdout.write(USAGE);
  const [kindName, name, label, ...rest] = positionals;
  const kind = kindArg(kindName);
  if (!name || !label || rest.length > 0)
    throw new UsageError('label: usage: label KIND NAME key=value | label KIND NAME key --remove');
  const { client, close } = open(values);
  try {
    const current = await client.get(kind, name, namespaceOf(kind, values));
    const labels = { ...(current.metadata.labels ?? {}) };
    let message: string;
    if (values.remove) {
      if (label.includes('=')) throw new UsageError('label: --remove takes a key, not key=value');
      if (!(label in labels)) throw new UsageError(`label: ${kind.kind} "${name}" has no label "${label}"`);
      delete labels[label];
      message = `Successfully removed label ${label} from ${kind.plural} ${name}`;
    } else {
      const eq = label.indexOf('=');
      if (eq <= 0) throw new UsageError(`label: expected key=value, got "${label}"`);
      const key = label.slice(0, eq);
      if (key in labels && !values.overwrite) {
        throw new UsageError(`label: ${kind.kind} "${name}" already has label "${key}": use --overwrite to change it`);
      }
      labels[key] = label.slice(eq + 1);
      message = `Successfully set label ${key} on ${kind.plural} ${name}`;
    }
    await client.replace({ ...current, metadata: { ...current.metadata, labels } });
    process.stdout.write(`${message}\n`);
  } finally {
    await close();
  }
}

async function patchCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    namespace: { type: 'string', short: 'n' },
    patch: { type: 'string', short: 'p' },
  });
  if (values.help) return void process.stdout.write(USAGE);
  const [kindName, name] = positionals;
  const kind = kindArg(kindName);
  if (!name) throw new UsageError('patch: missing the resource name');
  if (typeof values.patch !== 'string') throw new UsageError('patch: --patch JSON is required');
  let patch: unknown;
  try {
    patch = JSON.parse(values.patch);
  } catch (err) {
    throw new UsageError(`--patch: invalid JSON: ${(err as Error).message}`);
  }
  const { client, close } = open(values);
  try {
    const current = await client.get(kind, name, namespaceOf(kind, values));
    const patched = mergePatch(current, patch) as Resource;
    // The identity of the object is not patchable.
    patched.apiVersion = current.apiVersion;
    patched.kind = current.kind;
    patched.metadata = { ...patched.metadata, name: current.metadata.name, namespace: current.metadata.namespace };
    await client.replace(patched);
    process.stdout.write(`Successfully patched 1 '${kind.kind}' resource\n`);
  } finally {
    await close();
  }
}

async function nodeCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'status') throw new UsageError(`node: unknown subcommand "${sub ?? ''}" (try: node status)`);
  const { values } = parse(rest, { 'run-dir': { type: 'string' }, node: { type: 'string' } });
  if (values.help) return void process.stdout.write(USAGE);
  const runDir = String(values['run-dir'] ?? process.env.TABBY_RUN_DIR ?? '/var/run/tabby');
  if (values.server === undefined) {
    if (values.node !== undefined)
      throw new UsageError('--node goes with --server (locally, --run-dir names the node)');
    return void process.stdout.write(await nodeStatus(runDir));
  }
  // Through the API server: the node's own report in the datastore; which node, --node or the run dir says.
  const node = typeof values.node === 'string' ? values.node : readNodeName(runDir);
  const { client, close } = open(values);
  try {
    process.stdout.write(await reportedNodeStatus(client, node));
  } finally {
    await close();
  }
}

function readNodeName(runDir: string): string {
  try {
    return readFileSync(path.join(runDir, 'nodename'), 'utf8').trim();
  } catch {
    throw new UsageError(`node status --server: give --node NAME (no ${path.join(runDir, 'nodename')} here)`);
  }
}

/** What the subcommands kept in their own modules (ipam, policy) borrow from this one. */
const CLI_CONTEXT: CliContext = { parse, openDatastore: open, usageError: (message) => new UsageError(message) };

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'apply':
      case 'create':
      case 'replace':
        await writeCommand(command, rest);
        break;
      case 'delete':
        await deleteCommand(rest);
        break;
      case 'get':
        await getCommand(rest);
        break;
      case 'label':
        await labelCommand(rest);
        break;
      case 'patch':
        await patchCommand(rest);
        break;
      case 'ipam':
        await ipamCommand(rest, CLI_CONTEXT);
        break;
      case 'policy':
        process.stdout.write(await policyCommand(rest, CLI_CONTEXT));
        break;
      case 'node':
        await nodeCommand(rest);
        break;
      case 'version':
        process.stdout.write(`Client Version:    v${VERSION}\n`);
        break;
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        process.stdout.write(USAGE);
        break;
      default:
        throw new UsageError(`unknown command "${command}" (see tabbyctl --help)`);
    }
  } catch (err) {
    process.stderr.write(`tabbyctl: ${oneLine(err)}\n`);
    process.exitCode = 1;
  }
}

function oneLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/\s*\n\s*/g, ' ');
}
