'use strict';
// The live view: /status.json pushed by /status/stream (or polled each
// second when that is not available), drawn without outside assets.
const $ = (id) => document.getElementById(id);
let sortKey = 'age_ms', sortDesc = true, last = null;

function fmt(n, d) { return n === null || n === undefined ? '-' : Number(n).toFixed(d || 0); }
function dur(ms) {
  if (ms === null || ms === undefined) return '-';
  if (ms < 1000) return ms + ' ms';
  const s = ms / 1000;
  return s < 60 ? s.toFixed(1) + ' s' : Math.floor(s / 60) + ' min ' + Math.floor(s % 60) + ' s';
}
function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
}
function fill(id, rows, make) {
  const tb = $(id).tBodies[0];
  const frag = document.createDocumentFragment();
  for (const r of rows) { const tr = document.createElement('tr'); make(tr, r); frag.appendChild(tr); }
  tb.replaceChildren(frag);
}
function chart(id, label, arr) {
  const max = Math.max(0, ...arr.map(Number));
  const pts = arr.map((v, i) => i + ',' + (30 - (max > 0 ? (Number(v) / max) * 28 : 0)).toFixed(2)).join(' ');
  // numbers only; parsed in the SVG's namespace
  $(id).innerHTML = '<polygon points="0,30 ' + pts + ' ' + (arr.length - 1) + ',30"></polygon><polyline points="' + pts + '"></polyline>';
  $(label).textContent = 'max ' + (max >= 10 ? max.toFixed(0) : max.toFixed(1));
}

function render(s) {
  last = s;
  const w10 = s.windows['10s'], w1 = s.windows['1m'], w15 = s.windows['15m'];
  $('meta').textContent = 'version ' + s.version + ', up ' + dur(s.uptime_s * 1000) + ', ' + s.workers + ' workers';
  $('live').textContent = s.streams.length;
  $('rps').textContent = fmt(w1.requests_per_s, 2);
  $('tps').textContent = fmt(w10.tokens_per_s, 1);
  $('ttft').textContent = fmt(w1.ttft_p50_ms) + ' / ' + fmt(w1.ttft_p95_ms) + ' ms';
  $('stps').textContent = fmt(w1.stream_tps_p50, 1) + ' / ' + fmt(w1.stream_tps_p95, 1);
  $('errs').textContent = w1.errors;
  $('queued').textContent = s.queued + s.queues.reduce((a, q) => a + q.depth, 0);
  chart('chart-rps', 'c-rps', s.series.requests_per_s);
  chart('chart-tps', 'c-tps', s.series.tokens_per_s);
  chart('chart-ttft', 'c-ttft', s.series.ttft_p50_ms);
  chart('chart-err', 'c-err', s.series.errors);
  renderStreams(s, w1);
  // the share of prompt tokens the server's cache served, and the affinity hits (docs/upstreams.md)
  const cacheShare = (x) => {
    const a = x.prompt_tokens_cached || 0, n = a + (x.prompt_tokens_evaluated || 0);
    return n ? (100 * a / n).toFixed(0) + '% of ' + n + ' tokens, ' + (x.affinity_hits || 0) + ' affinity hits' : '';
  };
  fill('servers', s.servers, (tr, x) => {
    cell(tr, x.upstream); cell(tr, x.server);
    cell(tr, x.up ? 'up' : 'down', x.up ? 'up' : 'down');
    cell(tr, x.in_flight + ' / ' + x.slots, 'n');
    cell(tr, (x.loaded || []).join(', '));
    cell(tr, x.loads, 'n'); cell(tr, x.errors, 'n');
    cell(tr, cacheShare(x));
  });
  const models = new Map();
  for (const m of s.live_models) models.set(m.model, { streams: m.in_flight, rate: m.tokens_per_s, queued: 0 });
  for (const q of s.queues) {
    const m = models.get(q.model) || { streams: 0, rate: 0, queued: 0 };
    m.queued += q.depth;
    if (m.streams || m.queued) models.set(q.model, m);
  }
  fill('models', [...models.entries()], (tr, [name, m]) => {
    cell(tr, name); cell(tr, m.streams, 'n'); cell(tr, fmt(m.rate, 1), 'n'); cell(tr, m.queued, 'n');
  });
  fill('errors', Object.keys(w10.errors_by_reason), (tr, k) => {
    cell(tr, k.replace('_', ' '));
    for (const w of [w10, w1, w15]) cell(tr, w.errors_by_reason[k], w.errors_by_reason[k] ? 'n down' : 'n');
  });
  fill('tokens', s.tokens, (tr, x) => {
    cell(tr, x.user); cell(tr, x.model); cell(tr, x.requests, 'n'); cell(tr, x.prompt, 'n'); cell(tr, x.output, 'n');
  });
  const certs = (s.certs || []).map((c) => c.name + ' until ' + new Date(c.not_after * 1000).toISOString().slice(0, 10));
  $('certs').textContent = certs.length ? 'certificates: ' + certs.join(', ') : '';
}

const MAX_ROWS = 300;
function renderStreams(s, w1) {
  const rows = s.streams.slice();
  const k = sortKey, dir = sortDesc ? -1 : 1;
  rows.sort((a, b) => {
    const x = a[k], y = b[k];
    if (x === y) return 0;
    if (x === null) return 1;
    if (y === null) return -1;
    return (x < y ? -1 : 1) * dir;
  });
  const slow = w1.stream_tps_p50 / 2;
  fill('streams', rows.slice(0, MAX_ROWS), (tr, x) => {
    cell(tr, x.user === null ? '-' : x.user); cell(tr, x.client); cell(tr, x.model === null ? '-' : x.model);
    cell(tr, x.server === null ? '-' : x.server); cell(tr, x.route);
    cell(tr, dur(x.age_ms), 'n'); cell(tr, dur(x.ttft_ms), 'n'); cell(tr, x.tokens, 'n');
    cell(tr, fmt(x.tokens_per_s, 1), x.ttft_ms !== null && x.tokens_per_s < slow ? 'n slow' : 'n');
  });
  $('nstreams').textContent = rows.length > MAX_ROWS ? '(' + MAX_ROWS + ' of ' + rows.length + ')' : '';
  for (const th of $('streams').tHead.rows[0].cells) {
    th.className = (th.classList.contains('n') ? 'n ' : '') + (th.dataset.k === k ? 'sorted' + (sortDesc ? '' : ' asc') : '');
  }
}

for (const th of document.querySelectorAll('#streams th')) {
  th.addEventListener('click', () => {
    const k = th.dataset.k;
    if (k === sortKey) sortDesc = !sortDesc;
    else { sortKey = k; sortDesc = k !== 'tokens_per_s'; } // slowest first, else largest first
    if (last) renderStreams(last, last.windows['1m']);
  });
}

function online(ok, why) {
  $('conn').className = ok ? 'dot on' : 'dot';
  $('err').textContent = ok ? '' : why;
}
let polling = null;
async function poll() {
  try {
    const r = await fetch('status.json', { cache: 'no-store' });
    render(await r.json());
    online(true);
  } catch (e) { online(false, 'cannot read status.json: ' + e); }
}
function startPolling() { if (!polling) polling = setInterval(poll, 1000); }
poll();
if (window.EventSource) {
  let fails = 0;
  const es = new EventSource('status/stream');
  es.onmessage = (e) => { fails = 0; render(JSON.parse(e.data)); online(true); };
  es.onerror = () => { if (++fails >= 3) { es.close(); startPolling(); } online(false, 'reconnecting'); };
} else startPolling();
