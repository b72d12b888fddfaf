// io_engine: the transport the workers' sockets go through
// (include/tollgate/io-engine.h). Each engine (auto is epoll while io_uring
// is a prototype) starts and serves GET, POST and a stream over kept-alive
// connections; a name no engine has is refused at its line.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { test } from '../lib/harness.mjs';
import { RawConn } from '../lib/http.mjs';
import { siteConfig } from '../lib/config.mjs';
import { assert } from '../lib/util.mjs';

for (const engine of ['epoll', 'auto', 'io_uring']) {
  test(`io_engine ${engine}: starts and serves GET and POST`, async (t) => {
    const mock = await t.mock();
    const tg = await t.tollgate({
      config: (port) => `io_engine ${engine};\n` + siteConfig({ listenPort: port, upstream: mock.url.replace(/^http:\/\//, ''), workers: 1 }),
    });
    const conn = await RawConn.connect(tg.port);
    t.defer(() => conn.destroy());
    for (let i = 0; i < 3; i++) { // one client connection, the upstream's pooled between requests
      await conn.send({ path: '/api/version' });
      const v = await conn.response(5000);
      assert.equal(v.status, 200, v.text());
      await conn.send({ method: 'POST', path: '/api/show', body: '{"model":"llama3.2"}' });
      const s = await conn.response(5000);
      assert.equal(s.status, 200, s.text());
      assert.match(s.text(), /modelfile|details|parameters/);
    }
  });
}

test('io_engine with a name no engine has is refused at its line', async (t) => {
  const dir = t.tmpDir();
  const conf = `${dir}/t.conf`;
  writeFileSync(conf, 'workers 1;\nio_engine kqueue;\n' + siteConfig({ listenPort: 1, upstream: '127.0.0.1:2' }).replace(/^workers.*\n/m, ''));
  const r = spawnSync(t.tollgateBin, ['-t', '-c', conf], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /t\.conf:2:11: 'io_engine' takes auto, epoll or io_uring, not 'kqueue'/);
});
