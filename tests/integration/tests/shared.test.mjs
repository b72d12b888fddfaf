// The shared store (docs/limits.md, "several instances"; docs/configuration.md,
// the shared block): tollgate instances counting their limits in one
// redis-server, which each test starts on a free port with its own data
// directory (lib/redis.mjs).
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { test } from '../lib/harness.mjs';
import { request } from '../lib/http.mjs';
import { freePort, runToExit, sleep } from '../lib/proc.mjs';
import { burstNodelay, delayed, embed } from '../lib/rate-sequences.mjs';
import { startRedis } from '../lib/redis.mjs';
import { assert, CHAT, GEN } from '../lib/util.mjs';

export function sharedConf({ port, upstream, shared, lines = [], workers = 2 }) {
  return [`workers ${workers};`, ...shared, `upstream ollama { server ${upstream}; }`, 'site _ {',
    `  listen 127.0.0.1:${port};`, ...lines.map((l) => `  ${l}`), '}'].join('\n') + '\n';
}

const count = (text, re) => (text.match(new RegExp(re, 'g')) || []).length;

test('-t: a wrong shared block is refused at its line and column', async (t) => {
  const dir = t.tmpDir();
  const file = path.join(dir, 'bad.conf');
  writeFileSync(file, sharedConf({ port: 1, upstream: '127.0.0.1:2', shared: [
    'shared redis://127.0.0.1:6379 {',
    '  password_file missing.pass;',
    '  on_failure sometimes;',
    '}'] }));
  const r = await runToExit(t.tollgateBin, ['-t', '-c', file]);
  assert.equal(r.code, 1, r.stderr);
  assert.ok(r.stderr.includes(`${file}:3:17: cannot read the password file ${dir}/missing.pass: No such file or directory`), r.stderr);
  assert.ok(r.stderr.includes(`${file}:4:14: 'on_failure' takes local, open or closed, not 'sometimes'`), r.stderr);
  writeFileSync(path.join(dir, 'ok.pass'), 'pw\n');
  writeFileSync(file, sharedConf({ port: 1, upstream: '127.0.0.1:2', shared: [
    'shared redis://127.0.0.1:6379 { password_file ok.pass; timeout 20ms; }'] }));
  const good = await runToExit(t.tollgateBin, ['-t', '-c', file]);
  assert.equal(good.code, 0, good.stderr);
});

test('each worker connects with AUTH; a lost store is logged once, requests still pass, and it reconnects by itself', async (t) => {
  const redis = await startRedis(t, { password: 's3cret' });
  const dir = t.tmpDir();
  writeFileSync(path.join(dir, 'redis.pass'), 's3cret\n');
  const mock = await t.mock();
  const tg = await t.tollgate({ config: (port) => sharedConf({ port, upstream: `127.0.0.1:${mock.port}`, shared: [
    `shared ${redis.url} { password_file ${dir}/redis.pass; timeout 100ms; }`] }) });
  await tg.waitFor((_o, e) => count(e, 'connected to the shared store') === 2, 5000, 'two workers connected');
  const clients = String(await redis.command('CLIENT', 'LIST'));
  assert.equal(count(clients, 'cmd=ping'), 2, clients); /* each worker's handshake ended with PING */
  assert.equal((await request(tg.port, { path: '/api/version' })).status, 200);

  await redis.kill();
  await tg.waitFor((_o, e) => count(e, 'lost the shared store') === 2, 5000, 'both workers saw the loss');
  for (let i = 0; i < 5; i++) assert.equal((await request(tg.port, { path: '/api/version' })).status, 200);
  await new Promise((r) => setTimeout(r, 1200)); /* several reconnect attempts fail meanwhile */
  assert.equal(count(tg.stderr, 'lost the shared store'), 2, tg.stderr);
  assert.equal(count(tg.stderr, 'cannot reach the shared store'), 0, tg.stderr);

  const back = Date.now();
  await redis.restart();
  await tg.waitFor((_o, e) => count(e, 'connected to the shared store') === 4, 5000, 'both workers back');
  t.note(`reconnected ${Date.now() - back} ms after the restart (backoff at most 500 ms)`);
});

test('a refused password: the workers say so once each and keep serving', async (t) => {
  const redis = await startRedis(t, { password: 'right' });
  const dir = t.tmpDir();
  writeFileSync(path.join(dir, 'redis.pass'), 'wrong\n');
  const mock = await t.mock();
  const tg = await t.tollgate({ config: (port) => sharedConf({ port, upstream: `127.0.0.1:${mock.port}`, shared: [
    `shared ${redis.url} { password_file ${dir}/redis.pass; }`] }) });
  await tg.waitFor((_o, e) => count(e, 'WRONGPASS') === 2, 5000, 'the refusal logged');
  await new Promise((r) => setTimeout(r, 800));
  assert.equal(count(tg.stderr, 'WRONGPASS'), 2, tg.stderr);
  assert.equal((await request(tg.port, { path: '/api/version' })).status, 200);
});

// ---- limit rate through the store: two instances as one ----


// Two (or n) tollgates in front of one mock, sharing one redis-server.
async function twoInstances(t, lines, { shared = [], workers = 2, n = 2 } = {}) {
  const redis = await startRedis(t);
  const mock = await t.mock();
  const block = [`shared ${redis.url} { timeout 200ms; ${shared.join(' ')} }`];
  const tgs = [];
  for (let i = 0; i < n; i++) {
    tgs.push(await t.tollgate({ config: (port) => sharedConf({ port, upstream: `127.0.0.1:${mock.port}`, shared: block,
      lines, workers }) }));
  }
  for (const tg of tgs) await tg.waitFor((_o, e) => count(e, 'connected to the shared store') === workers, 5000, 'connected');
  return { redis, mock, tgs };
}

test('limit rate 5r/s burst 10 nodelay through two instances alternating: 11 at once (nginx: 1 + burst), then one per 200 ms', async (t) => {
  const { tgs } = await twoInstances(t, ['limit rate 5r/s burst 10 nodelay per ip;']);
  const first = await burstNodelay(t, (i) => embed(tgs[i % 2].port));
  for (const k of [0, 1]) assert.ok(first.some((r, i) => i % 2 === k && r.status === 200), `instance ${k} admitted none`);
});

test('limit rate without nodelay through two instances alternating: excess requests delayed to the rate; limit_status', async (t) => {
  const { tgs } = await twoInstances(t, ['limit rate 5r/s burst 3 per ip;', 'limit_status 503;']);
  await delayed(t, (i) => embed(tgs[i % 2].port));
});

test('limit rate 5r/s burst 10 nodelay through three instances in turn: still 11 at once, then one per 200 ms', async (t) => {
  const { tgs } = await twoInstances(t, ['limit rate 5r/s burst 10 nodelay per ip;'], { n: 3, workers: 1 });
  await burstNodelay(t, (i) => embed(tgs[i % 3].port));
});

test('two rate rules in one script: one round trip per admitted request (MONITOR), a refused key costs none', async (t) => {
  const { redis, tgs } = await twoInstances(t, ['limit rate 1r/s burst 4 nodelay per ip;', 'limit rate 100r/s burst 100 nodelay per ip;'],
    { workers: 1 });
  const mon = await redis.monitor();
  const rs = [];
  for (let i = 0; i < 5; i++) rs.push(await embed(tgs[i % 2].port));
  assert.deepEqual(rs.map((r) => r.status), [200, 200, 200, 200, 200]);
  const flood = [];
  for (let i = 0; i < 30; i++) flood.push(await embed(tgs[i % 2].port));
  assert.ok(flood.every((r) => r.status === 429), flood.map((r) => r.status).join(','));
  await sleep(100);
  const evals = mon.commands().filter((l) => /"EVALSHA"|"EVAL"/.test(l));
  const trips = evals.filter((l) => /"EVALSHA"/.test(l)).length;
  t.note(`${trips} round trips for 5 admitted and 30 refused requests (and ${evals.length - trips} EVAL: the new store had no script)`);
  // one per admitted request, one per instance to learn the key is over: the other 28 refused here
  assert.ok(trips <= 5 + 2, `${trips} round trips:\n${evals.slice(0, 10).join('\n')}`);
  assert.ok(evals.length - trips <= 1, 'the script is sent whole once to a store');
  assert.ok(evals.every((l) => l.includes('tollgate:rate:_:0:127.0.0.1') && l.includes('tollgate:rate:_:1:127.0.0.1')),
    evals[0]);
  // nothing else from the instances (the script's own TIME, GET and SET show as run by lua)
  assert.equal(mon.commands().filter((l) => !/"EVALSHA"|"EVAL"|"PING"|"AUTH"| lua\]/.test(l)).length, 0, mon.commands().join("\n"));
  mon.stop();
});

// ---- a store that does not answer: on_failure ----

const metric = (text, name) => {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
};

// Every request answered within the command timeout plus this margin.
const TIMEOUT_MS = 100, MARGIN_MS = 400;

async function timed(send) {
  const t0 = Date.now();
  const r = await send();
  return { status: r.status, headers: r.headers, ms: Date.now() - t0 };
}

// Expected statuses of 5 quick requests under `limit rate 1r/s burst 2
// nodelay per ip` while the store does not answer.
const WHILE_DOWN = {
  local: [200, 200, 200, 429, 429], // counted in this instance: 1 + burst
  open: [200, 200, 200, 200, 200],
  closed: [503, 503, 503, 503, 503],
};

for (const policy of ['local', 'open', 'closed']) {
  test(`on_failure ${policy}: store hung (SIGSTOP), back, killed mid-traffic, restarted empty: every answer within timeout + ${MARGIN_MS} ms, said once, counted again`, async (t) => {
    const redis = await startRedis(t);
    const mock = await t.mock();
    const admin = await freePort();
    const tg = await t.tollgate({ config: (port) => sharedConf({ port, upstream: `127.0.0.1:${mock.port}`, shared: [
      `admin 127.0.0.1:${admin};`, `shared ${redis.url} { timeout ${TIMEOUT_MS}ms; on_failure ${policy}; }`],
      lines: ['limit rate 1r/s burst 2 nodelay per ip;'] }) });
    const metrics = async () => (await request(admin, { path: '/metrics', plain: true })).text;
    const ready = async () => (await request(admin, { path: '/readyz', plain: true })).status;
    const waitUp = async (want, what) => {
      const end = Date.now() + 5000;
      while (metric(await metrics(), 'tollgate_shared_up') !== want) {
        assert.ok(Date.now() < end, `tollgate_shared_up never ${want} (${what})`);
        await sleep(50);
      }
    };
    await waitUp(1, 'at start');
    assert.equal((await embed(tg.port)).status, 200);
    assert.ok(metric(await metrics(), 'tollgate_shared_round_trip_seconds_count') >= 1);
    assert.equal(await ready(), 200);

    // hung: the first request of each worker waits for the timeout, the rest not at all
    redis.signal('SIGSTOP');
    const down = [];
    for (let i = 0; i < 5; i++) down.push(await timed(() => embed(tg.port)));
    t.note(`while hung: ${down.map((r) => `${r.status} in ${r.ms} ms`).join(', ')}`);
    assert.deepEqual(down.map((r) => r.status), WHILE_DOWN[policy]);
    for (const r of down) assert.ok(r.ms < TIMEOUT_MS + MARGIN_MS, `answered after ${r.ms} ms`);
    if (policy === 'closed') assert.equal(down[0].headers['retry-after'], '1');
    await waitUp(0, 'hung'); // found out by the idle PING too
    assert.equal(await ready(), policy === 'closed' ? 503 : 200);
    assert.equal(JSON.parse((await request(admin, { path: '/status.json', plain: true })).text).shared.up, false);
    const m = await metrics();
    assert.ok(metric(m, `tollgate_shared_fallbacks_total\\{policy="${policy}"\\}`) >= 1, m);
    await sleep(600); // reconnects keep failing meanwhile
    assert.ok(count(tg.stderr, 'until the shared store answers') <= 2, tg.stderr); // once per worker
    assert.ok(count(tg.stderr, 'lost the shared store') <= 2, tg.stderr);

    // back: counted in the store again, without a restart
    const back = Date.now();
    redis.signal('SIGCONT');
    await waitUp(1, 'after SIGCONT');
    t.note(`counting in the store again ${Date.now() - back} ms after SIGCONT`);
    assert.equal(await ready(), 200);
    assert.equal(JSON.parse((await request(admin, { path: '/status.json', plain: true })).text).shared.up, true);

    // killed with requests in flight
    const inflight = Array.from({ length: 10 }, () => timed(() => embed(tg.port)));
    await redis.kill();
    for (const r of await Promise.all(inflight)) {
      assert.ok([200, 429, 503].includes(r.status), `status ${r.status}`);
      assert.ok(r.ms < TIMEOUT_MS + MARGIN_MS, `answered after ${r.ms} ms`);
    }
    await waitUp(0, 'killed');
    // restarted empty: the script sent again (NOSCRIPT), the buckets start afresh in the store
    await redis.restart();
    await waitUp(1, 'restarted');
    await sleep(1100); // the local bucket (under local) drains; the store's is new
    assert.equal((await embed(tg.port)).status, 200);
    const keys = await redis.command('KEYS', 'tollgate:rate:*');
    assert.deepEqual(keys.map(String), ['tollgate:rate:_:0:127.0.0.1']);
    assert.equal(tg.exited, false);
  }, { timeoutMs: 60000 });
}

// ---- token quotas through the store ----

const HASH = '$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.'; // "password"
const chatAs = (port, user) => request(port, { method: 'POST', path: '/api/chat',
  headers: { Authorization: `Basic ${Buffer.from(`${user}:password`).toString('base64')}`, 'Content-Type': 'application/json' },
  body: CHAT() });
const ollamaTokens = (text) => {
  const last = JSON.parse(text.trim().split('\n').pop());
  return last.prompt_eval_count + last.eval_count;
};

test('quota tokens 60/d through two instances alternating: the tokens add up in the store, both refuse once used up, a refused user costs no round trip', async (t) => {
  const dir = t.tmpDir();
  writeFileSync(path.join(dir, 'users'), ['alice', 'bob'].map((u) => `${u}:${HASH}`).join('\n') + '\n');
  const { redis, tgs } = await twoInstances(t, [`auth basic ${dir}/users;`, 'quota tokens 60/d per user;']);
  let used = 0, n = 0;
  for (; n < 20 && used < 60; n++) {
    const r = await chatAs(tgs[n % 2].port, 'alice');
    assert.equal(r.status, 200, `request ${n + 1}: ${r.text}`);
    used += ollamaTokens(r.text);
  }
  t.note(`${n} chats over both instances, ${used} tokens counted before the quota ran out`);
  const day = Math.floor(Date.now() / 86400000) * 86400000;
  // the last charge goes when the response is complete: it may still be on its way
  let counted;
  for (let i = 0; i < 40 && (counted = Number(await redis.command('GET', `tollgate:quota:_:alice:d:${day}`))) !== used; i++) await sleep(50);
  assert.equal(counted, used);
  const midnight = new Date(); midnight.setUTCHours(24, 0, 0, 0);
  const when = midnight.toISOString().replace('.000Z', 'Z');
  const mon = await redis.monitor();
  for (const tg of tgs) {
    for (let i = 0; i < 3; i++) {
      const refused = await chatAs(tg.port, 'alice');
      assert.equal(refused.status, 429);
      assert.equal(JSON.parse(refused.text).error, `token quota exceeded (60 tokens per day); it resets at ${when}`);
      const retry = Number(refused.headers['retry-after']);
      assert.ok(Math.abs(retry - (midnight - Date.now()) / 1000) < 5, `Retry-After ${retry}`);
    }
  }
  await sleep(50);
  const scripts = mon.commands().filter((l) => /"EVALSHA"|"EVAL"/.test(l)).length;
  mon.stop();
  // at most one per worker that had not learnt it from its own charge: 2 instances x 2 workers, less the one that charged last
  assert.ok(scripts <= 3, `${scripts} round trips for 6 refusals`);
  t.note(`${scripts} round trips for 6 refusals over 4 workers`);
  assert.equal((await chatAs(tgs[0].port, 'bob')).status, 200); // another user has their own count
});

test('-t: quota_state beside a shared block is said to be unneeded', async (t) => {
  const dir = t.tmpDir();
  const file = path.join(dir, 't.conf');
  writeFileSync(file, sharedConf({ port: 1, upstream: '127.0.0.1:2', shared: ['shared redis://127.0.0.1:6379;'],
    lines: [`auth basic ${dir}/users;`, 'quota tokens 1k/d per user;', `quota_state ${dir}/q.json;`] }));
  writeFileSync(path.join(dir, 'users'), `alice:${HASH}\n`);
  const r = await runToExit(t.tollgateBin, ['-t', '-c', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stderr.includes(`${file}:8:3: warning: 'quota_state' is not needed with a shared block`), r.stderr);
});

test('the largest call: a quota and 16 rate rules in one script, answered by the store (no fallback)', async (t) => {
  const dir = t.tmpDir();
  writeFileSync(path.join(dir, 'users'), `alice:${HASH}\n`);
  const rules = Array.from({ length: 15 }, () => 'limit rate 1000r/s burst 1000 nodelay per ip on all;');
  const { redis, tgs } = await twoInstances(t, [`auth basic ${dir}/users;`, 'quota tokens 1m/d per user;', ...rules,
    'limit rate 1r/m burst 1 nodelay per user on all;'], { n: 1, workers: 1 });
  const mon = await redis.monitor();
  const statuses = [];
  for (let i = 0; i < 3; i++) statuses.push((await chatAs(tgs[0].port, 'alice')).status);
  assert.deepEqual(statuses, [200, 200, 429]); // 1 + burst 1 by the last rule
  await sleep(50);
  const calls = mon.commands().filter((l) => /"EVALSHA"/.test(l) && l.includes(':quota:'));
  mon.stop();
  assert.ok(calls.length >= 3, `${calls.length} calls`);
  assert.ok(calls[0].includes('"17"'), calls[0]); // one quota key and 16 buckets
  assert.ok(!/shared store does not answer|until the shared store answers/.test(tgs[0].stderr), tgs[0].stderr);
});

// ---- the generation cap through the store ----

const slowGen = (port, ms = 100, tokens = 10) => request(port, { method: 'POST', path: '/api/generate',
  headers: { 'X-Mock-Delay-Ms': String(ms), 'X-Mock-Tokens': String(tokens) }, body: GEN() });

// Leases are given back as an answer ends, in a round trip that may land
// after the client saw the end: poll the store (3 s hang guard).
async function leasesLeft(redis, key) {
  let left = -1;
  for (const until = Date.now() + 3000; Date.now() < until; await sleep(50)) {
    if ((left = Number(await redis.command('ZCARD', key))) === 0) break;
  }
  return left;
}

test('limit concurrency 1 queue 1 through two instances: one generation at a time across both, the other instance queues, then runs', async (t) => {
  const { redis, tgs } = await twoInstances(t, ['limit concurrency 1 queue 1 timeout 10s;'], { workers: 1 });
  const t0 = Date.now();
  const a = slowGen(tgs[0].port, 100, 8).then((r) => ({ r, at: Date.now() - t0 }));
  await sleep(150);
  assert.equal(Number(await redis.command('ZCARD', 'tollgate:conc:_')), 1); // A's lease
  const b = slowGen(tgs[1].port, 10, 1).then((r) => ({ r, at: Date.now() - t0 })); // queued on B
  await sleep(100);
  const c = await slowGen(tgs[1].port, 10, 1); // B's queue (1) is full
  assert.equal(c.status, 503);
  assert.match(c.text, /maximum pending requests exceeded/);
  const [ra, rb] = await Promise.all([a, b]);
  assert.equal(ra.r.status, 200);
  assert.equal(rb.r.status, 200);
  t.note(`A ended at ${ra.at} ms, B (queued on the other instance) at ${rb.at} ms`);
  assert.ok(rb.at >= ra.at - 50, `B ran before A ended: ${rb.at} < ${ra.at}`);
  assert.equal(await leasesLeft(redis, 'tollgate:conc:_'), 0); // every lease given back
}, { timeoutMs: 30000 });

test('limit concurrency 1 through two instances: the slot of a killed instance comes back within the lease time (10 s), a long generation keeps its slot by renewing it', async (t) => {
  const { redis, tgs } = await twoInstances(t, ['limit concurrency 1 queue 1 timeout 20s;'], { workers: 1 });
  const t1 = Date.now();
  const long = slowGen(tgs[0].port, 1000, 13).then((r) => ({ r, at: Date.now() - t1 })); // 13 s: past the lease time
  await sleep(200);
  // B waits in its queue while A's generation renews its lease: B runs only once A has ended
  const queued = await slowGen(tgs[1].port, 1, 1).then((r) => ({ r, at: Date.now() - t1 }));
  const l = await long;
  t.note(`A's 13 s generation ended at ${l.at} ms, B's queued request at ${queued.at} ms`);
  assert.equal(l.r.status, 200);
  assert.equal(queued.r.status, 200);
  assert.ok(queued.at >= l.at - 100, 'B got the slot while A still held it (the lease was not renewed)');
  // then A holds a slot and dies: B's next request gets it once the lease runs out
  const held = slowGen(tgs[0].port, 1000, 30).catch(() => null); // cut when A dies
  await sleep(300);
  tgs[0].child.kill('SIGKILL');
  const t0 = Date.now();
  const b = await slowGen(tgs[1].port, 1, 1);
  const waited = Date.now() - t0;
  t.note(`B got the dead instance's slot after ${waited} ms`);
  assert.equal(b.status, 200);
  assert.ok(waited < 10000 + 2000, `${waited} ms`);
  await held;
  assert.equal(await leasesLeft(redis, 'tollgate:conc:_'), 0, 'a lease is still held 3 s after every request ended');
}, { timeoutMs: 60000 });

test('a request under a rate, a quota and the generation cap: one round trip at admission (the slot taken by the same script), one ZREM at its end', async (t) => {
  const dir = t.tmpDir();
  writeFileSync(path.join(dir, 'users'), `alice:${HASH}\n`);
  const { redis, tgs } = await twoInstances(t, [`auth basic ${dir}/users;`, 'quota tokens 1m/d per user;',
    'limit rate 100r/s burst 100 nodelay per user;', 'limit concurrency 2 per user 1;'], { n: 1, workers: 1 });
  assert.equal((await chatAs(tgs[0].port, 'alice')).status, 200); // each script reaches the store once
  await sleep(300); // its charge (sent as EVAL the first time) done
  const mon = await redis.monitor();
  assert.equal((await chatAs(tgs[0].port, 'alice')).status, 200);
  await sleep(100);
  const cmds = mon.commands().filter((l) => !/ lua\]|"PING"/.test(l));
  mon.stop();
  const admission = cmds.filter((l) => /"EVALSHA"/.test(l) && l.includes('tollgate:conc:_'));
  assert.equal(admission.length, 1, cmds.join('\n'));
  assert.ok(admission[0].includes('tollgate:quota:_:alice') && admission[0].includes('tollgate:rate:_:0:alice') &&
    admission[0].includes('tollgate:conc:_:u:alice'), admission[0]);
  assert.equal(cmds.filter((l) => /"ZREM"/.test(l)).length, 2, cmds.join('\n')); // the site's and the user's
  assert.equal(cmds.length, 4, cmds.join('\n')); // and the quota's charge
});
