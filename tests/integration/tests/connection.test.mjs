// Client connections: keep-alive, pipelining, Connection: close, HTTP/1.0.
import { test } from '../lib/harness.mjs';
import { RawConn, request } from '../lib/http.mjs';
import { mockRequests } from '../lib/mock.mjs';
import { assert, GEN } from '../lib/util.mjs';

test('plain routes pass through: /, /api/version, /api/tags, /api/ps, /api/show, /api/embed, /v1/models', async (t) => {
  const { mock, tg } = await t.pair();
  const cases = [
    { path: '/' },
    { path: '/api/version' },
    { path: '/api/tags' },
    { path: '/api/ps' },
    { method: 'POST', path: '/api/show', body: JSON.stringify({ model: 'llama3.2' }) },
    { method: 'POST', path: '/api/embed', body: JSON.stringify({ model: 'nomic-embed-text', input: ['a', 'b'] }) },
    { path: '/v1/models' },
  ];
  for (const c of cases) {
    const d = await request(mock.port, { ...c, headers: { Host: 'localhost:11434' } });
    const g = await request(tg.port, c);
    assert.equal(g.status, d.status, `${c.path}: status ${g.status} through tollgate, ${d.status} direct; body ${g.text.slice(0, 200)}`);
    assert.equal(g.headers['content-type'], d.headers['content-type'], `${c.path}: content-type`);
    if (c.path === '/api/embed') {
      assert.equal(g.json().embeddings.length, 2);
    } else {
      // expires_at is "now + 5 min" on each answer: two answers a second apart differ there
      const stable = (t) => t.replace(/"expires_at":"[^"]*"/g, '"expires_at":"-"');
      assert.equal(stable(g.text), stable(d.text), `${c.path}: body differs`);
    }
  }
});

test('keep-alive: 5 requests in sequence on one client connection', async (t) => {
  const { tg } = await t.pair();
  const c = await RawConn.connect(tg.port);
  try {
    for (let i = 0; i < 5; i++) {
      if (i % 2 === 0) await c.send({ path: '/api/version' });
      else await c.send({ method: 'POST', path: '/api/generate', headers: { 'X-Mock-Tokens': '3' }, body: GEN() });
      const r = await c.response(5000);
      assert.equal(r.status, 200, `request ${i}: ${r.status}`);
      assert.ok(r.complete, `request ${i} incomplete`);
      if (i % 2 === 0) assert.equal(typeof r.json().version, 'string');
      else assert.equal(JSON.parse(r.lines().at(-1)).done, true);
      assert.equal(c.closed, false, `connection closed after request ${i}`);
    }
  } finally {
    c.destroy();
  }
});

test('pipelining: 3 requests in one write get 3 responses in order', async (t) => {
  const { tg } = await t.pair();
  const c = await RawConn.connect(tg.port);
  try {
    const gen = GEN();
    const bytes = [
      // the first is slow to start: its response must still come first
      `POST /api/generate HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nX-Mock-First-Byte-Ms: 300\r\nX-Mock-Tokens: 4\r\nContent-Length: ${gen.length}\r\n\r\n${gen}`,
      'GET /api/version HTTP/1.1\r\nHost: a\r\n\r\n',
      'GET /api/tags HTTP/1.1\r\nHost: a\r\n\r\n',
    ].join('');
    c.parser.expect('POST'); c.parser.expect('GET'); c.parser.expect('GET');
    await c.write(bytes);
    const r1 = await c.response(5000);
    const r2 = await c.response(5000);
    const r3 = await c.response(5000);
    assert.equal(r1.status, 200);
    assert.ok(r1.complete);
    assert.equal(JSON.parse(r1.lines().at(-1)).done, true, 'first response is not the generate stream');
    assert.equal(r2.status, 200);
    assert.equal(typeof r2.json().version, 'string', 'second response is not /api/version');
    assert.equal(r3.status, 200);
    assert.ok(Array.isArray(r3.json().models), 'third response is not /api/tags');
  } finally {
    c.destroy();
  }
});

test('Connection: close: tollgate answers and closes', async (t) => {
  const { tg } = await t.pair();
  const c = await RawConn.connect(tg.port);
  try {
    await c.send({ path: '/api/version', headers: { Connection: 'close' } });
    const r = await c.response(5000);
    assert.equal(r.status, 200);
    assert.ok(await c.waitClose(3000), 'connection still open after Connection: close');
  } finally {
    c.destroy();
  }
});

test('HTTP/1.0 request gets a complete response and a close', async (t) => {
  const { mock, tg } = await t.pair();
  const c = await RawConn.connect(tg.port);
  try {
    await c.send({ method: 'POST', path: '/api/generate', version: 'HTTP/1.0', headers: { 'X-Mock-Tokens': '5' }, body: GEN() });
    const r = await c.response(5000);
    assert.equal(r.status, 200);
    assert.ok(!r.chunked, 'chunked encoding sent to an HTTP/1.0 client');
    assert.ok(await c.waitClose(3000), 'connection not closed after an HTTP/1.0 response');
    assert.equal(JSON.parse(r.lines().at(-1)).done, true, 'stream incomplete');
    assert.equal((await mockRequests(mock, '/api/generate')).length, 1);
  } finally {
    c.destroy();
  }
});

test('unknown upstream routes pass through with the upstream status', async (t) => {
  const { tg } = await t.pair();
  const r = await request(tg.port, { path: '/api/nope' });
  assert.equal(r.status, 404);
});

test('HEAD gets a head without a body and the connection stays usable', async (t) => {
  const { tg } = await t.pair();
  const c = await RawConn.connect(tg.port);
  try {
    await c.send({ method: 'HEAD', path: '/' });
    const h = await c.response(5000);
    assert.equal(h.status, 200);
    assert.equal(h.body.length, 0);
    await c.send({ path: '/api/version' });
    const r = await c.response(5000);
    assert.equal(r.status, 200, `after HEAD: ${r.status}`);
    assert.equal(typeof r.json().version, 'string', `after HEAD got ${JSON.stringify(r.text().slice(0, 100))}`);
  } finally {
    c.destroy();
  }
});

test('20 pipelined requests, streams mixed in, answered in order', async (t) => {
  const { tg } = await t.pair();
  const c = await RawConn.connect(tg.port);
  try {
    let bytes = '';
    const gen = GEN();
    for (let i = 0; i < 20; i++) {
      if (i % 3 === 0) {
        bytes += `POST /api/generate HTTP/1.1\r\nHost: a\r\nX-Mock-Tokens: ${i + 1}\r\nContent-Length: ${gen.length}\r\n\r\n${gen}`;
        c.parser.expect('POST');
      } else {
        bytes += `GET /api/version?i=${i} HTTP/1.1\r\nHost: a\r\n\r\n`;
        c.parser.expect('GET');
      }
    }
    await c.write(bytes);
    for (let i = 0; i < 20; i++) {
      const r = await c.response(10000);
      assert.equal(r.status, 200, `response ${i}: ${r.status}`);
      assert.ok(r.complete, `response ${i} incomplete`);
      if (i % 3 === 0) assert.equal(JSON.parse(r.lines().at(-1)).eval_count, i + 1, `response ${i} is not stream ${i}`);
      else assert.equal(typeof r.json().version, 'string', `response ${i} is not /api/version`);
    }
  } finally {
    c.destroy();
  }
});
