// Authentication at the edge: Basic (htpasswd), API keys, per-route overrides,
// path normalisation, WebSocket upgrades, the credential cache and the throttle.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { authConfig, authPair, basic, rawStatus, readLog } from '../lib/auth.mjs';
import { test } from '../lib/harness.mjs';
import { clientAgent, clientRequest, request } from '../lib/http.mjs';
import { freePort, Proc, sleep, waitConnectable } from '../lib/proc.mjs';
import { assert, hdr, GEN } from '../lib/util.mjs';

const NGINX_BIN = '/usr/sbin/nginx';

function sh(cmd, args, input) {
  return execFileSync(cmd, args, { input, encoding: 'utf8' }).trim();
}

// nginx's own vectors (tests/auth_basic.t) for the password "password".
const NGINX = [
  'apr1:$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.',
  'ssha:{SSHA}yI6cZwQadOA1e+/f+T+H3eCQQhRzYWx0',
  'sha:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=',
];

test('basic: nginx vectors for apr1, SSHA and SHA accept "password", refuse others', async (t) => {
  const dir = t.tmpDir();
  writeFileSync(path.join(dir, 'users'), NGINX.join('\n') + '\n');
  const { tg } = await authPair(t, [`auth basic ${dir}/users realm "Ollama";`]);
  for (const u of ['apr1', 'ssha', 'sha']) {
    const ok = await request(tg.port, { path: '/api/tags', headers: { Authorization: basic(u, 'password') } });
    assert.equal(ok.status, 200, `${u}: ${ok.text}`);
    const bad = await request(tg.port, { path: '/api/tags', headers: { Authorization: basic(u, 'passwort') } });
    assert.equal(bad.status, 401, `${u} with a wrong password`);
  }
  const none = await request(tg.port, { path: '/api/tags' });
  assert.equal(none.status, 401);
  assert.equal(none.headers['www-authenticate'], 'Basic realm="Ollama", charset="UTF-8"');
  assert.equal(JSON.parse(none.text).error, 'authentication required');
});

test('basic: broken and unknown entries are reported at load with file:line', async (t) => {
  const dir = t.tmpDir();
  const file = path.join(dir, 'users');
  // nginx's broken entries, a plain-text password and a scheme libcrypt does not know.
  writeFileSync(file, ['good:$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.', 'apr1:$apr1$sa', 'ssha:{SSHA}usr', 'sha:{SHA}usr',
    'plain:password', 'nine:$9$abc$def', 'nocolon'].join('\n') + '\n');
  const conf = path.join(dir, 'tg.conf');
  writeFileSync(conf, authConfig({ port: 1, upstream: '127.0.0.1:2', lines: [`auth basic ${file};`] }));
  const r = spawnSync(t.tollgateBin, ['-t', '-c', conf], { encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  for (const line of [2, 3, 4, 5, 6, 7]) assert.match(r.stderr, new RegExp(`${file}:${line}: `), r.stderr);
  assert.doesNotMatch(r.stderr, new RegExp(`${file}:1: `));
  assert.match(r.stderr, /users:5: unknown password hash format \(plain text needs/);
  // with the opt-in, plain text is accepted (the other broken lines removed)
  writeFileSync(file, 'plain:password\n');
  writeFileSync(conf, authConfig({ port: 1, upstream: '127.0.0.1:2', lines: [`auth basic ${file} plain;`] }));
  const ok = spawnSync(t.tollgateBin, ['-t', '-c', conf], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
});

test('basic: hashes written by htpasswd -B/-m/-s, caddy, openssl passwd -5/-6', async (t) => {
  const dir = t.tmpDir();
  const lines = [
    sh('htpasswd', ['-nbB', '-C', '5', 'bcrypt', 'pw-b']),
    sh('htpasswd', ['-nbm', 'md5', 'pw-m']),
    sh('htpasswd', ['-nbs', 'sha', 'pw-s']),
    'caddy:' + sh('caddy', ['hash-password', '--plaintext', 'pw-c']),
    'sha256:' + sh('openssl', ['passwd', '-5', 'pw-5']),
    'sha512:' + sh('openssl', ['passwd', '-6', 'pw-6']),
  ];
  writeFileSync(path.join(dir, 'users'), lines.join('\n') + '\n');
  const { tg } = await authPair(t, [`auth basic ${dir}/users;`]);
  const pw = { bcrypt: 'pw-b', md5: 'pw-m', sha: 'pw-s', caddy: 'pw-c', sha256: 'pw-5', sha512: 'pw-6' };
  for (const [u, p] of Object.entries(pw)) {
    const ok = await request(tg.port, { path: '/api/tags', headers: { Authorization: basic(u, p) } });
    assert.equal(ok.status, 200, `${u}: ${ok.text}`);
    const bad = await request(tg.port, { path: '/api/tags', headers: { Authorization: basic(u, p + 'x') } });
    assert.equal(bad.status, 401, `${u} with a wrong password`);
  }
  const unknown = await request(tg.port, { path: '/api/tags', headers: { Authorization: basic('nobody', 'pw-b') } });
  assert.equal(unknown.status, 401);
});

// Every hash format nginx reads on Debian, one user each, password "pw-" + user.
const FORMATS = readFileSync(new URL('../vectors/htpasswd-formats', import.meta.url), 'utf8')
  .split('\n').filter((l) => l && !l.startsWith('#'))
  .map((l) => { const i = l.indexOf(':'); return { user: l.slice(0, i), hash: l.slice(i + 1) }; });

// Each attempt from its own address (trusted_proxies + X-Forwarded-For), so
// that the failure throttle never answers in place of the password check.
let nextAddr = 0;
const attempt = (port, user, pw) => request(port, { path: '/api/tags', headers: {
  Authorization: basic(user, pw), 'X-Forwarded-For': `10.9.${(nextAddr >> 8) & 255}.${nextAddr++ & 255}` } });

test('basic plain: a stored hash is never the password (DES, md5crypt, yescrypt, unknown $id$)', async (t) => {
  const dir = t.tmpDir();
  const pick = ['des', 'md5', 'yescrypt', 'sha512'].map((u) => FORMATS.find((f) => f.user === u));
  writeFileSync(path.join(dir, 'users'), pick.map((f) => `${f.user}:${f.hash}`).join('\n') + '\nplain:secret\n');
  const { tg } = await authPair(t, [`auth basic ${dir}/users plain;`, 'trusted_proxies 127.0.0.1/32;']);
  for (const f of pick) {
    assert.equal((await attempt(tg.port, f.user, f.hash)).status, 401, `${f.user}: the hash itself logged in`);
    assert.equal((await attempt(tg.port, f.user, `pw-${f.user}`)).status, 200, `${f.user}: its password`);
  }
  assert.equal((await attempt(tg.port, 'plain', 'secret')).status, 200, 'a field with no hash shape is plain text');
  // a hash-shaped field no scheme verifies is refused at file:line, plain or not
  writeFileSync(path.join(dir, 'bad'), 'ok:secret\nx:$9$abc$def\n');
  const conf = path.join(dir, 'tg.conf');
  writeFileSync(conf, authConfig({ port: 1, upstream: '127.0.0.1:2', lines: [`auth basic ${dir}/bad plain;`] }));
  const r = spawnSync(t.tollgateBin, ['-t', '-c', conf], { encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /bad:2: not a hash this system's libcrypt verifies/);
});

// nginx as the reference: the same file behind auth_basic_user_file. Started
// in one process (master_process off) as the user running the tests.
async function startNginx(t, file) {
  const dir = t.tmpDir();
  const port = await freePort();
  mkdirSync(path.join(dir, 'tmp'));
  mkdirSync(path.join(dir, 'www', 'api'), { recursive: true });
  writeFileSync(path.join(dir, 'www', 'api', 'tags'), 'ok\n'); // a file: `return` would answer before auth_basic runs
  writeFileSync(path.join(dir, 'nginx.conf'), [
    'daemon off; master_process off; worker_processes 1;', `pid ${dir}/nginx.pid;`, `error_log ${dir}/error.log;`,
    'events { worker_connections 64; }',
    'http {', '  access_log off;',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `  ${k}_temp_path ${dir}/tmp/${k};`),
    `  server { listen 127.0.0.1:${port};`,
    `    location / { auth_basic "t"; auth_basic_user_file ${file}; root ${dir}/www; } }`, '}'].join('\n') + '\n');
  if (!existsSync(NGINX_BIN)) return { why: `${NGINX_BIN} is not installed` };
  const p = new Proc('nginx', NGINX_BIN, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')]);
  t.procs.push(p);
  try {
    await waitConnectable(port, 5000);
  } catch (e) {
    const log = existsSync(path.join(dir, 'error.log')) ? readFileSync(path.join(dir, 'error.log'), 'utf8') : '';
    return { why: `nginx did not start: ${e.message}; ${(p.stderr + log).trim().slice(-400)}` };
  }
  return { port };
}

test('basic: every hash format nginx reads on Debian, compared with nginx on the same file', async (t) => {
  const dir = t.tmpDir();
  const file = path.join(dir, 'users');
  writeFileSync(file, FORMATS.map((f) => `${f.user}:${f.hash}`).join('\n') + '\n');
  const { tg } = await authPair(t, [`auth basic ${file} plain;`, 'trusted_proxies 127.0.0.1/32;']);
  const ng = await startNginx(t, file);
  if (ng.why) t.note(`nginx not compared, only the known passwords checked: ${ng.why}`);
  const peers = ng.port ? [['tollgate', tg.port], ['nginx', ng.port]] : [['tollgate', tg.port]];
  for (const { user, hash } of FORMATS) {
    const tries = [[`pw-${user}`, 200], [hash, 401], [`pw-${user}x`, 401], ['', 401], [user === 'des' ? 'pw-md5' : 'pw-des', 401]];
    for (const [pw, want] of tries) {
      for (const [name, port] of peers) {
        const r = await attempt(port, user, pw);
        assert.equal(r.status, want, `${name}, user ${user}, password ${JSON.stringify(pw)}: ${r.text}`);
      }
    }
  }
  t.note(`${FORMATS.length} formats${ng.port ? ', nginx agrees on each' : ''}`);
}, { timeoutMs: 120000 });

test('basic: tollgate -t warns at file:line about weak hashes (DES, $1$, {SHA}, plain) and accepts them', async (t) => {
  const dir = t.tmpDir();
  const file = path.join(dir, 'users');
  writeFileSync(file, FORMATS.map((f) => `${f.user}:${f.hash}`).join('\n') + '\n');
  const conf = path.join(dir, 'tg.conf');
  writeFileSync(conf, authConfig({ port: 1, upstream: '127.0.0.1:2', lines: [`auth basic ${file} plain;`] }));
  const r = spawnSync(t.tollgateBin, ['-t', '-c', conf], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const lineOf = (u) => FORMATS.findIndex((f) => f.user === u) + 1;
  for (const u of ['des', 'md5', 'sha', 'plain'])
    assert.match(r.stderr, new RegExp(`tg\\.conf:\\d+:\\d+: warning: ${file}:${lineOf(u)}: weak password hash`), r.stderr);
  for (const u of ['bcrypt2b', 'yescrypt', 'sha512', 'scrypt', 'ssha'])
    assert.doesNotMatch(r.stderr, new RegExp(`${file}:${lineOf(u)}: `), r.stderr);
  assert.doesNotMatch(r.stderr, /pw-|\$y\$j9T\$/, 'no password or hash in a message');
});

test('basic: the upstream never sees Authorization; the log names the user, never the password', async (t) => {
  const dir = t.tmpDir();
  const log = path.join(dir, 'access.log');
  writeFileSync(path.join(dir, 'users'), NGINX[0] + '\n');
  const { tg } = await authPair(t, [`auth basic ${dir}/users;`], { accessLog: log });
  const r = await request(tg.port, { method: 'POST', path: '/api/generate', body: GEN(),
    headers: { Authorization: basic('apr1', 'password'), 'X-Mock-Echo': '1' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(hdr(r.json().headers, 'authorization'), undefined);
  const [rec] = await readLog(log, 1);
  assert.equal(rec.user, 'apr1');
  assert.equal(rec.auth, 'basic');
  assert.doesNotMatch(readFileSync(log, 'utf8'), /password|YXByMTpwYXNzd29yZA/);
});

test('basic: a burst with one bcrypt credential (cost 10) costs one verification per worker', async (t) => {
  const dir = t.tmpDir();
  const log = path.join(dir, 'access.log');
  writeFileSync(path.join(dir, 'users'), sh('htpasswd', ['-nbB', '-C', '10', 'alice', 'burst-pw']) + '\n');
  const { tg } = await authPair(t, [`auth basic ${dir}/users;`], { accessLog: log, workers: 2 });
  const agent = clientAgent(tg.port, { keepAlive: true, maxSockets: 32 });
  t.defer(() => agent.destroy());
  const N = 200;
  const t0 = Date.now();
  const codes = await Promise.all(Array.from({ length: N }, () => new Promise((resolve, reject) => {
    clientRequest({ port: tg.port, host: '127.0.0.1', path: '/api/version', agent, headers: { Authorization: basic('alice', 'burst-pw') } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    }).on('error', reject).end();
  })));
  const elapsed = Date.now() - t0;
  assert.ok(codes.every((c) => c === 200), `statuses: ${[...new Set(codes)]}`);
  const recs = await readLog(log, N);
  const how = {};
  for (const r of recs) how[r.auth] = (how[r.auth] || 0) + 1;
  t.note(`${N} requests in ${elapsed} ms, verifications by kind: ${JSON.stringify(how)}`);
  assert.ok((how.basic || 0) >= 1 && how.basic <= 2, `bcrypt ran ${how.basic} times: ${JSON.stringify(how)}`);
}, { timeoutMs: 60000 });

test('basic: the loop keeps answering while bcrypt (cost 13) runs on the thread pool', async (t) => {
  const dir = t.tmpDir();
  writeFileSync(path.join(dir, 'users'), sh('htpasswd', ['-nbB', '-C', '13', 'slow', 'slow-pw']) + '\n');
  const { tg } = await authPair(t, [`auth basic ${dir}/users;`, 'route /api/version { auth off; }'], { workers: 1 });
  const t0 = Date.now();
  const slow = request(tg.port, { path: '/api/tags', headers: { Authorization: basic('slow', 'slow-pw') } }).then((r) => [r.status, Date.now() - t0]);
  await sleep(30);
  const t1 = Date.now();
  const fast = await request(tg.port, { path: '/api/version' });
  const fastMs = Date.now() - t1;
  const [st, slowMs] = await slow;
  assert.equal(fast.status, 200);
  assert.equal(st, 200);
  t.note(`bcrypt cost 13 request: ${slowMs} ms; open request meanwhile: ${fastMs} ms`);
  assert.ok(fastMs < slowMs / 2, `the open request took ${fastMs} ms while bcrypt took ${slowMs} ms`);
}, { timeoutMs: 60000 });

test('basic: failed attempts from one address are throttled with 429 and Retry-After', async (t) => {
  const dir = t.tmpDir();
  writeFileSync(path.join(dir, 'users'), NGINX[0] + '\n');
  const { tg } = await authPair(t, [`auth basic ${dir}/users;`]);
  for (let i = 0; i < 10; i++) {
    const r = await request(tg.port, { path: '/api/tags', headers: { Authorization: basic('apr1', `wrong${i}`) } });
    assert.equal(r.status, 401);
  }
  const r = await request(tg.port, { path: '/api/tags', headers: { Authorization: basic('apr1', 'password') } });
  assert.equal(r.status, 429);
  assert.ok(Number(r.headers['retry-after']) > 0 && Number(r.headers['retry-after']) <= 60, r.headers['retry-after']);
  assert.equal(typeof JSON.parse(r.text).error, 'string');
});

test('basic: parallel guesses from one address cannot outrun the throttle', async (t) => {
  const dir = t.tmpDir();
  writeFileSync(path.join(dir, 'users'), sh('htpasswd', ['-nbB', '-C', '10', 'alice', 'right']) + '\n');
  const { tg } = await authPair(t, [`auth basic ${dir}/users;`], { workers: 1 });
  const codes = await Promise.all(Array.from({ length: 40 }, (_, i) =>
    request(tg.port, { path: '/api/tags', headers: { Authorization: basic('alice', `guess${i}`) } }).then((r) => r.status)));
  const bcrypts = codes.filter((c) => c === 401).length;
  t.note(`40 parallel guesses: ${bcrypts} verified (401), ${codes.filter((c) => c === 429).length} refused at once (429)`);
  assert.ok(codes.every((c) => c === 401 || c === 429), `statuses ${[...new Set(codes)]}`);
  assert.ok(bcrypts <= 12, `${bcrypts} guesses were verified in parallel`);
}, { timeoutMs: 60000 });

test('basic: a changed htpasswd file is re-read (and the cache dropped)', async (t) => {
  const dir = t.tmpDir();
  const file = path.join(dir, 'users');
  writeFileSync(file, NGINX[0] + '\n');
  const { tg } = await authPair(t, [`auth basic ${file};`], { workers: 1 });
  const A = { Authorization: basic('apr1', 'password') };
  assert.equal((await request(tg.port, { path: '/api/tags', headers: A })).status, 200);
  writeFileSync(file, sh('htpasswd', ['-nbm', 'apr1', 'new-password']) + '\n');
  await sleep(1200);
  assert.equal((await request(tg.port, { path: '/api/tags', headers: A })).status, 401);
  const B = { Authorization: basic('apr1', 'new-password') };
  assert.equal((await request(tg.port, { path: '/api/tags', headers: B })).status, 200);
});

test('tollgate passwd writes a $2y$ line that tollgate and htpasswd -v accept', async (t) => {
  const dir = t.tmpDir();
  const r = spawnSync(t.tollgateBin, ['passwd', '-c', '5', 'zoe'], { input: 'zoe-pw\n', encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^zoe:\$2y\$05\$[./A-Za-z0-9]{53}\n$/);
  writeFileSync(path.join(dir, 'users'), r.stdout);
  const v = spawnSync('htpasswd', ['-vb', path.join(dir, 'users'), 'zoe', 'zoe-pw'], { encoding: 'utf8' });
  assert.equal(v.status, 0, v.stderr);
  const { tg } = await authPair(t, [`auth basic ${dir}/users;`]);
  assert.equal((await request(tg.port, { path: '/api/tags', headers: { Authorization: basic('zoe', 'zoe-pw') } })).status, 200);
});

// --- API keys ---

async function newKey(t, name) {
  const r = spawnSync(t.tollgateBin, ['key', 'new', name], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const key = r.stdout.trim(); // the key alone on stdout; its keys-file line on stderr
  const line = r.stderr.trim().split('\n').pop();
  return { key, line };
}

test('keys: Bearer keys from `tollgate key new` map to users; wrong keys get 401', async (t) => {
  const dir = t.tmpDir();
  const log = path.join(dir, 'access.log');
  const a = await newKey(t, 'ann');
  const b = await newKey(t, 'ben');
  assert.match(a.line, /^ann [0-9a-f]{64}$/);
  assert.ok(a.key.length >= 40);
  writeFileSync(path.join(dir, 'keys'), `# keys\n${a.line}\n${b.line}\n`);
  const { tg } = await authPair(t, [`auth keys ${dir}/keys;`], { accessLog: log });
  const ok = await request(tg.port, { method: 'POST', path: '/api/generate', body: GEN(),
    headers: { Authorization: `Bearer ${b.key}`, 'X-Mock-Echo': '1' } });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(hdr(ok.json().headers, 'authorization'), undefined, 'the key reached the upstream');
  const bad = await request(tg.port, { path: '/api/tags', headers: { Authorization: `Bearer ${b.key}x` } });
  assert.equal(bad.status, 401);
  assert.equal(bad.headers['www-authenticate'], 'Bearer realm="Ollama"');
  const recs = await readLog(log, 2);
  const rec = recs.find((r) => r.status === 200);
  assert.equal(rec.user, 'ben');
  assert.equal(rec.auth, 'key');
  assert.equal(recs.find((r) => r.status === 401).user, null);
  assert.doesNotMatch(readFileSync(log, 'utf8'), new RegExp(b.key.slice(3, 20)));
});

test('keys and basic together; the npm openai (apiKey) and ollama (headers) clients', async (t) => {
  const dir = t.tmpDir();
  const k = await newKey(t, 'sdk');
  writeFileSync(path.join(dir, 'keys'), k.line + '\n');
  writeFileSync(path.join(dir, 'users'), NGINX[0] + '\n');
  const { tg } = await authPair(t, [`auth basic ${dir}/users;`, `auth keys ${dir}/keys;`]);
  assert.equal((await request(tg.port, { path: '/api/tags', headers: { Authorization: basic('apr1', 'password') } })).status, 200);
  assert.equal((await request(tg.port, { path: '/api/tags', headers: { Authorization: `Bearer ${k.key}` } })).status, 200);
  const OpenAI = (await import('openai')).default;
  const client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: k.key, maxRetries: 0 });
  const r = await client.chat.completions.create({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(r.object, 'chat.completion');
  const wrong = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
  await assert.rejects(wrong.models.list(), (e) => e.status === 401);
  const { Ollama } = await import('ollama');
  const ollama = new Ollama({ host: tg.url, headers: { Authorization: `Bearer ${k.key}` } });
  const tags = await ollama.list();
  assert.ok(Array.isArray(tags.models));
  await assert.rejects(new Ollama({ host: tg.url }).list(), (e) => e.status_code === 401);
});

// --- routes, normalisation, WebSocket ---

test('routes: `auth off` opens / and /api/version; bypass attempts on a closed path get 401', async (t) => {
  const dir = t.tmpDir();
  writeFileSync(path.join(dir, 'users'), NGINX[0] + '\n');
  const { tg } = await authPair(t, [`auth basic ${dir}/users;`, 'route = / { auth off; }', 'route /api/version { auth off; }',
    'route /api/ { auth off; }', 'route /api/pull { auth on; }']);
  for (const p of ['/', '/api/version', '/api/tags']) {
    const r = await request(tg.port, { path: p });
    assert.equal(r.status, 200, `${p}: ${r.status}`);
  }
  const closed = ['/api/pull', '/api/../api/pull', '//api/pull', '/%61pi/pull', '/api/./pull', '/API/PULL', '/api/pull/',
    '/api%2Fpull', '/api/tags/../pull', '/api/version/..%2Fpull', '/x/../api/pull?y=1'];
  for (const p of closed) {
    const st = await rawStatus(tg.port, `POST ${p} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`);
    assert.equal(st, 401, `${p} got ${st}`);
  }
  assert.equal(await rawStatus(tg.port, 'GET /api/%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), 400);
});

test('websocket: an upgrade without credentials is refused; with them it is passed on', async (t) => {
  const dir = t.tmpDir();
  writeFileSync(path.join(dir, 'users'), NGINX[0] + '\n');
  const { tg } = await authPair(t, [`auth basic ${dir}/users;`]);
  const hs = (extra) => `GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`;
  assert.equal(await rawStatus(tg.port, hs('')), 401);
  const ok = await rawStatus(tg.port, hs(`Authorization: ${basic('apr1', 'password')}\r\n`), { timeoutMs: 1000 });
  assert.ok(ok !== 401 && ok !== 0, `with credentials: ${ok}`);
});
