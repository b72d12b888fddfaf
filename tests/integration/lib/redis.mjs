// Debian's redis-server for the shared-store tests: started by the test on a
// free port with its own data directory (nothing saved), stopped with it.
//   const r = await startRedis(t, { password: 's3cret', args: [...] });
//   r.url ('redis://127.0.0.1:PORT'), r.port, r.signal('SIGSTOP'), await r.restart()
//   await r.command('GET', 'k')   (one RESP command on a connection of its own)
//   const m = await r.monitor(); ...; m.commands() (every command the store ran since), m.stop()
import { existsSync } from 'node:fs';
import net from 'node:net';
import { Proc, freePort, waitConnectable } from './proc.mjs';

const BIN = '/usr/bin/redis-server';

async function launch(t, r) {
  if (!existsSync(BIN)) throw new Error(`${BIN} is not installed: apt-get install -y redis-server (make test installs it through TEST_PKGS)`);
  const args = ['--port', String(r.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', r.dir, ...(r.password ? ['--requirepass', r.password] : []), ...r.args];
  const p = new Proc('redis-server', BIN, args);
  t.procs.push(p);
  const deadline = Date.now() + 10000;
  for (;;) {
    if (p.exited) throw new Error(`redis-server exited (code ${p.exitCode}): ${p.stdout.slice(-800)}`);
    try {
      await waitConnectable(r.port, 200);
      r.proc = p;
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`redis-server does not listen on ${r.port}: ${p.stdout.slice(-800)}`);
    }
  }
}

// RESP: one command out, one reply back (arrays, integers, strings, errors).
function encode(args) {
  let s = `*${args.length}\r\n`;
  for (const a of args) s += `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`;
  return s;
}

function parse(buf, i = 0) {
  const end = buf.indexOf('\r\n', i);
  if (end < 0) return null;
  const type = buf[i], line = buf.slice(i + 1, end);
  if (type === '+' ) return { v: line, next: end + 2 };
  if (type === '-') return { v: new Error(line), next: end + 2 };
  if (type === ':') return { v: Number(line), next: end + 2 };
  if (type === '$') {
    const n = Number(line);
    if (n < 0) return { v: null, next: end + 2 };
    if (buf.length < end + 2 + n + 2) return null;
    return { v: buf.slice(end + 2, end + 2 + n), next: end + 2 + n + 2 };
  }
  if (type === '*') {
    const n = Number(line), out = [];
    let at = end + 2;
    for (let k = 0; k < n; k++) {
      const e = parse(buf, at);
      if (!e) return null;
      out.push(e.v);
      at = e.next;
    }
    return { v: out, next: at };
  }
  throw new Error(`RESP: unexpected '${type}'`);
}

export async function startRedis(t, { password = null, args = [] } = {}) {
  const r = { port: await freePort(), dir: t.tmpDir(), password, args, proc: null };
  r.url = `redis://127.0.0.1:${r.port}`;
  await launch(t, r);
  r.signal = (sig) => r.proc.child.kill(sig);
  // Killed (SIGKILL, after a SIGCONT in case it was stopped) and started
  // again on the same port: empty, as nothing is saved.
  r.kill = async () => {
    r.proc.child.kill('SIGCONT');
    r.proc.child.kill('SIGKILL');
    await r.proc.waitExit(5000);
  };
  r.restart = async () => {
    if (!r.proc.exited) await r.kill();
    await launch(t, r);
  };
  r.command = (...cmd) => new Promise((resolve, reject) => {
    const sock = net.connect(r.port, '127.0.0.1');
    let buf = '';
    const want = password ? 2 : 1;
    const replies = [];
    sock.setEncoding('latin1');
    sock.on('connect', () => sock.write((password ? encode(['AUTH', password]) : '') + encode(cmd)));
    sock.on('data', (d) => {
      buf += d;
      let e;
      while (replies.length < want && (e = parse(buf))) {
        replies.push(e.v);
        buf = buf.slice(e.next);
      }
      if (replies.length === want) {
        sock.destroy();
        const v = replies[want - 1];
        if (v instanceof Error) reject(v);
        else resolve(v);
      }
    });
    sock.on('error', reject);
  });
  // MONITOR on a connection of its own: the commands every client sent,
  // as the lines Redis prints ('1700000000.123456 [0 127.0.0.1:5000] "EVALSHA" ...').
  r.monitor = () => new Promise((resolve, reject) => {
    const sock = net.connect(r.port, '127.0.0.1');
    let buf = '';
    const lines = [];
    let oks = 0;
    const want = password ? 2 : 1;
    sock.setEncoding('latin1');
    sock.on('connect', () => sock.write((password ? encode(['AUTH', password]) : '') + encode(['MONITOR'])));
    sock.on('data', (d) => {
      buf += d;
      let at;
      while ((at = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, at);
        buf = buf.slice(at + 2);
        if (line === '+OK' && oks < want) {
          if (++oks === want) resolve(m);
          continue;
        }
        if (line.startsWith('+')) lines.push(line.slice(1));
      }
    });
    sock.on('error', reject);
    const m = { commands: () => lines.slice(), stop: () => sock.destroy() };
    t.cleanups.push(() => sock.destroy());
  });
  return r;
}
