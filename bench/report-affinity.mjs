// bench/report-affinity.mjs: the affinity scenario's table (bench/affinity.sh),
// for bench/report.mjs, and the issue 21 bar in one run.
const ORDER = ['tollgate', 'tollgate-noaff', 'nginx-least_conn', 'nginx-hash'];
const LABEL = {
  tollgate: '**tollgate** (affinity)',
  'tollgate-noaff': 'tollgate, `affinity_table 0`',
  'nginx-least_conn': 'nginx `least_conn`',
  'nginx-hash': 'nginx `hash $http_x_conversation_id consistent`',
};

export function affinitySection(rows, { p, table, fmt, ratio, target }) {
  const runs = rows.filter((r) => r.kind === 'affinity' && !r.error);
  if (!runs.length) return;
  const c = runs[0];
  const of = (s) => runs.find((r) => r.server === s);
  p('### 9. Conversation affinity: multi-turn chats over servers with a prompt cache (bench/affinity.sh)');
  p();
  p(`${c.servers} simulated Ollama servers with the model loaded, ${c.slots} slots each, prompt evaluation at ${c.eval_us_per_token} µs a token not served by the slot's cache; ${c.clients} clients for ${c.seconds} s, each holding conversations of ${c.turns} turns (${c.think_ms} ms between turns), the same seeded conversations for every balancer; nginx hash routes by the X-Conversation-Id header the client sends.`);
  p();
  table(
    ['balancer', 'completed turns', 'follow-up TTFT p50 ms', 'follow-up TTFT p99 ms', 'first-turn TTFT p50 / p99 ms', 'prompt tokens evaluated per follow-up', 'served from cache per follow-up'],
    ORDER.filter(of).map((s) => {
      const r = of(s);
      return [LABEL[s], fmt(r.completed_turns), fmt(r.followup_ttft_p50_ms, 1), fmt(r.followup_ttft_p99_ms, 1),
        `${fmt(r.first_ttft_p50_ms, 1)} / ${fmt(r.first_ttft_p99_ms, 1)}`, fmt(r.followup_evaluated_mean, 1), fmt(r.followup_cached_mean, 1)];
    }),
  );
  const t = of('tollgate'), off = of('tollgate-noaff'), lc = of('nginx-least_conn'), h = of('nginx-hash');
  if (t && off) {
    target('affinity: follow-up TTFT p50 <= 0.5x tollgate without affinity', `${fmt(t.followup_ttft_p50_ms, 1)} vs ${fmt(off.followup_ttft_p50_ms, 1)} ms: ${ratio(t.followup_ttft_p50_ms, off.followup_ttft_p50_ms)}`,
      t.followup_ttft_p50_ms <= 0.5 * off.followup_ttft_p50_ms);
    target('affinity: completed turns not fewer than without affinity', `${fmt(t.completed_turns)} vs ${fmt(off.completed_turns)}`, t.completed_turns >= off.completed_turns);
  }
  if (t && lc)
    target('affinity: prompt tokens evaluated per follow-up <= 0.3x nginx least_conn', `${fmt(t.followup_evaluated_mean, 1)} vs ${fmt(lc.followup_evaluated_mean, 1)}: ${ratio(t.followup_evaluated_mean, lc.followup_evaluated_mean)}`,
      t.followup_evaluated_mean <= 0.3 * lc.followup_evaluated_mean);
  if (t && h)
    target('affinity: no worse than nginx hash on a conversation id (follow-up TTFT p50 within 5%, tokens evaluated)', `${fmt(t.followup_ttft_p50_ms, 1)} vs ${fmt(h.followup_ttft_p50_ms, 1)} ms, ${fmt(t.followup_evaluated_mean, 1)} vs ${fmt(h.followup_evaluated_mean, 1)} tokens`,
      t.followup_ttft_p50_ms <= h.followup_ttft_p50_ms * 1.05 && t.followup_evaluated_mean <= h.followup_evaluated_mean);
}
