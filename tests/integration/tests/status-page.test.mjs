// The admin listener's status page, loaded in headless Chromium while
// streams run: it must show the live streams, the upstream and the tokens.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from '../lib/harness.mjs';
import { clientRequest, request } from '../lib/http.mjs';
import { freePort, sleep } from '../lib/proc.mjs';
import { assert, GEN } from '../lib/util.mjs';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

function chromium(args, dir) {
  return new Promise((resolve, reject) => {
    const p = spawn(CHROMIUM, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${dir}`, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`chromium exited ${code}`))));
  });
}

function longStream(port) {
  const req = clientRequest({ host: '127.0.0.1', port, method: 'POST', path: '/api/generate', agent: false,
    headers: { 'X-Mock-Tokens': '400', 'X-Mock-Delay-Ms': '50' } }, (res) => res.resume());
  req.on('error', () => {});
  req.end(GEN());
  return req;
}

test('status page in headless Chromium shows live streams, upstream state and tokens', async (t) => {
  assert.ok(CHROMIUM, 'chromium is not installed: apt-get install chromium (make test installs it)');
  const mock = await t.mock();
  const admin = await freePort();
  const tg = await t.tollgate({
    config: (port) => `admin 127.0.0.1:${admin};\nupstream ollama { server 127.0.0.1:${mock.port}; }\nsite _ { listen 127.0.0.1:${port}; proxy ollama; }\n`,
  });
  for (let i = 0; i < 3; i++) await request(tg.port, { method: 'POST', path: '/api/generate', body: GEN({ stream: false }) });
  const streams = Array.from({ length: 4 }, () => longStream(tg.port));
  t.defer(() => streams.forEach((s) => s.destroy()));
  await sleep(300);
  const dir = t.tmpDir();
  const url = `http://127.0.0.1:${admin}/`;
  const dom = await chromium(['--virtual-time-budget=3000', '--dump-dom', url], path.join(dir, 'p1'));
  assert.match(dom, /<b id="live">4<\/b>/, `live streams not shown: ${dom.slice(0, 400)}`);
  assert.match(dom, /<td>ollama<\/td><td class="up">up<\/td>/);
  assert.match(dom, /<td>_anonymous<\/td><td>llama3.2:latest<\/td><td>3<\/td>/);
  if (tg.tls) assert.match(dom, /<td>localhost<\/td><td>\d{4}-\d\d-\d\d \d\d:\d\d UTC<\/td><td class="down">[01]<\/td>/, 'the certificate (2 days left) is not shown');
  else assert.match(dom, /none \(no TLS listener\)/);
  const err = /id="err">([^<]*)/.exec(dom);
  assert.ok(!err || !err[1], `the page could not read status.json: ${err && err[1]}`);
  const shot = process.env.TG_STATUS_SCREENSHOT;
  if (shot) await chromium(['--virtual-time-budget=3000', '--window-size=1100,900', `--screenshot=${shot}`, url], path.join(dir, 'p2'));
});

test('status page shows each server of an upstream: up or down, in flight / slots, its loaded models', async (t) => {
  assert.ok(CHROMIUM, 'chromium is not installed: apt-get install chromium (make test installs it)');
  const a = await t.mock(['--models', 'a,b']);
  const dead = await freePort();
  const admin = await freePort();
  const tg = await t.tollgate({
    config: (port) => `admin 127.0.0.1:${admin};\nupstream ollama { server 127.0.0.1:${a.port} slots 2; server 127.0.0.1:${dead}; health interval 1s timeout 500ms fails 1 passes 1; }\nsite _ { listen 127.0.0.1:${port}; proxy ollama; }\n`,
  });
  const r = await request(tg.port, { method: 'POST', path: '/api/generate', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model: 'a', prompt: 'hi', stream: false }) });
  assert.equal(r.status, 200, r.text);
  await sleep(1300); // the next check reads /api/ps
  const dom = await chromium(['--virtual-time-budget=3000', '--dump-dom', `http://127.0.0.1:${admin}/`], path.join(t.tmpDir(), 'p'));
  assert.match(dom, new RegExp(`<td>ollama</td><td>127.0.0.1:${a.port}</td><td class="up">up</td><td>0 / 2</td><td>2</td><td>a:latest</td>`), dom.slice(0, 3000));
  assert.match(dom, new RegExp(`<td>ollama</td><td>127.0.0.1:${dead}</td><td class="down">down</td><td>0 / 1</td><td>0</td><td></td>`));
});
