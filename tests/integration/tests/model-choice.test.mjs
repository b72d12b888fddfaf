// balance model's choice beyond the loaded server (docs/upstreams.md#balance-model):
// the expected wait (a model in demand spreads to a second server), the
// fairness bound and the queue as settings (`fairness`, `queue N timeout D`),
// and a 404 that refreshes a server's catalogue.
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test } from '../lib/harness.mjs';
import { request } from '../lib/http.mjs';
import { readLog } from '../lib/auth.mjs';
import { mockRequests, mockStats, startCluster } from '../lib/mock.mjs';
import { runToExit, sanitizerReport, sleep } from '../lib/proc.mjs';
import { assert } from '../lib/util.mjs';

const genBody = (model) => JSON.stringify({ model, prompt: 'hi', stream: false });
const generate = (port, model, headers = {}) =>
  request(port, { method: 'POST', path: '/api/generate', body: genBody(model), headers });
const direct = (mock, model) =>
  request(mock.port, { method: 'POST', path: '/api/generate', body: genBody(model), headers: { Host: 'localhost' } });
const sent = async (mock) => (await mockRequests(mock, '/api/generate')).length;

const conf = (port, ports, { slots = 1, upstream = [], log } = {}) => [
  log ? `access_log ${log};` : 'access_log off;', 'workers 1;', 'upstream ollama {',
  ...ports.map((p) => `  server 127.0.0.1:${p} slots ${slots};`), '  health interval 100ms timeout 100ms;',
  ...upstream.map((l) => `  ${l}`), '}', `site _ { listen 127.0.0.1:${port}; proxy ollama; }`, ''].join('\n');

test('balance model: a model in demand spreads to a second server once its queue would wait longer than a load', async (t) => {
  const mocks = await startCluster(t, [
    { models: 'a,b', maxLoaded: 1, slots: 1, loadMs: 100, tokens: 20, delayMs: 25 },
    { models: 'a,b', maxLoaded: 1, slots: 1, loadMs: 100, tokens: 20, delayMs: 25 },
  ]);
  assert.equal((await direct(mocks[0], 'a')).status, 200); // a loaded on the first server, b on the second
  assert.equal((await direct(mocks[1], 'b')).status, 200);
  const tg = await t.tollgate({ config: (port) => conf(port, mocks.map((m) => m.port)) });
  await sleep(400); // the checks have read what is loaded where
  // Nothing learned yet: a request runs 2 s, a load takes 5 s (the defaults).
  // One slot: the second to sixth a wait (2 s to 10 s); the seventh would
  // wait 12 s, more than twice a load: a loads on the idle second server.
  const burst = [];
  for (let i = 0; i < 8; i++) {
    burst.push(generate(tg.port, 'a'));
    await sleep(20);
  }
  for (const r of await Promise.all(burst)) assert.equal(r.status, 200, r.text.slice(0, 200));
  const onSecond = (await sent(mocks[1])) - 1; // b's, sent directly
  assert.ok(onSecond >= 1, 'no request for a went to the idle second server: the hot model stayed on one');
  assert.ok(onSecond <= 4, `${onSecond} of 8 went to the second server: the loaded one was not preferred`);
  assert.equal((await mockStats(mocks[1])).loads, 2, 'b then a, each loaded once');
  assert.equal((await mockStats(mocks[0])).loads, 1, 'a was loaded again on the first server');
});

test('balance model: a lone request does not load a second copy of a busy model', async (t) => {
  const mocks = await startCluster(t, [
    { models: 'a,b', maxLoaded: 1, slots: 1, loadMs: 100, tokens: 20, delayMs: 25 },
    { models: 'a,b', maxLoaded: 1, slots: 1, loadMs: 100, tokens: 20, delayMs: 25 },
  ]);
  assert.equal((await direct(mocks[0], 'a')).status, 200);
  assert.equal((await direct(mocks[1], 'b')).status, 200);
  const tg = await t.tollgate({ config: (port) => conf(port, mocks.map((m) => m.port)) });
  await sleep(400);
  const [r1, r2] = await Promise.all([generate(tg.port, 'a'), sleep(50).then(() => generate(tg.port, 'a'))]);
  assert.equal(r1.status, 200, r1.text);
  assert.equal(r2.status, 200, r2.text);
  assert.deepEqual([(await mockStats(mocks[0])).loads, (await mockStats(mocks[1])).loads], [1, 1], 'a was loaded a second time for one waiter');
});

test('fairness: a short bound lets a model only a busy server has swap in while the other model still runs', async (t) => {
  const mocks = await startCluster(t, [
    { models: 'a,b', maxLoaded: 1, slots: 2, loadMs: 50, tokens: 20, delayMs: 25 },
    { models: 'a', maxLoaded: 1, slots: 2, loadMs: 50, tokens: 20, delayMs: 25 },
  ]);
  const log = path.join(t.tmpDir(), 'access.log');
  const tg = await t.tollgate({ config: (port) => conf(port, mocks.map((m) => m.port), { slots: 2, log, upstream: ['fairness 300ms;'] }) });
  await sleep(300);
  assert.equal((await direct(mocks[0], 'a')).status, 200);
  await sleep(300); // a is loaded on the first server
  const long = generate(tg.port, 'a', { 'X-Mock-Tokens': '200' }); // about 5 s
  await sleep(100);
  const b = generate(tg.port, 'b'); // only the first server has b, busy with a
  await sleep(1500); // past the bound (300 ms), well before a's end
  assert.equal(await sent(mocks[0]), 3, 'b was not sent after its fairness bound'); // a direct, a, b
  const [ra, rb] = await Promise.all([long, b]);
  assert.equal(ra.status, 200, ra.text.slice(0, 200));
  assert.equal(rb.status, 200, rb.text.slice(0, 200));
  const recs = await readLog(log, 2);
  const rec = recs.find((r) => r.model === 'b:latest');
  assert.ok(rec && rec.queued_ms >= 250, JSON.stringify(recs));
});

test('queue: 0 answers 503 at once, a timeout answers 503 after it; the settings are the upstream\'s', async (t) => {
  const mocks = await startCluster(t, [
    { models: 'a', maxLoaded: 1, slots: 1, loadMs: 10, tokens: 40, delayMs: 25 },
    { models: 'b', maxLoaded: 1, slots: 1, loadMs: 10, tokens: 2, delayMs: 2 },
  ]);
  const ports = mocks.map((m) => m.port);
  for (const [setting, why] of [['queue 0;', /maximum pending requests exceeded/], ['queue 10 timeout 200ms;', /timed out waiting/]]) {
    const tg = await t.tollgate({ config: (port) => conf(port, ports, { upstream: [setting] }) });
    await sleep(300);
    const first = generate(tg.port, 'a'); // about 1 s on the only server with a
    await sleep(150);
    const second = await generate(tg.port, 'a');
    assert.equal(second.status, 503, `${setting}: ${second.text}`);
    assert.match(second.json().error, why);
    assert.equal((await first).status, 200);
    await tg.stop();
  }
});

test('fairness, queue: -t refuses bad values as file:line:col', async (t) => {
  const file = path.join(t.tmpDir(), 'fair.conf');
  const write = (line) => writeFileSync(file, ['upstream ollama {', '  server 127.0.0.1:11434;', '  server 127.0.0.1:11435;',
    `  ${line}`, '}', 'site _ { listen 127.0.0.1:18080; }', ''].join('\n'));
  write('fairness 10s; queue 64 timeout 5s;');
  let r = await runToExit(t.tollgateBin, ['-t', '-c', file]);
  assert.equal(sanitizerReport(r.stderr), null);
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
  for (const [line, msg] of [
    ['fairness soon;', "4:12: 'fairness' takes a duration from 0 to 1h, not 'soon'"],
    ['fairness 2h;', "4:12: 'fairness' takes a duration from 0 to 1h, not '2h'"],
    ['queue many;', "4:9: 'queue' takes a number from 0 to 1000000, not 'many'"],
    ['queue 10 wait 5s;', "4:12: 'queue' takes N [timeout D], not 'wait'"],
    ['queue 10 timeout;', "4:12: missing duration after 'queue 10 timeout'"],
    ['queue 10 timeout 0;', "4:20: 'queue timeout' takes a duration from 1ms to 24h, not '0'"],
  ]) {
    write(line);
    r = await runToExit(t.tollgateBin, ['-t', '-c', file]);
    assert.equal(r.code, 1, `${line}: exit ${r.code}: ${r.stderr}`);
    assert.ok(r.stderr.includes(`${file}:${msg}`), `${line}: ${r.stderr}`);
  }
});

test('balance model: a 404 for a model its catalogue listed reads that server\'s catalogue again at once', async (t) => {
  let tagsCalls = 0;
  let generates = 0;
  const gone = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(req.url === '/api/generate' ? 404 : 200, { 'Content-Type': 'application/json' });
      if (req.url === '/api/tags') { // x is deleted after the first listing
        tagsCalls++;
        return res.end(tagsCalls === 1 ? '{"models":[{"name":"x:latest","model":"x:latest"}]}' : '{"models":[]}');
      }
      if (req.url === '/api/ps') return res.end('{"models":[]}');
      generates++;
      res.end('{"error":"model \\"x\\" not found, try pulling it first"}');
    });
  });
  await new Promise((resolve) => gone.listen(0, '127.0.0.1', resolve));
  t.defer(() => new Promise((resolve) => { gone.closeAllConnections(); gone.close(resolve); }));
  const [b] = await startCluster(t, [{ models: 'x', maxLoaded: 1, slots: 2, loadMs: 10, tokens: 2, delayMs: 2 }]);
  const tg = await t.tollgate({ config: (port) => conf(port, [gone.address().port, b.port], { slots: 2 })
    .replace('health interval 100ms timeout 100ms;', 'health interval 60s timeout 2s;') });
  await sleep(400); // the first (and, by the interval, only) checks
  assert.equal(tagsCalls, 1);
  const r1 = await generate(tg.port, 'x'); // the first server (a tie, its turn): 404, then the other
  assert.equal(r1.status, 200, r1.text);
  assert.equal(generates, 1, 'the first request did not go to the first server');
  await sleep(500);
  assert.equal(tagsCalls, 2, 'the 404 did not make tollgate read the catalogue again before its interval');
  for (let i = 0; i < 4; i++) assert.equal((await generate(tg.port, 'x')).status, 200);
  assert.equal(generates, 1, 'a server whose catalogue no longer lists x was asked for it again');
});

test('balance model: runner options are a variant: each variant keeps the server it loaded on, no reload back and forth', async (t) => {
  const mocks = await startCluster(t, [
    { models: 'a', maxLoaded: 1, slots: 2, loadMs: 150, tokens: 2, delayMs: 2 },
    { models: 'a', maxLoaded: 1, slots: 2, loadMs: 150, tokens: 2, delayMs: 2 },
  ]);
  const tg = await t.tollgate({ config: (port) => conf(port, mocks.map((m) => m.port), { slots: 2 }) });
  await sleep(300);
  const ask = (options) => request(tg.port, { method: 'POST', path: '/api/generate',
    body: JSON.stringify({ model: 'a', prompt: 'hi', stream: false, options }) });
  const big = await ask({ num_ctx: 8192, temperature: 0.2 });
  assert.equal(big.status, 200, big.text);
  const bigAt = (await sent(mocks[0])) === 1 ? 0 : 1;
  for (let i = 0; i < 3; i++) {
    const d = await ask({ temperature: 0.7 }); // the defaults: another variant, loaded on the other server
    assert.equal(d.status, 200, d.text);
    const b = await ask({ temperature: 0.1, num_ctx: 8192 }); // other options than the runner's change nothing
    assert.equal(b.status, 200, b.text);
  }
  const counts = [await sent(mocks[0]), await sent(mocks[1])];
  assert.equal(counts[bigAt], 4, `num_ctx 8192 requests left their server: ${counts}`);
  assert.equal(counts[1 - bigAt], 3, `default requests: ${counts}`);
  const loads = [(await mockStats(mocks[0])).loads, (await mockStats(mocks[1])).loads];
  assert.deepEqual(loads, [1, 1], 'a variant was loaded again');
});
