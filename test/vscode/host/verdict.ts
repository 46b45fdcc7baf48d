// Verdict: a pure function of what happened.

import { formatSuiteResults, SuiteResults } from '../suite/index';
import { PREFIX } from './helpers';

export type Outcome =
  | { kind: 'exited'; code: number }
  | { kind: 'timeout' }
  | { kind: 'server-died'; how: string }
  | { kind: 'browser-died'; what: string }
  | { kind: 'interrupted'; signal: string }
  | { kind: 'error'; message: string };

interface Verdict {
  ok: boolean;
  lines: string[];
}

export function judge(outcome: Outcome, results: SuiteResults | Error, timeoutMs: number): Verdict {
  const lines: string[] = [];
  let ok = true;
  if (results instanceof Error) {
    lines.push(`${PREFIX} ${results.message}`);
    ok = false;
  } else {
    lines.push(...formatSuiteResults(results).slice(0, -1));
  }
  switch (outcome.kind) {
    case 'exited':
      if (outcome.code !== 0) {
        lines.push(`${PREFIX} the suite reported exit code ${outcome.code}`);
        ok = false;
      }
      break;
    case 'timeout':
      lines.push(`${PREFIX} the run did not finish within ${Math.round(timeoutMs / 1000)} s (RESILIENT_AGENT_TEST_TIMEOUT)`);
      ok = false;
      break;
    case 'server-died':
      lines.push(`${PREFIX} code-server exited during the run (${outcome.how})`);
      ok = false;
      break;
    case 'browser-died':
      lines.push(`${PREFIX} the browser window went away during the run (${outcome.what})`);
      ok = false;
      break;
    case 'interrupted':
      lines.push(`${PREFIX} interrupted by ${outcome.signal}`);
      ok = false;
      break;
    case 'error':
      lines.push(`${PREFIX} ${outcome.message}`);
      ok = false;
      break;
  }
  const passed = results instanceof Error ? 0 : results.passes.length;
  const failed = results instanceof Error ? 0 : results.failures.length;
  if (!(results instanceof Error) && passed + failed === 0) {
    lines.push(`${PREFIX} no test ran`);
    ok = false;
  }
  if (failed > 0) {
    ok = false;
  }
  lines.push(`${passed} passed, ${failed} failed`);
  return { ok, lines };
}
