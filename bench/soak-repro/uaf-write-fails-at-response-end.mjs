// Reproducer: when tollgate's write to a client fails in the same upstream
// read that completes the response (resp_done already 1), tg_client_close()
// skips tg_relay_abort() (it only aborts when !resp_done), so the upstream
// connection stays ACTIVE with u->client pointing at the tg_client that is
// then freed. Its idle timer fires later on the freed memory (ASan:
// heap-use-after-free in tg_relay_upstream_timeout; without ASan a 504 is
// logged for whatever client reuses the memory, e.g. "DELETE : 504 upstream
// sent no response header within the header timeout", or a crash).
// usage: node uaf-repro.mjs path/to/tollgate [rounds]
import net from 'node:net';
import fs from 'node:fs';
import { spawn } from 'node:child_process';
const bin = process.argv[2];
const rounds = Number(process.argv[3] ?? 20);
const listen = (srv) => new Promise((r) => srv.listen(0, '127.0.0.1', () => r(srv.address().port)));
let victim = null; // the client socket of the current round
// A fake Ollama: 3 tokens 30 ms apart, then the final object and the
// terminal chunk in one write, and at that moment the client resets its
// connection (RST): tollgate reads the end of the response and fails to
// write it in the same callback. Keep-alive upstream.
const up = net.createServer((s) => {
  s.on('data', () => {
    s.write('HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n');
    let i = 0;
    const line = (o) => { const j = JSON.stringify(o) + '\n'; return j.length.toString(16) + '\r\n' + j + '\r\n'; };
    const t = setInterval(() => {
      if (i < 3) return s.write(line({ response: 'w' + i++, done: false }));
      clearInterval(t);
      s.write(line({ response: '', done: true }) + '0\r\n\r\n');
      victim.resetAndDestroy();
    }, 30);
    s.on('error', () => clearInterval(t));
  });
});
const upPort = await listen(up);
const probe = net.createServer();
const tgPort = await listen(probe);
probe.close();
const conf = `/tmp/uaf-repro-${process.pid}.conf`;
fs.writeFileSync(conf, `workers 1;\naccess_log off;\nupstream u { server 127.0.0.1:${upPort}; timeout idle 1s; }\nsite s { listen 127.0.0.1:${tgPort}; }\n`);
const tg = spawn(bin, ['-c', conf], { stdio: ['ignore', 'inherit', 'inherit'] });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
await sleep(500);
for (let r = 0; r < rounds && tg.exitCode === null; r++) {
  await new Promise((resolve) => {
    victim = net.connect(tgPort, '127.0.0.1', () =>
      victim.write('POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}'));
    victim.on('error', () => {});
    victim.on('close', resolve);
  });
  // other clients, to take the freed memory while the idle timer runs
  const others = [1, 2, 3].map(() => { const d = net.connect(tgPort, '127.0.0.1'); d.on('error', () => {}); return d; });
  await sleep(150);
  others.forEach((d) => d.destroy());
}
await sleep(1500);
console.log('tollgate still running:', tg.exitCode === null, 'exit', tg.exitCode, tg.signalCode);
tg.kill('SIGTERM');
up.close();
fs.unlinkSync(conf);
await sleep(500);
process.exit(0);
