// bench/live-status.mjs: how long /status.json takes with N live streams
// (issue 19: under 50 ms with 2,000). Starts the mock Ollama and tollgate
// (2 workers, access log off, an admin listener), opens N slow streams
// through tollgate, waits until /status.json lists them all, then times
// GET /status.json R times with curl (one at a time, a new connection
// each, as a dashboard asks; curl, not this process, whose loop carries
// the N streams) and prints min / median / p95 / max and the size.
//   node bench/live-status.mjs [N=2000] [R=50]     (BUILD=dir picks the build;
//   DELAY_MS=ms between a stream's tokens, default 200: N*1000/DELAY_MS chunks a second)
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import http from 'node:http';
import net from 'node:net';

const N = Number(process.argv[2] || 2000);
const R = Number(process.argv[3] || 50);
const build = process.env.BUILD || 'build';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

function get(port, path) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, body: Buffer.concat(parts) }));
    }).on('error', reject);
  });
}

const mockPort = await freePort(), port = await freePort(), admin = await freePort();
const procs = [];
process.on('exit', () => procs.forEach((p) => p.kill('SIGKILL')));
procs.push(spawn(`${build}/mock-ollama`, ['--listen', `127.0.0.1:${mockPort}`, '--threads', '2', '--quiet'], { stdio: 'inherit' }));
const conf = `workers 2;\naccess_log off;\nadmin 127.0.0.1:${admin};\nupstream ollama { server 127.0.0.1:${mockPort}; }\n` +
  `site _ { listen 127.0.0.1:${port}; proxy ollama; }\n`;
const fs = await import('node:fs');
const confPath = `/tmp/tg-live-status-${process.pid}.conf`;
fs.writeFileSync(confPath, conf);
procs.push(spawn(`${build}/tollgate`, ['-c', confPath], { stdio: ['ignore', 'ignore', 'inherit'] }));
await sleep(500);

const body = JSON.stringify({ model: 'llama3.2', prompt: 'hi' });
for (let i = 0; i < N; i++) {
  const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/api/generate', agent: false,
    headers: { 'X-Mock-Tokens': '100000', 'X-Mock-Delay-Ms': process.env.DELAY_MS || '200', 'Content-Length': Buffer.byteLength(body) } },
  (res) => res.resume());
  req.on('error', () => {});
  req.end(body);
  if (i % 200 === 199) await sleep(50);
}
let listed = 0;
for (let i = 0; i < 300 && listed < N; i++) {
  await sleep(200);
  listed = JSON.parse((await get(admin, '/status.json')).body).streams.length;
}
if (listed < N) { console.error(`only ${listed} of ${N} streams listed`); process.exit(1); }
await sleep(1500); // every stream past its first token
const times = [];
let size = 0;
for (let i = 0; i < R; i++) {
  const { stdout: out } = await promisify(execFile)('curl', ['-s', '-o', '/dev/null', '-w', '%{time_total} %{size_download}', `http://127.0.0.1:${admin}/status.json`]);
  const [t, n] = out.trim().split(' ');
  times.push(Number(t) * 1000);
  size = Number(n);
  await sleep(20);
}
times.sort((a, b) => a - b);
const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))].toFixed(1);
const s = JSON.parse((await get(admin, '/status.json')).body);
console.log(JSON.stringify({ streams: s.streams.length, tokens_per_s_10s: s.windows['10s'].tokens_per_s, bytes: size,
  ms_min: at(0), ms_p50: at(0.5), ms_p95: at(0.95), ms_max: times[times.length - 1].toFixed(1) }));
fs.unlinkSync(confPath);
process.exit(0);
