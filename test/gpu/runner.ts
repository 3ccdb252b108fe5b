/**
 * A small test runner for machines without jest (the GPU machine has no Node.js installation, no npm and no
 * network: the suites are bundled with esbuild into one file and run by a carried `node`). It provides the
 * part of jest's API the suites use: describe / it / test, beforeAll / afterAll / beforeEach / afterEach,
 * `expect` (jest's own package, bundled), and `jest.spyOn(...).mockReturnValue / mockImplementation /
 * mockRestore`. Tests run in order, one at a time; the last line is `N passed, N failed, N skipped`.
 *
 * Environment: GPU_TEST_FILTER (a regular expression over the full test name), GPU_TEST_LOG (a file that
 * gets every test's name, time and error).
 */
import {expect as jestExpect} from 'expect';
import * as fs from 'fs';

type Fn = () => unknown | Promise<unknown>;

interface Suite {
  name: string;
  parent: Suite | null;
  children: Array<Suite | Test>;
  beforeAll: Fn[];
  afterAll: Fn[];
  beforeEach: Fn[];
  afterEach: Fn[];
}

interface Test {
  name: string;
  fn: Fn;
  skip: boolean;
}

const root: Suite = {name: '', parent: null, children: [], beforeAll: [], afterAll: [], beforeEach: [], afterEach: []};
let current = root;

function describe(name: string, body: () => void): void {
  const suite: Suite = {name, parent: current, children: [], beforeAll: [], afterAll: [], beforeEach: [],
                        afterEach: []};
  current.children.push(suite);
  current = suite;
  try {
    body();
  } finally {
    current = suite.parent!;
  }
}

function it(name: string, fn: Fn): void {
  current.children.push({name, fn, skip: false});
}
it.skip = (name: string, fn: Fn) => current.children.push({name, fn, skip: true});

interface Spy {
  mockReturnValue(v: unknown): Spy;
  mockImplementation(f: (...args: unknown[]) => unknown): Spy;
  mockRestore(): void;
}

const jestShim = {
  spyOn(obj: Record<string, unknown>, method: string): Spy {
    const original = obj[method] as (...args: unknown[]) => unknown;
    let impl = original;
    obj[method] = (...args: unknown[]) => impl.apply(obj, args);
    const spy: Spy = {
      mockReturnValue: v => {
        impl = () => v;
        return spy;
      },
      mockImplementation: f => {
        impl = f;
        return spy;
      },
      mockRestore: () => {
        obj[method] = original;
      },
    };
    return spy;
  },
};

/** Installs the globals the suites use. Import this module before any suite. */
const g = globalThis as unknown as Record<string, unknown>;
g.describe = describe;
g.it = it;
g.test = it;
g.expect = jestExpect;
g.jest = jestShim;
g.beforeAll = (f: Fn) => current.beforeAll.push(f);
g.afterAll = (f: Fn) => current.afterAll.push(f);
g.beforeEach = (f: Fn) => current.beforeEach.push(f);
g.afterEach = (f: Fn) => current.afterEach.push(f);
// Dawn's GPU polling throttled as in the jest workers (test/environment.js), which test/webgpu.test.ts checks.
// eslint-disable-next-line @typescript-eslint/no-var-requires
g.nattenDawnThrottle = require('../webgpu_env').throttleDawnPolling(globalThis);

function fullName(s: Suite | null, leaf: string): string {
  const parts: string[] = [leaf];
  for (let x = s; x != null && x.parent != null; x = x.parent) {
    parts.unshift(x.name);
  }
  return parts.join(' > ');
}

function chain(s: Suite): Suite[] {
  const out: Suite[] = [];
  for (let x: Suite | null = s; x != null; x = x.parent) {
    out.unshift(x);
  }
  return out;
}

function message(e: unknown): string {
  return e instanceof Error ? (e.stack ?? e.message) : String(e);
}

function hasSelected(s: Suite, filter: RegExp | null): boolean {
  return s.children.some(c => 'fn' in c ? !c.skip && (filter == null || filter.test(fullName(s, c.name))) :
                                          hasSelected(c, filter));
}

/** Runs every registered test; resolves to the number of failures. */
export async function runAll(): Promise<number> {
  const filter = process.env.GPU_TEST_FILTER ? new RegExp(process.env.GPU_TEST_FILTER) : null;
  const logFile = process.env.GPU_TEST_LOG;
  const log = (line: string) => logFile && fs.appendFileSync(logFile, line + '\n');
  const counts = {passed: 0, failed: 0, skipped: 0};
  const failures: string[] = [];
  const started = performance.now();

  async function runSuite(s: Suite): Promise<void> {
    if (!hasSelected(s, filter)) {
      return;
    }
    const suiteStart = performance.now();
    const before = {...counts};
    try {
      for (const f of s.beforeAll) {
        await f();
      }
    } catch (e) {
      const name = fullName(s, '(beforeAll)');
      counts.failed++;
      failures.push(`${name}\n${message(e)}`);
      log(`FAIL ${name}\n${message(e)}`);
      return;
    }
    for (const c of s.children) {
      if (!('fn' in c)) {
        await runSuite(c);
        continue;
      }
      const name = fullName(s, c.name);
      if (c.skip || (filter != null && !filter.test(name))) {
        counts.skipped++;
        continue;
      }
      const t0 = performance.now();
      try {
        for (const x of chain(s)) {
          for (const f of x.beforeEach) {
            await f();
          }
        }
        await c.fn();
        for (const x of chain(s).reverse()) {
          for (const f of x.afterEach) {
            await f();
          }
        }
        counts.passed++;
        log(`ok   ${name} (${(performance.now() - t0).toFixed(0)} ms)`);
      } catch (e) {
        counts.failed++;
        failures.push(`${name}\n${message(e)}`);
        log(`FAIL ${name} (${(performance.now() - t0).toFixed(0)} ms)\n${message(e)}`);
      }
    }
    for (const f of s.afterAll) {
      await f();
    }
    if (s.parent === root) {
      const p = counts.passed - before.passed, f = counts.failed - before.failed;
      console.log(`${f === 0 ? 'PASS' : 'FAIL'} ${s.name}: ${p} passed, ${f} failed (${
          ((performance.now() - suiteStart) / 1000).toFixed(1)} s)`);
    }
  }

  await runSuite(root);
  for (const f of failures.slice(0, 20)) {
    console.log(`\n--- ${f.split('\n').slice(0, 12).join('\n')}`);
  }
  if (failures.length > 20) {
    console.log(`\n(${failures.length - 20} more failures${logFile ? `, all in ${logFile}` : ''})`);
  }
  console.log(`\n${((performance.now() - started) / 1000).toFixed(1)} s`);
  console.log(`${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
  return counts.failed;
}
