// Forward auth against a small auth server: 2xx copies named headers (the
// client's own copies are dropped), other answers go back as they are, an
// auth server that is down gives 502, one that hangs 503 after the timeout.
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import tls from 'node:tls';
import { test } from '../lib/harness.mjs';
import { RawConn, request } from '../lib/http.mjs';
import { freePort } from '../lib/proc.mjs';
import { assert, hdr, GEN } from '../lib/util.mjs';
import { authConfig, authPair } from '../lib/auth.mjs';
import { makeCert } from '../lib/tls.mjs';

async function authServer(t, handler) {
  const seen = [];
  const srv = http.createServer((req, res) => {
    seen.push({ method: req.method, url: req.url, headers: req.headers });
    handler(req, res);
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  t.defer(() => new Promise((r) => { srv.closeAllConnections(); srv.close(r); }));
  return { port: srv.address().port, seen };
}

function sso(req, res) {
  if (req.headers.cookie === 'session=good' || req.headers.authorization === 'Bearer good') {
    res.writeHead(200, { 'X-Auth-Request-User': 'alice', 'X-Auth-Request-Email': 'alice@example.com', 'X-Other': 'no' });
    res.end();
  } else if (req.headers['x-forwarded-uri'].startsWith('/login-redirect')) {
    res.writeHead(302, { Location: 'https://sso.example.com/login', 'Set-Cookie': 'state=1' });
    res.end();
  } else {
    res.writeHead(401, { 'Content-Type': 'application/json', 'WWW-Authenticate': 'Bearer realm="sso"' });
    res.end('{"error":"sso says no"}');
  }
}

test('forward auth: 2xx lets the request through with copied headers; forged ones are dropped', async (t) => {
  const a = await authServer(t, sso);
  const { tg } = await authPair(t, [`auth forward http://127.0.0.1:${a.port}/verify { copy_headers X-Auth-Request-User X-Auth-Request-Email; }`]);
  const r = await request(tg.port, { method: 'POST', path: '/api/generate?x=1', body: GEN(),
    headers: { Cookie: 'session=good', 'X-Auth-Request-User': 'mallory', 'X-Mock-Echo': '1', Host: 'ollama.example.com' } });
  assert.equal(r.status, 200, r.text);
  const h = r.json().headers;
  assert.equal(hdr(h, 'x-auth-request-user'), 'alice');
  assert.equal(hdr(h, 'x-auth-request-email'), 'alice@example.com');
  assert.equal(hdr(h, 'x-other'), undefined);
  assert.equal(hdr(h, 'cookie'), undefined);
  const s = a.seen[0];
  assert.equal(s.method, 'POST');
  assert.equal(s.url, '/verify');
  assert.equal(s.headers['x-forwarded-uri'], '/api/generate?x=1');
  assert.equal(s.headers['x-forwarded-method'], 'POST');
  assert.equal(s.headers['x-forwarded-host'], 'ollama.example.com');
  assert.equal(s.headers['x-forwarded-for'], '127.0.0.1');
  assert.equal(s.headers.cookie, 'session=good');
});

test('forward auth: 401 and 302 answers go back to the client as they are', async (t) => {
  const a = await authServer(t, sso);
  const { tg } = await authPair(t, [`auth forward http://127.0.0.1:${a.port}/verify;`]);
  const r = await request(tg.port, { path: '/api/tags', headers: { Authorization: 'Bearer bad' } });
  assert.equal(r.status, 401);
  assert.equal(r.text, '{"error":"sso says no"}');
  assert.equal(r.headers['www-authenticate'], 'Bearer realm="sso"');
  const l = await request(tg.port, { path: '/login-redirect' });
  assert.equal(l.status, 302);
  assert.equal(l.headers.location, 'https://sso.example.com/login');
  assert.equal(l.headers['set-cookie'][0], 'state=1');
  const ok = await request(tg.port, { path: '/api/tags', headers: { Authorization: 'Bearer good' } });
  assert.equal(ok.status, 200);
});

test('forward auth: down gives 502, hanging gives 503 after the timeout', async (t) => {
  const down = await freePort();
  const hang = await authServer(t, () => { /* never answers */ });
  const { tg } = await authPair(t, [`auth forward http://127.0.0.1:${down}/verify;`]);
  const r = await request(tg.port, { path: '/api/tags', headers: { Cookie: 'session=good' } });
  assert.equal(r.status, 502);
  const { tg: tg2 } = await authPair(t, [`auth forward http://127.0.0.1:${hang.port}/verify { timeout 300ms; }`]);
  const t0 = Date.now();
  const h = await request(tg2.port, { path: '/api/tags', headers: { Cookie: 'session=good' } });
  const took = Date.now() - t0;
  assert.equal(h.status, 503);
  assert.ok(took >= 250 && took < 3000, `503 after ${took} ms`);
});

test('forward auth: a client that leaves while the auth server thinks is not a problem', async (t) => {
  const slow = await authServer(t, (req, res) => setTimeout(() => { res.writeHead(200); res.end(); }, 300));
  const { tg } = await authPair(t, [`auth forward http://127.0.0.1:${slow.port}/verify;`]);
  const gone = request(tg.port, { path: '/api/tags', timeoutMs: 50 }).catch(() => 'aborted');
  assert.equal(await gone, 'aborted');
  await new Promise((r) => setTimeout(r, 500));
  const ok = await request(tg.port, { path: '/api/tags' });
  assert.equal(ok.status, 200);
});

test('forward auth: the copied identity headers cannot be forged on open routes or with other credentials', async (t) => {
  const a = await authServer(t, sso);
  const { createHash } = await import('node:crypto');
  const { writeFileSync } = await import('node:fs');
  const dir = t.tmpDir();
  const key = 'tg-key-for-forged-header-test-0123456789';
  writeFileSync(`${dir}/keys`, `bot ${createHash('sha256').update(key).digest('hex')}\n`);
  const { tg } = await authPair(t, [
    `auth keys ${dir}/keys;`,
    `auth forward http://127.0.0.1:${a.port}/verify { copy_headers X-Auth-Request-User; }`,
    'route /api/version { auth off; }',
  ]);
  const forged = { 'X-Auth-Request-User': 'admin', X_Auth_Request_User: 'admin2', 'X-Mock-Echo': '1' };
  const open = await request(tg.port, { method: 'POST', path: '/api/version', body: '{}', headers: forged });
  assert.equal(open.status, 200, open.text);
  assert.equal(hdr(open.json().headers, 'x-auth-request-user'), undefined, 'forged on an open route');
  const withKey = await request(tg.port, { method: 'POST', path: '/api/generate', body: GEN(), headers: { ...forged, Authorization: `Bearer ${key}` } });
  assert.equal(withKey.status, 200, withKey.text);
  assert.equal(hdr(withKey.json().headers, 'x-auth-request-user'), undefined, 'forged beside an API key');
});

test('forward auth: copy_headers refuses framing and forwarding names at load', async (t) => {
  const dir = t.tmpDir();
  const { writeFileSync } = await import('node:fs');
  const { execFileSync } = await import('node:child_process');
  writeFileSync(`${dir}/t.conf`, 'upstream o { server 127.0.0.1:1; }\nsite _ { listen 127.0.0.1:1;\n  auth forward http://127.0.0.1:2/ { copy_headers X-User Content-Length Transfer_Encoding; }\n}\n');
  let out = '';
  try { execFileSync(t.tollgateBin, ['-t', '-c', `${dir}/t.conf`], { stdio: 'pipe' }); } catch (e) { out = String(e.stderr); }
  assert.match(out, /t\.conf:3:\d+: 'Content-Length' cannot be copied/);
  assert.match(out, /'Transfer_Encoding' cannot be copied/);
});

test('forward auth: X-Forwarded-Proto names the listener the client came in on (https on a TLS listener)', async (t) => {
  const a = await authServer(t, sso);
  const mock = await t.mock();
  const dir = t.tmpDir();
  const cert = makeCert(dir, 'a.test');
  const port = await freePort();
  const conf = path.join(dir, 'tollgate.conf');
  writeFileSync(conf, `workers 1;\nupstream o { server 127.0.0.1:${mock.port}; }\n` +
    `site a.test {\n  listen 127.0.0.1:${port} tls;\n  tls cert ${cert.cert} key ${cert.key};\n` +
    `  auth forward http://127.0.0.1:${a.port}/verify;\n  proxy o;\n}\n`);
  await t.tollgate({ port, configFile: conf });
  const conn = await new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', servername: 'a.test', ca: cert.pem }, () => resolve(new RawConn(s)));
    s.once('error', reject);
  });
  await conn.send({ path: '/api/tags', headers: { Cookie: 'session=good' } });
  const r = await conn.response();
  conn.destroy();
  assert.equal(r.status, 200);
  assert.equal(a.seen[0].headers['x-forwarded-proto'], 'https');
  const plain = await t.tollgate({ plain: true, config: (p) => authConfig({ port: p, upstream: `127.0.0.1:${mock.port}`,
    lines: [`auth forward http://127.0.0.1:${a.port}/verify;`] }) });
  assert.equal((await request(plain.port, { path: '/api/tags', headers: { Cookie: 'session=good' } })).status, 200);
  assert.equal(a.seen[1].headers['x-forwarded-proto'], 'http');
});
