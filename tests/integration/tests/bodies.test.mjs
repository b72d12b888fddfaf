// Request bodies: large, chunked, over the limit, and an upstream that answers early.
import { test } from '../lib/harness.mjs';
import { RawConn, chunkedEncode } from '../lib/http.mjs';
import { mockRequests } from '../lib/mock.mjs';
import { sleep } from '../lib/proc.mjs';
import { siteConfig } from '../lib/config.mjs';
import { assert, assertOllamaError, assertOpenAIError } from '../lib/util.mjs';

const MB = 1024 * 1024;

function bigJson(n) {
  // a JSON body of exactly n bytes
  const head = '{"model":"llama3.2","prompt":"';
  const tail = '"}';
  return Buffer.from(head + 'x'.repeat(n - head.length - tail.length) + tail);
}

async function echo(port, body, { chunked = false, path = '/api/generate', extraHeaders = {} } = {}) {
  const c = await RawConn.connect(port);
  try {
    const headers = { 'Content-Type': 'application/json', 'X-Mock-Echo': '1', ...extraHeaders };
    if (chunked) {
      headers['Transfer-Encoding'] = 'chunked';
      await c.send({ method: 'POST', path, headers, body: chunkedEncode(body, 100000) });
    } else {
      await c.send({ method: 'POST', path, headers, body });
    }
    return await c.response(20000);
  } finally {
    c.destroy();
  }
}

test('5 MB body with Content-Length reaches the upstream whole', async (t) => {
  const { tg } = await t.pair();
  const body = bigJson(5 * MB);
  const r = await echo(tg.port, body);
  assert.equal(r.status, 200, `status ${r.status}: ${r.text().slice(0, 200)}`);
  const j = r.json();
  assert.equal(j.method, 'POST');
  assert.equal(j.path, '/api/generate');
  assert.equal(j.body_bytes, body.length);
});

test('5 MB chunked body reaches the upstream whole', async (t) => {
  const { tg } = await t.pair();
  const body = bigJson(5 * MB);
  const r = await echo(tg.port, body, { chunked: true });
  assert.equal(r.status, 200, `status ${r.status}: ${r.text().slice(0, 200)}`);
  assert.equal(r.json().body_bytes, body.length);
});

async function limited(t) {
  const mock = await t.mock();
  const tg = await t.tollgate({ config: (port) => siteConfig({ listenPort: port, upstream: `127.0.0.1:${mock.port}`, maxBody: '1m' }) });
  return { mock, tg };
}

test('body over client_max_body_size (Content-Length) → 413 from the head alone, upstream never sees it', async (t) => {
  const { mock, tg } = await limited(t);
  const ok = await echo(tg.port, bigJson(512 * 1024));
  assert.equal(ok.status, 200, 'a body under the limit was refused');
  const c = await RawConn.connect(tg.port);
  try {
    // only the head: the limit is known from Content-Length, no need to wait for the body
    await c.write(`POST /api/generate HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: ${2 * MB}\r\n\r\n`, 'POST');
    const r = await c.response(3000);
    assert.equal(r.status, 413, `status ${r.status}`);
    assertOllamaError(r.text(), '413');
  } finally {
    c.destroy();
  }
  const seen = await mockRequests(mock, '/api/generate');
  assert.equal(seen.length, 1, `the mock saw ${seen.length} requests (expected only the small one)`);
});

test('413 reaches a client that already sent its whole oversized body (lingering close, no RST)', async (t) => {
  const { mock, tg } = await limited(t);
  const r = await echo(tg.port, bigJson(2 * MB));
  assert.equal(r.status, 413, `status ${r.status}`);
  assertOllamaError(r.text(), '413');
  assert.equal((await mockRequests(mock, '/api/generate')).length, 0, 'the mock saw the request');
});

test('chunked body over client_max_body_size → 413, upstream never gets it whole', async (t) => {
  const { mock, tg } = await limited(t);
  const body = bigJson(2 * MB);
  const r = await echo(tg.port, body, { chunked: true });
  assert.equal(r.status, 413, `status ${r.status}: ${r.text().slice(0, 200)}`);
  const seen = await mockRequests(mock, '/api/generate');
  for (const s of seen) assert.ok(s.body_bytes < body.length, `the mock received the whole ${s.body_bytes}-byte body`);
});

test('413 on /v1/* is in OpenAI error shape', async (t) => {
  const { tg } = await limited(t);
  const c = await RawConn.connect(tg.port);
  try {
    await c.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: ${2 * MB}\r\n\r\n`, 'POST');
    const r = await c.response(3000);
    assert.equal(r.status, 413);
    assertOpenAIError(r.text(), '413 on /v1');
  } finally {
    c.destroy();
  }
});

test('upstream answers before the body is through: both directions finish', async (t) => {
  const { tg } = await t.pair();
  const c = await RawConn.connect(tg.port);
  try {
    await c.write('POST /api/generate HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n' +
      'Transfer-Encoding: chunked\r\nX-Mock-Early: 1\r\nX-Mock-Tokens: 10\r\nX-Mock-Delay-Ms: 20\r\n\r\n', 'POST');
    const piece = Buffer.alloc(16384, 0x61);
    let sent = 0;
    let sawEarly = false;
    for (let i = 0; i < 30; i++) {
      await c.write(Buffer.concat([Buffer.from(piece.length.toString(16) + '\r\n'), piece, Buffer.from('\r\n')]));
      sent += piece.length;
      await sleep(30);
      if (c.parser.cur || c.parser.responses.length) sawEarly = true;
    }
    await c.write('0\r\n\r\n');
    const r = await c.response(10000);
    assert.ok(sawEarly, 'no response bytes arrived while the body was still being sent');
    assert.equal(r.status, 200);
    assert.ok(r.complete, 'response truncated');
    const fin = JSON.parse(r.lines().at(-1));
    assert.equal(fin.done, true);
    assert.equal(fin.mock_body_bytes, sent, `mock read ${fin.mock_body_bytes} of ${sent} body bytes`);
  } finally {
    c.destroy();
  }
});

test('Expect: 100-continue: the client gets 100 Continue and the body goes through', async (t) => {
  const { tg } = await t.pair();
  const c = await RawConn.connect(tg.port);
  try {
    const body = bigJson(100000);
    await c.write(`POST /api/generate HTTP/1.1\r\nHost: a\r\nX-Mock-Echo: 1\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\n\r\n`, 'POST');
    let got100 = true;
    try {
      await c.until(() => c.parser.responses.length > 0, 2000, '100 Continue');
    } catch {
      got100 = false;
    }
    await c.write(body);
    const r = await c.response(5000);
    assert.equal(r.status, 200, `status ${r.status}`);
    assert.equal(r.json().body_bytes, body.length);
    assert.ok(got100, 'no 100 Continue within 2 s (curl waits 1 s on every upload over 1 MB)');
    assert.equal(c.parser.responses[0].status, 100);
  } finally {
    c.destroy();
  }
});

test('chunked body with chunk extensions and trailers is accepted', async (t) => {
  const { tg } = await t.pair();
  const c = await RawConn.connect(tg.port);
  try {
    const b = '{"model":"llama3.2","prompt":"hi"}';
    await c.write('POST /api/generate HTTP/1.1\r\nHost: a\r\nX-Mock-Echo: 1\r\nTransfer-Encoding: chunked\r\n\r\n' +
      `5;ext=1\r\n${b.slice(0, 5)}\r\n${(b.length - 5).toString(16)}\r\n${b.slice(5)}\r\n0\r\nX-Trailer: v\r\n\r\n`, 'POST');
    const r = await c.response(5000);
    assert.equal(r.status, 200, `status ${r.status}: ${r.text().slice(0, 200)}`);
    assert.equal(r.json().body_bytes, b.length);
  } finally {
    c.destroy();
  }
});
