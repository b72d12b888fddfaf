// bench/h2hold.mjs: HTTP/2 connections (and streams) held open over TLS,
// for the h2 scenario's memory figures (bench/h2.sh).
//
//   node bench/h2hold.mjs --port P --conns N [--streams S] [--delay-ms D]
//
// Opens N HTTP/2 connections to https://127.0.0.1:P (ALPN h2, certificate
// not checked), each one's SETTINGS exchanged and a PING answered (so the
// server has read and acknowledged everything the client sent), then, with
// --streams S, S slow `POST /api/generate` streams on each (the mock sends a
// token every D ms, default 5000), and waits for every stream's first chunk.
// Prints `READY {"conns":N,"streams":N*S,...}` once all are there (or
// `FAILED {...}` on a timeout or error) and holds everything until SIGTERM.
import http2 from 'node:http2';

const args = Object.fromEntries(process.argv.slice(2).join(' ').split('--').filter(Boolean).map((a) => {
  const [k, v = '1'] = a.trim().split(/\s+/);
  return [k, v];
}));
const port = Number(args.port);
const conns = Number(args.conns ?? 100);
const perConn = Number(args.streams ?? 0);
const delay = Number(args['delay-ms'] ?? 5000);
const timeoutMs = Number(args['timeout-s'] ?? 60) * 1000;
if (!port) {
  console.error('usage: h2hold.mjs --port P --conns N [--streams S] [--delay-ms D] [--timeout-s T]');
  process.exit(2);
}

const sessions = [];
let failed = 0, firstChunks = 0, errors = 0;
const started = Date.now();
const fail = (why) => {
  console.log(`FAILED ${JSON.stringify({ why, conns: sessions.length, first_chunks: firstChunks, errors })}`);
  process.exit(1);
};
const timer = setTimeout(() => fail('timeout'), timeoutMs);

function open() {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false, servername: 'localhost' });
    s.on('error', (e) => { errors++; reject(e); });
    s.on('goaway', () => { errors++; });
    s.once('remoteSettings', () => {
      s.ping((err) => (err ? reject(err) : resolve(s)));
    });
  });
}

function stream(s, i) {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ model: 'llama3.2', prompt: `hold ${i}` });
    const st = s.request({ ':method': 'POST', ':path': '/api/generate', 'content-type': 'application/json',
      'x-mock-tokens': '1000', 'x-mock-delay-ms': String(delay) });
    st.on('error', (e) => { errors++; reject(e); });
    st.once('data', () => { firstChunks++; resolve(); });
    st.on('data', () => {});
    st.end(body);
  });
}

try {
  // a few connections at a time: a burst of thousands of handshakes at once
  // would measure the listen queue, not the memory
  for (let i = 0; i < conns; i += 50) {
    const batch = [];
    for (let j = i; j < Math.min(conns, i + 50); j++) batch.push(open());
    sessions.push(...(await Promise.all(batch)));
  }
  if (perConn) {
    const all = [];
    sessions.forEach((s, c) => { for (let k = 0; k < perConn; k++) all.push(stream(s, c * perConn + k)); });
    await Promise.all(all);
  }
} catch (e) {
  fail(String(e?.message ?? e));
}
clearTimeout(timer);
console.log(`READY ${JSON.stringify({ conns: sessions.length, streams: firstChunks, errors, open_ms: Date.now() - started })}`);
process.on('SIGTERM', () => {
  for (const s of sessions) s.destroy();
  process.exit(failed ? 1 : 0);
});
setInterval(() => {}, 1 << 30);
