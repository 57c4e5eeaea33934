// Calico's parseSelectorAttachPrefix: a selector over a namespace's (or service account's) labels turned into one
// over the labels an endpoint inherits from it, which carry a prefix (`pcns.`, `pcsa.`).
import type { SelectorNode } from './ast';
import { parseSelector, Selector } from './selector';

function prefixed(node: SelectorNode, prefix: string): SelectorNode {
  switch (node.kind) {
    case 'all':
    case 'global':
      return node;
    case 'not':
      return { kind: 'not', operand: prefixed(node.operand, prefix) };
    case 'and':
    case 'or':
      return { kind: node.kind, operands: node.operands.map((o) => prefixed(o, prefix)) };
    default:
      return { ...node, label: prefix + node.label };
  }
}

/** The selector with `prefix` before every label it reads (a parse error propagates). */
export function selectorWithLabelPrefix(text: string, prefix: string): Selector {
  return new Selector(prefixed(parseSelector(text).root, prefix));
}
