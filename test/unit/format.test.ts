import * as assert from 'node:assert/strict';
import { statusLines } from '../../src/cli/format';
import type { Attempt } from '../../src/core/model/record';
import type { TaskView } from '../../src/core/model/views';

describe('status for a person', () => {
  const attempt = (over: Partial<Attempt>): Attempt => ({
    n: 1, cause: 'start', mode: 'start', startedAt: '2026-01-01T00:00:00.000Z', endedAt: '2026-01-01T00:01:00.000Z', exitCode: 0, signal: null, note: null, ...over,
  });
  const lines = (a: Attempt) => statusLines({
    name: 'x', session: 'codex-x', agent: 'codex', state: 'lost', reason: null, agentSessionId: null, dir: null, prompt: null, createdAt: null,
    attempts: [a], nextAttemptAt: null, heldUntil: null, adopted: false, eventsFile: null, hasSession: false, worktree: null, recorded: null, lastMessage: null, usage: null,
  } as TaskView, Date.parse('2026-01-01T00:02:00.000Z'));

  it('an attempt says how it ended; one that ended with no status (its session lost) says so, not "exit null"', () => {
    assert.match(lines(attempt({ exitCode: 3 })).join('\n'), /ended 1m ago, exit 3/);
    assert.match(lines(attempt({ exitCode: null, signal: 9 })).join('\n'), /ended 1m ago, signal 9/);
    const lost = lines(attempt({ exitCode: null, signal: null })).join('\n');
    assert.match(lost, /ended 1m ago, no exit status/);
    assert.doesNotMatch(lost, /null/);
  });
});
