// Per-user model allow-lists and token quotas (docs/limits.md): the model a
// request body names is checked before anything reaches the mock, listings
// are filtered, quotas are counted from the tokens the stream reports
// (Ollama's final object, OpenAI's usage), include_usage is asked for and
// its chunk taken out again, and the counters survive a restart.
import net from 'node:net';
import path from 'node:path';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basic, readLog } from '../lib/auth.mjs';
import { test } from '../lib/harness.mjs';
import { RawConn, request } from '../lib/http.mjs';
import { mockEvents as fetchEvents } from '../lib/mock.mjs';
import { runToExit } from '../lib/proc.mjs';
import { assert, CHAT } from '../lib/util.mjs';

const HASH = '$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.'; // "password"

function conf({ port, upstream, lines = [], top = [] }) {
  return ['workers 2;', ...top, `upstream ollama { server ${upstream}; }`, 'site _ {',
    `  listen 127.0.0.1:${port};`, ...lines.map((l) => `  ${l}`), '}'].join('\n') + '\n';
}

// A mock, a users file (alice, bob, carol) and a tollgate with the lines.
async function policyPair(t, lines, { top = [], dir = t.tmpDir(), mock } = {}) {
  writeFileSync(path.join(dir, 'users'), ['alice', 'bob', 'carol'].map((u) => `${u}:${HASH}`).join('\n') + '\n');
  mock = mock || (await t.mock(['--delay-ms', '2']));
  const tg = await t.tollgate({ config: (port) => conf({ port, upstream: `127.0.0.1:${mock.port}`,
    lines: [`auth basic ${dir}/users;`, ...lines], top }) });
  return { mock, tg, dir };
}

const as = (user) => ({ Authorization: basic(user, 'password') });
const post = (port, user, p, body, headers = {}) => request(port, { method: 'POST', path: p,
  headers: { ...as(user), 'Content-Type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
const chat = (port, user, model, extra = {}) => post(port, user, '/api/chat', CHAT({ model, ...extra }));
const oaChat = (port, user, model, extra = {}) => post(port, user, '/v1/chat/completions',
  { model, messages: [{ role: 'user', content: 'hi' }], ...extra });
const sseEvents = (text) => text.split('\n\n').filter(Boolean);

test('models: allowed and refused models on /api/chat and /v1/chat/completions, refused before the upstream', async (t) => {
  const { mock, tg } = await policyPair(t, ['models alice llama3.2 nomic-embed-text;', 'models * qwen2.5:*;']);
  const ok = await chat(tg.port, 'alice', 'llama3.2');
  assert.equal(ok.status, 200, ok.text);
  assert.match(ok.headers['content-type'], /x-ndjson/);
  assert.ok(ok.text.trim().split('\n').length > 3, 'streamed');
  assert.equal((await chat(tg.port, 'alice', 'LLAMA3.2:latest')).status, 200); // the same model, any case
  // the full form is the same model (the mock itself does not know it: 404, not 403)
  assert.equal((await chat(tg.port, 'alice', 'registry.ollama.ai/library/llama3.2')).status, 404);
  await fetch(`${mock.url}/_mock/reset`, { method: 'POST' });
  const no = await chat(tg.port, 'alice', 'qwen2.5:0.5b');
  assert.equal(no.status, 403);
  assert.equal(no.text, '{"error":"model \\"qwen2.5:0.5b\\" is not allowed for this user"}');
  const v1 = await oaChat(tg.port, 'alice', 'qwen2.5:0.5b', { stream: true });
  assert.equal(v1.status, 403);
  assert.equal(v1.json().error.message, 'model "qwen2.5:0.5b" is not allowed for this user');
  assert.equal(v1.json().error.type, 'invalid_request_error');
  // keys as Go reads them: case-insensitive, a repeated key refused
  assert.equal((await post(tg.port, 'alice', '/api/chat', '{"MODEL":"qwen2.5:0.5b","messages":[]}')).status, 403);
  assert.equal((await post(tg.port, 'alice', '/api/chat', '{"model":"llama3.2","Model":"qwen2.5:0.5b"}')).status, 400);
  assert.equal((await post(tg.port, 'alice', '/api/show', { name: 'qwen2.5:0.5b' })).status, 403);
  assert.equal((await post(tg.port, 'alice', '/api/%63hat', CHAT({ model: 'qwen2.5:0.5b' }))).status, 403);
  const refusedSeen = (await fetchEvents(mock)).filter((e) => e.ev === 'request');
  assert.equal(refusedSeen.length, 0, JSON.stringify(refusedSeen));
  // everyone else: the * line
  assert.equal((await chat(tg.port, 'bob', 'qwen2.5:0.5b')).status, 200);
  assert.equal((await chat(tg.port, 'bob', 'llama3.2')).status, 403);
  const v1ok = await oaChat(tg.port, 'bob', 'qwen2.5:0.5b', { stream: true });
  assert.equal(v1ok.status, 200);
  assert.match(v1ok.text, /data: \[DONE\]/);
  // a chunked body is read whole too, and goes up with a Content-Length
  const chunked = await post(tg.port, 'alice', '/api/chat', CHAT({ model: 'llama3.2', stream: false }), { 'Transfer-Encoding': 'chunked' });
  assert.equal(chunked.status, 200, chunked.text);
});

test('models: an allow-list of llama3.2 admits the same model however it is spelled, escapes included', async (t) => {
  const { mock, tg } = await policyPair(t, ['models alice llama3.2;']);
  const raw = (body) => post(tg.port, 'alice', '/api/chat', body);
  const msgs = '"messages":[{"role":"user","content":"hi"}],"stream":false';
  for (const m of ['"llama3.2:latest"', '"llama3\\u002e2"', '"Llama3.2"', '"llama3\\u002E2:l\\u0061test"']) {
    const r = await raw(`{"model":${m},${msgs}}`);
    assert.equal(r.status, 200, `${m}: ${r.text}`);
  }
  // a different model stays refused, however it is spelled, before the upstream
  await fetch(`${mock.url}/_mock/reset`, { method: 'POST' });
  for (const m of ['"qwen2.5:0.5b"', '"qwen2\\u002e5:0.5b"', '"llama3.2:1b"']) {
    const r = await raw(`{"model":${m},${msgs}}`);
    assert.equal(r.status, 403, `${m}: ${r.text}`);
  }
  // a lone surrogate (U+FFFD to Go, never a valid name) is refused as JSON jansson cannot read
  assert.equal((await raw(`{"model":"llama3\\u002e2\\ud800",${msgs}}`)).status, 400);
  assert.equal((await fetchEvents(mock)).filter((e) => e.ev === 'request').length, 0);
});

test('models: /api/tags, /api/ps and /v1/models filtered to what the user may use', async (t) => {
  const { tg } = await policyPair(t, ['models alice llama3.2 nomic-embed-text;', 'models * qwen2.5:*;']);
  const names = async (user, p) => {
    const r = await request(tg.port, { path: p, headers: as(user) });
    assert.equal(r.status, 200, r.text);
    assert.equal(Number(r.headers['content-length']), r.body.length);
    const j = r.json();
    return (j.models || j.data).map((m) => m.name || m.id);
  };
  assert.deepEqual(await names('alice', '/api/tags'), ['llama3.2:latest', 'nomic-embed-text:latest']);
  assert.deepEqual(await names('bob', '/api/tags'), ['qwen2.5:0.5b']);
  assert.deepEqual(await names('alice', '/api/ps'), ['llama3.2:latest']);
  assert.deepEqual(await names('bob', '/api/ps'), []);
  assert.deepEqual(await names('bob', '/v1/models'), ['qwen2.5:0.5b']);
  assert.deepEqual((await names('alice', '/v1/models')).sort(), ['llama3.2:latest', 'nomic-embed-text:latest']);
  assert.equal((await request(tg.port, { path: '/v1/models/qwen2.5:0.5b', headers: as('alice') })).status, 403);
  assert.equal((await request(tg.port, { path: '/v1/models/llama3.2:latest', headers: as('alice') })).status, 200);
});

// A raw upstream that answers every request with a chunked listing whose
// trailer section carries a field.
async function trailerUpstream(t, body) {
  const sockets = new Set();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.on('data', () => s.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`
      + `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\nX-Trailer: merged\r\n\r\n`));
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  t.defer(() => new Promise((r) => { for (const s of sockets) s.destroy(); srv.close(() => r()); }));
  return { port: srv.address().port };
}

test('models: a filtered listing gets its own head, without the upstream\'s trailer fields', async (t) => {
  const body = JSON.stringify({ models: [{ name: 'llama3.2:latest', model: 'llama3.2:latest' }, { name: 'qwen2.5:0.5b', model: 'qwen2.5:0.5b' }] });
  const { tg } = await policyPair(t, ['models alice llama3.2;'], { mock: await trailerUpstream(t, body) });
  const r = await request(tg.port, { path: '/api/tags', headers: as('alice') });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers['x-trailer'], undefined, 'a trailer field was merged into the head');
  assert.equal(Number(r.headers['content-length']), r.body.length);
  assert.deepEqual(r.json().models.map((m) => m.name), ['llama3.2:latest']);
});

test('models: a body read whole keeps pipelining, Expect: 100-continue, the generation queue and the body limit', async (t) => {
  const { mock, tg } = await policyPair(t, ['models alice llama3.2;', 'limit concurrency 1 queue 4;',
    'route /api/embed { client_max_body_size 100; }']);
  const conn = await RawConn.connect(tg.port);
  const body = (model) => CHAT({ model, stream: false });
  await conn.send({ method: 'POST', path: '/api/chat', headers: as('alice'), body: body('llama3.2') });
  await conn.send({ method: 'POST', path: '/api/chat', headers: as('alice'), body: body('qwen2.5:0.5b') });
  await conn.send({ method: 'POST', path: '/api/chat', headers: { ...as('alice'), 'Transfer-Encoding': 'chunked' },
    body: `5\r\n${body('llama3.2').slice(0, 5)}\r\n${(body('llama3.2').length - 5).toString(16)}\r\n${body('llama3.2').slice(5)}\r\n0\r\n\r\n` });
  assert.deepEqual([(await conn.response()).status, (await conn.response()).status, (await conn.response()).status], [200, 403, 200]);
  conn.destroy();
  // Expect: the 100 comes from tollgate, then the body is read and checked
  const e = await RawConn.connect(tg.port);
  const b = body('llama3.2');
  await e.write(`POST /api/chat HTTP/1.1\r\nHost: x\r\nAuthorization: ${as('alice').Authorization}\r\nExpect: 100-continue\r\nContent-Length: ${b.length}\r\n\r\n`, 'POST');
  const cont = await e.response(5000, { keep1xx: true });
  assert.equal(cont.status, 100);
  await e.write(b);
  assert.equal((await e.response()).status, 200);
  e.destroy();
  // concurrent gathered requests wait in the generation queue, in turn
  const rs = await Promise.all([1, 2, 3].map(() => chat(tg.port, 'alice', 'llama3.2', { stream: false })));
  assert.deepEqual(rs.map((r) => r.status), [200, 200, 200]);
  // the route's body limit holds while reading whole
  const big = await post(tg.port, 'alice', '/api/embed', { model: 'llama3.2', input: 'x'.repeat(200) }, { 'Transfer-Encoding': 'chunked' });
  assert.equal(big.status, 413);
  void mock;
});

// Tokens of one answer as the mock reports them.
function ollamaTokens(text) {
  const last = JSON.parse(text.trim().split('\n').pop());
  return last.prompt_eval_count + last.eval_count;
}

test('quota: runs out after the counted tokens, 429 with Retry-After and the reset time, both API shapes', async (t) => {
  const { tg } = await policyPair(t, ['quota tokens 60/d per user;']);
  let used = 0, n = 0;
  for (; n < 20 && used < 60; n++) {
    const r = await chat(tg.port, 'alice', 'llama3.2', {});
    assert.equal(r.status, 200, `request ${n + 1}: ${r.text}`);
    used += ollamaTokens(r.text);
  }
  t.note(`${n} chats, ${used} tokens counted before the quota ran out`);
  const refused = await chat(tg.port, 'alice', 'llama3.2');
  assert.equal(refused.status, 429);
  const midnight = new Date(); midnight.setUTCHours(24, 0, 0, 0);
  const when = midnight.toISOString().replace('.000Z', 'Z');
  assert.equal(refused.json().error, `token quota exceeded (60 tokens per day); it resets at ${when}`);
  const retry = Number(refused.headers['retry-after']);
  assert.ok(Math.abs(retry - (midnight - Date.now()) / 1000) < 5, `Retry-After ${retry}`);
  const v1 = await oaChat(tg.port, 'alice', 'llama3.2');
  assert.equal(v1.status, 429);
  assert.match(v1.json().error.message, /^token quota exceeded/);
  // another user has their own count; OpenAI usage counts too
  const b = await oaChat(tg.port, 'bob', 'llama3.2');
  assert.equal(b.status, 200);
  assert.ok(b.json().usage.total_tokens > 0);
  assert.equal((await chat(tg.port, 'bob', 'llama3.2')).status, 200);
});

test('quota: include_usage asked for and its chunk taken out for a client that did not ask, kept for one that did', async (t) => {
  const dir = t.tmpDir();
  const log = path.join(dir, 'access.log');
  const { mock, tg } = await policyPair(t, ['quota tokens 1m/d per user;'], { top: [`access_log ${log};`], dir });
  const plain = await oaChat(tg.port, 'alice', 'llama3.2', { stream: true });
  assert.equal(plain.status, 200);
  const ev = sseEvents(plain.text);
  assert.ok(!/"usage"/.test(plain.text), 'no usage chunk for a client that did not ask');
  assert.equal(ev[ev.length - 1], 'data: [DONE]');
  // exactly what the mock sends without include_usage (ids and times aside)
  const direct = await request(mock.port, { method: 'POST', path: '/v1/chat/completions', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: true }) });
  const shape = (e) => e.replace(/"id":"[^"]*"|"created":\d+/g, '');
  assert.deepEqual(ev.map(shape), sseEvents(direct.text).map(shape));
  const asked = await oaChat(tg.port, 'alice', 'llama3.2', { stream: true, stream_options: { include_usage: true } });
  const usage = sseEvents(asked.text).filter((e) => /"usage"/.test(e));
  assert.equal(usage.length, 1, asked.text);
  const other = await oaChat(tg.port, 'alice', 'llama3.2', { stream: true, stream_options: { include_usage: false } });
  assert.ok(!/"usage"/.test(other.text));
  // the mock saw include_usage: the log has the counts of the first stream
  const lines = await readLog(log, 3);
  const first = lines.find((l) => l.path === '/v1/chat/completions');
  assert.ok(first.prompt_tokens > 0 && first.output_tokens > 0, JSON.stringify(first));
  const events = (await fetchEvents(mock)).filter((e) => e.ev === 'request' && e.path === '/v1/chat/completions');
  assert.ok(events[0].body_bytes > Buffer.byteLength(JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: true })));
});

test('quota: counters survive a restart (quota_state written at drain and read at start) and a reload', async (t) => {
  const dir = t.tmpDir();
  const state = path.join(dir, 'quota.json');
  const lines = ['quota tokens 30/d per user;', `quota_state ${state};`];
  const mock = await t.mock(['--delay-ms', '2']);
  let { tg } = await policyPair(t, lines, { dir, mock });
  let r;
  for (let i = 0; i < 10 && (r = await chat(tg.port, 'carol', 'llama3.2')).status === 200; i++);
  assert.equal(r.status, 429);
  assert.deepEqual(await tg.stop(), []);
  const saved = JSON.parse(readFileSync(state, 'utf8'));
  assert.equal(saved.tollgate_quota_state, 1);
  assert.ok(saved.users.find((u) => u.user === 'carol').day_tokens >= 30);
  ({ tg } = await policyPair(t, lines, { dir, mock }));
  assert.equal((await chat(tg.port, 'carol', 'llama3.2')).status, 429);
  assert.equal((await chat(tg.port, 'bob', 'llama3.2')).status, 200);
  // a reload keeps counting in the same counters (and reads no file over them)
  tg.child.kill('SIGHUP');
  await new Promise((res) => setTimeout(res, 500));
  assert.equal((await chat(tg.port, 'carol', 'llama3.2')).status, 429);
  // a torn file is refused as a whole, with file:line:col
  const torn = path.join(dir, 'torn.json');
  writeFileSync(torn, readFileSync(state, 'utf8').slice(0, 40));
  const cfg = path.join(dir, 'torn.conf');
  writeFileSync(cfg, conf({ port: 1, upstream: '127.0.0.1:1', lines: ['quota tokens 30/d per user;', `quota_state ${torn};`] }));
  const check = await runToExit(t.tollgateBin, ['-t', '-c', cfg]);
  assert.notEqual(check.code, 0);
  assert.match(check.stderr, /torn\.conf:\d+:\d+: quota state .*torn\.json: not a complete quota state file/);
}, { timeoutMs: 40000 });
