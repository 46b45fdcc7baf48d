import * as assert from 'node:assert/strict';
import { countEcho, echoTail } from '../../src/core/tmux/tmux';

describe('a TUI showing what was typed (the cue for its Enter)', () => {
  it('the end of the text, found wherever the pane wraps it, counted as often as it shows', () => {
    const text = 'Write the tests for the parser (task 12)';
    const tail = echoTail(text);
    assert.equal(tail, 'estsfortheparser(task12)');
    const wrapped = '❯ Write the tests for the pa\n  rser (task 12)\n';
    assert.equal(countEcho(wrapped, tail), 1);
    assert.equal(countEcho(`❯ ${text}\n● done\n${wrapped}`, tail), 2);
    assert.equal(countEcho('❯ \n', tail), 0);
    assert.equal(countEcho('anything', ''), 0);
  });

  it("found though the TUI frames its prompt box (side borders, a gutter) where the text wraps", () => {
    const text = 'Write the tests for the parser (task 12)';
    const tail = echoTail(text);
    // A box with side borders (Claude Code's older prompt), a gutter bar (OpenCode's): a wrap inside the tail.
    assert.equal(countEcho('╭──────────────────────────────╮\n│ > Write the tests for the pa │\n│   rser (task 12)             │\n╰──────────────────────────────╯', tail), 1);
    assert.equal(countEcho('┃ Write the tests for the pars\n┃ er (task 12)\n', tail), 1);
    assert.equal(countEcho('▌ Write the tests for the pars\n▌ er (task 12)\n', tail), 1);
  });
});

