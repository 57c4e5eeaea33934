import { type ComparisonKind, normaliseSetValues, type SelectorNode } from './ast';
import { unexpected } from './errors';
import { SelectorLexer, type Token, type TokenKind } from './lexer';

const ALL: SelectorNode = { kind: 'all' };

const COMPARISON_KINDS: Partial<Record<TokenKind, ComparisonKind>> = {
  eq: 'equals',
  ne: 'notEquals',
  contains: 'contains',
  startsWith: 'startsWith',
  endsWith: 'endsWith',
};

const OPERATOR_SPELLINGS: Partial<Record<TokenKind, string>> = {
  eq: '==',
  ne: '!=',
  contains: 'contains',
  startsWith: 'starts with',
  endsWith: 'ends with',
  in: 'in',
  notIn: 'not in',
};

const OPERAND_EXPECTED = 'a label, has(...), all(), global(), "!" or "("';

/**
 * Calico's grammar, lowest precedence first:
 *   selector   := <empty> | or
 *   or         := and ("||" and)*
 *   and        := operation ("&&" operation)*
 *   operation  := "!"* (has(label) | all() | global() | label comparison string | label set-op set | "(" or ")")
 *   set        := "{" [string ("," string)* [","]] "}"
 * Leading "!"s collapse by parity (`!!has(a)` is `has(a)`); an empty selector is `all()`.
 */
class SelectorParser {
  private readonly lexer: SelectorLexer;
  private token: Token;

  constructor(private readonly text: string) {
    this.lexer = new SelectorLexer(text);
    this.token = this.lexer.next();
  }

  parse(): SelectorNode {
    if (this.at('eof')) return ALL;
    const root = this.parseOr();
    if (!this.at('eof')) throw this.unexpectedToken('"&&", "||" or the end of the selector');
    return root;
  }

  /** A method, not a property test, so TypeScript does not carry the narrowing past advance(). */
  private at(kind: TokenKind): boolean {
    return this.token.kind === kind;
  }

  private advance(): Token {
    const current = this.token;
    this.token = this.lexer.next();
    return current;
  }

  private parseOr(): SelectorNode {
    const operands = [this.parseAnd()];
    while (this.at('or')) {
      this.advance();
      operands.push(this.parseAnd());
    }
    return operands.length === 1 ? operands[0]! : { kind: 'or', operands };
  }

  private parseAnd(): SelectorNode {
    const operands = [this.parseOperation()];
    while (this.at('and')) {
      this.advance();
      operands.push(this.parseOperation());
    }
    return operands.length === 1 ? operands[0]! : { kind: 'and', operands };
  }

  private parseOperation(): SelectorNode {
    let negated = false;
    while (this.at('not')) {
      negated = !negated;
      this.advance();
    }
    const operation = this.parseOperand();
    return negated ? { kind: 'not', operand: operation } : operation;
  }

  private parseOperand(): SelectorNode {
    const token = this.token;
    switch (token.kind) {
      case 'has':
        this.advance();
        return { kind: 'has', label: token.value };
      case 'all':
      case 'global':
        this.advance();
        return { kind: token.kind };
      case 'label':
        this.advance();
        return this.parseLabelOperation(token.value);
      case 'lparen': {
        this.advance();
        const inner = this.parseOr();
        if (!this.at('rparen')) {
          throw this.unexpectedToken(`"&&", "||" or ")" to close the "(" at position ${token.start}`);
        }
        this.advance();
        return inner;
      }
      default:
        throw this.unexpectedToken(OPERAND_EXPECTED);
    }
  }

  private parseLabelOperation(label: string): SelectorNode {
    const operator = this.token;
    const comparison = COMPARISON_KINDS[operator.kind];
    if (comparison !== undefined) {
      this.advance();
      return {
        kind: comparison,
        label,
        value: this.expectString(`a quoted string after "${OPERATOR_SPELLINGS[operator.kind]}"`),
      };
    }
    if (operator.kind === 'in' || operator.kind === 'notIn') {
      this.advance();
      return { kind: operator.kind, label, values: this.parseSet(OPERATOR_SPELLINGS[operator.kind]!) };
    }
    throw this.unexpectedToken(
      `an operator after label ${JSON.stringify(label)} (==, !=, in, not in, contains, starts with or ends with)`,
    );
  }

  private parseSet(operatorSpelling: string): string[] {
    if (!this.at('lbrace')) throw this.unexpectedToken(`a set such as {"a", "b"} after "${operatorSpelling}"`);
    this.advance();
    const values: string[] = [];
    // Calico accepts a trailing comma ({"a",}) but not a leading or doubled one.
    let expected = 'a quoted string or "}"';
    while (this.at('string')) {
      values.push(this.advance().value);
      if (!this.at('comma')) {
        expected = '"," or "}"';
        break;
      }
      this.advance();
    }
    if (!this.at('rbrace')) throw this.unexpectedToken(expected);
    this.advance();
    return normaliseSetValues(values);
  }

  private expectString(expected: string): string {
    if (!this.at('string')) throw this.unexpectedToken(expected);
    return this.advance().value;
  }

  private unexpectedToken(expected: string) {
    return unexpected(this.text, this.token.start, this.describe(this.token), expected);
  }

  private describe(token: Token): string {
    switch (token.kind) {
      case 'eof':
        return 'end of input';
      case 'label':
        return `label ${JSON.stringify(token.value)}`;
      case 'string':
        return `string ${this.text.slice(token.start, token.end)}`;
      default:
        return JSON.stringify(this.text.slice(token.start, token.end));
    }
  }
}

/** Parses a selector into its tree, or throws SelectorParseError naming the position of the first fault. */
export function parseSelectorTree(text: string): SelectorNode {
  return new SelectorParser(text).parse();
}
