// Reproducer (found by bench/soak.sh): a keep-alive stream in flight across a
// SIGHUP ends normally, with no "Connection: close" (its head went out before
// the reload), and then tollgate closes the connection: the client's next
// request on it, sent right after the response, gets a FIN/RST and no answer.
// HTTP/1.1 allows a server to close an idle connection, but a client cannot
// retry a POST safely; HAProxy's `idle-close-on-response` answers one more
// request with Connection: close instead.
// usage: node reload-closes-keepalive.mjs path/to/tollgate
import net from 'node:net';
import fs from 'node:fs';
import { spawn } from 'node:child_process';
const bin = process.argv[2];
const listen = (srv) => new Promise((r) => srv.listen(0, '127.0.0.1', () => r(srv.address().port)));
// A fake Ollama: 5 tokens 100 ms apart, keep-alive.
const up = net.createServer((s) => {
  s.on('data', () => {
    s.write('HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n');
    let i = 0;
    const line = (o) => { const j = JSON.stringify(o) + '\n'; return j.length.toString(16) + '\r\n' + j + '\r\n'; };
    const t = setInterval(() => {
      if (i < 5) return s.write(line({ response: 'w' + i++, done: false }));
      clearInterval(t);
      s.write(line({ response: '', done: true }) + '0\r\n\r\n');
    }, 100);
    s.on('error', () => clearInterval(t));
  });
});
const upPort = await listen(up);
const probe = net.createServer();
const tgPort = await listen(probe);
probe.close();
const conf = `/tmp/reload-repro-${process.pid}.conf`;
fs.writeFileSync(conf, `workers 1;\naccess_log off;\nupstream u { server 127.0.0.1:${upPort}; }\nsite s { listen 127.0.0.1:${tgPort}; }\n`);
const tg = spawn(bin, ['-c', conf], { stdio: ['ignore', 'inherit', 'inherit'] });
await new Promise((r) => setTimeout(r, 500));
const req = 'POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}';
const s = net.connect(tgPort, '127.0.0.1', () => {
  s.write(req);
  setTimeout(() => { tg.kill('SIGHUP'); console.log('SIGHUP sent mid-stream'); }, 250);
});
let buf = '', n = 0;
s.setEncoding('latin1');
s.on('data', (d) => {
  buf += d;
  if (n === 0 && buf.includes('\r\n0\r\n\r\n')) {
    n = 1;
    console.log('response 1 head:', JSON.stringify(buf.slice(0, buf.indexOf('\r\n\r\n'))));
    console.log('response 1 complete, no Connection: close; request 2 on the same connection');
    buf = '';
    s.write(req);
  } else if (n === 1 && buf.includes('\r\n0\r\n\r\n')) { console.log('response 2 ok'); s.destroy(); }
});
const finish = (why) => { console.log(why, '- bytes of response 2:', buf.length); tg.kill('SIGTERM'); up.close(); fs.unlinkSync(conf); setTimeout(() => process.exit(0), 300); };
s.on('error', (e) => finish(`error ${e.code}`));
s.on('end', () => finish('FIN from tollgate'));
