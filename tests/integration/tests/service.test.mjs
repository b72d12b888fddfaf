// Running as a service without a service manager: `pid_file`, `user`
// (root dropped once the sockets are bound and the keys read), the warning
// when root has no user to become.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { test } from '../lib/harness.mjs';
import { request } from '../lib/http.mjs';
import { freePort, runToExit, sleep } from '../lib/proc.mjs';
import { makeCert } from '../lib/tls.mjs';
import { assert } from '../lib/util.mjs';

const isRoot = process.getuid() === 0;
const conf = (port, mockPort, top = '') =>
  `${top}\nupstream o { server 127.0.0.1:${mockPort}; }\nsite _ { listen 127.0.0.1:${port}; proxy o; }\n`;

test('pid_file: holds the pid while tollgate runs, removed when it exits', async (t) => {
  const mock = await t.mock();
  const dir = t.tmpDir();
  const pidFile = path.join(dir, 'tollgate.pid');
  const tg = await t.tollgate({ config: (port) => conf(port, mock.port, `pid_file ${pidFile};`) });
  assert.equal(readFileSync(pidFile, 'utf8'), `${tg.child.pid}\n`);
  tg.child.kill('SIGTERM');
  assert.ok(await tg.waitExit(5000), 'tollgate did not exit');
  assert.ok(!existsSync(pidFile), 'the pid file is still there after exit');
});

test('pid_file: a file that cannot be written stops the start, at its line', async (t) => {
  const mock = await t.mock();
  const dir = t.tmpDir();
  const file = path.join(dir, 'tg.conf');
  writeFileSync(file, conf(1, mock.port, `pid_file ${dir}/no/such/dir/tg.pid;`));
  const r = await runToExit(t.tollgateBin, ['-c', file]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /tg\.conf:1:10: cannot write the pid file .*no such file/i);
});

test('user: an unknown user or group is an error at its line (tollgate -t)', async (t) => {
  const dir = t.tmpDir();
  const file = path.join(dir, 'tg.conf');
  writeFileSync(file, 'user no-such-user-tg;\nupstream o { server 127.0.0.1:1; }\nsite _ { listen 127.0.0.1:1; }\n');
  let r = await runToExit(t.tollgateBin, ['-t', '-c', file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /tg\.conf:1:6: 'user': no user named 'no-such-user-tg'/);
  writeFileSync(file, 'user nobody no-such-group-tg;\nupstream o { server 127.0.0.1:1; }\nsite _ { listen 127.0.0.1:1; }\n');
  r = await runToExit(t.tollgateBin, ['-t', '-c', file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /tg\.conf:1:13: 'user': no group named 'no-such-group-tg'/);
});

test('started as root without user: a warning says so (not root: no warning)', async (t) => {
  const { tg } = await t.pair();
  const warned = /warn running as root: add 'user NAME;'/.test(tg.stderr);
  assert.equal(warned, isRoot, `root: ${isRoot}; stderr: ${tg.stderr}`);
});

// The Uid, Gid and effective capabilities of every thread of pid.
function threadCreds(pid) {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const s = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    return { tid, uid: s.match(/^Uid:\s+(.*)$/m)[1], gid: s.match(/^Gid:\s+(.*)$/m)[1], capEff: s.match(/^CapEff:\s+(\S+)/m)[1],
      capPrm: s.match(/^CapPrm:\s+(\S+)/m)[1] };
  });
}

function tlsGet(port, ca, reqPath) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      s.write(`GET ${reqPath} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    });
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (d) => (out += d));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

test('user: every thread runs as the user with only CAP_NET_BIND_SERVICE, the root-only key was read, logs reopen, nothing written where the user may not', async (t) => {
  if (!isRoot) {
    console.log('  skip: the privilege drop needs root (CI runs as root); this run is uid ' + process.getuid());
    t.note('SKIPPED: not root');
    return;
  }
  const mock = await t.mock();
  const dir = t.tmpDir();
  chmodSync(dir, 0o755);
  const { cert, key, pem } = makeCert(dir, 'localhost');
  chmodSync(key, 0o600); // root's alone: read before the drop, never after
  const logs = path.join(dir, 'logs');
  mkdirSync(logs);
  const nobody = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }));
  const nogroup = Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' }));
  chownSync(logs, nobody, nogroup); // the log directory is the user's, for a reopen after rotation
  const log = path.join(logs, 'access.log');
  const port = await freePort();
  const configFile = path.join(dir, 'tg.conf');
  writeFileSync(configFile, `user nobody;\naccess_log ${log};\nupstream o { server 127.0.0.1:${mock.port}; }\n` +
    `site _ { listen 127.0.0.1:${port} tls; tls cert ${cert} key ${key}; proxy o; }\n`);
  const tg = await t.tollgate({ configFile, port });
  assert.match(tg.stderr, /running as user nobody \(uid \d+, gid \d+\)/);
  assert.doesNotMatch(tg.stderr, /running as root/);
  await sleep(100);
  const creds = threadCreds(tg.child.pid);
  assert.ok(creds.length >= 3, `threads: ${JSON.stringify(creds)}`); // main and the 2 workers at least
  for (const c of creds) {
    assert.equal(c.uid, `${nobody}\t${nobody}\t${nobody}\t${nobody}`, `thread ${c.tid}: Uid ${c.uid}`);
    assert.equal(c.gid, `${nogroup}\t${nogroup}\t${nogroup}\t${nogroup}`, `thread ${c.tid}: Gid ${c.gid}`);
    assert.equal(c.capEff, '0000000000000400', `thread ${c.tid}: CapEff ${c.capEff} (want CAP_NET_BIND_SERVICE alone)`);
    assert.equal(c.capPrm, '0000000000000400', `thread ${c.tid}: CapPrm ${c.capPrm}`);
  }
  const res = await tlsGet(tg.port, pem, '/api/version');
  assert.match(res, /^HTTP\/1\.1 200 /, res);
  assert.equal(statSync(log).uid, nobody, 'the access log was not given to the user');
  // After a rotation the user opens the new file.
  renameSync(log, `${log}.1`);
  tg.child.kill('SIGUSR1');
  await tg.waitFor((_o, e) => /log files reopened/.test(e), 3000, 'the reopen line');
  await tlsGet(tg.port, pem, '/api/tags');
  for (let i = 0; i < 60 && !(existsSync(log) && readFileSync(log, 'utf8').includes('/api/tags')); i++) await sleep(50);
  assert.ok(existsSync(log) && readFileSync(log, 'utf8').includes('/api/tags'), 'nothing was written to the new log file');
  assert.equal(statSync(log).uid, nobody);
  assert.doesNotMatch(tg.stderr, /cannot reopen/);
  // Past the drop it cannot write where the user may not: a reload naming a
  // log in root's directory is refused, the file is never made, and the
  // running configuration goes on serving.
  const rootOnly = path.join(dir, 'root-only.log');
  chmodSync(key, 0o644); // a reload reads the key as the user
  writeFileSync(configFile, `user nobody;\naccess_log ${rootOnly};\nupstream o { server 127.0.0.1:${mock.port}; }\n` +
    `site _ { listen 127.0.0.1:${port} tls; tls cert ${cert} key ${key}; proxy o; }\n`);
  tg.child.kill('SIGHUP');
  await tg.waitFor((_o, e) => /reload refused/.test(e), 5000, 'the refused reload');
  assert.match(tg.stderr, /root-only\.log/);
  assert.ok(!existsSync(rootOnly), 'the user wrote into root\'s directory');
  assert.match(await tlsGet(tg.port, pem, '/api/version'), /^HTTP\/1\.1 200 /);
});

test('user then SIGUSR2: the new binary runs as the user, keeps CAP_NET_BIND_SERVICE, takes the sockets over', async (t) => {
  if (!isRoot) {
    console.log('  skip: the privilege drop needs root (CI runs as root); this run is uid ' + process.getuid());
    t.note('SKIPPED: not root');
    return;
  }
  const mock = await t.mock();
  const dir = t.tmpDir();
  chmodSync(dir, 0o755);
  const port = await freePort();
  const pidFile = path.join(dir, 'tg.pid');
  const configFile = path.join(dir, 'tg.conf');
  writeFileSync(configFile, `user nobody;\npid_file ${pidFile};\nupstream o { server 127.0.0.1:${mock.port}; }\n` +
    `site _ { listen 127.0.0.1:${port}; proxy o; }\n`);
  chmodSync(configFile, 0o644);
  const tg = await t.tollgate({ configFile, port });
  const oldPid = tg.child.pid;
  tg.child.kill('SIGUSR2');
  let newPid = 0;
  for (let i = 0; i < 400 && !newPid; i++) {
    const v = Number(readFileSync(pidFile, 'utf8'));
    if (v && v !== oldPid) newPid = v;
    else await sleep(25);
  }
  assert.ok(newPid, `no new pid; stderr: ${tg.stderr}`);
  t.defer(async () => {
    try { process.kill(newPid, 'SIGTERM'); } catch { return; }
    for (let i = 0; i < 200; i++) {
      try { process.kill(newPid, 0); } catch { return; }
      await sleep(25);
    }
  });
  await tg.waitFor((_o, e) => /upgrade: this process \(pid \d+\) stops accepting/.test(e), 10000, 'the handover');
  const s = readFileSync(`/proc/${newPid}/status`, 'utf8');
  const nobody = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }));
  assert.match(s, new RegExp(`^Uid:\\s+${nobody}\\s+${nobody}\\s+${nobody}\\s+${nobody}$`, 'm'));
  assert.match(s, /^CapEff:\s+0000000000000400$/m);
  assert.equal((await request(port, { path: '/api/version', plain: true })).status, 200);
});
