// Streams N concurrent generations from the mock Ollama (directly or through
// a proxy) and measures, per chunk, the time from the mock's write (its
// CLOCK_MONOTONIC stamp, `mock_t_ns`) to its arrival here
// (process.hrtime.bigint(), the same clock). Prints one JSON line:
// {streams, chunks, lost, p50_us, p99_us, max_us, ttfc_p50_ms, ttfc_p99_ms}.
// usage: node bench/stream-latency.mjs --port P [--streams 200] [--tokens 100] [--delay-ms 20]
import net from 'node:net';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const port = Number(args.port);
const streams = Number(args.streams ?? 200);
const tokens = Number(args.tokens ?? 100);
const delay = Number(args['delay-ms'] ?? 20);
const body = JSON.stringify({ model: 'llama3.2', prompt: 'bench' });
const request =
  `POST /api/generate HTTP/1.1\r\nHost: localhost:11434\r\nContent-Type: application/json\r\n` +
  `X-Mock-Tokens: ${tokens}\r\nX-Mock-Delay-Ms: ${delay}\r\nX-Mock-Stamp: 1\r\n` +
  `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;

const lat = [];
const ttfc = [];
let lost = 0;

function oneStream() {
  return new Promise((resolve) => {
    const start = process.hrtime.bigint();
    let first = true;
    let seen = 0;
    let tail = '';
    const s = net.connect(port, '127.0.0.1', () => s.write(request));
    s.setEncoding('latin1');
    s.on('data', (d) => {
      const now = process.hrtime.bigint();
      const text = tail + d;
      const lines = text.split('\n');
      tail = lines.pop();
      for (const line of lines) {
        const m = /"mock_t_ns":(\d+)/.exec(line);
        if (!m) continue;
        seen++;
        if (first) {
          ttfc.push(Number(now - start) / 1e6);
          first = false;
        }
        lat.push(Number(now - BigInt(m[1])) / 1e3);
      }
    });
    const done = () => {
      lost += Math.max(0, tokens + 1 - seen);
      resolve();
    };
    s.on('close', done);
    s.on('error', () => {});
  });
}

const pct = (a, p) => (a.length ? a[Math.min(a.length - 1, Math.floor((a.length * p) / 100))] : null);
const all = [];
for (let i = 0; i < streams; i++) all.push(oneStream());
await Promise.all(all);
lat.sort((a, b) => a - b);
ttfc.sort((a, b) => a - b);
console.log(
  JSON.stringify({
    streams,
    chunks: lat.length,
    lost,
    p50_us: Math.round(pct(lat, 50)),
    p99_us: Math.round(pct(lat, 99)),
    max_us: Math.round(lat[lat.length - 1] ?? 0),
    ttfc_p50_ms: +pct(ttfc, 50)?.toFixed(2),
    ttfc_p99_ms: +pct(ttfc, 99)?.toFixed(2),
  }),
);
