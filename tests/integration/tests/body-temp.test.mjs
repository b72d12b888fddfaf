// A body read whole before a server is chosen, past client_body_buffer_size:
// kept in an unlinked temporary file in client_body_temp_path
// (docs/upstreams.md#the-body-read-whole), never more than
// client_max_body_size, sent byte for byte to the chosen server and again
// on failover, and closed when the exchange ends, however it ends.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readlinkSync, rmdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test } from '../lib/harness.mjs';
import { chunkedEncode, RawConn, rawExchange, request } from '../lib/http.mjs';
import { mockRequests, startCluster } from '../lib/mock.mjs';
import { runToExit, sanitizerReport, sleep } from '../lib/proc.mjs';
import { assert } from '../lib/util.mjs';

const sha = (b) => createHash('sha256').update(b).digest('hex');

// A server of our own that hashes each body it gets; answer(req, res, body)
// answers once it is read (after `holdMs`).
async function hashingServer(t, { answer, holdMs = 0 } = {}) {
  const srv = http.createServer((req, res) => {
    const listing = req.url === '/api/tags' || req.url === '/api/ps';
    if (!listing) srv.heads++;
    const h = createHash('sha256');
    let n = 0;
    req.on('data', (d) => { h.update(d); n += d.length; });
    req.on('end', async () => {
      if (listing) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        return res.end('{"models":[]}');
      }
      srv.got.push({ url: req.url, sha: h.digest('hex'), bytes: n, cl: req.headers['content-length'], te: req.headers['transfer-encoding'] });
      if (holdMs) await sleep(holdMs);
      if (answer) return answer(req, res);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"response":"ok","done":true}');
    });
  });
  srv.got = [];
  srv.heads = 0;
  srv.on('clientError', (err, sock) => { srv.errors.push(err.code); sock.destroy(); }); // bytes past a body
  srv.errors = [];
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  srv.port = srv.address().port;
  t.defer(() => new Promise((resolve) => { srv.closeAllConnections(); srv.close(resolve); }));
  return srv;
}

function conf(port, servers, { upstream = [], site = [] } = {}) {
  return ['workers 1;', 'access_log off;', 'upstream ollama {', ...servers.map((s) => `  server 127.0.0.1:${s.port};`),
    ...upstream.map((l) => `  ${l}`), '}', `site _ { listen 127.0.0.1:${port}; proxy ollama; ${site.join(' ')} }`, '']
    .join('\n');
}

// tollgate in front of servers (round robin) with its bodies past `buffer`
// in a directory of their own.
async function startWithDir(t, servers, { buffer = '4k', site = [] } = {}) {
  const dir = path.join(t.tmpDir(), 'bodies');
  mkdirSync(dir);
  const tg = await t.tollgate({ config: (port) => conf(port, servers, { upstream: ['balance round_robin;'],
    site: [`client_body_buffer_size ${buffer};`, `client_body_temp_path ${dir};`, ...site] }) });
  return { tg, dir, pid: tg.child.pid };
}

// The descriptors of the process that point into dir (an unlinked file
// shows as "DIR/#123 (deleted)" or "DIR/tollgate-body-... (deleted)").
function fdsInto(pid, dir) {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(`${dir}/`)) n++;
    } catch { /* closed meanwhile */ }
  }
  return n;
}

async function waitFds(pid, dir, want, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    const n = fdsInto(pid, dir);
    if (n === want || Date.now() > end) return n;
    await sleep(20);
  }
}

// A generate body of about `size` bytes, its model named after the prompt
// (the scanner finds it wherever it is).
const bigBody = (size, model = 'llama3.2') =>
  Buffer.from(JSON.stringify({ prompt: 'p'.repeat(size), stream: false, model }));

test('client_body_temp_path: -t accepts a directory; a missing one or a file is refused as file:line:col', async (t) => {
  const dir = t.tmpDir();
  const file = path.join(dir, 'tg.conf');
  const plainFile = path.join(dir, 'not-a-dir');
  writeFileSync(plainFile, 'x');
  const make = (v) => ['upstream ollama { server 127.0.0.1:11434; server 127.0.0.1:11435; }',
    `site _ { listen 127.0.0.1:18080; client_body_temp_path ${v}; }`, ''].join('\n');
  writeFileSync(file, make(dir));
  let r = await runToExit(t.tollgateBin, ['-t', '-c', file]);
  assert.equal(sanitizerReport(r.stderr), null);
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
  writeFileSync(file, make(path.join(dir, 'nosuch')));
  r = await runToExit(t.tollgateBin, ['-t', '-c', file]);
  assert.equal(r.code, 1, `exit ${r.code}: ${r.stderr}`);
  assert.ok(r.stderr.includes(`${file}:2:56: client_body_temp_path ${dir}/nosuch: No such file or directory`), r.stderr);
  writeFileSync(file, make(plainFile));
  r = await runToExit(t.tollgateBin, ['-t', '-c', file]);
  assert.equal(r.code, 1, `exit ${r.code}: ${r.stderr}`);
  assert.ok(r.stderr.includes(`${file}:2:56: client_body_temp_path ${plainFile}: not a directory`), r.stderr);
});

test('several servers: a body past client_body_buffer_size goes through a temporary file, byte-exact, declared or chunked', async (t) => {
  const a = await hashingServer(t, { holdMs: 300 });
  const b = await hashingServer(t, { holdMs: 300 });
  const { tg, dir, pid } = await startWithDir(t, [a, b], { buffer: '16k' });
  assert.equal(fdsInto(pid, dir), 0);
  const body = bigBody(3 << 20);
  const pending = request(tg.port, { method: 'POST', path: '/api/generate', body });
  // while the server holds its answer, the file is open and has no name
  assert.equal(await waitFds(pid, dir, 1), 1, 'no temporary file open while the exchange runs');
  assert.deepEqual(readdirSync(dir), [], 'the temporary file has a name');
  const r = await pending;
  assert.equal(r.status, 200, r.text.slice(0, 200));
  assert.equal(await waitFds(pid, dir, 0), 0, 'the temporary file outlived its exchange');
  const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`;
  const ch = await rawExchange(tg.port, Buffer.concat([Buffer.from(head), chunkedEncode(body, 7000)]), { timeoutMs: 10000 });
  assert.equal(ch.responses[0]?.status, 200, ch.text.slice(0, 300));
  const got = [...a.got, ...b.got];
  assert.equal(got.length, 2);
  for (const g of got) {
    assert.equal(g.sha, sha(body), 'the server got another body');
    assert.equal(g.cl, String(body.length)); // with its length, not chunked
    assert.equal(g.te, undefined);
  }
  assert.equal(await waitFds(pid, dir, 0), 0);
  assert.deepEqual(readdirSync(dir), []);
});

test('several servers: a body in a temporary file fails over with every byte (503 from the first server)', async (t) => {
  const busy = await hashingServer(t, {
    answer: (req, res) => {
      res.writeHead(503, { 'Content-Type': 'application/json' });
      res.end('{"error":"server busy, please try again.  maximum pending requests exceeded"}');
    },
  });
  const ok = await hashingServer(t);
  const { tg, dir } = await startWithDir(t, [busy, ok], { buffer: '8k' });
  const body = bigBody(2 << 20);
  const send = (chunked) => chunked
    ? rawExchange(tg.port, Buffer.concat([Buffer.from(`POST /api/chat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`), chunkedEncode(body, 30000)]), { timeoutMs: 10000 })
      .then((r) => ({ status: r.responses[0]?.status, text: r.text }))
    : request(tg.port, { method: 'POST', path: '/api/generate', body });
  for (const chunked of [false, true]) {
    const before = busy.got.length;
    for (let i = 0; i < 4 && busy.got.length === before; i++) { // until the busy server's turn came
      const r = await send(chunked);
      assert.equal(r.status, 200, (r.text || '').slice(0, 300));
    }
    assert.equal(busy.got.length, before + 1, `${chunked ? 'chunked' : 'declared'}: the busy server was never chosen`);
  }
  const all = [...busy.got, ...ok.got];
  assert.deepEqual(all.map((g) => g.sha === sha(body)), all.map(() => true), 'a server got another body');
  assert.equal(ok.got.length >= 2, true);
  assert.equal(await waitFds(tg.child.pid, dir, 0), 0, 'a temporary file outlived its exchange');
});

test('several servers: past client_max_body_size a body gets 413 before any server sees it, declared or chunked', async (t) => {
  const a = await hashingServer(t);
  const b = await hashingServer(t);
  const { tg, dir } = await startWithDir(t, [a, b], { site: ['client_max_body_size 1m;'] });
  const big = bigBody(1100 * 1024);
  const r = await request(tg.port, { method: 'POST', path: '/api/generate', body: big });
  assert.equal(r.status, 413, r.text);
  const head = `POST /api/chat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`;
  const ch = await rawExchange(tg.port, Buffer.concat([Buffer.from(head), chunkedEncode(big, 16000)]), { timeoutMs: 10000 });
  assert.equal(ch.responses[0]?.status, 413, ch.text.slice(0, 300));
  assert.equal(a.heads + b.heads, 0, 'a server saw the head of a body too large');
  // under the limit, past the buffer: it goes through
  const fits = bigBody(900 * 1024);
  const okr = await request(tg.port, { method: 'POST', path: '/api/generate', body: fits });
  assert.equal(okr.status, 200, okr.text.slice(0, 200));
  assert.deepEqual([...a.got, ...b.got].map((g) => g.sha), [sha(fits)]);
  assert.equal(await waitFds(tg.child.pid, dir, 0), 0);
  assert.deepEqual(readdirSync(dir), []);
});

test('several servers: a client gone mid-body leaves no temporary file and reaches no server', async (t) => {
  const a = await hashingServer(t);
  const b = await hashingServer(t);
  const { tg, dir, pid } = await startWithDir(t, [a, b]);
  for (const chunked of [false, true]) {
    const c = await RawConn.connect(tg.port);
    const part = Buffer.concat([Buffer.from('{"model":"llama3.2","prompt":"'), Buffer.alloc(1 << 20, 'q')]);
    const head = chunked // a chunk announced longer than what is sent: the client goes before its end
      ? `POST /api/generate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${(2 * part.length).toString(16)}\r\n`
      : `POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Length: ${8 << 20}\r\n\r\n`;
    await c.write(Buffer.concat([Buffer.from(head), part]));
    assert.equal(await waitFds(pid, dir, 1), 1, `the body did not go to a file: ${tg.stderr}`);
    c.destroy();
    assert.equal(await waitFds(pid, dir, 0), 0, 'the temporary file outlived the client');
  }
  assert.equal(a.heads + b.heads, 0);
  assert.deepEqual(readdirSync(dir), []);
  // the worker still serves
  const r = await request(tg.port, { method: 'POST', path: '/api/generate', body: bigBody(64 * 1024) });
  assert.equal(r.status, 200, r.text.slice(0, 200));
});

test('balance model: the model named after a body kept in a file chooses the server', async (t) => {
  const mocks = await startCluster(t, [
    { models: 'a', maxLoaded: 1, slots: 2, loadMs: 10, tokens: 2, delayMs: 2 },
    { models: 'b', maxLoaded: 1, slots: 2, loadMs: 10, tokens: 2, delayMs: 2 },
  ]);
  const dir = t.tmpDir();
  const tg = await t.tollgate({ config: (port) => [
    'workers 1;', 'access_log off;', 'upstream ollama {', ...mocks.map((m) => `  server 127.0.0.1:${m.port} slots 2;`),
    '  health interval 100ms timeout 100ms;', '}',
    `site _ { listen 127.0.0.1:${port}; proxy ollama; client_body_buffer_size 4k; client_body_temp_path ${dir}; }`, ''].join('\n') });
  await sleep(300); // the checks have read both catalogues
  for (const m of ['b', 'a', 'b']) {
    const r = await request(tg.port, { method: 'POST', path: '/api/generate', body: bigBody(600 * 1024, m) });
    assert.equal(r.status, 200, `${m}: ${r.text.slice(0, 200)}`);
  }
  const seen = await Promise.all(mocks.map((m) => mockRequests(m, '/api/generate')));
  assert.deepEqual(seen.map((s) => s.length), [1, 2]);
  assert.deepEqual(seen.flat().map((e) => e.body_bytes), seen.flat().map(() => bigBody(600 * 1024, 'a').length));
  assert.equal(await waitFds(tg.child.pid, dir, 0), 0);
});

test('several servers: a server that resets the connection while the file is sent: the next server gets every byte', async (t) => {
  let resets = 0;
  const dropper = http.createServer((req, res) => {
    if (req.url === '/api/tags' || req.url === '/api/ps') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return res.end('{"models":[]}');
    }
    let n = 0;
    req.on('data', (d) => {
      n += d.length;
      if (n > 256 * 1024 && !req.socket.destroyed) { resets++; req.socket.resetAndDestroy(); } // mid-body
    });
  });
  await new Promise((resolve) => dropper.listen(0, '127.0.0.1', resolve));
  dropper.port = dropper.address().port;
  t.defer(() => new Promise((resolve) => { dropper.closeAllConnections(); dropper.close(resolve); }));
  const ok = await hashingServer(t);
  const { tg, dir } = await startWithDir(t, [dropper, ok], { buffer: '8k' });
  const body = bigBody(4 << 20);
  for (let i = 0; i < 4 && resets === 0; i++) {
    const r = await request(tg.port, { method: 'POST', path: '/api/generate', body });
    assert.equal(r.status, 200, r.text.slice(0, 300));
  }
  assert.equal(resets, 1, 'the dropping server was never chosen');
  assert.deepEqual(ok.got.map((g) => g.sha === sha(body)), ok.got.map(() => true), 'the next server got another body');
  assert.deepEqual(ok.errors, [], 'the next server got bytes that were not its request');
  assert.equal(await waitFds(tg.child.pid, dir, 0), 0);
});

test('several servers: a reload while a body goes to its file: the request ends on its generation, the file closed', async (t) => {
  const a = await hashingServer(t);
  const b = await hashingServer(t);
  const { tg, dir, pid } = await startWithDir(t, [a, b]);
  const body = bigBody(2 << 20);
  const c = await RawConn.connect(tg.port);
  await c.write(Buffer.concat([Buffer.from(`POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`), body.subarray(0, 1 << 20)]));
  assert.equal(await waitFds(pid, dir, 1), 1, 'the body did not go to a file');
  process.kill(pid, 'SIGHUP');
  await tg.waitFor((_o, e) => /reloaded .*; the previous workers drain/.test(e), 5000, 'the reload');
  await c.write(body.subarray(1 << 20));
  const closed = await c.waitClose(10000);
  c.destroy();
  assert.ok(closed, 'no answer');
  assert.equal(c.parser.responses[0]?.status, 200, c.allText().slice(0, 300));
  assert.deepEqual([...a.got, ...b.got].map((g) => g.sha), [sha(body)]);
  assert.equal(await waitFds(pid, dir, 0), 0, 'the temporary file outlived its exchange');
  const r = await request(tg.port, { method: 'POST', path: '/api/generate', body }); // the new generation
  assert.equal(r.status, 200, r.text.slice(0, 200));
  assert.equal(await waitFds(pid, dir, 0), 0);
  assert.deepEqual(readdirSync(dir), []);
});

test('several servers: a temporary file that cannot be made: 500, the directory in the error log, no server reached', async (t) => {
  const a = await hashingServer(t);
  const b = await hashingServer(t);
  const { tg, dir } = await startWithDir(t, [a, b]);
  rmdirSync(dir); // after the check at load
  const r = await request(tg.port, { method: 'POST', path: '/api/generate', body: bigBody(64 * 1024) });
  assert.equal(r.status, 500, r.text.slice(0, 200));
  // (its message depends on whether the failure came before the body's end)
  await tg.waitFor((_o, e) => e.includes(`client_body_temp_path ${dir}: No such file or directory`), 3000, 'the error line');
  assert.equal(a.heads + b.heads, 0);
  const small = await request(tg.port, { method: 'POST', path: '/api/generate', body: bigBody(100) }); // in memory: served
  assert.equal(small.status, 200, small.text.slice(0, 200));
});
