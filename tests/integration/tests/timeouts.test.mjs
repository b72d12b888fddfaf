// Timeouts toward the upstream (dial, header, idle) and toward the client
// (request head, body, keep-alive), and the errors the gateway makes.
import { test } from '../lib/harness.mjs';
import { RawConn, request } from '../lib/http.mjs';
import { mockRequests } from '../lib/mock.mjs';
import { freePort, sleep, blackholePort } from '../lib/proc.mjs';
import { siteConfig } from '../lib/config.mjs';
import { assert, assertOllamaError, assertOpenAIError, GEN, CHAT } from '../lib/util.mjs';

async function withConfig(t, o) {
  const mock = o.noMock ? null : await t.mock();
  const tg = await t.tollgate({
    config: (port) => siteConfig({ listenPort: port, upstream: o.upstream ?? `127.0.0.1:${mock.port}`, ...o }),
  });
  return { mock, tg };
}

test('response header timeout → 504 {"error":...}', async (t) => {
  const { tg } = await withConfig(t, { upstreamTimeouts: { header: '1s' } });
  const t0 = Date.now();
  const r = await request(tg.port, { method: 'POST', path: '/api/generate', body: GEN(), headers: { 'X-Mock-First-Byte-Ms': '3000' } });
  const el = Date.now() - t0;
  assert.equal(r.status, 504, `status ${r.status}: ${r.text.slice(0, 200)}`);
  assertOllamaError(r.text, '504');
  assert.ok(el >= 900 && el < 2900, `504 after ${el} ms with a 1 s header timeout`);
});

test('response header timeout on /v1/* → 504 in OpenAI shape', async (t) => {
  const { tg } = await withConfig(t, { upstreamTimeouts: { header: '1s' } });
  const r = await request(tg.port, { method: 'POST', path: '/v1/chat/completions', body: CHAT({ stream: true }), headers: { 'X-Mock-First-Byte-Ms': '3000' } });
  assert.equal(r.status, 504);
  assertOpenAIError(r.text, '504 on /v1');
});

test('a stream slower than the header timeout overall is not cut (timeout is to first byte only)', async (t) => {
  const { tg } = await withConfig(t, { upstreamTimeouts: { header: '1s' } });
  const r = await request(tg.port, { method: 'POST', path: '/api/generate', body: GEN(), headers: { 'X-Mock-Tokens': '8', 'X-Mock-Delay-Ms': '250' } });
  assert.equal(r.status, 200);
  assert.equal(JSON.parse(r.text.trim().split('\n').at(-1)).done, true);
});

test('idle timeout between chunks: the stream ends with an {"error"} line, a clean end and a close, not a hang', async (t) => {
  const { tg } = await withConfig(t, { upstreamTimeouts: { idle: '1s' } });
  const c = await RawConn.connect(tg.port);
  try {
    await c.send({ method: 'POST', path: '/api/generate', body: GEN(), headers: { 'X-Mock-Tokens': '20', 'X-Mock-Stall-After': '3' } });
    const t0 = Date.now();
    const closed = await c.waitClose(5000);
    assert.ok(closed, `connection still open ${Date.now() - t0} ms after the upstream stalled (idle timeout 1 s)`);
    const r = c.parser.responses[0];
    assert.ok(r, 'no response head at all');
    assert.equal(r.status, 200);
    assert.equal(r.complete, true, 'the stalled stream was cut instead of ended with its error line');
    assert.ok(r.lines().length >= 4, `got ${r.lines().length} lines before the stall`);
    assert.equal(JSON.parse(r.lines().at(-1)).error, 'upstream sent nothing within the idle timeout');
  } finally {
    c.destroy();
  }
});

test('the idle timeout does not cut a stream whose chunks keep coming', async (t) => {
  const { tg } = await withConfig(t, { upstreamTimeouts: { idle: '1s' } });
  const r = await request(tg.port, { method: 'POST', path: '/api/generate', body: GEN(), headers: { 'X-Mock-Tokens': '6', 'X-Mock-Delay-Ms': '400' } });
  assert.equal(r.status, 200);
  assert.equal(JSON.parse(r.text.trim().split('\n').at(-1)).done, true);
});

test('refused upstream → 502 {"error":...}', async (t) => {
  const port = await freePort();
  const tg = await t.tollgate({ upstream: `http://127.0.0.1:${port}` });
  const r = await request(tg.port, { path: '/api/tags' });
  assert.equal(r.status, 502, `status ${r.status}`);
  assertOllamaError(r.text, '502');
  const r2 = await request(tg.port, { path: '/api/tags' });
  assert.equal(r2.status, 502, 'second request');
});

test('refused upstream on /v1/* → 502 in OpenAI shape', async (t) => {
  const port = await freePort();
  const tg = await t.tollgate({ upstream: `http://127.0.0.1:${port}` });
  const r = await request(tg.port, { path: '/v1/models' });
  assert.equal(r.status, 502);
  assertOpenAIError(r.text, '502 on /v1');
});

test('upstream that never answers the SYN, dial timeout 1s → 502 within the timeout', async (t) => {
  const bh = await blackholePort();
  t.defer(() => bh.close());
  assert.ok(bh.hung, 'control: could not make a port whose connects hang');
  const { tg } = await withConfig(t, { noMock: true, upstream: `127.0.0.1:${bh.port}`, upstreamTimeouts: { dial: '1s' } });
  const t0 = Date.now();
  const r = await request(tg.port, { path: '/api/version' });
  const el = Date.now() - t0;
  assert.equal(r.status, 502, `status ${r.status}: ${r.text.slice(0, 200)}`);
  assertOllamaError(r.text);
  assert.ok(el >= 900 && el < 3000, `answered after ${el} ms with a 1 s dial timeout`);
});

test('slowloris: half a request head is closed after the header timeout', async (t) => {
  const { mock, tg } = await withConfig(t, { siteTimeouts: { header: '1s' } });
  const c = await RawConn.connect(tg.port);
  try {
    await c.write('GET /api/version HTTP/1.1\r\nHost: a\r\nX-Slow: ');
    const t0 = Date.now();
    const closed = await c.waitClose(4000);
    assert.ok(closed, `connection still open ${Date.now() - t0} ms later (header timeout 1 s)`);
    const r = c.parser.responses[0];
    if (r) assert.ok(r.status === 408 || r.status === 400, `status ${r.status}`);
    assert.equal((await mockRequests(mock)).length, 0, 'the mock saw the unfinished request');
  } finally {
    c.destroy();
  }
});

// Timers move lazily (a later deadline only records itself): a shorter
// deadline after a longer one must still take effect at once.
test('a kept-alive connection\'s second request still gets the 1 s header timeout (after the 75 s keep-alive wait)', async (t) => {
  const { tg } = await withConfig(t, { siteTimeouts: { header: '1s' } });
  const c = await RawConn.connect(tg.port);
  try {
    await c.send({ path: '/api/version' });
    assert.equal((await c.response(5000)).status, 200);
    await c.write('GET /api/version HTTP/1.1\r\nHost: a\r\nX-Slow: ');
    const t0 = Date.now();
    assert.ok(await c.waitClose(4000), `connection still open ${Date.now() - t0} ms later (header timeout 1 s)`);
  } finally {
    c.destroy();
  }
});

test('a pooled upstream connection, reused, still answers 504 at the 1 s header timeout (after its 60 s keep-alive wait)', async (t) => {
  const { tg } = await withConfig(t, { upstreamTimeouts: { header: '1s' } });
  const c = await RawConn.connect(tg.port);
  try {
    await c.send({ path: '/api/version' }); // leaves an idle upstream connection in the pool
    assert.equal((await c.response(5000)).status, 200);
    const t0 = Date.now();
    await c.send({ method: 'POST', path: '/api/generate', body: GEN(), headers: { 'X-Mock-First-Byte-Ms': '3000' } });
    const r = await c.response(5000);
    const el = Date.now() - t0;
    assert.equal(r.status, 504);
    assert.ok(el >= 900 && el < 2900, `504 after ${el} ms with a 1 s header timeout`);
  } finally {
    c.destroy();
  }
});

test('slowloris: a head trickled byte by byte is still cut at the header timeout', async (t) => {
  const { tg } = await withConfig(t, { siteTimeouts: { header: '1s' } });
  const c = await RawConn.connect(tg.port);
  try {
    const t0 = Date.now();
    const head = 'GET /api/version HTTP/1.1\r\nHost: a\r\nX-Pad: ' + 'a'.repeat(200);
    for (const ch of head) {
      if (c.closed || Date.now() - t0 > 5000) break;
      c.sock.write(ch);
      await sleep(100);
    }
    const el = Date.now() - t0;
    assert.ok(c.closed, `connection still open after ${el} ms of trickling (header timeout 1 s)`);
    assert.ok(el < 4000, `closed only after ${el} ms`);
  } finally {
    c.destroy();
  }
});

test('request body timeout: a stalled body is closed', async (t) => {
  const { tg } = await withConfig(t, { siteTimeouts: { body: '1s' } });
  const c = await RawConn.connect(tg.port);
  try {
    await c.write('POST /api/generate HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model":', 'POST');
    const t0 = Date.now();
    const closed = await c.waitClose(5000);
    assert.ok(closed, `connection still open ${Date.now() - t0} ms after the body stalled (body timeout 1 s)`);
    const r = c.parser.responses[0];
    if (r && r.status !== 200) assert.ok(r.status === 408 || r.status === 400 || r.status >= 500, `status ${r.status}`);
  } finally {
    c.destroy();
  }
});

test('idle keep-alive client connection is closed after the keepalive timeout', async (t) => {
  const { tg } = await withConfig(t, { siteTimeouts: { keepalive: '1s' } });
  const c = await RawConn.connect(tg.port);
  try {
    await c.send({ path: '/api/version' });
    const r = await c.response(5000);
    assert.equal(r.status, 200);
    const t0 = Date.now();
    assert.ok(await c.waitClose(4000), 'idle connection still open 4 s later (keepalive 1 s)');
    assert.ok(Date.now() - t0 > 500, 'closed right away, not after the keepalive timeout');
  } finally {
    c.destroy();
  }
});

test('the upstream idle timeout does not fire while tollgate itself holds reads back for a slow client', async (t) => {
  const { tg } = await withConfig(t, { upstreamTimeouts: { idle: '1s' } });
  const c = await RawConn.connect(tg.port);
  try {
    // 400 lines of 64 KiB (25 MB): far more than the socket buffers hold
    await c.send({ method: 'POST', path: '/api/generate', body: GEN(), headers: { 'X-Mock-Tokens': '400', 'X-Mock-Delay-Ms': '0', 'X-Mock-Line-Bytes': '65536' } });
    await c.until(() => c.parser.cur && c.parser.cur.chunks.length >= 1, 5000, 'first chunk');
    c.sock.pause();
    await sleep(2500);
    c.sock.resume();
    const r = await c.response(15000);
    assert.ok(r.complete, 'the stream was cut while the client was slow (upstream idle timer ran while tollgate was not reading)');
    assert.equal(r.lines().length, 401);
  } finally {
    c.destroy();
  }
});
