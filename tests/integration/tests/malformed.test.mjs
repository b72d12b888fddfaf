// Input that is not HTTP/1.1 as RFC 9112 writes it: 4xx, never reaches the upstream.
import { test } from '../lib/harness.mjs';
import { rawExchange, request } from '../lib/http.mjs';
import { mockRequests } from '../lib/mock.mjs';
import { assert } from '../lib/util.mjs';

const B = '{"model":"llama3.2","prompt":"hi"}';
const CASES = [
  ['Content-Length together with Transfer-Encoding',
    `POST /api/generate HTTP/1.1\r\nHost: a\r\nContent-Length: ${B.length}\r\nTransfer-Encoding: chunked\r\n\r\n${B.length.toString(16)}\r\n${B}\r\n0\r\n\r\n`],
  ['a bad chunk size',
    `POST /api/generate HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n${B}\r\n0\r\n\r\n`],
  ['a space before the colon',
    'GET /api/tags HTTP/1.1\r\nHost : a\r\n\r\n'],
  ['HTTP/1.2',
    'GET /api/tags HTTP/1.2\r\nHost: a\r\n\r\n'],
  ['two different Content-Length values',
    `POST /api/generate HTTP/1.1\r\nHost: a\r\nContent-Length: ${B.length}\r\nContent-Length: ${B.length + 1}\r\n\r\n${B} `],
  ['a Transfer-Encoding that is not chunked last',
    `POST /api/generate HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n${B}`],
  ['a header line without a colon',
    'GET /api/tags HTTP/1.1\r\nHost: a\r\nNoColonHere\r\n\r\n'],
  ['a bare LF line ending',
    'GET /api/tags HTTP/1.1\nHost: a\n\n'],
  ['an HTTP/1.1 request without Host',
    'GET /api/tags HTTP/1.1\r\n\r\n'],
  ['a NUL in a header value',
    'GET /api/tags HTTP/1.1\r\nHost: a\r\nX-Bad: a\0b\r\n\r\n'],
];

for (const [what, bytes] of CASES) {
  test(`malformed: ${what} → 4xx, upstream never sees it`, async (t) => {
    const { mock, tg } = await t.pair();
    const x = await rawExchange(tg.port, bytes, { timeoutMs: 3000 });
    assert.ok(x.responses.length >= 1, `no response (closed: ${x.closed}); got ${JSON.stringify(x.text.slice(0, 200))}`);
    const r = x.responses[0];
    assert.ok(r.status >= 400 && r.status < 500, `status ${r.status}: ${x.text.slice(0, 200)}`);
    assert.ok(x.closed, 'connection left open after a malformed request');
    const seen = await mockRequests(mock);
    assert.equal(seen.length, 0, `the mock saw ${JSON.stringify(seen.map((e) => e.method + ' ' + e.path))}`);
    // the gateway still serves a good request
    const ok = await request(tg.port, { path: '/api/version' });
    assert.equal(ok.status, 200);
  });
}

// RFC 9112 5.2: obs-fold in a request is either refused with 400 or replaced
// by spaces before the message is forwarded; it must never go upstream as is.
test('malformed: an obs-folded header is refused or unfolded, never forwarded folded', async (t) => {
  const { mock, tg } = await t.pair();
  const x = await rawExchange(tg.port,
    `POST /api/generate HTTP/1.1\r\nHost: a\r\nX-Mock-Echo: 1\r\nX-Fold: a\r\n  b\r\nContent-Length: ${B.length}\r\nConnection: close\r\n\r\n${B}`,
    { timeoutMs: 3000 });
  const r = x.responses[0];
  assert.ok(r, `no response: ${JSON.stringify(x.text.slice(0, 200))}`);
  if (r.status >= 400 && r.status < 500) {
    assert.equal((await mockRequests(mock)).length, 0, 'refused but the mock saw it');
    return;
  }
  assert.equal(r.status, 200, `status ${r.status}`);
  const v = r.json().headers['x-fold'];
  assert.ok(v !== undefined, 'X-Fold lost');
  assert.ok(!/[\r\n]/.test(String(v)), `X-Fold forwarded with its line break: ${JSON.stringify(v)}`);
  assert.match(String(v), /^a\s+b$/, `X-Fold forwarded as ${JSON.stringify(v)}`);
});
