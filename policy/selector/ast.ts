/** Operators comparing one label with one string; absent labels match only `!=`. */
export type ComparisonKind = 'equals' | 'notEquals' | 'contains' | 'startsWith' | 'endsWith';

export interface AllNode {
  readonly kind: 'all';
}

/** `global()`: matches every set of labels; Calico uses it to mark selectors of non-namespaced resources. */
export interface GlobalNode {
  readonly kind: 'global';
}

export interface HasNode {
  readonly kind: 'has';
  readonly label: string;
}

export interface ComparisonNode {
  readonly kind: ComparisonKind;
  readonly label: string;
  readonly value: string;
}

export interface SetMembershipNode {
  readonly kind: 'in' | 'notIn';
  readonly label: string;
  /** Sorted by code point (Go's byte order of UTF-8) and without duplicates, as Calico keeps them. */
  readonly values: readonly string[];
}

export interface NotNode {
  readonly kind: 'not';
  readonly operand: SelectorNode;
}

/** Two or more operands: the parser never builds a one-operand `and`/`or`, nor flattens nested ones. */
export interface BooleanNode {
  readonly kind: 'and' | 'or';
  readonly operands: readonly SelectorNode[];
}

export type SelectorNode = AllNode | GlobalNode | HasNode | ComparisonNode | SetMembershipNode | NotNode | BooleanNode;

const COMPARISON_OPERATORS: Readonly<Record<ComparisonKind, string>> = {
  equals: ' == ',
  notEquals: ' != ',
  contains: ' contains ',
  startsWith: ' starts with ',
  endsWith: ' ends with ',
};

const BOOLEAN_SEPARATORS: Readonly<Record<BooleanNode['kind'], string>> = { and: ' && ', or: ' || ' };

/**
 * Ranks a UTF-16 code unit so that comparing ranks orders strings by code point: surrogates (0xD800-0xDFFF) stand
 * for code points above 0xFFFF and so must rank after 0xE000-0xFFFF.
 */
function codeUnitRank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000;
}

/** Orders strings as Go compares them (bytes of UTF-8, which is code point order), not by UTF-16 code unit. */
export function compareByCodePoint(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const unitA = a.charCodeAt(i);
    const unitB = b.charCodeAt(i);
    if (unitA !== unitB) return codeUnitRank(unitA) - codeUnitRank(unitB);
  }
  return a.length - b.length;
}

/** The set of a literal `{...}` as Calico stores it: sorted and deduplicated. */
export function normaliseSetValues(values: readonly string[]): string[] {
  const sorted = [...values].sort(compareByCodePoint);
  return sorted.filter((value, index) => index === 0 || value !== sorted[index - 1]);
}

/** Calico quotes with `"` unless the value holds one (a value can never hold both kinds of quote). */
function quoted(value: string): string {
  return value.includes('"') ? `'${value}'` : `"${value}"`;
}

function appendCanonical(node: SelectorNode, parts: string[]): void {
  switch (node.kind) {
    case 'all':
      parts.push('all()');
      return;
    case 'global':
      parts.push('global()');
      return;
    case 'has':
      parts.push('has(', node.label, ')');
      return;
    case 'equals':
    case 'notEquals':
    case 'contains':
    case 'startsWith':
    case 'endsWith':
      parts.push(node.label, COMPARISON_OPERATORS[node.kind], quoted(node.value));
      return;
    case 'in':
    case 'notIn':
      parts.push(node.label, node.kind === 'in' ? ' in {' : ' not in {', node.values.map(quoted).join(', '), '}');
      return;
    case 'not':
      parts.push('!');
      appendCanonical(node.operand, parts);
      return;
    case 'and':
    case 'or':
      // Every and/or is parenthesised, even at the top, so the canonical text never depends on precedence.
      parts.push('(');
      node.operands.forEach((operand, index) => {
        if (index > 0) parts.push(BOOLEAN_SEPARATORS[node.kind]);
        appendCanonical(operand, parts);
      });
      parts.push(')');
      return;
  }
}

/** The text Calico's `Selector.String()` prints for this tree, byte for byte; the input to the IP set id. */
export function canonicalString(node: SelectorNode): string {
  const parts: string[] = [];
  appendCanonical(node, parts);
  return parts.join('');
}

function collectLabelKeys(node: SelectorNode, keys: Set<string>): void {
  switch (node.kind) {
    case 'all':
    case 'global':
      return;
    case 'not':
      collectLabelKeys(node.operand, keys);
      return;
    case 'and':
    case 'or':
      for (const operand of node.operands) collectLabelKeys(operand, keys);
      return;
    default:
      keys.add(node.label);
  }
}

/** Every label name the tree looks at, sorted: the labels whose changes can change its result. */
export function referencedLabelKeys(node: SelectorNode): string[] {
  const keys = new Set<string>();
  collectLabelKeys(node, keys);
  return [...keys].sort(compareByCodePoint);
}
