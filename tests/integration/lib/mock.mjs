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
