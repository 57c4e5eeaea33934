import { canonicalString, referencedLabelKeys, type SelectorNode } from './ast';
import { SelectorParseError } from './errors';
import { compileSelector, type LabelPredicate } from './evaluate';
import { selectorIpSetId } from './ipset';
import { parseSelectorTree } from './parser';

/** A parsed selector: its canonical text, its tree, and a compiled predicate over labels. */
export class Selector {
  /** Calico's `String()` of the selector: whitespace and set order normalised, every and/or parenthesised. */
  readonly canonical: string;
  /** Label names the selector reads, sorted; an endpoint's result can change only when one of these does. */
  readonly labelKeys: readonly string[];
  /** True when the labels match. Compiled once; safe to call detached (`const match = selector.evaluate`). */
  readonly evaluate: LabelPredicate;
  private cachedUniqueId: string | undefined;

  constructor(readonly root: SelectorNode) {
    this.canonical = canonicalString(root);
    this.labelKeys = referencedLabelKeys(root);
    this.evaluate = compileSelector(root);
  }

  /** Calico's `UniqueID()`: the id of the IP set of this selector's endpoints, the same for equal canonical forms. */
  get uniqueId(): string {
    this.cachedUniqueId ??= selectorIpSetId(this.canonical);
    return this.cachedUniqueId;
  }

  toString(): string {
    return this.canonical;
  }
}

/**
 * Policies, pools and peers repeat the same few selector strings, so parses are kept by text. The bound keeps a
 * stream of distinct strings (e.g. `tabbyctl get -l` against an API server) from growing it without limit; the
 * oldest entry goes first, so a hit costs one Map lookup.
 */
const PARSE_CACHE_LIMIT = 10_000;
const parsedByText = new Map<string, Selector>();

/** Parses a Calico selector (empty text is `all()`), or throws SelectorParseError with the fault's position. */
export function parseSelector(text: string): Selector {
  const cached = parsedByText.get(text);
  if (cached !== undefined) return cached;
  const selector = new Selector(parseSelectorTree(text));
  if (parsedByText.size >= PARSE_CACHE_LIMIT) parsedByText.delete(parsedByText.keys().next().value!);
  parsedByText.set(text, selector);
  return selector;
}

/** Resource validation: the error message for a selector Calico would reject, or undefined when it is valid. */
export function validateSelector(text: string): string | undefined {
  try {
    parseSelector(text);
    return undefined;
  } catch (error) {
    if (error instanceof SelectorParseError) return error.message;
    throw error;
  }
}
