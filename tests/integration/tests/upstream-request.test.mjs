// The request on its way up: the head and the body bytes read with it go
// in one write (src/relay/relay.c: relay_join_body), and nothing of the
// request is lost, doubled or reordered by it: a Content-Length body, a
// chunked one, a body longer than one read, pipelined requests (whose body
// is parsed after the head went alone), an upstream of several servers
// (where a failed write of the head may still go to another server, so the
// head is written alone first) and Expect: 100-continue (the body comes
// after the 100).
import assert from 'node:assert/strict';
import { test } from '../lib/harness.mjs';
import { RawConn } from '../lib/http.mjs';
import { startRawUpstream } from '../lib/raw-upstream.mjs';

// Answers every request with what it received: its method and target, the
// framing fields tollgate wrote, and the body exactly as it came.
function startEcho() {
  return startRawUpstream((s, target, conn, head, body) => {
    const framing = head.split('\r\n').filter((l) => /^(content-length|transfer-encoding):/i.test(l)).join('|').toLowerCase();
    const text = JSON.stringify({ line: head.split('\r\n')[0], framing, body });
    s.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
  });
}

// The echo upstream, a tollgate of one worker in front of it, and a client connection.
async function echoPair(t) {
  const up = await startEcho();
  t.defer(() => up.close());
  const tg = await t.tollgate({ upstream: `http://127.0.0.1:${up.port}`, workers: 1, accessLog: 'off' });
  const conn = await RawConn.connect(tg.port);
  t.defer(() => conn.destroy());
  return { up, conn };
}

const post = (path, body, extra = '') => `POST ${path} HTTP/1.1\r\nHost: a\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

async function echoed(conn, bytes) {
  await conn.write(Buffer.from(bytes, 'latin1'), 'POST');
  const r = await conn.response(5000);
  assert.equal(r.status, 200, r.text());
  return r.json();
}

test('a body read with its head reaches the upstream intact, on a new and on a pooled connection', async (t) => {
  const { up, conn } = await echoPair(t);
  for (const n of [1, 2, 3]) { // the first dials, the others reuse it
    const body = JSON.stringify({ model: 'llama3.2', n });
    const e = await echoed(conn, post('/api/show', body));
    assert.equal(e.line, 'POST /api/show HTTP/1.1');
    assert.equal(e.framing, `content-length: ${body.length}`);
    assert.equal(e.body, body);
  }
  // chunked, in one write with its head: re-chunked with the client's sizes
  await conn.write(Buffer.from('POST /api/show HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{"m\r\n4\r\n":1}\r\n0\r\n\r\n', 'latin1'), 'POST');
  const r = await conn.response(5000);
  const e = r.json();
  assert.equal(e.framing, 'transfer-encoding: chunked');
  assert.equal(e.body, '3\r\n{"m\r\n4\r\n":1}\r\n0\r\n\r\n');
  assert.equal(new Set(up.log.map((x) => x.conn)).size, 1, 'one upstream connection for all');
});

test('a body longer than one read, and one that comes after its head: intact', async (t) => {
  const { conn } = await echoPair(t);
  const big = 'x'.repeat(300 * 1024);
  let e = await echoed(conn, post('/api/embed', big));
  assert.equal(e.body.length, big.length);
  assert.equal(e.body, big);
  // the head alone, then the body in a later write
  const body = '{"late":true}';
  await conn.write(Buffer.from(`POST /api/show HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n`, 'latin1'), 'POST');
  await new Promise((r) => setTimeout(r, 50));
  await conn.write(Buffer.from(body, 'latin1'));
  const r = await conn.response(5000);
  e = r.json();
  assert.equal(e.body, body);
});

test('pipelined POSTs in one write: each body with its own head, in order', async (t) => {
  const { conn } = await echoPair(t);
  const bodies = ['{"a":1}', '', '{"bb":22}', '{"ccc":333}']; // an empty body (Content-Length: 0) too
  for (const b of bodies) conn.parser.expect('POST');
  await conn.write(Buffer.from(bodies.map((b, i) => post(`/api/show?i=${i}`, b)).join(''), 'latin1'));
  for (let i = 0; i < bodies.length; i++) {
    const e = (await conn.response(5000)).json();
    assert.equal(e.line, `POST /api/show?i=${i} HTTP/1.1`);
    assert.equal(e.body, bodies[i]);
  }
});

test('two servers, and Expect: 100-continue: the head goes alone first, the body intact after it', async (t) => {
  const a = await startEcho();
  const b = await startEcho();
  t.defer(() => a.close());
  t.defer(() => b.close());
  const tg = await t.tollgate({
    config: (port) => `workers 1;\naccess_log off;\nupstream two { server 127.0.0.1:${a.port}; server 127.0.0.1:${b.port}; }\nsite _ { listen 127.0.0.1:${port}; proxy two; }\n`,
  });
  const conn = await RawConn.connect(tg.port);
  t.defer(() => conn.destroy());
  for (const n of [1, 2, 3, 4]) {
    const body = JSON.stringify({ n });
    const e = await echoed(conn, post('/api/show', body));
    assert.equal(e.body, body);
  }
  assert.ok(a.log.length && b.log.length, 'both servers served');
  // Expect: the 100 first, then the body, which reaches the upstream intact
  const body = '{"expect":1}';
  await conn.write(Buffer.from(`POST /api/show HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`, 'latin1'), 'POST');
  const cont = await conn.response(5000, { keep1xx: true });
  assert.equal(cont.status, 100);
  await conn.write(Buffer.from(body, 'latin1'));
  const e = (await conn.response(5000)).json();
  assert.equal(e.body, body);
});
