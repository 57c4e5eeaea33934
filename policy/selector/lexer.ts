import { SelectorParseError, unexpected } from './errors';

/** Calico refuses label names longer than this (libcalico-go tokenizer.MaxLabelLength). */
const MAX_LABEL_LENGTH = 512;

export type TokenKind =
  | 'label'
  | 'string'
  | 'lbrace'
  | 'rbrace'
  | 'comma'
  | 'eq'
  | 'ne'
  | 'in'
  | 'not'
  | 'notIn'
  | 'contains'
  | 'startsWith'
  | 'endsWith'
  | 'all'
  | 'has'
  | 'global'
  | 'lparen'
  | 'rparen'
  | 'and'
  | 'or'
  | 'eof'
  // Text that forms no token where it stands (a lone "=", a word after a label that is not an operator, "%").
  // Calico's tokenizer rejects it outright; we hand it to the parser, which rejects it too (no rule accepts it)
  // but can say what it wanted there.
  | 'invalid';

export interface Token {
  readonly kind: TokenKind;
  /** The label name (label, has), the unquoted string (string) or the offending text (invalid); otherwise ''. */
  readonly value: string;
  /** Offsets of the token in the selector text, end exclusive. */
  readonly start: number;
  readonly end: number;
}

const SINGLE_CHARACTER_TOKENS: Readonly<Record<string, TokenKind>> = {
  '(': 'lparen',
  ')': 'rparen',
  '{': 'lbrace',
  '}': 'rbrace',
  ',': 'comma',
};

/** Operators that may follow a label, tried in this order ("not in" before "in"); words may be run together. */
const LABEL_OPERATORS: ReadonlyArray<{ readonly words: readonly string[]; readonly kind: TokenKind }> = [
  { words: ['contains'], kind: 'contains' },
  { words: ['starts', 'with'], kind: 'startsWith' },
  { words: ['ends', 'with'], kind: 'endsWith' },
  { words: ['not', 'in'], kind: 'notIn' },
  { words: ['in'], kind: 'in' },
];

/** The function-like keywords; Calico allows blanks inside the parentheses but not before "(". */
const FUNCTION_KEYWORDS: ReadonlyArray<{ readonly opening: string; readonly kind: 'all' | 'global' }> = [
  { opening: 'all(', kind: 'all' },
  { opening: 'global(', kind: 'global' },
];

/** Label names are runs of ASCII letters, digits and `_ . / -` (so `projectcalico.org/namespace` is one label). */
function isLabelCharacter(code: number): boolean {
  return (
    (code >= 0x61 && code <= 0x7a) || // a-z
    (code >= 0x41 && code <= 0x5a) || // A-Z
    (code >= 0x30 && code <= 0x39) || // 0-9
    code === 0x5f || // _
    code === 0x2e || // .
    code === 0x2f || // /
    code === 0x2d // -
  );
}

/**
 * Splits a selector into tokens on demand, following Calico's tokenizer: only spaces and tabs separate tokens, and
 * the word after a label is read as an operator, so a label may be named `in` or `contains`.
 */
export class SelectorLexer {
  private offset = 0;
  private previousKind: TokenKind | undefined;

  constructor(private readonly text: string) {}

  next(): Token {
    const token = this.read();
    this.previousKind = token.kind;
    return token;
  }

  private read(): Token {
    this.offset = this.skipBlanks(this.offset);
    const start = this.offset;
    const text = this.text;
    if (start >= text.length) return { kind: 'eof', value: '', start, end: start };

    const character = text[start]!;
    const singleKind = SINGLE_CHARACTER_TOKENS[character];
    if (singleKind !== undefined) return this.take(singleKind, '', start + 1);
    switch (character) {
      case '"':
      case "'":
        return this.readString(character);
      case '=':
        return text.startsWith('==', start) ? this.take('eq', '', start + 2) : this.take('invalid', '=', start + 1);
      case '!':
        return text.startsWith('!=', start) ? this.take('ne', '', start + 2) : this.take('not', '', start + 1);
      case '&':
        return text.startsWith('&&', start) ? this.take('and', '', start + 2) : this.take('invalid', '&', start + 1);
      case '|':
        return text.startsWith('||', start) ? this.take('or', '', start + 2) : this.take('invalid', '|', start + 1);
    }

    if (this.previousKind === 'label') return this.readOperator();
    if (text.startsWith('has(', start)) return this.readHas();
    for (const keyword of FUNCTION_KEYWORDS) {
      if (text.startsWith(keyword.opening, start)) return this.readEmptyCall(keyword.opening, keyword.kind);
    }
    const labelEnd = this.labelEnd(start);
    if (labelEnd === start) {
      // Not a character of any token: hand the parser the whole character (surrogate pairs included).
      const invalid = String.fromCodePoint(text.codePointAt(start)!);
      return this.take('invalid', invalid, start + invalid.length);
    }
    return this.take('label', this.checkedLabel(start, labelEnd), labelEnd);
  }

  private take(kind: TokenKind, value: string, end: number): Token {
    const token = { kind, value, start: this.offset, end };
    this.offset = end;
    return token;
  }

  private skipBlanks(from: number): number {
    let offset = from;
    while (offset < this.text.length && (this.text[offset] === ' ' || this.text[offset] === '\t')) offset++;
    return offset;
  }

  private labelEnd(from: number): number {
    let offset = from;
    while (offset < this.text.length && isLabelCharacter(this.text.charCodeAt(offset))) offset++;
    return offset;
  }

  private checkedLabel(start: number, end: number): string {
    if (end - start > MAX_LABEL_LENGTH) {
      throw new SelectorParseError(
        this.text,
        start,
        `label of ${end - start} characters at position ${start}; expected at most ${MAX_LABEL_LENGTH}`,
      );
    }
    return this.text.slice(start, end);
  }

  /** Both quote styles; there is no escaping, so a value holds either kind of quote but not both. */
  private readString(quote: string): Token {
    const start = this.offset;
    const closing = this.text.indexOf(quote, start + 1);
    if (closing < 0) {
      throw new SelectorParseError(
        this.text,
        start,
        `unterminated string at position ${start}; expected a closing ${quote} before the end of input`,
      );
    }
    return this.take('string', this.text.slice(start + 1, closing), closing + 1);
  }

  private readOperator(): Token {
    const start = this.offset;
    for (const operator of LABEL_OPERATORS) {
      const end = this.matchWords(start, operator.words);
      if (end >= 0) return this.take(operator.kind, '', end);
    }
    // Whatever stands here, the parser wants an operator and will say so.
    const wordEnd = this.labelEnd(start);
    const end = wordEnd > start ? wordEnd : start + String.fromCodePoint(this.text.codePointAt(start)!).length;
    return this.take('invalid', this.text.slice(start, end), end);
  }

  /** The end of `words` (blanks allowed between them) at `from`, if they end on a word boundary; else -1. */
  private matchWords(from: number, words: readonly string[]): number {
    let offset = from;
    for (let i = 0; i < words.length; i++) {
      if (i > 0) offset = this.skipBlanks(offset);
      if (!this.text.startsWith(words[i]!, offset)) return -1;
      offset += words[i]!.length;
    }
    if (offset < this.text.length && isLabelCharacter(this.text.charCodeAt(offset))) return -1;
    return offset;
  }

  private readHas(): Token {
    const nameStart = this.skipBlanks(this.offset + 'has('.length);
    const nameEnd = this.labelEnd(nameStart);
    if (nameEnd === nameStart) throw this.unexpectedAt(nameStart, 'a label name inside has()');
    const name = this.checkedLabel(nameStart, nameEnd);
    const closing = this.skipBlanks(nameEnd);
    if (this.text[closing] !== ')') throw this.unexpectedAt(closing, '")" to close has(');
    return this.take('has', name, closing + 1);
  }

  private readEmptyCall(opening: string, kind: 'all' | 'global'): Token {
    const closing = this.skipBlanks(this.offset + opening.length);
    if (this.text[closing] !== ')') throw this.unexpectedAt(closing, `")" after "${opening}"`);
    return this.take(kind, '', closing + 1);
  }

  private unexpectedAt(position: number, expected: string): SelectorParseError {
    const found =
      position >= this.text.length
        ? 'end of input'
        : JSON.stringify(String.fromCodePoint(this.text.codePointAt(position)!));
    return unexpected(this.text, position, found, expected);
  }
}
