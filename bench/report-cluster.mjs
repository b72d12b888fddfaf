// bench/report-cluster.mjs: the cluster scenario's table (bench/cluster.sh),
// for bench/report.mjs. Medians over rounds; 404s, 503s and errors summed.
const ORDER = ['tollgate', 'tollgate-single', 'nginx', 'haproxy', 'caddy'];
const LABEL = { tollgate: '**tollgate**', 'tollgate-single': 'tollgate, one server of four (no cluster figure)', nginx: 'nginx `least_conn`, next upstream on 404/503', haproxy: 'HAProxy `leastconn`, `retry-on 404 503`', caddy: 'Caddy `least_conn`, retries' };

export function clusterSection(rows, { p, table, fmt, ratio, target, median }) {
  const all = rows.filter((r) => r.kind === 'cluster');
  if (!all.length) return;
  const runs = all.filter((r) => !r.skipped && !r.error && r.variant === 'cluster');
  const kills = all.filter((r) => !r.skipped && !r.error && r.variant === 'cluster-kill');
  const c = runs[0];
  p('### 8. Several Ollama servers: a mixed-model workload with slow model loads (bench/cluster.sh)');
  p();
  if (c) {
    const cats = c.catalogues.split(' ').map((s, i) => `server ${i + 1}: ${s.split(',').join(', ')}`).join('; ');
    p(`${c.servers} simulated Ollama servers (mock-ollama's simulator): ${cats}. Each has room for ${c.max_loaded} loaded model(s), ${c.slots} slots per model, ${fmt(c.load_ms / 1000, 1)} s per load, ${c.tokens} tokens ${c.delay_ms} ms apart per answer. ${c.clients} clients in a closed loop for ${c.seconds} s, models drawn ${c.mix.split(',').join(', ')} (the same seeded sequence for every balancer; ${c.backoff_ms} ms pause after a failure). Fresh servers for each balancer, nothing loaded at the start.`);
    p();
  }
  const med = (s, f) => median(runs.filter((r) => r.server === s).map(f));
  const sum = (s, f) => runs.filter((r) => r.server === s).reduce((a, r) => a + (f(r) || 0), 0);
  const base = med('nginx', (r) => r.completed);
  const body = [];
  for (const s of ORDER) {
    const skipped = all.find((r) => r.server === s && r.skipped);
    if (skipped && !runs.some((r) => r.server === s)) {
      body.push([LABEL[s], `not run: ${skipped.skipped} (issue 15)`, '', '', '', '', '', '', '', '', '']);
      continue;
    }
    if (!runs.some((r) => r.server === s)) continue;
    const done = med(s, (r) => r.completed);
    body.push([
      LABEL[s],
      `${fmt(done)} (${fmt(med(s, (r) => r.completed_per_s), 2)}/s)`,
      ratio(done, base),
      fmt(med(s, (r) => r.ttft_p50_ms)),
      fmt(med(s, (r) => r.ttft_p99_ms)),
      fmt(med(s, (r) => r.loads)),
      fmt(med(s, (r) => (r.completed ? r.loads / r.completed : null)), 2),
      `${fmt(med(s, (r) => r.loading_share * 100))}%`,
      `${fmt(sum(s, (r) => r.client_404))} / ${fmt(sum(s, (r) => r.client_503))}`,
      fmt(sum(s, (r) => r.client_errors + r.client_other + (r.client_cut || 0))),
      `${fmt(sum(s, (r) => r.server_404))} / ${fmt(sum(s, (r) => r.server_503))}`,
    ]);
  }
  table(['balancer', 'completed', 'x nginx', 'TTFT p50 ms', 'TTFT p99 ms', 'model loads', 'loads per completed', 'server time loading', '404 / 503 to clients', 'other errors to clients', '404 / 503 answered by servers'], body);
  p('TTFT: from sending the request to the first token line, completed requests only. Server time loading: the time during which a server was loading a model, over all servers\' time. 404 / 503 answered by servers minus those to clients: the balancer retried them elsewhere.');
  p();
  const t = med('tollgate', (r) => r.completed);
  if (t !== null && base) {
    target('cluster: completed >= 1.6x nginx least_conn', `${fmt(t)} vs ${fmt(base)}: ${ratio(t, base)}`, t >= 1.6 * base);
    const lpc = med('tollgate', (r) => r.loads / r.completed);
    target('cluster: model loads per completed request <= 0.15', fmt(lpc, 2), lpc <= 0.15);
    const leaked = sum('tollgate', (r) => r.client_404 + r.client_503);
    target('cluster: no 404 or 503 reaches a client', fmt(leaked), leaked === 0);
  }
  if (!kills.length) return;
  p(`With server 1 crashed halfway through (CLUSTER_KILL=1: its streams reset, its port refusing from then on):`);
  p();
  const kmed = (s, f) => median(kills.filter((r) => r.server === s).map(f));
  const ksum = (s, f) => kills.filter((r) => r.server === s).reduce((a, r) => a + (f(r) || 0), 0);
  const before = (r) => r.client_404 + r.client_503 + r.client_other + r.client_errors;
  table(
    ['balancer', 'completed', 'failed before their first token (404 / 503 / other status / connection)', 'cut after their first token'],
    ORDER.filter((s) => kills.some((r) => r.server === s)).map((s) => [
      LABEL[s],
      fmt(kmed(s, (r) => r.completed)),
      `${fmt(ksum(s, before))} (${fmt(ksum(s, (r) => r.client_404))} / ${fmt(ksum(s, (r) => r.client_503))} / ${fmt(ksum(s, (r) => r.client_other))} / ${fmt(ksum(s, (r) => r.client_errors))})`,
      fmt(ksum(s, (r) => r.client_cut)),
    ]),
  );
  if (kills.some((r) => r.server === 'tollgate')) {
    const f = ksum('tollgate', before);
    target('cluster: a server killed mid-run fails no request that had not started streaming', fmt(f), f === 0);
  }
}
