// Config file text for tests (syntax: docs/configuration.md).
//   siteConfig({ listenPort, upstream: '127.0.0.1:PORT', upstreamTimeouts: { dial, header, idle },
//                siteTimeouts: { header, body, keepalive, send }, mount, maxBody, accessLog, workers })
export function siteConfig(o) {
  const ut = o.upstreamTimeouts || {};
  const st = o.siteTimeouts || {};
  const lines = [];
  lines.push('# written by tests/integration');
  lines.push(`workers ${o.workers ?? 2};`);
  if (o.accessLog) lines.push(`access_log ${o.accessLog};`);
  lines.push('upstream ollama {');
  lines.push(`  server ${o.upstream};`);
  const utw = Object.entries(ut).map(([k, v]) => `${k} ${v}`).join(' ');
  if (utw) lines.push(`  timeout ${utw};`);
  lines.push('}');
  lines.push('site _ {');
  lines.push(`  listen 127.0.0.1:${o.listenPort};`);
  if (o.mount) lines.push(`  mount ${o.mount};`);
  if (o.maxBody) lines.push(`  client_max_body_size ${o.maxBody};`);
  const stw = Object.entries(st).map(([k, v]) => `${k} ${v}`).join(' ');
  if (stw) lines.push(`  timeout ${stw};`);
  lines.push('  proxy ollama;');
  lines.push('}');
  return lines.join('\n') + '\n';
}
