#!/usr/bin/env node
// bench/affinity-load.mjs: the multi-turn load of the affinity scenario
// (bench/affinity.sh). CLIENTS clients in a closed loop for SECONDS, each
// holding one conversation at a time: TURNS turns of a streamed /api/chat
// whose messages grow (a system prompt of its own, then each question and
// the answer that came back), THINK_MS between turns, then a new
// conversation. Each request carries X-Conversation-Id (what nginx's
// `hash $http_x_conversation_id consistent` routes by; tollgate ignores it).
// Questions and system prompts come from a seeded generator per client:
// every balancer sees the same conversations.
//
//   node bench/affinity-load.mjs --port P --model M [--clients 12] [--seconds 30] [--turns 6]
//     [--think-ms 100] [--seed 1] [--system-bytes 600] [--question-bytes 200]
//
// Prints one JSON line: completed turns (first and follow-up), TTFT p50/p99
// of first and of follow-up turns (ms, from sending to the first token
// line), prompt tokens evaluated per follow-up turn (prompt_eval_count less
// prompt_eval_cached_count, from the final line) and served from the cache,
// and failures.
import http from 'node:http';
import { ndjson, rng } from './load-lib.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const port = Number(args.port);
const model = args.model;
const clients = Number(args.clients ?? 12);
const seconds = Number(args.seconds ?? 30);
const turns = Number(args.turns ?? 6);
const thinkMs = Number(args['think-ms'] ?? 100);
const seed = Number(args.seed ?? 1);
const systemBytes = Number(args['system-bytes'] ?? 600);
const questionBytes = Number(args['question-bytes'] ?? 200);
if (!port || !model) {
  console.error('usage: affinity-load.mjs --port P --model M [--clients N] [--seconds S] [--turns N] [--think-ms N] [--seed N]');
  process.exit(2);
}

const words = ['model', 'cache', 'server', 'token', 'prompt', 'answer', 'history', 'slot', 'gateway', 'latency', 'why', 'how'];
function text(r, bytes) {
  let s = '';
  while (s.length < bytes) s += words[Math.floor(r() * words.length)] + ' ';
  return s.slice(0, bytes);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
const deadline = performance.now() + seconds * 1000;
const live = new Set();
const res = { first: [], follow: [], evaluated: [], cached: [], failed: 0, firstDone: 0, followDone: 0 };

// One streamed turn: { ttft, text, evaluated, cached } or null (failed, or the run ended).
function chat(messages, convId) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let first = 0, out = '', fin = null, finished = false;
    const end = (v) => {
      if (finished) return;
      finished = true;
      live.delete(req);
      resolve(performance.now() > deadline ? undefined : v);
    };
    const body = JSON.stringify({ model, messages, stream: true });
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/api/chat', agent,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'X-Conversation-Id': convId } }, (r) => {
      if (r.statusCode !== 200) { r.resume(); r.on('end', () => end(null)); return; }
      ndjson(r, (o) => {
        if (o.error) return;
        if (!first) first = performance.now();
        if (o.message?.content) out += o.message.content;
        if (o.done) fin = o;
      });
      r.on('end', () => end(fin ? { ttft: first - t0, text: out, evaluated: fin.prompt_eval_count - (fin.prompt_eval_cached_count ?? 0), cached: fin.prompt_eval_cached_count ?? 0 } : null));
      r.on('error', () => end(null));
      r.on('aborted', () => end(null));
    });
    req.on('error', () => end(null));
    live.add(req);
    req.end(body);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, Math.min(ms, deadline - performance.now()))));

async function client(i) {
  const r = rng(seed * 1000 + i);
  for (let conv = 0; performance.now() < deadline; conv++) {
    const id = `c${seed}-${i}-${conv}`;
    const messages = [{ role: 'system', content: `Conversation ${id}. ${text(r, systemBytes)}` }];
    for (let k = 0; k < turns && performance.now() < deadline; k++) {
      messages.push({ role: 'user', content: text(r, questionBytes) });
      const a = await chat(messages, id);
      if (a === undefined) return;
      if (a === null) { res.failed++; break; } // a failed turn ends the conversation
      if (k === 0) { res.first.push(a.ttft); res.firstDone++; } else {
        res.follow.push(a.ttft); res.followDone++; res.evaluated.push(a.evaluated); res.cached.push(a.cached);
      }
      messages.push({ role: 'assistant', content: a.text });
      await sleep(thinkMs);
    }
  }
}

const stop = setTimeout(() => { for (const req of live) req.destroy(); }, seconds * 1000 + 50);
await Promise.all(Array.from({ length: clients }, (_, i) => client(i)));
clearTimeout(stop);
agent.destroy();

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? Math.round(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] * 10) / 10 : null;
};
const mean = (xs) => (xs.length ? Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 10) / 10 : null);
console.log(JSON.stringify({
  clients, seconds, turns, think_ms: thinkMs, seed,
  completed_turns: res.firstDone + res.followDone, completed_first: res.firstDone, completed_followups: res.followDone,
  first_ttft_p50_ms: pct(res.first, 50), first_ttft_p99_ms: pct(res.first, 99),
  followup_ttft_p50_ms: pct(res.follow, 50), followup_ttft_p99_ms: pct(res.follow, 99),
  followup_evaluated_mean: mean(res.evaluated), followup_cached_mean: mean(res.cached), failed: res.failed,
}));
