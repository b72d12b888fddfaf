// Limits and route policy (docs/limits.md), each measured against its
// definition: nginx limit_req's leaky bucket, limit_conn, the generation
// cap and its queue, admin routes, per-route body limits, CORS, trusted
// proxies.
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { basic, readLog } from '../lib/auth.mjs';
import { test } from '../lib/harness.mjs';
import { burstNodelay, delayed, embed } from '../lib/rate-sequences.mjs';
import { connectSocket, request } from '../lib/http.mjs';
import { waitEvent } from '../lib/mock.mjs';
import { freePort, sleep } from '../lib/proc.mjs';
import { assert, GEN } from '../lib/util.mjs';

function conf({ port, upstream, lines = [], top = [], workers = 2 }) {
  return [`workers ${workers};`, ...top, `upstream ollama { server ${upstream}; }`, 'site _ {',
    `  listen 127.0.0.1:${port};`, ...lines.map((l) => `  ${l}`), '}'].join('\n') + '\n';
}

async function limitPair(t, lines, { top = [], mockArgs = [] } = {}) {
  const mock = await t.mock(mockArgs);
  const tg = await t.tollgate({ config: (port) => conf({ port, upstream: `127.0.0.1:${mock.port}`, lines, top }) });
  return { mock, tg };
}

const slowGen = (port, ms = 100, tokens = 10, headers = {}) => request(port, { method: 'POST', path: '/api/generate',
  headers: { 'X-Mock-Delay-Ms': String(ms), 'X-Mock-Tokens': String(tokens), ...headers }, body: GEN() });

test('limit rate 5r/s burst 10 nodelay: 11 at once (nginx: 1 + burst), then one per 200 ms, 429 + Retry-After', async (t) => {
  const { tg } = await limitPair(t, ['limit rate 5r/s burst 10 nodelay per ip;']);
  await burstNodelay(t, () => embed(tg.port));
  // routes outside the default set are not limited
  assert.equal((await request(tg.port, { path: '/api/version' })).status, 200);
  // OpenAI shape on /v1/
  const v1 = await request(tg.port, { method: 'POST', path: '/v1/chat/completions', body: '{}' });
  if (v1.status === 429) assert.equal(JSON.parse(v1.text).error.message, 'rate limit exceeded, please slow down');
});

test('limit rate without nodelay: excess requests are delayed to the rate; limit_status', async (t) => {
  const { tg } = await limitPair(t, ['limit rate 5r/s burst 3 per ip;', 'limit_status 503;']);
  await delayed(t, () => embed(tg.port));
});

test('limit conn 2 per ip: a third request in flight is refused, then accepted once one ends', async (t) => {
  const { tg } = await limitPair(t, ['limit conn 2 per ip;']);
  const a = slowGen(tg.port, 100, 6);
  const b = slowGen(tg.port, 100, 6);
  await sleep(150);
  const c = await embed(tg.port);
  assert.equal(c.status, 429);
  assert.equal(c.headers['retry-after'], '1');
  assert.equal((await a).status, 200);
  assert.equal((await b).status, 200);
  assert.equal((await embed(tg.port)).status, 200);
});

test('limit concurrency 1 queue 1: FIFO wait, 503 past the queue, queue timeout', async (t) => {
  const adminPort = await freePort();
  const { tg } = await limitPair(t, ['limit concurrency 1 queue 1 timeout 3s;'], { top: [`admin 127.0.0.1:${adminPort};`] });
  const t0 = Date.now();
  const a = slowGen(tg.port, 100, 5).then((r) => ({ r, at: Date.now() - t0 }));
  await sleep(100);
  const b = slowGen(tg.port, 10, 2).then((r) => ({ r, at: Date.now() - t0 }));
  await sleep(100);
  const depth = await request(adminPort, { path: '/metrics' });
  assert.match(depth.text, /^tollgate_queue_depth 1$/m);
  const c = await slowGen(tg.port, 10, 1);
  assert.equal(c.status, 503);
  assert.equal(c.headers['retry-after'], '1');
  assert.equal(c.text, '{"error":"server busy, please try again.  maximum pending requests exceeded"}');
  const [ra, rb] = await Promise.all([a, b]);
  assert.equal(ra.r.status, 200);
  assert.equal(rb.r.status, 200);
  assert.ok(rb.at >= ra.at, `b ended at ${rb.at} ms, a at ${ra.at} ms`);
  // the queue timeout
  const long = slowGen(tg.port, 1000, 4);
  await sleep(100);
  const t1 = Date.now();
  const late = await slowGen(tg.port, 10, 1);
  assert.equal(late.status, 503);
  assert.match(JSON.parse(late.text).error, /^server busy, please try again\. {2}timed out/);
  assert.ok(Date.now() - t1 >= 2900, `timed out after ${Date.now() - t1} ms`);
  assert.equal((await long).status, 200);
  assert.match((await request(adminPort, { path: '/metrics' })).text, /^tollgate_queue_depth 0$/m);
}, { timeoutMs: 20000 });

test('limit concurrency: a queued client that disconnects leaves the queue', async (t) => {
  const adminPort = await freePort();
  const { tg } = await limitPair(t, ['limit concurrency 1 queue 1 timeout 10s;'], { top: [`admin 127.0.0.1:${adminPort};`] });
  const a = slowGen(tg.port, 100, 8);
  await sleep(100);
  const body = GEN();
  let s;
  await new Promise((r) => { s = connectSocket(tg.port, '127.0.0.1', r); });
  s.write(`POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  await sleep(150);
  assert.match((await request(adminPort, { path: '/metrics' })).text, /^tollgate_queue_depth 1$/m);
  s.destroy();
  await sleep(150);
  assert.match((await request(adminPort, { path: '/metrics' })).text, /^tollgate_queue_depth 0$/m);
  // its place is free: the next one waits instead of being refused
  const b = await slowGen(tg.port, 10, 1);
  assert.equal(b.status, 200);
  assert.equal((await a).status, 200);
});

test('admins: admin routes for listed users only (403 Ollama-shaped); open without auth', async (t) => {
  const dir = t.tmpDir();
  writeFileSync(path.join(dir, 'users'), 'root:$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.\nbob:$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.\n');
  const { tg } = await limitPair(t, [`auth basic ${dir}/users;`, 'admins root;']);
  const pull = (u) => request(tg.port, { method: 'POST', path: '/api/pull', headers: { Authorization: basic(u, 'password') },
    body: JSON.stringify({ model: 'x', stream: false }) });
  assert.equal((await pull('root')).status, 200);
  const r = await pull('bob');
  assert.equal(r.status, 403);
  assert.equal(JSON.parse(r.text).error, 'this route is for administrators');
  const del = await request(tg.port, { method: 'DELETE', path: '/api/delete', headers: { Authorization: basic('bob', 'password') }, body: '{"model":"x"}' });
  assert.equal(del.status, 403);
  assert.equal((await request(tg.port, { path: '/api/tags', headers: { Authorization: basic('bob', 'password') } })).status, 200);
  // with auth and no admins list: nobody
  const dir2 = t.tmpDir();
  writeFileSync(path.join(dir2, 'users'), 'root:$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.\n');
  const { tg: tg2 } = await limitPair(t, [`auth basic ${dir2}/users;`]);
  const r2 = await request(tg2.port, { method: 'POST', path: '/api/copy', headers: { Authorization: basic('root', 'password') }, body: '{}' });
  assert.equal(r2.status, 403);
});

test('route client_max_body_size: a per-route body limit', async (t) => {
  const { tg } = await limitPair(t, ['client_max_body_size 1m;', 'route /api/embed { client_max_body_size 100; }']);
  const big = JSON.stringify({ model: 'nomic-embed-text', input: 'x'.repeat(200) });
  assert.equal((await request(tg.port, { method: 'POST', path: '/api/embed', body: big })).status, 413);
  assert.equal((await request(tg.port, { method: 'POST', path: '/api/embed', headers: { 'Transfer-Encoding': 'chunked' }, body: big })).status, 413);
  assert.equal((await embed(tg.port)).status, 200);
  assert.equal((await request(tg.port, { method: 'POST', path: '/api/generate', body: GEN({ stream: false, pad: 'x'.repeat(200) }) })).status, 200);
});

test('cors: preflight answered at the edge (204 or 403), allowed origins get the headers, upstream CORS removed', async (t) => {
  const { tg, mock } = await limitPair(t, ['cors { origins https://app.example *.example.org; credentials on; expose X-Request-Id; max_age 10m; }']);
  const pre = (origin) => request(tg.port, { method: 'OPTIONS', path: '/api/chat',
    headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type, authorization' } });
  const ok = await pre('https://chat.example.org');
  assert.equal(ok.status, 204);
  assert.equal(ok.headers['access-control-allow-origin'], 'https://chat.example.org');
  assert.equal(ok.headers['access-control-allow-credentials'], 'true');
  assert.equal(ok.headers['access-control-allow-headers'], 'content-type, authorization');
  assert.equal(ok.headers['access-control-max-age'], '600');
  assert.match(ok.headers['access-control-allow-methods'], /POST/);
  assert.equal(ok.headers['content-length'], undefined);
  const no = await pre('https://evil.example');
  assert.equal(no.status, 403);
  assert.equal(no.headers['access-control-allow-origin'], undefined);
  // a real request: the edge's headers for an allowed origin, none otherwise
  const echo = { 'X-Mock-Echo': '1' };
  const r = await request(tg.port, { method: 'POST', path: '/api/chat', headers: { Origin: 'https://app.example', ...echo }, body: '{}' });
  assert.equal(r.status, 200);
  assert.equal(r.headers['access-control-allow-origin'], 'https://app.example');
  assert.equal(r.headers['access-control-expose-headers'], 'X-Request-Id');
  assert.match(r.headers.vary, /Origin/);
  const r2 = await request(tg.port, { method: 'POST', path: '/api/chat', headers: { Origin: 'https://evil.example', ...echo }, body: '{}' });
  assert.equal(r2.headers['access-control-allow-origin'], undefined);
  void mock;
});

test('trusted_proxies: X-Forwarded-For honoured only from a trusted peer, for logs and limits', async (t) => {
  const dir = t.tmpDir();
  const log = path.join(dir, 'access.log');
  const mock = await t.mock();
  const mk = (trusted, logFile) => t.tollgate({ config: (port) => conf({ port, upstream: `127.0.0.1:${mock.port}`,
    top: [`access_log ${logFile};`], lines: [`trusted_proxies ${trusted};`, 'limit rate 1r/s per ip;'] }) });
  const tg = await mk('127.0.0.0/8 10.0.0.0/8', log);
  const xff = (v) => embed(tg.port, { 'X-Forwarded-For': v });
  assert.equal((await xff('203.0.113.1, 10.0.0.5')).status, 200);
  assert.equal((await xff('203.0.113.2')).status, 200); // another client: its own bucket
  assert.equal((await xff('203.0.113.1')).status, 429);
  assert.equal((await embed(tg.port, { Forwarded: 'for="[2001:db8::7]:4711";proto=https' })).status, 200);
  const lines = await readLog(log, 4);
  // two workers write their own lines: compare without the order
  assert.deepEqual(lines.map((l) => l.client).sort(), ['2001:db8::7', '203.0.113.1', '203.0.113.1', '203.0.113.2']);
  const log2 = path.join(dir, 'access2.log');
  const tg2 = await mk('10.0.0.0/8', log2);
  assert.equal((await embed(tg2.port, { 'X-Forwarded-For': '203.0.113.1' })).status, 200);
  assert.equal((await embed(tg2.port, { 'X-Forwarded-For': '203.0.113.2' })).status, 429); // same peer: same bucket
  const l2 = await readLog(log2, 2);
  assert.deepEqual(l2.map((l) => l.client), ['127.0.0.1', '127.0.0.1']);
});

test('admin routes and rate limits hold for percent-encoded paths (Ollama decodes them before routing)', async (t) => {
  const dir = t.tmpDir();
  writeFileSync(path.join(dir, 'users'), 'root:$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.\nbob:$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.\n');
  const { tg } = await limitPair(t, [`auth basic ${dir}/users;`, 'admins root;', 'limit rate 1r/m per user;']);
  const as = { Authorization: basic('bob', 'password') };
  const pull = await request(tg.port, { method: 'POST', path: '/api/%70ull', headers: as, body: '{"model":"x","stream":false}' });
  assert.equal(pull.status, 403);
  assert.equal((await request(tg.port, { method: 'POST', path: '/api/embed', headers: as, body: JSON.stringify({ model: 'nomic-embed-text', input: 'x' }) })).status, 200);
  const again = await request(tg.port, { method: 'POST', path: '/api/%65mbed', headers: as, body: JSON.stringify({ model: 'nomic-embed-text', input: 'x' }) });
  assert.equal(again.status, 429);
  assert.equal((await request(tg.port, { path: '/api/%zz', headers: as })).status, 400);
});

test('access log: a 429 names the limit that refused it (refused_by)', async (t) => {
  const file = path.join(t.tmpDir(), 'access.log');
  const { tg, mock } = await limitPair(t, ['limit rate 1r/m per ip on embed;', 'limit conn 1 per ip;'],
    { top: [`access_log ${file};`] });
  assert.equal((await embed(tg.port)).status, 200);
  const byRate = await embed(tg.port);
  assert.equal(byRate.status, 429, `rate: ${byRate.text}`);
  const slow = slowGen(tg.port, 200, 15); // 3 s: still in flight when the next one comes
  // admitted once the mock sees it (a fixed sleep lost that race under ThreadSanitizer on a loaded machine)
  assert.ok(await waitEvent(mock, (e) => e.ev === 'request' && e.path === '/api/generate', 5000), 'the slow generation never reached the mock');
  const byConn = await slowGen(tg.port, 1, 1); // one in flight from this address already
  assert.equal(byConn.status, 429, `conn: ${byConn.text}`);
  assert.equal((await slow).status, 200);
  const recs = await readLog(file, 4);
  const refused = recs.filter((r) => r.status === 429).map((r) => r.refused_by);
  assert.deepEqual(refused.sort(), ['conn per ip', 'rate per ip'], JSON.stringify(recs));
  assert.ok(recs.filter((r) => r.status === 200).every((r) => !('refused_by' in r)), JSON.stringify(recs));
});
