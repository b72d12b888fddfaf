// The real npm clients through tollgate: ollama (ollama-js) and openai.
import { test } from '../lib/harness.mjs';
import { waitEvent } from '../lib/mock.mjs';
import { assert } from '../lib/util.mjs';

// Imported lazily so that missing node_modules fail these tests, not the run.
let Ollama;
let OpenAI;
try {
  ({ Ollama } = await import('ollama'));
  OpenAI = (await import('openai')).default;
} catch (e) {
  const why = `npm clients not installed (run: npm ci --prefix tests/integration): ${e.message}`;
  Ollama = OpenAI = function missing() { throw new Error(why); };
}

const H = { 'X-Mock-Tokens': '12', 'X-Mock-Delay-Ms': '5' };

test('ollama-js: chat, not streaming', async (t) => {
  const { tg } = await t.pair();
  const ollama = new Ollama({ host: tg.url, headers: H });
  const r = await ollama.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: false });
  assert.equal(r.done, true);
  assert.equal(r.message.role, 'assistant');
  assert.ok(r.message.content.length > 0);
  assert.equal(r.eval_count, 12);
});

test('ollama-js: chat, streaming', async (t) => {
  const { tg } = await t.pair();
  const ollama = new Ollama({ host: tg.url, headers: H });
  const it = await ollama.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: true });
  const parts = [];
  for await (const p of it) parts.push(p);
  assert.ok(parts.length >= 12, `${parts.length} parts`);
  const fin = parts.at(-1);
  assert.equal(fin.done, true);
  assert.equal(fin.eval_count, 12);
  assert.ok(parts.slice(0, -1).map((p) => p.message.content).join('').length > 0);
});

test('ollama-js: generate, streaming and not', async (t) => {
  const { tg } = await t.pair();
  const ollama = new Ollama({ host: tg.url, headers: H });
  const r = await ollama.generate({ model: 'llama3.2', prompt: 'Write 10 words only.', stream: false });
  assert.equal(r.done, true);
  assert.ok(r.response.length > 0);
  const it = await ollama.generate({ model: 'llama3.2', prompt: 'Write 10 words only.', stream: true });
  let n = 0;
  let last;
  for await (const p of it) { n++; last = p; }
  assert.ok(n >= 12);
  assert.equal(last.done, true);
  assert.equal(typeof last.prompt_eval_count, 'number');
});

test('ollama-js: list, show, embed, version', async (t) => {
  const { tg } = await t.pair();
  const ollama = new Ollama({ host: tg.url });
  const l = await ollama.list();
  assert.ok(Array.isArray(l.models) && l.models.length > 0);
  const s = await ollama.show({ model: l.models[0].name });
  assert.ok(s && typeof s === 'object');
  const e = await ollama.embed({ model: 'nomic-embed-text', input: ['a', 'b'] });
  assert.equal(e.embeddings.length, 2);
  const v = await ollama.version();
  assert.equal(typeof v.version, 'string');
});

test('ollama-js: abort of a streaming request reaches the mock as a disconnect', async (t) => {
  const { mock, tg } = await t.pair();
  const ollama = new Ollama({ host: tg.url, headers: { 'X-Mock-Tokens': '1000', 'X-Mock-Delay-Ms': '20' } });
  const it = await ollama.generate({ model: 'llama3.2', prompt: 'long', stream: true });
  let n = 0;
  let aborted = false;
  try {
    for await (const _p of it) {
      if (++n === 5) it.abort();
    }
  } catch (e) {
    aborted = e.name === 'AbortError' || /abort/i.test(String(e.message));
  }
  assert.ok(aborted || n < 1000, 'the stream was not aborted');
  const ev = await waitEvent(mock, (e) => e.ev === 'disconnect' && e.path === '/api/generate', 2000);
  assert.ok(ev, 'the mock never saw the disconnect');
  assert.ok(ev.tokens_sent < 1000, `tokens_sent ${ev.tokens_sent}`);
});

test('ollama-js with a base URL path through --mount /ollama', async (t) => {
  const { tg } = await t.pair({ mount: '/ollama' });
  const ollama = new Ollama({ host: `${tg.url}/ollama`, headers: H });
  const r = await ollama.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: false });
  assert.equal(r.done, true);
});

test('openai: chat.completions stream with include_usage', async (t) => {
  const { tg } = await t.pair();
  const client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: 'sk-test', defaultHeaders: H, maxRetries: 0 });
  const stream = await client.chat.completions.create({
    model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  let usage = null;
  let chunks = 0;
  for await (const ch of stream) {
    chunks++;
    if (ch.choices && ch.choices[0] && ch.choices[0].delta && ch.choices[0].delta.content) text += ch.choices[0].delta.content;
    if (ch.usage) usage = ch.usage;
  }
  assert.ok(chunks >= 12, `${chunks} chunks`);
  assert.ok(text.length > 0, 'no content');
  assert.ok(usage, 'no usage chunk');
  assert.equal(usage.completion_tokens, 12);
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
});

test('openai: chat.completions not streaming, and models.list', async (t) => {
  const { tg } = await t.pair();
  const client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: 'sk-test', defaultHeaders: H, maxRetries: 0 });
  const r = await client.chat.completions.create({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(r.object, 'chat.completion');
  assert.ok(r.choices[0].message.content.length > 0);
  assert.equal(r.usage.completion_tokens, 12);
  const models = await client.models.list();
  const ids = [];
  for await (const m of models) ids.push(m.id);
  assert.ok(ids.length > 0);
});

test('openai: abort of a stream reaches the mock as a disconnect', async (t) => {
  const { mock, tg } = await t.pair();
  const client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: 'sk-test', defaultHeaders: { 'X-Mock-Tokens': '1000', 'X-Mock-Delay-Ms': '20' }, maxRetries: 0 });
  const stream = await client.chat.completions.create({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: true });
  let n = 0;
  for await (const _ch of stream) {
    if (++n === 5) break; // leaving the loop aborts the request
  }
  const ev = await waitEvent(mock, (e) => e.ev === 'disconnect' && e.path === '/v1/chat/completions', 2000);
  assert.ok(ev, 'the mock never saw the disconnect');
});

test('openai: a gateway error (502) surfaces as an APIError with the message', async (t) => {
  const { freePort } = await import('../lib/proc.mjs');
  const port = await freePort();
  const tg = await t.tollgate({ upstream: `http://127.0.0.1:${port}` });
  const client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: 'sk-test', maxRetries: 0 });
  let err = null;
  try {
    await client.chat.completions.create({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] });
  } catch (e) {
    err = e;
  }
  assert.ok(err, 'no error');
  assert.equal(err.status, 502);
  assert.ok(err.error && typeof err.error.message === 'string', `error body not parsed as OpenAI error: ${JSON.stringify(err.error)}`);
});

test('ollama-js: a stream the upstream cuts raises the error line tollgate ends it with', async (t) => {
  const { tg } = await t.pair();
  const ollama = new Ollama({ host: tg.url, headers: { ...H, 'X-Mock-Reset-After': '4' } });
  const it = await ollama.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: true });
  const parts = [];
  let err = null;
  try {
    for await (const p of it) parts.push(p);
  } catch (e) {
    err = e;
  }
  assert.ok(err, `no error raised after ${parts.length} parts`);
  assert.match(String(err.message), /upstream (reset|closed) the connection/);
  assert.equal(parts.length, 4);
});

test('openai: a stream the upstream cuts raises an APIError from the last SSE event', async (t) => {
  const { tg } = await t.pair();
  const client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: 'x', defaultHeaders: { ...H, 'X-Mock-Reset-After': '4' }, maxRetries: 0 });
  const stream = await client.chat.completions.create({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: true });
  const parts = [];
  let err = null;
  try {
    for await (const p of stream) parts.push(p);
  } catch (e) {
    err = e;
  }
  assert.ok(err, `no error raised after ${parts.length} chunks`);
  assert.ok(err instanceof OpenAI.APIError, `not an APIError: ${err}`);
  assert.match(String(err.message), /upstream (reset|closed) the connection/);
});
