// What the gateway tells about itself: the LLM-aware access log, request
// ids, the admin listener's metrics and health, log reopening on SIGUSR1.
import { readFileSync, renameSync, existsSync } from 'node:fs';
import path from 'node:path';
import { test } from '../lib/harness.mjs';
import { RawConn, request } from '../lib/http.mjs';
import { freePort, sleep } from '../lib/proc.mjs';
import { assert, GEN, CHAT } from '../lib/util.mjs';

async function setup(t, extra = '') {
  const mock = await t.mock();
  const admin = await freePort();
  const dir = t.tmpDir();
  const log = path.join(dir, 'access.log');
  const tg = await t.tollgate({
    config: (port) => `admin 127.0.0.1:${admin};\naccess_log ${log};\n${extra}\nupstream o { server 127.0.0.1:${mock.port}; }\nsite _ { listen 127.0.0.1:${port}; proxy o; }\n`,
  });
  return { mock, tg, admin, log, dir };
}

async function logLines(file, n, timeoutMs = 3000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
    if (lines.length >= n || Date.now() > end) return lines;
    await sleep(30);
  }
}

test('access log: request id, route kind, model and tokens for Ollama and OpenAI shapes', async (t) => {
  const { tg, log } = await setup(t);
  await request(tg.port, { method: 'POST', path: '/api/generate', body: GEN(), headers: { 'X-Request-Id': 'abc-123' } });
  await request(tg.port, { method: 'POST', path: '/api/chat', body: CHAT({ stream: false }) });
  await request(tg.port, {
    method: 'POST', path: '/v1/chat/completions',
    body: JSON.stringify({ model: 'qwen2.5:0.5b', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'x' }] }),
  });
  await request(tg.port, { path: '/api/tags' });
  // each worker writes its own lines: find them by path, not by position
  const lines = await logLines(log, 4);
  const by = (p) => lines.find((l) => l.path === p);
  const [gen, chat, oai, tags] = ['/api/generate', '/api/chat', '/v1/chat/completions', '/api/tags'].map(by);
  assert.equal(gen.request_id, 'abc-123');
  assert.equal(gen.route, 'generate');
  assert.equal(gen.model, 'llama3.2:latest'); // the normal form (docs/observability.md)
  assert.ok(gen.prompt_tokens > 0 && gen.output_tokens > 0, JSON.stringify(gen));
  assert.ok(gen.ttft_ms > 0 && gen.tokens_per_s > 0, JSON.stringify(gen));
  assert.equal(chat.route, 'chat');
  assert.ok(chat.output_tokens > 0);
  assert.equal(oai.route, 'openai');
  assert.equal(oai.model, 'qwen2.5:0.5b');
  assert.ok(oai.prompt_tokens > 0 && oai.output_tokens > 0, JSON.stringify(oai));
  assert.match(oai.request_id, /^[0-9a-f]{32}$/);
  assert.equal(tags.route, 'other');
  assert.equal(tags.model, undefined);
  for (const l of [gen, chat, oai, tags]) assert.equal(l.client_aborted, false);
});

test('access log and metrics: the model as Ollama reads it (escapes decoded) in its normal form, one row per model', async (t) => {
  const { tg, log, admin } = await setup(t);
  const raw = (body) => request(tg.port, { method: 'POST', path: '/api/generate', body });
  // phi3 is not in the mock's catalog (404), but the log names it as Ollama would
  await raw('{"model":"phi\\u0033","prompt":"x"}');
  const spellings = ['"llama3\\u002e2"', '"LLAMA3.2:latest"', '"llama3.2"'];
  for (const m of spellings) assert.equal((await raw(`{"model":${m},"prompt":"x","stream":false}`)).status, 200, m);
  const lines = await logLines(log, 4);
  assert.deepEqual(lines.map((l) => l.model).sort(), ['llama3.2:latest', 'llama3.2:latest', 'llama3.2:latest', 'phi3:latest']);
  let m = '';
  for (let i = 0; i < 50 && !/model="llama3.2:latest",kind="output"/.test(m); i++) {
    m = (await request(admin, { path: '/metrics' })).text;
    await sleep(20);
  }
  const rows = m.split('\n').filter((l) => l.startsWith('tollgate_tokens_total{') && l.includes('kind="output"'));
  assert.deepEqual(rows.map((l) => l.match(/model="([^"]*)"/)[1]), ['llama3.2:latest'], m);
  const status = (await request(admin, { path: '/status.json' })).json();
  const tok = status.tokens.filter((x) => x.model.startsWith('llama3'));
  assert.equal(tok.length, 1, JSON.stringify(status.tokens));
  assert.equal(tok[0].requests, 3);
});

test('request id: a valid one is kept, passed upstream and returned; a bad one is replaced', async (t) => {
  const { tg } = await setup(t);
  const r = await request(tg.port, { method: 'POST', path: '/api/generate', body: GEN(), headers: { 'X-Request-Id': 'trace.42:a-b', 'X-Mock-Echo': '1' } });
  assert.equal(r.headers['x-request-id'], 'trace.42:a-b');
  assert.equal(r.json().headers['x-request-id'], 'trace.42:a-b');
  const bad = await request(tg.port, { method: 'POST', path: '/api/generate', body: GEN(), headers: { 'X-Request-Id': 'no spaces <allowed>', 'X-Mock-Echo': '1' } });
  assert.match(bad.headers['x-request-id'], /^[0-9a-f]{32}$/);
  assert.equal(bad.json().headers['x-request-id'], bad.headers['x-request-id']);
});

test('no secret in the access log', async (t) => {
  const { tg, log } = await setup(t);
  await request(tg.port, { path: '/api/tags?key=sk-query-secret', headers: { Authorization: 'Bearer sk-header-secret', Cookie: 'session=cookie-secret' } });
  const text = (await logLines(log, 1)).map((l) => JSON.stringify(l)).join('\n');
  for (const s of ['sk-query-secret', 'sk-header-secret', 'cookie-secret']) assert.ok(!text.includes(s), `${s} is in the log`);
});

test('metrics: requests by route and status, tokens by model, histograms, live streams', async (t) => {
  const { tg, admin } = await setup(t);
  await request(tg.port, { method: 'POST', path: '/api/generate', body: GEN() });
  await request(tg.port, { method: 'POST', path: '/api/generate', body: GEN(), headers: { 'X-Mock-Busy': '1' } });
  // the worker counts an exchange just after its last byte went out: poll briefly
  let m = '';
  for (let i = 0; i < 50 && !/status="503"\} 1\n/.test(m); i++) {
    m = (await request(admin, { path: '/metrics' })).text;
    await sleep(20);
  }
  assert.match(m, /tollgate_requests_total\{route="generate",status="200"\} 1\n/);
  assert.match(m, /tollgate_requests_total\{route="generate",status="503"\} 1\n/);
  assert.match(m, /tollgate_tokens_total\{user="_anonymous",model="llama3.2:latest",kind="output"\} [1-9]/);
  assert.match(m, /tollgate_ttfb_seconds_count\{route="generate"\} 2\n/);
  assert.match(m, /tollgate_request_duration_seconds_bucket\{route="generate",le="\+Inf"\} 2\n/);
  assert.match(m, /tollgate_live_streams 0\n/);
  assert.match(m, /tollgate_upstream_up\{upstream="o"\} 1\n/);
  const h = await request(admin, { path: '/healthz' });
  assert.equal(h.status, 200);
  assert.equal((await request(admin, { path: '/readyz' })).status, 200);
  assert.equal((await request(admin, { path: '/nope' })).status, 404);
  // the admin paths are not served on the public listener
  const pub = await request(tg.port, { path: '/metrics' });
  assert.ok(!pub.text.includes('tollgate_requests_total'));
});

test('readyz is 503 when the upstream does not answer', async (t) => {
  const admin = await freePort();
  const dead = await freePort();
  const tg = await t.tollgate({
    config: (port) => `admin 127.0.0.1:${admin};\nupstream o { server 127.0.0.1:${dead}; }\nsite _ { listen 127.0.0.1:${port}; proxy o; }\n`,
  });
  assert.equal((await request(tg.port, { path: '/api/version' })).status, 502);
  assert.equal((await request(admin, { path: '/readyz' })).status, 503);
  assert.match((await request(admin, { path: '/metrics' })).text, /tollgate_upstream_up\{upstream="o"\} 0/);
});

test('SIGUSR1 reopens the access log after a rotation', async (t) => {
  const { tg, log } = await setup(t);
  await request(tg.port, { path: '/api/version' });
  await logLines(log, 1);
  renameSync(log, `${log}.1`);
  tg.child.kill('SIGUSR1');
  await tg.waitFor((_o, e) => /log files reopened/.test(e), 3000, 'the reopen line');
  await request(tg.port, { path: '/api/tags' });
  const fresh = await logLines(log, 1);
  assert.equal(fresh.length, 1, 'nothing was written to the new file');
  assert.equal(fresh[0].path, '/api/tags');
  assert.equal(readFileSync(`${log}.1`, 'utf8').split('\n').filter(Boolean).length, 1);
});

test('metrics count auth refusals by reason, and the user on tokens', async (t) => {
  const { createHash } = await import('node:crypto');
  const { writeFileSync } = await import('node:fs');
  const mock = await t.mock();
  const admin = await freePort();
  const dir = t.tmpDir();
  const key = 'tg-test-key-0123456789abcdef0123456789abcdef';
  writeFileSync(path.join(dir, 'keys'), `alice ${createHash('sha256').update(key).digest('hex')}\n`);
  const tg = await t.tollgate({
    config: (port) => `admin 127.0.0.1:${admin};\nupstream o { server 127.0.0.1:${mock.port}; }\nsite _ { listen 127.0.0.1:${port}; auth keys ${path.join(dir, 'keys')}; proxy o; }\n`,
  });
  assert.equal((await request(tg.port, { path: '/api/tags' })).status, 401);
  assert.equal((await request(tg.port, { path: '/api/tags', headers: { Authorization: 'Bearer wrong' } })).status, 401);
  const ok = await request(tg.port, { method: 'POST', path: '/api/generate', body: GEN({ stream: false }), headers: { Authorization: `Bearer ${key}` } });
  assert.equal(ok.status, 200);
  let m = '';
  for (let i = 0; i < 50 && !/user="alice"/.test(m); i++) {
    m = (await request(admin, { path: '/metrics' })).text;
    await sleep(20);
  }
  assert.match(m, /tollgate_refusals_total\{layer="auth",reason="no_credentials"\} 1\n/);
  assert.match(m, /tollgate_refusals_total\{layer="auth",reason="bad_credentials"\} 1\n/);
  assert.match(m, /tollgate_tokens_total\{user="alice",model="llama3.2:latest",kind="output"\} [1-9]/);
});

// Ready means an upstream answered its last check: before the upstream
// exists (nothing listens on its port) /readyz is 503 and says why, with
// no client request needed; once it listens, 200 within the result's 1 s.
test('readyz is 503 with a reason before the upstream exists, 200 once it answers', async (t) => {
  const admin = await freePort();
  const later = await freePort();
  const tg = await t.tollgate({
    config: (port) => `admin 127.0.0.1:${admin};\nupstream o { server 127.0.0.1:${later}; }\nsite _ { listen 127.0.0.1:${port}; proxy o; }\n`,
  });
  assert.ok(tg.port);
  const before = await request(admin, { path: '/readyz' });
  assert.equal(before.status, 503);
  assert.equal(before.text, `no upstream has answered: 127.0.0.1:${later} refused\n`);
  const mock = await t.mock(['--listen', `127.0.0.1:${later}`]);
  assert.equal(mock.port, later);
  let r = before;
  for (let i = 0; i < 40 && r.status !== 200; i++) {
    await sleep(100);
    r = await request(admin, { path: '/readyz' });
  }
  assert.equal(r.status, 200, `still ${r.status}: ${r.text}`);
  assert.equal(r.text, 'ready\n');
});

test('admin listener: a client that never finishes its request head is closed after 10 s; others are served meanwhile', async (t) => {
  const { admin } = await setup(t);
  const slow = await RawConn.connect(admin);
  try {
    const t0 = Date.now();
    await slow.write(Buffer.from('GET /metrics HTTP/1.1\r\nHost: x\r\n')); // no end of head
    assert.equal((await request(admin, { path: '/healthz' })).status, 200);
    const closed = await slow.waitClose(20000);
    const waited = Date.now() - t0;
    t.note(`closed after ${waited} ms`);
    assert.ok(closed, 'the admin listener kept a head that never ended');
    assert.ok(waited >= 9000, `closed after ${waited} ms, before the 10 s head timeout`);
  } finally {
    slow.destroy();
  }
}, { timeoutMs: 40000 });
