// TLS termination: protocols, ciphers, ALPN, SNI, session resumption,
// certificates reloaded when their files change (and a bad file refused),
// the redirect listener, and config errors. Every other test file also runs
// over TLS in TLS mode (lib/tls.mjs); these tests set up TLS themselves.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { test } from '../lib/harness.mjs';
import { RawConn, request } from '../lib/http.mjs';
import { freePort, runToExit, sleep } from '../lib/proc.mjs';
import { makeCert } from '../lib/tls.mjs';
import { assert, hdr, GEN } from '../lib/util.mjs';

// A mock, two certificates (a.test, EC; b.test, RSA) and a tollgate with a
// TLS listener and a redirect listener.
async function tlsSetup(t, { extra = '', workers = 2, admin = null } = {}) {
  const mock = await t.mock();
  const dir = t.tmpDir();
  const a = makeCert(dir, 'a.test');
  const b = makeCert(dir, 'b.test', { rsa: true });
  const redirectPort = await freePort();
  const conf = path.join(dir, 'tollgate.conf');
  const text = (port) => `workers ${workers};\n${admin ? `admin 127.0.0.1:${admin};\n` : ''}upstream o { server 127.0.0.1:${mock.port}; }\n` +
    `site a.test {\n  listen 127.0.0.1:${port} tls;\n  listen 127.0.0.1:${redirectPort} redirect;\n` +
    `  tls cert a.test.pem key a.test.key;\n  tls cert b.test.pem key b.test.key;\n${extra}  proxy o;\n}\n`;
  const port = await freePort();
  writeFileSync(conf, text(port));
  const tg = await t.tollgate({ port, configFile: conf });
  return { mock, tg, dir, a, b, conf, port, redirectPort };
}

// One TLS connection: what was negotiated, and the peer certificate.
function handshake(port, opts = {}) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ...opts }, () => {
      const info = {
        protocol: s.getProtocol(),
        alpn: s.alpnProtocol,
        cipher: s.getCipher().name,
        cn: s.getPeerCertificate().subject?.CN,
        fingerprint: s.getPeerCertificate().fingerprint256,
        reused: s.isSessionReused(),
        session: null,
      };
      s.once('session', (sess) => { info.session = sess; });
      // TLS 1.3 tickets arrive after the handshake: give them a moment.
      setTimeout(() => { s.end(); resolve(info); }, 50);
    });
    s.once('error', reject);
  });
}

function handshakeFails(port, opts) {
  return handshake(port, opts).then(() => false, (e) => e.code || e.message);
}

test('TLS 1.2 and 1.3 are served with forward-secret AEAD ciphers; TLS 1.1 is refused', async (t) => {
  const { port } = await tlsSetup(t);
  const v13 = await handshake(port, { servername: 'a.test' });
  assert.equal(v13.protocol, 'TLSv1.3');
  const v12 = await handshake(port, { servername: 'a.test', maxVersion: 'TLSv1.2' });
  assert.equal(v12.protocol, 'TLSv1.2');
  assert.match(v12.cipher, /^ECDHE-(ECDSA|RSA)-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)$/);
  const v11 = await handshakeFails(port, { servername: 'a.test', minVersion: 'TLSv1', maxVersion: 'TLSv1.1' });
  assert.ok(v11, 'a TLS 1.1 handshake succeeded');
  const cbc = await handshakeFails(port, { servername: 'a.test', maxVersion: 'TLSv1.2', ciphers: 'AES128-SHA:AES256-SHA' });
  assert.ok(cbc, 'RSA key exchange with CBC was accepted');
});

test('ALPN: h2 is chosen when offered, http/1.1 otherwise; with http2 off a client offering only h2 gets none', async (t) => {
  const { port } = await tlsSetup(t);
  assert.equal((await handshake(port, { ALPNProtocols: ['h2', 'http/1.1'] })).alpn, 'h2');
  assert.equal((await handshake(port, { ALPNProtocols: ['http/1.1'] })).alpn, 'http/1.1');
  const off = await tlsSetup(t, { extra: '  http2 off;\n' });
  assert.equal((await handshake(off.port, { ALPNProtocols: ['h2', 'http/1.1'] })).alpn, 'http/1.1');
  assert.equal((await handshake(off.port, { ALPNProtocols: ['h2'] })).alpn, false);
});

test('SNI picks the certificate by name; no SNI or an unknown name gets the first', async (t) => {
  const { port } = await tlsSetup(t);
  assert.equal((await handshake(port, { servername: 'b.test' })).cn, 'b.test');
  assert.equal((await handshake(port, { servername: 'B.Test' })).cn, 'b.test');
  assert.equal((await handshake(port, { servername: 'a.test' })).cn, 'a.test');
  assert.equal((await handshake(port, { servername: 'other.test' })).cn, 'a.test');
  assert.equal((await handshake(port, {})).cn, 'a.test');
});

test('curl --cacert streams NDJSON over TLS, verified against the certificate', async (t) => {
  const { port, a } = await tlsSetup(t);
  const r = spawnSync('curl', ['-sSN', '--cacert', a.cert, '--resolve', `a.test:${port}:127.0.0.1`,
    `https://a.test:${port}/api/generate`, '-d', GEN(), '-w', '\n%{http_code} %{ssl_verify_result}'], { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 0, `curl failed: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n').filter((l) => l);
  assert.equal(lines.pop(), '200 0');
  assert.ok(lines.length > 3, `only ${lines.length} lines`);
  assert.equal(JSON.parse(lines.at(-1)).done, true);
});

test('openssl s_client: TLS 1.2 session resumes from its ticket, on any worker', async (t) => {
  const { port, dir } = await tlsSetup(t, { workers: 2 });
  const sess = path.join(dir, 'sess.pem');
  const first = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'a.test', '-tls1_2', '-sess_out', sess],
    { input: '', encoding: 'utf8', timeout: 10000 });
  assert.match(first.stdout, /^New, TLSv1\.2/m);
  for (let i = 0; i < 4; i++) { // SO_REUSEPORT spreads these over both workers
    const again = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'a.test', '-tls1_2', '-sess_in', sess],
      { input: '', encoding: 'utf8', timeout: 10000 });
    assert.match(again.stdout, /^Reused, TLSv1\.2/m, `connection ${i} did not resume`);
  }
});

// The session's lifetime is the ticket keys' (12 h, docs/tls.md), not
// OpenSSL's default of 7,200 s: the hint each ticket carries says so, for
// TLS 1.2 and 1.3 (the server sends the session's timeout as the hint).
test('session tickets: the lifetime hint is 43200 s (TLS 1.2 and 1.3)', async (t) => {
  const { port, dir } = await tlsSetup(t, { workers: 1 });
  for (const v of ['-tls1_2', '-tls1_3']) {
    const sess = path.join(dir, `sess${v}.pem`);
    // TLS 1.3 sends its ticket after the handshake: keep the connection up
    // until s_client has written the session with its ticket.
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'a.test', v, '-sess_out', sess]);
    let text = '';
    for (let waited = 0; waited < 10000 && !/lifetime hint/.test(text); waited += 100) {
      await sleep(100);
      if (existsSync(sess)) text = spawnSync('openssl', ['sess_id', '-in', sess, '-text', '-noout'], { encoding: 'utf8' }).stdout;
    }
    child.kill();
    assert.match(text, /TLS session ticket lifetime hint: 43200 \(seconds\)/, `${v}: ${text}`);
  }
});

test('TLS 1.3 resumption with a ticket (node client)', async (t) => {
  const { port } = await tlsSetup(t);
  const first = await handshake(port, { servername: 'a.test' });
  assert.ok(first.session, 'no session ticket was sent');
  const second = await handshake(port, { servername: 'a.test', session: first.session });
  assert.equal(second.reused, true);
});

test('records: full 16 KB ones once the handshake is done (during it, at most 4 KB)', async (t) => {
  const { port } = await tlsSetup(t, { workers: 1 });
  const body = GEN({ options: { num_predict: 2 } });
  const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'a.test', '-tls1_3', '-trace']);
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.stdin.write('POST /api/generate HTTP/1.1\r\nHost: a.test\r\nX-Mock-Line-Bytes: 40000\r\n' +
    `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
  await Promise.race([exited, sleep(10000)]);
  child.kill();
  // -trace prints each record's header: "Received Record / Header: / Version / Content Type / Length = N".
  const lens = [...out.matchAll(/Received Record\s+Header:\s+Version[^\n]*\n\s+Content Type[^\n]*\n\s+Length = (\d+)/g)].map((m) => Number(m[1]));
  assert.ok(/"done":true/.test(out), `the response did not arrive whole: ${out.slice(-300)}`);
  // 16,384 bytes of data, the content type and the AEAD tag.
  assert.equal(Math.max(...lens), 16401, `record lengths: ${lens.join(' ')}`);
});

test('X-Forwarded-Proto is https on a TLS listener', async (t) => {
  const { port, a } = await tlsSetup(t);
  const r = await new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', servername: 'a.test', ca: a.pem }, () => resolve(new RawConn(s)));
    s.once('error', reject);
  });
  await r.send({ method: 'POST', path: '/api/generate', headers: { 'X-Mock-Echo': '1', 'Content-Type': 'application/json' }, body: GEN() });
  const resp = await r.response();
  r.destroy();
  assert.equal(resp.status, 200);
  assert.equal(hdr(resp.json().headers, 'x-forwarded-proto'), 'https');
});

test('a certificate file replaced on disk is served without a restart; a bad one is refused and the old stays', async (t) => {
  const { tg, port, dir } = await tlsSetup(t);
  const before = (await handshake(port, { servername: 'a.test' })).fingerprint;
  const c = makeCert(dir, 'new', { names: ['a.test'] });
  copyFileSync(c.key, path.join(dir, 'a.test.key'));
  copyFileSync(c.cert, path.join(dir, 'a.test.pem'));
  let after = before;
  for (let i = 0; i < 50 && after === before; i++) {
    await sleep(100);
    after = (await handshake(port, { servername: 'a.test' })).fingerprint;
  }
  assert.notEqual(after, before, 'the new certificate was not served within 5 s');
  assert.match(tg.stderr, /certificate files changed on disk: reloading/);
  writeFileSync(path.join(dir, 'a.test.pem'), '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
  await tg.waitFor((_o, e) => /reload refused/.test(e), 5000, 'the refused reload');
  assert.match(tg.stderr, /a\.test\.pem/);
  assert.equal((await handshake(port, { servername: 'a.test' })).fingerprint, after, 'the old certificate stopped being served');
});

test('SIGHUP reloads certificates too', async (t) => {
  const { tg, port, dir } = await tlsSetup(t);
  const before = (await handshake(port, { servername: 'b.test' })).fingerprint;
  const c = makeCert(dir, 'b2', { names: ['b.test'] });
  // Same size and mtime tricks aside, SIGHUP reloads whatever the files hold now.
  copyFileSync(c.key, path.join(dir, 'b.test.key'));
  copyFileSync(c.cert, path.join(dir, 'b.test.pem'));
  tg.child.kill('SIGHUP');
  await tg.waitFor((_o, e) => /reloaded/.test(e), 5000, 'the reload');
  assert.notEqual((await handshake(port, { servername: 'b.test' })).fingerprint, before);
});

test('the redirect listener answers 308 to https:// with the TLS port, path and query', async (t) => {
  const { port, redirectPort } = await tlsSetup(t);
  const g = await request(redirectPort, { path: '/api/tags?x=1', headers: { Host: 'a.test' } });
  assert.equal(g.status, 308);
  assert.equal(g.headers.location, `https://a.test:${port}/api/tags?x=1`);
  const p = await request(redirectPort, { method: 'POST', path: '/api/generate', body: GEN(), headers: { Host: 'a.test:80' } });
  assert.equal(p.status, 308, 'a POST is redirected with its method kept');
  assert.equal(p.headers.location, `https://a.test:${port}/api/generate`);
  const v6 = await request(redirectPort, { path: '/', headers: { Host: '[::1]:8080' } });
  assert.equal(v6.headers.location, `https://[::1]:${port}/`);
  const bad = await request(redirectPort, { path: '/', headers: { Host: 'a.test\tx' } }).catch(() => null);
  if (bad) assert.equal(bad.headers.location, `https://a.test:${port}/`, 'an invalid Host falls back to the site name');
});

test('bytes that are not TLS close the connection; the listener keeps serving', async (t) => {
  const { port, a } = await tlsSetup(t);
  const c = await RawConn.connect(port, '127.0.0.1', { plain: true });
  await c.write('GET /api/version HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.ok(await c.waitClose(3000), 'a plain-text request on the TLS port was not closed');
  const r = await new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', servername: 'a.test', ca: a.pem }, () => resolve(new RawConn(s)));
    s.once('error', reject);
  });
  await r.send({ path: '/api/version' });
  assert.equal((await r.response()).status, 200);
  r.destroy();
});

test('metrics: handshakes by result, certificate expiry by name', async (t) => {
  const admin = await freePort();
  const { port, a } = await tlsSetup(t, { admin });
  const first = await handshake(port, { servername: 'a.test' });
  await handshake(port, { servername: 'a.test', session: first.session });
  await handshakeFails(port, { servername: 'a.test', maxVersion: 'TLSv1.1', minVersion: 'TLSv1' });
  // The worker counts a failed handshake after its alert has gone out: the
  // client may ask for the metrics first, so wait for the count (2 s at most).
  let m = '';
  for (let waited = 0; waited <= 2000; waited += 50) {
    m = (await request(admin, { path: '/metrics' })).text;
    if (/^tollgate_tls_handshakes_total\{result="failed"\} 1$/m.test(m)) break;
    await sleep(50);
  }
  assert.match(m, /^tollgate_tls_handshakes_total\{result="new"\} 1$/m);
  assert.match(m, /^tollgate_tls_handshakes_total\{result="resumed"\} 1$/m);
  assert.match(m, /^tollgate_tls_handshakes_total\{result="failed"\} 1$/m);
  const exp = /^tollgate_tls_certificate_expiry_seconds\{name="a\.test"\} (\d+)$/m.exec(m);
  assert.ok(exp, `no expiry for a.test in:\n${m.slice(-600)}`);
  const notAfter = Date.parse(new X509Certificate(a.pem).validTo) / 1000;
  assert.equal(Number(exp[1]), notAfter);
  assert.match(m, /^tollgate_tls_certificate_expiry_seconds\{name="b\.test"\} \d+$/m);
});

test('tollgate -t: TLS config errors with file:line:col', async (t) => {
  const dir = t.tmpDir();
  makeCert(dir, 'a');
  makeCert(dir, 'b');
  const conf = path.join(dir, 't.conf');
  writeFileSync(conf, 'upstream o { server 127.0.0.1:1; }\n' +
    'site a { listen 127.0.0.1:1443 tls; tls cert missing.pem key a.key; }\n' +
    'site b { listen 127.0.0.1:1444 tls; tls cert a.pem key b.key; }\n' +
    'site c { listen 127.0.0.1:1445 tls; }\n' +
    'site d { listen 127.0.0.1:1446 tls; tls protocols 1.1; tls cert a.pem; }\n' +
    'site e { listen 127.0.0.1:1447 secure; tls cert a.pem key a.key; }\n');
  const r = await runToExit(t.tollgateBin, ['-t', '-c', conf]);
  assert.equal(r.code, 1);
  const e = r.stderr;
  assert.match(e, /t\.conf:2:46: cannot read certificate .*missing\.pem: No such file or directory/);
  assert.match(e, /t\.conf:3:46: the key in .*b\.key does not match the certificate in .*a\.pem/);
  assert.match(e, /t\.conf:4:17: 'listen 127\.0\.0\.1:1445 tls' needs 'tls cert FILE key FILE;' or 'tls auto;' in site 'c'/);
  assert.match(e, /t\.conf:5:51: 'tls protocols' takes 1\.2 and 1\.3/);
  assert.match(e, /t\.conf:5:60: 'tls cert' takes two files/);
  assert.match(e, /t\.conf:6:6: site 'e' has 'tls' but no 'listen ADDR tls'/);
  assert.match(e, /t\.conf:6:32: 'listen' takes 'tls', 'redirect' or 'h2c' after the address, not 'secure'/);
});
