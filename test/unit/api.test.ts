// tabby-apiserver's pure parts: the token file, --listen, JSON merge patch (RFC 7386's own examples).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mergePatch, TokenTable } from '../../api';
import { parseListen } from '../../api/main';

describe('TokenTable', () => {
  const table = TokenTable.parse('# tokens\nsecret-a,alice\n\n  secret-b , bob , readonly\n');

  it('finds the user of a bearer token, read-only or not, and nobody for anything else', () => {
    assert.deepEqual(table.authenticate('Bearer secret-a'), { user: 'alice', readOnly: false });
    assert.deepEqual(table.authenticate('bearer secret-b'), { user: 'bob', readOnly: true });
    for (const header of [undefined, '', 'Bearer', 'Bearer secret', 'Bearer secret-ab', 'Basic secret-a', 'secret-a']) {
      assert.equal(table.authenticate(header), undefined, String(header));
    }
  });

  it('refuses a malformed file, naming the line', () => {
    assert.throws(() => TokenTable.parse('a,alice\nb\n', 'tokens.csv'), /tokens\.csv line 2: expected TOKEN,USER/);
    assert.throws(() => TokenTable.parse('a,alice,admin\n'), /line 1/);
    assert.throws(() => TokenTable.parse('# nothing\n'), /no tokens/);
  });
});

describe('parseListen', () => {
  it('takes ADDR:PORT, [v6]:PORT and :PORT', () => {
    assert.deepEqual(parseListen('127.0.0.1:6443'), { host: '127.0.0.1', port: 6443 });
    assert.deepEqual(parseListen('[::1]:8080'), { host: '::1', port: 8080 });
    assert.deepEqual(parseListen(':8080'), { host: '0.0.0.0', port: 8080 });
    for (const bad of ['6443', 'host:', 'host:99999', '::1:80']) assert.throws(() => parseListen(bad), /--listen/);
  });
});

describe('mergePatch (RFC 7386 appendix A)', () => {
  const cases: [unknown, unknown, unknown][] = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [
      ['a', 'b'],
      ['c', 'd'],
      ['c', 'd'],
    ],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  for (const [target, patch, result] of cases) {
    it(`${JSON.stringify(target)} + ${JSON.stringify(patch)}`, () => {
      assert.deepEqual(mergePatch(target, patch), result);
    });
  }
});
