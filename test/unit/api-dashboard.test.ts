// The dashboard's files as tabby-apiserver serves them, without root or a browser (test/integration/dashboard.test.ts
// drives the page in Chromium): the page and its script and style need no token, the data they read does.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { buildApiServer, TokenTable } from '../../api';
import { MemoryBackend } from '../../datastore';

describe('GET /ui', () => {
  const app = buildApiServer({ backend: new MemoryBackend(), tokens: TokenTable.parse('secret,alice\n') });
  after(() => app.close());

  it('serves the page, its script and its style to anyone, with a policy allowing only this origin', async () => {
    const page = await app.inject({ url: '/ui' });
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
    for (const [asset, type] of [
      ['ui/dashboard.js', /^text\/javascript/],
      ['ui/dashboard.css', /^text\/css/],
    ] as const) {
      assert.ok(page.body.includes(`"${asset}"`), `the page loads ${asset}`);
      const res = await app.inject({ url: `/${asset}` });
      assert.equal(res.statusCode, 200, asset);
      assert.match(String(res.headers['content-type']), type);
      assert.ok(res.body.length > 1000, asset);
    }
  });

  it('leaves the data behind the token', async () => {
    assert.equal((await app.inject({ url: '/apis/projectcalico.org/v3/caliconodestatuses' })).statusCode, 401);
    const listed = await app.inject({
      url: '/apis/projectcalico.org/v3/caliconodestatuses',
      headers: { authorization: 'Bearer secret' },
    });
    assert.equal(listed.statusCode, 200);
    assert.equal(listed.json().kind, 'CalicoNodeStatusList');
  });
});
