// The mock Ollama's server simulator (--models, --max-loaded, --slots,
// --max-queue, --load-ms, --keep-alive-ms) and its server-wide faults
// (POST /_mock/fault): what the cluster tests and the cluster benchmark rely on.
import http from 'node:http';
import net from 'node:net';
import { test } from '../lib/harness.mjs';
import { request } from '../lib/http.mjs';
import { runToExit, sleep } from '../lib/proc.mjs';
import { assert } from '../lib/util.mjs';
import { mockEvents, mockStats, mockLoaded, mockFault, startCluster } from '../lib/mock.mjs';

const H = { Host: 'localhost' };
const gen = (model, extra = {}) => JSON.stringify({ model, prompt: 'hi', ...extra });

async function post(mock, path, body, headers = {}) {
  return request(mock.port, { method: 'POST', path, body, headers: { ...H, ...headers } });
}
async function getJson(mock, path) {
  const r = await request(mock.port, { path, headers: H });
  assert.equal(r.status, 200, `${path}: ${r.text}`);
  return r.json();
}
const stats = mockStats;
const loaded = mockLoaded;
const fault = (mock, body) => post(mock, '/_mock/fault', JSON.stringify(body));

// A streamed /api/generate read line by line: { status, lines, error, done }.
function stream(port, body, headers = {}) {
  return new Promise((resolve) => {
    const out = { status: 0, lines: [], error: null, firstLineAt: 0 };
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/api/generate', agent: false, headers: { ...H, ...headers } }, (res) => {
      out.status = res.statusCode;
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          if (!out.firstLineAt) out.firstLineAt = Date.now();
          out.lines.push(JSON.parse(buf.slice(0, i)));
          buf = buf.slice(i + 1);
        }
      });
      res.on('end', () => resolve(out));
      res.on('error', (e) => { out.error = e; resolve(out); });
      res.on('aborted', () => { out.error = out.error || new Error('aborted'); });
    });
    req.on('error', (e) => { out.error = e; resolve(out); });
    req.end(body);
  });
}

async function waitFor(fn, what, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

test('catalogue: --models is what /api/tags and /v1/models list; another model is 404 as Ollama words it', async (t) => {
  const mock = await t.mock(['--models', 'alpha:7b,beta,llama3.2,alpha:7b']);
  const tags = await getJson(mock, '/api/tags');
  assert.deepEqual(tags.models.map((m) => m.name), ['alpha:7b', 'beta:latest', 'llama3.2:latest']);
  assert.match(tags.models[0].digest, /^[0-9a-f]{64}$/);
  assert.notEqual(tags.models[0].digest, tags.models[1].digest);
  assert.equal(tags.models[2].details.parameter_size, '3.2B', 'a built-in model keeps its details');
  const v1 = await getJson(mock, '/v1/models');
  assert.deepEqual(v1.data.map((m) => m.id), ['alpha:7b', 'beta:latest', 'llama3.2:latest']);
  const miss = await post(mock, '/api/generate', gen('qwen2.5:0.5b'));
  assert.equal(miss.status, 404);
  assert.deepEqual(miss.json(), { error: 'model "qwen2.5:0.5b" not found, try pulling it first' });
  const missChat = await post(mock, '/api/chat', JSON.stringify({ model: 'gamma', messages: [{ role: 'user', content: 'x' }] }));
  assert.deepEqual(missChat.json(), { error: 'model "gamma" not found, try pulling it first' });
  const ok = await post(mock, '/api/generate', gen('beta', { stream: false }));
  assert.equal(ok.status, 200);
  assert.equal(ok.json().model, 'beta');
  assert.deepEqual(await loaded(mock), ['beta:latest'], 'only the model used is loaded');
  assert.equal((await stats(mock)).not_found, 2);
});

test('a load takes --load-ms and shows in load_duration; the next request finds the model loaded', async (t) => {
  const mock = await t.mock(['--models', 'a,b', '--load-ms', '400', '--tokens', '2', '--delay-ms', '5']);
  assert.deepEqual(await loaded(mock), [], 'nothing loaded at start');
  const t0 = Date.now();
  const first = await post(mock, '/api/generate', gen('a', { stream: false }));
  const took = Date.now() - t0;
  assert.equal(first.status, 200);
  assert.ok(took >= 400, `the first request waited for the load (${took} ms)`);
  const m1 = first.json();
  assert.ok(m1.load_duration >= 400e6, `load_duration ${m1.load_duration} covers the load`);
  assert.ok(m1.total_duration >= m1.load_duration, 'total_duration includes the load');
  const ps = await getJson(mock, '/api/ps');
  assert.deepEqual(ps.models.map((m) => m.name), ['a:latest']);
  const expires = Date.parse(ps.models[0].expires_at);
  assert.ok(Math.abs(expires - (Date.now() + 300000)) < 60000, `expires_at ${ps.models[0].expires_at} is the 5 min keep-alive away`);
  const second = (await post(mock, '/api/generate', gen('a', { stream: false }))).json();
  assert.ok(second.load_duration < 200e6, `a loaded model: load_duration ${second.load_duration}`);
  const s = await stats(mock);
  assert.equal(s.loads, 1);
  assert.equal(s.completed, 2);
  assert.ok(s.loading_ms >= 400 && s.load_ms === 400, JSON.stringify(s));
  const evs = (await mockEvents(mock)).filter((e) => e.ev === 'load' || e.ev === 'loaded').map((e) => `${e.ev} ${e.model}`);
  assert.deepEqual(evs, ['load a:latest', 'loaded a:latest']);
});

test('--max-loaded 1: another model unloads the idle one; --keep-alive-ms unloads an idle model', async (t) => {
  const mock = await t.mock(['--models', 'a,b', '--max-loaded', '1', '--load-ms', '50', '--keep-alive-ms', '2000', '--tokens', '1', '--delay-ms', '1']);
  await post(mock, '/api/generate', gen('a', { stream: false }));
  assert.deepEqual(await loaded(mock), ['a:latest']);
  const b = (await post(mock, '/api/generate', gen('b', { stream: false }))).json();
  assert.ok(b.load_duration >= 50e6);
  assert.deepEqual(await loaded(mock), ['b:latest'], 'a swap: a out, b in');
  const s = await stats(mock);
  assert.equal(s.loads, 2);
  assert.equal(s.unloads, 1);
  await waitFor(async () => (await loaded(mock)).length === 0, 'keep-alive expiry', 10000);
});

test('--slots: a loaded model runs that many requests at once, the rest wait for a slot', async (t) => {
  const mock = await t.mock(['--models', 'a', '--slots', '2', '--tokens', '20', '--delay-ms', '40']);
  await post(mock, '/api/generate', gen('a', { stream: false, }), { 'X-Mock-Tokens': '0' });
  const runs = [stream(mock.port, gen('a')), stream(mock.port, gen('a')), stream(mock.port, gen('a'))];
  const s = await waitFor(async () => { const x = await stats(mock); return x.running + x.waiting === 3 && x; }, 'three requests in');
  assert.equal(s.running, 2);
  assert.equal(s.waiting, 1);
  const done = await Promise.all(runs);
  for (const d of done) {
    assert.equal(d.status, 200);
    assert.equal(d.lines.at(-1).done, true);
  }
  const firsts = done.map((d) => d.firstLineAt).sort((a, b) => a - b);
  assert.ok(firsts[2] - firsts[0] >= 400, `the third started after a slot freed (${firsts[2] - firsts[0]} ms later)`);
});

test('Ollama\'s queue: past --max-queue requests waiting for a model, 503 "server busy"; a loaded model is not queued', async (t) => {
  const mock = await t.mock(['--models', 'a,b,c', '--max-loaded', '1', '--max-queue', '1', '--load-ms', '1500', '--tokens', '1', '--delay-ms', '1']);
  const a = post(mock, '/api/generate', gen('a', { stream: false })); // loads a
  await waitFor(async () => (await loaded(mock)).length === 1, 'a loading');
  const b = post(mock, '/api/generate', gen('b', { stream: false })); // waits for a swap
  await waitFor(async () => (await stats(mock)).pending === 1, 'b pending');
  const c = await post(mock, '/api/generate', gen('c', { stream: false }));
  assert.equal(c.status, 503);
  assert.deepEqual(c.json(), { error: 'server busy, please try again.  maximum pending requests exceeded' });
  const cOpenAI = await post(mock, '/v1/chat/completions', JSON.stringify({ model: 'c', messages: [{ role: 'user', content: 'x' }] }));
  assert.equal(cOpenAI.status, 503);
  assert.equal(cOpenAI.json().error.message, 'server busy, please try again.  maximum pending requests exceeded');
  const a2 = post(mock, '/api/generate', gen('a', { stream: false })); // a is loading: not queued
  const [ra, rb, ra2] = await Promise.all([a, b, a2]);
  assert.equal(ra.status, 200);
  assert.equal(ra2.status, 200);
  assert.equal(rb.status, 200);
  assert.ok(rb.json().load_duration >= 1500e6, `b waited for a, then for its own load (${rb.json().load_duration})`);
  assert.equal((await stats(mock)).busy, 2);
});

test('a client leaving while queued frees its place; the simulator needs --threads 1', async (t) => {
  const mock = await t.mock(['--models', 'a,b', '--max-loaded', '1', '--max-queue', '1', '--load-ms', '1500', '--tokens', '1', '--delay-ms', '1']);
  const a = post(mock, '/api/generate', gen('a', { stream: false }));
  await waitFor(async () => (await loaded(mock)).length === 1, 'a loading');
  const sock = net.connect(mock.port, '127.0.0.1');
  const body = gen('b', { stream: false });
  sock.write(`POST /api/generate HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  await waitFor(async () => (await stats(mock)).pending === 1, 'b pending');
  sock.destroy();
  await waitFor(async () => (await stats(mock)).pending === 0, 'b gone from the queue');
  assert.equal((await a).status, 200);
  const r = await runToExit(mock.bin, ['--listen', '127.0.0.1:0', '--models', 'a', '--threads', '2']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--threads 1/);
});

test('faults: busy answers 503 to model requests only; reset sends no byte; none restores', async (t) => {
  const mock = await t.mock(['--models', 'a', '--tokens', '2', '--delay-ms', '1']);
  assert.equal((await fault(mock, { mode: 'busy' })).status, 200);
  const busy = await post(mock, '/api/generate', gen('a'));
  assert.equal(busy.status, 503);
  assert.equal(busy.json().error, 'server busy, please try again.  maximum pending requests exceeded');
  assert.equal((await request(mock.port, { path: '/api/tags', headers: H })).status, 200, 'tags still answer');
  assert.equal((await fault(mock, { mode: 'reset' })).status, 200);
  const err = await post(mock, '/api/generate', gen('a')).then(() => null, (e) => e);
  assert.ok(err && err.code === 'ECONNRESET', `reset: ${err && err.code}`);
  assert.equal((await fault(mock, { mode: 'bogus' })).status, 400);
  assert.equal((await fault(mock, { mode: 'none' })).status, 200);
  assert.equal((await post(mock, '/api/generate', gen('a'))).status, 200);
});

test('faults: cut resets live and new streams after N tokens; crash resets everything and the port refuses', async (t) => {
  const mock = await t.mock(['--models', 'a', '--slots', '4', '--tokens', '50', '--delay-ms', '20']);
  const live = stream(mock.port, gen('a'));
  await sleep(300);
  await fault(mock, { mode: 'cut', after_tokens: 3 });
  const cutNew = await stream(mock.port, gen('a'));
  assert.equal(cutNew.status, 200);
  assert.equal(cutNew.lines.length, 3, 'three token lines, then the reset');
  assert.ok(cutNew.error, 'the stream ended with an error, not its final line');
  const l = await live;
  assert.ok(l.error && l.lines.length < 50 && !l.lines.at(-1).done, `the live stream was cut (${l.lines.length} lines)`);
  await fault(mock, { mode: 'none' });
  const held = stream(mock.port, gen('a'));
  await sleep(200);
  assert.equal((await fault(mock, { mode: 'crash' })).status, 200);
  const h = await held;
  assert.ok(h.error && h.lines.length > 0 && !h.lines.at(-1).done, 'the open stream died mid-way');
  await waitFor(() => mock.exited, 'the mock to exit');
  const refused = await request(mock.port, { path: '/api/version', headers: H }).then(() => null, (e) => e);
  assert.ok(refused && refused.code === 'ECONNREFUSED', `after a crash: ${refused && refused.code}`);
});

test('without simulator options the mock answers as before: /api/ps has llama3.2, load_duration 2 ms', async (t) => {
  const mock = await t.mock(['--tokens', '1', '--delay-ms', '1']);
  assert.deepEqual(await loaded(mock), ['llama3.2:latest']);
  const r = (await post(mock, '/api/generate', gen('qwen2.5:0.5b', { stream: false }))).json();
  assert.equal(r.load_duration, 2000000);
  assert.equal((await stats(mock)).sim, false);
});

test('a cluster: each server its own catalogue and memory; a crashed server comes back on its port', async (t) => {
  const [s1, s2] = await startCluster(t, [
    { models: 'a,b', maxLoaded: 1, slots: 2, loadMs: 100, tokens: 2, delayMs: 5 },
    { models: 'b,c', maxLoaded: 1, slots: 2, loadMs: 100, tokens: 2, delayMs: 5 },
  ]);
  assert.equal((await post(s1, '/api/generate', gen('c'))).status, 404, 'c is not on server 1');
  assert.equal((await post(s2, '/api/generate', gen('c'))).status, 200);
  assert.deepEqual(await mockLoaded(s1), []);
  assert.deepEqual(await mockLoaded(s2), ['c:latest']);
  await mockFault(s1, 'crash');
  await waitFor(() => s1.exited, 'server 1 to exit');
  const [back] = await startCluster(t, [{ models: 'a,b', port: s1.port, tokens: 1, delayMs: 1 }]);
  assert.equal(back.port, s1.port);
  assert.equal((await post(back, '/api/generate', gen('a'))).status, 200, 'server 1 serves again');
  assert.deepEqual(await mockLoaded(back), ['a:latest'], 'and starts with nothing but what it loaded since');
});

test('runner options make a variant: another num_ctx reloads the model once it is idle, as Ollama\'s needsReload', async (t) => {
  const mock = await t.mock(['--models', 'a,b', '--max-loaded', '2', '--load-ms', '200', '--tokens', '1', '--delay-ms', '1']);
  await post(mock, '/api/generate', gen('a', { stream: false }));
  let ps = await getJson(mock, '/api/ps');
  assert.equal(ps.models[0].context_length, 4096, 'the default context');
  const same = (await post(mock, '/api/generate', gen('a', { stream: false, options: { num_ctx: 4096, temperature: 0.2 } }))).json();
  assert.ok(same.load_duration < 100e6, `the same runner options (temperature is not one): no reload (${same.load_duration})`);
  const other = (await post(mock, '/api/generate', gen('a', { stream: false, options: { num_ctx: 8192 } }))).json();
  assert.ok(other.load_duration >= 200e6, `num_ctx 8192 reloads a (${other.load_duration})`);
  ps = await getJson(mock, '/api/ps');
  assert.deepEqual(ps.models.map((m) => [m.name, m.context_length]), [['a:latest', 8192]]);
  const again = (await post(mock, '/api/generate', gen('a', { stream: false, options: { num_ctx: 8192 } }))).json();
  assert.ok(again.load_duration < 100e6, 'that variant is now the loaded one');
  const s = await stats(mock);
  assert.equal(s.loads, 2);
  assert.equal(s.unloads, 1);
});

test('prompt cache: a follow-up turn reuses its slot\'s prefix; only the rest is evaluated and charged', async (t) => {
  const mock = await t.mock(['--slots', '2', '--prompt-eval-us-per-token', '1000', '--tokens', '1', '--delay-ms', '1']);
  const sys = { role: 'system', content: 'You are a helpful assistant who answers briefly and precisely.' };
  const u1 = { role: 'user', content: 'Why is the sky blue? Explain it in some detail please.' };
  const chat = async (messages) => {
    const r = await post(mock, '/api/chat', JSON.stringify({ model: 'llama3.2', stream: false, messages }));
    assert.equal(r.status, 200, r.text);
    return r.json();
  };
  const first = await chat([sys, u1]);
  assert.equal(first.prompt_eval_cached_count, 0, 'nothing cached yet');
  assert.ok(first.prompt_eval_count > 20);
  assert.equal(first.prompt_eval_duration, first.prompt_eval_count * 1e6, 'every token charged');
  const reply = { role: 'assistant', content: first.message.content };
  const next = await chat([sys, u1, reply, { role: 'user', content: 'And at sunset?' }]);
  assert.equal(next.prompt_eval_count - next.prompt_eval_cached_count, 4 + 4, 'the first prompt and its answer are reused: only the new question is evaluated');
  assert.equal(next.prompt_eval_duration, (next.prompt_eval_count - next.prompt_eval_cached_count) * 1e6);
  const again = await chat([sys, u1]);
  assert.equal(again.prompt_eval_cached_count, again.prompt_eval_count - 1, 'a full match still evaluates one token');
  const other = await chat([{ role: 'system', content: 'Something else entirely, a different prompt.' }, u1]);
  assert.ok(other.prompt_eval_cached_count <= 8, `a different system prompt shares only the opening and a role header: ${other.prompt_eval_cached_count}`);
  const gen1 = await post(mock, '/api/generate', gen('llama3.2', { stream: false, prompt: 'x'.repeat(400) }));
  const gen2 = await post(mock, '/api/generate', gen('llama3.2', { stream: false, prompt: 'x'.repeat(400) + ' more' }));
  assert.equal(gen2.json().prompt_eval_cached_count, gen1.json().prompt_eval_count - 1, 'generate: the prompt text is a prefix');
});

test('prompt cache: an unload forgets every slot', async (t) => {
  const mock = await t.mock(['--models', 'a,b', '--max-loaded', '1', '--prompt-eval-us-per-token', '100', '--tokens', '1', '--delay-ms', '1']);
  const body = (model) => JSON.stringify({ model, stream: false, messages: [{ role: 'user', content: 'a long enough question to cache' }] });
  await post(mock, '/api/chat', body('a'));
  const hit = (await post(mock, '/api/chat', body('a'))).json();
  assert.ok(hit.prompt_eval_cached_count > 0);
  await post(mock, '/api/chat', body('b'));
  const after = (await post(mock, '/api/chat', body('a'))).json();
  assert.equal(after.prompt_eval_cached_count, 0, 'a was unloaded for b: its cache is gone');
});

test('prompt cache: --multiuser-cache takes the oldest free slot and copies the longest prefix in; by default a shared prefix takes that slot over', async (t) => {
  const sys = { role: 'system', content: 'A system prompt long enough to be worth sharing between two users.' };
  const body = (q) => JSON.stringify({ model: 'llama3.2', stream: false, messages: [sys, { role: 'user', content: q }] });
  for (const [args, aCached] of [[[], 'system only'], [['--multiuser-cache'], 'whole']]) {
    const mock = await t.mock(['--slots', '2', '--tokens', '1', '--delay-ms', '1', ...args]);
    const ask = async (q) => (await post(mock, '/api/chat', body(q))).json();
    const a = await ask('question of user a');
    const b = await ask('question of user b');
    assert.ok(b.prompt_eval_cached_count >= 20, `b shares the system prompt: ${b.prompt_eval_cached_count}`);
    const again = await ask('question of user a');
    if (aCached === 'whole') assert.equal(again.prompt_eval_cached_count, a.prompt_eval_count - 1, 'a\'s slot was left alone');
    else assert.equal(again.prompt_eval_cached_count, b.prompt_eval_cached_count, 'b took a\'s slot: only the system prompt is left');
  }
});
