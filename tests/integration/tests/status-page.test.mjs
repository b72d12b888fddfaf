// The live view's page (`/` on the admin listener), loaded in headless
// Chromium through the DevTools protocol while streams run: it must draw a
// row per live stream, the servers, non-zero rates and its charts, make no
// request outside the admin listener, and be sent with a strict CSP.
// TG_STATUS_SCREENSHOT=dir saves live-view.png (and a phone-sized dark one)
// there for docs/observability.md.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Browser, CHROMIUM } from '../lib/cdp.mjs';
import { test } from '../lib/harness.mjs';
import { clientRequest, request } from '../lib/http.mjs';
import { freePort, sleep } from '../lib/proc.mjs';
import { assert, GEN } from '../lib/util.mjs';

function longStream(port, tokens = 400, user) {
  const headers = { 'X-Mock-Tokens': String(tokens), 'X-Mock-Delay-Ms': '50' };
  const req = clientRequest({ host: '127.0.0.1', port, method: 'POST', path: '/api/generate', agent: false, headers },
    (res) => res.resume());
  req.on('error', () => {});
  req.end(GEN(user ? { model: user } : {}));
  return req;
}

// The text of each cell of each row of a table's body.
const cells = (id) => `[...document.querySelectorAll('#${id} tbody tr')].map((r) => [...r.cells].map((c) => c.textContent))`;

test('live view page in headless Chromium: stream rows, a server row, non-zero rates, no outside request', async (t) => {
  assert.ok(CHROMIUM, 'chromium is not installed: apt-get install chromium (make test installs it)');
  const mock = await t.mock();
  const admin = await freePort();
  const tg = await t.tollgate({
    config: (port) => `admin 127.0.0.1:${admin};\nupstream ollama { server 127.0.0.1:${mock.port}; }\nsite _ { listen 127.0.0.1:${port}; proxy ollama; }\n`,
  });
  for (let i = 0; i < 3; i++) await request(tg.port, { method: 'POST', path: '/api/generate', body: GEN({ stream: false }) });
  const streams = [longStream(tg.port), longStream(tg.port), longStream(tg.port, 200), longStream(tg.port, 600)];
  t.defer(() => streams.forEach((s) => s.destroy()));
  await sleep(300);

  // the page and its files: a strict CSP, nothing from outside, under 100 KB
  const page = await request(admin, { path: '/', plain: true });
  const csp = page.headers['content-security-policy'] || '';
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
  let size = 0;
  for (const f of ['/', '/status.js', '/status.css']) {
    const r = f === '/' ? page : await request(admin, { path: f, plain: true });
    assert.equal(r.status, 200, f);
    size += Buffer.byteLength(r.text);
    assert.doesNotMatch(r.text, /https?:\/\//, `${f} names an outside URL`);
  }
  assert.ok(size < 100 * 1024, `the page is ${size} bytes`);

  const dir = t.tmpDir();
  const browser = await Browser.launch(path.join(dir, 'chromium'));
  t.defer(() => browser.close());
  const url = `http://127.0.0.1:${admin}/`;
  const p = await browser.open(url);
  await p.waitFor(`document.querySelectorAll('#streams tbody tr').length === 4`);
  await p.waitFor(`parseFloat(document.getElementById('tps').textContent) > 0`);
  await p.waitFor(`parseFloat(document.getElementById('rps').textContent) > 0`);
  const rows = await p.eval(cells('streams'));
  for (const r of rows) {
    assert.equal(r[2], 'llama3.2:latest', JSON.stringify(r));
    assert.equal(r[3], `127.0.0.1:${mock.port}`);
    assert.equal(r[4], 'generate');
    assert.ok(Number(r[7]) > 0, `no tokens so far: ${JSON.stringify(r)}`);
  }
  const servers = await p.eval(cells('servers'));
  assert.deepEqual(servers[0].slice(0, 4), ['ollama', `127.0.0.1:${mock.port}`, 'up', '4 / 1']);
  assert.equal(await p.eval(`document.getElementById('live').textContent`), '4');
  assert.deepEqual((await p.eval(cells('models')))[0].slice(0, 2), ['llama3.2:latest', '4']);
  assert.equal((await p.eval(cells('errors'))).length, 7);
  assert.equal(await p.eval(`document.querySelector('#chart-tps polyline').getAttribute('points').split(' ').length`), 90);
  // sorting: a click on tok/s puts the slowest first, a second click the fastest
  await p.eval(`document.querySelector('#streams th[data-k="tokens_per_s"]').click()`);
  const slow = (await p.eval(cells('streams'))).map((r) => Number(r[8]));
  assert.deepEqual(slow, [...slow].sort((a, b) => a - b));
  assert.equal(await p.eval(`document.getElementById('err').textContent`), '');
  // every request the page made went to the admin listener
  assert.ok(p.requests.length >= 3, p.requests.join(' '));
  for (const u of p.requests) assert.ok(u.startsWith(url), `the page asked for ${u}`);

  const shots = process.env.TG_STATUS_SCREENSHOT;
  if (shots) {
    await p.eval(`document.querySelector('#streams th[data-k="age_ms"]').click()`);
    await sleep(1500);
    writeFileSync(path.join(shots, 'live-view.png'), await p.screenshot());
    const phone = await browser.open(url, { width: 390, height: 844, dark: true, mobile: true });
    await phone.waitFor(`document.querySelectorAll('#streams tbody tr').length === 4`);
    await sleep(1200);
    writeFileSync(path.join(shots, 'live-view-phone.png'), await phone.screenshot());
  }
});

test('live view page shows each server of an upstream: up or down, in flight / slots, its loaded models', async (t) => {
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
  const browser = await Browser.launch(path.join(t.tmpDir(), 'chromium'));
  t.defer(() => browser.close());
  const p = await browser.open(`http://127.0.0.1:${admin}/`);
  await p.waitFor(`document.querySelectorAll('#servers tbody tr').length === 2`);
  const servers = await p.eval(cells('servers'));
  assert.deepEqual(servers.find((s) => s[1] === `127.0.0.1:${a.port}`).slice(0, 5), ['ollama', `127.0.0.1:${a.port}`, 'up', '0 / 2', 'a:latest']);
  assert.deepEqual(servers.find((s) => s[1] === `127.0.0.1:${dead}`).slice(0, 5), ['ollama', `127.0.0.1:${dead}`, 'down', '0 / 1', '']);
});
