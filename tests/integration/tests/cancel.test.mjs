// Client disconnects, dying upstreams, busy upstreams, backpressure.
import { test } from '../lib/harness.mjs';
import { RawConn, request, now } from '../lib/http.mjs';
import { mockEvents, waitEvent } from '../lib/mock.mjs';
import { sleep } from '../lib/proc.mjs';
import { assert, ms, GEN, parseJsonKeepNs } from '../lib/util.mjs';

async function rawEvents(mock) {
  const r = await request(mock.port, { path: '/_mock/events', headers: { Host: 'localhost' } });
  return parseJsonKeepNs(r.text);
}

async function waitDisconnect(mock, path, timeoutMs = 3000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ev = (await rawEvents(mock)).find((e) => e.ev === 'disconnect' && e.path === path);
    if (ev) return ev;
    if (Date.now() > deadline) return null;
    await sleep(20);
  }
}

test('client disconnect mid-stream reaches the mock within 100 ms', async (t) => {
  const { mock, tg } = await t.pair();
  const c = await RawConn.connect(tg.port);
  await c.send({ method: 'POST', path: '/api/generate', body: GEN(), headers: { 'X-Mock-Tokens': '500', 'X-Mock-Delay-Ms': '20' } });
  await c.until(() => c.parser.cur && c.parser.cur.chunks.length >= 5, 5000, '5 chunks');
  const tGone = now();
  c.destroy();
  const ev = await waitDisconnect(mock, '/api/generate');
  assert.ok(ev, 'the mock never saw the disconnect');
  const lag = ms(BigInt(ev.t_ns) - tGone);
  assert.ok(lag < 100, `the mock saw the disconnect ${lag.toFixed(1)} ms after the client went away`);
  assert.ok(ev.tokens_sent < 500, `tokens_sent ${ev.tokens_sent}`);
  // the gateway still works
  const r = await request(tg.port, { path: '/api/version' });
  assert.equal(r.status, 200);
});

test('client disconnect on an SSE stream reaches the mock within 100 ms', async (t) => {
  const { mock, tg } = await t.pair();
  const c = await RawConn.connect(tg.port);
  await c.send({ method: 'POST', path: '/v1/chat/completions', body: JSON.stringify({ model: 'llama3.2', stream: true, messages: [{ role: 'user', content: 'hi' }] }), headers: { 'X-Mock-Tokens': '500', 'X-Mock-Delay-Ms': '20' } });
  await c.until(() => c.parser.cur && c.parser.cur.chunks.length >= 3, 5000, '3 chunks');
  const tGone = now();
  c.destroy();
  const ev = await waitDisconnect(mock, '/v1/chat/completions');
  assert.ok(ev, 'the mock never saw the disconnect');
  const lag = ms(BigInt(ev.t_ns) - tGone);
  assert.ok(lag < 100, `the mock saw the disconnect ${lag.toFixed(1)} ms after the client went away`);
});

test('client disconnect of one stream does not disturb a concurrent one', async (t) => {
  const { tg } = await t.pair();
  const keep = await RawConn.connect(tg.port);
  const drop = await RawConn.connect(tg.port);
  try {
    await keep.send({ method: 'POST', path: '/api/generate', body: GEN(), headers: { 'X-Mock-Tokens': '30', 'X-Mock-Delay-Ms': '20' } });
    await drop.send({ method: 'POST', path: '/api/generate', body: GEN(), headers: { 'X-Mock-Tokens': '300', 'X-Mock-Delay-Ms': '20' } });
    await drop.until(() => drop.parser.cur && drop.parser.cur.chunks.length >= 3, 5000, '3 chunks');
    drop.destroy();
    const r = await keep.response(10000);
    assert.ok(r.complete, 'the other stream was cut');
    assert.equal(JSON.parse(r.lines().at(-1)).eval_count, 30);
  } finally {
    keep.destroy();
    drop.destroy();
  }
});

test('upstream reset mid-stream: the stream ends with an {"error"} line and a clean end, the next request works', async (t) => {
  const { tg } = await t.pair();
  const c = await RawConn.connect(tg.port);
  try {
    await c.send({ method: 'POST', path: '/api/generate', body: GEN(), headers: { 'X-Mock-Tokens': '20', 'X-Mock-Delay-Ms': '10', 'X-Mock-Reset-After': '4' } });
    assert.ok(await c.waitClose(5000), 'client connection not closed after the upstream reset');
    const r = c.parser.responses[0];
    assert.ok(r, 'no response head');
    assert.equal(r.status, 200);
    assert.equal(r.complete, true, 'a reset stream was cut instead of ended with its error line');
    assert.ok(!r.text().includes('"done":true'), 'final object present despite the reset');
    const last = JSON.parse(r.lines().at(-1));
    assert.match(last.error, /upstream reset the connection|closed/, `last line: ${r.lines().at(-1)}`);
  } finally {
    c.destroy();
  }
  for (let i = 0; i < 3; i++) {
    const r = await request(tg.port, { method: 'POST', path: '/api/generate', body: GEN(), headers: { 'X-Mock-Tokens': '3' } });
    assert.equal(r.status, 200, `request ${i} after the reset: ${r.status}`);
    assert.equal(JSON.parse(r.text.trim().split('\n').at(-1)).done, true);
  }
});

test('upstream closes mid-stream without the terminal chunk: the client gets an {"error"} line, then a clean end', async (t) => {
  const { tg } = await t.pair();
  const c = await RawConn.connect(tg.port);
  try {
    await c.send({ method: 'POST', path: '/api/chat', body: JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] }), headers: { 'X-Mock-Tokens': '20', 'X-Mock-Close-After': '5' } });
    assert.ok(await c.waitClose(5000), 'client connection not closed after the upstream went away');
    const r = c.parser.responses[0];
    assert.ok(r, 'no response head');
    assert.equal(r.complete, true, 'a cut stream did not end with its error line');
    assert.ok(r.lines().length >= 6, `${r.lines().length} lines before the cut`);
    assert.equal(JSON.parse(r.lines().at(-1)).error, 'upstream closed the connection');
  } finally {
    c.destroy();
  }
  const r = await request(tg.port, { path: '/api/version' });
  assert.equal(r.status, 200);
});

test('503 busy from the upstream passes through with its body', async (t) => {
  const { mock, tg } = await t.pair();
  const d = await request(mock.port, { method: 'POST', path: '/api/generate', body: GEN(), headers: { 'X-Mock-Busy': '1', Host: 'localhost' } });
  assert.equal(d.status, 503, 'control: the mock did not answer 503');
  const r = await request(tg.port, { method: 'POST', path: '/api/generate', body: GEN(), headers: { 'X-Mock-Busy': '1' } });
  assert.equal(r.status, 503);
  assert.equal(r.text, d.text);
  if (d.headers['retry-after']) assert.equal(r.headers['retry-after'], d.headers['retry-after']);
});

test('backpressure: a client that stops reading stops the upstream (bounded buffering)', async (t) => {
  const { mock, tg } = await t.pair();
  const LINE = 65536;
  const c = await RawConn.connect(tg.port);
  try {
    await c.send({ method: 'POST', path: '/api/generate', body: GEN(), headers: { 'X-Mock-Tokens': '3000', 'X-Mock-Line-Bytes': String(LINE) } });
    await c.until(() => c.parser.cur && c.parser.cur.chunks.length >= 1, 5000, 'first chunk');
    c.sock.pause();
    await sleep(1500);
    c.destroy();
  } finally {
    c.destroy();
  }
  const ev = await waitDisconnect(mock, '/api/generate', 5000);
  assert.ok(ev, 'the mock never saw the disconnect');
  const sentMB = (ev.tokens_sent * LINE) / (1024 * 1024);
  // a paused client: kernel socket buffers plus the gateway's bounded buffers, not 190 MB
  assert.ok(sentMB < 64, `the mock sent ${sentMB.toFixed(1)} MB while the client read nothing: the gateway buffers without bound`);
});

test('the mock logs each proxied request once', async (t) => {
  const { mock, tg } = await t.pair();
  await request(tg.port, { path: '/api/tags' });
  await request(tg.port, { method: 'POST', path: '/api/generate', body: GEN(), headers: { 'X-Mock-Tokens': '2' } });
  const evs = await mockEvents(mock);
  const reqs = evs.filter((e) => e.ev === 'request' && !e.path.startsWith('/_mock'));
  assert.deepEqual(reqs.map((e) => e.path), ['/api/tags', '/api/generate']);
  assert.ok(await waitEvent(mock, (e) => e.ev === 'done' && e.path === '/api/generate', 2000), 'no done event for the stream');
});

test('send timeout: a client that stops reading is dropped and the upstream closed', async (t) => {
  const mock = await t.mock();
  const tg = await t.tollgate({
    config: (port) => `upstream o { server 127.0.0.1:${mock.port}; }\nsite _ { listen 127.0.0.1:${port}; timeout send 1s; }\n`,
  });
  const c = await RawConn.connect(tg.port);
  try {
    await c.send({ method: 'POST', path: '/api/generate', body: GEN(), headers: { 'X-Mock-Tokens': '100000', 'X-Mock-Line-Bytes': '65536' } });
    await c.until(() => c.parser.cur && c.parser.cur.chunks.length >= 1, 5000, 'first chunk');
    c.sock.pause();
    const ev = await waitDisconnect(mock, '/api/generate', 6000);
    assert.ok(ev, 'the upstream stream is still running 6 s after the client stopped reading (send timeout 1 s)');
  } finally {
    c.destroy();
  }
});
