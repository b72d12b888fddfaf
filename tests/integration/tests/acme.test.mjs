// ACME against a real ACME server: Debian's pebble, with
// pebble-challtestsrv answering 127.0.0.1 for every name, so pebble really
// validates against tollgate's listener. Issuance over HTTP-01 (with
// pebble's badNonce rejections turned up), the chain checked against
// pebble's root, a restart that reuses the stored certificate, a failed
// challenge reported in plain words and retried, and renewal of
// short-lived certificates.
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync, existsSync } from 'node:fs';
import path from 'node:path';
import { test } from '../lib/harness.mjs';
import { request } from '../lib/http.mjs';
import { startPebble } from '../lib/pebble.mjs';
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
  const tg = await t.tollgate({ port, config });
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
  const tg2 = await t.tollgate({ port, config });
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
  const tg = await t.tollgate({ port, config: acmeConfig(port, pb, storage, { names: ['b.test'], retry: '1s 2s' }) });
  await tg.waitFor((_o, e) => (e.match(/certificate for b.test failed/g) || []).length >= 2, 20000, 'two failed attempts');
  const m = /acme: certificate for b.test failed: (.*); retrying at (.*)/.exec(tg.stderr);
  assert.ok(m, tg.stderr);
  assert.match(m[1], /^HTTP-01 challenge for b\.test failed: .*/);
  assert.match(m[1], new RegExp(`${closed}.*(refused|connect)`, 'i'), `the reason does not say the port could not be reached: ${m[1]}`);
  t.note(`logged: ${m[0].slice(0, 240)}`);
  assert.ok(!existsSync(path.join(storage, 'certs/b.test/cert.pem')));
}, { timeoutMs: 40000 });

test('renewal: a short-lived certificate is renewed at two thirds of its lifetime', async (t) => {
  const port = await freePort();
  const pb = await startPebble(t, { httpPort: port, validitySeconds: 9 });
  const storage = path.join(t.tmpDir(), 'acme');
  const tg = await t.tollgate({ port, config: acmeConfig(port, pb, storage, { names: ['c.test'] }) });
  await tg.waitFor((_o, e) => issuedLines(e).length >= 1, 20000, 'the first certificate');
  const first = new X509Certificate(readFileSync(path.join(storage, 'certs/c.test/cert.pem')));
  const t0 = Date.now();
  await tg.waitFor((_o, e) => issuedLines(e).length >= 2, 20000, 'the renewed certificate');
  const waited = Date.now() - t0;
  assert.match(tg.stderr, /acme: certificate for c.test is due for renewal/);
  const second = new X509Certificate(readFileSync(path.join(storage, 'certs/c.test/cert.pem')));
  assert.notEqual(second.serialNumber, first.serialNumber);
  // renewal at 2/3 of 9 s: about 6 s after notBefore, well before notAfter
  assert.ok(Date.parse(first.validTo) > Date.now() - 1000, 'renewed only after the old certificate expired');
  t.note(`renewed ${waited} ms after the first issuance (lifetime 9 s)`);
  await checkChain(pb, storage, ['c.test']);
}, { timeoutMs: 60000 });
