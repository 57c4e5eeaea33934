import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ipSetNameForId,
  type Labels,
  makeUniqueId,
  parseSelector,
  SelectorParseError,
  selectorIpSetId,
  validateSelector,
} from '../../policy';

// Input and the text Calico's Selector.String() gives for it. The first groups are the expectations of
// libcalico-go's parser_test.go (canonicalisation and visitor tables, the visitor's prefix left out) and of the
// tokenizer_test.go inputs it accepts; the rest were checked against Calico's parser.
const CANONICAL_CASES: ReadonlyArray<readonly [string, string]> = [
  ['', 'all()'],
  [' ', 'all()'],
  [' all() ', 'all()'],
  [' (all() )', 'all()'],
  ['all( )', 'all()'],
  ['global()', 'global()'],
  [' global( )', 'global()'],
  ['! (has( b)||! has(a ))', '!(has(b) || !has(a))'],
  ['! (a == "b"&&! c != "d")', '!(a == "b" && !c != "d")'],
  [`a == "'"`, `a == "'"`],
  [`a == '"'`, `a == '"'`],
  [`a contains '"'`, `a contains '"'`],
  [`a contains "'"`, `a contains "'"`],
  [`a startswith '"'`, `a starts with '"'`],
  [`a endswith "'"`, `a ends with "'"`],
  [`a!='"'`, `a != '"'`],
  ['a in {"d"}', 'a in {"d"}'],
  ['a in {"a", "b"}', 'a in {"a", "b"}'],
  ['a in {"d", "a", "b"}', 'a in {"a", "b", "d"}'],
  ['a in {"z", "x", "y", "a"}', 'a in {"a", "x", "y", "z"}'],
  ['a in {"z", "z", "x", "y", "x", "a"}', 'a in {"a", "x", "y", "z"}'],
  ["k == 'v'", 'k == "v"'],
  ["k != 'v'", 'k != "v"'],
  ["k contains 'v'", 'k contains "v"'],
  ["k starts with 'v'", 'k starts with "v"'],
  ["k ends with 'v'", 'k ends with "v"'],
  ["k == 'v' && x == 'y'", '(k == "v" && x == "y")'],
  ["k == 'v' || has(x)", '(k == "v" || has(x))'],
  ["!(k == 'v')", '!k == "v"'],
  ["k in {'v'}", 'k in {"v"}'],
  ["k not in {'v'}", 'k not in {"v"}'],
  ["!(!(k == 'v' && has(t) || all()) && (a in {'b', 'c'}))", '!(!((k == "v" && has(t)) || all()) && a in {"b", "c"})'],
  ['a=="b"', 'a == "b"'],
  ['(a=="b")', 'a == "b"'],
  ['contains contains "contains"', 'contains contains "contains"'],
  ['label contains"value"', 'label contains "value"'],
  ['startswith starts with "value"', 'startswith starts with "value"'],
  ['endswith ends with "value"', 'endswith ends with "value"'],
  ['label starts  with "value"', 'label starts with "value"'],
  ['label ends  with "value"', 'label ends with "value"'],
  ['has(calico/k8s_NS-.1/role)', 'has(calico/k8s_NS-.1/role)'],
  [
    'calico/k8s_ns == "kube-system" && k8s-app == "kube-dns"',
    '(calico/k8s_ns == "kube-system" && k8s-app == "kube-dns")',
  ],
  ['a not in {}', 'a not in {}'],
  ['a not in {"a","B"}', 'a not in {"B", "a"}'],
  ['a notin{"x"}', 'a not in {"x"}'],
  ['a in {"a",}', 'a in {"a"}'],
  ['\ta\t==\t"b"\t', 'a == "b"'],
  ['projectcalico.org/namespace == "default"', 'projectcalico.org/namespace == "default"'],
  ["pcns.team == 'green' && has(app)", '(pcns.team == "green" && has(app))'],
  ['in in {"in"}', 'in in {"in"}'],
  ['not == "x"', 'not == "x"'],
  ['-/._ == "x"', '-/._ == "x"'],
  // "!" binds to one operation and collapses by parity; a parenthesised "!" is kept.
  ['!!has(a)', 'has(a)'],
  ['!! ! has(a)', '!has(a)'],
  ['a in{"x"} && !!!(b == "y")', '(a in {"x"} && !b == "y")'],
  // "&&" binds tighter than "||"; nested groups are kept, not flattened.
  ['a == "b" || c == "d" && e == "f" || g == "h"', '(a == "b" || (c == "d" && e == "f") || g == "h")'],
  ['((a == "b") && c == "d") && e == "f"', '((a == "b" && c == "d") && e == "f")'],
  ['a == "b" && (c == "d" || e == "f")', '(a == "b" && (c == "d" || e == "f"))'],
  // Set items sort by code point, as Go compares strings, not by UTF-16 unit.
  ['a in {"z", "é", "😀", "\uffed", "Z"}', 'a in {"Z", "z", "é", "\uffed", "😀"}'],
];

// Ids from Calico's parser_test.go, and ones computed by Calico's own parser and hash.MakeUniqueID.
const UNIQUE_ID_CASES: ReadonlyArray<readonly [string, string]> = [
  ['', 's:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug'],
  [' (all() )', 's:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug'],
  ['! (has( b)||! has(a ))', 's:Iss0uCleLYv1GSv_pNm7hAO58kE9jAx1NKyG3Q'],
  ['! (a == "b"&&! c != "d")', 's:lh3haoY1ikTRkd4UZu0nWSaIBknYLPJLX16d-w'],
  ['projectcalico.org/namespace == "default"', 's:4g010_DunYvItGg3dv2MxnaJYxWEVRwn0exiaA'],
  ['pcns.team == "green" && has(app)', 's:a-w4665WEJ9RS8WbogJZ-qKV1-DhsBk2Inzjcw'],
  ['global()', 's:fiJDJdBoaP_zQxty70sMjIrxwAb5lgM6LYCAow'],
  ['app == "web" || !(tier in {"db", "cache"})', 's:QBG8hPa6ljqbfib9LM6ncvMWCjcRRosPYJAqSw'],
  ['k8s-app ends with "-dns" && role not in {}', 's:XTYk1xgm4VZf_yX4ZDDsaIo_gh13jHQvPrM11g'],
  ['a in {"z", "é", "😀", "\uffed", "Z"}', 's:qfLAryvHa0WeiX5DoTRokER-_YCOWtoKKgGZSw'],
];

// Selector, label sets it matches, label sets it does not: Calico's parser_test.go selectorTests, then the
// absent-label rules and a few of our own.
const EVALUATION_CASES: ReadonlyArray<readonly [string, Labels[], Labels[]]> = [
  ['a == "b"', [{ a: 'b' }, { a: 'b', c: 'd' }], [{}, { a: 'c' }, { c: 'd' }]],
  ['a == "b" && c == "d"', [{ a: 'b', c: 'd' }], [{}, { a: 'b', c: 'e' }, { a: 'c', c: 'd' }, { c: 'd' }, { a: 'b' }]],
  [
    'a == "b" || c == "d"',
    [{ a: 'b', c: 'd' }, { a: 'b' }, { c: 'd' }],
    [{}, { a: 'e', c: 'e' }, { c: 'e' }, { a: 'e' }],
  ],
  [`a in {"'", '"', "c"}`, [{ a: 'c' }, { a: '"' }, { a: "'" }], [{}, { a: 'e' }]],
  [`a not in {"'", '"', "c"}`, [{}, { a: 'e' }], [{ a: 'c' }, { a: '"' }, { a: "'" }]],
  ["a == 'a'", [{ a: 'a' }], [{ a: 'b' }, {}]],
  ['a != "b"', [{ a: 'a' }, {}], [{ a: 'b' }]],
  ['a != "a"', [{}], [{ a: 'a' }]],
  ['a contains "a"', [{ a: 'a' }, { a: 'bab' }, { a: 'aaa', b: 'c' }], [{}, { a: 'b' }, { b: 'aaa' }]],
  ['a starts with "a"', [{ a: 'a' }, { a: 'abb' }, { a: 'aaa', b: 'c' }], [{}, { a: 'b' }, { a: 'baa' }, { b: 'aaa' }]],
  ['a ends with "a"', [{ a: 'a' }, { a: 'bba' }, { a: 'aaa', b: 'c' }], [{}, { a: 'b' }, { a: 'aab' }, { b: 'aaa' }]],
  ['a in {"a"}', [{ a: 'a' }], [{ a: 'b' }, {}]],
  ['!a in {"a"}', [{ a: 'b' }, {}], [{ a: 'a' }]],
  ['a in {"a", "b"}', [{ a: 'a' }, { a: 'b' }], [{ a: 'c' }]],
  ['a not in {"d", "e"}', [{ a: 'a' }, {}], [{ a: 'd' }]],
  ['a not in {"a"}', [{}], [{ a: 'a' }]],
  ['a in {}', [], [{}, { a: '' }]],
  ['a not in {}', [{}, { a: '' }], []],
  ['has(a)', [{ a: 'b' }, { a: '' }], [{ b: 'b' }]],
  ['!has(a)', [{ b: 'b' }], [{ a: 'b' }]],
  ['has(b)', [], [{ a: 'b' }]],
  ['!!has(b)', [], [{ a: 'b' }]],
  ['!!! has(a)', [], [{ a: 'b' }]],
  ['! !!has(a)', [], [{ a: 'b' }]],
  ['', [{}, { a: 'b' }], []],
  [' ', [{}], []],
  ['all()', [{}, { a: 'b' }], []],
  ['global()', [{}, { a: 'b' }], []],
  ['!all()', [], [{}, { a: 'b' }]],
  ["a == 'a1' && b == 'b1'", [{ a: 'a1', b: 'b1' }], []],
  ["a == 'a1' && b != 'b1'", [], [{ a: 'a1', b: 'b1' }]],
  ["a != 'a1' && b == 'b1'", [], [{ a: 'a1', b: 'b1' }]],
  ["a != 'a1' && b != 'b1'", [], [{ a: 'a1', b: 'b1' }]],
  ["a != 'a1' && !b == 'b1'", [], [{ a: 'a1', b: 'b1' }]],
  ["!a == 'a1' && b == 'b1'", [], [{ a: 'a1', b: 'b1' }]],
  ['has(a) && !has(b)', [{ a: 'a' }], [{ a: 'a', b: 'b' }]],
  ['!has(b) && has(a)', [{ a: 'a' }], []],
  ['!(!has(a) || has(b))', [{ a: 'a' }], [{}]],
  ['!(has(b) || !has(a))', [{ a: 'a' }], [{ b: 'b' }]],
  ["a == 'a1' || b == 'b1'", [{ a: 'a1', b: 'b1' }], []],
  ["a == 'a1' || b != 'b1'", [{ a: 'a1', b: 'b1' }], []],
  ["a != 'a1' || b == 'b1'", [{ a: 'a1', b: 'b1' }], []],
  ["a != 'a1' || b != 'b1'", [], [{ a: 'a1', b: 'b1' }]],
  ["! a == 'a1' || ! b == 'b1'", [], [{ a: 'a1', b: 'b1' }]],
  // "&&" before "||": this is a || (b && c), not (a || b) && c.
  ['a == "1" || b == "1" && c == "1"', [{ a: '1' }, { b: '1', c: '1' }], [{ b: '1' }, {}]],
  ['pcns.team == "green"', [{ 'pcns.team': 'green' }], [{ team: 'green' }]],
  ['projectcalico.org/namespace in {"a", "b"}', [{ 'projectcalico.org/namespace': 'b' }], [{ namespace: 'b' }]],
  // Members of Object.prototype are not labels.
  ['has(constructor)', [{ constructor: 'x' }], [{}]],
  ['toString != "x"', [{}], [{ toString: 'x' }]],
  ['constructor contains ""', [{ constructor: '' }], [{}]],
  ['__proto__ in {"x"}', [JSON.parse('{"__proto__": "x"}') as Labels], [{}]],
];

// Selector, position of the fault, and a part of the message that says what was expected there.
const ERROR_CASES: ReadonlyArray<readonly [string, number, string]> = [
  ['a == ', 5, 'unexpected end of input at position 5; expected a quoted string after "=="'],
  ['b == b', 5, 'unexpected label "b" at position 5; expected a quoted string after "=="'],
  ['b contains b', 11, 'expected a quoted string after "contains"'],
  ['b starts with b', 14, 'expected a quoted string after "starts with"'],
  ["'b1' == b", 0, "unexpected string 'b1' at position 0; expected a label"],
  ['b', 1, 'unexpected end of input at position 1; expected an operator after label "b"'],
  ['a b', 2, 'unexpected "b" at position 2; expected an operator after label "a"'],
  ['a = "b"', 2, 'unexpected "=" at position 2; expected an operator'],
  ['label starts foo "value"', 6, 'unexpected "starts" at position 6; expected an operator'],
  ['!', 1, 'unexpected end of input at position 1; expected a label, has(...), all(), global(), "!" or "("'],
  ['foo == "bar" &', 13, 'unexpected "&" at position 13; expected "&&", "||" or the end of the selector'],
  ['foo == "bar" |', 13, 'unexpected "|" at position 13'],
  ['a == "b" & has(foo)', 9, 'unexpected "&" at position 9'],
  ['foo != ||', 7, 'unexpected "||" at position 7; expected a quoted string after "!="'],
  ['foo in {"", ||', 12, 'unexpected "||" at position 12; expected a quoted string or "}"'],
  ['a in {,}', 6, 'unexpected "," at position 6; expected a quoted string or "}"'],
  ['a in {"a" "b"}', 10, 'unexpected string "b" at position 10; expected "," or "}"'],
  ['foo in ""', 7, 'expected a set such as {"a", "b"} after "in"'],
  ['a not in c', 9, 'unexpected label "c" at position 9; expected a set'],
  ['"FOO', 0, 'unterminated string at position 0; expected a closing "'],
  [`"FOO'`, 0, 'unterminated string at position 0'],
  ["x == 'FOO", 5, "unterminated string at position 5; expected a closing '"],
  ['(', 1, 'unexpected end of input at position 1; expected a label'],
  ['(a == "foo"', 11, 'expected "&&", "||" or ")" to close the "(" at position 0'],
  [')', 0, 'unexpected ")" at position 0'],
  ['()', 1, 'unexpected ")" at position 1'],
  ['%', 0, 'unexpected "%" at position 0'],
  ['a == "b" && %', 12, 'unexpected "%" at position 12'],
  ['a == "b" || %', 12, 'unexpected "%" at position 12'],
  ['a ', 2, 'unexpected end of input at position 2; expected an operator'],
  ['has(foo) &&', 11, 'unexpected end of input at position 11'],
  ['has()', 4, 'unexpected ")" at position 4; expected a label name inside has()'],
  ['has( foo ', 9, 'expected ")" to close has('],
  ['has (a)', 4, 'unexpected "(" at position 4; expected an operator after label "has"'],
  ['all(', 4, 'expected ")" after "all("'],
  ['global( x)', 8, 'unexpected "x" at position 8; expected ")" after "global("'],
  ['a == "b" c', 9, 'unexpected label "c" at position 9'],
  // Only spaces and tabs separate tokens.
  ['a == "b"\n', 8, 'unexpected "\\n" at position 8'],
  [`${'a'.repeat(513)} == "v"`, 0, 'label of 513 characters at position 0; expected at most 512'],
];

describe('selector canonical form', () => {
  for (const [input, canonical] of CANONICAL_CASES) {
    it(`${JSON.stringify(input)} prints as ${canonical}`, () => {
      const selector = parseSelector(input);
      assert.equal(selector.canonical, canonical);
      assert.equal(String(selector), canonical);
      assert.equal(parseSelector(canonical).canonical, canonical, 'the canonical form parses to itself');
    });
  }

  it('prints a parenthesised double negation as "!!", which then parses without it (as Calico does)', () => {
    assert.equal(parseSelector('!(!has(a))').canonical, '!!has(a)');
    assert.equal(parseSelector('!!has(a)').canonical, 'has(a)');
  });

  it('accepts a label of exactly 512 characters', () => {
    const label = 'a'.repeat(512);
    assert.equal(parseSelector(`${label} == "v"`).canonical, `${label} == "v"`);
  });
});

describe('selector evaluation', () => {
  for (const [text, matching, notMatching] of EVALUATION_CASES) {
    it(JSON.stringify(text), () => {
      const selector = parseSelector(text);
      const reparsed = parseSelector(selector.canonical);
      for (const labels of matching) {
        assert.equal(selector.evaluate(labels), true, `should match ${JSON.stringify(labels)}`);
        assert.equal(reparsed.evaluate(labels), true, `canonical form should match ${JSON.stringify(labels)}`);
      }
      for (const labels of notMatching) {
        assert.equal(selector.evaluate(labels), false, `should not match ${JSON.stringify(labels)}`);
        assert.equal(reparsed.evaluate(labels), false, `canonical form should not match ${JSON.stringify(labels)}`);
      }
    });
  }

  it('works detached from the selector', () => {
    const { evaluate } = parseSelector('app == "web"');
    assert.equal(evaluate({ app: 'web' }), true);
  });
});

describe('selector errors', () => {
  for (const [text, position, fragment] of ERROR_CASES) {
    it(`${JSON.stringify(text)} fails at ${position}`, () => {
      assert.throws(
        () => parseSelector(text),
        (error: unknown) => {
          assert.ok(error instanceof SelectorParseError);
          assert.ok(error instanceof Error);
          assert.equal(error.position, position);
          assert.equal(error.selector, text);
          assert.ok(
            error.message.startsWith(`selector ${JSON.stringify(text)}: `),
            `message names the selector: ${error.message}`,
          );
          assert.ok(error.message.includes(fragment), `${JSON.stringify(error.message)} should contain ${fragment}`);
          return true;
        },
      );
      assert.equal(validateSelector(text), `selector ${JSON.stringify(text)}: ${messageOf(text)}`);
    });
  }

  it('words the example of the brief exactly', () => {
    assert.equal(
      validateSelector('a == '),
      'selector "a == ": unexpected end of input at position 5; expected a quoted string after "=="',
    );
  });

  it('validateSelector returns undefined for valid selectors', () => {
    for (const [input] of CANONICAL_CASES) assert.equal(validateSelector(input), undefined);
  });
});

/** The part of the error message after the selector. */
function messageOf(text: string): string {
  try {
    parseSelector(text);
  } catch (error) {
    if (error instanceof SelectorParseError) return error.message.slice(`selector ${JSON.stringify(text)}: `.length);
  }
  throw new Error(`${text} parsed`);
}

describe('selector IP set ids and names', () => {
  for (const [input, id] of UNIQUE_ID_CASES) {
    it(`${JSON.stringify(input)} has id ${id}`, () => {
      const selector = parseSelector(input);
      assert.equal(selector.uniqueId, id);
      assert.equal(selectorIpSetId(selector.canonical), id);
    });
  }

  it('ids are "s:" and 38 characters of base64url SHA-224', () => {
    assert.equal(makeUniqueId('s', 'all()'), selectorIpSetId('all()'));
    assert.match(selectorIpSetId('a == "b"'), /^s:[A-Za-z0-9_-]{38}$/);
  });

  it('selectors that differ only in spelling share an id', () => {
    assert.equal(
      parseSelector('a=="b"&&c in {"y","x","x"}').uniqueId,
      parseSelector("(a == 'b') && c in {'x', 'y'}").uniqueId,
    );
  });

  const NAME_CASES: ReadonlyArray<readonly [string, string]> = [
    // felix/ipsets ipsets_test.go
    ['s:qMt7iLlGDhvLnCjM0l9nzxbabcd', 'cali40s:qMt7iLlGDhvLnCjM0l9nzxb'],
    ['t:qMt7iLlGDhvLnCjM0l9nzxbabcd', 'cali40t:qMt7iLlGDhvLnCjM0l9nzxb'],
    // The calico-selector tool's set-name: "cali40" + the first 25 characters of the id.
    ['s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug', 'cali40s:5y5I3VdRZfDU01O--xXAPx2'],
    // Short fixed ids are not cut.
    ['all-ipam-pools', 'cali40all-ipam-pools'],
    ['masq-ipam-pools', 'cali40masq-ipam-pools'],
  ];
  for (const [id, name] of NAME_CASES) {
    it(`${id} is named ${name}`, () => {
      assert.equal(ipSetNameForId(id), name);
      assert.ok(name.length <= 31);
    });
  }
});

describe('parsed selector', () => {
  it('lists the label keys it reads, sorted and once each', () => {
    const selector = parseSelector('b == "1" && (has(a) || !b in {"x"}) && pcns.team != "z" && all()');
    assert.deepEqual(selector.labelKeys, ['a', 'b', 'pcns.team']);
    assert.deepEqual(parseSelector('global()').labelKeys, []);
  });

  it('exposes the tree', () => {
    assert.deepEqual(parseSelector('!a in {"y", "x"}').root, {
      kind: 'not',
      operand: { kind: 'in', label: 'a', values: ['x', 'y'] },
    });
  });

  it('is cached by text', () => {
    assert.equal(parseSelector('cached == "yes"'), parseSelector('cached == "yes"'));
  });
});
