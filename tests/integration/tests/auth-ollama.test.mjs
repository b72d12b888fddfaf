// The ollama CLI's signed requests (OLLAMA_AUTH): "METHOD,PATH?ts=TS" signed
// with an ed25519 key, sent as `Authorization: <ssh public key>:<signature>`
// with ?ts=TS in the URL, made here the way api/client.go and auth/auth.go do.
import crypto from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from '../lib/harness.mjs';
import { request } from '../lib/http.mjs';
import { assert } from '../lib/util.mjs';
import { authPair, readLog } from '../lib/auth.mjs';

// An ed25519 key pair and its public key in SSH wire format, base64 (the
// middle field of ~/.ollama/id_ed25519.pub).
function cliKey() {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const str = (b) => { const l = Buffer.alloc(4); l.writeUInt32BE(b.length); return Buffer.concat([l, b]); };
  const wire = Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]);
  return { privateKey, pub: wire.toString('base64') };
}

// What the CLI sends for method and path at unix time ts.
function signed(key, method, p, ts = Math.floor(Date.now() / 1000)) {
  const chal = `${method},${p}?ts=${ts}`;
  const sig = crypto.sign(null, Buffer.from(chal), key.privateKey).toString('base64');
  return { path: `${p}?ts=${ts}`, headers: { Authorization: `${key.pub}:${sig}` } };
}

test('ollama signature: a registered key is admitted; unknown keys, tampering, old ts and replays are refused', async (t) => {
  const dir = t.tmpDir();
  const log = path.join(dir, 'access.log');
  const key = cliKey();
  const stranger = cliKey();
  writeFileSync(path.join(dir, 'ollama-keys'), `# user key\nolga ssh-ed25519 ${key.pub} olga@laptop\n`);
  const { tg } = await authPair(t, [`auth ollama ${dir}/ollama-keys;`], { accessLog: log });
  const s = signed(key, 'POST', '/api/show');
  const ok = await request(tg.port, { method: 'POST', path: s.path, headers: s.headers, body: '{"model":"llama3.2"}' });
  assert.equal(ok.status, 200, ok.text);
  const [rec] = await readLog(log, 1);
  assert.equal(rec.user, 'olga');
  assert.equal(rec.auth, 'ollama');
  const again = await request(tg.port, { method: 'POST', path: s.path, headers: s.headers, body: '{}' });
  assert.equal(again.status, 401, 'a replayed signature was accepted');
  const u = signed(stranger, 'GET', '/api/tags');
  assert.equal((await request(tg.port, { path: u.path, headers: u.headers })).status, 401, 'unknown key');
  const m = signed(key, 'GET', '/api/tags');
  assert.equal((await request(tg.port, { path: m.path.replace('/api/tags', '/api/ps'), headers: m.headers })).status, 401, 'other path');
  const d = signed(key, 'GET', '/api/tags');
  assert.equal((await request(tg.port, { method: 'DELETE', path: d.path, headers: d.headers })).status, 401, 'other method');
  const old = signed(key, 'GET', '/api/tags', Math.floor(Date.now() / 1000) - 600);
  assert.equal((await request(tg.port, { path: old.path, headers: old.headers })).status, 401, 'old ts');
  const nots = signed(key, 'GET', '/api/tags');
  assert.equal((await request(tg.port, { path: '/api/tags', headers: nots.headers })).status, 401, 'no ts');
  const bearer = signed(key, 'GET', '/api/tags');
  const b = await request(tg.port, { path: bearer.path, headers: { Authorization: `Bearer ${bearer.headers.Authorization}` } });
  assert.equal(b.status, 200, 'the Bearer form (doSelfSigned)');
});

test('ollama signature: other spellings of a used signature are replays too', async (t) => {
  const dir = t.tmpDir();
  const key = cliKey();
  writeFileSync(path.join(dir, 'ollama-keys'), `olga ssh-ed25519 ${key.pub}\n`);
  const { tg } = await authPair(t, [`auth ollama ${dir}/ollama-keys;`]);
  const s = signed(key, 'GET', '/api/tags');
  assert.equal((await request(tg.port, { path: s.path, headers: s.headers })).status, 200);
  for (const pad of ['=', '==', '===']) {
    const r = await request(tg.port, { path: s.path, headers: { Authorization: s.headers.Authorization + pad } });
    assert.equal(r.status, 401, `a replay with "${pad}" appended was accepted`);
  }
  const bear = await request(tg.port, { path: s.path, headers: { Authorization: `Bearer ${s.headers.Authorization}` } });
  assert.equal(bear.status, 401, 'a replay in the Bearer form was accepted');
});
