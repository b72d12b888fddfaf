// HTTP/2 attacks and malformed requests in raw frames (issue 16 items 5, 6
// and 8; docs/http2.md "Settings and limits" and "Request translation"):
// lib/h2raw.py (Debian's /usr/bin/python3 with python3-h2's hpack) sends each
// over an h2c connection and reports what the server answered. A flood is a
// connection error (GOAWAY ENHANCE_YOUR_CALM, or COMPRESSION_ERROR for an
// HPACK table size past ours) and the connection is closed; a malformed
// request is a stream error (RST_STREAM PROTOCOL_ERROR) and the same
// connection serves its next request. Each time a stream already running on
// another connection finishes, a fresh connection is served, and nothing
// malformed reached the mock.
import { execFile } from 'node:child_process';
import http2 from 'node:http2';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from '../lib/harness.mjs';
import { request } from '../lib/http.mjs';
import { mockRequests } from '../lib/mock.mjs';
import { freePort } from '../lib/proc.mjs';
import { assert, GEN } from '../lib/util.mjs';

const H2RAW = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'lib', 'h2raw.py');
const PROTOCOL_ERROR = 0x1, COMPRESSION_ERROR = 0x9, ENHANCE_YOUR_CALM = 0xb;

function h2raw(port, attack, arg) {
  const args = [H2RAW, String(port), attack, ...(arg ? [arg] : [])];
  return new Promise((resolve, reject) => execFile('/usr/bin/python3', args, { timeout: 20000 }, (err, stdout, stderr) => {
    if (err) return reject(new Error(`h2raw ${attack}: ${err.message}\n${stderr}`));
    try { resolve(JSON.parse(stdout.trim().split('\n').pop())); } catch (e) { reject(new Error(`h2raw ${attack}: ${stdout}\n${stderr}`)); }
  }));
}

async function setup(t) {
  const mock = await t.mock();
  const admin = await freePort();
  // plain: h2c is HTTP/2 without TLS, also when the suite runs over TLS (lib/tls.mjs)
  const tg = await t.tollgate({
    plain: true,
    config: (port) => ['workers 2;', `admin 127.0.0.1:${admin};`, `upstream ollama { server 127.0.0.1:${mock.port}; }`, 'site _ {', `  listen 127.0.0.1:${port} h2c;`, '}'].join('\n') + '\n',
  });
  tg.admin = admin;
  return { mock, tg };
}

// A line of /metrics: its value, or NaN.
async function metric(tg, line) {
  const text = (await request(tg.admin, { path: '/metrics' })).text;
  const m = text.split('\n').find((l) => l.startsWith(line + ' '));
  return m ? Number(m.slice(line.length + 1)) : NaN;
}

function session(t, port) {
  const s = http2.connect(`http://127.0.0.1:${port}`);
  s.on('error', () => {});
  t.defer(() => s.destroy());
  return s;
}

// A request on session s: its status, body and DATA count.
function h2req(s, { method = 'GET', path: p = '/api/version', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const st = s.request({ ':method': method, ':path': p, ...headers }, { endStream: body === undefined });
    const parts = [];
    let status = null;
    st.on('response', (h) => { status = h[':status']; });
    st.on('data', (d) => parts.push(d));
    st.on('end', () => resolve({ status, text: Buffer.concat(parts).toString(), datas: parts.length }));
    st.on('error', reject);
    if (body !== undefined) st.end(body);
  });
}

// Runs one attack with a streamed generation in progress on another
// connection; checks that generation and a fresh connection afterwards.
async function underAttack(t, attack, arg) {
  const { mock, tg } = await setup(t);
  const other = session(t, tg.port);
  const running = h2req(other, { method: 'POST', path: '/api/generate', headers: { 'x-mock-tokens': '10', 'x-mock-delay-ms': '50' }, body: GEN() });
  const r = await h2raw(tg.port, attack, arg);
  const done = await running;
  assert.equal(done.status, 200, `the stream on another connection: ${done.text}`);
  assert.equal(done.text.trim().split('\n').filter(Boolean).length, 11, done.text); // 10 tokens and the final line
  const fresh = session(t, tg.port);
  assert.equal((await h2req(fresh)).status, 200, 'a fresh connection after the attack');
  return { r, mock, tg };
}

function connectionError(r, code) {
  assert.ok(r.goaway, `a GOAWAY: ${JSON.stringify(r)}`);
  assert.equal(r.goaway.code, code, JSON.stringify(r));
  assert.equal(r.closed, true, `the connection closed after the GOAWAY: ${JSON.stringify(r)}`);
  assert.equal(r.followup, null);
}

function streamError(r) {
  assert.equal(r.goaway, null, JSON.stringify(r));
  assert.equal(r.resets['1'], PROTOCOL_ERROR, `RST_STREAM PROTOCOL_ERROR on stream 1: ${JSON.stringify(r)}`);
  assert.equal(r.status['1'], undefined, 'no response on the refused stream');
  assert.equal(r.followup, 200, 'the same connection serves its next request');
}

// Every request the mock saw is one of the well-formed ones the tests send.
async function onlyWellFormed(mock) {
  for (const e of await mockRequests(mock)) {
    assert.ok(['/api/version', '/api/generate'].includes(e.path), `the mock saw ${e.method} ${e.path}`);
    assert.ok(!('connection' in e.headers && e.headers.connection !== 'keep-alive' && e.headers.connection !== 'close'), JSON.stringify(e.headers));
    assert.equal(e.headers['x-upper'], undefined, JSON.stringify(e.headers));
    assert.equal(e.headers['x-big'], undefined);
  }
}

test('h2 attack: rapid reset (HEADERS then RST_STREAM, 400 times) is GOAWAY ENHANCE_YOUR_CALM', async (t) => {
  const { r, mock, tg } = await underAttack(t, 'rapid-reset');
  connectionError(r, ENHANCE_YOUR_CALM);
  assert.ok(r.goaway.last < 799, `GOAWAY before the last of the 400 streams: ${JSON.stringify(r)}`);
  await onlyWellFormed(mock);
  assert.equal(await metric(tg, 'tollgate_http2_connections_ended_total{reason="rapid_reset"}'), 1);
  assert.ok(await metric(tg, 'tollgate_http2_resets_total') >= 100);
  assert.ok(await metric(tg, 'tollgate_http2_streams_total') >= 2); // the running stream and the fresh one
});

test('h2 attack: CONTINUATION flood (a header block that never ends) is GOAWAY ENHANCE_YOUR_CALM', async (t) => {
  const { r, mock } = await underAttack(t, 'continuation');
  connectionError(r, ENHANCE_YOUR_CALM);
  assert.equal((await mockRequests(mock)).filter((e) => e.headers['x-pad-0'] !== undefined).length, 0);
  await onlyWellFormed(mock);
});

test('h2 attack: PING flood is GOAWAY ENHANCE_YOUR_CALM', async (t) => {
  const { r, tg } = await underAttack(t, 'ping');
  connectionError(r, ENHANCE_YOUR_CALM);
  assert.equal(await metric(tg, 'tollgate_http2_connections_ended_total{reason="ping_flood"}'), 1);
  assert.equal(await metric(tg, 'tollgate_http2_connections_ended_total{reason="rapid_reset"}'), 0);
});

test('h2 attack: SETTINGS flood is GOAWAY ENHANCE_YOUR_CALM', async (t) => {
  const { r } = await underAttack(t, 'settings');
  connectionError(r, ENHANCE_YOUR_CALM);
});

test('h2 attack: a flood of empty DATA frames is GOAWAY ENHANCE_YOUR_CALM; the request never completes upstream', async (t) => {
  const { r, mock } = await underAttack(t, 'empty-data');
  connectionError(r, ENHANCE_YOUR_CALM);
  // the one generation the mock finished is the other connection's
  assert.equal((await mockRequests(mock, '/api/generate')).length, 1);
  await onlyWellFormed(mock);
});

test('h2 attack: an HPACK table size update past SETTINGS_HEADER_TABLE_SIZE is GOAWAY COMPRESSION_ERROR', async (t) => {
  const { r, mock } = await underAttack(t, 'hpack-size');
  connectionError(r, COMPRESSION_ERROR);
  assert.equal((await mockRequests(mock, '/api/tags')).length, 0);
});

test('h2 attack: a header list past max_header_size (over HEADERS and CONTINUATION) resets its stream only', async (t) => {
  const { r, mock } = await underAttack(t, 'big-headers');
  streamError(r);
  assert.equal((await mockRequests(mock, '/api/tags')).length, 0);
  await onlyWellFormed(mock);
});

test('h2 attack: an uppercase field name resets its stream (PROTOCOL_ERROR); the connection goes on', async (t) => {
  const { r, mock } = await underAttack(t, 'uppercase');
  streamError(r);
  assert.equal((await mockRequests(mock, '/api/tags')).length, 0);
  await onlyWellFormed(mock);
});

test('h2 attack: connection-specific fields reset their stream (PROTOCOL_ERROR); TE: trailers passes', async (t) => {
  const { r, mock, tg } = await underAttack(t, 'conn-header', 'connection:keep-alive');
  streamError(r);
  for (const h of ['keep-alive:timeout=5', 'proxy-connection:keep-alive', 'transfer-encoding:chunked', 'upgrade:websocket', 'te:gzip'])
    streamError(await h2raw(tg.port, 'conn-header', h));
  assert.equal((await mockRequests(mock, '/api/tags')).length, 0);
  const trailers = await h2raw(tg.port, 'conn-header', 'te:trailers');
  assert.equal(trailers.status['1'], 200, JSON.stringify(trailers));
  const seen = await mockRequests(mock, '/api/tags');
  assert.equal(seen.length, 1);
  assert.equal(seen[0].headers.te, undefined, 'TE: trailers is not passed on');
});

test('h2 attack: DATA short of content-length resets the stream; Ollama never gets a whole request', async (t) => {
  const { r, mock } = await underAttack(t, 'cl-short');
  streamError(r);
  // the one generation the mock finished is the other connection's
  assert.equal((await mockRequests(mock, '/api/generate')).length, 1);
});

test('h2 attack: DATA past content-length resets the stream; Ollama never gets a whole request', async (t) => {
  const { r, mock } = await underAttack(t, 'cl-long');
  streamError(r);
  const gens = await mockRequests(mock, '/api/generate');
  assert.equal(gens.length, 1, JSON.stringify(gens));
  assert.notEqual(gens[0].headers['content-length'], '5');
});
