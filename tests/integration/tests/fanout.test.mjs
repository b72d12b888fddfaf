// One API over several servers (docs/upstreams.md#one-api-over-several-servers):
// the listings merged, pull and create to every server (or the one named by
// X-Tollgate-Server) with one progress stream, delete to the servers that
// have the model; checked with raw requests and with ollama-js.
import { test } from '../lib/harness.mjs';
import { clientRequest, request } from '../lib/http.mjs';
import { mockRequests, startCluster } from '../lib/mock.mjs';
import { freePort, sleep } from '../lib/proc.mjs';
import { assert } from '../lib/util.mjs';

let Ollama;
try {
  ({ Ollama } = await import('ollama'));
} catch (e) {
  const why = `npm clients not installed (run: npm ci --prefix tests/integration): ${e.message}`;
  Ollama = function missing() { throw new Error(why); };
}

function clusterConf(port, servers, upstream = [], site = []) {
  return ['workers 1;', 'access_log off;', 'upstream ollama {', ...servers.map((s) => `  server ${s};`),
    ...upstream.map((l) => `  ${l}`), '}', `site _ { listen 127.0.0.1:${port}; proxy ollama; ${site.join(' ')} }`, '']
    .join('\n');
}

const addr = (m) => `127.0.0.1:${m.port}`;
const get = (port, path, headers = {}) => request(port, { path, headers: { Host: 'localhost', ...headers } });
const post = (port, path, body, headers = {}, method = 'POST') => { // node frames a DELETE's body only when told its length
  const text = JSON.stringify(body);
  return request(port, { method, path, body: text,
    headers: { Host: 'localhost', 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers } });
};
const lines = (text) => text.split('\n').filter((l) => l).map((l) => JSON.parse(l));

// Two servers with different catalogues: b is on both, newer on the second.
async function twoServers(t, specs = [{ models: 'a,b' }, { models: 'b,c' }]) {
  const mocks = await startCluster(t, specs);
  const admin = await freePort();
  const tg = await t.tollgate({ config: (port) => `admin 127.0.0.1:${admin};\n${clusterConf(port, mocks.map(addr))}` });
  for (let i = 0; i < 200; i++) { // the first health checks: every catalogue known
    const s = (await get(admin, '/status.json')).json();
    if (s.servers.length === mocks.length && s.servers.every((x) => x.models > 0)) break;
    await sleep(25);
  }
  tg.admin = admin;
  return { mocks, tg };
}

test('several servers: /api/tags is the union, deduplicated, the newest modified_at kept, newest first', async (t) => {
  const { mocks, tg } = await twoServers(t);
  const direct = (await get(mocks[1].port, '/api/tags')).json().models.find((m) => m.name === 'b:latest');
  const older = (await get(mocks[0].port, '/api/tags')).json().models.find((m) => m.name === 'b:latest');
  assert.ok(Date.parse(direct.modified_at) > Date.parse(older.modified_at), 'the mocks give b two times');
  const r = await get(tg.port, '/api/tags');
  assert.equal(r.status, 200, r.text);
  const models = r.json().models;
  assert.deepEqual(models.map((m) => m.name), ['a:latest', 'b:latest', 'c:latest']);
  assert.equal(models[1].modified_at, direct.modified_at, 'b from the server where it is newer');
  assert.equal(models[1].digest, direct.digest);
  const times = models.map((m) => Date.parse(m.modified_at));
  for (let i = 1; i < times.length; i++) assert.ok(times[i - 1] >= times[i], `newest first: ${JSON.stringify(models)}`);
  // every server was asked, at request time
  for (const m of mocks) assert.ok((await mockRequests(m, '/api/tags')).length >= 2);

  const v = await get(tg.port, '/v1/models');
  assert.equal(v.status, 200, v.text);
  assert.equal(v.json().object, 'list');
  assert.deepEqual(v.json().data.map((m) => m.id).sort(), ['a:latest', 'b:latest', 'c:latest']);

  const ollama = new Ollama({ host: tg.url });
  const list = await ollama.list();
  assert.deepEqual(list.models.map((m) => m.name), ['a:latest', 'b:latest', 'c:latest']);
});

test('several servers: the merged listings keep to a model allow-list', async (t) => {
  const mocks = await startCluster(t, [{ models: 'a,b' }, { models: 'b,c' }]);
  const tg = await t.tollgate({ config: (port) => clusterConf(port, mocks.map(addr), [], ['models * b c;']) });
  const r = await get(tg.port, '/api/tags');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json().models.map((m) => m.name), ['b:latest', 'c:latest']);
  const v = await get(tg.port, '/v1/models');
  assert.deepEqual(v.json().data.map((m) => m.id).sort(), ['b:latest', 'c:latest']);
});

test('several servers: /api/ps lists what each server has loaded, each entry with its server', async (t) => {
  const { mocks, tg } = await twoServers(t);
  for (const model of ['a', 'c']) {
    const r = await post(tg.port, '/api/generate', { model, prompt: 'hi', stream: false });
    assert.equal(r.status, 200, r.text);
  }
  const r = await get(tg.port, '/api/ps');
  assert.equal(r.status, 200, r.text);
  const ps = r.json().models.map((m) => `${m.name}@${m.server}`).sort();
  assert.deepEqual(ps, [`a:latest@${addr(mocks[0])}`, `c:latest@${addr(mocks[1])}`]);
  const viaJs = await new Ollama({ host: tg.url }).ps();
  assert.equal(viaJs.models.length, 2);
});

test('several servers: a server that does not answer is left out; none answering is a 502', async (t) => {
  const mocks = await startCluster(t, [{ models: 'a' }, { models: 'b' }]);
  const dead = await freePort();
  const tg = await t.tollgate({ config: (port) => clusterConf(port, [...mocks.map(addr), `127.0.0.1:${dead}`]) });
  let r = await get(tg.port, '/api/tags');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json().models.map((m) => m.name).sort(), ['a:latest', 'b:latest']);
  await sleep(200);
  r = await get(tg.port, '/api/tags'); // after the checks too
  assert.equal(r.status, 200, r.text);

  const dead2 = await freePort();
  const none = await t.tollgate({ config: (port) => clusterConf(port, [`127.0.0.1:${dead}`, `127.0.0.1:${dead2}`]) });
  r = await get(none.port, '/api/tags');
  assert.equal(r.status, 502, r.text);
  assert.ok(r.json().error, r.text);
});

test('several servers: pull goes to every server with one merged stream; ollama-js pull() ends on success', async (t) => {
  const { mocks, tg } = await twoServers(t);
  const r = await post(tg.port, '/api/pull', { model: 'new', stream: true });
  assert.equal(r.status, 200, r.text);
  assert.ok(r.headers['content-type'].startsWith('application/x-ndjson'));
  const ls = lines(r.text);
  assert.deepEqual(ls.at(-1), { status: 'success' });
  for (const m of mocks) {
    assert.ok(ls.some((l) => l.server === addr(m) && l.status === `success on ${addr(m)}`), r.text);
    assert.equal((await mockRequests(m, '/api/pull')).length, 1);
  }
  assert.equal(ls.filter((l) => l.status === 'success').length, 1, 'only the last line says success');

  const parts = [];
  for await (const p of await new Ollama({ host: tg.url }).pull({ model: 'other', stream: true })) parts.push(p);
  assert.equal(parts.at(-1).status, 'success');
  const done = await new Ollama({ host: tg.url }).pull({ model: 'third' }); // stream: false
  assert.equal(done.status, 'success');
  for (const m of mocks) assert.equal((await mockRequests(m, '/api/pull')).length, 3);
});

test('several servers: X-Tollgate-Server sends a pull to that server alone; an unknown one is a 400', async (t) => {
  const { mocks, tg } = await twoServers(t);
  const r = await post(tg.port, '/api/pull', { model: 'new' }, { 'X-Tollgate-Server': addr(mocks[1]) });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(lines(r.text).at(-1), { status: 'success' });
  assert.equal((await mockRequests(mocks[0], '/api/pull')).length, 0);
  assert.equal((await mockRequests(mocks[1], '/api/pull')).length, 1);
  assert.ok(lines(r.text).filter((l) => l.server).every((l) => l.server === addr(mocks[1])), r.text);

  const bad = await post(tg.port, '/api/pull', { model: 'new' }, { 'X-Tollgate-Server': '10.9.9.9:1' });
  assert.equal(bad.status, 400, bad.text);
  assert.ok(bad.json().error.includes("'10.9.9.9:1' is not a server of upstream 'ollama'"), bad.text);
  assert.ok(bad.json().error.includes(addr(mocks[0])), bad.text);
  for (const m of mocks) assert.equal((await mockRequests(m, '/api/pull')).length, m === mocks[1] ? 1 : 0);
});

test('several servers: a pull that fails on one server ends with an error line naming it', async (t) => {
  const { mocks, tg } = await twoServers(t, [{ models: 'a' }, { models: 'b', args: ['--pull-fail'] }]);
  const r = await post(tg.port, '/api/pull', { model: 'new' });
  assert.equal(r.status, 200, r.text);
  const last = lines(r.text).at(-1);
  assert.equal(last.error,
    `pull failed on ${addr(mocks[1])} (pull model manifest: file does not exist); succeeded on ${addr(mocks[0])}`);
  assert.ok(!lines(r.text).some((l) => l.status === 'success'), r.text);

  let thrown = null;
  try {
    for await (const p of await new Ollama({ host: tg.url }).pull({ model: 'x', stream: true })) void p;
  } catch (e) { thrown = e; }
  assert.ok(thrown && thrown.message.includes(`pull failed on ${addr(mocks[1])}`), String(thrown));

  const whole = await post(tg.port, '/api/pull', { model: 'new', stream: false });
  assert.equal(whole.status, 500, whole.text);
  assert.ok(whole.json().error.startsWith(`pull failed on ${addr(mocks[1])}`), whole.text);
});

test('several servers: create goes to every server; delete only to those that list the model', async (t) => {
  const { mocks, tg } = await twoServers(t);
  let r = await post(tg.port, '/api/create', { model: 'mine', from: 'b' });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(lines(r.text).at(-1), { status: 'success' });
  for (const m of mocks) assert.equal((await mockRequests(m, '/api/create')).length, 1);

  r = await post(tg.port, '/api/delete', { model: 'a' }, {}, 'DELETE');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json().servers.map((s) => s.server), [addr(mocks[0])]);
  r = await post(tg.port, '/api/delete', { model: 'b' }, {}, 'DELETE');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json().servers.map((s) => `${s.server} ${s.status}`), mocks.map((m) => `${addr(m)} 200`));
  assert.equal((await mockRequests(mocks[0], '/api/delete')).length, 2);
  assert.equal((await mockRequests(mocks[1], '/api/delete')).length, 1);
  r = await post(tg.port, '/api/delete', { model: 'nowhere' }, {}, 'DELETE');
  assert.equal(r.status, 404, r.text);
  assert.equal(r.json().error, "model 'nowhere:latest' not found");
  await new Ollama({ host: tg.url }).delete({ model: 'c' }); // resolves on a 2xx
  assert.equal((await mockRequests(mocks[1], '/api/delete')).length, 2);
});

test('several servers: the catalogues follow a pull, copy and delete at once, not at the next check', async (t) => {
  const { mocks, tg } = await twoServers(t);
  const counts = async () => (await get(tg.admin, '/status.json')).json().servers.map((x) => x.models);
  let r = await post(tg.port, '/api/pull', { model: 'fresh' }, { 'X-Tollgate-Server': addr(mocks[1]) });
  assert.deepEqual(lines(r.text).at(-1), { status: 'success' });
  assert.deepEqual(await counts(), [2, 3]);
  r = await post(tg.port, '/api/copy', { source: 'fresh', destination: 'fresh2' });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json().servers.map((x) => x.server), [addr(mocks[1])], 'the copy went where the model is');
  assert.deepEqual(await counts(), [2, 4]);
  r = await post(tg.port, '/api/delete', { model: 'fresh' }, {}, 'DELETE');
  assert.deepEqual(r.json().servers.map((x) => x.server), [addr(mocks[1])], 'the delete went where the model is');
  assert.deepEqual(await counts(), [2, 3]);
  assert.equal((await mockRequests(mocks[0], '/api/delete')).length + (await mockRequests(mocks[0], '/api/copy')).length, 0);
});

test('several servers: a client that leaves mid-pull; the calls end on their own and tollgate serves on', async (t) => {
  const { mocks, tg } = await twoServers(t, [{ models: 'a', delayMs: 40, tokens: 10 }, { models: 'b', delayMs: 40, tokens: 10 }]);
  await new Promise((resolve, reject) => {
    const body = JSON.stringify({ model: 'big' });
    const req = clientRequest({ host: '127.0.0.1', port: tg.port, method: 'POST', path: '/api/pull', agent: false,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      res.once('data', () => { req.destroy(); resolve(); });
    });
    req.on('error', () => {});
    setTimeout(() => reject(new Error('no progress line')), 5000);
    req.end(body);
  });
  await sleep(700); // the servers' pulls end after the client left
  for (const m of mocks) assert.equal((await mockRequests(m, '/api/pull')).length, 1);
  const r = await get(tg.port, '/api/tags');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json().models.map((m) => m.name), ['a:latest', 'b:latest']);
});

test('one server: /api/tags and /api/pull pass through untouched', async (t) => {
  const mock = await t.mock(['--models', 'a,b']);
  const tg = await t.tollgate({ config: (port) => clusterConf(port, [addr(mock)]) });
  const direct = await get(mock.port, '/api/tags');
  const r = await get(tg.port, '/api/tags');
  assert.equal(r.text, direct.text);
  const p = await post(tg.port, '/api/pull', { model: 'x' });
  assert.ok(!lines(p.text).some((l) => l.server), p.text);
  assert.deepEqual(lines(p.text).at(-1), { status: 'success' });
});
