// Helpers for the auth tests (tests/auth*.test.mjs): a config with auth
// lines in its site, Basic credentials, the access log, raw statuses.
import { readFileSync, existsSync } from 'node:fs';
import { rawExchange } from './http.mjs';
import { sleep } from './proc.mjs';

export function authConfig({ port, upstream, lines = [], workers = 2, accessLog }) {
  return [
    `workers ${workers};`,
    accessLog ? `access_log ${accessLog};` : '',
    `upstream ollama { server ${upstream}; }`,
    'site _ {',
    `  listen 127.0.0.1:${port};`,
    ...lines.map((l) => `  ${l}`),
    '}',
  ].join('\n') + '\n';
}

// A mock and a tollgate whose site has the given auth lines.
export async function authPair(t, lines, opts = {}) {
  const mock = await t.mock();
  const tg = await t.tollgate({
    config: (port) => authConfig({ port, upstream: `127.0.0.1:${mock.port}`, lines, ...opts }),
  });
  return { mock, tg };
}

export const basic = (u, p) => 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64');

export async function readLog(file, n, timeoutMs = 3000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
    if (lines.length >= n || Date.now() > deadline) return lines.map((l) => JSON.parse(l));
    await sleep(50);
  }
}

// Status of the first response to raw bytes.
export async function rawStatus(port, bytes, opts) {
  const r = await rawExchange(port, bytes, { timeoutMs: 2000, ...opts });
  return r.responses.length ? r.responses[0].status : 0;
}
