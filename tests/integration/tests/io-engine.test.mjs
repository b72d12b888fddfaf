// io_engine: the transport the workers' sockets go through
// (include/tollgate/io-engine.h). Each engine (auto is epoll while io_uring
// is a prototype) starts and serves GET, POST and a stream over kept-alive
// connections; a name no engine has is refused at its line; and with
// io_uring refused by the kernel (a seccomp filter, as container runtimes
// set: build/no-io-uring), `io_engine io_uring` starts, says so, and
// serves with epoll.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { test } from '../lib/harness.mjs';
import { RawConn } from '../lib/http.mjs';
import { siteConfig } from '../lib/config.mjs';
import path from 'node:path';
import { assert } from '../lib/util.mjs';

// GET and POST alternately on one client connection (the upstream's pooled between them).
async function serves(t, tg) {
  const conn = await RawConn.connect(tg.port);
  t.defer(() => conn.destroy());
  for (let i = 0; i < 3; i++) {
    await conn.send({ path: '/api/version' });
    const v = await conn.response(5000);
    assert.equal(v.status, 200, v.text());
    await conn.send({ method: 'POST', path: '/api/show', body: '{"model":"llama3.2"}' });
    const s = await conn.response(5000);
    assert.equal(s.status, 200, s.text());
    assert.match(s.text(), /modelfile|details|parameters/);
  }
}

const conf = (engine, mock) => (port) =>
  `io_engine ${engine};\n` + siteConfig({ listenPort: port, upstream: mock.url.replace(/^http:\/\//, ''), workers: 1 });

for (const engine of ['epoll', 'auto', 'io_uring']) {
  test(`io_engine ${engine}: starts and serves GET and POST`, async (t) => {
    const mock = await t.mock();
    const tg = await t.tollgate({ config: conf(engine, mock) });
    await serves(t, tg);
    if (engine !== 'io_uring') return;
    // A kernel or container that refuses io_uring (EPERM, ENOSYS) is the machine's choice, said here;
    // any other reason it could not start is a failure.
    const refused = /io_engine io_uring cannot start \((operation not permitted|function not implemented)\)/.exec(tg.stderr);
    if (refused) t.note(`this machine refuses io_uring (${refused[1]}): the engine itself was not exercised`);
    else assert.doesNotMatch(tg.stderr, /cannot start/);
  });
}

test('io_engine io_uring where the kernel refuses io_uring: the worker says so and serves with epoll', async (t) => {
  const mock = await t.mock();
  const tg = await t.tollgate({ config: conf('io_uring', mock), wrap: path.join(t.buildDir, 'no-io-uring') });
  await serves(t, tg);
  assert.match(tg.stderr, /worker 0: io_engine io_uring cannot start \(operation not permitted\): epoll serves instead/);
});

test('io_engine with a name no engine has is refused at its line', async (t) => {
  const dir = t.tmpDir();
  const conf = `${dir}/t.conf`;
  writeFileSync(conf, 'workers 1;\nio_engine kqueue;\n' + siteConfig({ listenPort: 1, upstream: '127.0.0.1:2' }).replace(/^workers.*\n/m, ''));
  const r = spawnSync(t.tollgateBin, ['-t', '-c', conf], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /t\.conf:2:11: 'io_engine' takes auto, epoll or io_uring, not 'kqueue'/);
});
