// Small helpers shared by the test files.
import assert from 'node:assert/strict';

export { assert };

// JSON.parse that keeps big integers (CLOCK_MONOTONIC ns stamps) exact as strings.
export function parseJsonKeepNs(text) {
  return JSON.parse(text.replace(/"(t_ns|mock_t_ns)"\s*:\s*(\d+)/g, '"$1":"$2"'));
}

export function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function ms(ns) { return Number(ns) / 1e6; }

// Header value (lowercased name) from an echo object's header map, tolerant of arrays.
export function hdr(h, name) {
  const v = h[name.toLowerCase()];
  return Array.isArray(v) ? v.join(', ') : v;
}

// Expect a gateway-made error body in Ollama's shape: {"error":"..."}
export function assertOllamaError(text, what = '') {
  let j;
  try { j = JSON.parse(text); } catch { assert.fail(`${what} body is not JSON: ${JSON.stringify(text.slice(0, 200))}`); }
  assert.equal(typeof j.error, 'string', `${what} body should be {"error":"..."}, got ${text.slice(0, 200)}`);
  assert.ok(j.error.length > 0, `${what} error message empty`);
  return j;
}

// Expect a gateway-made error body in OpenAI's shape: {"error":{"message":...,"type":...}}
export function assertOpenAIError(text, what = '') {
  let j;
  try { j = JSON.parse(text); } catch { assert.fail(`${what} body is not JSON: ${JSON.stringify(text.slice(0, 200))}`); }
  assert.equal(typeof j.error, 'object', `${what} body should be {"error":{...}}, got ${text.slice(0, 200)}`);
  assert.ok(j.error && typeof j.error.message === 'string' && j.error.message.length > 0, `${what} error.message missing: ${text.slice(0, 200)}`);
  assert.equal(typeof j.error.type, 'string', `${what} error.type missing: ${text.slice(0, 200)}`);
  return j;
}

export const GEN = (extra = {}) => JSON.stringify({ model: 'llama3.2', prompt: 'Write 10 words only.', ...extra });
export const CHAT = (extra = {}) => JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], ...extra });
