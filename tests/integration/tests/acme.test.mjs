// ACME against a real ACME server: Debian's pebble, with
// pebble-challtestsrv answering 127.0.0.1 for every name, so pebble really
// validates against tollgate's listeners. Issuance over HTTP-01 (with
// pebble's badNonce rejections turned up) and TLS-ALPN-01, the chain and
// then a TLS connection checked against pebble's root, a restart that
// reuses the stored certificate, a failed challenge reported in plain
// words and retried, and renewal of short-lived certificates swapped into
// the TLS listener.
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync, existsSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { test } from '../lib/harness.mjs';
import { request } from '../lib/http.mjs';
import { pebblePlan, startPebble } from '../lib/pebble.mjs';
import { freePort } from '../lib/proc.mjs';
import { assert } from '../lib/util.mjs';

function acmeConfig(port, pb, storage, { names = ['a.test'], challenge = 'http-01', retry = '1s 4s', extra = '' } = {}) {
  return `workers 2;
upstream ollama { server 127.0.0.1:1; }
site _ { listen 127.0.0.1:${port}; proxy ollama; }
acme {
  directory ${pb.directory};
  ca_bundle ${pb.caFile};
  email admin@a.test;
  storage ${storage};
  challenge ${challenge};
  agree_tos on;
  names ${names.join(' ')};
  retry ${retry};
}
${extra}`;
}

const ISSUED_RE = /acme: certificate for ([^ ]+(?:, [^ ]+)*) issued in (\d+) ms \((\d+) requests to the CA, (\d+) refused nonces retried\), valid until ([^,]+), renewing after (.+)/g;

function issuedLines(stderr) {
  return [...stderr.matchAll(ISSUED_RE)];
}

function splitPem(text) {
  return text.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) || [];
}

// The stored chain verifies up to pebble's root and names every name.
async function checkChain(pb, storage, names) {
  const dir = path.join(storage, 'certs', names[0]);
  const chain = splitPem(readFileSync(path.join(dir, 'cert.pem'), 'utf8')).map((p) => new X509Certificate(p));
  const root = new X509Certificate(await pb.root());
  assert.ok(chain.length >= 2, `the chain has ${chain.length} certificate(s)`);
  for (const n of names) assert.ok(chain[0].checkHost(n), `the leaf does not name ${n}: ${chain[0].subjectAltName}`);
  for (let i = 0; i + 1 < chain.length; i++) assert.ok(chain[i].verify(chain[i + 1].publicKey), `chain[${i}] is not signed by chain[${i + 1}]`);
  assert.ok(chain.at(-1).verify(root.publicKey), 'the chain does not end at pebble\'s root');
  assert.equal(statSync(path.join(dir, 'key.pem')).mode & 0o777, 0o600, 'key.pem is not 0600');
  assert.equal(statSync(path.join(storage, 'account.key')).mode & 0o777, 0o600, 'account.key is not 0600');
  return chain[0];
}

test('HTTP-01: a certificate for two names, badNonce retried, chain verified; a restart reuses it', async (t) => {
  const port = await freePort();
  // 30% of nonces refused (pebble's default is 5%): every request may need a retry
  const pb = await startPebble(t, { httpPort: port, env: { PEBBLE_WFE_NONCEREJECT: '30' } });
  const storage = path.join(t.tmpDir(), 'acme');
  const names = ['a.test', 'www.a.test'];
  const config = acmeConfig(port, pb, storage, { names });
  const tg = await t.tollgate({ port, config, plain: true });
  const line = await tg.waitFor((_o, e) => issuedLines(e)[0], 20000, 'the certificate to be issued');
  t.note(`HTTP-01 issuance for ${line[1]}: ${line[2]} ms`);
  assert.match(tg.stderr, /acme: ordering certificate for a.test, www.a.test/);
  assert.ok(!/failed/.test(tg.stderr), `a failure was logged: ${tg.stderr}`);
  assert.match(pb.proc.stdout, /reject 30% of good nonces/);
  t.note(`${line[3]} requests to pebble, ${line[4]} refused nonce(s) retried`);
  await checkChain(pb, storage, names);
  await tg.waitFor((_o, e) => /reloaded .*; the previous workers drain/.test(e), 5000, 'the reload after issuance');
  // an unknown token is a 404 from tollgate itself, not a proxied request
  const r = await request(port, { path: '/.well-known/acme-challenge/nope' });
  assert.equal(r.status, 404);
  const serial = new X509Certificate(readFileSync(path.join(storage, 'certs/a.test/cert.pem'))).serialNumber;
  await tg.stop();
  // a restart: the stored certificate is used, no new order
  const tg2 = await t.tollgate({ port, config, plain: true });
  await tg2.waitFor((_o, e) => /acme: certificate for a.test, www.a.test is stored, valid until/.test(e), 5000, 'the stored certificate');
  await new Promise((res) => setTimeout(res, 500));
  assert.ok(!/ordering certificate/.test(tg2.stderr), `a new order at restart: ${tg2.stderr}`);
  assert.equal(new X509Certificate(readFileSync(path.join(storage, 'certs/a.test/cert.pem'))).serialNumber, serial);
  assert.ok(!/account created/.test(tg2.stderr), 'the stored account was not reused');
}, { timeoutMs: 60000 });

test('HTTP-01: a challenge the CA cannot reach is reported in plain words and retried with backoff', async (t) => {
  const port = await freePort();
  const closed = await freePort(); // nothing listens there
  const pb = await startPebble(t, { httpPort: closed });
  const storage = path.join(t.tmpDir(), 'acme');
  const tg = await t.tollgate({ port, plain: true, config: acmeConfig(port, pb, storage, { names: ['b.test'], retry: '1s 2s' }) });
  await tg.waitFor((_o, e) => (e.match(/certificate for b.test failed/g) || []).length >= 2, 20000, 'two failed attempts');
  const m = /acme: certificate for b.test failed: (.*); retrying at (.*)/.exec(tg.stderr);
  assert.ok(m, tg.stderr);
  assert.match(m[1], /^HTTP-01 challenge for b\.test failed: .*/);
  assert.match(m[1], new RegExp(`${closed}.*(refused|connect)`, 'i'), `the reason does not say the port could not be reached: ${m[1]}`);
  t.note(`logged: ${m[0].slice(0, 240)}`);
  assert.ok(!existsSync(path.join(storage, 'certs/b.test/cert.pem')));
}, { timeoutMs: 40000 });

test('renewal: a short-lived certificate is renewed at two thirds of its lifetime and swapped into the TLS listener', async (t) => {
  const mock = await t.mock();
  const httpPort = await freePort();
  const secure = await freePort();
  const pb = await startPebble(t, { httpPort, validitySeconds: 9 });
  const storage = path.join(t.tmpDir(), 'acme');
  const config = tlsAutoConfig({ site: 'c.test', mockPort: mock.port, listens: [httpPort, `${secure} tls`],
    directory: pb.directory, caFile: pb.caFile, storage, challenge: 'http-01' });
  const tg = await t.tollgate({ port: httpPort, config, plain: true });
  await tg.waitFor((_o, e) => issuedLines(e).length >= 1, 20000, 'the first certificate');
  const root = await pb.root();
  const first = new X509Certificate(readFileSync(path.join(storage, 'certs/c.test/cert.pem')));
  const t0 = Date.now();
  await tg.waitFor((_o, e) => (e.match(/reloaded /g) || []).length >= 1, 5000, 'the first reload');
  const p1 = await tlsProbe(secure, 'c.test', root);
  assert.ok(p1.ok && p1.serial === first.serialNumber, `first certificate over TLS: ${p1.error} ${p1.serial}`);
  await tg.waitFor((_o, e) => issuedLines(e).length >= 2, 20000, 'the renewed certificate');
  const waited = Date.now() - t0;
  assert.match(tg.stderr, /acme: certificate for c.test is due for renewal/);
  const second = new X509Certificate(readFileSync(path.join(storage, 'certs/c.test/cert.pem')));
  assert.notEqual(second.serialNumber, first.serialNumber);
  // renewal at 2/3 of 9 s: about 6 s after notBefore, before notAfter
  assert.ok(Date.parse(first.validTo) > Date.now() - 1000, 'renewed only after the old certificate expired');
  await tg.waitFor((_o, e) => (e.match(/reloaded /g) || []).length >= 2, 5000, 'the reload after renewal');
  const p2 = await tlsProbe(secure, 'c.test', root);
  assert.ok(p2.ok && p2.serial === second.serialNumber, `renewed certificate over TLS: ${p2.error} ${p2.serial}`);
  t.note(`renewed ${waited} ms after the first issuance (lifetime 9 s); the TLS listener serves the new one`);
  await checkChain(pb, storage, ['c.test']);
}, { timeoutMs: 60000 });

// A TLS handshake with SNI name, trusting only ca (PEM) when given.
function tlsProbe(port, name, ca) {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: name, ca, rejectUnauthorized: !!ca, ALPNProtocols: ['http/1.1'] });
    s.setTimeout(5000, () => s.destroy(new Error('timeout')));
    s.once('secureConnect', () => {
      const cert = s.getPeerCertificate();
      resolve({ ok: true, authorized: s.authorized, serial: cert.serialNumber, alpn: s.alpnProtocol, ms: Date.now() - t0 });
      s.end();
    });
    s.once('error', (e) => resolve({ ok: false, error: e.message, ms: Date.now() - t0 }));
  });
}

// GET path over TLS with SNI name, verified against ca.
function httpsGet(port, name, ca, p) {
  return new Promise((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, servername: name, ca, path: p, agent: false, headers: { Host: name } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
}

function tlsAutoConfig(o) {
  const listens = o.listens.map((l) => `  listen 127.0.0.1:${l};`).join('\n');
  return `workers 2;
upstream ollama { server 127.0.0.1:${o.mockPort}; }
site ${o.site} {
${listens}
  tls auto${o.names ? ' ' + o.names.join(' ') : ''};
  proxy ollama;
}
acme {
  directory ${o.directory};
  ca_bundle ${o.caFile};
  storage ${o.storage};
  challenge ${o.challenge};
  agree_tos on;
  retry 1s 2s;
}
`;
}

test('TLS-ALPN-01: tls auto refuses handshakes at once until issued, then serves the certificate; a restart reuses it', async (t) => {
  const mock = await t.mock();
  const port = await freePort();
  const plan = await pebblePlan(t); // pebble starts later: the first attempts fail
  const storage = path.join(t.tmpDir(), 'acme');
  const config = tlsAutoConfig({ site: 'a.test', mockPort: mock.port, listens: [`${port} tls`], directory: plan.directory,
    caFile: plan.caFile, storage, challenge: 'tls-alpn-01' });
  const tg = await t.tollgate({ port, config, plain: true });
  const early = await tlsProbe(port, 'a.test');
  assert.equal(early.ok, false, 'a handshake succeeded before any certificate');
  assert.ok(early.ms < 1000, `the refusal took ${early.ms} ms`);
  await tg.waitFor((_o, e) => /tls: handshake for a.test refused: no certificate yet/.test(e), 3000, 'the refusal log line');
  await tg.waitFor((_o, e) => /acme: certificate for a.test failed: cannot reach the CA/.test(e), 5000, 'a failed attempt while the CA is down');
  const pb = await startPebble(t, { tlsPort: port, plan });
  const line = await tg.waitFor((_o, e) => issuedLines(e)[0], 20000, 'the certificate to be issued');
  t.note(`TLS-ALPN-01 issuance for ${line[1]}: ${line[2]} ms, ${line[3]} requests`);
  await tg.waitFor((_o, e) => /reloaded .*; the previous workers drain/.test(e), 5000, 'the reload after issuance');
  const root = await pb.root();
  const leaf = await checkChain(pb, storage, ['a.test']);
  const probe = await tlsProbe(port, 'a.test', root);
  assert.ok(probe.ok && probe.authorized, `TLS after issuance: ${probe.error}`);
  assert.equal(probe.serial, leaf.serialNumber);
  assert.equal(probe.alpn, 'http/1.1');
  const r = await httpsGet(port, 'a.test', root, '/api/version');
  assert.equal(r.status, 200, r.body);
  await tg.stop();
  const tg2 = await t.tollgate({ port, config, plain: true });
  const again = await tlsProbe(port, 'a.test', root); // served from the store at config load
  assert.ok(again.ok && again.authorized && again.serial === leaf.serialNumber, `after a restart: ${again.error}`);
  await tg2.waitFor((_o, e) => /acme: certificate for a.test is stored/.test(e), 5000, 'the stored certificate');
  assert.ok(!/ordering certificate/.test(tg2.stderr), `a new order at restart: ${tg2.stderr}`);
}, { timeoutMs: 60000 });

test('HTTP-01 with tls auto: answered on the redirect listener (other paths get 308), then served over TLS', async (t) => {
  const mock = await t.mock();
  const httpPort = await freePort();
  const secure = await freePort();
  const pb = await startPebble(t, { httpPort });
  const storage = path.join(t.tmpDir(), 'acme');
  const config = tlsAutoConfig({ site: 'd.test', names: ['d.test', 'api.d.test'], mockPort: mock.port,
    listens: [`${httpPort} redirect`, `${secure} tls`], directory: pb.directory, caFile: pb.caFile, storage, challenge: 'http-01' });
  const tg = await t.tollgate({ port: httpPort, config, plain: true });
  const line = await tg.waitFor((_o, e) => issuedLines(e)[0], 20000, 'the certificate to be issued');
  t.note(`HTTP-01 issuance (redirect listener) for ${line[1]}: ${line[2]} ms`);
  await tg.waitFor((_o, e) => /reloaded .*; the previous workers drain/.test(e), 5000, 'the reload after issuance');
  const red = await request(httpPort, { path: '/api/tags', headers: { Host: 'd.test' } });
  assert.equal(red.status, 308);
  const root = await pb.root();
  for (const name of ['d.test', 'api.d.test']) {
    const r = await httpsGet(secure, name, root, '/api/version');
    assert.equal(r.status, 200, `${name}: ${r.body}`);
  }
}, { timeoutMs: 60000 });
