// Several Ollama servers behind one upstream (docs/upstreams.md): the
// configuration, the choice among servers, health and failover.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from '../lib/harness.mjs';
import { runToExit, sanitizerReport } from '../lib/proc.mjs';
import { assert } from '../lib/util.mjs';

function noSan(r) {
  const rep = sanitizerReport(r.stderr);
  assert.equal(rep, null, `sanitizer report: ${rep}`);
}

test('-t accepts an upstream with several servers, their options, balance and health', async (t) => {
  const file = path.join(t.tmpDir(), 'servers.conf');
  writeFileSync(file, [
    'upstream ollama {',
    '  server 127.0.0.1:11434 slots 4;',
    '  server 127.0.0.1:11435 slots 2 weight 2;',
    '  server 127.0.0.1:11436 backup;',
    '  server 127.0.0.1:11437 drain;',
    '  balance least_conn;',
    '  health interval 5s timeout 2s fails 3 passes 2;',
    '}',
    'site _ { listen 127.0.0.1:18080; proxy ollama; }',
    '',
  ].join('\n'));
  const r = await runToExit(t.tollgateBin, ['-t', '-c', file]);
  noSan(r);
  assert.equal(r.code, 0, `exit ${r.code}; output: ${r.stdout}${r.stderr}`);
});

test('-t reports bad server options, balance and health as file:line:col', async (t) => {
  const file = path.join(t.tmpDir(), 'bad.conf');
  writeFileSync(file, [
    'upstream ollama {',
    '  server 127.0.0.1:11434 slots many;',
    '  server 127.0.0.1:11434;',
    '  balance fastest;',
    '  health interval 1s timeout 5s;',
    '}',
    'site _ { listen 127.0.0.1:18080; }',
    '',
  ].join('\n'));
  const r = await runToExit(t.tollgateBin, ['-t', '-c', file]);
  noSan(r);
  assert.equal(r.code, 1, `exit ${r.code}; output: ${r.stdout}${r.stderr}`);
  for (const want of [
    `${file}:2:32: 'slots' takes a number from 1 to 1024, not 'many'`,
    `${file}:4:11: 'balance' takes model, least_conn or round_robin, not 'fastest'`,
    `${file}:5:22: 'health timeout' must not exceed its interval (1000ms)`,
  ]) assert.ok(r.stderr.includes(want), `missing "${want}" in:\n${r.stderr}`);
});

test('--upstream given twice with the same server is refused', async (t) => {
  const r = await runToExit(t.tollgateBin, ['-t', '--upstream', 'http://127.0.0.1:1', '--upstream', '127.0.0.1:1']);
  noSan(r);
  assert.equal(r.code, 1, `exit ${r.code}; output: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, /--upstream: '127\.0\.0\.1:1' is given twice/);
});
