import * as assert from 'node:assert/strict';
import { classifyTmuxFailure } from '../../src/core/tmux/errors';

describe('tmux failures as causes', () => {
  it('a server with no session at all ("no current target", as while another command starts it) has no such session', () => {
    assert.equal(classifyTmuxFailure('no current target'), 'no-such-session');
    assert.equal(classifyTmuxFailure("can't find session: =codex-x"), 'no-such-session');
    assert.equal(classifyTmuxFailure('no server running on /tmp/tmux-0/x'), 'no-server');
    assert.equal(classifyTmuxFailure('duplicate session: codex-x'), 'duplicate-session');
    assert.equal(classifyTmuxFailure('something else'), 'failed');
  });
});
