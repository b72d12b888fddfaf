// WebSocket: the handshake is passed on with its Upgrade, then bytes are
// tunnelled both ways; other upgrades (h2c) are never passed on.
import { WebSocket, WebSocketServer } from 'ws';
import { test } from '../lib/harness.mjs';
import { RawConn, request, wsScheme } from '../lib/http.mjs';
import { TLS } from '../lib/tls.mjs';
import { sleep } from '../lib/proc.mjs';
import { assert } from '../lib/util.mjs';

// A WebSocket echo server standing in for the upstream; records what it saw.
async function echoUpstream(t) {
  const seen = { handshakes: [], closed: 0 };
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.on('listening', r));
  wss.on('connection', (ws, req) => {
    seen.handshakes.push({ url: req.url, headers: req.headers });
    ws.on('message', (data, binary) => ws.send(data, { binary }));
    ws.on('close', () => seen.closed++);
  });
  t.defer(() => new Promise((r) => wss.close(r)));
  return { port: wss.address().port, seen, wss };
}

function openClient(url, opts = {}) {
  const ws = new WebSocket(url, url.startsWith('wss:') ? { ca: TLS.ca, ...opts } : opts);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
  });
}

function nextMessage(ws) {
  return new Promise((resolve, reject) => {
    ws.once('message', (d) => resolve(d));
    ws.once('close', () => reject(new Error('closed before a message')));
  });
}

test('a WebSocket echo works through tollgate, text and binary, both ways', async (t) => {
  const up = await echoUpstream(t);
  const tg = await t.tollgate({ upstream: `http://127.0.0.1:${up.port}` });
  const ws = await openClient(`${wsScheme(tg.port)}://127.0.0.1:${tg.port}/ws?x=1`);
  for (let i = 0; i < 20; i++) {
    ws.send(`hello ${i}`);
    assert.equal(String(await nextMessage(ws)), `hello ${i}`);
  }
  const big = Buffer.alloc(1 << 20, 7);
  ws.send(big);
  const back = await nextMessage(ws);
  assert.ok(Buffer.compare(Buffer.from(back), big) === 0, 'a 1 MiB binary message came back changed');
  assert.equal(up.seen.handshakes.length, 1);
  const h = up.seen.handshakes[0];
  assert.equal(h.url, '/ws?x=1');
  assert.equal(h.headers.upgrade, 'websocket');
  assert.match(h.headers.connection, /upgrade/i);
  assert.ok(h.headers['sec-websocket-key'], 'Sec-WebSocket-Key reached the upstream');
  assert.equal(h.headers.host, 'localhost:11434');
  ws.close();
  await new Promise((r) => ws.once('close', r));
});

test('a WebSocket through a mount prefix reaches the stripped path', async (t) => {
  const up = await echoUpstream(t);
  const tg = await t.tollgate({ upstream: `http://127.0.0.1:${up.port}`, mount: '/ollama' });
  const ws = await openClient(`${wsScheme(tg.port)}://127.0.0.1:${tg.port}/ollama/api/ws`);
  ws.send('x');
  assert.equal(String(await nextMessage(ws)), 'x');
  assert.equal(up.seen.handshakes[0].url, '/api/ws');
  ws.terminate();
});

test('the upstream closing a tunnel closes the client, and the access log has the bytes', async (t) => {
  const up = await echoUpstream(t);
  const dir = t.tmpDir();
  const log = `${dir}/access.log`;
  const tg = await t.tollgate({ upstream: `http://127.0.0.1:${up.port}`, accessLog: log });
  const ws = await openClient(`${wsScheme(tg.port)}://127.0.0.1:${tg.port}/ws`);
  ws.send('0123456789');
  await nextMessage(ws);
  const closed = new Promise((r) => ws.once('close', (code) => r(code)));
  for (const c of up.wss.clients) c.close(4001, 'bye');
  assert.equal(await closed, 4001);
  const { readFileSync } = await import('node:fs');
  let line;
  for (let i = 0; i < 50 && !line; i++) {
    await sleep(50);
    line = readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.status === 101);
  }
  assert.ok(line, 'no access-log line with status 101');
  assert.ok(line.bytes_in > 10 && line.bytes_out > 10, `bytes ${line.bytes_in}/${line.bytes_out}`);
});

test('a client leaving a tunnel closes the upstream side at once', async (t) => {
  const up = await echoUpstream(t);
  const tg = await t.tollgate({ upstream: `http://127.0.0.1:${up.port}` });
  const ws = await openClient(`${wsScheme(tg.port)}://127.0.0.1:${tg.port}/ws`);
  ws.send('a');
  await nextMessage(ws);
  ws.terminate();
  for (let i = 0; i < 40 && up.seen.closed === 0; i++) await sleep(25);
  assert.equal(up.seen.closed, 1, 'the upstream socket is still open 1 s after the client left');
});

test('the tunnel idle timeout closes a silent tunnel', async (t) => {
  const up = await echoUpstream(t);
  const tg = await t.tollgate({
    config: (port) => `upstream u { server 127.0.0.1:${up.port}; }\nsite _ { listen 127.0.0.1:${port}; timeout tunnel 1s; proxy u; }\n`,
  });
  const ws = await openClient(`${wsScheme(tg.port)}://127.0.0.1:${tg.port}/ws`);
  const t0 = Date.now();
  await new Promise((r) => ws.once('close', r));
  const took = Date.now() - t0;
  assert.ok(took >= 900 && took < 4000, `closed after ${took} ms (tunnel timeout 1 s)`);
});

test('Upgrade: h2c is not passed on as an upgrade', async (t) => {
  const { mock, tg } = await t.pair();
  const c = await RawConn.connect(tg.port);
  await c.write(Buffer.from('GET /api/version HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n'), 'GET');
  const r = await c.response(5000);
  assert.equal(r.status, 200);
  const echo = await request(mock.port, { path: '/_mock/events', headers: { Host: 'localhost' } });
  const ev = JSON.parse(echo.text).find((e) => e.ev === 'request' && e.path === '/api/version');
  assert.ok(ev, 'the request never reached the mock');
  assert.equal(ev.headers.upgrade, undefined, 'Upgrade: h2c reached the upstream');
  assert.equal(ev.headers['http2-settings'], undefined, 'HTTP2-Settings reached the upstream');
  c.destroy();
});

test('a WebSocket handshake that announces a body is not passed on as an upgrade', async (t) => {
  const { mock, tg } = await t.pair();
  const c = await RawConn.connect(tg.port);
  // a handshake head goes up without framing fields: the body would follow it unframed
  await c.write(Buffer.from('GET /api/version HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n'
    + 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nContent-Length: 4\r\n\r\nabcd'), 'GET');
  const r = await c.response(5000);
  assert.equal(r.status, 200, r.text());
  const echo = await request(mock.port, { path: '/_mock/events', headers: { Host: 'localhost' } });
  const reqs = JSON.parse(echo.text).filter((e) => e.ev === 'request');
  assert.equal(reqs.length, 1, JSON.stringify(reqs.map((e) => e.path)));
  assert.equal(reqs[0].headers.upgrade, undefined, 'Upgrade reached the upstream');
  assert.equal(reqs[0].headers['content-length'], '4', 'the body went up without its Content-Length');
  c.destroy();
});
