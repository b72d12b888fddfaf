// Conversation affinity (docs/upstreams.md#conversation-affinity): a chat's
// next turn goes to the server whose prompt cache holds its history, over
// mock servers with the simulator's per-slot prompt cache
// (docs/mock-ollama.md#the-prompt-cache).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from '../lib/harness.mjs';
import { request } from '../lib/http.mjs';
import { mockFault, mockRequests, startCluster } from '../lib/mock.mjs';
import { readLog } from '../lib/auth.mjs';
import { freePort, runToExit, sleep } from '../lib/proc.mjs';
import { assert } from '../lib/util.mjs';

const H = { Host: 'localhost' };
const spec = { models: 'm', slots: 2, tokens: 2, delayMs: 1, args: ['--prompt-eval-us-per-token', '200'] };

const conf = (port, mocks, { upstream = [], slots = 2, admin, log, workers = 1 } = {}) => [
  ...(admin ? [`admin 127.0.0.1:${admin};`] : []), log ? `access_log ${log};` : 'access_log off;', `workers ${workers};`,
  'upstream ollama {', ...mocks.map((m) => `  server 127.0.0.1:${m.port} slots ${slots};`),
  '  health interval 100ms timeout 100ms fails 1 passes 1;', ...upstream.map((l) => `  ${l}`), '}',
  `site _ { listen 127.0.0.1:${port}; proxy ollama; }`, ''].join('\n');

// Each server with the model loaded, and tollgate knowing it (its /api/ps).
async function cluster(t, n, opts = {}) {
  const mocks = await startCluster(t, Array.from({ length: n }, () => ({ ...spec, args: [...spec.args, ...(opts.mockArgs || [])] })));
  for (const m of mocks) {
    const r = await request(m.port, { method: 'POST', path: '/api/generate', headers: H, body: JSON.stringify({ model: 'm', prompt: 'warm', stream: false }) });
    assert.equal(r.status, 200, r.text);
  }
  const tg = await t.tollgate({ config: (port) => conf(port, mocks, opts) });
  await sleep(400);
  return { mocks, tg };
}

const system = (tag) => ({ role: 'system', content: `You are assistant ${tag}. `.padEnd(600, 'Answer carefully and briefly. ') });

// One turn: the answer's JSON and the index of the server that ran it.
const chats = (mocks) => Promise.all(mocks.map((m) => mockRequests(m, '/api/chat').then((r) => r.length, () => -1))); // -1: down
async function turn(tg, mocks, messages, headers = {}) {
  const before = await chats(mocks);
  const r = await request(tg.port, { method: 'POST', path: '/api/chat', body: JSON.stringify({ model: 'm', stream: false, messages }), headers });
  assert.equal(r.status, 200, r.text.slice(0, 300));
  const after = await chats(mocks);
  const server = after.findIndex((n, i) => n > before[i]);
  return { ...r.json(), server };
}

// A conversation: each turn adds the answer and a new question.
function conversation(tag) {
  const messages = [system(tag)];
  return {
    messages,
    ask(q) { messages.push({ role: 'user', content: `${q} (${tag}) `.padEnd(120, '.') }); return messages; },
    answered(a) { messages.push({ role: 'assistant', content: a.message.content }); },
  };
}

test('affinity: a multi-turn chat stays on the server that holds its history; only the new messages are evaluated', async (t) => {
  const { mocks, tg } = await cluster(t, 3);
  const convs = ['a', 'b', 'c'].map(conversation);
  const servers = convs.map(() => new Set());
  for (let k = 0; k < 4; k++) {
    for (const [i, c] of convs.entries()) {
      const a = await turn(tg, mocks, c.ask(`question ${k}`));
      servers[i].add(a.server);
      if (k > 0) assert.ok(a.prompt_eval_cached_count >= a.prompt_eval_count - 80,
        `turn ${k} of ${i}: ${a.prompt_eval_cached_count} of ${a.prompt_eval_count} from the cache`);
      c.answered(a);
    }
  }
  for (const [i, s] of servers.entries()) assert.equal(s.size, 1, `conversation ${i} went to servers ${[...s]}`);
});

// Two workers share one table: each request on a new connection, so the
// kernel spreads a conversation's turns over both. The servers run
// OLLAMA_MULTIUSER_CACHE: with Ollama's default slot choice, a new
// conversation sent to the same idle server (each worker takes its turn
// from the first server) takes over the slot that shares the template's
// opening, and the estimate learns that only from the answer.
test('affinity: two workers share the table: the turns of each chat stay on one server', async (t) => {
  const { mocks, tg } = await cluster(t, 3, { workers: 2, mockArgs: ['--multiuser-cache'] });
  const convs = ['p', 'q', 'r', 's'].map(conversation);
  const servers = convs.map(() => new Set());
  for (let k = 0; k < 3; k++) {
    for (const [i, c] of convs.entries()) {
      const a = await turn(tg, mocks, c.ask(`question ${k}`));
      servers[i].add(a.server);
      if (k > 0) assert.ok(a.prompt_eval_cached_count >= a.prompt_eval_count - 80, `turn ${k} of ${i}: ${a.prompt_eval_cached_count} of ${a.prompt_eval_count}`);
      c.answered(a);
    }
  }
  for (const [i, s] of servers.entries()) assert.equal(s.size, 1, `conversation ${i} went to servers ${[...s]}`);
});

test('affinity: affinity_table 0 turns it off (turns spread by load); -t refuses a bad value as file:line:col', async (t) => {
  const { mocks, tg } = await cluster(t, 2, { upstream: ['affinity_table 0;'] });
  const c = conversation('off');
  const seen = new Set();
  for (let k = 0; k < 6; k++) {
    const a = await turn(tg, mocks, c.ask(`q${k}`));
    seen.add(a.server);
    c.answered(a);
  }
  assert.equal(seen.size, 2, 'without affinity the idle servers take turns');
  const file = path.join(t.tmpDir(), 'a.conf');
  writeFileSync(file, 'upstream o {\n  server 127.0.0.1:1;\n  server 127.0.0.1:2;\n  affinity_slack soon;\n}\nsite _ { listen 127.0.0.1:1; proxy o; }\n');
  const r = await runToExit(t.tollgateBin, ['-t', '-c', file]);
  assert.equal(r.code, 1, r.stderr);
  assert.ok(r.stderr.includes(`${file}:4:18: 'affinity_slack' takes 'auto' or a duration from 0 to 1h, not 'soon'`), r.stderr);
});

test('affinity: two conversations with the same system prompt share it on one server', async (t) => {
  const { mocks, tg } = await cluster(t, 3);
  const a = conversation('shared'), b = conversation('shared');
  const ra = await turn(tg, mocks, a.ask('first question'));
  const rb = await turn(tg, mocks, b.ask('another question entirely'));
  assert.equal(rb.server, ra.server, 'the second conversation went where the system prompt is cached');
  assert.ok(rb.prompt_eval_cached_count >= 150, `the system prompt came from the cache: ${rb.prompt_eval_cached_count}`);
});

test('affinity: the chat moves when its server is down', async (t) => {
  const { mocks, tg } = await cluster(t, 3);
  const c = conversation('down');
  let a = await turn(tg, mocks, c.ask('one'));
  c.answered(a);
  const home = a.server;
  await mockFault(mocks[home], 'crash');
  await sleep(400); // the checks mark it down
  a = await turn(tg, mocks, c.ask('two'));
  assert.notEqual(a.server, home);
  assert.ok(a.server >= 0);
  c.answered(a);
  const next = await turn(tg, mocks, c.ask('three'));
  assert.equal(next.server, a.server, 'it stays on its new server');
  assert.ok(next.prompt_eval_cached_count > 0);
});

test('affinity: busy past affinity_slack the turn goes to a free server; within it, it waits for its own', async (t) => {
  for (const [slack, stays] of [['0ms', false], ['30s', true]]) {
    const { mocks, tg } = await cluster(t, 2, { slots: 1, upstream: [`affinity_slack ${slack};`] });
    const c = conversation(`busy ${slack}`);
    const a = await turn(tg, mocks, c.ask('one'));
    c.answered(a);
    // a long answer in the same conversation holds its server's only slot
    const long = request(tg.port, { method: 'POST', path: '/api/chat', headers: { 'X-Mock-Tokens': '40', 'X-Mock-Delay-Ms': '20' },
      body: JSON.stringify({ model: 'm', stream: false, messages: [...c.messages, { role: 'user', content: 'a long one' }] }) });
    await sleep(150);
    const b = await turn(tg, mocks, c.ask('two'));
    assert.equal((await long).status, 200);
    if (stays) assert.equal(b.server, a.server, `slack ${slack}: it waited for its server`);
    else assert.notEqual(b.server, a.server, `slack ${slack}: it went to the free server`);
  }
});

test('affinity: the access log\'s affinity field, tollgate_affinity_* and the servers\' prompt tokens in /metrics and /status.json', async (t) => {
  const admin = await freePort();
  const log = path.join(t.tmpDir(), 'access.log');
  const { mocks, tg } = await cluster(t, 2, { admin, log });
  const c = conversation('seen');
  const first = await turn(tg, mocks, c.ask('one'));
  c.answered(first);
  const second = await turn(tg, mocks, c.ask('two'));
  assert.equal(second.server, first.server);
  const recs = (await readLog(log, 2)).filter((r) => r.path === '/api/chat');
  assert.deepEqual(recs.map((r) => r.affinity), [0, 3], 'nothing matched, then system, question and answer... of turn one');
  const metrics = (await request(admin, { path: '/metrics', plain: true })).text;
  const series = (name) => {
    const line = metrics.split('\n').find((l) => l.startsWith(`${name}{upstream="ollama",server="127.0.0.1:${mocks[first.server].port}"} `));
    assert.ok(line, `${name} missing`);
    return Number(line.split(' ')[1]);
  };
  assert.equal(series('tollgate_affinity_hits_total'), 1);
  assert.ok(series('tollgate_affinity_matched_tokens') > 150);
  assert.equal(series('tollgate_server_prompt_tokens_cached_total'), first.prompt_eval_cached_count + second.prompt_eval_cached_count);
  assert.equal(series('tollgate_server_prompt_tokens_evaluated_total'),
    first.prompt_eval_count - first.prompt_eval_cached_count + second.prompt_eval_count - second.prompt_eval_cached_count);
  const status = JSON.parse((await request(admin, { path: '/status.json', plain: true })).text);
  const row = status.servers.find((x) => x.server === `127.0.0.1:${mocks[first.server].port}`);
  assert.equal(row.affinity_hits, 1);
  assert.equal(row.prompt_tokens_cached, first.prompt_eval_cached_count + second.prompt_eval_cached_count);
});
