import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveSettings } from '../../src/core/model/settings';
import { TaskService } from '../../src/core/ops/service';
import { Tmux } from '../../src/core/tmux/tmux';
import { Monitor } from '../../src/core/ops/monitor';
import { ADAPTERS } from '../../src/core/agents/registry';
import { Breaker } from '../../src/core/decide/breaker';
import { BUSY_READ_MS, dueRead, nextStreak, promptDepth, shouldCapture, wentQuiet } from '../../src/core/decide/streak';
import type { PaneInfo } from '../../src/core/tmux/commands';

describe('circuit breaker', () => {
  it('stops resuming while tmux itself keeps failing, and closes again when it works', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ra-breaker-'));
    let failing = true;
    const calls: string[][] = [];
    const tmux = new Tmux({
      exec: async (_file, args) => {
        calls.push([...args]);
        return failing ? { stdout: '', stderr: 'lost server', exitCode: 1 } : { stdout: '', stderr: '', exitCode: 0 };
      },
    });
    let now = 1_000_000;
    const svc = new TaskService({ home, settings: resolveSettings(), tmux, now: () => now });
    const monitor = new Monitor(svc, { intervalMs: 1000, eventDriven: false, breakerThreshold: 3, breakerCooldownMs: 30_000 });
    for (let i = 0; i < 2; i++) await assert.rejects(monitor.pass('test'), /lost server/);
    assert.equal(monitor.breakerOpen, false, 'two failures are not yet a pattern');
    await assert.rejects(monitor.pass('test'), /lost server/);
    assert.equal(monitor.breakerOpen, true, 'open after three in a row');
    now += 30_001;
    assert.equal(monitor.breakerOpen, false, 'closed after the cool-down');
    failing = false;
    const r = await monitor.pass('test');
    assert.equal(r.leader, true);
    assert.equal(monitor.breakerOpen, false);
    monitor.stop();
    assert.ok(calls.every((c) => c[0] === 'list-panes'), 'nothing but observation was tried');
  });
});

describe('the breaker rule alone, on a fake clock', () => {
  it('opens after the threshold of failures in a row, a success resets the count, and it closes after the cool-down', () => {
    let now = 0;
    const b = new Breaker(3, 30_000, () => now);
    assert.equal(b.failed(), false);
    assert.equal(b.failed(), false);
    b.succeeded();
    assert.equal(b.failed(), false, 'a success in between starts the count again');
    assert.equal(b.failed(), false);
    assert.equal(b.open, false);
    assert.equal(b.failed(), true, 'the third in a row opens it');
    assert.equal(b.open, true);
    assert.equal(b.closesAt, 30_000);
    now = 29_999;
    assert.equal(b.open, true);
    now = 30_001;
    assert.equal(b.open, false);
    assert.equal(b.closesAt, 0);
  });
});

describe('the waiting streak and which panes to read', () => {
  const pane = (over: Partial<PaneInfo> = {}): PaneInfo => ({
    session: 'claude-x', windowIndex: 0, paneIndex: 0, paneId: '%1', pid: 1, dead: false, deadStatus: null, deadSignal: null,
    activity: 100, currentCommand: 'node', created: 0, serverPid: 1, ...over,
  });
  const PROMPT = ['Do you want to make this edit to a.ts?', '❯ 1. Yes', '  2. No'];
  it('counts passes in a row that show a prompt; an unread pane keeps its streak; anything else ends it', () => {
    const claude = ADAPTERS.claude;
    const n = (prior: number, p: PaneInfo | undefined, ended: boolean, tail: string[] | undefined) => nextStreak({ n: prior, depth: prior ? 2 : undefined }, claude, p, ended, tail).n;
    assert.equal(n(0, pane(), false, PROMPT), 1);
    assert.equal(n(1, pane(), false, PROMPT), 2);
    assert.equal(n(2, pane(), false, undefined), 3, 'not read this pass: unchanged, still there');
    assert.equal(nextStreak({ n: 0 }, claude, pane(), false, undefined).n, 0);
    assert.equal(n(2, pane(), false, ['working...']), 0, 'the prompt went away');
    assert.equal(n(2, pane({ dead: true }), false, PROMPT), 0, 'a dead pane waits for nobody');
    assert.equal(n(2, pane(), true, PROMPT), 0, 'the run ended');
    assert.equal(n(2, undefined, false, PROMPT), 0, 'no pane');
  });
  it('a confirmed prompt with output come below it was answered, and stays so while it moves up; a new one lower down counts', () => {
    const claude = ADAPTERS.claude;
    const waiting = { n: 2, depth: 2 };
    assert.deepEqual(nextStreak(waiting, claude, pane(), false, [...PROMPT, '❯ 1']), { n: 0, depth: 3 }, 'answered: the agent went on below it');
    assert.deepEqual(nextStreak(waiting, claude, pane(), false, PROMPT), { n: 3, depth: 2 }, 'still the bottom of the pane');
    const answered = { n: 0, depth: 3 };
    assert.deepEqual(nextStreak(answered, claude, pane(), false, [...PROMPT, 'a']), { n: 0, depth: 3 }, 'read again, unchanged');
    assert.deepEqual(nextStreak(answered, claude, pane(), false, [...PROMPT, 'a', 'b']), { n: 0, depth: 4 }, 'moving up');
    assert.deepEqual(nextStreak(answered, claude, pane(), false, undefined), answered, 'not read');
    assert.deepEqual(nextStreak(answered, claude, pane(), false, [...PROMPT, 'a', 'Do you want to proceed?']), { n: 1, depth: 0 }, 'a new prompt below the old one');
    assert.deepEqual(nextStreak({ n: 1, depth: 0 }, claude, pane(), false, PROMPT), { n: 2, depth: 2 }, 'seen once, then drawn on: still a prompt');
    assert.equal(promptDepth(claude, ['x', 'Do you want to proceed?', 'y']), 1);
    assert.equal(promptDepth(claude, ['x']), undefined);
  });
  it('reads a pane whose run ended, or whose output moved, or that was read in its last active second', () => {
    const claude = ADAPTERS.claude;
    assert.equal(shouldCapture(claude, pane(), true, { activity: 100, at: 200_000 }), true, 'ended');
    assert.equal(shouldCapture(claude, pane(), false, undefined), true, 'never read');
    assert.equal(shouldCapture(claude, pane({ activity: 101 }), false, { activity: 100, at: 200_000 }), true, 'moved');
    assert.equal(shouldCapture(claude, pane({ dead: true, deadStatus: 1 }), false, { activity: 100, at: 200_000 }), true, 'its runner ended with a status: what it printed may say why');
    assert.equal(shouldCapture(claude, pane({ dead: true, deadSignal: 9 }), false, undefined), false, 'its runner killed (kill -9 of the group): resumed without a read');
    assert.equal(shouldCapture(claude, pane({ dead: true, deadSignal: 9 }), true, undefined), true, 'killed after it wrote the agent\'s exit: the exit decides, with what it printed');
    assert.equal(shouldCapture(claude, pane(), false, { activity: 100, at: 200_000 }), false, 'unchanged since a later read');
    assert.equal(shouldCapture(claude, pane(), false, { activity: 100, at: 100_500 }), true, 'read in the same second as its last output');
  });
  it('a pane went quiet: its output moved since it was read, then a whole second passed without any', () => {
    assert.equal(wentQuiet(pane(), undefined, 101_999), false, 'still within a second of its last output');
    assert.equal(wentQuiet(pane(), undefined, 102_000), true, 'never read, quiet since');
    assert.equal(wentQuiet(pane({ activity: 101 }), { activity: 100, at: 100_200 }, 103_000), true, 'moved since it was read');
    assert.equal(wentQuiet(pane(), { activity: 100, at: 102_500 }, 110_000), false, 'read since its last output: nothing new');
    assert.equal(wentQuiet(pane(), { activity: 100, at: 100_400 }, 102_000), true, 'read during its last active second: maybe more came after');
    assert.equal(wentQuiet(pane({ dead: true }), undefined, 110_000), false, 'a dead pane is the runner probe\'s');
  });
  it('a pane that never goes still (a spinner beside a prompt) is read every BUSY_READ_MS, not never and not at every probe', () => {
    // Output in every second: never quiet.
    const at = (t: number) => pane({ activity: Math.floor(t / 1000) });
    assert.equal(wentQuiet(at(104_500), { activity: 102, at: 102_500 }, 104_500), false);
    assert.equal(dueRead(at(103_500), { activity: 102, at: 102_500 }, 103_500), false, 'read a second ago');
    assert.equal(dueRead(at(102_500 + BUSY_READ_MS), { activity: 102, at: 102_500 }, 102_500 + BUSY_READ_MS), true, 'not read for BUSY_READ_MS');
    assert.equal(dueRead(pane({ activity: 101 }), { activity: 100, at: 100_200 }, 103_000), true, 'went quiet');
    assert.equal(dueRead(pane(), { activity: 100, at: 100_200 }, 120_000), true, 'quiet since a read in its last active second');
    assert.equal(dueRead(pane(), { activity: 100, at: 102_500 }, 120_000), false, 'unchanged since it was read');
    assert.equal(dueRead(pane({ dead: true, activity: 200 }), { activity: 100, at: 100_200 }, 120_000), false, 'a dead pane is the runner probe\'s');
  });
});
