// The nginx limit_req sequences, run against one tollgate
// (tests/limits.test.mjs) and against two sharing one Redis with requests
// alternating between them (tests/shared.test.mjs): the same answers.
// `send(i)` sends the i-th request (to whichever instance) and resolves to
// its response.
import { request } from './http.mjs';
import { sleep } from './proc.mjs';
import { assert } from './util.mjs';

export const embed = (port, headers = {}) => request(port, { method: 'POST', path: '/api/embed', headers,
  body: JSON.stringify({ model: 'nomic-embed-text', input: 'x' }) });

// `limit rate 5r/s burst 10 nodelay per ip;`: 11 of 20 at once (nginx: 1 +
// burst), 429 with Retry-After, then one per 200 ms for 2 s.
export async function burstNodelay(t, send) {
  const first = await Promise.all(Array.from({ length: 20 }, (_, i) => send(i)));
  const ok = first.filter((r) => r.status === 200).length;
  assert.equal(ok, 11, first.map((r) => r.status).join(','));
  const refused = first.find((r) => r.status === 429);
  assert.ok(Number(refused.headers['retry-after']) >= 1, JSON.stringify(refused.headers));
  assert.equal(JSON.parse(refused.text).error, 'rate limit exceeded, please slow down');
  // then one request per 200 ms: poll every 50 ms for 2 s
  const passes = [];
  const t0 = Date.now();
  for (let i = 0; Date.now() - t0 < 2000; i++) {
    const sent = Date.now() - t0; // the limiter sees the arrival, not when the answer gets back
    const r = await send(i);
    if (r.status === 200) passes.push(sent);
    else assert.equal(r.status, 429);
    await sleep(50);
  }
  t.note(`passes after the burst sent at ${passes.join(', ')} ms`);
  assert.ok(passes.length >= 8 && passes.length <= 11, `${passes.length} passes in 2 s`);
  // 200 ms apart at the limiter; a connection's set-up time (a TLS handshake
  // under ASan on a busy machine) moves each arrival, so allow half of it.
  for (let i = 1; i < passes.length; i++) assert.ok(passes[i] - passes[i - 1] >= 100, `gap ${passes[i] - passes[i - 1]} ms`);
  return first;
}

// `limit rate 5r/s burst 3 per ip; limit_status 503;`: of 5 at once, 4 pass
// delayed to the rate (the 4th at ~600 ms), 1 is refused with 503.
export async function delayed(t, send) {
  const t0 = Date.now();
  const rs = await Promise.all(Array.from({ length: 5 }, (_, i) => send(i).then((r) => ({ r, at: Date.now() - t0 }))));
  const ok = rs.filter((x) => x.r.status === 200).map((x) => x.at).sort((a, b) => a - b);
  assert.equal(ok.length, 4, rs.map((x) => x.r.status).join(','));
  assert.equal(rs.filter((x) => x.r.status === 503).length, 1);
  t.note(`delayed answers at ${ok.join(', ')} ms`);
  assert.ok(ok[3] >= 550, `the 4th passed after ${ok[3]} ms, expected ~600`);
}
