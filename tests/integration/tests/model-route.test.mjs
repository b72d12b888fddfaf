// Routing by model over several servers (docs/upstreams.md): the body read
// whole before a server is chosen (client_body_buffer_size), failover with
// that body, and `balance model`.
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test } from '../lib/harness.mjs';
import { chunkedEncode, RawConn, rawExchange, request } from '../lib/http.mjs';
import { readLog } from '../lib/auth.mjs';
import { mockRequests, mockStats, startCluster } from '../lib/mock.mjs';
import { freePort, runToExit, sanitizerReport, sleep } from '../lib/proc.mjs';
import { assert } from '../lib/util.mjs';

// One site in front of an upstream of these servers.
function clusterConf(port, servers, { upstream = [], site = [] } = {}) {
  return ['workers 1;', 'access_log off;', 'upstream ollama {', ...servers.map((s) => `  server ${s};`),
    ...upstream.map((l) => `  ${l}`), '}', `site _ { listen 127.0.0.1:${port}; proxy ollama; ${site.join(' ')} }`, '']
    .join('\n');
}

// A server of our own: fn(req, res, body) once the request's body is read.
async function fakeServer(t, fn) {
  const srv = http.createServer((req, res) => {
    if (req.url !== '/api/tags' && req.url !== '/api/ps') srv.heads++; // the head, before any of the body
    const parts = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => {
      if (req.url !== '/api/tags' && req.url !== '/api/ps') srv.hits++;
      fn(req, res, Buffer.concat(parts));
    });
  });
  srv.hits = srv.heads = 0;
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  srv.port = srv.address().port;
  t.defer(() => new Promise((resolve) => { srv.closeAllConnections(); srv.close(resolve); }));
  return srv;
}

const genBody = (model, extra = {}) => JSON.stringify({ model, prompt: 'hi', stream: false, ...extra });
const generated = async (mocks) => (await Promise.all(mocks.map((m) => mockRequests(m, '/api/generate')))).map((r) => r.length);

test('client_body_buffer_size: -t accepts a size, refuses a bad one as file:line:col', async (t) => {
  const file = path.join(t.tmpDir(), 'buf.conf');
  const conf = (v) => ['upstream ollama { server 127.0.0.1:11434; server 127.0.0.1:11435; }',
    `site _ { listen 127.0.0.1:18080; client_body_buffer_size ${v}; }`, ''].join('\n');
  writeFileSync(file, conf('64k'));
  let r = await runToExit(t.tollgateBin, ['-t', '-c', file]);
  assert.equal(sanitizerReport(r.stderr), null);
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
  writeFileSync(file, conf('12'));
  r = await runToExit(t.tollgateBin, ['-t', '-c', file]);
  assert.equal(r.code, 1, `exit ${r.code}: ${r.stderr}`);
  assert.ok(r.stderr.includes(`${file}:2:58: 'client_body_buffer_size' must be from 1k to 1g, not '12'`), r.stderr);
});

test('several servers: a model body past client_max_body_size gets 413 and reaches no server, declared or chunked', async (t) => {
  const a = await t.mock();
  const b = await t.mock();
  const tg = await t.tollgate({ config: (port) => clusterConf(port, [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`],
    { site: ['client_body_buffer_size 1k;', 'client_max_body_size 4k;'] }) });
  const big = genBody('llama3.2', { prompt: 'x'.repeat(5000) });
  const r = await request(tg.port, { method: 'POST', path: '/api/generate', body: big });
  assert.equal(r.status, 413, r.text);
  const head = `POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
  const ch = await rawExchange(tg.port, Buffer.concat([Buffer.from(head), chunkedEncode(Buffer.from(big), 1000)]));
  assert.equal(ch.responses[0]?.status, 413, ch.text.slice(0, 300));
  // a small one goes through (past the buffer: through a temporary file, tests/body-temp.test.mjs)
  const ok = await request(tg.port, { method: 'POST', path: '/api/generate', body: genBody('llama3.2', { prompt: 'x'.repeat(2000) }),
    headers: { 'X-Mock-Tokens': '2' } });
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual((await generated([a, b])).reduce((x, y) => x + y), 1);
  assert.equal((await mockRequests(a, '/api/chat')).length + (await mockRequests(b, '/api/chat')).length, 0);
});

test('several servers: bad chunked framing gets 400 before any server sees the head', async (t) => {
  const answer = (req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    const list = req.url === '/api/tags' ? '{"models":[{"name":"llama3.2:latest","model":"llama3.2:latest"}]}' : '{"models":[]}';
    res.end(req.url === '/api/tags' || req.url === '/api/ps' ? list : '{"response":"","done":true}');
  };
  const a = await fakeServer(t, answer);
  const b = await fakeServer(t, answer);
  const tg = await t.tollgate({ config: (port) => clusterConf(port, [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`]) });
  const head = `POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
  // the head and a good chunk first, the bad framing once an upstream could have been dialled
  for (const bad of ['zz\r\n', '5\r\n{"model"\r\n0\r\n\r\n', '4\r\n{"mo\n0\r\n\r\n']) {
    const c = await RawConn.connect(tg.port);
    await c.write(Buffer.from(head + '1\r\n{\r\n'));
    await sleep(150);
    await c.write(Buffer.from(bad));
    await c.waitClose(3000);
    c.destroy();
    assert.equal(c.parser.responses[0]?.status, 400, `${JSON.stringify(bad)}: ${c.allText().slice(0, 300)}`);
  }
  assert.equal(a.heads + b.heads, 0, 'a server saw the head of a request with bad framing');
  const ok = await request(tg.port, { method: 'POST', path: '/api/generate', body: genBody('llama3.2') });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(a.heads + b.heads, 1);
});

test('several servers: a 503 after the body went up fails over with the body, chunked or not', async (t) => {
  const seen = [];
  const busy = await fakeServer(t, (req, res, body) => {
    if (req.url === '/api/tags' || req.url === '/api/ps') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return res.end('{"models":[]}');
    }
    seen.push(body.toString());
    res.writeHead(503, { 'Content-Type': 'application/json' });
    res.end('{"error":"server busy, please try again.  maximum pending requests exceeded"}');
  });
  const b = await t.mock();
  const tg = await t.tollgate({ config: (port) => clusterConf(port, [`127.0.0.1:${busy.port}`, `127.0.0.1:${b.port}`],
    { upstream: ['balance round_robin;'] }) });
  const body = genBody('llama3.2', { prompt: 'y'.repeat(3000) });
  const r1 = await request(tg.port, { method: 'POST', path: '/api/generate', body, headers: { 'X-Mock-Tokens': '2' } });
  assert.equal(r1.status, 200, r1.text);
  const head = `POST /api/generate HTTP/1.1\r\nHost: x\r\nX-Mock-Tokens: 2\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`;
  await request(tg.port, { path: '/api/version' }); // round robin: the busy server's turn comes next
  const r2 = await rawExchange(tg.port, Buffer.concat([Buffer.from(head), chunkedEncode(Buffer.from(body), 700)]));
  assert.equal(r2.responses[0]?.status, 200, r2.text.slice(0, 300));
  assert.equal(busy.hits >= 2, true, `the busy server saw ${busy.hits} requests`);
  assert.deepEqual(seen.filter((s) => s.length).map((s) => s === body), [true, true], 'the busy server did not get the whole body');
  const got = await mockRequests(b, '/api/generate');
  assert.deepEqual(got.map((e) => e.body_bytes), [body.length, body.length]);
});

// --- balance model (the default) over mock servers with catalogues ---

const modelConf = (port, mocks, { admin, log, upstream = [] } = {}) => [
  ...(admin ? [`admin 127.0.0.1:${admin};`] : []), log ? `access_log ${log};` : 'access_log off;', 'workers 1;',
  'upstream ollama {', ...mocks.map((m) => `  server 127.0.0.1:${m.port} slots 2;`), '  health interval 100ms timeout 100ms;',
  ...upstream.map((l) => `  ${l}`), '}', `site _ { listen 127.0.0.1:${port}; proxy ollama; }`, ''].join('\n');

const generate = (port, model) => request(port, { method: 'POST', path: '/api/generate', body: genBody(model) });

test('balance model: requests go to the server where the model is loaded, not spread', async (t) => {
  const mocks = await startCluster(t, [
    { models: 'a,b', maxLoaded: 1, slots: 2, loadMs: 100, tokens: 2, delayMs: 2 },
    { models: 'a,b', maxLoaded: 1, slots: 2, loadMs: 100, tokens: 2, delayMs: 2 },
  ]);
  const r0 = await request(mocks[1].port, { method: 'POST', path: '/api/generate', body: genBody('a'), headers: { Host: 'localhost' } });
  assert.equal(r0.status, 200, r0.text); // a is loaded on the second server only
  const tg = await t.tollgate({ config: (port) => modelConf(port, mocks) });
  await sleep(400); // the checks have read both catalogues and what is loaded
  for (let i = 0; i < 6; i++) {
    const r = await generate(tg.port, 'a');
    assert.equal(r.status, 200, `request ${i}: ${r.text.slice(0, 200)}`);
  }
  assert.deepEqual(await generated(mocks), [0, 7], 'a request for a went to the server without it loaded');
  assert.equal((await mockStats(mocks[0])).loads, 0);
  assert.equal((await mockStats(mocks[1])).loads, 1);
});

test('balance model: a model only one server has goes there; one no server lists gets Ollama\'s 404', async (t) => {
  const mocks = await startCluster(t, [
    { models: 'a', maxLoaded: 1, slots: 2, loadMs: 50, tokens: 2, delayMs: 2 },
    { models: 'b', maxLoaded: 1, slots: 2, loadMs: 50, tokens: 2, delayMs: 2 },
  ]);
  const tg = await t.tollgate({ config: (port) => modelConf(port, mocks) });
  await sleep(300);
  for (let i = 0; i < 4; i++) {
    for (const m of ['b', 'a']) {
      const r = await generate(tg.port, m);
      assert.equal(r.status, 200, `${m} ${i}: ${r.text.slice(0, 200)}`);
    }
  }
  assert.deepEqual(await generated(mocks), [4, 4]);
  assert.deepEqual([(await mockStats(mocks[0])).not_found, (await mockStats(mocks[1])).not_found], [0, 0], 'a server was asked for a model it lacks');
  const missing = await generate(tg.port, 'nosuch');
  assert.equal(missing.status, 404, missing.text);
  assert.match(missing.json().error, /^model "nosuch(:latest)?" not found, try pulling it first$/);
  const chat = await request(tg.port, { method: 'POST', path: '/v1/chat/completions', body: JSON.stringify({ model: 'nosuch', messages: [] }) });
  assert.equal(chat.status, 404, chat.text);
  assert.match(chat.json().error.message, /not found/); // in OpenAI's shape on /v1/
  assert.deepEqual(await generated(mocks), [4, 4], 'a model nobody lists was sent upstream');
});

test('balance model: every server with the model busy, the request waits at the gateway (queued_ms, tollgate_model_queue_depth)', async (t) => {
  const mocks = await startCluster(t, [
    { models: 'a', maxLoaded: 1, slots: 1, loadMs: 10, tokens: 20, delayMs: 25 },
    { models: 'b', maxLoaded: 1, slots: 1, loadMs: 10, tokens: 2, delayMs: 2 },
  ]);
  const admin = await freePort();
  const log = path.join(t.tmpDir(), 'access.log');
  const tg = await t.tollgate({ config: (port) => modelConf(port, mocks, { admin, log }).replace(/ slots 2;/g, ' slots 1;') });
  await sleep(300);
  const first = generate(tg.port, 'a'); // about 500 ms on the only server with a
  await sleep(100);
  const second = generate(tg.port, 'a');
  await sleep(150);
  assert.deepEqual(await generated(mocks), [1, 0], 'the second request went up while the server was busy');
  const metrics = (await request(admin, { path: '/metrics', plain: true })).text;
  assert.ok(metrics.includes('tollgate_model_queue_depth{model="a:latest"} 1'), metrics.split('\n').filter((l) => l.includes('queue')).join('\n'));
  assert.ok(metrics.includes('tollgate_upstream_queue_depth{upstream="ollama",model="a:latest"} 1'), metrics);
  const other = await generate(tg.port, 'b'); // another model is not held behind it
  assert.equal(other.status, 200, other.text);
  const [r1, r2] = await Promise.all([first, second]);
  assert.equal(r1.status, 200, r1.text);
  assert.equal(r2.status, 200, r2.text);
  assert.deepEqual(await generated(mocks), [2, 1]);
  const recs = await readLog(log, 3);
  const held = recs.filter((r) => r.queued_ms !== undefined);
  assert.equal(held.length, 1, JSON.stringify(recs));
  assert.ok(held[0].queued_ms >= 100, `queued_ms ${held[0].queued_ms}`);
  const after = (await request(admin, { path: '/metrics', plain: true })).text;
  assert.ok(after.includes('tollgate_model_queue_depth{model="a:latest"} 0'));
  assert.ok(after.includes('tollgate_upstream_queue_depth{upstream="ollama",model="a:latest"} 0'));
});

test('balance model: a model loaded nowhere waits rather than evict one a busy server is running, then loads when it is idle', async (t) => {
  const mocks = await startCluster(t, [
    { models: 'a,b', maxLoaded: 1, slots: 2, loadMs: 50, tokens: 20, delayMs: 25 },
    { models: 'a', maxLoaded: 1, slots: 2, loadMs: 50, tokens: 20, delayMs: 25 },
  ]);
  const log = path.join(t.tmpDir(), 'access.log');
  const tg = await t.tollgate({ config: (port) => modelConf(port, mocks, { log }) });
  await sleep(300);
  // a on the first server: mock 1 is the least loaded of two idle servers only by turn, so load it there directly
  const pre = await request(mocks[0].port, { method: 'POST', path: '/api/generate', body: genBody('a'), headers: { Host: 'localhost' } });
  assert.equal(pre.status, 200, pre.text);
  await sleep(300); // the checks saw a loaded on the first server
  const first = generate(tg.port, 'a'); // about 500 ms: the first server is busy
  await sleep(100);
  const b = generate(tg.port, 'b'); // only the first server has b: loading it now would evict a under a stream
  await sleep(200);
  assert.equal((await mockRequests(mocks[0], '/api/generate')).length, 2, 'b was sent to a server busy with a');
  assert.equal((await mockStats(mocks[0])).loads, 1);
  const [ra, rb] = await Promise.all([first, b]);
  assert.equal(ra.status, 200, ra.text);
  assert.equal(rb.status, 200, rb.text);
  assert.equal((await mockStats(mocks[0])).loads, 2, 'b loaded once the server was idle');
  assert.equal((await mockRequests(mocks[1], '/api/generate')).length, 0);
  const recs = await readLog(log, 2);
  const rec = recs.find((r) => r.model === 'b:latest' || r.model === 'b');
  assert.ok(rec && rec.queued_ms >= 200, JSON.stringify(recs));
});

test('server metrics: a model load the answer reports counts in tollgate_server_loads_total and _load_seconds_total', async (t) => {
  const mocks = await startCluster(t, [
    { models: 'a', maxLoaded: 1, slots: 2, loadMs: 300, tokens: 2, delayMs: 2 },
    { models: 'b', maxLoaded: 1, slots: 2, loadMs: 300, tokens: 2, delayMs: 2 },
  ]);
  const admin = await freePort();
  const tg = await t.tollgate({ config: (port) => modelConf(port, mocks, { admin }) });
  await sleep(300);
  const series = async (name, i) => {
    const text = (await request(admin, { path: '/metrics', plain: true })).text;
    const line = text.split('\n').find((l) => l.startsWith(`${name}{upstream="ollama",server="127.0.0.1:${mocks[i].port}"} `));
    assert.ok(line, `${name} for server ${i} missing:\n${text.split('\n').filter((l) => l.includes('_load')).join('\n')}`);
    return Number(line.split(' ')[1]);
  };
  assert.equal(await series('tollgate_server_loads_total', 0), 0);
  for (let i = 0; i < 2; i++) { // a load, then a request for the loaded model
    const r = await generate(tg.port, 'a');
    assert.equal(r.status, 200, r.text);
  }
  assert.equal((await mockStats(mocks[0])).loads, 1);
  assert.equal(await series('tollgate_server_loads_total', 0), 1);
  const secs = await series('tollgate_server_load_seconds_total', 0);
  assert.ok(secs >= 0.3 && secs < 30, `load seconds ${secs}`);
  assert.equal(await series('tollgate_server_loads_total', 1), 0);
  const status = JSON.parse((await request(admin, { path: '/status.json', plain: true })).text);
  const row = status.servers.find((s) => s.server === `127.0.0.1:${mocks[0].port}`);
  assert.equal(row?.loads, 1, JSON.stringify(status.servers));
});
