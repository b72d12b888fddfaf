// Several Ollama servers behind one upstream (docs/upstreams.md): the
// configuration, the choice among servers, health and failover.
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test } from '../lib/harness.mjs';
import { clientRequest, request } from '../lib/http.mjs';
import { readLog } from '../lib/auth.mjs';
import { mockRequests } from '../lib/mock.mjs';
import { freePort, runToExit, sanitizerReport, sleep } from '../lib/proc.mjs';
import { configFor } from '../lib/tls.mjs';
import { assert } from '../lib/util.mjs';

// A config of one site in front of one upstream with these server lines.
function clusterConf(port, servers, extra = [], workers = 1) {
  return [`workers ${workers};`, 'access_log off;', 'upstream ollama {', ...servers.map((s) => `  server ${s};`),
    ...extra.map((l) => `  ${l}`), '}', `site _ { listen 127.0.0.1:${port}; proxy ollama; }`, ''].join('\n');
}

// n requests through tg (GET /api/version: the health checks ask for
// /api/tags and /api/ps, so these are told apart from them).
async function tags(tg, n) {
  for (let i = 0; i < n; i++) {
    const r = await request(tg.port, { path: '/api/version' });
    assert.equal(r.status, 200, `request ${i}: ${r.status} ${r.text.slice(0, 200)}`);
  }
}

const seen = async (mock) => (await mockRequests(mock, '/api/version')).length;

// One streamed generation; resolves with its NDJSON lines, whether the last
// (done) line came and the response ended, or the error that cut it.
function stream(port, { tokens = 40, delay = 20, headers = {} } = {}) {
  return new Promise((resolve) => {
    const out = { lines: [], done: false, ended: false, error: null, text: '' };
    const req = clientRequest({ host: '127.0.0.1', port, method: 'POST', path: '/api/generate', agent: false,
      headers: { 'Content-Type': 'application/json', 'X-Mock-Tokens': String(tokens), 'X-Mock-Delay-Ms': String(delay),
        ...headers } }, (res) => {
      out.status = res.statusCode;
      out.headers = res.headers;
      res.setEncoding('utf8');
      res.on('data', (d) => { out.text += d; });
      res.on('end', () => {
        out.ended = true;
        out.lines = out.text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
        out.done = out.lines.some((l) => l.done);
        resolve(out);
      });
      res.on('error', (e) => { out.error = e.message; resolve(out); });
      res.on('aborted', () => { out.error = 'aborted'; });
    });
    req.on('error', (e) => { out.error = e.message; resolve(out); });
    req.end(JSON.stringify({ model: 'llama3.2', prompt: 'hi' }));
  });
}

function noSan(r) {
  const rep = sanitizerReport(r.stderr);
  assert.equal(rep, null, `sanitizer report: ${rep}`);
}

test('-t accepts an upstream with several servers, their options, balance and health', async (t) => {
  const file = path.join(t.tmpDir(), 'servers.conf');
  writeFileSync(file, [
    'upstream ollama {',
    '  server 127.0.0.1:11434 slots 4;',
    '  server 127.0.0.1:11435 slots 2 weight 2;',
    '  server 127.0.0.1:11436 backup;',
    '  server 127.0.0.1:11437 drain;',
    '  balance least_conn;',
    '  health interval 5s timeout 2s fails 3 passes 2;',
    '}',
    'site _ { listen 127.0.0.1:18080; proxy ollama; }',
    '',
  ].join('\n'));
  const r = await runToExit(t.tollgateBin, ['-t', '-c', file]);
  noSan(r);
  assert.equal(r.code, 0, `exit ${r.code}; output: ${r.stdout}${r.stderr}`);
});

test('-t reports bad server options, balance and health as file:line:col', async (t) => {
  const file = path.join(t.tmpDir(), 'bad.conf');
  writeFileSync(file, [
    'upstream ollama {',
    '  server 127.0.0.1:11434 slots many;',
    '  server 127.0.0.1:11434;',
    '  balance fastest;',
    '  health interval 1s timeout 5s;',
    '}',
    'site _ { listen 127.0.0.1:18080; }',
    '',
  ].join('\n'));
  const r = await runToExit(t.tollgateBin, ['-t', '-c', file]);
  noSan(r);
  assert.equal(r.code, 1, `exit ${r.code}; output: ${r.stdout}${r.stderr}`);
  for (const want of [
    `${file}:2:32: 'slots' takes a number from 1 to 1024, not 'many'`,
    `${file}:4:11: 'balance' takes model, least_conn or round_robin, not 'fastest'`,
    `${file}:5:22: 'health timeout' must not exceed its interval (1000ms)`,
  ]) assert.ok(r.stderr.includes(want), `missing "${want}" in:\n${r.stderr}`);
});

test('--upstream given twice with the same server is refused', async (t) => {
  const r = await runToExit(t.tollgateBin, ['-t', '--upstream', 'http://127.0.0.1:1', '--upstream', '127.0.0.1:1']);
  noSan(r);
  assert.equal(r.code, 1, `exit ${r.code}; output: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, /--upstream: '127\.0\.0\.1:1' is given twice/);
});

test('--upstream twice: requests spread over both servers (least_conn, ties taken in turn)', async (t) => {
  const a = await t.mock();
  const b = await t.mock();
  const tg = await t.tollgate({ upstream: a.url, args: ['--upstream', b.url], workers: 1 });
  await tags(tg, 20);
  const na = await seen(a), nb = await seen(b);
  assert.equal(na + nb, 20);
  assert.ok(na >= 8 && nb >= 8, `a saw ${na}, b saw ${nb}: not spread`);
});

test('least_conn: a server busy with a long stream gets no new request while the other is free', async (t) => {
  const a = await t.mock();
  const b = await t.mock();
  const tg = await t.tollgate({ config: (port) => clusterConf(port, [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`],
    ['balance least_conn;']) });
  const long = stream(tg.port, { tokens: 30, delay: 30 });
  await sleep(150);
  const busyOnA = (await mockRequests(a, '/api/generate')).length === 1;
  await tags(tg, 6);
  const [na, nb] = [await seen(a), await seen(b)];
  if (busyOnA) assert.equal(na, 0, `a carries the stream yet got ${na} of 6 requests`);
  else assert.equal(nb, 0, `b carries the stream yet got ${nb} of 6 requests`);
  const r = await long;
  assert.ok(r.done && r.ended, `the stream was cut: ${r.error}`);
});

test('round_robin with weights: 3 to 1 over 12 requests, in one worker', async (t) => {
  const a = await t.mock();
  const b = await t.mock();
  const tg = await t.tollgate({ config: (port) => clusterConf(port,
    [`127.0.0.1:${a.port} weight 3`, `127.0.0.1:${b.port}`], ['balance round_robin;']) });
  await tags(tg, 12);
  assert.equal(await seen(a), 9);
  assert.equal(await seen(b), 3);
});

test('a backup server gets nothing while a primary serves; a draining server gets nothing', async (t) => {
  const a = await t.mock();
  const b = await t.mock();
  const c = await t.mock();
  const tg = await t.tollgate({ config: (port) => clusterConf(port,
    [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port} backup`, `127.0.0.1:${c.port} drain`], ['balance round_robin;'], 2) });
  await tags(tg, 10);
  assert.equal(await seen(a), 10);
  assert.equal(await seen(b), 0, 'the backup was used while the primary served');
  assert.equal(await seen(c), 0, 'the draining server got a request');
});

test('every server draining: 502 naming the upstream, nothing dialled', async (t) => {
  const a = await t.mock();
  const tg = await t.tollgate({ config: (port) => clusterConf(port, [`127.0.0.1:${a.port} drain`]) });
  const r = await request(tg.port, { path: '/api/version' });
  assert.equal(r.status, 502);
  assert.match(r.text, /no server of upstream 'ollama' can take the request/);
  assert.equal(await seen(a), 0);
});

test('reload: a server set to drain finishes its live stream, new requests go to the others', async (t) => {
  const a = await t.mock();
  const b = await t.mock();
  const servers = (drainA) => [`127.0.0.1:${a.port}${drainA ? ' drain' : ''}`, `127.0.0.1:${b.port}`];
  const tg = await t.tollgate({ config: (port) => clusterConf(port, servers(false), ['balance round_robin;']) });
  const long = stream(tg.port, { tokens: 40, delay: 25 }); // round robin's first choice: a
  await sleep(200);
  assert.equal((await mockRequests(a, '/api/generate')).length, 1, 'the stream did not go to the first server');
  writeFileSync(path.join(tg.tmp, 'tollgate.conf'), configFor(tg, clusterConf(tg.port, servers(true), ['balance round_robin;'])));
  tg.child.kill('SIGHUP');
  await tg.waitFor((_o, e) => /reloaded/.test(e), 3000, 'the reload line');
  await tags(tg, 6);
  assert.equal(await seen(a), 0, 'the draining server got new requests');
  assert.equal(await seen(b), 6);
  const r = await long;
  assert.equal(r.error, null);
  assert.ok(r.done && r.ended && r.lines.length === 41, `the stream was cut after ${r.lines.length} lines`);
});

test('health: a stopped server is taken out after `fails` checks and back after `passes`, each logged', async (t) => {
  const a = await t.mock();
  const bPort = await freePort();
  let b = await t.mock(['--listen', `127.0.0.1:${bPort}`]);
  const tg = await t.tollgate({ config: (port) => clusterConf(port, [`127.0.0.1:${a.port}`, `127.0.0.1:${bPort}`],
    // 250 ms: a check of a live server that takes over 100 ms under ASan on a loaded machine must not fail it
    ['balance round_robin;', 'health interval 250ms timeout 250ms fails 2 passes 2;']) });
  await sleep(600);
  assert.ok((await mockRequests(b, '/api/tags')).length >= 1, 'no check asked b for /api/tags');
  assert.ok((await mockRequests(b, '/api/ps')).length >= 1, 'no check asked b for /api/ps');
  await b.stop();
  await tg.waitFor((_o, e) => new RegExp(`server 127\\.0\\.0\\.1:${bPort} is down after 2 failures`).test(e), 3000,
    'the down line');
  await tags(tg, 8); // every one answered: b is not chosen
  assert.equal(await seen(a), 8);
  b = await t.mock(['--listen', `127.0.0.1:${bPort}`]);
  await tg.waitFor((_o, e) => new RegExp(`server 127\\.0\\.0\\.1:${bPort} is up again after 2 good checks`).test(e),
    3000, 'the up line');
  await tags(tg, 8);
  assert.equal(await seen(b), 4, 'round robin did not take b back');
});

test('health: a lone server without `health` is never checked', async (t) => {
  const a = await t.mock();
  await t.tollgate({ upstream: a.url });
  await sleep(300);
  assert.equal((await mockRequests(a, '/api/ps')).length, 0, 'a lone server without `health` was checked');
});

test('health: the primary down, the backup serves', async (t) => {
  const aPort = await freePort();
  const b = await t.mock();
  const tg = await t.tollgate({ config: (port) => clusterConf(port, [`127.0.0.1:${aPort}`, `127.0.0.1:${b.port} backup`],
    ['health interval 300ms timeout 300ms fails 1 passes 1;']) });
  await tg.waitFor((_o, e) => /is down after 1 failures/.test(e), 3000, 'the down line');
  await tags(tg, 4);
  assert.equal(await seen(b), 4);
});

// A stand-in server that answers every request with fn(req, res) and
// counts them (the health checks' /api/tags and /api/ps apart); closed
// when the test ends.
async function fakeServer(t, fn) {
  const srv = http.createServer((req, res) => {
    if (req.url !== '/api/tags' && req.url !== '/api/ps') srv.hits++;
    fn(req, res);
  });
  srv.hits = 0;
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  srv.port = srv.address().port;
  t.defer(() => new Promise((resolve) => { srv.closeAllConnections(); srv.close(resolve); }));
  return srv;
}

const failConf = (port, first, second, extra = []) =>
  clusterConf(port, [`127.0.0.1:${first}`, `127.0.0.1:${second}`], ['balance round_robin;', ...extra]);

test('failover: a refused dial goes to the next server; the client sees 200', async (t) => {
  const deadPort = await freePort();
  const b = await t.mock();
  const tg = await t.tollgate({ config: (port) => failConf(port, deadPort, b.port) });
  for (let i = 0; i < 4; i++) {
    const r = await request(tg.port, { method: 'POST', path: '/api/generate', body: JSON.stringify({ model: 'llama3.2', prompt: 'x', stream: false }) });
    assert.equal(r.status, 200, `request ${i}: ${r.status} ${r.text.slice(0, 200)}`);
  }
  assert.equal((await mockRequests(b, '/api/generate')).length, 4);
  await tg.waitFor((_o, e) => /server 127\.0\.0\.1:\d+ could not be dialled \(refused\): trying another/.test(e), 2000,
    'the failover line');
});

test('failover: a 503 (busy) or a reset before any byte goes to the next server', async (t) => {
  const busy = await fakeServer(t, (_req, res) => {
    res.writeHead(503, { 'Content-Type': 'application/json' });
    res.end('{"error":"server busy, please try again.  maximum pending requests exceeded"}');
  });
  const reset = await fakeServer(t, (req) => req.socket.destroy());
  const b = await t.mock();
  for (const [fake, line] of [[busy, /answered 503: trying another/], [reset, /before answering: trying another/]]) {
    const tg = await t.tollgate({ config: (port) => failConf(port, fake.port, b.port) });
    await tags(tg, 4);
    assert.ok(fake.hits >= 2, `the failing server saw ${fake.hits} requests: round robin never chose it`);
    await tg.waitFor((_o, e) => line.test(e), 2000, 'the failover line');
    await tg.stop();
  }
  assert.equal(await seen(b), 8);
});

test('failover: never for model management, nor for a request whose body went up', async (t) => {
  const busy = await fakeServer(t, (req, res) => {
    req.resume();
    req.on('end', () => { res.writeHead(503, { 'Content-Type': 'application/json' }); res.end('{"error":"busy"}'); });
  });
  const b = await t.mock();
  const tg = await t.tollgate({ config: (port) => failConf(port, busy.port, b.port) });
  // round robin: the first request of each pair goes to the busy server
  // (pull, create, delete and copy go to every server: fanout.test.mjs)
  const push = await request(tg.port, { method: 'POST', path: '/api/push', body: '{"model":"x"}' });
  assert.equal(push.status, 503, 'a push was sent to a second server');
  await tags(tg, 1);
  // a route that names no model streams its body up (a model route's is read whole first: model-route.test.mjs)
  const gen = await request(tg.port, { method: 'POST', path: '/api/tokenize', body: JSON.stringify({ model: 'llama3.2', prompt: 'x' }) });
  assert.equal(gen.status, 503, 'a request whose body was streamed up was sent again');
  assert.equal(busy.hits, 2);
});

test('failover: every server failing, the client gets the last answer', async (t) => {
  const mk = () => fakeServer(t, (_req, res) => { res.writeHead(503, { 'Content-Type': 'application/json' }); res.end('{"error":"busy"}'); });
  const x = await mk();
  const y = await mk();
  const tg = await t.tollgate({ config: (port) => failConf(port, x.port, y.port) });
  const r = await request(tg.port, { path: '/api/version' });
  assert.equal(r.status, 503);
  assert.equal(x.hits + y.hits, 2, 'not each server once');
});

test('failover: a 404 for a model another server lists goes there (a body read whole); one nobody lists stays 404', async (t) => {
  const HASH = '$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.'; // "password"
  const dir = t.tmpDir();
  writeFileSync(path.join(dir, 'users'), `alice:${HASH}\n`);
  const empty = await fakeServer(t, (req, res) => {
    res.writeHead(req.url === '/api/tags' || req.url === '/api/ps' ? 200 : 404, { 'Content-Type': 'application/json' });
    res.end(req.url === '/api/tags' || req.url === '/api/ps' ? '{"models":[]}' : '{"error":"model not found"}');
  });
  const b = await t.mock();
  const tg = await t.tollgate({ config: (port) => [
    'workers 1;', 'access_log off;', 'upstream ollama {', `  server 127.0.0.1:${empty.port};`, `  server 127.0.0.1:${b.port};`,
    '  balance round_robin;', '  health interval 100ms timeout 100ms;', '}',
    `site _ { listen 127.0.0.1:${port}; proxy ollama; auth basic ${dir}/users; models alice llama3.2 nosuch; }`, ''].join('\n') });
  await sleep(300); // the first checks have read both catalogues
  const auth = { Authorization: 'Basic ' + Buffer.from('alice:password').toString('base64'), 'X-Mock-Tokens': '2' };
  const gen = (model) => request(tg.port, { method: 'POST', path: '/api/generate', headers: auth,
    body: JSON.stringify({ model, prompt: 'x', stream: false }) });
  const ok = await gen('llama3.2'); // round robin: the empty server first
  assert.equal(ok.status, 200, `${ok.status} ${ok.text.slice(0, 200)}`);
  assert.equal(empty.hits, 1, 'the first server was not asked first');
  assert.equal((await mockRequests(b, '/api/generate')).length, 1);
  await gen('llama3.2'); // b's turn
  const missing = await gen('nosuch'); // the empty server's turn: nobody lists it
  assert.equal(missing.status, 404);
  assert.equal(empty.hits, 2);
  assert.equal((await mockRequests(b, '/api/generate')).length, 2, 'a model nobody lists was sent to another server');
});

test('metrics and the access log per server: up, in flight, slots, failovers, errors; server and failovers fields', async (t) => {
  const deadPort = await freePort();
  const b = await t.mock();
  const admin = await freePort();
  const log = path.join(t.tmpDir(), 'access.log');
  const tg = await t.tollgate({ config: (port) => [`admin 127.0.0.1:${admin};`, `access_log ${log};`, 'workers 1;',
    'upstream ollama {', `  server 127.0.0.1:${deadPort};`, `  server 127.0.0.1:${b.port} slots 3;`, '  balance round_robin;',
    '  health interval 1h timeout 1s fails 2 passes 1;', '}', `site _ { listen 127.0.0.1:${port}; proxy ollama; }`, ''].join('\n') });
  const long = stream(tg.port, { tokens: 30, delay: 20 }); // round robin: the dead server first, then b
  await sleep(200);
  const metrics = (await request(admin, { path: '/metrics', plain: true })).text;
  const has = (line) => assert.ok(metrics.includes(line), `no "${line}" in /metrics:\n${metrics.split('\n').filter((l) => l.includes('server')).join('\n')}`);
  const dead = `upstream="ollama",server="127.0.0.1:${deadPort}"`, live = `upstream="ollama",server="127.0.0.1:${b.port}"`;
  has(`tollgate_server_up{${dead}} 0`); // its first check failed, and the stream's dial: 2 failures
  has(`tollgate_server_up{${live}} 1`);
  has(`tollgate_server_in_flight{${live}} 1`);
  has(`tollgate_server_slots{${live}} 3`);
  has(`tollgate_server_failovers_total{${dead}} 1`);
  has(`tollgate_server_errors_total{${dead}} 1`);
  const status = JSON.parse((await request(admin, { path: '/status.json', plain: true })).text);
  const row = status.servers.find((x) => x.server === `127.0.0.1:${b.port}`);
  const { models, loaded, ...rest } = row;
  assert.deepEqual(rest, { upstream: 'ollama', server: `127.0.0.1:${b.port}`, up: true, in_flight: 1, slots: 3, failovers: 0, errors: 0, loads: 0, load_seconds: 0,
    affinity_hits: 0, affinity_matched_tokens: 0, prompt_tokens_evaluated: 0, prompt_tokens_cached: 0 });
  const tagsNow = JSON.parse((await request(b.port, { path: '/api/tags', headers: { Host: 'localhost' } })).text);
  const psNow = JSON.parse((await request(b.port, { path: '/api/ps', headers: { Host: 'localhost' } })).text);
  assert.equal(models, tagsNow.models.length, 'the catalogue is not the server\'s /api/tags');
  assert.ok(Array.isArray(loaded) && loaded.length <= psNow.models.length + 1, `loaded: ${JSON.stringify(loaded)}`);
  const r = await long;
  assert.ok(r.done && r.ended);
  const [rec] = await readLog(log, 1);
  assert.equal(rec.server, `127.0.0.1:${b.port}`);
  assert.equal(rec.failovers, 1);
  assert.equal(rec.status, 200);
});

test('reload: a server removed finishes its live stream, a server added takes requests at once', async (t) => {
  const a = await t.mock();
  const b = await t.mock();
  const c = await t.mock();
  const tg = await t.tollgate({ config: (port) => clusterConf(port, [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`],
    ['balance round_robin;']) });
  const long = stream(tg.port, { tokens: 40, delay: 25 }); // round robin's first choice: a
  await sleep(200);
  assert.equal((await mockRequests(a, '/api/generate')).length, 1, 'the stream did not go to the first server');
  writeFileSync(path.join(tg.tmp, 'tollgate.conf'), configFor(tg, clusterConf(tg.port,
    [`127.0.0.1:${b.port}`, `127.0.0.1:${c.port}`], ['balance round_robin;'])));
  tg.child.kill('SIGHUP');
  await tg.waitFor((_o, e) => /reloaded/.test(e), 3000, 'the reload line');
  await tags(tg, 6);
  assert.equal(await seen(a), 0, 'the removed server got new requests');
  assert.equal(await seen(b), 3);
  assert.equal(await seen(c), 3);
  const r = await long;
  assert.equal(r.error, null);
  assert.ok(r.done && r.ended && r.lines.length === 41, `the stream was cut after ${r.lines.length} lines`);
});
