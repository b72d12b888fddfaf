// bench/report-h2.mjs: the h2 scenario's tables (bench/h2.sh), for
// bench/report.mjs. Medians over rounds; the bars of issue 16.
const ORDER = ['tollgate', 'nginx', 'haproxy', 'caddy', 'h2o'];
const PEERS = ['nginx', 'haproxy', 'caddy', 'h2o'];
const LABEL = { tollgate: '**tollgate**', nginx: 'nginx', haproxy: 'HAProxy', caddy: 'Caddy', h2o: 'h2o' };

export function h2Section(rows, { p, table, fmt, ratio, target, median }) {
  const loads = rows.filter((r) => r.kind === 'h2load');
  const holds = rows.filter((r) => r.kind === 'h2hold');
  if (!loads.length && !holds.length) return;
  const srv = ORDER.filter((s) => loads.some((r) => r.server === s) || holds.some((r) => r.server === s));
  const rps = (s, l) => median(loads.filter((r) => r.server === s && r.load === l).map((r) => r.rps));
  const runsOf = (s, l) => {
    const v = loads.filter((r) => r.server === s && r.load === l).map((r) => fmt(r.rps));
    return v.length > 1 ? ` <sub>(${v.join(', ')})</sub>` : '';
  };
  const cpu = (s, l) => median(loads.filter((r) => r.server === s && r.load === l && r.succeeded).map((r) => (r.proxy_cpu_s / r.succeeded) * 1e6));
  const bad = (s, l) => loads.filter((r) => r.server === s && r.load === l).reduce((a, r) => a + (r.failed || 0) + (r.errored || 0) + (r.done - r.status_2xx || 0), 0);
  const protos = (s) => [...new Set(loads.filter((r) => r.server === s).map((r) => r.proto || '?'))].join(', ');
  const per = (s, w) => median(holds.filter((r) => r.server === s && r.what === w && !r.error).map((r) => r.per_kb));
  const holdErr = (s, w) => holds.filter((r) => r.server === s && r.what === w && r.error).map((r) => r.error).join('; ');
  const bestPeer = (l) => {
    let b = null;
    for (const s of PEERS) { const v = rps(s, l); if (v !== null && (b === null || v > b[1])) b = [s, v]; }
    return b;
  };
  const ex = loads[0];
  const labels = [...new Set(loads.map((r) => r.load))];
  p('### 9. HTTP/2 over TLS (ALPN h2): h2load on `GET /api/version`; memory per idle connection and per live stream (bench/h2.sh)');
  p();
  if (ex) p(`h2load ${labels.map((l) => `\`${loads.find((r) => r.load === l).args}\` (${l})`).join(' and ')}, one self-signed P-256 certificate, TLS 1.3. Memory: RSS growth of all the server's processes, fresh server each time, after the \`hold\` warm-up (bench/h2hold.mjs holds the connections).`);
  p();
  const idleN = holds.find((r) => r.what === 'idle')?.n, strN = holds.find((r) => r.what === 'streams')?.n;
  const bf = bestPeer('few'), bm = bestPeer('many');
  table(
    ['server', 'req/s, few connections (runs)', `x best peer${bf ? ` (${LABEL[bf[0]]})` : ''}`, 'CPU µs/request', 'req/s, many connections (runs)', `x best peer${bm ? ` (${LABEL[bm[0]]})` : ''}`, 'CPU µs/request', 'failed or non-2xx', 'protocol', `KB per idle h2 connection (${fmt(idleN)})`, `KB per live h2 stream (${fmt(strN)})`],
    srv.map((s) => [
      LABEL[s],
      fmt(rps(s, 'few')) + runsOf(s, 'few'), s === 'tollgate' && bf ? ratio(rps(s, 'few'), bf[1]) : '-', fmt(cpu(s, 'few'), 1),
      fmt(rps(s, 'many')) + runsOf(s, 'many'), s === 'tollgate' && bm ? ratio(rps(s, 'many'), bm[1]) : '-', fmt(cpu(s, 'many'), 1),
      fmt(bad(s, 'few') + bad(s, 'many')), protos(s),
      holdErr(s, 'idle') || fmt(per(s, 'idle'), 2), holdErr(s, 'streams') || fmt(per(s, 'streams'), 2),
    ]),
  );
  const h1 = median(rows.filter((r) => r.kind === 'hold' && r.server === 'tollgate' && r.variant === 'tls' && r.n === strN).map((r) => r.per_stream_kb));
  if (h1 !== null) p(`tollgate over HTTP/1.1 and TLS in the same run, ${fmt(strN)} slow streams (one connection each, bench/streamclient.c): ${fmt(h1, 2)} KB per stream.`);
  p();
  for (const [l, b] of [['few', bf], ['many', bm]]) {
    const t = rps('tollgate', l);
    if (t !== null && b) target(`h2load req/s (${l} connections) >= 1.2x best peer`, `${fmt(t)} vs ${LABEL[b[0]]} ${fmt(b[1])}: ${ratio(t, b[1])}`, t >= 1.2 * b[1]);
  }
  const idle = per('tollgate', 'idle');
  if (idle !== null) target('memory per idle HTTP/2 connection <= 20 KB', `${fmt(idle, 2)} KB`, idle <= 20);
  const st = per('tollgate', 'streams');
  if (st !== null && h1 !== null) target('memory per live HTTP/2 stream <= HTTP/1 over TLS', `${fmt(st, 2)} KB vs ${fmt(h1, 2)} KB`, st <= h1);
}
