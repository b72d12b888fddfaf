// A pooled upstream connection that turned stale while idle (the upstream
// closed it, or wrote bytes nobody asked for) is never used for the next
// request's answer: the client gets its own response from a clean
// connection, never the stray bytes.
//
// The loop normally sees such a connection first (its reads stay on while
// it is pooled) and drops it. The cases here are the ones it has not seen
// yet: tollgate is stopped (SIGSTOP) while the client's request and the
// stray bytes (or the close) arrive, so that one poll finds both when it
// runs on (SIGCONT), in the order they arrived (epoll's ready list is
// first come, first served). With the request first, the request is
// handled before the pooled connection's bytes, and the connection is
// taken without a recv(MSG_PEEK) (src/upstream/pool.c): for a request
// without a body the read later in the same turn sends the request to
// another connection; a request with a body waits for the end of the
// turn's poll callbacks before anything is written, so the connection's
// read comes first, and the request goes on a new connection. Without
// that wait (written at once, no peek) the two POST cases fail.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from '../lib/harness.mjs';
import { RawConn } from '../lib/http.mjs';
import { startRawUpstream } from '../lib/raw-upstream.mjs';
import { sleep } from '../lib/proc.mjs';

const STRAY = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray';

// The upstream: answers /ok?n=X (any method) with "ok-X".
function startUpstream() {
  return startRawUpstream((s, target) => {
    const m = /^\/ok\?n=([\w-]+)/.exec(target);
    const body = m ? `ok-${m[1]}` : 'nope';
    if (!s.writableEnded) s.write(`HTTP/1.1 ${m ? '200 OK' : '404 Not Found'}\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  });
}

// Every thread of pid stopped (state T), so nothing of it runs meanwhile.
async function waitStopped(pid) {
  for (let i = 0; i < 200; i++) {
    const states = readdirSync(`/proc/${pid}/task`).map((t) => {
      try { return readFileSync(`/proc/${pid}/task/${t}/stat`, 'latin1').replace(/^.*\) /, '')[0]; } catch { return 'T'; }
    });
    if (states.every((s) => s === 'T' || s === 't')) return;
    await sleep(5);
  }
  throw new Error('tollgate did not stop');
}

// One pooled connection goes stale while tollgate is stopped; `first` says
// what arrives first: the client's request ('request') or the upstream's
// stray bytes or close ('upstream').
async function staleCase(t, { first, act, method = 'GET', body = null }) {
  const up = await startUpstream();
  t.defer(() => up.close());
  const tg = await t.tollgate({ upstream: `http://127.0.0.1:${up.port}`, workers: 1, accessLog: 'off' });
  const conn = await RawConn.connect(tg.port);
  t.defer(() => conn.destroy());
  await conn.send({ path: '/ok?n=warm' });
  const warm = await conn.response(5000);
  assert.equal(warm.text(), 'ok-warm');
  await sleep(50);
  assert.equal(up.sockets.size, 1, 'one pooled upstream connection');
  const pooled = [...up.sockets][0];

  tg.child.kill('SIGSTOP');
  t.defer(() => { try { tg.child.kill('SIGCONT'); } catch { /* gone */ } });
  await waitStopped(tg.child.pid);
  const upstreamAct = () => (act === 'close' ? pooled.end() : pooled.write(STRAY));
  if (first === 'upstream') upstreamAct();
  await sleep(30);
  await conn.send({ method, path: '/ok?n=2', body });
  await sleep(30);
  if (first === 'request') upstreamAct();
  await sleep(50); // the bytes are in tollgate's sockets
  tg.child.kill('SIGCONT');

  const r = await conn.response(5000);
  assert.notEqual(r.text(), 'stray', 'the stray bytes were read as the response');
  assert.equal(r.status, 200, `got ${r.status} ${r.text()}`);
  assert.equal(r.text(), 'ok-2');
  // the connection it was answered on is a new one
  const answered = up.log.filter((e) => e.target === '/ok?n=2');
  assert.ok(answered.some((e) => e.conn !== 1), `answered only on the stale connection: ${JSON.stringify(up.log)}`);
  // and the client's connection, and the pool, go on as before
  await conn.send({ path: '/ok?n=3' });
  const next = await conn.response(5000);
  assert.equal(next.text(), 'ok-3');
  t.note(`/ok?n=2 reached the upstream on connection(s) ${answered.map((e) => e.conn).join(', ')}`);
}

test('a pooled connection\'s stray response, arriving after a GET in the same poll, is never the GET\'s answer', async (t) => {
  await staleCase(t, { first: 'request', act: 'stray' });
});

test('a pooled connection closed by the upstream, in the same poll after a GET: the GET is answered on a new connection', async (t) => {
  await staleCase(t, { first: 'request', act: 'close' });
});

test('a pooled connection\'s stray response, arriving before a GET in the same poll, is never the GET\'s answer', async (t) => {
  await staleCase(t, { first: 'upstream', act: 'stray' });
});

test('a pooled connection\'s stray response, arriving after a POST with a body in the same poll, is never its answer', async (t) => {
  await staleCase(t, { first: 'request', act: 'stray', method: 'POST', body: '{"model":"m"}' });
});

test('a pooled connection closed by the upstream, in the same poll after a POST with a body: answered on a new connection', async (t) => {
  await staleCase(t, { first: 'request', act: 'close', method: 'POST', body: '{"model":"m"}' });
});

test('a pooled connection closed by the upstream, in the same poll before a POST with a body: answered on a new connection', async (t) => {
  await staleCase(t, { first: 'upstream', act: 'close', method: 'POST', body: '{"model":"m"}' });
});
