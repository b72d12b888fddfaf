// Test registry and per-test context. Test files do:
//   import { test } from '../lib/harness.mjs';
//   test('name', async (t) => { const { mock, tg } = await t.pair(); ... });
// run.mjs imports every tests/*.test.mjs and runs what they registered.
import { startMock, startTollgate, cleanupTmp, tmpDir } from './proc.mjs';
import { rmSync } from 'node:fs';
import path from 'node:path';

export const registry = [];
let currentFile = '';
export function setCurrentFile(f) { currentFile = f; }

// opts.timeoutMs: hang guard for this test (default 30 s).
export function test(name, fn, opts = {}) {
  registry.push({ name, fn, file: currentFile, timeoutMs: opts.timeoutMs ?? 30000 });
}

export class Ctx {
  constructor(buildDir) {
    this.buildDir = buildDir;
    this.procs = [];
    this.cleanups = [];
    this.dirs = [];
    this.lastMock = null;
    this.notes = [];
  }

  // A measurement worth showing next to the test's result line.
  note(msg) { this.notes.push(msg); }

  get tollgateBin() { return path.join(this.buildDir, 'tollgate'); }
  get mockBin() { return path.join(this.buildDir, 'mock-ollama'); }

  async mock(args = [], opts = {}) {
    const m = await startMock(this.buildDir, args, opts);
    this.procs.push(m);
    this.lastMock = m;
    return m;
  }

  // Starts tollgate; upstream defaults to the last mock started in this test.
  async tollgate(opts = {}) {
    const o = { ...opts };
    if (!o.config && !o.configFile && o.upstream === undefined && this.lastMock) o.upstream = this.lastMock.url;
    if (!o.config && !o.configFile && o.workers === undefined) o.workers = 2;
    const p = await startTollgate(this.buildDir, o);
    this.procs.push(p);
    return p;
  }

  // A mock and a tollgate in front of it.
  async pair({ mockArgs = [], ...tgOpts } = {}) {
    const mock = await this.mock(mockArgs);
    const tg = await this.tollgate(tgOpts);
    return { mock, tg };
  }

  tmpDir() {
    const d = tmpDir();
    this.dirs.push(d);
    return d;
  }

  defer(fn) { this.cleanups.push(fn); }

  // Stop everything; returns problems found (sanitizer reports, no exit on SIGTERM).
  async close() {
    const problems = [];
    for (const fn of this.cleanups.reverse()) {
      try { await fn(); } catch (e) { problems.push(`cleanup: ${e.message}`); }
    }
    // tollgate first (it may hold upstream connections), then the mocks
    const order = [...this.procs].sort((a, b) => (a.name === 'tollgate' ? -1 : 0) - (b.name === 'tollgate' ? -1 : 0));
    for (const p of order) {
      problems.push(...(await p.stop()));
      cleanupTmp(p);
    }
    for (const d of this.dirs) {
      try { rmSync(d, { recursive: true, force: true }); } catch { /* ignore */ }
    }
    this.procs = [];
    return problems;
  }
}
