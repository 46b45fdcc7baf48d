import * as assert from 'node:assert/strict';
import { MAX_NAME_LENGTH, nameProblem, parseSessionName, sessionName } from '../../src/core/model/names';

describe('task names', () => {
  it('accepts the seed convention', () => {
    for (const ok of ['refactor-auth', 'review-pr-42', 'a', '0', 'bus_sim-physics', 'x'.repeat(MAX_NAME_LENGTH)]) {
      assert.equal(nameProblem(ok), undefined, ok);
    }
  });

  it('refuses what tmux would rewrite or a shell would read, never rewriting it', () => {
    for (const bad of ['', 'Fix', 'a.b', 'a:b', '-lead', '_lead', 'a b', 'a/b', 'a$b', 'é', 'x'.repeat(MAX_NAME_LENGTH + 1), 'a\nb']) {
      assert.ok(nameProblem(bad), JSON.stringify(bad));
    }
  });

  it('names the session <agent>-<name> and reads it back', () => {
    assert.equal(sessionName('codex', 'refactor-auth'), 'codex-refactor-auth');
    assert.deepEqual(parseSessionName('claude-review-pr-42'), { agent: 'claude', name: 'review-pr-42' });
    assert.equal(parseSessionName('vim-notes'), undefined);
    assert.equal(parseSessionName('codex-'), undefined);
  });
});
