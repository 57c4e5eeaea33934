import type { SelectorNode } from './ast';

export type Labels = Readonly<Record<string, string>>;
export type LabelPredicate = (labels: Labels) => boolean;

const matchAll: LabelPredicate = () => true;

/**
 * Turns a tree into nested closures once, so evaluating it for each endpoint does no dispatch on node kinds.
 * A label is present when it is an own string value: `labels[key]` of a plain object can also reach
 * `Object.prototype` members (`constructor`, `toString`), which are never strings.
 */
export function compileSelector(node: SelectorNode): LabelPredicate {
  switch (node.kind) {
    case 'all':
    case 'global':
      return matchAll;
    case 'has': {
      const { label } = node;
      return (labels) => typeof labels[label] === 'string';
    }
    // For == and != a strict comparison with the string value already handles absence (undefined) and
    // prototype members (functions): neither equals a string.
    case 'equals': {
      const { label, value } = node;
      return (labels) => labels[label] === value;
    }
    case 'notEquals': {
      const { label, value } = node;
      return (labels) => labels[label] !== value;
    }
    case 'contains': {
      const { label, value } = node;
      return (labels) => {
        const actual = labels[label];
        return typeof actual === 'string' && actual.includes(value);
      };
    }
    case 'startsWith': {
      const { label, value } = node;
      return (labels) => {
        const actual = labels[label];
        return typeof actual === 'string' && actual.startsWith(value);
      };
    }
    case 'endsWith': {
      const { label, value } = node;
      return (labels) => {
        const actual = labels[label];
        return typeof actual === 'string' && actual.endsWith(value);
      };
    }
    // Set.has also answers false for undefined and for prototype members, so absence needs no separate test.
    case 'in': {
      const { label } = node;
      const values = new Set<unknown>(node.values);
      return (labels) => values.has(labels[label]);
    }
    case 'notIn': {
      const { label } = node;
      const values = new Set<unknown>(node.values);
      return (labels) => !values.has(labels[label]);
    }
    case 'not': {
      const operand = compileSelector(node.operand);
      return (labels) => !operand(labels);
    }
    case 'and': {
      const operands = node.operands.map(compileSelector);
      return (labels) => {
        for (let i = 0; i < operands.length; i++) {
          if (!operands[i]!(labels)) return false;
        }
        return true;
      };
    }
    case 'or': {
      const operands = node.operands.map(compileSelector);
      return (labels) => {
        for (let i = 0; i < operands.length; i++) {
          if (operands[i]!(labels)) return true;
        }
        return false;
      };
    }
  }
}
