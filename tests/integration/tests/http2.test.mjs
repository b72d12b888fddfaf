// HTTP/2 toward clients (docs/http2.md): `listen ADDR h2c;` serves HTTP/2
// with prior knowledge; each stream is an exchange through the same path
// as an HTTP/1 request (auth, limits, the relay, the log line), streamed
// answers go out chunk by chunk, several streams share one connection, and
// a client's RST_STREAM cancels its upstream request. Client: node:http2.
import { execFile } from 'node:child_process';
import http2 from 'node:http2';
import https from 'node:https';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { basic, readLog } from '../lib/auth.mjs';
import tls from 'node:tls';
import { makeCert } from '../lib/tls.mjs';
import { test } from '../lib/harness.mjs';
import { request } from '../lib/http.mjs';
import { mockRequests, startCluster, waitEvent } from '../lib/mock.mjs';
import { freePort, runToExit } from '../lib/proc.mjs';
import { assert, GEN } from '../lib/util.mjs';

function conf({ port, h1, upstream, lines = [], top = [] }) {
  return ['workers 2;', ...top, `upstream ollama { server ${upstream}; }`, 'site _ {',
    `  listen 127.0.0.1:${port} h2c;`, ...(h1 ? [`  listen 127.0.0.1:${h1};`] : []),
    ...lines.map((l) => `  ${l}`), '}'].join('\n') + '\n';
}

async function h2Pair(t, { lines = [], top = [], mockArgs = [], h1 } = {}) {
  const mock = await t.mock(mockArgs);
  // plain: h2c is HTTP/2 without TLS, also when the suite runs over TLS (lib/tls.mjs)
  const tg = await t.tollgate({ plain: true, config: (port) => conf({ port, h1, upstream: `127.0.0.1:${mock.port}`, lines, top }) });
  return { mock, tg };
}

function connect(t, port) {
  const s = http2.connect(`http://127.0.0.1:${port}`);
  s.on('error', () => {});
  t.defer?.(() => s.close());
  return s;
}

// One request on session s: status, headers, body, and the number of DATA events.
function h2req(s, { method = 'GET', path: p = '/', headers = {}, body, timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const st = s.request({ ':method': method, ':path': p, ...headers }, { endStream: body === undefined });
    const chunks = [];
    let head = null, datas = 0;
    const timer = setTimeout(() => { st.close(http2.constants.NGHTTP2_CANCEL); reject(new Error(`no answer to ${p} in ${timeoutMs} ms`)); }, timeoutMs);
    st.on('response', (h) => { head = h; });
    st.on('data', (d) => { chunks.push(d); datas++; });
    st.on('end', () => {
      clearTimeout(timer);
      resolve({ status: head?.[':status'], headers: head, text: Buffer.concat(chunks).toString(), datas });
    });
    st.on('error', (e) => { clearTimeout(timer); reject(e); });
    if (body !== undefined) st.end(body);
  });
}

test('h2c: /api/version with prior knowledge, X-Request-Id, the HTTP/1 listener beside it', async (t) => {
  const h1 = await freePort();
  const { tg } = await h2Pair(t, { h1 });
  const s = connect(t, tg.port);
  const r = await h2req(s, { path: '/api/version' });
  assert.equal(r.status, 200);
  assert.ok(JSON.parse(r.text).version, r.text);
  assert.match(r.headers['x-request-id'], /^[0-9a-f]{32}$/);
  assert.equal(r.headers['content-length'], String(Buffer.byteLength(r.text)));
  const mine = await h2req(s, { path: '/api/version', headers: { 'x-request-id': 'abc-123' } });
  assert.equal(mine.headers['x-request-id'], 'abc-123');
  assert.equal((await request(h1, { path: '/api/version' })).status, 200); // HTTP/1 on the other listener
  s.close();
});

test('h2c: a streamed chat arrives chunk by chunk; several streams share one connection', async (t) => {
  const { tg, mock } = await h2Pair(t);
  const s = connect(t, tg.port);
  const body = (i) => JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: `hi ${i}` }] });
  const all = await Promise.all([
    ...[0, 1, 2, 3, 4].map((i) => h2req(s, { method: 'POST', path: '/api/chat', headers: { 'content-type': 'application/json', 'x-mock-delay-ms': '20', 'x-mock-tokens': '8' }, body: body(i) })),
    h2req(s, { path: '/api/tags' }),
  ]);
  for (const r of all.slice(0, 5)) {
    assert.equal(r.status, 200, r.text);
    const lines = r.text.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.at(-1).done, true, r.text);
    assert.ok(lines.length >= 8, r.text);
    assert.ok(r.datas >= 4, `the stream came in ${r.datas} DATA frames: not passed on as it came`);
  }
  assert.equal(all[5].status, 200);
  assert.ok(Array.isArray(JSON.parse(all[5].text).models));
  const events = await (await fetch(`http://127.0.0.1:${mock.port}/_mock/events`)).json();
  assert.equal(events.filter((e) => e.ev === 'request' && e.path === '/api/chat').length, 5);
  s.close();
});

test('h2c: a body without content-length goes upstream whole (chunked), one with it as announced', async (t) => {
  const { tg, mock } = await h2Pair(t);
  const s = connect(t, tg.port);
  const payload = JSON.stringify({ model: 'nomic-embed-text', input: 'x'.repeat(100000) });
  const r1 = await h2req(s, { method: 'POST', path: '/api/embed', body: payload });
  assert.equal(r1.status, 200, r1.text);
  const r2 = await h2req(s, { method: 'POST', path: '/api/embed', headers: { 'content-length': String(payload.length) }, body: payload });
  assert.equal(r2.status, 200, r2.text);
  const events = await (await fetch(`http://127.0.0.1:${mock.port}/_mock/events`)).json();
  const embeds = events.filter((e) => e.ev === 'request' && e.path === '/api/embed');
  assert.equal(embeds.length, 2);
  for (const e of embeds) assert.equal(e.body_bytes, payload.length, JSON.stringify(e.headers));
  s.close();
});

test('h2c: a client RST_STREAM cancels the upstream request; the connection serves on', async (t) => {
  const file = path.join(t.tmpDir(), 'access.log');
  const { tg, mock } = await h2Pair(t, { top: [`access_log ${file};`] });
  const s = connect(t, tg.port);
  const st = s.request({ ':method': 'POST', ':path': '/api/generate', 'x-mock-delay-ms': '100', 'x-mock-tokens': '100' });
  st.end(GEN());
  await new Promise((resolve) => st.once('data', resolve)); // streaming has begun
  st.close(http2.constants.NGHTTP2_CANCEL);
  assert.ok(await waitEvent(mock, (e) => e.ev === 'disconnect', 5000), 'the upstream request was not cancelled');
  const r = await h2req(s, { path: '/api/version' });
  assert.equal(r.status, 200);
  const recs = await readLog(file, 2);
  const gen = recs.find((l) => l.path === '/api/generate');
  assert.ok(gen, JSON.stringify(recs));
  assert.equal(gen.proto, 'h2');
  assert.equal(gen.client_aborted, true, JSON.stringify(gen));
  assert.equal(recs.find((l) => l.path === '/api/version').proto, 'h2');
  s.close();
});

test('h2c: auth and limits hold per stream (401 in Ollama shape, 429 with Retry-After), never reaching Ollama', async (t) => {
  const dir = t.tmpDir();
  writeFileSync(path.join(dir, 'users'), 'bob:$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.\n');
  const { tg, mock } = await h2Pair(t, { lines: [`auth basic ${dir}/users;`, 'limit rate 1r/m per user on embed;'] });
  const s = connect(t, tg.port);
  const denied = await h2req(s, { method: 'POST', path: '/api/embed', body: '{"model":"nomic-embed-text","input":"x"}' });
  assert.equal(denied.status, 401);
  assert.ok(JSON.parse(denied.text).error, denied.text);
  assert.match(denied.headers['www-authenticate'] ?? '', /^Basic/);
  const as = { authorization: basic('bob', 'password') };
  const ok = await h2req(s, { method: 'POST', path: '/api/embed', headers: as, body: '{"model":"nomic-embed-text","input":"x"}' });
  assert.equal(ok.status, 200, ok.text);
  const limited = await h2req(s, { method: 'POST', path: '/api/embed', headers: as, body: '{"model":"nomic-embed-text","input":"x"}' });
  assert.equal(limited.status, 429, limited.text);
  assert.equal(JSON.parse(limited.text).error, 'rate limit exceeded, please slow down');
  assert.ok(Number(limited.headers['retry-after']) >= 1);
  const events = await (await fetch(`http://127.0.0.1:${mock.port}/_mock/events`)).json();
  assert.equal(events.filter((e) => e.ev === 'request').length, 1);
  s.close();
});

test('h2c: a request head HTTP/2 forbids (a connection-specific field) is reset on its stream, never reaching Ollama', async (t) => {
  const { tg, mock } = await h2Pair(t);
  // node:http2 refuses to send such a field: nghttp (nghttp2-client) sends what it is given
  const out = await new Promise((resolve) => execFile('nghttp', ['-nv', '-H', 'connection: close', `http://127.0.0.1:${tg.port}/api/tags`],
    { timeout: 10000 }, (err, stdout) => resolve(stdout)));
  assert.match(out, /recv RST_STREAM frame[^\n]*stream_id=13>\s*\n\s*\(error_code=PROTOCOL_ERROR/, out);
  assert.doesNotMatch(out, /:status/, out);
  const s = connect(t, tg.port);
  assert.equal((await h2req(s, { path: '/api/version' })).status, 200); // the next connection is served
  const events = await (await fetch(`http://127.0.0.1:${mock.port}/_mock/events`)).json();
  assert.equal(events.filter((e) => e.ev === 'request' && e.path === '/api/tags').length, 0);
  s.close();
});

test('h2c: a stream whose client stops reading holds back that stream only; it completes once read', async (t) => {
  const { tg } = await h2Pair(t);
  const s = http2.connect(`http://127.0.0.1:${tg.port}`, { settings: { initialWindowSize: 16384 } });
  s.on('error', () => {});
  t.defer(() => s.close());
  const slow = s.request({ ':method': 'POST', ':path': '/api/generate', 'x-mock-delay-ms': '0', 'x-mock-tokens': '3000' });
  slow.end(GEN());
  const parts = [];
  slow.on('data', (d) => parts.push(d));
  await new Promise((resolve) => slow.once('data', resolve));
  slow.pause(); // the client's window closes: tollgate stops reading this stream's upstream
  for (let i = 0; i < 3; i++) {
    const r = await h2req(s, { method: 'POST', path: '/api/chat', body: JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal(r.status, 200, r.text); // the other streams go on meanwhile
  }
  const ended = new Promise((resolve) => slow.on('end', resolve));
  slow.resume();
  await ended;
  const lines = Buffer.concat(parts).toString().trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.at(-1).done, true);
  assert.ok(lines.length >= 3000, `${lines.length} lines`);
  s.close();
});

// A TLS site with its own certificate; extra: more site lines.
async function tlsSite(t, extra = []) {
  const mock = await t.mock();
  const dir = t.tmpDir();
  const c = makeCert(dir, 'localhost');
  const conf = path.join(dir, 'tollgate.conf');
  const port = await freePort();
  writeFileSync(conf, `workers 2;\nupstream o { server 127.0.0.1:${mock.port}; }\nsite _ {\n  listen 127.0.0.1:${port} tls;\n` +
    `  tls cert ${c.cert} key ${c.key};\n${extra.map((l) => `  ${l}\n`).join('')}}\n`);
  const tg = await t.tollgate({ port, configFile: conf });
  return { mock, tg, ca: c.pem };
}

const alpnOf = (port, ca, offer) => new Promise((resolve, reject) => {
  const sock = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca, ALPNProtocols: offer }, () => {
    resolve(sock.alpnProtocol);
    sock.end();
  });
  sock.on('error', reject);
});

test('TLS: ALPN chooses h2 when offered, http/1.1 otherwise; the stream is served over HTTP/2', async (t) => {
  const { tg, ca } = await tlsSite(t);
  assert.equal(await alpnOf(tg.port, ca, ['h2', 'http/1.1']), 'h2');
  assert.equal(await alpnOf(tg.port, ca, ['http/1.1', 'h2']), 'h2'); // the server's preference, as nginx
  assert.equal(await alpnOf(tg.port, ca, ['http/1.1']), 'http/1.1');
  const s = http2.connect(`https://localhost:${tg.port}`, { ca });
  s.on('error', () => {});
  t.defer(() => s.close());
  const r = await h2req(s, { method: 'POST', path: '/api/chat', body: JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] }) });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.text.trim().split('\n').map((l) => JSON.parse(l)).at(-1).done, true);
  s.close();
  const h1 = await new Promise((resolve, reject) => https.get({ host: '127.0.0.1', port: tg.port, servername: 'localhost', ca, path: '/api/version' },
    (res) => { res.resume(); res.on('end', () => resolve(res)); }).on('error', reject));
  assert.equal(h1.statusCode, 200); // HTTP/1.1 clients as before
  assert.equal(h1.httpVersion, '1.1');
});

test('TLS: http2 off offers http/1.1 alone; with listen h2c it is refused at its line', async (t) => {
  const { tg, ca } = await tlsSite(t, ['http2 off;']);
  assert.equal(await alpnOf(tg.port, ca, ['h2', 'http/1.1']), 'http/1.1');
  assert.equal(await alpnOf(tg.port, ca, ['h2']), false); // no ALPN: a client that speaks only h2 gives up
  const dir = t.tmpDir();
  const conf = path.join(dir, 'bad.conf');
  writeFileSync(conf, 'upstream o { server 127.0.0.1:1; }\nsite _ {\n  listen 127.0.0.1:1 h2c;\n  http2 off;\n}\n');
  const r = await runToExit(t.tollgateBin, ['-t', '-c', conf]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /bad\.conf:4:9: 'http2 off' in a site that has 'listen 127\.0\.0\.1:1 h2c'/);
});

test('h2c: a stream whose client keeps its window shut past timeout send is reset, its upstream request cancelled', async (t) => {
  const { tg, mock } = await h2Pair(t, { lines: ['timeout send 1s;'] });
  const s = http2.connect(`http://127.0.0.1:${tg.port}`, { settings: { initialWindowSize: 16384 } });
  s.on('error', () => {});
  t.defer(() => s.close());
  const stuck = s.request({ ':method': 'POST', ':path': '/api/generate', 'x-mock-delay-ms': '1', 'x-mock-tokens': '8000' }); // still generating when it is reset
  stuck.end(GEN());
  stuck.on('error', () => {});
  await new Promise((resolve) => stuck.once('data', resolve));
  stuck.pause(); // never read again
  const code = await new Promise((resolve) => stuck.on('close', () => resolve(stuck.rstCode)));
  assert.equal(code, http2.constants.NGHTTP2_CANCEL);
  assert.ok(await waitEvent(mock, (e) => e.ev === 'disconnect', 5000), 'the upstream request was not cancelled');
  assert.equal((await h2req(s, { path: '/api/version' })).status, 200); // the connection serves on
  s.close();
});

test('h2c: SIGTERM sends GOAWAY; the streams in progress finish, then tollgate exits', async (t) => {
  const { tg } = await h2Pair(t);
  const s = connect(t, tg.port);
  let goaway = false;
  s.on('goaway', () => { goaway = true; });
  const body = JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] });
  const live = [0, 1, 2].map(() => h2req(s, { method: 'POST', path: '/api/chat', headers: { 'x-mock-delay-ms': '20', 'x-mock-tokens': '40' }, body }));
  await new Promise((r) => setTimeout(r, 200));
  tg.child.kill('SIGTERM');
  for (const r of await Promise.all(live)) {
    assert.equal(r.status, 200);
    const lines = r.text.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 41, r.text);
    assert.equal(lines.at(-1).done, true);
  }
  assert.ok(goaway, 'no GOAWAY before the connection closed');
  assert.ok(await tg.waitExit(5000), 'tollgate did not exit after its streams ended');
  assert.equal(tg.exitCode, 0, `exit signal ${tg.exitSignal}: ${tg.stderr.slice(-2000)}`);
});

test('h2c: limit conn counts streams, not connections', async (t) => {
  const { tg } = await h2Pair(t, { lines: ['limit conn 2 per ip;'] });
  const s = connect(t, tg.port);
  const slow = () => h2req(s, { method: 'POST', path: '/api/generate', headers: { 'x-mock-delay-ms': '50', 'x-mock-tokens': '20' }, body: GEN() });
  const two = [slow(), slow()];
  await new Promise((r) => setTimeout(r, 300)); // both in flight on the one connection
  const third = await h2req(s, { method: 'POST', path: '/api/generate', body: GEN() });
  assert.equal(third.status, 429, third.text);
  for (const r of await Promise.all(two)) assert.equal(r.status, 200);
  assert.equal((await slow()).status, 200); // given back as each stream ended
  s.close();
});

test('h2c: curl --http2-prior-knowledge gets a streamed answer as it is generated', async (t) => {
  const { tg } = await h2Pair(t);
  // curl -w prints when the first byte came and when the transfer ended: a buffered stream has them together
  const out = await new Promise((resolve) => execFile('curl', ['-sS', '--http2-prior-knowledge', '-o', '/dev/null',
    '-w', '%{http_version} %{time_starttransfer} %{time_total}', '-H', 'X-Mock-Delay-Ms: 50', '-H', 'X-Mock-Tokens: 20',
    '--data', GEN(), `http://127.0.0.1:${tg.port}/api/generate`], { timeout: 10000 }, (err, stdout) => resolve(stdout)));
  const [ver, first, total] = out.split(' ');
  assert.equal(ver, '2', out);
  assert.ok(Number(total) - Number(first) > 0.5, `first byte at ${first} s, end at ${total} s: the stream was not passed on as it came`);
});

test('h2c: a pull fanned out to several servers streams its merged progress as DATA', async (t) => {
  const mocks = await startCluster(t, [{ models: 'a' }, { models: 'b' }]);
  const tg = await t.tollgate({ plain: true, config: (port) => ['workers 1;', 'upstream ollama {',
    ...mocks.map((m) => `  server 127.0.0.1:${m.port};`), '}', `site _ { listen 127.0.0.1:${port} h2c; proxy ollama; }`, ''].join('\n') });
  const s = connect(t, tg.port);
  const r = await h2req(s, { method: 'POST', path: '/api/pull', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'new', stream: true }) });
  assert.equal(r.status, 200, r.text);
  assert.ok(r.headers['content-type'].startsWith('application/x-ndjson'));
  assert.match(r.headers['x-request-id'], /^[0-9a-f]{32}$/);
  const ls = r.text.split('\n').filter((l) => l).map((l) => JSON.parse(l));
  assert.deepEqual(ls.at(-1), { status: 'success' });
  for (const m of mocks) {
    assert.ok(ls.some((l) => l.status === `success on 127.0.0.1:${m.port}`), r.text);
    assert.equal((await mockRequests(m, '/api/pull')).length, 1);
  }
  s.close();
});
