// The command line: --version, --help, -t -c validation, bad flags.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from '../lib/harness.mjs';
import { runToExit, sanitizerReport } from '../lib/proc.mjs';
import { assert } from '../lib/util.mjs';

const VERSION = readFileSync(new URL('../../../VERSION', import.meta.url), 'utf8').trim();

function noSan(r) {
  const rep = sanitizerReport(r.stderr);
  assert.equal(rep, null, `sanitizer report: ${rep}`);
}

test('--version prints "tollgate VERSION" and exits 0', async (t) => {
  const r = await runToExit(t.tollgateBin, ['--version']);
  noSan(r);
  assert.equal(r.code, 0, `exit ${r.code}, stderr ${r.stderr}`);
  assert.match(r.stdout + r.stderr, new RegExp(`^tollgate ${VERSION.replace(/\./g, '\\.')}\\s*$`, 'm'));
});

test('--help describes the flags and exits 0', async (t) => {
  const r = await runToExit(t.tollgateBin, ['--help']);
  noSan(r);
  assert.equal(r.code, 0, `exit ${r.code}`);
  const out = r.stdout + r.stderr;
  for (const flag of ['--listen', '--upstream', '-c', '-t', '--version']) {
    assert.ok(out.includes(flag), `--help does not mention ${flag}: ${out.slice(0, 400)}`);
  }
});

test('an unknown flag exits non-zero with a message', async (t) => {
  const r = await runToExit(t.tollgateBin, ['--no-such-flag']);
  noSan(r);
  assert.ok(r.code > 0, `exit ${r.code} for an unknown flag: ${r.stderr}`);
  assert.ok(r.stderr.length > 0, 'nothing on stderr');
  assert.equal(r.timedOut, false);
});

test('-t -c accepts a valid config (exit 0, says ok)', async (t) => {
  const dir = t.tmpDir();
  const file = path.join(dir, 'good.conf');
  writeFileSync(file, [
    '# a complete, valid config',
    'workers 2;',
    'upstream ollama {',
    '  server 127.0.0.1:11434;',
    '  timeout dial 10s header 10m idle 5m;',
    '}',
    'site _ {',
    '  listen 127.0.0.1:18080;',
    '  mount /ollama;',
    '  client_max_body_size 1m;',
    '  timeout header 60s body 60s keepalive 75s send 60s;',
    '  proxy ollama;',
    '}',
    '',
  ].join('\n'));
  const r = await runToExit(t.tollgateBin, ['-t', '-c', file]);
  noSan(r);
  assert.equal(r.code, 0, `exit ${r.code}; output: ${r.stdout}${r.stderr}`);
  assert.match(r.stdout + r.stderr, /\bok\b|\bvalid\b/i);
});

test('-t -c reports each error as file:line:col and exits 1', async (t) => {
  const dir = t.tmpDir();
  const file = path.join(dir, 'bad.conf');
  // line 3: unknown directive; line 7: bad duration
  writeFileSync(file, [
    'upstream ollama {',
    '  server 127.0.0.1:11434;',
    '  no_such_directive on;',
    '}',
    'site _ {',
    '  listen 127.0.0.1:18080;',
    '  timeout header banana;',
    '  proxy ollama;',
    '}',
    '',
  ].join('\n'));
  const r = await runToExit(t.tollgateBin, ['-t', '-c', file]);
  noSan(r);
  assert.equal(r.code, 1, `exit ${r.code}; output: ${r.stdout}${r.stderr}`);
  const out = r.stdout + r.stderr;
  const re = new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:(\\d+):(\\d+): .+`, 'gm');
  const hits = [...out.matchAll(re)].map((m) => Number(m[1]));
  assert.ok(hits.includes(3), `no error reported at line 3: ${out}`);
  assert.ok(hits.includes(7), `no error reported at line 7 (every error, not only the first): ${out}`);
});

test('-t -c with a missing file fails with a message', async (t) => {
  const r = await runToExit(t.tollgateBin, ['-t', '-c', '/nonexistent/tollgate.conf']);
  noSan(r);
  assert.ok(r.code > 0, `exit ${r.code}: ${r.stderr}`);
  assert.match(r.stderr + r.stdout, /nonexistent\/tollgate\.conf/);
});

test('a second tollgate on a port another one listens on exits 1 with "Address already in use"', async (t) => {
  const tg = await t.tollgate({ upstream: 'http://127.0.0.1:1' });
  const r = await runToExit(t.tollgateBin, ['--listen', `127.0.0.1:${tg.port}`, '--upstream', 'http://127.0.0.1:1'], { timeoutMs: 5000 });
  noSan(r);
  assert.equal(r.timedOut, false, 'the second tollgate kept running: it shares the port (SO_REUSEPORT) instead of refusing it');
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${tg.port}: Address already in use`));
});

test('every subcommand answers --help and -h with its usage on stdout, exit 0', async (t) => {
  for (const [args, word] of [[['passwd', '--help'], 'passwd'], [['passwd', '-h'], 'passwd'],
    [['key', '--help'], 'key new'], [['key', 'new', '-h'], 'key new'], [['doctor', '--help'], 'doctor']]) {
    const r = await runToExit(t.tollgateBin, args);
    noSan(r);
    assert.equal(r.code, 0, `${args.join(' ')}: exit ${r.code}, stderr ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^usage: tollgate ${word}`), `${args.join(' ')}: stdout ${r.stdout}`);
    assert.ok(!/--help:/.test(r.stdout), `${args.join(' ')} took --help as a name: ${r.stdout}`);
  }
});

test('a subcommand given an unknown option exits 2 with its usage on stderr', async (t) => {
  for (const args of [['passwd', '--bogus', 'alice'], ['key', 'new', '--bogus', 'bot'], ['passwd', '-c', 'x', 'alice'],
    ['key', 'old', 'bot']]) {
    const r = await runToExit(t.tollgateBin, args);
    noSan(r);
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}, stderr ${r.stderr}`);
    assert.equal(r.stdout, '', `${args.join(' ')} wrote to stdout: ${r.stdout}`);
    assert.match(r.stderr, /usage: tollgate/);
  }
});

test('key new NAME: the key alone on stdout, the keys-file line on stderr', async (t) => {
  const { createHash } = await import('node:crypto');
  const r = await runToExit(t.tollgateBin, ['key', 'new', 'ci-bot']);
  noSan(r);
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
  assert.match(r.stdout, /^tg-[A-Za-z0-9_-]{43}\n$/, `stdout is not the key alone: ${JSON.stringify(r.stdout)}`);
  const key = r.stdout.trim();
  const hex = createHash('sha256').update(key).digest('hex');
  assert.match(r.stderr, new RegExp(`^ci-bot ${hex}$`, 'm'), `no keys-file line on stderr: ${r.stderr}`);
  assert.ok(!r.stderr.includes(key), 'the key is repeated on stderr');
});

// -t runs what start checks short of binding: a name as the admin address
// (the admin listener binds without a lookup), names that do not resolve,
// a log file that cannot be opened; each at its file:line:col.
test('-t refuses what start would: admin name, unresolvable server, unopenable access log (file:line:col)', async (t) => {
  const dir = t.tmpDir();
  const file = path.join(dir, 'start.conf');
  writeFileSync(file, [
    'admin localhost:9090;',
    'access_log /nonexistent/dir/access.log;',
    'upstream o { server no-such-host.invalid:11434; }',
    'site _ { listen 127.0.0.1:18089; proxy o; }',
    '',
  ].join('\n'));
  const r = await runToExit(t.tollgateBin, ['-t', '-c', file]);
  noSan(r);
  assert.equal(r.code, 1, `exit ${r.code}; output: ${r.stdout}${r.stderr}`);
  const at = (l, c, re) => assert.match(r.stderr, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${l}:${c}: ${re}`, 'm'), r.stderr);
  at(1, 7, "'admin' takes a numeric IP address .*not the name 'localhost'");
  at(2, 12, 'cannot open access log /nonexistent/dir/access\\.log: No such file or directory');
  at(3, 21, "cannot resolve 'no-such-host\\.invalid'");
  assert.doesNotMatch(r.stdout, /valid/);
});

test('a start-up refusal names the line: a listen port already taken', async (t) => {
  const tg = await t.tollgate({ upstream: 'http://127.0.0.1:1' });
  const dir = t.tmpDir();
  const file = path.join(dir, 'taken.conf');
  writeFileSync(file, `upstream o { server 127.0.0.1:1; }\nsite _ {\n  listen 127.0.0.1:${tg.port};\n  proxy o;\n}\n`);
  const r = await runToExit(t.tollgateBin, ['-c', file], { timeoutMs: 5000 });
  noSan(r);
  assert.equal(r.code, 1, `exit ${r.code}: ${r.stderr}`);
  assert.match(r.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:10: cannot listen on 127\\.0\\.0\\.1:${tg.port}: Address already in use`));
});
