// Printing resources as calicoctl does: tables (ps, wide) or whole objects (yaml, json); several objects
// in yaml/json are printed as one `<Kind>List`.
import { stringify } from 'yaml';
import type { KindInfo, Resource } from '../datastore';
import { renderTable } from './columns';

export type OutputFormat = 'ps' | 'wide' | 'yaml' | 'json';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['ps', 'wide', 'yaml', 'json'];

/** The usual key order of a Kubernetes-style object, whatever order it was stored in. */
function ordered(r: Resource): Resource {
  const { apiVersion, kind, metadata, spec, ...rest } = r;
  return { apiVersion, kind, metadata, ...(spec !== undefined ? { spec } : {}), ...rest };
}

export function formatResources(
  kind: KindInfo,
  items: Resource[],
  format: OutputFormat,
  options: { single: boolean; withNamespace: boolean },
): string {
  if (format === 'ps' || format === 'wide') return renderTable(kind, items, format === 'wide', options.withNamespace);
  const body: unknown =
    options.single && items.length === 1
      ? ordered(items[0]!)
      : { apiVersion: kind.apiVersion, kind: `${kind.kind}List`, items: items.map(ordered), metadata: {} };
  return format === 'json' ? `${JSON.stringify(body, null, 2)}\n` : stringify(body, { lineWidth: 0 });
}
