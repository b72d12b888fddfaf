#!/usr/bin/env node
// Integration tests: the real tollgate binary in front of the mock Ollama.
//
//   node tests/integration/run.mjs BUILD_DIR [FILTER]
//
// BUILD_DIR holds tollgate and mock-ollama (build, build-asan). FILTER, when
// given (or TG_IT_FILTER), runs only the tests whose "file: name" contains it.
// Prints "ok name" / "FAIL name: reason" per test and ends with exactly one
// line "integration: N passed, N failed"; exit 1 if any failed.
import { readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { registry, setCurrentFile, Ctx } from './lib/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const buildArg = process.argv[2];
if (!buildArg) {
  console.error('usage: node tests/integration/run.mjs BUILD_DIR [FILTER]');
  process.exit(2);
}
const buildDir = path.resolve(buildArg);
const filter = process.argv[3] ?? process.env.TG_IT_FILTER ?? '';

// Errors thrown from stray callbacks (sockets, timers) count against the running test.
let current = null;
function stray(err) {
  const msg = err && err.stack ? err.stack.split('\n').slice(0, 3).join(' | ') : String(err);
  if (current) current.stray.push(msg);
  else console.error(`stray error outside a test: ${msg}`);
}
process.on('uncaughtException', stray);
process.on('unhandledRejection', stray);

async function main() {
  const testDir = path.join(here, 'tests');
  const files = readdirSync(testDir).filter((f) => f.endsWith('.test.mjs')).sort();
  for (const f of files) {
    setCurrentFile(f.replace(/\.test\.mjs$/, ''));
    await import(pathToFileURL(path.join(testDir, f)).href);
  }

  const missing = ['tollgate', 'mock-ollama'].filter((b) => !existsSync(path.join(buildDir, b)));
  if (missing.length) console.error(`warning: ${missing.join(', ')} missing in ${buildDir}`);

  let passed = 0;
  let failed = 0;
  const t0 = Date.now();
  for (const tc of registry) {
    const full = `${tc.file}: ${tc.name}`;
    if (filter && !full.includes(filter)) continue;
    const ctx = new Ctx(buildDir);
    current = { stray: [] };
    const started = Date.now();
    let failure = null;
    let guard;
    try {
      await Promise.race([
        Promise.resolve().then(() => tc.fn(ctx)),
        new Promise((_, reject) => {
          guard = setTimeout(() => reject(new Error(`hang guard: test still running after ${tc.timeoutMs} ms`)), tc.timeoutMs);
        }),
      ]);
    } catch (err) {
      failure = err && err.message ? err.message : String(err);
    } finally {
      clearTimeout(guard);
    }
    let problems = [];
    try {
      problems = await ctx.close();
    } catch (err) {
      problems.push(`shutdown: ${err.message}`);
    }
    // let late socket errors of this test land on it
    await new Promise((r) => setImmediate(r));
    const reasons = [];
    if (failure) reasons.push(failure);
    reasons.push(...problems);
    reasons.push(...current.stray.map((s) => `uncaught: ${s}`));
    current = null;
    const ms = Date.now() - started;
    if (reasons.length === 0) {
      passed++;
      console.log(`ok ${full} (${ms} ms)`);
      for (const n of ctx.notes) console.log(`  # ${n}`);
    } else {
      failed++;
      console.log(`FAIL ${full}: ${reasons.join(' || ').replace(/\n/g, '\n    ')}`);
    }
  }
  console.error(`integration: ${buildDir} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`integration: ${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

main().then(() => {
  // do not wait on stray handles (sockets kept open by client libraries)
  setTimeout(() => process.exit(process.exitCode ?? 0), 50).unref();
}).catch((err) => {
  console.error(err);
  console.log('integration: 0 passed, 1 failed');
  process.exit(1);
});
