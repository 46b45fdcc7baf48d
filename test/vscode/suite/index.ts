// Entry point for the extension-host tests (the standard `extensionTestsPath` contract: a module
// exporting `run(): Promise<void>`). Loaded by VS Code inside the Node extension host, either by
// test/vscode/host.ts (code-server) or test/vscode/electron.ts (@vscode/test-electron).
//
// Mocha's own reporters are unusable here: the extension host forwards console.log to the
// browser console without substituting `%s` placeholders. So the reporter below logs plain,
// already formatted lines, and the harness reads the results from a JSON file instead.

import * as fs from 'fs';
import * as path from 'path';
// Types only (elided from the output): the harness imports this module too, to read results,
// and must not load mocha for that.
import Mocha = require('mocha');

/** Set by the harness: where run() writes the results. */
export const RESULTS_ENV = 'RESILIENT_AGENT_TEST_RESULTS';
/** Optional: only run tests whose full title matches this regular expression. */
export const GREP_ENV = 'RESILIENT_AGENT_TEST_GREP';

export interface TestOutcome {
  title: string;
  fullTitle: string;
  durationMs?: number;
}

export interface TestFailure extends TestOutcome {
  message: string;
  stack?: string;
}

export interface SuiteResults {
  schemaVersion: 1;
  startedAt: string;
  finishedAt: string;
  passes: TestOutcome[];
  failures: TestFailure[];
  pending: TestOutcome[];
}

const TEST_FILE = /\.test\.js$/;

export async function run(): Promise<void> {
  const results: SuiteResults = {
    schemaVersion: 1,
    startedAt: new Date().toISOString(),
    finishedAt: '',
    passes: [],
    failures: [],
    pending: [],
  };
  const log = (line: string): void => console.log(line);
  const MochaClass = (await import('mocha')).default;

  // A class per run, so the reporter writes into this run's `results`.
  class PlainReporter extends MochaClass.reporters.Base {
    constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
      super(runner, options);
      const events = MochaClass.Runner.constants;
      runner.on(events.EVENT_TEST_PASS, (test: Mocha.Test) => {
        results.passes.push(outcome(test));
        log(`  pass  ${test.fullTitle()} (${test.duration ?? 0} ms)`);
      });
      runner.on(events.EVENT_TEST_PENDING, (test: Mocha.Test) => {
        results.pending.push(outcome(test));
        log(`  skip  ${test.fullTitle()}`);
      });
      runner.on(events.EVENT_TEST_FAIL, (test: Mocha.Runnable, err: unknown) => {
        const failure = { ...outcome(test), ...describeError(err) };
        results.failures.push(failure);
        log(`  FAIL  ${failure.fullTitle}\n${indent(failure.stack ?? failure.message)}`);
      });
    }
  }

  const mocha = new MochaClass({ ui: 'bdd', color: false, timeout: 60_000, reporter: PlainReporter });
  const grep = process.env[GREP_ENV];
  if (grep) {
    mocha.grep(new RegExp(grep));
  }
  for (const file of findTestFiles(__dirname)) {
    mocha.addFile(file);
  }

  let failures: number;
  try {
    failures = await new Promise<number>((resolve, reject) => {
      try {
        mocha.run(resolve);
      } catch (err) {
        // A test file that throws while loading lands here, before any test runs.
        reject(err);
      }
    });
  } catch (err) {
    results.failures.push({ title: 'loading test files', fullTitle: 'loading test files', ...describeError(err) });
    failures = 1;
  }
  results.finishedAt = new Date().toISOString();
  writeResults(results);

  const total = results.passes.length + results.failures.length;
  log(`${results.passes.length} passed, ${results.failures.length} failed`);
  if (failures > 0 || results.failures.length > 0) {
    throw new Error(`${results.failures.length} of ${total} extension-host tests failed`);
  }
  if (total === 0) {
    throw new Error('no extension-host test ran');
  }
}

/** Reads the file run() wrote; throws a plain sentence if it is missing or malformed. */
export function readSuiteResults(file: string): SuiteResults {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(`no results file: the suite did not run to its end (${file})`);
    }
    throw new Error(`results file ${file} is unreadable: ${err instanceof Error ? err.message : String(err)}`);
  }
  const r = parsed as Partial<SuiteResults> | null;
  if (!r || r.schemaVersion !== 1 || !Array.isArray(r.passes) || !Array.isArray(r.failures)) {
    throw new Error(`results file ${file} is not a schema-1 results file`);
  }
  return { pending: [], ...r } as SuiteResults;
}

/** The lines a harness prints; the last is exactly `N passed, M failed`. */
export function formatSuiteResults(r: SuiteResults): string[] {
  const lines: string[] = [];
  for (const t of r.passes) {
    lines.push(`  pass  ${t.fullTitle}${t.durationMs !== undefined ? ` (${t.durationMs} ms)` : ''}`);
  }
  for (const t of r.pending) {
    lines.push(`  skip  ${t.fullTitle}`);
  }
  for (const t of r.failures) {
    lines.push(`  FAIL  ${t.fullTitle}`, indent(t.stack ?? t.message));
  }
  if (r.pending.length > 0) {
    lines.push(`${r.pending.length} skipped`);
  }
  lines.push(`${r.passes.length} passed, ${r.failures.length} failed`);
  return lines;
}

function outcome(test: Mocha.Runnable): TestOutcome {
  return { title: test.title, fullTitle: test.fullTitle(), durationMs: test.duration };
}

function describeError(err: unknown): { message: string; stack?: string } {
  if (err instanceof Error) {
    // The stack starts with the message; keep both so a reader of either field sees the cause.
    return { message: err.message, stack: err.stack };
  }
  return { message: String(err) };
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `        ${l}`)
    .join('\n');
}

function findTestFiles(dir: string): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      found.push(...findTestFiles(full));
    } else if (TEST_FILE.test(entry.name)) {
      found.push(full);
    }
  }
  return found.sort();
}

function writeResults(results: SuiteResults): void {
  const file = process.env[RESULTS_ENV];
  if (!file) {
    return;
  }
  // Temp file + rename: the harness must never read half a file.
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(results, null, 2));
  fs.renameSync(tmp, file);
}
