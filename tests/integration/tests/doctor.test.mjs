// tollgate doctor URL against real deployments: tollgate in front of the
// mock, nginx (buffering on or off, the default 60 s read timeout) and Caddy
// (plain, and TLS with its internal CA). The peers are Debian's nginx and
// caddy, started here with their own temp config; a missing one fails the
// test with what to install.
import { existsSync, writeFileSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { TLS, isTlsPort } from '../lib/tls.mjs';
import { test } from '../lib/harness.mjs';
import { Proc, freePort, runToExit, sanitizerReport, sleep, waitConnectable } from '../lib/proc.mjs';
import { assert } from '../lib/util.mjs';

// ---- helpers ----

function findBin(name, pkg) {
  const dirs = [...(process.env.PATH || '').split(':'), '/usr/sbin', '/usr/bin', '/sbin', '/usr/local/sbin', '/usr/local/bin'];
  for (const d of dirs) {
    if (d && existsSync(path.join(d, name))) return path.join(d, name);
  }
  throw new Error(`${name} is not installed: apt-get install -y ${pkg} (make test installs it through TEST_PKGS)`);
}

// Runs `tollgate doctor ARGS`; returns { code, out, lines: { check: { level, text } } }.
async function doctor(t, args, timeoutMs = 30000) {
  // In TLS mode (lib/tls.mjs) a tollgate's certificate comes from the mode's own CA.
  const tlsUrl = args.map((a) => /^https:\/\/127\.0\.0\.1:(\d+)/.exec(a)).find((m) => m && isTlsPort(m[1]));
  if (tlsUrl && !args.includes('--cacert')) args = ['--cacert', TLS.cert, ...args];
  const r = await runToExit(t.tollgateBin, ['doctor', ...args], { timeoutMs });
  const rep = sanitizerReport(r.stderr);
  assert.equal(rep, null, `sanitizer report: ${rep}`);
  assert.equal(r.timedOut, false, `doctor still running after ${timeoutMs} ms: ${r.stdout}`);
  const lines = {};
  for (const l of r.stdout.split('\n')) {
    const m = /^(ok|warn|FAIL|skip) +([^:]+): (.*)$/.exec(l);
    if (m) lines[m[2]] = { level: m[1], text: m[3] };
  }
  return { code: r.code, out: r.stdout + r.stderr, lines };
}

function expectLine(d, check, level, re) {
  const l = d.lines[check];
  assert.ok(l, `no "${check}" line in:\n${d.out}`);
  assert.equal(l.level, level, `"${check}" is ${l.level}, expected ${level}:\n${d.out}`);
  if (re) assert.match(l.text, re, `"${check}" line:\n${d.out}`);
}

async function startPeer(t, name, bin, args, port, env) {
  const p = new Proc(name, bin, args, { env });
  t.procs.push(p);
  const deadline = Date.now() + 10000;
  for (;;) {
    if (p.exited) throw new Error(`${name} exited (code ${p.exitCode}): ${p.stderr.slice(-800)}`);
    try {
      await waitConnectable(port, 200);
      return p;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${name} does not listen on ${port}: ${p.stderr.slice(-800)}`);
    }
  }
}

// nginx -p DIR with everything inside DIR, proxying to the mock.
async function nginx(t, mock, { buffering, gzip = false, basicAuth = null }) {
  const bin = findBin('nginx', 'nginx-light');
  const dir = t.tmpDir();
  chmodSync(dir, 0o755); // workers may run as nobody
  const port = await freePort();
  const conf = [
    'worker_processes 1;',
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/error.log;`,
    'events { worker_connections 64; }',
    'http {',
    '  access_log off;',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `  ${k}_temp_path ${dir}/${k}_temp;`),
    '  server {',
    `    listen 127.0.0.1:${port};`,
    '    location / {',
    `      proxy_pass http://127.0.0.1:${mock.port};`,
    '      proxy_http_version 1.1;',
    '      proxy_set_header Host localhost:11434;',
    `      proxy_buffering ${buffering ? 'on' : 'off'};`,
    ...(gzip ? ['      gzip on;', '      gzip_types application/x-ndjson application/json text/event-stream;'] : []),
    ...(basicAuth ? ['      auth_basic "ollama";', `      auth_basic_user_file ${dir}/htpasswd;`] : []),
    '    }',
    '  }',
    '}',
    '',
  ].join('\n');
  writeFileSync(path.join(dir, 'nginx.conf'), conf);
  if (basicAuth) writeFileSync(path.join(dir, 'htpasswd'), `${basicAuth.user}:{PLAIN}${basicAuth.password}\n`);
  await startPeer(t, 'nginx', bin, ['-e', `${dir}/error.log`, '-p', dir, '-c', `${dir}/nginx.conf`, '-g', 'daemon off;'], port);
  return `http://127.0.0.1:${port}`;
}

// caddy run with its own HOME/XDG dirs and storage in DIR.
async function caddy(t, mock, { tls = false } = {}) {
  const bin = findBin('caddy', 'caddy');
  const dir = t.tmpDir();
  const port = await freePort();
  const site = tls ? `https://localhost:${port}` : `http://127.0.0.1:${port}`;
  const conf = [
    '{',
    '\tadmin off',
    // "auto_https off" also turns off the certificate of "tls internal"
    tls ? '\tauto_https disable_redirects' : '\tauto_https off',
    '\tskip_install_trust',
    `\tstorage file_system ${dir}/data`,
    '\tgrace_period 1s',
    '}',
    `${site} {`,
    ...(tls ? ['\ttls internal'] : []),
    `\treverse_proxy 127.0.0.1:${mock.port} {`,
    '\t\tflush_interval -1',
    '\t\theader_up Host localhost:11434',
    '\t}',
    '}',
    '',
  ].join('\n');
  const file = path.join(dir, 'Caddyfile');
  writeFileSync(file, conf);
  const env = { HOME: dir, XDG_DATA_HOME: `${dir}/xdg-data`, XDG_CONFIG_HOME: `${dir}/xdg-config` };
  await startPeer(t, 'caddy', bin, ['run', '--config', file, '--adapter', 'caddyfile'], port, env);
  return { url: site, rootCert: `${dir}/data/pki/authorities/local/root.crt` };
}

// ---- tests ----

test('usage: no URL exits 2 with a message', async (t) => {
  const d = await doctor(t, []);
  assert.equal(d.code, 2, d.out);
  assert.match(d.out, /URL/);
});

test('tollgate in front of the mock: every check passes, auth reported open', async (t) => {
  const { tg } = await t.pair();
  const d = await doctor(t, [tg.url]);
  assert.equal(d.code, 0, d.out);
  expectLine(d, 'connect', 'ok');
  expectLine(d, 'version', 'ok', /0\.12\.6/);
  expectLine(d, 'models', 'ok', /llama3\.2:latest/);
  expectLine(d, 'auth', 'warn', /^open/);
  expectLine(d, 'streaming', 'ok', /13 chunks .* spread evenly/);
  expectLine(d, 'websocket', 'ok');
  expectLine(d, 'long request', 'skip');
  t.note(`streaming: ${d.lines.streaming.text}`);
});

test('tollgate without authentication fails --key and --user expectations', async (t) => {
  for (const args of [['--key', 'k-123'], ['--user', 'alice:secret']]) {
    const { tg } = await t.pair();
    const d = await doctor(t, [...args, tg.url + '/']);
    assert.equal(d.code, 1, d.out);
    expectLine(d, 'auth', 'FAIL', /without credentials \(200\).*not enforced/);
    expectLine(d, 'streaming', 'ok');
  }
});

test('nginx with auth_basic: --user passes with the right password, fails with a wrong one', async (t) => {
  const mock = await t.mock();
  const url = await nginx(t, mock, { buffering: false, basicAuth: { user: 'alice', password: 's3cret' } });
  const good = await doctor(t, ['--user', 'alice:s3cret', url]);
  assert.equal(good.code, 0, good.out);
  expectLine(good, 'auth', 'ok', /refused without credentials \(401\), accepted with the Basic credentials \(200\)/);
  expectLine(good, 'streaming', 'ok');
  const bad = await doctor(t, ['--user', 'alice:wrong', url]);
  assert.equal(bad.code, 1, bad.out);
  expectLine(bad, 'auth', 'FAIL', /Basic credentials were refused: .*401/);
  const none = await doctor(t, [url]);
  assert.equal(none.code, 1, none.out);
  expectLine(none, 'version', 'FAIL', /401.*--user/);
  expectLine(none, 'auth', 'warn', /refuses requests without credentials/);
});

test('nginx, proxy_buffering on with gzip for NDJSON: doctor flags the buffering', async (t) => {
  const mock = await t.mock();
  const url = await nginx(t, mock, { buffering: true, gzip: true });
  const d = await doctor(t, [url]);
  assert.equal(d.code, 1, d.out);
  expectLine(d, 'version', 'ok', /nginx/);
  expectLine(d, 'streaming', 'FAIL', /buffers the stream.*proxy_buffering off.*flush_interval -1.*gzip/);
  t.note(`streaming: ${d.lines.streaming.text}`);
});

test('nginx, proxy_buffering off (gzip still on): doctor passes', async (t) => {
  const mock = await t.mock();
  const url = await nginx(t, mock, { buffering: false, gzip: true });
  const d = await doctor(t, [url]);
  assert.equal(d.code, 0, d.out);
  expectLine(d, 'streaming', 'ok', /spread evenly/);
  expectLine(d, 'websocket', 'ok');
  t.note(`streaming: ${d.lines.streaming.text}`);
});

test('nginx, default 60 s proxy_read_timeout, --slow: doctor flags the timeout', async (t) => {
  const mock = await t.mock();
  const url = await nginx(t, mock, { buffering: false });
  const d = await doctor(t, ['--slow', url], 120000);
  assert.equal(d.code, 1, d.out);
  expectLine(d, 'streaming', 'ok');
  expectLine(d, 'long request', 'FAIL', /504.*after (5[5-9]|6[0-9])\.\d s.*proxy_read_timeout/);
  t.note(`long request: ${d.lines['long request'].text}`);
}, { timeoutMs: 150000 });

test('Caddy, reverse_proxy with flush_interval -1: doctor passes', async (t) => {
  const mock = await t.mock();
  const { url } = await caddy(t, mock);
  const d = await doctor(t, [url]);
  assert.equal(d.code, 0, d.out);
  expectLine(d, 'version', 'ok', /Caddy/);
  expectLine(d, 'streaming', 'ok', /spread evenly/);
  expectLine(d, 'websocket', 'ok');
});

test('Caddy with tls internal: TLS verified with --cacert, refused without', async (t) => {
  const mock = await t.mock();
  const { url, rootCert } = await caddy(t, mock, { tls: true });
  for (let i = 0; i < 50 && !existsSync(rootCert); i++) await sleep(100);
  // Caddy issues its leaf certificate a moment after the root: wait for a handshake
  const tls = await import('node:tls');
  const { readFileSync } = await import('node:fs');
  const port = Number(new URL(url).port);
  let ready = false;
  for (const until = Date.now() + 30000; !ready && Date.now() < until;) {
    ready = await new Promise((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(rootCert) }, () => { s.end(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (!ready) await sleep(100);
  }
  assert.ok(ready, 'Caddy never served its internal certificate (30 s)');
  const bad = await doctor(t, [url]);
  assert.equal(bad.code, 1, bad.out);
  expectLine(bad, 'tls', 'FAIL', /does not verify for localhost.*--cacert/);
  expectLine(bad, 'other checks', 'skip');
  const good = await doctor(t, ['--cacert', rootCert, url]);
  assert.equal(good.code, 0, good.out);
  // Caddy's internal certificates live 12 h: a warning about the expiry
  assert.ok(['ok', 'warn'].includes(good.lines.tls?.level), good.out);
  assert.match(good.lines.tls.text, /^TLSv1\.[23] .*certificate valid for localhost, expires in \d+ (h|days)/);
  expectLine(good, 'streaming', 'ok', /spread evenly/);
  t.note(`tls: ${good.lines.tls.text}`);
}, { timeoutMs: 60000 });

test('doctor --config checks each server of a several-server upstream: version, models, loaded, one down', async (t) => {
  const a = await t.mock(['--models', 'a,b']);
  const b = await t.mock(['--models', 'b,c']);
  const dead = await freePort();
  const file = path.join(t.tmpDir(), 'tollgate.conf');
  writeFileSync(file, `upstream ollama { server 127.0.0.1:${a.port}; server 127.0.0.1:${b.port}; server 127.0.0.1:${dead} backup; }\n`
    + 'site _ { listen 127.0.0.1:18080; proxy ollama; }\n');
  const r = await doctor(t, ['--config', file, '--timeout', '2']);
  assert.equal(r.code, 1, r.out); // one server down: a failed check
  const line = (addr) => r.out.split('\n').find((l) => l.includes(`server ollama ${addr}:`)) || '';
  assert.match(line(`127.0.0.1:${a.port}`), /^ok +server ollama \S+: Ollama \d+\.\d+\.\d+, connected in [\d.]+ ms; 2 models: a:latest, b:latest; 0 loaded$/);
  assert.match(line(`127.0.0.1:${b.port}`), /^ok .*2 models: b:latest, c:latest/);
  assert.match(line(`127.0.0.1:${dead}`), /^FAIL +server ollama \S+: connection refused/);
  assert.match(r.out, /warn +upstream ollama: 2 of 3 servers answer; 3 models in all, on some of them only: a:latest, c:latest/);

  const bad = await doctor(t, ['--config', path.join(t.tmpDir(), 'missing.conf')]);
  assert.equal(bad.code, 2, bad.out);
});
