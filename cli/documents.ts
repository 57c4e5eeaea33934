// Reading resource documents from a file or stdin: YAML or JSON, several documents per file, and calicoctl's
// `<Kind>List` documents with `items`. Problems name the file and the line (syntax) or document (content).
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { Resource } from '../datastore';

export class DocumentError extends Error {
  override name = 'DocumentError';
}

export interface SourceDocument {
  /** 1-based position of the document in its file (a List's items share their List's position). */
  index: number;
  resource: Resource;
}

export function readSource(file: string): string {
  try {
    return file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  } catch (err) {
    throw new DocumentError(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export function parseDocuments(text: string, file: string): SourceDocument[] {
  const docs = parseAllDocuments(text);
  const out: SourceDocument[] = [];
  let index = 0;
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    const syntaxError = doc.errors[0];
    if (syntaxError) {
      const pos = syntaxError.linePos?.[0];
      const where = pos ? `line ${pos.line}, column ${pos.col}` : 'unknown position';
      // The parser appends its own position and a source excerpt; ours comes first, once.
      const reason = syntaxError.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      throw new DocumentError(`${file}: ${where}: invalid YAML: ${reason}`);
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue; // an empty document, e.g. after a trailing ---
    index++;
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw new DocumentError(
        `${file}: document ${index}: not a resource (expected a mapping with apiVersion and kind)`,
      );
    }
    const obj = value as Record<string, unknown>;
    if (typeof obj.kind === 'string' && obj.kind.endsWith('List') && Array.isArray(obj.items)) {
      for (const item of obj.items) out.push({ index, resource: asResource(item, file, index) });
    } else {
      out.push({ index, resource: asResource(obj, file, index) });
    }
  }
  return out;
}

function asResource(value: unknown, file: string, index: number): Resource {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new DocumentError(`${file}: document ${index}: not a resource (expected a mapping with apiVersion and kind)`);
  }
  const r = value as Resource;
  if (
    typeof r.metadata !== 'object' ||
    r.metadata === null ||
    typeof r.metadata.name !== 'string' ||
    !r.metadata.name
  ) {
    const what = typeof r.kind === 'string' ? `${r.kind}: ` : '';
    throw new DocumentError(`${file}: document ${index}: ${what}metadata.name: required`);
  }
  return r;
}
