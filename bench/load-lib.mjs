// bench/load-lib.mjs: what the load generators of the cluster and affinity
// scenarios share.

// mulberry32: a small seeded generator (one per client: every balancer
// under test sees the same sequence).
export function rng(s) {
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Calls fn with each NDJSON object of a response as it comes ({ error:
// 'bad line' } for a line that is not JSON; blank lines skipped).
export function ndjson(res, fn) {
  let buf = '';
  res.setEncoding('utf8');
  res.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (!line.trim()) continue;
      let o;
      try { o = JSON.parse(line); } catch { o = { error: 'bad line' }; }
      fn(o);
    }
  });
}
