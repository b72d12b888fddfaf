// Process life: SIGTERM drains live streams, SIGHUP reloads the config
// without dropping a stream or a connection, a bad reload changes nothing.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { configFor } from '../lib/tls.mjs';
import { test } from '../lib/harness.mjs';
import { clientRequest, RawConn, request } from '../lib/http.mjs';
import { freePort, sleep } from '../lib/proc.mjs';
import { assert, GEN } from '../lib/util.mjs';

// One streaming generation; resolves with its NDJSON lines and whether the
// final object (done:true) arrived and the response ended cleanly.
function stream(port, { tokens = 40, delay = 20, pathName = '/api/generate' } = {}) {
  return new Promise((resolve) => {
    const out = { lines: [], done: false, ended: false, error: null };
    let tail = '';
    const req = clientRequest({ host: '127.0.0.1', port, method: 'POST', path: pathName, agent: false,
      headers: { 'Content-Type': 'application/json', 'X-Mock-Tokens': String(tokens), 'X-Mock-Delay-Ms': String(delay) } }, (res) => {
      out.status = res.statusCode;
      res.setEncoding('utf8');
      res.on('data', (d) => {
        const parts = (tail + d).split('\n');
        tail = parts.pop();
        for (const p of parts) if (p) { out.lines.push(JSON.parse(p)); if (out.lines.at(-1).done) out.done = true; }
      });
      res.on('end', () => { out.ended = true; resolve(out); });
      res.on('error', (e) => { out.error = e.message; resolve(out); });
      res.on('aborted', () => { out.error = 'aborted'; });
    });
    req.on('error', (e) => { out.error = e.message; resolve(out); });
    req.end(GEN());
  });
}

const conf = (port, mockPort, extra = '') =>
  `${extra}\nupstream ollama { server 127.0.0.1:${mockPort}; }\nsite _ { listen 127.0.0.1:${port}; proxy ollama; }\n`;

function connectRefused(port) {
  return new Promise((resolve) => {
    const req = clientRequest({ host: '127.0.0.1', port, path: '/api/version', agent: false }, (res) => { res.resume(); resolve(false); });
    req.end();
    req.on('error', (e) => resolve(e.code === 'ECONNREFUSED'));
  });
}

test('SIGTERM lets live streams finish, refuses new connections, then exits', async (t) => {
  const mock = await t.mock();
  const tg = await t.tollgate({ config: (port) => conf(port, mock.port) });
  const streams = Array.from({ length: 20 }, () => stream(tg.port, { tokens: 40, delay: 20 }));
  await sleep(200);
  tg.child.kill('SIGTERM');
  await sleep(100);
  assert.ok(await connectRefused(tg.port), 'a new connection was accepted after SIGTERM');
  const res = await Promise.all(streams);
  for (const r of res) {
    assert.equal(r.error, null, `a stream failed: ${r.error}`);
    assert.ok(r.done && r.ended, `a stream was cut after ${r.lines.length} lines`);
    assert.equal(r.lines.length, 41);
  }
  assert.ok(await tg.waitExit(3000), 'tollgate did not exit after its streams ended');
  assert.equal(tg.exitCode, 0);
});

// Draining is not ready: load balancers must send no new traffic while
// the streams already running finish.
test('SIGTERM: /readyz answers 503 "draining" while a stream keeps the process up', async (t) => {
  const mock = await t.mock();
  const admin = await freePort();
  const tg = await t.tollgate({ config: (port) => conf(port, mock.port, `admin 127.0.0.1:${admin};`) });
  const ready = await request(admin, { path: '/readyz' });
  assert.equal(ready.status, 200, ready.text);
  const s = stream(tg.port, { tokens: 30, delay: 50 });
  await sleep(200);
  tg.child.kill('SIGTERM');
  await sleep(100);
  const r = await request(admin, { path: '/readyz' });
  assert.equal(r.status, 503);
  assert.equal(r.text, 'draining\n');
  const out = await s;
  assert.ok(out.done && out.ended, `the stream was cut after ${out.lines.length} lines`);
  assert.ok(await tg.waitExit(3000), 'tollgate did not exit after its stream ended');
});

// While draining, a connection that has sent nothing yet gets a moment for
// one request; once that request starts, the site's header timeout holds
// it as on any other connection (a slow head does not last the drain).
test('SIGTERM: a fresh connection that starts a slow head while draining is cut at the header timeout', async (t) => {
  const mock = await t.mock();
  const tg = await t.tollgate({
    config: (port) =>
      `upstream ollama { server 127.0.0.1:${mock.port}; }\nsite _ { listen 127.0.0.1:${port}; timeout header 1s; proxy ollama; }\n`,
  });
  const c = await RawConn.connect(tg.port);
  try {
    const long = stream(tg.port, { tokens: 40, delay: 250 }); // keeps the drain going for 10 s
    await sleep(300);
    tg.child.kill('SIGTERM');
    await sleep(100);
    await c.write('GET /api/version HTTP/1.1\r\nHost: a\r\nX-Slow: ');
    const t0 = Date.now();
    assert.ok(await c.waitClose(4000), `the slow head was still open ${Date.now() - t0} ms later (header timeout 1 s)`);
    await long;
  } finally {
    c.destroy();
  }
});

test('SIGTERM: the drain timeout cuts a stream that runs too long; a second SIGTERM stops at once', async (t) => {
  const mock = await t.mock();
  const tg = await t.tollgate({ config: (port) => conf(port, mock.port, 'drain_timeout 1s;') });
  const long = stream(tg.port, { tokens: 1000, delay: 20 });
  await sleep(200);
  const t0 = Date.now();
  tg.child.kill('SIGTERM');
  const r = await long;
  const took = Date.now() - t0;
  assert.ok(!r.done, 'the long stream was not cut');
  assert.ok(took >= 800 && took < 4000, `cut after ${took} ms (drain_timeout 1s)`);
  assert.ok(await tg.waitExit(3000), 'tollgate did not exit after the drain timeout');

  const tg2 = await t.tollgate({ config: (port) => conf(port, mock.port) });
  const long2 = stream(tg2.port, { tokens: 1000, delay: 20 });
  await sleep(200);
  tg2.child.kill('SIGTERM');
  await sleep(100);
  const t1 = Date.now();
  tg2.child.kill('SIGTERM');
  const r2 = await long2;
  assert.ok(!r2.done, 'the stream survived two SIGTERMs');
  assert.ok(await tg2.waitExit(2000), 'a second SIGTERM did not stop tollgate at once');
  assert.ok(Date.now() - t1 < 2000);
});

test('SIGHUP: live streams finish on the old config, new requests use the new one', async (t) => {
  const a = await t.mock();
  const b = await t.mock();
  const tg = await t.tollgate({ config: (port) => conf(port, a.port) });
  const file = path.join(tg.tmp, 'tollgate.conf');
  const streams = Array.from({ length: 10 }, () => stream(tg.port, { tokens: 50, delay: 20 }));
  await sleep(200);
  writeFileSync(file, configFor(tg, conf(tg.port, b.port)));
  tg.child.kill('SIGHUP');
  await tg.waitFor((_o, e) => /reloaded/.test(e), 3000, 'the reload line');
  const after = await request(tg.port, { method: 'POST', path: '/api/generate', body: GEN({ stream: false }) });
  assert.equal(after.status, 200);
  const res = await Promise.all(streams);
  for (const r of res) {
    assert.equal(r.error, null, `a stream failed: ${r.error}`);
    assert.ok(r.done && r.ended && r.lines.length === 51, `a stream was cut after ${r.lines.length} lines`);
  }
  const evB = JSON.parse((await request(b.port, { path: '/_mock/events', headers: { Host: 'localhost' } })).text);
  assert.ok(evB.some((e) => e.ev === 'request' && e.path === '/api/generate'), 'the new upstream never saw a request');
  const evA = JSON.parse((await request(a.port, { path: '/_mock/events', headers: { Host: 'localhost' } })).text);
  assert.equal(evA.filter((e) => e.ev === 'request').length, 10, 'the old upstream saw requests made after the reload');
});

test('SIGHUP with a broken config: errors with file:line:col, the old config keeps serving', async (t) => {
  const mock = await t.mock();
  const tg = await t.tollgate({ config: (port) => conf(port, mock.port) });
  const file = path.join(tg.tmp, 'tollgate.conf');
  writeFileSync(file, 'upstream ollama {\n  server 127.0.0.1:1;\n  bogus 1;\n}\nsite _ { listen 127.0.0.1:1; }\n');
  tg.child.kill('SIGHUP');
  await tg.waitFor((_o, e) => /reload refused/.test(e), 3000, 'the refusal line');
  assert.match(tg.stderr, /tollgate\.conf:3:3: unknown directive 'bogus'/);
  const r = await request(tg.port, { path: '/api/version' });
  assert.equal(r.status, 200);
});

test('SIGHUP under load: no request fails and no connection is refused while generations change', async (t) => {
  const mock = await t.mock();
  const tg = await t.tollgate({ config: (port) => conf(port, mock.port) });
  let failures = 0;
  let done = 0;
  let stop = false;
  const loop = async () => {
    while (!stop) {
      try {
        const r = await request(tg.port, { path: '/api/version', timeoutMs: 5000 });
        if (r.status !== 200) failures++;
      } catch (e) { failures++; t.note(`failed: ${e.code || e.message}`); }
      done++;
    }
  };
  const loops = Array.from({ length: 8 }, loop);
  for (let i = 0; i < 5; i++) {
    await sleep(150);
    tg.child.kill('SIGHUP');
  }
  await sleep(300);
  stop = true;
  await Promise.all(loops);
  assert.ok(done > 100, `only ${done} requests ran`);
  assert.equal(failures, 0, `${failures} of ${done} requests failed across 5 reloads`);
  assert.equal((tg.stderr.match(/reloaded/g) || []).length, 5);
});
