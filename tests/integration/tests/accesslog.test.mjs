// One JSON access-log line per request.
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { test } from '../lib/harness.mjs';
import { request } from '../lib/http.mjs';
import { freePort, sleep } from '../lib/proc.mjs';
import { assert, GEN } from '../lib/util.mjs';

async function readLog(file, n, timeoutMs = 3000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
    if (lines.length >= n || Date.now() > deadline) return lines;
    await sleep(50);
  }
}

// First key of o matching one of the candidate names.
function pick(o, names) {
  for (const n of names) if (n in o) return o[n];
  return undefined;
}

test('access log: one JSON line per request with the required fields', async (t) => {
  const dir = t.tmpDir();
  const file = path.join(dir, 'access.log');
  const { tg } = await t.pair({ accessLog: file });
  const body = GEN();
  await request(tg.port, { path: '/api/version', headers: { 'User-Agent': 'it' } });
  const s = await request(tg.port, { method: 'POST', path: '/api/generate?q=1', body, headers: { 'X-Mock-Tokens': '10', 'X-Mock-Delay-Ms': '20' } });
  assert.equal(s.status, 200);
  const lines = await readLog(file, 2);
  assert.equal(lines.length, 2, `expected 2 log lines, got ${lines.length}: ${lines.join('\n')}`);
  const recs = lines.map((l, i) => {
    try { return JSON.parse(l); } catch { assert.fail(`log line ${i} is not JSON: ${l}`); }
    return null;
  });
  for (const rec of recs) {
    for (const k of ['time', 'client', 'method', 'path', 'status', 'upstream']) assert.ok(k in rec, `no "${k}" in ${JSON.stringify(rec)}`);
    assert.ok(pick(rec, ['bytes_in', 'bytes_received', 'request_bytes', 'in']) !== undefined, `no bytes-in field in ${JSON.stringify(rec)}`);
    assert.ok(pick(rec, ['bytes_out', 'bytes_sent', 'response_bytes', 'out']) !== undefined, `no bytes-out field in ${JSON.stringify(rec)}`);
    assert.ok(pick(rec, ['ttfb', 'ttfb_ms', 'ttfb_s', 'time_to_first_byte']) !== undefined, `no ttfb field in ${JSON.stringify(rec)}`);
    assert.ok(pick(rec, ['duration', 'duration_ms', 'duration_s', 'request_time']) !== undefined, `no duration field in ${JSON.stringify(rec)}`);
  }
  const [a, b] = recs;
  assert.equal(a.method, 'GET');
  assert.equal(a.path, '/api/version');
  assert.equal(a.status, 200);
  assert.match(String(a.client), /127\.0\.0\.1/);
  assert.ok(!Number.isNaN(Date.parse(a.time)), `time not a date: ${a.time}`);
  assert.equal(b.method, 'POST');
  assert.match(b.path, /^\/api\/generate/);
  const bin = Number(pick(b, ['bytes_in', 'bytes_received', 'request_bytes', 'in']));
  const bout = Number(pick(b, ['bytes_out', 'bytes_sent', 'response_bytes', 'out']));
  assert.ok(bin >= body.length, `bytes in ${bin} < body ${body.length}`);
  assert.ok(bout >= s.body.length, `bytes out ${bout} < body sent ${s.body.length}`);
  const ttfb = Number(pick(b, ['ttfb', 'ttfb_ms', 'ttfb_s', 'time_to_first_byte']));
  const dur = Number(pick(b, ['duration', 'duration_ms', 'duration_s', 'request_time']));
  assert.ok(ttfb <= dur, `ttfb ${ttfb} > duration ${dur}`);
  assert.ok(dur > 0, 'duration 0 for a 200 ms stream');
});

test('access log records gateway errors (502) too', async (t) => {
  const dir = t.tmpDir();
  const file = path.join(dir, 'access.log');
  const port = await freePort();
  await t.tollgate({ upstream: `http://127.0.0.1:${port}`, accessLog: file }).then(async (tg) => {
    const r = await request(tg.port, { path: '/api/tags' });
    assert.equal(r.status, 502);
  });
  const lines = await readLog(file, 1);
  assert.equal(lines.length, 1, `log: ${lines.join('\n')}`);
  const rec = JSON.parse(lines[0]);
  assert.equal(rec.status, 502);
  assert.equal(rec.path, '/api/tags');
});

test('error log: every line has an RFC 3339 time with ms and a level; a request\'s line has its id', async (t) => {
  const port = await freePort();
  const tg = await t.tollgate({ upstream: `http://127.0.0.1:${port}` });
  const r = await request(tg.port, { path: '/api/tags?key=s3cret-in-query', headers: { 'X-Request-Id': 'it-errlog-1' } });
  assert.equal(r.status, 502);
  await tg.waitFor((_, err) => err.includes('[it-errlog-1]'), 3000, 'the 502 in the error log');
  const line = tg.stderr.split('\n').find((l) => l.includes('[it-errlog-1]'));
  assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z error \[it-errlog-1\] GET \/api\/tags: 502 /);
  assert.ok(!tg.stderr.includes('s3cret'), `the query string reached the error log: ${line}`);
  const stamp = Date.parse(line.slice(0, 24));
  assert.ok(Math.abs(Date.now() - stamp) < 60000, `time ${line.slice(0, 24)} is not now`);
  const ours = tg.stderr.split('\n').filter((l) => l && !/^(==|\s|SUMMARY|Direct|Indirect)/.test(l));
  assert.ok(ours.some((l) => / info listening on /.test(l)), tg.stderr);
  for (const l of ours) assert.match(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (error|warn|info) /);
});

test('access log: proto, host, ua and tls as the client sent and negotiated them', async (t) => {
  const dir = t.tmpDir();
  const file = path.join(dir, 'access.log');
  const { tg } = await t.pair({ accessLog: file });
  await request(tg.port, { path: '/api/version', headers: { 'User-Agent': 'it-agent/1 "quoted"', Host: 'ollama.test:8443' } });
  await request(tg.port, { path: '/api/tags', headers: { Host: 'other.test' } });
  const lines = await readLog(file, 2);
  assert.equal(lines.length, 2, lines.join('\n'));
  // by path: the two connections may be served by different workers, whose lines come in either order
  const recs = lines.map((l) => JSON.parse(l));
  const a = recs.find((r) => r.path === '/api/version'), b = recs.find((r) => r.path === '/api/tags');
  assert.ok(a && b, lines.join('\n'));
  assert.equal(a.proto, 'HTTP/1.1');
  assert.equal(a.host, 'ollama.test:8443');
  assert.equal(a.ua, 'it-agent/1 "quoted"');
  assert.equal(b.host, 'other.test');
  assert.ok('ua' in b, JSON.stringify(b));
  if (tg.tls) assert.match(a.tls, /^TLSv1\.[23] [A-Z0-9_-]+$/, JSON.stringify(a));
  else assert.equal(a.tls, null, JSON.stringify(a));
});
