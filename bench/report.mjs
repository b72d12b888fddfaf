// bench/report.mjs: the markdown report of one bench/run.sh run.
// Reads DIR/results.jsonl (one JSON object per measurement) and
// DIR/versions.json, prints the tables, and with --write FILE replaces
// everything below FILE's marker line (the hand-written intro above it stays).
// Sections without figures in the run (a SCENARIOS subset) are left out.
// --write auto: docs/benchmarks.md for a run of every scenario,
// docs/benchmarks-tls.md for a run of the TLS scenarios alone (tls,
// handshake), nothing for another subset; a partial run never rewrites
// docs/benchmarks.md (its other sections would lose their figures).
//   node bench/report.mjs --dir bench/results/bench-<time> [--write auto|FILE]
import fs from 'node:fs';
import path from 'node:path';
import { affinitySection } from './report-affinity.mjs';
import { clusterSection } from './report-cluster.mjs';
import { h2Section } from './report-h2.mjs';

const args = {};
for (let i = 2; i < process.argv.length; i++)
  if (process.argv[i].startsWith('--')) args[process.argv[i].slice(2)] = process.argv[i + 1];
const dir = args.dir;
const rows = fs
  .readFileSync(path.join(dir, 'results.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => {
    try {
      return JSON.parse(l);
    } catch {
      return null;
    }
  })
  .filter(Boolean);
const versions = JSON.parse(fs.readFileSync(path.join(dir, 'versions.json'), 'utf8'));
const scenarios = (versions.scenarios ?? 'wrk stream hold min tls handshake auth').split(/\s+/).filter(Boolean);
const ran = (s) => scenarios.includes(s);
const partial = !!versions.partial;
const MARKER = '<!-- bench/run.sh rewrites everything below this line; edit above it -->';

const SERVERS = ['direct', 'tollgate', 'tollgate_uring', 'nginx', 'haproxy', 'caddy', 'h2o'];
const PEERS = ['nginx', 'haproxy', 'caddy', 'h2o'];
const NAMES = { direct: 'direct (no proxy)', tollgate: '**tollgate**', tollgate_uring: '**tollgate (io_uring)**', nginx: 'nginx', haproxy: 'HAProxy', caddy: 'Caddy', h2o: 'h2o' };

const median = (a) => {
  const v = a.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((x, y) => x - y);
  if (!v.length) return null;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
const sel = (kind, server, variant, n) =>
  rows.filter((r) => r.kind === kind && r.server === server && r.variant === variant && (n === undefined || r.n === n));
const med = (kind, server, variant, field, n) => median(sel(kind, server, variant, n).map(field));
const count = (kind, server, variant, n) => sel(kind, server, variant, n).length;
const sum = (kind, server, variant, field, n) => sel(kind, server, variant, n).reduce((s, r) => s + (field(r) || 0), 0);

const fmt = (v, d = 0) => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }));
const ratio = (a, b) => (a === null || b === null || !b ? '-' : `${(a / b).toFixed(2)}x`);
const best = (vals, higher) => {
  let b = null;
  for (const [k, v] of Object.entries(vals)) if (v !== null && (b === null || (higher ? v > b[1] : v < b[1]))) b = [k, v];
  return b;
};
const present = (kind, variant, n) => SERVERS.filter((s) => count(kind, s, variant, n) > 0);
const out = [];
const p = (s = '') => out.push(s);
const table = (head, body) => {
  p(`| ${head.join(' | ')} |`);
  p(`|${head.map(() => '---').join('|')}|`);
  for (const r of body) p(`| ${r.join(' | ')} |`);
  p();
};
const runs = (kind, server, variant, field, n, d = 0) => {
  const v = sel(kind, server, variant, n).map(field);
  return v.length > 1 ? ` <sub>(${v.map((x) => fmt(x, d)).join(', ')})</sub>` : '';
};
const targets = [];
const target = (what, figure, ok) => targets.push([what, figure, ok === null ? 'n/a' : typeof ok === 'string' ? ok : ok ? '**met**' : '**not met**']);

// ---------- 1. small requests ----------
const cpuReq = (r) => (r.requests ? (r.proxy_cpu_s / r.requests) * 1e6 : null);
const errs = (r) => (r.socket_errors || 0) + (r.non2xx || 0);
if (present('wrk', 'tuned').length) {
  p('### 1. Small requests: `GET /api/version`, wrk -t2 -c64, keep-alive, ' + `${versions.wrk_seconds} s per run`);
  p();
  const srv = present('wrk', 'tuned');
  const rps = Object.fromEntries(srv.map((s) => [s, med('wrk', s, 'tuned', (r) => r.rps)]));
  const bp = best(Object.fromEntries(PEERS.map((s) => [s, rps[s] ?? null])), true);
  table(
    ['server', 'req/s (median; runs)', 'p99 ms', 'proxy CPU µs/request', 'errors (all runs)', 'x direct', 'x best peer' + (bp ? ` (${NAMES[bp[0]]})` : '')],
    srv.map((s) => [
      NAMES[s],
      fmt(rps[s]) + runs('wrk', s, 'tuned', (r) => r.rps),
      fmt(med('wrk', s, 'tuned', (r) => r.p99_ms), 2),
      s === 'direct' ? '-' : fmt(med('wrk', s, 'tuned', cpuReq), 1),
      fmt(sum('wrk', s, 'tuned', errs)),
      s === 'direct' ? '1.00x' : ratio(rps[s], rps.direct),
      s === 'direct' || !bp ? '-' : ratio(rps[s], bp[1]),
    ]),
  );
  const t = rps.tollgate ?? null;
  if (t !== null && bp) target('small requests >= 1.2x best peer', `${fmt(t)} vs ${NAMES[bp[0]]} ${fmt(bp[1])}: ${ratio(t, bp[1])}`, t >= 1.2 * bp[1]);
  if (t !== null && rps.direct) target('small requests >= 0.7x direct', `${fmt(t)} vs ${fmt(rps.direct)}: ${ratio(t, rps.direct)}`, t >= 0.7 * rps.direct);
}

// ---------- 2. streaming ----------
const streamNs = [...new Set(rows.filter((r) => r.kind === 'stream' && r.variant === 'tuned' && r.server !== 'direct').map((r) => r.n))].sort((a, b) => a - b);
const cpuChunk = (r) => (r.chunks ? (r.proxy_cpu_s / r.chunks) * 1e6 : null);
for (const n of streamNs) {
  const tokens = sel('stream', 'direct', 'tuned', n)[0]?.tokens ?? versions.tokens;
  p(`### 2. Streaming: ${fmt(n)} concurrent generations, ${tokens} tokens 20 ms apart`);
  p();
  p('Per-chunk latency = arrival at the client minus the mock\'s stamp; "added" = the server\'s median figure minus direct\'s.');
  p();
  const srv = present('stream', 'tuned', n);
  const m = (s, f) => med('stream', s, 'tuned', f, n);
  const d50 = m('direct', (r) => r.p50_us), d99 = m('direct', (r) => r.p99_us);
  const add99 = Object.fromEntries(srv.map((s) => [s, m(s, (r) => r.p99_us) - d99]));
  const bp = best(Object.fromEntries(PEERS.filter((s) => srv.includes(s)).map((s) => [s, add99[s]])), false);
  table(
    ['server', 'p50 µs', 'p99 µs (runs)', 'added p50 µs', 'added p99 µs', 'first chunk p50 / p99 ms', 'chunks lost (all runs)', 'errors', 'p99 x direct', 'added p99 x best peer' + (bp ? ` (${NAMES[bp[0]]})` : '')],
    srv.map((s) => [
      NAMES[s],
      fmt(m(s, (r) => r.p50_us)),
      fmt(m(s, (r) => r.p99_us)) + runs('stream', s, 'tuned', (r) => r.p99_us, n),
      s === 'direct' ? '-' : fmt(m(s, (r) => r.p50_us) - d50),
      s === 'direct' ? '-' : fmt(add99[s]),
      `${fmt(m(s, (r) => r.ttfc_p50_ms), 1)} / ${fmt(m(s, (r) => r.ttfc_p99_ms), 1)}`,
      fmt(sum('stream', s, 'tuned', (r) => r.lost, n)),
      fmt(sum('stream', s, 'tuned', (r) => r.errors, n)),
      s === 'direct' ? '1.00x' : ratio(m(s, (r) => r.p99_us), d99),
      s === 'direct' || !bp ? '-' : bp[1] > 0 ? ratio(add99[s], bp[1]) : '-',
    ]),
  );
  if (n === Math.max(...streamNs) && srv.includes('tollgate') && bp) {
    target(`added per-chunk p99 at ${fmt(n)} streams <= 0.5x best peer`, `${fmt(add99.tollgate)} µs vs ${NAMES[bp[0]]} ${fmt(bp[1])} µs: ${bp[1] > 0 ? ratio(add99.tollgate, bp[1]) : '-'}`, add99.tollgate <= 0.5 * bp[1]);
    const lost = sum('stream', 'tollgate', 'tuned', (r) => r.lost, n), e = sum('stream', 'tollgate', 'tuned', (r) => r.errors, n);
    target(`0 chunks lost at ${fmt(n)} streams`, `${fmt(lost)} lost, ${fmt(e)} streams in error over ${count('stream', 'tollgate', 'tuned', n)} runs`, lost === 0 && e === 0);
  }
}

// ---------- 3. memory ----------
const holdNs = [...new Set(rows.filter((r) => r.kind === 'hold' && r.variant === 'tuned').map((r) => r.n))].sort((a, b) => a - b);
if (holdNs.length) {
  p(`### 3. Memory: RSS growth per live stream (slow streams, 1 token per ${versions.hold_delay_ms / 1000} s; RSS of all the server's processes, fresh server each time)`);
  p();
  const srv = SERVERS.filter((s) => s !== 'direct' && holdNs.some((n) => count('hold', s, 'tuned', n)));
  const per = (s, n) => med('hold', s, 'tuned', (r) => r.per_stream_kb, n);
  const top = Math.max(...holdNs);
  const bp = best(Object.fromEntries(PEERS.filter((s) => srv.includes(s)).map((s) => [s, per(s, top)])), false);
  const head = ['server'];
  for (const n of holdNs) head.push(`${fmt(n)} streams: KB/stream (runs)`, `${fmt(n)}: RSS MB`, `${fmt(n)}: streams up / errors`);
  head.push(`x best peer at ${fmt(top)}` + (bp ? ` (${NAMES[bp[0]]})` : ''));
  table(
    head,
    srv.map((s) => {
      const r = [NAMES[s]];
      for (const n of holdNs) {
        r.push(fmt(per(s, n), 1) + runs('hold', s, 'tuned', (x) => x.per_stream_kb, n, 1));
        r.push(fmt(med('hold', s, 'tuned', (x) => x.rss_kb / 1024, n), 1));
        r.push(`${fmt(med('hold', s, 'tuned', (x) => x.ready, n))} / ${fmt(sum('hold', s, 'tuned', (x) => x.errors, n))}`);
      }
      r.push(bp ? ratio(per(s, top), bp[1]) : '-');
      return r;
    }),
  );
  if (srv.includes('tollgate')) {
    const v = per('tollgate', top);
    target('memory <= 4 KB per live stream (plain)', `${fmt(v, 1)} KB at ${fmt(top)} streams (${fmt(per('tollgate', holdNs[0]), 1)} KB at ${fmt(holdNs[0])})`, v <= 4);
    const up = med('hold', 'tollgate', 'tuned', (x) => x.ready, top), e = sum('hold', 'tollgate', 'tuned', (x) => x.errors, top);
    target(`${fmt(top)} concurrent streams without error`, `${fmt(up)} streams up (median), ${fmt(e)} errors`, up === top && e === 0);
  }
}

// ---------- 4. TLS ----------
const tlsSrv = SERVERS.filter((s) => s !== 'direct' && (count('wrk', s, 'tls') || count('stream', s, 'tls') || count('hold', s, 'tls')));
if (tlsSrv.length) {
  p('### 4. TLS (one self-signed P-256 certificate, TLS 1.3, no session resumption)');
  p();
  const srv = tlsSrv;
  const sn = rows.find((r) => r.kind === 'stream' && r.variant === 'tls')?.n;
  const hn = rows.find((r) => r.kind === 'hold' && r.variant === 'tls')?.n;
  const rps = Object.fromEntries(srv.map((s) => [s, med('wrk', s, 'tls', (r) => r.rps)]));
  const p99 = Object.fromEntries(srv.map((s) => [s, med('wrk', s, 'tls', (r) => r.p99_ms)]));
  const cpu = Object.fromEntries(srv.map((s) => [s, med('wrk', s, 'tls', cpuReq)]));
  const kb = Object.fromEntries(srv.map((s) => [s, hn ? med('hold', s, 'tls', (r) => r.per_stream_kb, hn) : null]));
  const d99 = sn ? med('stream', 'direct', 'tuned', (r) => r.p99_us, sn) : null;
  const add99 = Object.fromEntries(srv.map((s) => [s, sn && d99 !== null ? med('stream', s, 'tls', (r) => r.p99_us, sn) - d99 : null]));
  const peer = (vals, higher) => best(Object.fromEntries(PEERS.filter((s) => srv.includes(s)).map((s) => [s, vals[s] ?? null])), higher);
  const bp = peer(rps, true), bp99 = peer(p99, false), bpCpu = peer(cpu, false), bpKb = peer(kb, false), bpAdd = peer(add99, false);
  const x = (v, b) => (b && v !== null ? ` (${ratio(v, b[1])})` : '');
  const who = (b) => (b ? ` (${NAMES[b[0]]})` : '');
  p('Each figure with its ratio to the best peer\'s (higher is better for req/s, lower for the others).');
  p();
  table(
    ['server', 'req/s (runs)', 'x best peer req/s' + who(bp), 'p99 ms' + who(bp99), 'proxy CPU µs/request' + who(bpCpu), `${fmt(sn)} streams: added p99 µs (vs plain direct)`, 'chunks lost / errors', `KB per stream at ${fmt(hn)}` + who(bpKb)],
    srv.map((s) => [
      NAMES[s],
      fmt(rps[s]) + runs('wrk', s, 'tls', (r) => r.rps),
      bp ? ratio(rps[s], bp[1]) : '-',
      fmt(p99[s], 2) + x(p99[s], bp99),
      fmt(cpu[s], 1) + x(cpu[s], bpCpu),
      sn ? fmt(add99[s]) + runs('stream', s, 'tls', (r) => r.p99_us - d99, sn) : '-',
      sn ? `${fmt(sum('stream', s, 'tls', (r) => r.lost, sn))} / ${fmt(sum('stream', s, 'tls', (r) => r.errors, sn))}` : '-',
      hn ? fmt(kb[s], 1) + runs('hold', s, 'tls', (r) => r.per_stream_kb, hn, 1) + x(kb[s], bpKb) : '-',
    ]),
  );
  if (srv.includes('tollgate')) {
    const t = rps.tollgate;
    target('small requests over TLS >= 1.2x best peer', t !== null && bp ? `${fmt(t)} vs ${NAMES[bp[0]]} ${fmt(bp[1])}: ${ratio(t, bp[1])}` : '-', t !== null && bp ? t >= 1.2 * bp[1] : null);
    const k = kb.tollgate;
    target('memory <= 12 KB per live stream (TLS)', k !== null ? `${fmt(k, 1)} KB at ${fmt(hn)} streams${bpKb ? ` (best peer ${NAMES[bpKb[0]]} ${fmt(bpKb[1], 1)} KB)` : ''}` : '-', k !== null ? k <= 12 : null);
  }
}

// ---------- 4b. TLS handshakes ----------
const hsRows = rows.filter((r) => r.kind === 'handshake');
if (hsRows.length) {
  const modes = [['none', false, 'plain TCP']];
  for (const v of ['1.3', '1.2'])
    if (hsRows.some((r) => r.tls === v)) modes.push([v, false, `TLS ${v} new`], [v, true, `TLS ${v} resumed`]);
  const hsSel = (s, [v, res]) => rows.filter((r) => r.kind === 'handshake' && r.server === s && r.tls === v && !!r.resume === res && r.variant === (v === 'none' ? 'tuned' : 'tls'));
  const hsMed = (s, m, f) => median(hsSel(s, m).filter((r) => r.ok > 0).map(f)); // a run of errors only has no figure
  const hsRuns = (s, m, f, d = 0) => {
    const v = hsSel(s, m).map(f);
    return v.length > 1 ? ` <sub>(${v.map((y) => fmt(y, d)).join(', ')})</sub>` : '';
  };
  const cpuConn = (r) => (r.ok ? (r.proxy_cpu_s / r.ok) * 1e6 : null);
  const srv = SERVERS.filter((s) => modes.some((m) => hsSel(s, m).length));
  const hs0 = hsRows.find((r) => r.procs);
  p(`### 4b. New connections per second: TLS handshakes, full and resumed (bench/hsclient.c: ${hs0?.procs ?? 2} processes x ${hs0?.conns ?? 32} connections, ${hs0?.seconds ?? versions.hs_seconds} s per run)`);
  p();
  p('Each connection: connect, the handshake (a full one, or resumed from the session ticket of an earlier connection), one `GET /api/version` with `Connection: close`, the response read to the close. "plain TCP" is the same without TLS, against the same server without TLS: the cost of the connection and the request alone. The client\'s handshakes run on the same 2 cores as the server: the connections per second are what the pair reaches; the CPU per connection (utime + stime of the server\'s processes, from /proc) is the figure to compare across servers.');
  p();
  const head = ['server'];
  const bests = modes.map((m) => best(Object.fromEntries(PEERS.filter((s) => srv.includes(s)).map((s) => [s, hsMed(s, m, (r) => r.per_s)])), true));
  modes.forEach((m, i) => head.push(`${m[2]}: conn/s (runs)`, `x best peer${bests[i] ? ` (${NAMES[bests[i][0]]})` : ''}`));
  table(
    head,
    srv.map((s) => {
      const r = [NAMES[s]];
      modes.forEach((m, i) => {
        const v = hsMed(s, m, (x) => x.per_s);
        r.push(fmt(v) + hsRuns(s, m, (x) => x.per_s), s === 'direct' || !bests[i] || v === null ? '-' : ratio(v, bests[i][1]));
      });
      return r;
    }),
  );
  p('Proxy CPU per connection, µs (median of the runs), and in brackets the ratio to the best peer (lower is better); "TLS part" = the TLS figure minus plain TCP\'s.');
  p();
  const cbests = modes.map((m) => best(Object.fromEntries(PEERS.filter((s) => srv.includes(s)).map((s) => [s, hsMed(s, m, cpuConn)])), false));
  const chead = ['server'];
  modes.forEach((m, i) => chead.push(`${m[2]}${cbests[i] ? ` (best: ${NAMES[cbests[i][0]]})` : ''}`));
  chead.push(...modes.slice(1).map((m) => `TLS part, ${m[2].replace('TLS ', '')}`));
  table(
    chead,
    srv.filter((s) => s !== 'direct').map((s) => {
      const r = [NAMES[s]];
      const plain = hsMed(s, modes[0], cpuConn);
      modes.forEach((m, i) => {
        const v = hsMed(s, m, cpuConn);
        r.push(fmt(v, 1) + (cbests[i] && v !== null ? ` (${ratio(v, cbests[i][1])})` : ''));
      });
      for (const m of modes.slice(1)) {
        const v = hsMed(s, m, cpuConn);
        r.push(v !== null && plain !== null ? fmt(v - plain, 1) : '-');
      }
      return r;
    }),
  );
  // what was negotiated, what was resumed, errors
  const notes = [];
  for (const s of srv)
    for (const m of modes.slice(1)) {
      const rs = hsSel(s, m);
      if (!rs.length) continue;
      const ok = rs.reduce((a, r) => a + (r.ok || 0), 0), res = rs.reduce((a, r) => a + (r.resumed || 0), 0), e = rs.reduce((a, r) => a + (r.errors || 0), 0);
      // the first connections of each client process have no session to offer yet
      const first = rs.reduce((a, r) => a + (r.procs || 0) * (r.conns || 0), 0);
      if (m[1] && ok && res < 0.95 * (ok - first)) notes.push(`${NAMES[s]} ${m[2]}: only ${fmt((100 * res) / ok)}% of the connections resumed`);
      if (!m[1] && res) notes.push(`${NAMES[s]} ${m[2]}: ${fmt(res)} connections resumed (none should)`);
      if (e) notes.push(`${NAMES[s]} ${m[2]}: ${fmt(e)} connections in error`);
      const proto = [...new Set(rs.map((r) => `${r.protocol} ${r.cipher}`))].join(', ');
      if (!proto.startsWith(`TLSv${m[0]} `)) notes.push(`${NAMES[s]} ${m[2]}: negotiated ${proto}`);
    }
  const ciphers = [...new Set(hsRows.filter((r) => r.protocol).map((r) => `${r.protocol} ${r.cipher}`))];
  p(`- Negotiated: ${ciphers.join('; ')}. Resumed runs: every connection after each client process's first ${hs0?.conns ?? 32} offered a ticket, and at least 95% of those resumed${notes.length ? ' except as noted' : ''}; full runs: none resumed.`);
  for (const n of notes) p(`- ${n}`);
  const hsp = (s, m) => hsMed(s, m, (r) => r.hs_p99_ms);
  p(`- Handshake p99 (connect to handshake done, ms) per server: ${srv.filter((s) => s !== 'direct').map((s) => `${NAMES[s]} ${modes.slice(1).map((m) => fmt(hsp(s, m), 1)).join(' / ')}`).join('; ')} (${modes.slice(1).map((m) => m[2].replace('TLS ', '')).join(' / ')}).`);
  p();
  if (srv.includes('tollgate')) {
    for (const m of modes.slice(1)) {
      const i = modes.indexOf(m), t = hsMed('tollgate', m, (r) => r.per_s), tc = hsMed('tollgate', m, cpuConn);
      if (t !== null && bests[i] && cbests[i]) target(`handshakes/s, ${m[2]} (issue 4: measured, no bar)`, `${fmt(t)} vs ${NAMES[bests[i][0]]} ${fmt(bests[i][1])}: ${ratio(t, bests[i][1])}; CPU per connection ${fmt(tc, 1)} µs vs best peer ${fmt(cbests[i]?.[1], 1)} µs`, t >= bests[i][1] ? 'ahead of every peer' : `behind ${NAMES[bests[i][0]]}`);
    }
  }
}

// ---------- 5. Basic auth ----------
if (!ran('auth')) {
  // not in this run's SCENARIOS
} else if (!versions.auth) {
  p('### 5. Basic auth: bcrypt cost 10, keep-alive, wrk -t2 -c64, the right password on every request');
  p();
  p('n/a: this tollgate build has no `auth basic` (`tollgate -t` refused a config with it).');
  p();
  target('Basic auth >= 5x Caddy, >= 0.9x tollgate without auth', 'n/a: no `auth basic` in this build', null);
} else {
  p('### 5. Basic auth: bcrypt cost 10, keep-alive, wrk -t2 -c64, the right password on every request');
  p();
  const srv = ['tollgate', 'nginx', 'caddy'].filter((s) => count('wrk-auth', s, 'auth'));
  const rps = Object.fromEntries(srv.map((s) => [s, med('wrk-auth', s, 'auth', (r) => r.rps)]));
  const plain = Object.fromEntries(srv.map((s) => [s, med('wrk', s, 'tuned', (r) => r.rps)]));
  table(
    ['server', 'req/s with auth (runs)', 'p99 ms', 'errors / non-2xx', 'x the same server without auth', 'tollgate x this'],
    srv.map((s) => [
      NAMES[s] + (s === 'nginx' ? ' `auth_basic`' : s === 'caddy' ? ' `basicauth`' : ' `auth basic`'),
      fmt(rps[s]) + runs('wrk-auth', s, 'auth', (r) => r.rps),
      fmt(med('wrk-auth', s, 'auth', (r) => r.p99_ms), 2),
      `${fmt(sum('wrk-auth', s, 'auth', (r) => r.socket_errors))} / ${fmt(sum('wrk-auth', s, 'auth', (r) => r.non2xx))}`,
      ratio(rps[s], plain[s]),
      s === 'tollgate' ? '-' : ratio(rps.tollgate, rps[s]),
    ]),
  );
  if (rps.tollgate) {
    if (rps.caddy) target('Basic auth >= 5x Caddy', `${fmt(rps.tollgate)} vs ${fmt(rps.caddy)}: ${ratio(rps.tollgate, rps.caddy)}`, rps.tollgate >= 5 * rps.caddy);
    if (rps.nginx) target('Basic auth >= 50x nginx `auth_basic` (issue 8)', `${fmt(rps.tollgate)} vs ${fmt(rps.nginx)}: ${ratio(rps.tollgate, rps.nginx)}`, rps.tollgate >= 50 * rps.nginx);
    if (plain.tollgate) target('Basic auth >= 0.9x tollgate without auth', `${fmt(rps.tollgate)} vs ${fmt(plain.tollgate)}: ${ratio(rps.tollgate, plain.tollgate)}`, rps.tollgate >= 0.9 * plain.tollgate);
  }
}

// ---------- 6. CPU ----------
if (present('wrk', 'tuned').filter((s) => s !== 'direct').length) {
  p('### 6. CPU cost (utime + stime of all the server\'s processes over the run, from /proc, divided by the requests or chunks delivered)');
  p();
  const srv = SERVERS.filter((s) => s !== 'direct' && count('wrk', s, 'tuned'));
  const top = streamNs.length ? Math.max(...streamNs) : null;
  const perChunk = (s, n) => med('stream', s, 'tuned', cpuChunk, n);
  const bpReq = best(Object.fromEntries(PEERS.filter((s) => srv.includes(s)).map((s) => [s, med('wrk', s, 'tuned', cpuReq)])), false);
  const bpChunk = top ? best(Object.fromEntries(PEERS.filter((s) => srv.includes(s)).map((s) => [s, perChunk(s, top)])), false) : null;
  const head = ['server', 'µs per request (wrk)', 'x best peer' + (bpReq ? ` (${NAMES[bpReq[0]]})` : '')];
  for (const n of streamNs) head.push(`µs per chunk, ${fmt(n)} streams`);
  head.push('x best peer per chunk' + (bpChunk ? ` (${NAMES[bpChunk[0]]})` : ''));
  const mockRow = ['mock Ollama, direct runs (for scale)', fmt(med('wrk', 'direct', 'tuned', (r) => (r.mock_cpu_s / r.requests) * 1e6), 1), '-'];
  for (const n of streamNs) mockRow.push(fmt(med('stream', 'direct', 'tuned', (r) => (r.mock_cpu_s / r.chunks) * 1e6, n), 1));
  mockRow.push('-');
  table(head, [
    ...srv.map((s) => {
      const r = [NAMES[s], fmt(med('wrk', s, 'tuned', cpuReq), 1), bpReq ? ratio(med('wrk', s, 'tuned', cpuReq), bpReq[1]) : '-'];
      for (const n of streamNs) r.push(fmt(perChunk(s, n), 1));
      r.push(bpChunk ? ratio(perChunk(s, top), bpChunk[1]) : '-');
      return r;
    }),
    mockRow,
  ]);
  p('Per chunk includes each stream\'s connection, request and response head (1/101 of a stream each).');
  p();
  if (srv.includes('tollgate') && top) target(`proxy CPU per streamed chunk <= 15 µs (${fmt(top)} streams)`, `${fmt(perChunk('tollgate', top), 1)} µs${bpChunk ? ` (best peer ${NAMES[bpChunk[0]]} ${fmt(bpChunk[1], 1)} µs)` : ''}`, perChunk('tollgate', top) <= 15);
}

// ---------- 7. minimal configs ----------
const minSrv = ['tollgate', 'nginx', 'haproxy'].filter((s) => count('stream', s, 'min'));
if (minSrv.length) {
  const n = sel('stream', minSrv[0], 'min')[0].n;
  p(`### 7. Textbook minimal configs: ${fmt(n)} streams, ${sel('stream', minSrv[0], 'min')[0].tokens} tokens 20 ms apart`);
  p();
  p('nginx: `proxy_pass` only. HAProxy: `mode http`, timeouts, one server (no `option http-no-delay`). tollgate: `upstream ollama { server ...; } site _ { listen ...; }` (the access log on, to stdout, as by default).');
  p();
  const verdict = (s) => {
    const p50 = med('stream', s, 'min', (r) => r.p50_us) / 1000, lost = sum('stream', s, 'min', (r) => r.lost);
    if (lost) return `loses chunks (${fmt(lost)})`;
    if (p50 > 500) return `buffers: chunks arrive ~${fmt(p50)} ms late (at the end)`;
    if (p50 > 20) return `holds each chunk ~${fmt(p50)} ms`;
    return 'streams';
  };
  table(
    ['server, minimal config', 'p50 µs', 'p99 µs (runs)', 'first chunk p50 ms', 'chunks lost', 'verdict'],
    [
      [NAMES.direct, fmt(med('stream', 'direct', 'tuned', (r) => r.p50_us, n)), fmt(med('stream', 'direct', 'tuned', (r) => r.p99_us, n)), fmt(med('stream', 'direct', 'tuned', (r) => r.ttfc_p50_ms, n), 1), fmt(sum('stream', 'direct', 'tuned', (r) => r.lost, n)), '-'],
      ...minSrv.map((s) => [NAMES[s], fmt(med('stream', s, 'min', (r) => r.p50_us)), fmt(med('stream', s, 'min', (r) => r.p99_us)) + runs('stream', s, 'min', (r) => r.p99_us), fmt(med('stream', s, 'min', (r) => r.ttfc_p50_ms), 1), fmt(sum('stream', s, 'min', (r) => r.lost)), verdict(s)]),
    ],
  );
  if (minSrv.includes('tollgate')) target('streams with a minimal config', verdict('tollgate'), verdict('tollgate') === 'streams');
}

// ---------- 8. several servers ----------
clusterSection(rows, { p, table, fmt, ratio, target, median });

// ---------- 9. conversation affinity ----------
affinitySection(rows, { p, table, fmt, ratio, target });
// ---------- 10. HTTP/2 ----------
h2Section(rows, { p, table, fmt, ratio, target, median });

// ---------- checks ----------
if (present('wrk', 'tuned').length) {
  p('### Checks on the harness itself');
  p();
  const node = rows.find((r) => r.kind === 'node-client');
  const top = streamNs.length ? Math.max(...streamNs) : null;
  if (node && top) {
    p(`- Client: at ${fmt(node.n)} direct streams the Node client (bench/stream-latency.mjs) saw p50 ${fmt(node.p50_us)} µs, p99 ${fmt(node.p99_us)} µs, first chunk p50 ${fmt(node.ttfc_p50_ms, 1)} ms; the C client (bench/streamclient.c, used for every figure here) saw p50 ${fmt(med('stream', 'direct', 'tuned', (r) => r.p50_us, top))} µs, p99 ${fmt(med('stream', 'direct', 'tuned', (r) => r.p99_us, top))} µs, first chunk p50 ${fmt(med('stream', 'direct', 'tuned', (r) => r.ttfc_p50_ms, top), 1)} ms.`);
  }
  const mw = med('wrk', 'direct', 'tuned', (r) => r.mock_cpu_s / r.wall_s);
  const mp = median(rows.filter((r) => r.kind === 'wrk' && r.variant === 'tuned' && r.server !== 'direct').map((r) => r.mock_cpu_s / r.wall_s));
  p(`- Mock (${versions.mock_threads} threads, so at most 2 cores' worth): ${fmt(mw * 100)}% of a core during direct wrk runs (at ${fmt(med('wrk', 'direct', 'tuned', (r) => r.rps))} req/s), ${fmt(mp * 100)}% during proxied ones: the mock answers several times what any proxy passes it, so it is not what limits the proxied figures.`);
  if (top) {
    const ms = med('stream', 'direct', 'tuned', (r) => r.mock_cpu_s / r.wall_s, top);
    p(`- At ${fmt(top)} direct streams the mock used ${fmt(ms * 100)}% of a core over the run.`);
  }
  p();
}

// ---------- targets ----------
p('### Against the targets (/work/shared/TARGETS.md, issue 8)');
p();
table(['target', 'this run', 'status'], targets);

// ---------- versions ----------
p('### Versions and machine');
p();
p(`- date: ${versions.date}${versions.quick ? ' (QUICK smoke run: small counts, not for comparison)' : ''}`);
p(`- tollgate: ${versions.tollgate} (${versions.tollgate_commit})`);
p(`- ${versions.nginx}`);
p(`- ${versions.haproxy}`);
p(`- ${versions.caddy}`);
p(`- ${versions.h2o}`);
p(`- ${versions.wrk}`);
if (versions.h2load) p(`- ${versions.h2load}`);
p(`- kernel: ${versions.kernel}; CPUs: ${versions.cpus}; memory: ${versions.memory}; open files soft/hard: ${versions.nofile}; load average at the start: ${versions.loadavg ?? '-'}`);
if (versions.busy_at_start) p(`- other processes busy at the start (not part of the benchmark): ${versions.busy_at_start}`);
const endFile = path.join(dir, 'end.json');
if (fs.existsSync(endFile)) {
  const e = JSON.parse(fs.readFileSync(endFile, 'utf8'));
  p(`- load average at the end: ${e.loadavg}${e.busy_at_end ? `; busy at the end: ${e.busy_at_end}` : ''}`);
}
if (partial) p(`- scenarios run: ${scenarios.join(', ')} (SCENARIOS); servers: ${versions.servers}`);
p(`- ${versions.rounds} rounds, servers alternating (round 2 in reverse order); wrk ${versions.wrk_seconds} s per run; mock Ollama with ${versions.mock_threads} threads`);
p(`- raw figures: \`${path.relative(process.cwd(), dir)}/results.jsonl\` (one JSON object per run), wrk outputs, client outputs and every server's config and logs under \`logs/\``);
p();

const text = out.join('\n');
process.stdout.write(text);
let file = args.write;
if (file === 'auto') {
  const tlsOnly = scenarios.every((s) => s === 'tls' || s === 'handshake');
  file = !partial ? 'docs/benchmarks.md' : tlsOnly ? 'docs/benchmarks-tls.md' : null;
  if (!file) process.stderr.write('bench: a partial run (SCENARIOS) writes no doc; REPORT_DOC=FILE to write one\n');
}
if (file && partial && path.resolve(file) === path.resolve('docs/benchmarks.md')) {
  process.stderr.write('bench: not rewriting docs/benchmarks.md from a partial run (its other sections would lose their figures); REPORT_DOC=docs/benchmarks-tls.md, or run every scenario\n');
  file = null;
}
if (file) {
  const old = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const i = old.indexOf(MARKER);
  const head = i >= 0 ? old.slice(0, i) : '# Benchmarks\n\n(intro missing: see bench/run.sh)\n\n';
  const title = partial ? `## Results (${versions.date}; scenarios: ${scenarios.join(', ')})` : `## Results (${versions.date})`;
  fs.writeFileSync(file, `${head}${MARKER}\n\n${title}\n\n${text}`);
  process.stderr.write(`bench: wrote ${file}\n`);
}
