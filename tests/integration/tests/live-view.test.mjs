// The live view (docs/observability.md, "The live view"): /status.json lists
// each exchange while it runs, with its tokens counted as the stream goes
// (rising, then gone when it ends), the windows count what ended, errors by
// reason, and /status/stream pushes the same once a second.
import http from 'node:http';
import { test } from '../lib/harness.mjs';
import { clientRequest, request } from '../lib/http.mjs';
import { freePort, runToExit, sleep } from '../lib/proc.mjs';
import { assert, GEN } from '../lib/util.mjs';

const adminConfig = (admin, server) => (port) =>
  `admin 127.0.0.1:${admin};\nupstream ollama { server 127.0.0.1:${server}; }\nsite _ { listen 127.0.0.1:${port}; proxy ollama; }\n`;

async function status(admin) {
  const r = await request(admin, { path: '/status.json', plain: true });
  assert.equal(r.status, 200, r.text);
  return JSON.parse(r.text);
}

// A slow stream; lines() says how many lines the client has read so far,
// done resolves when it ends.
function slowStream(port, tokens, delayMs, extra = {}) {
  let lines = 0;
  let buf = '';
  let req;
  const done = new Promise((resolve, reject) => {
    req = clientRequest({ host: '127.0.0.1', port, method: 'POST', path: '/api/generate', agent: false,
      headers: { 'X-Mock-Tokens': String(tokens), 'X-Mock-Delay-Ms': String(delayMs), ...extra } }, (res) => {
      res.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) { buf = buf.slice(i + 1); lines++; }
      });
      res.on('end', resolve);
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(GEN());
  });
  done.catch(() => {}); // destroyed at the test's end
  return { done, lines: () => lines, req };
}

// tollgate (with an admin listener) before the mock, and one slow stream
// through it, ended with the test.
async function withStream(t, tokens) {
  const mock = await t.mock();
  const admin = await freePort();
  const tg = await t.tollgate({ config: adminConfig(admin, mock.port) });
  const s = slowStream(tg.port, tokens, 100);
  t.defer(() => s.req.destroy());
  return { mock, admin, s };
}

test('live view: a stream is listed while it runs, its tokens rising as they pass, then gone', async (t) => {
  const { mock, admin, s } = await withStream(t, 30);
  let first;
  for (let i = 0; i < 100 && !first; i++) {
    await sleep(50);
    if (s.lines() >= 3) first = (await status(admin)).streams.find((x) => x.route === 'generate');
  }
  assert.ok(first, 'the stream is not listed in /status.json');
  assert.equal(first.model, 'llama3.2:latest');
  assert.equal(first.server, `127.0.0.1:${mock.port}`);
  assert.equal(first.client, '127.0.0.1');
  assert.ok(first.tokens >= 3, `tokens so far ${first.tokens} < 3 lines the client already read`);
  assert.ok(first.ttft_ms !== null && first.ttft_ms >= 0, JSON.stringify(first));
  // tollgate counts a line before it passes it on: what the client has read is counted already
  const read = s.lines();
  const later = (await status(admin)).streams.find((x) => x.route === 'generate');
  assert.ok(later && later.tokens >= read, `tokens ${later && later.tokens} behind the ${read} lines read`);
  await sleep(1200);
  const rising = (await status(admin)).streams.find((x) => x.route === 'generate');
  assert.ok(rising && rising.tokens > later.tokens, `tokens did not rise: ${later.tokens} then ${rising && rising.tokens}`);
  assert.ok(rising.tokens_per_s > 0, JSON.stringify(rising));
  assert.ok(rising.age_ms > later.age_ms);
  const st = await status(admin);
  assert.deepEqual(st.live_models.map((m) => [m.model, m.in_flight]), [['llama3.2:latest', 1]]);
  await s.done;
  const end = await status(admin);
  assert.deepEqual(end.streams, [], 'the stream is still listed after its end');
  const w = end.windows['10s'];
  assert.ok(w.requests >= 1, JSON.stringify(w));
  assert.ok(w.tokens_per_s > 0 && w.stream_tps_p50 > 0 && w.ttft_p50_ms > 0, JSON.stringify(w));
  assert.equal(end.windows['15m'].seconds, 900);
  assert.equal(end.series.points, 90);
  assert.ok(end.series.tokens_per_s.some((x) => x > 0));
});

test('live view: errors by reason count an upstream that is down', async (t) => {
  const dead = await freePort();
  const admin = await freePort();
  const tg = await t.tollgate({ config: adminConfig(admin, dead) });
  for (let i = 0; i < 3; i++) {
    const r = await request(tg.port, { method: 'POST', path: '/api/generate', body: GEN() });
    assert.equal(r.status, 502);
  }
  const w = (await status(admin)).windows;
  assert.equal(w['10s'].errors_by_reason.upstream_down, 3, JSON.stringify(w['10s']));
  assert.equal(w['1m'].errors, 3);
  assert.equal(w['10s'].errors_by_reason.timeout, 0);
});

test('live view: /status/stream pushes /status.json as server-sent events once a second', async (t) => {
  const { admin } = await withStream(t, 40);
  const events = [];
  let guard;
  await new Promise((resolve, reject) => {
    guard = setTimeout(() => reject(new Error(`only ${events.length} events in 10 s`)), 10000); // hang guard
    const req = http.get({ host: '127.0.0.1', port: admin, path: '/status/stream' }, (res) => {
      assert.equal(res.headers['content-type'], 'text/event-stream');
      let buf = '';
      res.on('error', () => {}); // aborted: we close it
      res.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0 && events.length < 3) {
          const ev = buf.slice(0, i);
          buf = buf.slice(i + 2);
          assert.ok(ev.startsWith('data: {'), ev.slice(0, 40));
          events.push(JSON.parse(ev.slice(6)));
          if (events.length === 3) { req.destroy(); resolve(); }
        }
      });
    });
    req.on('error', (e) => (events.length === 3 ? resolve() : reject(e)));
  });
  clearTimeout(guard);
  const listed = events.filter((e) => e.streams.some((x) => x.route === 'generate'));
  assert.ok(listed.length >= 2, 'the stream is not in the events');
  const tokens = listed.map((e) => e.streams.find((x) => x.route === 'generate').tokens);
  assert.ok(tokens[tokens.length - 1] > tokens[0], `tokens did not rise between events: ${tokens}`);
});

test('live view: tollgate top --once prints the servers and the live streams from /status.json', async (t) => {
  const { mock, admin, s } = await withStream(t, 40);
  for (let i = 0; i < 100 && s.lines() < 3; i++) await sleep(50);
  const r = await runToExit(t.tollgateBin, ['top', '--once', `127.0.0.1:${admin}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^live 1 /m);
  assert.match(r.stdout, new RegExp(`127\\.0\\.0\\.1:${mock.port} +up +1/1`));
  assert.match(r.stdout, /^STREAMS 1, longest first$/m);
  assert.match(r.stdout, new RegExp(`^- +127\\.0\\.0\\.1 +llama3\\.2:latest +127\\.0\\.0\\.1:${mock.port} +generate `, 'm'));
  const dead = await freePort();
  const down = await runToExit(t.tollgateBin, ['top', '--once', `127.0.0.1:${dead}`]);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /cannot read http:\/\/127\.0\.0\.1:\d+\/status\.json/);
  const usage = await runToExit(t.tollgateBin, ['top', '--bogus']);
  assert.equal(usage.code, 2);
});
