// Zero-downtime binary upgrade (SIGUSR2) and socket activation: the new
// process takes the listening sockets over without a bind, the old one
// drains; a new process that cannot start leaves the old one serving.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from '../lib/harness.mjs';
import { clientRequest, request } from '../lib/http.mjs';
import { freePort, sleep } from '../lib/proc.mjs';
import { assert, GEN } from '../lib/util.mjs';

const conf = (port, mockPort, pidFile, admin) =>
  `pid_file ${pidFile};\n${admin ? `admin 127.0.0.1:${admin};\n` : ''}workers 2;\n` +
  `upstream o { server 127.0.0.1:${mockPort}; }\nsite _ { listen 127.0.0.1:${port}; proxy o; }\n`;

// One streamed generation; resolves with its lines and whether it ended whole.
function stream(port, tokens, delay) {
  return new Promise((resolve) => {
    const out = { lines: 0, done: false, ended: false, error: null };
    let tail = '';
    const req = clientRequest({ host: '127.0.0.1', port, method: 'POST', path: '/api/generate', agent: false,
      headers: { 'Content-Type': 'application/json', 'X-Mock-Tokens': String(tokens), 'X-Mock-Delay-Ms': String(delay) } }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (d) => {
        const parts = (tail + d).split('\n');
        tail = parts.pop();
        for (const p of parts) if (p) { out.lines++; if (JSON.parse(p).done) out.done = true; }
      });
      res.on('end', () => { out.ended = true; resolve(out); });
      res.on('error', (e) => { out.error = e.message; resolve(out); });
    });
    req.on('error', (e) => { out.error = e.message; resolve(out); });
    req.end(GEN());
  });
}

function alive(pid) {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

async function waitFor(cond, ms, what) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await cond();
    if (v) return v;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

// Whether tg's process has exited: its 'exit', not the 'close' of its pipes,
// which the new process inherited and keeps.
const exited = (tg) => () => tg.exitCode !== null || tg.exitSignal !== null;

// Stops a process the harness does not know (the new one), at the test's end.
function reap(t, pid) {
  t.defer(async () => {
    if (!alive(pid)) return;
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 200 && alive(pid); i++) await sleep(25);
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
}

async function setup(t, { admin = false } = {}) {
  const mock = await t.mock();
  const dir = t.tmpDir();
  const port = await freePort();
  const adminPort = admin ? await freePort() : 0;
  const pidFile = path.join(dir, 'tollgate.pid');
  const configFile = path.join(dir, 'tollgate.conf');
  writeFileSync(configFile, conf(port, mock.port, pidFile, adminPort));
  const tg = await t.tollgate({ configFile, port, plain: true });
  return { mock, tg, port, adminPort, pidFile, configFile };
}

test('SIGUSR2: streams started before end whole, every connection during the upgrade is accepted, the new pid serves', async (t) => {
  const { tg, port, adminPort, pidFile } = await setup(t, { admin: true });
  const oldPid = tg.child.pid;
  const streams = Array.from({ length: 6 }, () => stream(port, 60, 25)); // about 1.5 s each
  await sleep(150);
  // Connections, each new, in 6 parallel loops, from before the signal to after the handover.
  let stop = false;
  const results = { ok: 0, failed: [] };
  const loops = Array.from({ length: 6 }, async () => {
    while (!stop) {
      try {
        const r = await request(port, { path: '/api/version', timeoutMs: 10000, plain: true });
        if (r.status === 200) results.ok++;
        else results.failed.push(`status ${r.status}`);
      } catch (e) {
        results.failed.push(e.code || e.message);
      }
    }
  });
  await sleep(100);
  tg.child.kill('SIGUSR2');
  const newPid = await waitFor(() => {
    const v = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0;
    return v && v !== oldPid ? v : 0;
  }, 15000, 'the new pid in the pid file');
  reap(t, newPid);
  await tg.waitFor((_o, e) => /upgrade: this process \(pid \d+\) stops accepting/.test(e), 15000, 'the handover line');
  const res = await Promise.all(streams);
  await waitFor(exited(tg), 15000, 'the old process to exit after its streams ended');
  await sleep(200);
  stop = true;
  await Promise.all(loops);
  for (const r of res) {
    assert.equal(r.error, null, `a stream failed: ${r.error}`);
    assert.ok(r.done && r.ended, `a stream was cut after ${r.lines} lines`);
    assert.equal(r.lines, 61);
  }
  assert.deepEqual(results.failed, [], `connections failed during the upgrade (${results.ok} succeeded)`);
  assert.ok(results.ok > 20, `only ${results.ok} requests went through during the upgrade`);
  t.note(`${results.ok} requests during the upgrade, none failed`);
  // The new process serves on the same port and on the admin port, and says it is ready.
  assert.ok(alive(newPid));
  assert.equal((await request(port, { path: '/api/version', plain: true })).status, 200);
  assert.equal((await request(adminPort, { path: '/readyz', plain: true })).status, 200);
  assert.equal(readFileSync(pidFile, 'utf8'), `${newPid}\n`, 'the old process removed or rewrote the new pid file');
  assert.match(tg.stderr, new RegExp(`upgrade: the new process \\(pid ${newPid}\\) serves`));
});

test('SIGUSR2 with a broken config: the new process says why and exits, the old one goes on serving', async (t) => {
  const { tg, port, pidFile, configFile } = await setup(t);
  const oldPid = tg.child.pid;
  writeFileSync(configFile, `${readFileSync(configFile, 'utf8')}\nnot_a_directive 1;\n`);
  tg.child.kill('SIGUSR2');
  await tg.waitFor((_o, e) => /upgrade failed: the new process \(pid \d+\) ended before serving/.test(e), 15000, 'the failure line');
  assert.match(tg.stderr, /tollgate\.conf:\d+:1: unknown directive 'not_a_directive'/);
  assert.ok(alive(oldPid));
  assert.equal((await request(port, { path: '/api/version', plain: true })).status, 200);
  assert.equal(readFileSync(pidFile, 'utf8'), `${oldPid}\n`);
  // Fixed, the next SIGUSR2 upgrades.
  writeFileSync(configFile, readFileSync(configFile, 'utf8').replace('not_a_directive 1;', ''));
  tg.child.kill('SIGUSR2');
  const newPid = await waitFor(() => {
    const v = Number(readFileSync(pidFile, 'utf8'));
    return v !== oldPid ? v : 0;
  }, 15000, 'the new pid');
  reap(t, newPid);
  await waitFor(exited(tg), 15000, 'the old process to exit');
  assert.equal((await request(port, { path: '/api/version', plain: true })).status, 200);
});

test('socket activation: a listening socket passed as LISTEN_FDS is served without a bind of its own', async (t) => {
  const mock = await t.mock();
  const dir = t.tmpDir();
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  const configFile = path.join(dir, 'tollgate.conf');
  writeFileSync(configFile, `upstream o { server 127.0.0.1:${mock.port}; }\nsite _ { listen 127.0.0.1:${port}; proxy o; }\n`);
  // sh's own pid is tollgate's once it execs: LISTEN_PID names it.
  const child = spawn('sh', ['-c', `LISTEN_FDS=1 LISTEN_PID=$$ exec "$0" -c "$1"`, t.tollgateBin, configFile],
    { stdio: ['ignore', 'pipe', 'pipe', srv._handle.fd] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  t.defer(async () => {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r() : child.on('exit', r)));
  });
  srv.close(); // node's reference goes: tollgate's is the only one left
  await waitFor(() => /listening on 127\.0\.0\.1/.test(err), 10000, `the listening line; stderr: ${err}`);
  assert.doesNotMatch(err, /cannot listen/);
  assert.equal((await request(port, { path: '/api/version', plain: true })).status, 200);
});
