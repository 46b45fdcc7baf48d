import * as assert from 'node:assert/strict';
import { ADAPTERS } from '../../src/core/agents/registry';
import { classifyAdopted, trimPadding } from '../../src/core/decide/adopted';

const pane = (dead = false, status: number | null = null) => ({
  session: 'codex-x', windowIndex: 0, paneIndex: 0, paneId: '%1', pid: 1, dead, deadStatus: status, deadSignal: null,
  activity: 0, currentCommand: 'bash', created: 0, serverPid: 0,
});

// Pane texts as the seed's sessions show them.
const TYPED = `user@host:~/proj$ cd /proj && set -o pipefail && codex exec --json "fix it" | tee /tmp/codex-x.events.jsonl && echo "__TASK_DONE__"`;

describe('pane rules for sessions started by hand', () => {
  it('done: the marker alone on a line, not the typed command that contains it', () => {
    assert.equal(classifyAdopted(ADAPTERS.codex, pane(), [TYPED, '{"type":"turn.completed"}', '__TASK_DONE__', 'user@host:~/proj$ ']).state, 'done');
  });

  it('failed: the shell prompt is back with no marker', () => {
    const r = classifyAdopted(ADAPTERS.codex, pane(), [TYPED, 'Error: stream disconnected', 'user@host:~/proj$ ']);
    assert.equal(r.state, 'failed');
    assert.match(r.reason ?? '', /shell prompt/);
  });

  it('running: output still moving', () => {
    assert.equal(classifyAdopted(ADAPTERS.codex, pane(), [TYPED, '{"type":"item.started"}']).state, 'running');
  });

  it('waiting: an approval prompt on the last lines', () => {
    assert.equal(classifyAdopted(ADAPTERS.claude, pane(), ['Edit file src/a.ts', 'Do you want to make this edit to a.ts?', '❯ 1. Yes', '  2. No']).state, 'waiting');
  });

  it('a dead pane speaks through its status', () => {
    assert.equal(classifyAdopted(ADAPTERS.codex, pane(true, 0), []).state, 'done');
    assert.deepEqual(classifyAdopted(ADAPTERS.codex, pane(true, 2), []), { state: 'failed', reason: 'the pane\'s program exited 2' });
    assert.deepEqual(classifyAdopted(ADAPTERS.codex, { ...pane(true), deadSignal: 9 }, []), { state: 'failed', reason: 'the pane\'s program was killed by signal 9' });
  });

  it('a pane that has just died, before tmux says how: said so, not "signal null"', () => {
    assert.deepEqual(classifyAdopted(ADAPTERS.codex, pane(true), []), { state: 'failed', reason: 'the pane\'s program ended (tmux has not said how yet)' });
  });

  it('logs drop the blank rows tmux pads the screen with', () => {
    assert.deepEqual(trimPadding(['a', '__TASK_DONE__', '', '', '', 'Pane is dead (status 0, now)', '', '']), ['a', '__TASK_DONE__', '', 'Pane is dead (status 0, now)']);
  });
});
