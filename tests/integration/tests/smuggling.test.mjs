// The request-smuggling / strict-HTTP vector table (vectors/requests.mjs):
// each raw request goes to the real tollgate in front of the mock Ollama on
// its own connection, and two things are checked:
//   - the outcome: refused (4xx, connection closed) or accepted (the
//     expected statuses; checks on what the upstream received);
//   - the desync property: the mock never logged a request the client got no
//     answer for, never logged a path with "/smuggled", and the client got no
//     answer it did not ask for.
// One tollgate + mock per family; /_mock/reset before each vector (vectors
// run one after another), so the mock's log holds only that vector's
// requests. A failing vector is reported with its raw bytes; the last test
// prints the summary line (and fails if any vector desynchronised).
// TG_VECTORS_VERBOSE=1 prints one line per vector (outcome, statuses, time).
import { test } from '../lib/harness.mjs';
import { RawConn } from '../lib/http.mjs';
import { mockReset, mockRequests } from '../lib/mock.mjs';
import { sleep } from '../lib/proc.mjs';
import { vectors, expectedStatuses } from '../vectors/requests.mjs';

const GRACE_MS = 150;   // how long to wait for an answer nobody asked for
const CLOSE_MS = 2500;  // how long a refused / closing connection may take to close
const SETTLE_MS = 15;   // for anything still on its way to the mock

const summary = { total: 0, refused: 0, accepted: 0, either: 0, eitherRefused: 0, desyncs: 0, smuggled: 0, failed: [], ran: 0 };

const show = (s) => JSON.stringify(s.length > 160 ? `${s.slice(0, 120)}…(${s.length} bytes)…${s.slice(-30)}` : s);
const statusOk = (got, want) => (want === '4xx' ? got >= 400 && got < 500 : Array.isArray(want) ? want.some((w) => statusOk(got, w)) : got === want);
const fmtWant = (w) => (Array.isArray(w) ? w.join('|') : String(w));

async function runVector(v, tg, mock) {
  const id = v.id;
  const parts = (Array.isArray(v.raw) ? v.raw : [v.raw]).map((p) => Buffer.from(p.replaceAll('@ID@', id), 'latin1'));
  await mockReset(mock);
  const c = await RawConn.connect(tg.port);
  for (const m of v.methods || []) c.parser.expect(m);
  for (let i = 0; i < parts.length; i++) {
    if (i) await sleep(30);
    if (c.closed) break;
    await c.write(parts[i]);
  }
  const want = expectedStatuses(v);
  const finals = () => c.parser.responses.filter((r) => r.status < 100 || r.status >= 200 || r.status === 101);
  const t0 = Date.now();
  // wait for the close, or (keep-alive vectors) for the answers plus a grace period
  const mayStayOpen = v.expect === 'accept' && v.close === false;
  const deadline = t0 + CLOSE_MS + 1000;
  while (!c.closed && !c.parser.error && Date.now() < deadline) {
    if (mayStayOpen && finals().length >= want.length) {
      await sleep(GRACE_MS);
      break;
    }
    if (v.expect === 'either' && v.close === false && finals().length >= 1 && finals()[0].status < 400) {
      await sleep(GRACE_MS);
      break;
    }
    await c.until(() => c.closed || c.parser.error || finals().length > 0, 100, 'x').catch(() => {});
    await sleep(5);
  }
  const closed = c.closed;
  c.destroy();
  await sleep(SETTLE_MS);
  const got = finals();
  const reqs = await mockRequests(mock);
  const problems = [];
  let desync = false;

  // --- desync property -------------------------------------------------
  // Answers relayed from the mock carry its Date header; tollgate's own
  // errors have none. Every request the mock logged must have its answer
  // relayed to the client: one the gateway refused (or dropped) after the
  // upstream had it is a desync.
  const relayed = got.filter((r) => 'date' in r.headers).length;
  if (reqs.length > relayed) {
    desync = true;
    problems.push(`DESYNC: the upstream got ${reqs.length} request(s) (${names(reqs)}) but only ${relayed} of its answers reached the client (client saw [${got.map((r) => r.status).join(', ')}])`);
  }
  const smuggled = reqs.filter((r) => /smuggled/i.test(r.path));
  if (smuggled.length) problems.push(`SMUGGLED: the upstream got ${names(smuggled)}`);
  if (c.parser.error) problems.push(`the client could not parse the answer: ${c.parser.error.message}`);

  // --- outcome ------------------------------------------------------------
  let outcome = v.expect;
  if (v.expect === 'either') {
    outcome = got.length && got[got.length - 1].status >= 400 && got[got.length - 1].status < 500 ? 'refuse' : 'accept';
  }
  const wantStatuses = v.expect === 'either' ? (outcome === 'refuse' ? ['4xx'] : (v.statuses || [200])) : want;
  const gotS = got.map((r) => r.status);
  const ok = gotS.length === wantStatuses.length && gotS.every((s, i) => statusOk(s, wantStatuses[i]));
  if (!ok) problems.push(`statuses [${gotS.join(', ')}], want [${wantStatuses.map(fmtWant).join(', ')}]`);
  if (outcome === 'refuse' && !closed) problems.push('the connection was left open after the refusal');
  if (v.expect === 'accept' && v.close !== false && !closed) problems.push('the connection did not close after the last answer');
  const wantUp = v.upstream ?? (outcome === 'refuse' ? (v.before || []).length : wantStatuses.length);
  if (reqs.length !== wantUp && !desync) problems.push(`the upstream got ${reqs.length} request(s) (${names(reqs)}), want ${wantUp}`);
  if (outcome === 'accept' && v.check && reqs.length) {
    const e = v.check(reqs);
    if (e) problems.push(e);
  }
  return { problems, desync, smuggled: smuggled.length > 0, outcome, gotS, closed, ms: Date.now() - t0, raw: Buffer.concat(parts).toString('latin1'), reqs };
}

function names(reqs) { return reqs.map((r) => `${r.method} ${r.path}`).join(', '); }

const families = [...new Set(vectors.map((v) => v.family))];

const KB1 = (port, upstream) => [
  'workers 1;',
  'access_log off;',
  `upstream ollama { server ${upstream}; }`,
  'site _ {',
  `  listen 127.0.0.1:${port};`,
  '  max_header_size 1k;',
  '  proxy ollama;',
  '}',
  '',
].join('\n');

for (const fam of families) {
  const list = vectors.filter((v) => v.family === fam);
  test(`${fam}: ${list.length} vectors`, async (t) => {
    const mock = await t.mock();
    const tg = fam === 'limits-1k'
      ? await t.tollgate({ config: (port) => KB1(port, `127.0.0.1:${mock.port}`) })
      : await t.tollgate({ accessLog: 'off' });
    const fails = [];
    for (const v of list) {
      let r;
      try {
        r = await runVector(v, tg, mock);
      } catch (err) {
        r = { problems: [`runner: ${err.message}`], desync: false, smuggled: false, outcome: v.expect, gotS: [], raw: '' };
      }
      if (process.env.TG_VECTORS_VERBOSE) {
        console.log(`  [${v.id}] ${v.expect} -> ${r.outcome} [${(r.gotS || []).join(',')}]${r.closed ? ' closed' : ''} ${r.ms ?? '?'} ms${r.problems.length ? ' FAIL' : ''}`);
      }
      summary.ran++;
      summary.total++;
      if (v.expect === 'refuse') summary.refused++;
      else if (v.expect === 'accept') summary.accepted++;
      else {
        summary.either++;
        if (r.outcome === 'refuse') summary.eitherRefused++;
      }
      if (r.desync) summary.desyncs++;
      if (r.smuggled) summary.smuggled++;
      if (r.problems.length) {
        const line = `[${v.id}] ${v.name} (expect ${v.expect}): ${r.problems.join('; ')}; raw ${show(r.raw || v.raw)}`;
        fails.push(line);
        summary.failed.push(line);
      }
      if (tg.exited) {
        fails.push(`tollgate exited after [${v.id}] (code ${tg.exitCode}, signal ${tg.exitSignal})`);
        break;
      }
    }
    t.note(`${list.length} vectors, ${list.length - fails.length} as expected`);
    if (fails.length) throw new Error(`${fails.length} of ${list.length} vectors failed:\n${fails.join('\n')}`);
  }, { timeoutMs: 180000 });
}

test('summary', async (t) => {
  const s = summary;
  const line = `vectors ${s.total}: refused ${s.refused}, accepted controls ${s.accepted}, either ${s.either} (refused ${s.eitherRefused}), `
    + `not as expected ${s.failed.length}, desyncs ${s.desyncs}, smuggled requests forwarded ${s.smuggled}`;
  t.note(line);
  if (s.ran === 0) return; // the filter selected no family
  if (s.total < 100 && s.ran === vectors.length) throw new Error(`only ${s.total} vectors (want at least 100)`);
  if (s.desyncs || s.smuggled) throw new Error(`${line}: desyncs and smuggled requests must be 0`);
});
