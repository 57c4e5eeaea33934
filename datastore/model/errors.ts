// The one error resource validation throws: which object, which field, what is wrong — so the CLI can print it
// as one line and the API server can return it as a Kubernetes Status cause.

/** The object an error is about. */
export interface Subject {
  kind: string;
  name: string;
  namespace?: string;
}

export class ValidationError extends Error {
  readonly kind: string;
  /** The resource's metadata.name (this shadows Error's `name`, which would otherwise be the class name). */
  override readonly name: string;
  readonly namespace?: string;
  /** Path of the offending field, e.g. `spec.blockSize` or `spec.ingress[0].ports[1]`. */
  readonly field: string;
  readonly detail: string;

  constructor(subject: Subject, field: string, detail: string) {
    const who = subject.namespace ? `${subject.namespace}/${subject.name}` : subject.name;
    super(`${subject.kind} "${who}": ${field}: ${detail}`);
    this.kind = subject.kind;
    this.name = subject.name;
    if (subject.namespace) this.namespace = subject.namespace;
    this.field = field;
    this.detail = detail;
  }
}

/** The path of a child field: `.key` for plain keys, `[i]` for list items, `["a/b"]` for other map keys. */
export function fieldPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return parent ? `${parent}.${key}` : key;
  return `${parent}[${JSON.stringify(key)}]`;
}

/** A value as it appears in an error message: JSON, shortened. */
export function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
