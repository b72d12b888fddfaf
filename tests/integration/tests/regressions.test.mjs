// Regressions found by the soak (bench/soak.sh): each test replays the exact
// sequence that once broke tollgate.
import net from 'node:net';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { configFor } from '../lib/tls.mjs';
import { test } from '../lib/harness.mjs';
import { sleep } from '../lib/proc.mjs';
import { connectSocket } from '../lib/http.mjs';
import { assert } from '../lib/util.mjs';

const chunkLine = (o) => { const j = JSON.stringify(o) + '\n'; return j.length.toString(16) + '\r\n' + j + '\r\n'; };
const listen = (srv) => new Promise((r) => srv.listen(0, '127.0.0.1', () => r(srv.address().port)));

// A keep-alive fake Ollama: n tokens `gap` ms apart, then the final object
// and the terminal chunk in one write; onEnd runs right after that write.
async function fakeOllama(t, { n = 3, gap = 30, onEnd = () => {} } = {}) {
  const conns = new Set();
  const srv = net.createServer((s) => {
    conns.add(s);
    s.on('close', () => conns.delete(s));
    let acc = '';
    s.setEncoding('latin1');
    s.on('data', (d) => {
      /* one answer per whole request (head + its 2-byte body), however the bytes are split */
      acc += d;
      const end = acc.indexOf('\r\n\r\n');
      if (end < 0 || acc.length < end + 4 + 2) return;
      acc = acc.slice(end + 4 + 2);
      s.write('HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n');
      let i = 0;
      const timer = setInterval(() => {
        if (i < n) return s.write(chunkLine({ response: 'w' + i++, done: false }));
        clearInterval(timer);
        s.write(chunkLine({ response: '', done: true }) + '0\r\n\r\n');
        onEnd();
      }, gap);
      s.on('error', () => clearInterval(timer));
      s.on('close', () => clearInterval(timer));
    });
    s.on('error', () => {});
  });
  const port = await listen(srv);
  t.defer(() => new Promise((r) => { srv.closeAllConnections?.(); srv.close(r); for (const c of conns) c.destroy(); }));
  return port;
}

test('a client reset in the read that ends its response leaves no upstream pointing at it (no use after free)', async (t) => {
  let victim = null;
  const up = await fakeOllama(t, { onEnd: () => victim && (victim.raw || victim).resetAndDestroy() });
  const tg = await t.tollgate({
    config: (port) => `workers 1;\nupstream u { server 127.0.0.1:${up}; timeout idle 1s; }\nsite s { listen 127.0.0.1:${port}; }\n`,
  });
  for (let r = 0; r < 10; r++) {
    await Promise.race([
      new Promise((resolve) => {
        victim = connectSocket(tg.port, '127.0.0.1', () => victim.write('POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}'));
        victim.on('error', () => {});
        victim.on('close', resolve);
      }),
      sleep(3000).then(() => victim.destroy()),
    ]);
    const others = [1, 2, 3].map(() => { const d = connectSocket(tg.port, '127.0.0.1'); d.on('error', () => {}); return d; });
    await sleep(60);
    others.forEach((d) => d.destroy());
  }
  await sleep(1500); /* the upstream idle timer would fire on the freed client now */
  assert.equal(tg.exitCode, null, 'tollgate died');
  assert.ok(!/504 upstream sent no response header/.test(tg.stderr), 'a stale upstream timer answered someone else');
});

test('a keep-alive stream in flight across a reload: the next request on its connection is answered', async (t) => {
  const up = await fakeOllama(t, { n: 15, gap: 100 }); /* long enough for the reload to land mid-stream */
  const tg = await t.tollgate({
    config: (port) => `workers 1;\nupstream u { server 127.0.0.1:${up}; }\nsite s { listen 127.0.0.1:${port}; }\n`,
  });
  const file = path.join(tg.tmp, 'tollgate.conf');
  const req = 'POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}';
  const s = connectSocket(tg.port, '127.0.0.1');
  t.defer(() => s.destroy());
  s.setEncoding('latin1');
  let buf = '';
  let responses = 0;
  const second = new Promise((resolve, reject) => {
    s.on('data', (d) => {
      buf += d;
      if (!buf.includes('\r\n0\r\n\r\n')) return;
      responses++;
      if (responses === 1) {
        buf = '';
        s.write(req); /* right after the first response, on the same connection */
      } else {
        resolve(buf);
      }
    });
    s.on('close', () => reject(new Error(`closed after ${responses} response(s)`)));
  });
  s.write(req);
  for (let i = 0; i < 100 && !buf.includes('\r\n\r\n'); i++) await sleep(20); /* its head went out */
  await sleep(50);
  writeFileSync(file, configFor(tg, `workers 1;\nupstream u { server 127.0.0.1:${up}; }\nsite s { listen 127.0.0.1:${tg.port}; }\n`));
  tg.child.kill('SIGHUP');
  await tg.waitFor((_o, e) => /reloaded/.test(e), 3000, 'the reload line');
  assert.equal(responses, 0, 'the reload landed after the first response: the test proves nothing');
  const r2 = await second;
  assert.match(r2, /^HTTP\/1\.1 200 /);
  assert.match(r2, /\r\nConnection: close\r\n/i, 'the answer after a drain should close the connection');
});
