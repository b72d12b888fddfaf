// Talking to the mock Ollama's introspection routes.
import { request } from './http.mjs';
import { sleep } from './proc.mjs';

export async function mockEvents(mock) {
  const r = await request(mock.port, { path: '/_mock/events', headers: { Host: 'localhost' } });
  if (r.status !== 200) throw new Error(`/_mock/events: ${r.status} ${r.text.slice(0, 200)}`);
  return r.json();
}

export async function mockReset(mock) {
  const r = await request(mock.port, { method: 'POST', path: '/_mock/reset', headers: { Host: 'localhost' }, body: '' });
  if (r.status >= 300) throw new Error(`/_mock/reset: ${r.status}`);
}

// Requests the mock saw (optionally only for one path), leaving out its own /_mock routes.
export async function mockRequests(mock, path) {
  const evs = await mockEvents(mock);
  return evs.filter((e) => e.ev === 'request' && !String(e.path).startsWith('/_mock') && (path === undefined || e.path === path));
}

// Poll the event log until pred(events) finds something or the timeout passes.
export async function waitEvent(mock, pred, timeoutMs = 3000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const evs = await mockEvents(mock);
    const hit = evs.find(pred);
    if (hit) return hit;
    if (Date.now() > deadline) return null;
    await sleep(25);
  }
}

// ---- the server simulator and server-wide faults (docs/mock-ollama.md) ----

// Several simulated Ollama servers, one per spec: { models: 'a,b', maxLoaded,
// slots, maxQueue, loadMs, keepAliveMs, tokens, delayMs, port, args }.
// Returns the mocks (each with .port and .url). A spec's port (a dead
// server's) brings that server back on the same port.
export async function startCluster(t, specs) {
  const flag = { models: '--models', maxLoaded: '--max-loaded', slots: '--slots', maxQueue: '--max-queue', loadMs: '--load-ms', keepAliveMs: '--keep-alive-ms', tokens: '--tokens', delayMs: '--delay-ms' };
  const mocks = [];
  for (const spec of specs) {
    const args = [];
    for (const [k, f] of Object.entries(flag)) if (spec[k] !== undefined) args.push(f, String(spec[k]));
    if (spec.port) args.push('--listen', `127.0.0.1:${spec.port}`);
    mocks.push(await t.mock([...args, ...(spec.args || [])]));
  }
  return mocks;
}

// GET /_mock/stats: loads, unloads, completed, busy, not_found, load_ms,
// loading_ms, elapsed_ms, pending, waiting, running.
export async function mockStats(mock) {
  const r = await request(mock.port, { path: '/_mock/stats', headers: { Host: 'localhost' } });
  if (r.status !== 200) throw new Error(`/_mock/stats: ${r.status} ${r.text.slice(0, 200)}`);
  return r.json();
}

// The names of the models a mock has loaded (or is loading), from /api/ps.
export async function mockLoaded(mock) {
  const r = await request(mock.port, { path: '/api/ps', headers: { Host: 'localhost' } });
  if (r.status !== 200) throw new Error(`/api/ps: ${r.status}`);
  return r.json().models.map((m) => m.name).sort();
}

// POST /_mock/fault: mode none, busy, reset, cut (afterTokens) or crash.
export async function mockFault(mock, mode, afterTokens) {
  const body = JSON.stringify(afterTokens === undefined ? { mode } : { mode, after_tokens: afterTokens });
  const r = await request(mock.port, { method: 'POST', path: '/_mock/fault', headers: { Host: 'localhost' }, body });
  if (r.status !== 200) throw new Error(`/_mock/fault ${mode}: ${r.status} ${r.text.slice(0, 200)}`);
}
