// Accepting with no descriptor left (EMFILE): tollgate stops accepting for
// a moment instead of accepting and dropping, logs about it at most once a
// second, and serves the waiting connections once descriptors are free.
import net from 'node:net';
import { readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { test } from '../lib/harness.mjs';
import { sleep } from '../lib/proc.mjs';
import { assert } from '../lib/util.mjs';

const ACCEPT_LINE = /accept: too many open files/g;

function openConn(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.once('connect', () => resolve(s));
  });
}

test('accept under EMFILE: waits instead of dropping, logs once a second at most, resumes when descriptors free up', async (t) => {
  const mock = await t.mock();
  const tg = await t.tollgate({
    plain: true,
    config: (port) => `workers 1;\naccess_log off;\nupstream u { server 127.0.0.1:${mock.port}; }\nsite s { listen 127.0.0.1:${port}; }\n`,
  });
  const pid = tg.child.pid;
  const open = readdirSync(`/proc/${pid}/fd`).length;
  const limit = open + 6; // room for a few clients (and one upstream dial once they go)
  execFileSync('prlimit', [`--pid=${pid}`, `--nofile=${limit}:${limit}`]);

  const idle = [];
  t.defer(() => idle.forEach((s) => s.destroy()));
  for (let i = 0; i < 12; i++) idle.push(await openConn(tg.port)); // the kernel completes them all
  await tg.waitFor((_o, e) => e.match(ACCEPT_LINE), 5000, 'an accept line in the error log');
  const firstLineAt = Date.now();

  // A request while no descriptor is free: it waits in the accept queue.
  const waiting = await openConn(tg.port);
  t.defer(() => waiting.destroy());
  let answer = '';
  let closed = false;
  waiting.setEncoding('latin1');
  waiting.on('data', (d) => { answer += d; });
  waiting.on('close', () => { closed = true; });
  waiting.write('GET /api/version HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  await sleep(1500);
  assert.equal(answer, '', `answered while no descriptor was free: ${answer.slice(0, 80)}`);
  assert.ok(!closed, 'the waiting connection was closed instead of waiting');

  idle.forEach((s) => s.destroy()); // descriptors come back
  const deadline = Date.now() + 10000;
  while (!closed && Date.now() < deadline) await sleep(50);
  assert.match(answer, /^HTTP\/1\.1 200 /, `after the descriptors came back: ${JSON.stringify(answer.slice(0, 120))}`);

  const lines = (tg.stderr.match(ACCEPT_LINE) || []).length;
  const seconds = (Date.now() - firstLineAt) / 1000;
  t.note(`${lines} accept line(s) over ${seconds.toFixed(1)} s`);
  assert.ok(lines <= Math.ceil(seconds) + 1, `${lines} accept lines in ${seconds.toFixed(1)} s: a flood`);
  const after = tg.stderr.length;
  assert.equal((await fetch(`http://127.0.0.1:${tg.port}/api/version`)).status, 200, 'a new connection after recovery');
  assert.doesNotMatch(tg.stderr.slice(after), ACCEPT_LINE, 'accept errors after recovery');
});
