// The soak with faults (issue 3), driven by bench/soak.sh, which builds,
// starts the mock Ollama and tollgate, and hands this script their ports and
// pids. Here: the load, the faults, the reloads, the accounting, the /proc
// sampling, the verdict.
//
// Load: --streams slots through tollgate (plus --control slots straight to
// the mock, to separate the harness's own latency from tollgate's), each
// running POST /api/generate streams back to back, with X-Mock-Stamp: 1,
// 50-200 tokens, 20-50 ms apart. Half the slots use keep-alive connections,
// half send Connection: close. A --fault-pct share of the streams through
// tollgate is cut on purpose, in equal parts: the mock resets the upstream
// connection (X-Mock-Reset-After), closes it (X-Mock-Close-After), stalls
// (X-Mock-Stall-After: tollgate's short `timeout idle` cuts it), or the
// client vanishes (destroy, half of them with an RST). tollgate gets SIGHUP
// every --reload-every s (the config rewritten alternately identical and
// with a harmless change).
//
// Per stream, the client decodes the chunked framing itself and checks: each
// chunk is one NDJSON line; token i says words[i % 21] (the mock's word
// list); mock_t_ns strictly increases; the last object is done:true with
// eval_count = tokens asked; then the terminal chunk. A cut stream must end
// truncated (no final object, no terminal chunk) after exactly N tokens and
// without hanging. The mock's event log (polled and cleared every 2 s) is the
// mock's own word for what it sent (tokens_sent, done/reset/close/disconnect)
// and is matched against the client's count through an X-Soak-Id header.
//
// Phases: idle sample, warm-up (same load, one reload), settle -> the resting
// level; main run (--minutes); settle -> compared with the resting level.
//
// usage (normally through bench/soak.sh):
//   node bench/soak.mjs --port P --mock-port M --tg-pid PID --mock-pid PID
//        --config FILE --access-log FILE --err-log FILE --out FILE.json
//        [--streams 2000] [--minutes 10] [--control 100] [--fault-pct 20]
//        [--reload-every 30] [--warmup 30] [--settle 10] [--idle-timeout-ms 2000]
//        [--keepalive-pct 50] [--seed 1]
//   node bench/soak.mjs --print-config --port P --mock-port M --access-log FILE [--variant 0|1]
import net from 'node:net';
import fs from 'node:fs';
import http from 'node:http';

// ---------- arguments ----------
const argv = process.argv.slice(2);
const args = {};
for (let i = 0; i < argv.length; i++) {
  if (!argv[i].startsWith('--')) continue;
  const k = argv[i].slice(2);
  if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) args[k] = argv[++i];
  else args[k] = true;
}
const num = (k, d) => (args[k] === undefined ? d : Number(args[k]));
const PORT = num('port');
const MOCK_PORT = num('mock-port');
const IDLE_MS = num('idle-timeout-ms', 3000);
const UP_KEEPALIVE_S = num('upstream-keepalive-s', 4);

function configText(variant) {
  // variant 0/1 differ only in the client keep-alive timeout (75s/76s): a
  // harmless change that still makes the reload build a new configuration.
  return `# written by bench/soak.mjs (variant ${variant})
workers 2;
access_log ${args['access-log'] ?? 'off'};
error_log stderr;
drain_timeout 5m;

upstream mock {
    server 127.0.0.1:${MOCK_PORT};
    host_header localhost:11434;
    timeout dial 10s header 60s idle ${IDLE_MS}ms;
    timeout keepalive ${UP_KEEPALIVE_S}s;
    keepalive 64;
}

site soak {
    listen 127.0.0.1:${PORT};
    timeout header 60s body 60s keepalive ${variant ? 76 : 75}s send 60s;
    proxy mock;
}
`;
}
if (args['print-config']) {
  process.stdout.write(configText(num('variant', 0)));
  process.exit(0);
}

const STREAMS = num('streams', 2000);
const MINUTES = num('minutes', 10);
const CONTROL = num('control', Math.max(1, Math.round(STREAMS / 20)));
const FAULT_PCT = num('fault-pct', 20);
const RELOAD_EVERY_S = num('reload-every', 30);
const WARMUP_S = num('warmup', 30);
const SETTLE_S = num('settle', 10);
const KEEPALIVE_PCT = num('keepalive-pct', 50);
const TG_PID = num('tg-pid');
const MOCK_PID = num('mock-pid');
const CONFIG = args.config;
const OUT = args.out;
const SEED = num('seed', 1);
const TAIL_MARGIN_MS = num('tail-margin-ms', 2000); // "no hang": allowed lateness past the expected end (beyond the control lag)
const CUT_EARLY_MS = num('cut-early-ms', 250); // a stall cut may come this much before the idle timeout (loop time is cached per iteration)
const RSS_TOL_MIB = num('rss-tolerance-mib', 8);
const RSS_TOL_PCT = num('rss-tolerance-pct', 25);

// ---------- small helpers ----------
let seed = SEED >>> 0 || 1;
function rand() {
  // mulberry32
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const randint = (a, b) => a + Math.floor(rand() * (b - a + 1));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowNs = () => process.hrtime.bigint();
const t0 = nowNs();
const sinceStartS = () => Number(nowNs() - t0) / 1e9;
const log = (...a) => console.error(`[soak ${sinceStartS().toFixed(1).padStart(6)}s]`, ...a);

const WORDS = [
  'The', ' sky', ' appears', ' blue', ' because', ' molecules', ' in', ' the', ' air', ' scatter', ' short',
  ' blue', ' wavelengths', ' of', ' light', ' more', ' than', ' longer', ' red', ' ones', '.',
];

// Latency histogram: 1 us buckets up to 1 s, beyond that kept exactly.
class Hist {
  constructor() {
    this.b = new Uint32Array(1_000_000);
    this.over = [];
    this.n = 0;
    this.max = 0;
    this.sum = 0;
  }
  add(us) {
    if (us < 0) us = 0;
    this.n++;
    this.sum += us;
    if (us > this.max) this.max = us;
    if (us < 1_000_000) this.b[Math.floor(us)]++;
    else this.over.push(us);
  }
  pct(p) {
    if (!this.n) return null;
    const rank = Math.min(this.n - 1, Math.floor((this.n * p) / 100));
    let acc = 0;
    for (let i = 0; i < this.b.length; i++) {
      acc += this.b[i];
      if (acc > rank) return i;
    }
    this.over.sort((a, b) => a - b);
    return Math.round(this.over[rank - acc] ?? this.max);
  }
  summary() {
    return {
      n: this.n,
      p50_us: this.pct(50),
      p90_us: this.pct(90),
      p99_us: this.pct(99),
      p999_us: this.pct(99.9),
      max_us: Math.round(this.max),
      mean_us: this.n ? Math.round(this.sum / this.n) : null,
    };
  }
}

// ---------- /proc sampling ----------
function procSample(pid) {
  try {
    const st = fs.readFileSync(`/proc/${pid}/status`, 'latin1');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(st)?.[1] ?? NaN);
    const threads = Number(/Threads:\s+(\d+)/.exec(st)?.[1] ?? NaN);
    const fds = fs.readdirSync(`/proc/${pid}/fd`).length;
    return { rss_kib: rss, fds, threads };
  } catch {
    return null;
  }
}
const samples = [];
let tgDied = false;
function sampleNow(phase) {
  const tg = procSample(TG_PID);
  const mock = procSample(MOCK_PID);
  if (!tg) tgDied = true;
  const s = { t_s: +sinceStartS().toFixed(2), phase, live: liveStreams, tg, mock };
  samples.push(s);
  return s;
}

// What tollgate's fds are: for a leak report (sockets with their TCP ends).
function fdDetail(pid) {
  try {
    const tcp = new Map();
    for (const f of ['tcp', 'tcp6']) {
      let text = '';
      try { text = fs.readFileSync(`/proc/${pid}/net/${f}`, 'latin1'); } catch { continue; }
      for (const line of text.split('\n').slice(1)) {
        const c = line.trim().split(/\s+/);
        if (c.length < 10) continue;
        const port = (a) => parseInt(a.split(':')[1], 16);
        const states = { '01': 'ESTABLISHED', '06': 'TIME_WAIT', '07': 'CLOSE', '08': 'CLOSE_WAIT', '0A': 'LISTEN', '04': 'FIN_WAIT1', '05': 'FIN_WAIT2', '09': 'LAST_ACK' };
        tcp.set(c[9], `tcp :${port(c[1])} -> :${port(c[2])} ${states[c[3]] ?? c[3]}`);
      }
    }
    const out = {};
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      let l;
      try { l = fs.readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
      const m = /^socket:\[(\d+)\]$/.exec(l);
      out[fd] = m && tcp.has(m[1]) ? tcp.get(m[1]) : l;
    }
    return out;
  } catch (e) {
    return String(e);
  }
}

// ---------- accounting ----------
const KINDS = ['normal', 'reset', 'close', 'stall', 'vanish'];
const K_NORMAL = 0, K_RESET = 1, K_CLOSE = 2, K_STALL = 3, K_VANISH = 4;
const stats = {
  phase: { warmup: 0, main: 0 },
  started: { normal: 0, reset: 0, close: 0, stall: 0, vanish: 0, control: 0 },
  ok: { normal: 0, reset: 0, close: 0, stall: 0, vanish: 0, control: 0 },
  vanish_rst: 0,
  chunks_received: 0, // NDJSON objects received (all streams, through tollgate)
  chunks_expected_uncut: 0, // tokens + 1 for every normal stream through tollgate
  chunks_received_uncut: 0,
  control_chunks: 0,
  connections: 0,
  keepalive_reuses: 0,
  drain_closes: 0, // keep-alive requests answered with Connection: close (old workers draining)
  ka_races: 0, // reused connection closed before any response byte: retried
  conn_errors: {}, // error codes seen on client sockets
  tail_max_ms: { normal: 0, reset: 0, close: 0, stall: 0, control: 0 },
  stall_tail_min_ms: Infinity,
  excess_max_ms: 0, // max lateness beyond the expected end and the control lag
  duration_overrun_max: 0, // max (duration / nominal) for normal streams
};
const failures = {}; // category -> count
const examples = []; // first failures in detail
function fail(cat, st, detail) {
  failures[cat] = (failures[cat] ?? 0) + 1;
  if (examples.length < 40)
    examples.push({
      cat,
      id: st?.id,
      kind: st ? (st.control ? 'control' : KINDS[st.kind]) : undefined,
      tokens: st?.T,
      delay_ms: st?.D,
      n: st?.N,
      seen: st?.seen,
      keepalive: st?.ka,
      reused: st?.reused,
      t_s: +sinceStartS().toFixed(2),
      detail,
    });
  if (st) st.failed = true;
}
// The direct control streams measure the lag of the machine and of this
// client at each second (max per-chunk latency, ms); a stream's lateness is
// blamed on tollgate only beyond the worst control lag of the 10 s before.
const ctlLag = new Float64Array(1 << 16);
const secNow = (ns) => Math.min(ctlLag.length - 1, Math.floor(Number(ns - t0) / 1e9));
function lagExcuseMs(endNs) {
  const e = secNow(endNs);
  let m = 0;
  for (let i = Math.max(0, e - 10); i <= e; i++) if (ctlLag[i] > m) m = ctlLag[i];
  return m;
}
const latTg = new Hist(); // per chunk, mock write -> client receive, through tollgate
const latCtl = new Hist(); // the same, straight to the mock

// Per-stream record for the mock cross-check (typed arrays by soak id).
let cap = 1 << 16;
let rKind = new Uint8Array(cap), rT = new Uint16Array(cap), rN = new Uint16Array(cap), rSeen = new Uint16Array(cap);
let rEnd = new Float64Array(cap); // client end, ms of CLOCK_MONOTONIC
let rFlags = new Uint8Array(cap); // 1 through tollgate, 2 ended, 4 ka-race (never answered), 8 failed
function grow(id) {
  while (id >= cap) {
    cap *= 2;
    const g = (A, old) => {
      const a = new A(cap);
      a.set(old);
      return a;
    };
    rKind = g(Uint8Array, rKind); rT = g(Uint16Array, rT); rN = g(Uint16Array, rN); rSeen = g(Uint16Array, rSeen);
    rEnd = g(Float64Array, rEnd); rFlags = g(Uint8Array, rFlags);
  }
}

// ---------- the load ----------
let nextId = 1;
let liveStreams = 0;
let stopping = false;
let phase = 'warmup';
const BODY = JSON.stringify({ model: 'llama3.2', prompt: 'Why is the sky blue?' });

function pickSpec(slot) {
  const st = {
    id: nextId++,
    T: randint(50, 200),
    D: randint(20, 50),
    kind: K_NORMAL,
    N: 0,
    rst: false,
    control: slot.control,
    ka: slot.ka,
    seen: 0,
    lastStamp: 0n,
    final: false,
    terminal: false,
    failed: false,
  };
  if (!slot.control && rand() * 100 < FAULT_PCT) {
    st.kind = 1 + Math.floor(rand() * 4);
    st.N = randint(0, st.T - 1);
    if (st.kind === K_VANISH) st.rst = rand() < 0.5;
  }
  return st;
}

function requestText(st, host) {
  let h =
    `POST /api/generate HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n` +
    `X-Mock-Tokens: ${st.T}\r\nX-Mock-Delay-Ms: ${st.D}\r\nX-Mock-Stamp: 1\r\nX-Soak-Id: ${st.id}\r\n`;
  if (st.kind === K_RESET) h += `X-Mock-Reset-After: ${st.N}\r\n`;
  else if (st.kind === K_CLOSE) h += `X-Mock-Close-After: ${st.N}\r\n`;
  else if (st.kind === K_STALL) h += `X-Mock-Stall-After: ${st.N}\r\n`;
  if (!st.ka) h += 'Connection: close\r\n';
  return h + `Content-Length: ${Buffer.byteLength(BODY)}\r\n\r\n${BODY}`;
}

// One connection: a socket, the bytes not parsed yet, the stream it carries.
function newConn(slot) {
  const port = slot.control ? MOCK_PORT : PORT;
  const sock = net.connect({ port, host: '127.0.0.1' });
  stats.connections++;
  const conn = { sock, rest: '', cur: null, alive: true, served: 0, connected: false };
  sock.setNoDelay(true);
  sock.setEncoding('latin1');
  sock.on('connect', () => {
    conn.connected = true;
    if (conn.cur && !conn.cur.sent) sendReq(conn, conn.cur);
  });
  sock.on('data', (d) => {
    const now = nowNs();
    if (!conn.cur) {
      fail('unexpected_bytes', null, `bytes on an idle connection: ${JSON.stringify(d.slice(0, 80))}`);
      sock.destroy();
      return;
    }
    feed(conn, d, now);
  });
  sock.on('error', (e) => {
    stats.conn_errors[e.code ?? e.message] = (stats.conn_errors[e.code ?? e.message] ?? 0) + 1;
    if (conn.cur) conn.cur.errCode = e.code;
  });
  sock.on('close', () => {
    conn.alive = false;
    if (conn.cur) endStream(conn, conn.cur, 'close', nowNs());
  });
  return conn;
}

function sendReq(conn, st) {
  st.sent = true;
  st.tStart = nowNs();
  conn.prevStart = conn.lastStart;
  conn.lastStart = st.tStart;
  conn.sock.write(requestText(st, `127.0.0.1:${st.control ? MOCK_PORT : PORT}`));
}

function feed(conn, data, now) {
  const st = conn.cur;
  let s = conn.rest.length ? conn.rest + data : data;
  let i = 0;
  for (;;) {
    if (st.ended) return;
    if (st.phase === 'head') {
      const j = s.indexOf('\r\n\r\n', i);
      if (j < 0) break;
      const head = s.slice(i, j);
      i = j + 4;
      st.tHead = now;
      const m = /^HTTP\/1\.1 (\d{3})/.exec(head);
      st.status = m ? Number(m[1]) : 0;
      const lower = head.toLowerCase();
      st.chunked = /\r\ntransfer-encoding: *chunked\r\n/.test(lower + '\r\n');
      st.connClose = /\r\nconnection: *close\r\n/.test(lower + '\r\n');
      if (st.status !== 200 || !st.chunked) {
        fail('http_error', st, `status ${st.status}, chunked ${st.chunked}: ${JSON.stringify(head.slice(0, 200))}`);
        st.httpError = true;
        conn.sock.destroy();
        return endStream(conn, st, 'http_error', now);
      }
      if (st.ka && st.connClose && !st.control) stats.drain_closes++;
      st.phase = 'size';
      if (st.kind === K_VANISH && st.N === 0) return vanish(conn, st, now);
    } else if (st.phase === 'size') {
      const j = s.indexOf('\r\n', i);
      if (j < 0) {
        if (s.length - i > 32) {
          fail('protocol', st, `bad chunk size line ${JSON.stringify(s.slice(i, i + 40))}`);
          conn.sock.destroy();
          return endStream(conn, st, 'protocol', now);
        }
        break;
      }
      const line = s.slice(i, j);
      if (!/^[0-9a-fA-F]{1,8}$/.test(line)) {
        fail('protocol', st, `bad chunk size line ${JSON.stringify(line.slice(0, 40))}`);
        conn.sock.destroy();
        return endStream(conn, st, 'protocol', now);
      }
      i = j + 2;
      const n = parseInt(line, 16);
      if (n === 0) st.phase = 'trailer';
      else {
        st.need = n;
        st.phase = 'data';
      }
    } else if (st.phase === 'data') {
      if (s.length - i < st.need + 2) break;
      const chunk = s.substr(i, st.need);
      if (s.substr(i + st.need, 2) !== '\r\n') {
        fail('protocol', st, 'chunk data not followed by CRLF');
        conn.sock.destroy();
        return endStream(conn, st, 'protocol', now);
      }
      i += st.need + 2;
      st.phase = 'size';
      onChunk(conn, st, chunk, now);
    } else if (st.phase === 'trailer') {
      if (s.length - i < 2) break;
      if (s.substr(i, 2) !== '\r\n') {
        fail('protocol', st, `trailer after the last chunk: ${JSON.stringify(s.slice(i, i + 40))}`);
        conn.sock.destroy();
        return endStream(conn, st, 'protocol', now);
      }
      i += 2;
      st.terminal = true;
      st.phase = 'done';
      if (i < s.length) {
        fail('unexpected_bytes', st, `bytes after the response: ${JSON.stringify(s.slice(i, i + 80))}`);
        conn.sock.destroy();
      }
      conn.rest = '';
      return endStream(conn, st, 'complete', now);
    } else break;
  }
  conn.rest = s.slice(i);
}

function onChunk(conn, st, chunk, now) {
  // tollgate keeps the upstream's chunk boundaries: one NDJSON line per chunk.
  const nl = chunk.indexOf('\n');
  if (nl !== chunk.length - 1) fail('chunk_boundary', st, `chunk of ${chunk.length} bytes is not one line`);
  const text = (st.lineRest ?? '') + chunk;
  const lines = text.split('\n');
  st.lineRest = lines.pop();
  for (const line of lines) {
    if (st.ended) return;
    onLine(conn, st, line, now);
  }
}

function onLine(conn, st, line, now) {
  let o;
  try {
    o = JSON.parse(line);
  } catch {
    return fail('bad_json', st, JSON.stringify(line.slice(0, 120)));
  }
  const m = /"mock_t_ns":(\d+)/.exec(line);
  if (!m) return fail('no_stamp', st, JSON.stringify(line.slice(0, 120)));
  const stamp = BigInt(m[1]);
  if (stamp <= st.lastStamp) fail('reordered', st, `mock_t_ns ${stamp} after ${st.lastStamp} at object ${st.seen}`);
  st.lastStamp = stamp;
  const us = Number(now - stamp) / 1e3;
  if (st.control) {
    latCtl.add(us);
    const sec = secNow(now);
    if (us / 1e3 > ctlLag[sec]) ctlLag[sec] = us / 1e3;
    stats.control_chunks++;
  } else {
    latTg.add(us);
    stats.chunks_received++;
    if (st.kind === K_NORMAL) stats.chunks_received_uncut++;
  }
  if (st.final) return fail('after_final', st, 'an object after the final one');
  if (o.done === false) {
    if (st.seen >= st.T) fail('duplicated', st, `token ${st.seen} beyond ${st.T} asked`);
    else if (o.response !== WORDS[st.seen % WORDS.length])
      fail('wrong_token', st, `token ${st.seen} is ${JSON.stringify(o.response)}, want ${JSON.stringify(WORDS[st.seen % WORDS.length])}`);
    st.seen++;
    if (st.kind === K_VANISH && st.seen === st.N) vanish(conn, st, now);
  } else if (o.done === true) {
    st.final = true;
    if (o.done_reason !== 'stop' || o.eval_count !== st.T)
      fail('final_mismatch', st, `done_reason ${o.done_reason}, eval_count ${o.eval_count}, want ${st.T}`);
    if (st.seen !== st.T) fail(st.seen < st.T ? 'lost' : 'duplicated', st, `final after ${st.seen} tokens, want ${st.T}`);
    st.finalAt = now;
  } else fail('bad_json', st, `no done field: ${JSON.stringify(line.slice(0, 120))}`);
}

function vanish(conn, st, now) {
  if (st.rst && typeof conn.sock.resetAndDestroy === 'function') {
    stats.vanish_rst++;
    conn.sock.resetAndDestroy();
  } else conn.sock.destroy();
  endStream(conn, st, 'vanished', now);
}

function endStream(conn, st, how, now) {
  if (st.ended) return;
  st.ended = true;
  st.how = how;
  st.tEnd = now;
  clearTimeout(st.watchdog);
  if (st.lineRest) fail('partial_line', st, `${st.lineRest.length} bytes of an unfinished line`);
  st.resolve();
}

// Runs one stream on the slot's connection (or a new one); resolves when it
// is over and checked.
async function runStream(slot, st) {
  let conn = slot.conn && slot.conn.alive ? slot.conn : null;
  st.reused = !!conn;
  if (conn) stats.keepalive_reuses++;
  else conn = slot.conn = newConn(slot);
  st.phase = 'head';
  st.sent = false;
  conn.cur = st;
  liveStreams++;
  const nominalMs = (st.T + 2) * st.D;
  const done = new Promise((resolve) => (st.resolve = resolve));
  st.watchdog = setTimeout(() => {
    fail('hang', st, `no end after ${(nominalMs * 3 + IDLE_MS + 30000) / 1000} s (phase ${st.phase})`);
    conn.sock.destroy();
    endStream(conn, st, 'watchdog', nowNs());
  }, nominalMs * 3 + IDLE_MS + 30000);
  if (conn.connected) sendReq(conn, st);
  await done;
  liveStreams--;
  conn.cur = null;
  const keep = check(conn, st);
  if (!keep) {
    if (conn.alive) {
      // the server is expected to close (Connection: close or a cut): give it 5 s
      if (st.how === 'complete') {
        const closed = await new Promise((resolve) => {
          if (!conn.alive) return resolve(true);
          const t = setTimeout(() => resolve(false), 5000);
          conn.sock.once('close', () => {
            clearTimeout(t);
            resolve(true);
          });
        });
        if (!closed) {
          fail('no_close', st, 'the server did not close after a Connection: close response');
          conn.sock.destroy();
        }
      } else conn.sock.destroy();
    }
    slot.conn = null;
  }
  return st;
}

// Checks a finished stream; returns whether its connection can carry the next.
function check(conn, st) {
  const kindName = st.control ? 'control' : KINDS[st.kind];
  const id = st.id;
  grow(id);
  rKind[id] = st.kind;
  rT[id] = st.T;
  rN[id] = st.N;
  rSeen[id] = st.seen;
  rEnd[id] = Number(st.tEnd) / 1e6;
  rFlags[id] = (st.control ? 0 : 1) | 2;
  const lastNs = st.lastStamp || st.tHead || st.tStart || st.tEnd; // the mock's last write, or the head, as the client saw it
  const tailMs = lastNs ? Number(st.tEnd - lastNs) / 1e6 : 0;
  if (st.how === 'close' && st.reused && !st.tHead && st.seen === 0 && !st.failed) {
    // A keep-alive connection closed by the server before any response byte.
    // Allowed (and counted) only when a reload happened since the previous
    // exchange on it began: draining workers close their keep-alive
    // connections after the response under way. The mock cross-check proves
    // the request never reached the upstream. The slot goes on with a new
    // stream on a new connection.
    const since = (conn.prevStart ?? st.tStart ?? st.tEnd) - 50_000_000n;
    if (!reloadTimes.some((r) => r >= since && r <= st.tEnd))
      fail('keepalive_closed', st, 'a reused connection was closed before any response byte, with no reload since its previous exchange');
    stats.ka_races++;
    rFlags[id] |= 4;
    st.kaRace = true;
    return false;
  }
  if (st.how === 'watchdog' || st.how === 'http_error' || st.how === 'protocol') {
    rFlags[id] |= 8;
    return false;
  }
  if (st.kind === K_NORMAL) {
    stats.chunks_expected_uncut += st.control ? 0 : st.T + 1;
    if (st.how !== 'complete') {
      fail(st.final ? 'no_terminal_chunk' : 'lost', st, `${st.how} (${st.errCode ?? 'no error'}) after ${st.seen}/${st.T} tokens, final ${st.final}`);
    } else if (!st.final) fail('lost', st, `terminal chunk without the final object after ${st.seen}/${st.T} tokens`);
    const tailEnd = st.finalAt ? Number(st.tEnd - st.lastStamp) / 1e6 : tailMs;
    const excuse = st.control ? Infinity : lagExcuseMs(st.tEnd);
    if (tailEnd - excuse > TAIL_MARGIN_MS) fail('hang', st, `ended ${tailEnd.toFixed(0)} ms after the mock's last write (control lag then ${excuse.toFixed(0)} ms)`);
    if (!st.control && tailEnd - excuse > stats.excess_max_ms) stats.excess_max_ms = tailEnd - excuse;
    const key = st.control ? 'control' : 'normal';
    if (tailEnd > stats.tail_max_ms[key]) stats.tail_max_ms[key] = tailEnd;
    const dur = st.tStart ? Number(st.tEnd - st.tStart) / 1e6 : 0;
    const ratio = dur / ((st.T + 1) * st.D);
    if (!st.control && ratio > stats.duration_overrun_max) stats.duration_overrun_max = ratio;
  } else if (st.kind === K_VANISH) {
    if (st.how !== 'vanished') fail('lost', st, `${st.how} after ${st.seen} tokens before the client left at ${st.N}`);
  } else {
    // reset, close, stall: truncated after exactly N tokens, in time
    if (st.final || st.terminal) fail('cut_not_truncated', st, `final ${st.final}, terminal chunk ${st.terminal}`);
    if (st.seen !== st.N) fail(st.seen < st.N ? 'lost' : 'duplicated', st, `cut stream: ${st.seen} tokens, the mock sent ${st.N}`);
    const expected = st.kind === K_STALL ? IDLE_MS + st.D : st.D;
    const excuse = lagExcuseMs(st.tEnd);
    if (tailMs - excuse > expected + TAIL_MARGIN_MS) fail('hang', st, `${kindName}: ended ${tailMs.toFixed(0)} ms after the last byte, expected ~${expected} (control lag then ${excuse.toFixed(0)} ms)`);
    if (tailMs - excuse - expected > stats.excess_max_ms) stats.excess_max_ms = tailMs - excuse - expected;
    if (tailMs > stats.tail_max_ms[kindName]) stats.tail_max_ms[kindName] = tailMs;
    if (st.kind === K_STALL) {
      if (tailMs < stats.stall_tail_min_ms) stats.stall_tail_min_ms = tailMs;
      if (tailMs < IDLE_MS - CUT_EARLY_MS) fail('cut_early', st, `stall cut ${tailMs.toFixed(0)} ms after the last byte, idle timeout ${IDLE_MS}`);
    }
  }
  if (st.failed) rFlags[id] |= 8;
  else stats.ok[kindName]++;
  return st.how === 'complete' && st.ka && !st.connClose && conn.alive;
}

async function slotLoop(slot) {
  await sleep(rand() * 1000); // spread the first connections over a second
  while (!stopping) {
    const st = pickSpec(slot);
    stats.started[st.control ? 'control' : KINDS[st.kind]]++;
    stats.phase[phase]++;
    await runStream(slot, st);
  }
}

function closeIdleConns(slots) {
  for (const s of slots) if (s.conn) s.conn.sock.destroy(), (s.conn = null);
}

// ---------- the mock's event log ----------
const mockReq = new Map(); // mock request id -> soak id
const mockSeen = new Map(); // soak id -> number of request events
const mockEnds = new Map(); // mock id -> {ev, tokens_sent, t_ns}
let eventPolls = 0;
let eventCount = 0;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function mockCall(method, path) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: MOCK_PORT, method, path, agent }, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    });
    req.on('error', reject);
    req.end();
  });
}
async function pollEvents() {
  let evs;
  try {
    evs = JSON.parse(await mockCall('GET', '/_mock/events'));
    await mockCall('POST', '/_mock/reset');
  } catch (e) {
    fail('mock_events', null, String(e));
    return;
  }
  eventPolls++;
  eventCount += evs.length;
  for (const e of evs) {
    if (e.ev === 'request') {
      const sid = Number(e.headers?.['x-soak-id']);
      if (!sid) continue;
      mockReq.set(e.id, sid);
      mockSeen.set(sid, (mockSeen.get(sid) ?? 0) + 1);
    } else if (e.ev === 'done' || e.ev === 'disconnect' || e.ev === 'reset' || e.ev === 'close') {
      mockEnds.set(e.id, { ev: e.ev, tokens_sent: e.tokens_sent, t_ms: e.t_ns / 1e6 });
    }
  }
}
let pollerOn = true;
async function poller() {
  while (pollerOn) {
    await sleep(2000);
    if (pollerOn) await pollEvents();
  }
}

// Matches the mock's events with the client's records.
function crossCheck() {
  const x = { matched: 0, checked_streams: 0, mismatches: 0, dup_requests: 0, ka_race_seen_upstream: 0, vanish_propagation_max_ms: 0, stall_cut_upstream_max_ms: 0 };
  for (const [sid, n] of mockSeen) if (n > 1) {
    x.dup_requests++;
    fail('mock_duplicate_request', null, `soak id ${sid} reached the mock ${n} times`);
  }
  for (const [mid, sid] of mockReq) {
    const e = mockEnds.get(mid);
    if (sid >= cap || !(rFlags[sid] & 2)) continue;
    const fl = rFlags[sid];
    if (fl & 4) {
      // a keep-alive race the client retried: the mock must not have served it
      x.ka_race_seen_upstream++;
      fail('ka_race_lost', null, `soak id ${sid}: closed without an answer, yet the mock got the request (${e?.ev ?? 'no end event'})`);
      continue;
    }
    x.checked_streams++;
    if (!e) continue;
    x.matched++;
    if (fl & 8) continue; // already counted as a failure
    const kind = rKind[sid], T = rT[sid], N = rN[sid], seen = rSeen[sid];
    let bad = null;
    if (kind === K_NORMAL) {
      if (e.ev !== 'done' || e.tokens_sent !== T) bad = `normal: mock ${e.ev} after ${e.tokens_sent}, asked ${T}`;
    } else if (kind === K_RESET || kind === K_CLOSE) {
      const want = kind === K_RESET ? 'reset' : 'close';
      if (e.ev !== want || e.tokens_sent !== N || seen !== N) bad = `${want}: mock ${e.ev} after ${e.tokens_sent}, client saw ${seen}, N ${N}`;
    } else if (kind === K_STALL) {
      const gap = Math.abs(e.t_ms - rEnd[sid]);
      if (gap > x.stall_cut_upstream_max_ms) x.stall_cut_upstream_max_ms = gap;
      if (e.ev !== 'disconnect' || e.tokens_sent !== N) bad = `stall: mock ${e.ev} after ${e.tokens_sent}, N ${N}`;
      else if (gap > TAIL_MARGIN_MS) bad = `stall: the upstream was closed ${gap.toFixed(0)} ms away from the client's cut`;
    } else if (kind === K_VANISH) {
      const gap = e.t_ms - rEnd[sid];
      if (e.ev === 'disconnect' && gap > x.vanish_propagation_max_ms) x.vanish_propagation_max_ms = gap;
      if (e.ev !== 'disconnect' || e.tokens_sent < seen) bad = `vanish: mock ${e.ev} after ${e.tokens_sent}, client left after ${seen}`;
      else if (gap > TAIL_MARGIN_MS) bad = `vanish: the upstream stream went on ${gap.toFixed(0)} ms after the client left`;
    }
    if (bad) {
      x.mismatches++;
      fail('mock_mismatch', { id: sid, kind, T, N, seen }, bad);
    }
  }
  const total = nextId - 1 - stats.ka_races;
  x.coverage_pct = +((100 * x.matched) / Math.max(1, total)).toFixed(2);
  x.polls = eventPolls;
  x.events = eventCount;
  return x;
}

// ---------- reloads ----------
let reloadsSent = 0;
let variant = 0;
const reloadTimes = []; // CLOCK_MONOTONIC ns of each SIGHUP
function reload() {
  // Even reloads change a harmless value (the client keep-alive timeout),
  // odd ones rewrite the file identically.
  if (reloadsSent % 2 === 0) variant = 1 - variant;
  const tmp = `${CONFIG}.tmp`;
  fs.writeFileSync(tmp, configText(variant));
  fs.renameSync(tmp, CONFIG);
  try {
    reloadTimes.push(nowNs());
    process.kill(TG_PID, 'SIGHUP');
    reloadsSent++;
  } catch (e) {
    fail('reload', null, `SIGHUP: ${e.message}`);
  }
}

// ---------- phases ----------
async function runLoad(seconds, label, reloadAtS) {
  phase = label;
  stopping = false;
  const slots = [];
  for (let i = 0; i < STREAMS; i++) slots.push({ control: false, ka: i % 100 < KEEPALIVE_PCT, conn: null });
  for (let i = 0; i < CONTROL; i++) slots.push({ control: true, ka: i % 100 < KEEPALIVE_PCT, conn: null });
  const loops = slots.map(slotLoop);
  const tStart = Date.now();
  const sampler = setInterval(() => {
    const s = sampleNow(label);
    if (tgDied) stopping = true;
    if (samples.length % 5 === 0)
      log(`${label}: live ${liveStreams}, tollgate rss ${s.tg?.rss_kib} KiB fds ${s.tg?.fds} threads ${s.tg?.threads}, chunks ${stats.chunks_received}, failures ${JSON.stringify(failures)}`);
  }, 2000);
  const reloads = [];
  for (const at of reloadAtS) reloads.push(setTimeout(reload, at * 1000));
  while (!stopping && Date.now() - tStart < seconds * 1000) await sleep(200);
  stopping = true;
  for (const r of reloads) clearTimeout(r);
  log(`${label}: load stops; waiting for ${liveStreams} live streams to end`);
  await Promise.all(loops);
  closeIdleConns(slots);
  clearInterval(sampler);
  log(`${label}: all streams over`);
}

async function settle(label) {
  // Wait SETTLE_S, sampling; then, if the fd count is not back at the
  // baseline, keep sampling up to 60 s more and say when it got there.
  for (let i = 0; i < SETTLE_S; i++) {
    await sleep(1000);
    sampleNow(label);
  }
  return sampleNow(label);
}

async function main() {
  log(`soak: ${STREAMS} streams (+${CONTROL} direct control) for ${MINUTES} min, faults ${FAULT_PCT}%, reload every ${RELOAD_EVERY_S} s, idle timeout ${IDLE_MS} ms`);
  const idle0 = sampleNow('idle');
  const fdsFresh = fdDetail(TG_PID);
  if (!idle0.tg) throw new Error(`no /proc/${TG_PID}`);
  await sleep(1000);
  const idleFresh = sampleNow('idle');
  poller();

  // Warm-up: the same load (and one reload) so that the resting level is
  // measured after the allocator has seen the full concurrency once.
  if (WARMUP_S > 0) {
    await runLoad(WARMUP_S, 'warmup', [WARMUP_S / 2]);
  }
  const rest = WARMUP_S > 0 ? await settle('rest') : idleFresh;
  const peakWarm = Math.max(...samples.filter((s) => s.phase === 'warmup').map((s) => s.tg?.rss_kib ?? 0), 0);
  log(`resting level: rss ${rest.tg.rss_kib} KiB, fds ${rest.tg.fds}, threads ${rest.tg.threads} (fresh: ${idleFresh.tg.rss_kib} KiB, ${idleFresh.tg.fds} fds, ${idleFresh.tg.threads} threads)`);

  const reloadsBeforeMain = reloadsSent;
  const mainS = MINUTES * 60;
  const at = [];
  for (let t = RELOAD_EVERY_S; t < mainS; t += RELOAD_EVERY_S) at.push(t);
  const mainStart = sinceStartS();
  await runLoad(mainS, 'main', at);
  const mainEnd = sinceStartS();
  const mainSamples = samples.filter((s) => s.phase === 'main' && s.tg);
  const peak = mainSamples.reduce((a, s) => (s.tg.rss_kib > a.tg.rss_kib ? s : a), mainSamples[0] ?? rest);
  const peakFds = Math.max(...mainSamples.map((s) => s.tg.fds), 0);

  let after = await settle('after');
  let fdReturnS = after.tg && after.tg.fds === rest.tg.fds ? SETTLE_S : null;
  let threadsBack = after.tg && after.tg.threads === rest.tg.threads;
  for (let extra = 0; after.tg && (after.tg.fds !== rest.tg.fds || !threadsBack) && extra < 60; extra++) {
    await sleep(1000);
    after = sampleNow('after');
    threadsBack = after.tg && after.tg.threads === rest.tg.threads;
    if (after.tg && after.tg.fds === rest.tg.fds && fdReturnS === null) fdReturnS = SETTLE_S + extra + 1;
  }
  pollerOn = false;
  await pollEvents();
  agent.destroy();

  // ---- verdicts ----
  if (tgDied || !after.tg) fail('tollgate_died', null, 'the tollgate process went away during the soak');
  const tolKib = Math.max(RSS_TOL_MIB * 1024, (rest.tg.rss_kib * RSS_TOL_PCT) / 100);
  const rssOk = after.tg && after.tg.rss_kib <= rest.tg.rss_kib + tolKib;
  if (after.tg && !rssOk)
    fail('rss_not_back', null, `rss ${after.tg.rss_kib} KiB after, resting ${rest.tg.rss_kib} KiB, tolerance ${Math.round(tolKib)} KiB`);
  const fdsAfter = after.tg ? fdDetail(TG_PID) : null;
  // fds by kind, after minus fresh (numbers change across reloads: compare kinds)
  const fdExtra = {};
  const kinds = (d) => {
    const m = {};
    if (d && typeof d === 'object') for (const w of Object.values(d)) { const k = w.replace(/\[\d+\]/, ''); m[k] = (m[k] ?? 0) + 1; }
    return m;
  };
  const kf = kinds(fdsFresh), ka = kinds(fdsAfter);
  for (const k of new Set([...Object.keys(kf), ...Object.keys(ka)])) if ((ka[k] ?? 0) !== (kf[k] ?? 0)) fdExtra[k] = (ka[k] ?? 0) - (kf[k] ?? 0);
  if (after.tg && after.tg.fds !== rest.tg.fds) fail('fd_leak', null, `fds ${after.tg.fds} after, ${rest.tg.fds} at rest: ${JSON.stringify(fdExtra)}`);
  if (after.tg && rest.tg.fds !== idleFresh.tg.fds) fail('fd_leak', null, `fds ${rest.tg.fds} after the warm-up, ${idleFresh.tg.fds} fresh: ${JSON.stringify(fdExtra)}`);
  // (without a warm-up the libuv thread pool starts during the run: no thread baseline)
  if (after.tg && !threadsBack && WARMUP_S > 0) fail('thread_leak', null, `threads ${after.tg.threads} after, ${rest.tg.threads} at rest`);

  const cross = crossCheck();

  // tollgate's error log: reloads done, messages by kind
  const errText = args['err-log'] && fs.existsSync(args['err-log']) ? fs.readFileSync(args['err-log'], 'utf8') : '';
  const errKinds = {};
  for (const line of errText.split('\n')) {
    if (!line.trim()) continue;
    const k = line
      .replace(/^\S+\s+/, '')
      .replace(/\d+/g, 'N')
      .slice(0, 100);
    errKinds[k] = (errKinds[k] ?? 0) + 1;
  }
  const reloadsDone = (errText.match(/reloaded /g) ?? []).length;
  const reloadsRefused = (errText.match(/reload refused/g) ?? []).length;
  if (reloadsDone !== reloadsSent || reloadsRefused)
    fail('reload', null, `${reloadsSent} SIGHUP sent, ${reloadsDone} reloads logged, ${reloadsRefused} refused`);
  if (/AddressSanitizer|LeakSanitizer|runtime error:/.test(errText)) fail('sanitizer', null, 'sanitizer report in the error log');

  // the access log: one line per exchange
  let access = null;
  if (args['access-log'] && args['access-log'] !== 'off' && fs.existsSync(args['access-log'])) {
    access = { lines: 0, status: {}, client_aborted: 0 };
    const text = fs.readFileSync(args['access-log'], 'latin1');
    for (const line of text.split('\n')) {
      if (!line) continue;
      access.lines++;
      const s = /"status":(\d+)/.exec(line)?.[1];
      access.status[s] = (access.status[s] ?? 0) + 1;
      if (line.includes('"client_aborted":true')) access.client_aborted++;
    }
  }

  const total = stats.phase.warmup + stats.phase.main;
  const viaTg = total - stats.started.control;
  const faults = { reset: stats.started.reset, close: stats.started.close, stall: stats.started.stall, vanish: stats.started.vanish, vanish_rst: stats.vanish_rst };
  const lat = latTg.summary();
  const latC = latCtl.summary();
  const result = {
    when: new Date().toISOString(),
    params: { streams: STREAMS, control: CONTROL, minutes: MINUTES, warmup_s: WARMUP_S, settle_s: SETTLE_S, fault_pct: FAULT_PCT, reload_every_s: RELOAD_EVERY_S, idle_timeout_ms: IDLE_MS, keepalive_pct: KEEPALIVE_PCT, tail_margin_ms: TAIL_MARGIN_MS, seed: SEED },
    main_s: +(mainEnd - mainStart).toFixed(1),
    streams: { total, via_tollgate: viaTg, warmup: stats.phase.warmup, main: stats.phase.main, started: stats.started, ok: stats.ok },
    chunks: {
      received_via_tollgate: stats.chunks_received,
      uncut_expected: stats.chunks_expected_uncut,
      uncut_received: stats.chunks_received_uncut,
      control: stats.control_chunks,
    },
    faults,
    reloads: { sent: reloadsSent, before_main: reloadsBeforeMain, logged: reloadsDone, refused: reloadsRefused },
    connections: { opened: stats.connections, keepalive_reuses: stats.keepalive_reuses, drain_closes: stats.drain_closes, ka_races_retried: stats.ka_races, errors: stats.conn_errors },
    latency_via_tollgate: lat,
    latency_direct_control: latC,
    lateness_beyond_expected_and_control_lag_max_ms: +stats.excess_max_ms.toFixed(1),
    tails_max_ms: Object.fromEntries(Object.entries(stats.tail_max_ms).map(([k, v]) => [k, +v.toFixed(1)])),
    stall_cut_min_ms_after_last_write: Number.isFinite(stats.stall_tail_min_ms) ? +stats.stall_tail_min_ms.toFixed(1) : null,
    duration_over_nominal_max: +stats.duration_overrun_max.toFixed(3),
    mock_crosscheck: cross,
    memory: {
      fresh_rss_kib: idleFresh.tg.rss_kib,
      rest_rss_kib: rest.tg.rss_kib,
      warmup_peak_rss_kib: peakWarm,
      main_peak_rss_kib: peak?.tg?.rss_kib,
      after_rss_kib: after.tg?.rss_kib,
      tolerance_kib: Math.round(tolKib),
      ok: !!rssOk,
      growth_bytes_per_stream: after.tg ? +(((after.tg.rss_kib - rest.tg.rss_kib) * 1024) / Math.max(1, stats.phase.main)).toFixed(3) : null,
    },
    fds: { fresh: idleFresh.tg.fds, rest: rest.tg.fds, main_peak: peakFds, after: after.tg?.fds, returned_after_s: fdReturnS, by_kind_vs_fresh: fdExtra },
    threads: { fresh: idleFresh.tg.threads, rest: rest.tg.threads, after: after.tg?.threads },
    access_log: access,
    error_log: errKinds,
    failures,
    failure_examples: examples,
    ok: Object.keys(failures).length === 0,
    samples,
  };
  if (OUT) fs.writeFileSync(OUT, JSON.stringify(result, null, 1));

  // ---- the table ----
  const f = (n) => (n === null || n === undefined ? '-' : typeof n === 'number' ? n.toLocaleString('en-US') : String(n));
  const mib = (k) => (k === undefined || k === null ? '-' : (k / 1024).toFixed(1) + ' MiB');
  const rows = [
    ['run', `${STREAMS} streams + ${CONTROL} direct control, ${result.main_s} s main (+${WARMUP_S} s warm-up)`],
    ['streams (main / warm-up)', `${f(stats.phase.main)} / ${f(stats.phase.warmup)}  (via tollgate ${f(viaTg)}, control ${f(stats.started.control)})`],
    ['streams ok by kind', KINDS.map((k) => `${k} ${f(stats.ok[k])}/${f(stats.started[k])}`).join(', ') + `, control ${f(stats.ok.control)}/${f(stats.started.control)}`],
    ['faults injected', `reset ${f(faults.reset)}, close ${f(faults.close)}, stall ${f(faults.stall)}, client vanish ${f(faults.vanish)} (${f(faults.vanish_rst)} with RST)`],
    ['chunks received via tollgate', f(stats.chunks_received)],
    ['uncut streams: chunks sent / received', `${f(stats.chunks_expected_uncut)} / ${f(stats.chunks_received_uncut)}`],
    ['reloads (SIGHUP sent / logged / refused)', `${reloadsSent} / ${reloadsDone} / ${reloadsRefused}`],
    ['connections opened / keep-alive reuses', `${f(stats.connections)} / ${f(stats.keepalive_reuses)}`],
    ['keep-alive: Connection: close / closed by a drain without notice', `${f(stats.drain_closes)} / ${f(stats.ka_races)} (next request refused; never reached the mock)`],
    ['per-chunk latency via tollgate p50 / p99 / p99.9 / max', `${f(lat.p50_us)} / ${f(lat.p99_us)} / ${f(lat.p999_us)} / ${f(lat.max_us)} us`],
    ['per-chunk latency direct (control) p50 / p99 / max', `${f(latC.p50_us)} / ${f(latC.p99_us)} / ${f(latC.max_us)} us`],
    ['added by tollgate p50 / p99 (via - direct)', `${lat.p50_us !== null && latC.p50_us !== null ? lat.p50_us - latC.p50_us : '-'} / ${lat.p99_us !== null && latC.p99_us !== null ? lat.p99_us - latC.p99_us : '-'} us`],
    ['max end lateness (normal/reset/close/stall)', `${result.tails_max_ms.normal} / ${result.tails_max_ms.reset} / ${result.tails_max_ms.close} / ${result.tails_max_ms.stall} ms (stall cut >= ${result.stall_cut_min_ms_after_last_write} ms after the stall); beyond expected + control lag: ${result.lateness_beyond_expected_and_control_lag_max_ms} ms`],
    ['mock cross-check', `${f(cross.matched)} streams matched (${cross.coverage_pct}%), ${cross.mismatches} mismatches, ${cross.dup_requests} duplicate requests, vanish->upstream close max ${cross.vanish_propagation_max_ms.toFixed(0)} ms`],
    ['tollgate RSS fresh / rest / peak / after', `${mib(idleFresh.tg.rss_kib)} / ${mib(rest.tg.rss_kib)} / ${mib(peak?.tg?.rss_kib)} / ${mib(after.tg?.rss_kib)} (tolerance +${mib(tolKib)}: ${rssOk ? 'ok' : 'FAIL'})`],
    ['tollgate fds fresh / rest / peak / after', `${idleFresh.tg.fds} / ${rest.tg.fds} / ${peakFds} / ${after.tg?.fds} (${after.tg?.fds === rest.tg.fds ? `back after ${fdReturnS} s` : 'LEAK'})`],
    ['tollgate threads fresh / rest / after', `${idleFresh.tg.threads} / ${rest.tg.threads} / ${after.tg?.threads}`],
    ['access log lines / client_aborted', access ? `${f(access.lines)} / ${f(access.client_aborted)}; status ${JSON.stringify(access.status)}` : 'off'],
    ['client socket errors', JSON.stringify(stats.conn_errors)],
    ['failures', Object.keys(failures).length ? JSON.stringify(failures) : 'none'],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  console.log('\n| figure | value |\n|---|---|');
  for (const [k, v] of rows) console.log(`| ${k.padEnd(w)} | ${v} |`);
  if (examples.length) {
    console.log('\nfirst failures:');
    for (const e of examples.slice(0, 15)) console.log('  ' + JSON.stringify(e));
  }
  console.log(`\nraw figures: ${OUT ?? '(no --out)'}`);
  console.log(result.ok ? 'SOAK PASSED' : 'SOAK FAILED');
  process.exit(result.ok ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
