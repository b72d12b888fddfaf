// What reaches the upstream: Host, X-Forwarded-*, no credentials, no hop-by-hop headers; mount prefix.
import { test } from '../lib/harness.mjs';
import { RawConn, request } from '../lib/http.mjs';
import { mockRequests } from '../lib/mock.mjs';
import { assert, hdr, GEN } from '../lib/util.mjs';

async function echo(port, headers = {}, path = '/api/generate') {
  const r = await request(port, { method: 'POST', path, body: GEN(), headers: { 'Content-Type': 'application/json', 'X-Mock-Echo': '1', ...headers } });
  assert.equal(r.status, 200, `echo: status ${r.status}: ${r.text.slice(0, 200)}`);
  return r.json();
}

test('Host sent upstream is localhost:11434 by default', async (t) => {
  const { tg } = await t.pair();
  const j = await echo(tg.port, { Host: 'ollama.example.com' });
  assert.equal(hdr(j.headers, 'host'), 'localhost:11434');
});

test('X-Forwarded-For, -Proto and -Host are set', async (t) => {
  const { tg } = await t.pair();
  const j = await echo(tg.port, { Host: 'ollama.example.com:8443' });
  assert.match(hdr(j.headers, 'x-forwarded-for') || '', /(^|,\s*)127\.0\.0\.1$/);
  assert.equal(hdr(j.headers, 'x-forwarded-proto'), tg.tls ? 'https' : 'http');
  assert.equal(hdr(j.headers, 'x-forwarded-host'), 'ollama.example.com:8443');
});

test('Authorization and Cookie are not forwarded', async (t) => {
  const { tg } = await t.pair();
  const j = await echo(tg.port, { Authorization: 'Bearer sk-secret', Cookie: 'sso=abc; other=1', 'X-Keep': 'yes' });
  assert.equal(hdr(j.headers, 'authorization'), undefined, 'Authorization reached the upstream');
  assert.equal(hdr(j.headers, 'cookie'), undefined, 'Cookie reached the upstream');
  assert.equal(hdr(j.headers, 'x-keep'), 'yes', 'an ordinary header was dropped');
});

test('hop-by-hop headers and headers named in Connection are removed', async (t) => {
  const { tg } = await t.pair();
  const j = await echo(tg.port, {
    Connection: 'keep-alive, X-Private, Upgrade',
    'Keep-Alive': 'timeout=5',
    TE: 'trailers',
    Trailer: 'X-Checksum',
    Upgrade: 'h2c',
    'Proxy-Authorization': 'Basic Zm9vOmJhcg==',
    'Proxy-Connection': 'keep-alive',
    'X-Private': 'secret',
    'X-Public': 'fine',
  });
  for (const h of ['keep-alive', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'x-private']) {
    assert.equal(hdr(j.headers, h), undefined, `${h} reached the upstream: ${hdr(j.headers, h)}`);
  }
  const conn = (hdr(j.headers, 'connection') || '').toLowerCase();
  assert.ok(!/x-private|upgrade/.test(conn), `Connection sent upstream: ${conn}`);
  assert.equal(hdr(j.headers, 'x-public'), 'fine');
});

test('response hop-by-hop headers are not passed to the client', async (t) => {
  const { tg } = await t.pair();
  const c = await RawConn.connect(tg.port);
  try {
    await c.send({ method: 'POST', path: '/api/generate', body: GEN(), headers: { 'X-Mock-Tokens': '3' } });
    const r = await c.response(5000);
    assert.equal(r.status, 200);
    for (const h of ['keep-alive', 'proxy-connection', 'trailer', 'upgrade']) assert.equal(r.headers[h], undefined, `${h} in the response`);
    const te = r.rawHeaders.filter(([k]) => k.toLowerCase() === 'transfer-encoding');
    assert.ok(te.length <= 1, `Transfer-Encoding sent ${te.length} times`);
    assert.ok(!(r.headers['content-length'] && r.headers['transfer-encoding']), 'both Content-Length and Transfer-Encoding');
  } finally {
    c.destroy();
  }
});

test('--mount /ollama: /ollama/api/* reaches /api/*, other paths are 404', async (t) => {
  const { mock, tg } = await t.pair({ mount: '/ollama' });
  const r = await request(tg.port, { path: '/ollama/api/tags' });
  assert.equal(r.status, 200, `/ollama/api/tags: ${r.status}`);
  assert.ok(Array.isArray(r.json().models));
  const v1 = await request(tg.port, { path: '/ollama/v1/models' });
  assert.equal(v1.status, 200, `/ollama/v1/models: ${v1.status}`);
  const q = await request(tg.port, { method: 'POST', path: '/ollama/api/generate?x=1', body: GEN(), headers: { 'X-Mock-Echo': '1' } });
  assert.equal(q.json().path, '/api/generate?x=1', `path sent upstream: ${q.json().path}`);
  for (const p of ['/api/tags', '/ollamax/api/tags', '/']) {
    const n = await request(tg.port, { path: p });
    assert.equal(n.status, 404, `${p}: ${n.status}`);
  }
  const seen = (await mockRequests(mock)).map((e) => e.path);
  assert.deepEqual(seen.filter((p) => !p.startsWith('/api/generate')), ['/api/tags', '/v1/models'], `mock saw ${JSON.stringify(seen)}`);
});

test('404 outside the mount is a gateway error in Ollama shape', async (t) => {
  const { tg } = await t.pair({ mount: '/ollama' });
  const n = await request(tg.port, { path: '/api/tags' });
  assert.equal(n.status, 404);
  const j = JSON.parse(n.text);
  assert.equal(typeof j.error, 'string');
});

test('host_header preserve passes the client Host; forward_credentials on passes Authorization', async (t) => {
  const mock = await t.mock();
  const tg = await t.tollgate({
    config: (port) => [
      `upstream ollama { server 127.0.0.1:${mock.port}; host_header preserve; }`,
      `site _ { listen 127.0.0.1:${port}; forward_credentials on; proxy ollama; }`, '',
    ].join('\n'),
  });
  // a private-IP Host passes the mock's Host check
  const j = await echo(tg.port, { Host: '127.0.0.1:9999', Authorization: 'Bearer sk-x', Cookie: 'a=b' });
  assert.equal(hdr(j.headers, 'host'), '127.0.0.1:9999');
  assert.equal(hdr(j.headers, 'authorization'), 'Bearer sk-x');
  assert.equal(hdr(j.headers, 'cookie'), 'a=b');
});

test('a request head over max_header_size → 431 (or 400), never forwarded', async (t) => {
  const mock = await t.mock();
  const tg = await t.tollgate({
    config: (port) => `upstream o { server 127.0.0.1:${mock.port}; }\nsite _ { listen 127.0.0.1:${port}; max_header_size 4k; }\n`,
  });
  const ok = await request(tg.port, { path: '/api/version', headers: { 'X-Pad': 'a'.repeat(2000) } });
  assert.equal(ok.status, 200, 'a 2 KB header was refused under a 4k limit');
  const c = await RawConn.connect(tg.port);
  try {
    await c.send({ path: '/api/tags', headers: { 'X-Pad': 'a'.repeat(8000) } });
    const r = await c.response(5000);
    assert.ok(r.status === 431 || r.status === 400, `status ${r.status}`);
  } finally {
    c.destroy();
  }
  const seen = (await mockRequests(mock)).map((e) => e.path);
  assert.deepEqual(seen, ['/api/version']);
});
