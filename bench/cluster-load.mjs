#!/usr/bin/env node
// bench/cluster-load.mjs: the load of the cluster scenario (bench/cluster.sh).
// CLIENTS clients in a closed loop for SECONDS: each sends one streamed
// /api/generate for a model drawn from the weighted mix, reads it to its
// final line, then sends the next. A client whose request failed (a status
// other than 200, a reset, a stream cut short) waits BACKOFF ms first, as a
// client with a retry would. The draws come from a seeded generator per
// client: every server under test sees the same sequence of models.
//
//   node bench/cluster-load.mjs --port P --clients 16 --seconds 30 \
//     --mix llama3.1:8b=4,qwen2.5:7b=3,mistral:7b=2,gemma2:9b=1 [--seed 1] [--backoff-ms 200]
//
// Prints one JSON line: completed, completed per second, TTFT p50/p99 (ms,
// from sending the request to the first token line, completed requests
// only), and what reached the clients: statuses other than 200 (404, 503,
// other), errors before any token (resets, refusals, a 200 with no token),
// streams cut after their first token; per model.
import http from 'node:http';
import { ndjson, rng } from './load-lib.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const port = Number(args.port);
const clients = Number(args.clients ?? 16);
const seconds = Number(args.seconds ?? 30);
const seed = Number(args.seed ?? 1);
const backoffMs = Number(args['backoff-ms'] ?? 200);
const host = args.host ?? '127.0.0.1';
const mix = (args.mix ?? '').split(',').filter(Boolean).map((s) => {
  const [model, w] = s.split('=');
  return { model, weight: Number(w ?? 1) };
});
if (!port || !mix.length || mix.some((m) => !(m.weight > 0))) {
  console.error('usage: cluster-load.mjs --port P --mix MODEL=W,... [--clients N] [--seconds S] [--seed N] [--backoff-ms N]');
  process.exit(2);
}
const totalWeight = mix.reduce((a, m) => a + m.weight, 0);

function pick(r) {
  let x = r() * totalWeight;
  for (const m of mix) if ((x -= m.weight) < 0) return m.model;
  return mix[mix.length - 1].model;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
const start = performance.now();
const deadline = start + seconds * 1000;
const live = new Set();
const perModel = Object.fromEntries(mix.map((m) => [m.model, { sent: 0, completed: 0, s404: 0, s503: 0, other: 0, errors: 0, cut: 0 }]));
const ttfts = [];
const totals = { sent: 0, completed: 0, s404: 0, s503: 0, other: 0, errors: 0, cut: 0 };

function count(model, key) {
  perModel[model][key]++;
  totals[key]++;
}

// One request; resolves with 'completed', 's404', 's503', 'other', 'errors'
// (failed before its first token) or 'cut' (after it); null when the run
// ended first.
function one(model) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let first = 0;
    let finished = false;
    const end = (v) => {
      if (finished) return;
      finished = true;
      live.delete(req);
      resolve(performance.now() > deadline ? null : v);
    };
    const body = JSON.stringify({ model, prompt: 'Why is the sky blue?', stream: true });
    const req = http.request({ host, port, method: 'POST', path: '/api/generate', agent, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        res.on('end', () => end(res.statusCode === 404 ? 's404' : res.statusCode === 503 ? 's503' : 'other'));
        res.on('error', () => end('errors'));
        return;
      }
      let done = false;
      ndjson(res, (o) => {
        if (o.error) return;
        if (!first) first = performance.now();
        if (o.done) done = true;
      });
      res.on('end', () => {
        if (done && first) ttfts.push(first - t0);
        end(done ? 'completed' : first ? 'cut' : 'errors');
      });
      res.on('error', () => end(first ? 'cut' : 'errors'));
      res.on('aborted', () => end(first ? 'cut' : 'errors'));
    });
    req.on('error', () => end('errors'));
    live.add(req);
    req.end(body);
  });
}

async function client(i) {
  const r = rng(seed * 1000 + i);
  while (performance.now() < deadline) {
    const model = pick(r);
    totals.sent++;
    perModel[model].sent++;
    const v = await one(model);
    if (v === null) break;
    count(model, v);
    if (v !== 'completed') await new Promise((res) => setTimeout(res, Math.min(backoffMs, Math.max(0, deadline - performance.now()))));
  }
}

const stop = setTimeout(() => { for (const req of live) req.destroy(); }, seconds * 1000 + 50);
await Promise.all(Array.from({ length: clients }, (_, i) => client(i)));
clearTimeout(stop);
agent.destroy();

const sorted = ttfts.sort((a, b) => a - b);
const pct = (p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : null);
const r3 = (x) => (x == null ? null : Math.round(x * 1000) / 1000);
console.log(JSON.stringify({
  clients, seconds, seed, backoff_ms: backoffMs,
  completed: totals.completed, completed_per_s: r3(totals.completed / seconds),
  ttft_p50_ms: r3(pct(50)), ttft_p99_ms: r3(pct(99)),
  client_404: totals.s404, client_503: totals.s503, client_other: totals.other, client_errors: totals.errors, client_cut: totals.cut,
  per_model: perModel,
}));
