// Process helpers: free ports, starting the mock Ollama and tollgate, waiting
// for their "listening" line, stopping them and checking their stderr for
// sanitizer reports.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { TLS, tlsConfig, tlsPortClosed, tlsPortOpen } from './tls.mjs';

// Sanitizer report markers: any of these on a process's stderr fails the run.
const SAN_PATTERNS = [
  /ERROR: AddressSanitizer/,
  /ERROR: LeakSanitizer/,
  /LeakSanitizer/,
  /runtime error:/,
  /ERROR: ThreadSanitizer/,
  /WARNING: ThreadSanitizer/,
];

export function sanitizerReport(text) {
  for (const re of SAN_PATTERNS) {
    const m = re.exec(text);
    if (m) {
      const start = Math.max(0, text.lastIndexOf('\n', m.index) + 1);
      return text.slice(start, start + 2000);
    }
  }
  return null;
}

// A port nothing listens on right now: bind to port 0, read it, close.
// The kernel may hand the same port out again once it is closed, so two
// calls in a row could return one port (two listeners of one config then
// overlap): a port is returned at most once per test run.
const handedOut = new Set();
function boundPort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export async function freePort() {
  for (let i = 0; ; i++) {
    const port = await boundPort();
    if (!handedOut.has(port) || i >= 100) {
      handedOut.add(port);
      return port;
    }
  }
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

export function tmpDir(prefix = 'tollgate-it-') {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

let SANITIZER_ENV = {
  // Leak checks at exit, reports on stderr, no abort so the process exits normally.
  ASAN_OPTIONS: process.env.ASAN_OPTIONS ?? 'detect_leaks=1:abort_on_error=0:halt_on_error=1',
  UBSAN_OPTIONS: process.env.UBSAN_OPTIONS ?? 'print_stacktrace=1:halt_on_error=1',
};

// A started child process with captured output.
export class Proc {
  constructor(name, bin, args, opts = {}) {
    this.name = name;
    this.bin = bin;
    this.args = args;
    this.stdout = '';
    this.stderr = '';
    this.exited = false;
    this.exitCode = null;
    this.exitSignal = null;
    this.child = spawn(bin, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...SANITIZER_ENV, ...(opts.env || {}) },
      cwd: opts.cwd,
    });
    this.child.stdout.setEncoding('utf8');
    this.child.stderr.setEncoding('utf8');
    this.child.stdout.on('data', (d) => { this.stdout += d; this._poke(); });
    this.child.stderr.on('data', (d) => { this.stderr += d; this._poke(); });
    this._waiters = [];
    this.exitPromise = new Promise((resolve) => {
      this.child.on('error', (err) => {
        this.stderr += `\n[spawn error: ${err.message}]\n`;
        this.exited = true;
        this._poke();
        resolve();
      });
      this.child.on('exit', (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        this.exited = true;
      });
      this.child.on('close', () => {
        this.exited = true;
        this._poke();
        resolve();
      });
    });
  }

  _poke() {
    const ws = this._waiters;
    this._waiters = [];
    for (const w of ws) w();
  }

  // Wait until fn(stdout, stderr) returns a truthy value, the process exits or the timeout passes.
  async waitFor(fn, timeoutMs, what = 'condition') {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = fn(this.stdout, this.stderr);
      if (v) return v;
      if (this.exited) {
        throw new Error(`${this.name} exited (code ${this.exitCode}, signal ${this.exitSignal}) before ${what}; stderr: ${tail(this.stderr)}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: timed out after ${timeoutMs} ms waiting for ${what}; stderr: ${tail(this.stderr)}`);
      await new Promise((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this._waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  async waitExit(timeoutMs) {
    let timer;
    const r = await Promise.race([
      this.exitPromise.then(() => true),
      new Promise((resolve) => { timer = setTimeout(() => resolve(false), timeoutMs); }),
    ]);
    clearTimeout(timer);
    return r;
  }

  // SIGTERM, wait, SIGKILL if needed. Returns a list of problems (strings).
  async stop(graceMs = 5000) {
    const problems = [];
    if (!this.exited) {
      try { this.child.kill('SIGTERM'); } catch { /* gone */ }
      if (!(await this.waitExit(graceMs))) {
        problems.push(`${this.name} did not exit within ${graceMs} ms of SIGTERM (killed)`);
        try { this.child.kill('SIGKILL'); } catch { /* gone */ }
        await this.waitExit(2000);
      }
    }
    const rep = sanitizerReport(this.stderr);
    if (rep) problems.push(`${this.name} sanitizer report:\n${rep}`);
    return problems;
  }
}

function tail(s, n = 600) {
  s = s.trim();
  return s.length > n ? '...' + s.slice(-n) : s || '(empty)';
}

const LISTEN_RE = /listening on (?:\[?[0-9a-fA-F.:]+\]?):(\d+)/;

// mock-ollama --listen 127.0.0.1:0: read the port from its stderr.
export async function startMock(buildDir, args = [], opts = {}) {
  const bin = path.join(buildDir, 'mock-ollama');
  const p = new Proc('mock-ollama', bin, ['--listen', '127.0.0.1:0', '--quiet', ...args], opts);
  const m = await p.waitFor((_o, e) => LISTEN_RE.exec(e), opts.startTimeout ?? 10000, 'mock-ollama listening line');
  p.port = Number(m[1]);
  p.url = `http://127.0.0.1:${p.port}`;
  return p;
}

// tollgate with CLI flags (listen/upstream chosen here unless given) or a config file.
//   startTollgate(buildDir, { upstream: 'http://127.0.0.1:N', args: [...] })
//   startTollgate(buildDir, { config: (listenPort) => text })
//   wrap: a program tollgate runs under (its path first, tollgate's after)
export async function startTollgate(buildDir, o = {}) {
  const tollgateBin = path.join(buildDir, 'tollgate');
  const bin = o.wrap ?? tollgateBin;
  const port = o.port ?? (await freePort());
  let args;
  let dir = null;
  const tls = TLS && !o.plain && !o.configFile; // TLS mode (lib/tls.mjs), unless the test needs plain HTTP
  if (o.configFile) { // a config file the test wrote itself, used as it is
    args = ['-c', o.configFile, ...(o.args || [])];
  } else if (o.config) {
    dir = tmpDir();
    const file = path.join(dir, 'tollgate.conf');
    const text = typeof o.config === 'function' ? o.config(port) : o.config;
    writeFileSync(file, tls ? tlsConfig(text) : text);
    args = ['-c', file, ...(o.args || [])];
  } else {
    args = ['--listen', `127.0.0.1:${port}`];
    if (o.upstream) args.push('--upstream', o.upstream);
    if (o.workers !== undefined) args.push('--workers', String(o.workers));
    if (o.mount) args.push('--mount', o.mount);
    if (o.accessLog) args.push('--access-log', o.accessLog);
    if (tls) args.push('--tls-cert', TLS.cert, '--tls-key', TLS.key);
    args.push(...(o.args || []));
  }
  const p = new Proc('tollgate', bin, o.wrap ? [tollgateBin, ...args] : args, o);
  p.port = port;
  p.tls = !!tls;
  if (tls) {
    // Only while it runs: a later test's mock may get the same port number,
    // and must then be spoken to in plain HTTP.
    tlsPortOpen(port);
    p.exitPromise.then(() => tlsPortClosed(port));
  }
  p.url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  p.tmp = dir;
  try {
    await p.waitFor((_o, e) => LISTEN_RE.exec(e), o.startTimeout ?? 10000, 'tollgate listening line');
    await waitConnectable(port, 3000);
  } catch (err) {
    await p.stop(1000);
    throw err;
  }
  return p;
}

export function cleanupTmp(p) {
  if (p && p.tmp) {
    try { rmSync(p.tmp, { recursive: true, force: true }); } catch { /* ignore */ }
  }
}

export async function waitConnectable(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${port} not connectable after ${timeoutMs} ms`);
    await sleep(20);
  }
}

// Run a binary to completion (for -t, --help, --version).
export function runToExit(bin, args, { timeoutMs = 10000, env } = {}) {
  return new Promise((resolve) => {
    const child = spawn(bin, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...SANITIZER_ENV, ...(env || {}) },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => { child.kill('SIGKILL'); }, timeoutMs);
    child.on('error', (err) => { clearTimeout(timer); resolve({ code: -1, signal: null, stdout, stderr: stderr + err.message, timedOut: false }); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut: signal === 'SIGKILL' });
    });
  });
}

export function writeTmpFile(name, text) {
  const dir = tmpDir();
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return { dir, file };
}

// A port whose SYNs go unanswered, for dial timeouts: a listening socket
// (perl, from Debian's essential perl-base) that never accepts, with its
// accept queue filled by connections we hold open. Returns { port, close() }.
export async function blackholePort() {
  const script = 'use Socket; socket(S, PF_INET, SOCK_STREAM, 0) or die; ' +
    'bind(S, pack_sockaddr_in(0, inet_aton("127.0.0.1"))) or die; listen(S, 0) or die; ' +
    'my ($p) = unpack_sockaddr_in(getsockname(S)); $| = 1; print "$p\\n"; sleep 600;';
  const child = spawn('perl', ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /^(\d+)\n/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('error', reject);
    child.on('exit', () => reject(new Error('perl exited')));
  });
  const held = [];
  let hung = false;
  for (let i = 0; i < 16 && !hung; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    held.push(s);
    hung = !(await new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), 300);
      s.once('connect', () => { clearTimeout(t); resolve(true); });
    }));
  }
  return {
    port,
    hung,
    close() {
      for (const s of held) s.destroy();
      child.kill('SIGKILL');
    },
  };
}
