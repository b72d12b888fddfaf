// Why an upstream failed: the 502/504 body, the error log and the access
// log's upstream_error field name the cause (refused, timeout, unreachable,
// reset...), so a stopped Ollama is told apart from a firewall.
import net from 'node:net';
import path from 'node:path';
import { readFileSync, existsSync } from 'node:fs';
import { test } from '../lib/harness.mjs';
import { RawConn, request } from '../lib/http.mjs';
import { freePort, sleep, blackholePort } from '../lib/proc.mjs';
import { assert, assertOllamaError, GEN } from '../lib/util.mjs';

async function logLines(file, n, timeoutMs = 3000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
    if (lines.length >= n || Date.now() > deadline) return lines.map((l) => JSON.parse(l));
    await sleep(50);
  }
}

// tollgate in front of upstream (host:port) with an access log; extra lines go in the upstream block.
async function gateway(t, upstream, extra = '') {
  const file = path.join(t.tmpDir(), 'access.log');
  const tg = await t.tollgate({
    plain: true,
    config: (port) => `workers 1;\naccess_log ${file};\nupstream u { server ${upstream}; ${extra} }\nsite s { listen 127.0.0.1:${port}; }\n`,
  });
  return { tg, file };
}

// One request that fails before any response head: its status, message, log record and error-log line.
async function failure(t, upstream, extra, req = { path: '/api/tags' }) {
  const { tg, file } = await gateway(t, upstream, extra);
  const r = await request(tg.port, req);
  const body = assertOllamaError(r.text, `${r.status}`);
  const [rec] = await logLines(file, 1);
  assert.ok(rec, 'no access-log line');
  await tg.waitFor((_o, e) => e.includes(body.error), 3000, 'the error-log line with the message');
  return { status: r.status, message: body.error, rec };
}

test('upstream error: a closed port is "refused" (body, error log, access log)', async (t) => {
  const port = await freePort();
  const f = await failure(t, `127.0.0.1:${port}`);
  assert.equal(f.status, 502);
  assert.match(f.message, /refused/);
  assert.equal(f.rec.upstream_error, 'refused');
  assert.equal(f.rec.upstream, `127.0.0.1:${port}`, 'the upstream tried is named');
});

test('upstream error: a dial that gets no answer is "timeout", not "refused"', async (t) => {
  const bh = await blackholePort();
  t.defer(() => bh.close());
  assert.ok(bh.hung, 'control: could not make a port whose connects hang');
  const f = await failure(t, `127.0.0.1:${bh.port}`, 'timeout dial 1s;');
  assert.equal(f.status, 502);
  assert.match(f.message, /dial timeout/);
  assert.doesNotMatch(f.message, /refused/);
  assert.equal(f.rec.upstream_error, 'timeout');
});

// TCP will not connect to a multicast address: the kernel answers
// ENETUNREACH at once and no packet leaves the machine.
test('upstream error: no route to the upstream is "unreachable", not "refused"', async (t) => {
  const f = await failure(t, '224.0.0.1:11434');
  assert.equal(f.status, 502);
  assert.match(f.message, /unreachable: network is unreachable/);
  assert.equal(f.rec.upstream_error, 'unreachable');
});

test('upstream error: an upstream that resets the connection is "reset"', async (t) => {
  const srv = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => s.resetAndDestroy()); // the request arrived: reset, no answer
  });
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  t.defer(() => srv.close());
  const f = await failure(t, `127.0.0.1:${srv.address().port}`, '', { method: 'POST', path: '/api/generate', body: GEN() });
  assert.equal(f.status, 502);
  // The kernel reports a reset once: when tollgate's write of the request
  // meets it first (a busy machine), the read after it sees the close.
  // Either way it is the upstream's doing, never "refused".
  assert.match(f.message, /reset|closed/);
  assert.ok(['reset', 'closed'].includes(f.rec.upstream_error), f.rec.upstream_error);
});

test('upstream error: a reset mid-stream is logged as "reset" on the 200 it cut short', async (t) => {
  const mock = await t.mock();
  const { tg, file } = await gateway(t, `127.0.0.1:${mock.port}`);
  const c = await RawConn.connect(tg.port);
  try {
    await c.send({ method: 'POST', path: '/api/generate', body: GEN(), headers: { 'X-Mock-Tokens': '10', 'X-Mock-Reset-After': '2' } });
    assert.ok(await c.waitClose(5000), 'client connection not closed after the upstream reset');
  } finally {
    c.destroy();
  }
  const [rec] = await logLines(file, 1);
  assert.equal(rec.status, 200);
  assert.equal(rec.upstream_error, 'reset');
});

test('upstream error: a header timeout is "header_timeout"; a good exchange has no upstream_error', async (t) => {
  const mock = await t.mock();
  const { tg, file } = await gateway(t, `127.0.0.1:${mock.port}`, 'timeout header 1s;');
  assert.equal((await request(tg.port, { path: '/api/version' })).status, 200);
  const r = await request(tg.port, { method: 'POST', path: '/api/generate', body: GEN(), headers: { 'X-Mock-First-Byte-Ms': '3000' } });
  assert.equal(r.status, 504);
  const [ok, late] = await logLines(file, 2);
  assert.ok(!('upstream_error' in ok), `a good exchange has upstream_error: ${JSON.stringify(ok)}`);
  assert.equal(late.upstream_error, 'header_timeout');
});
