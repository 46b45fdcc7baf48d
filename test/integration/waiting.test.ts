import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveSettings } from '../../src/core/model/settings';
import { harnessPerTest, waitFor } from './harness';

/**
 * What needs a person, in the default settings: the background supervisor with its 180 s timer.
 * A prompt must not wait for the timer (two passes of it were 357 s): a pane that goes quiet after
 * output wakes the supervisor, which reads that pane and confirms the prompt a second later.
 */
describe('a prompt for a person in the default settings (background supervisor, 180 s timer)', function () {
  this.timeout(60_000);
  const h = harnessPerTest();
  beforeEach(() => {
    assert.equal(resolveSettings().intervalMs, 180_000, 'the default timer this test is about');
    h.configure({ 'supervisor.mode': 'background' });
  });

  const log = () => fs.readFileSync(path.join(h.home, 'supervisor.log'), 'utf8');
  const listed = async (session: string): Promise<string | undefined> =>
    (JSON.parse(await h.ok(['list', '--json'])) as { session: string; state: string }[]).find((v) => v.session === session)?.state;
  const paneShows = async (session: string, text: string) => (await h.tmux(['capture-pane', '-p', '-t', `=${session}:`])).stdout.includes(text);

  it('an approval prompt is waiting in list within 5 s of appearing, and the supervisor announces it', async () => {
    const project = h.project('p', ['ask']);
    // The prompt comes well after the supervisor's first pass: only a wake can show it in time.
    await h.ok(['start', 'claude', 'approve', '--dir', project, '--prompt', 'x'], { env: { ...h.env, FIXTURE_ASK_AFTER_MS: '3000' } });
    await waitFor(() => log().includes('supervisor'), 'the background supervisor'); // its log exists once it runs
    await waitFor(() => paneShows('claude-approve', 'Do you want to proceed?'), 'the prompt in the pane');
    const shownAt = Date.now();
    const waitingAt = await waitFor(async () => ((await listed('claude-approve')) === 'waiting' ? Date.now() : undefined), 'list to say waiting', 5_000);
    assert.ok(waitingAt - shownAt <= 5_000, `waiting ${waitingAt - shownAt} ms after the prompt showed`);
    assert.equal(h.record('claude-approve')?.state, 'waiting', 'recorded, not only listed');
    await waitFor(() => /claude-approve: running -> waiting \(the agent waits for input\)/.test(log()), 'the change announced in the supervisor log', 2_000);
    // A person answers: the agent goes on (here it finishes).
    await h.ok(['send', 'claude-approve', 'y']);
    await waitFor(() => h.record('claude-approve')?.state === 'done', 'answered and done');
  });

  it('a person answers and the agent goes on: running again within 5 s, and announced', async () => {
    const project = h.project('a', ['ask-on']);
    await h.ok(['start', 'claude', 'goes-on', '--dir', project, '--prompt', 'x'], { env: { ...h.env, FIXTURE_ASK_AFTER_MS: '2000' } });
    await waitFor(() => paneShows('claude-goes-on', 'Do you want to proceed?'), 'the prompt in the pane');
    await waitFor(() => h.record('claude-goes-on')?.state === 'waiting', 'waiting', 5_000);
    // Typed into the pane, as a person attached to it does (not through the CLI, which wakes the supervisor itself).
    await h.tmux(['send-keys', '-t', '=claude-goes-on:', 'y', 'Enter']);
    await waitFor(() => paneShows('claude-goes-on', 'working on it...'), 'the agent going on');
    const goneOnAt = Date.now();
    const runningAt = await waitFor(() => (h.record('claude-goes-on')?.state === 'running' ? Date.now() : undefined), 'running again', 5_000);
    assert.ok(runningAt - goneOnAt <= 5_000, `running ${runningAt - goneOnAt} ms after the agent went on`);
    await waitFor(() => /claude-goes-on: waiting -> running/.test(log()), 'the change announced in the supervisor log', 2_000);
  });

  it('a prompt beside a spinner redrawn every 500 ms (the pane never goes still) is waiting within 5 s; read every few seconds meanwhile, not every second; answered, running again', async () => {
    const project = h.project('s', ['ask-on']);
    await h.ok(['start', 'claude', 'spin', '--dir', project, '--prompt', 'x'], { env: { ...h.env, FIXTURE_ASK_AFTER_MS: '3000', FIXTURE_SPINNER_MS: '500', RESILIENT_AGENT_DEBUG: '1' } });
    await waitFor(() => paneShows('claude-spin', 'waiting for you'), 'the prompt and its spinner in the pane');
    const shownAt = Date.now();
    const waitingAt = await waitFor(() => (h.record('claude-spin')?.state === 'waiting' ? Date.now() : undefined), 'waiting', 5_000);
    assert.ok(waitingAt - shownAt <= 5_000, `waiting ${waitingAt - shownAt} ms after the prompt showed`);
    // Waiting, the spinner still turning: a read every 2-3 s (BUSY_READ_MS), not a pass every second.
    const wakes = () => log().split('\n').filter((l) => l.includes('the pane of claude-spin moved')).length;
    const before = wakes();
    const from = Date.now();
    await waitFor(() => Date.now() - from >= 9_000 || undefined, 'nine seconds of waiting', 10_000);
    const n = wakes() - before;
    assert.ok(n >= 2 && n <= 5, `${n} reads of the waiting pane in 9 s`);
    assert.equal(h.record('claude-spin')?.state, 'waiting');
    await h.tmux(['send-keys', '-t', '=claude-spin:', 'y', 'Enter']);
    await waitFor(() => paneShows('claude-spin', 'working on it...'), 'the agent going on');
    const goneOnAt = Date.now();
    await waitFor(() => h.record('claude-spin')?.state === 'running', 'running again', 5_000);
    assert.ok(Date.now() - goneOnAt <= 5_000);
  });

  it('a pane that is merely quiet (the agent thinking, no prompt) is read and stays running', async () => {
    const project = h.project('q', ['hang']);
    await h.ok(['start', 'claude', 'thinking', '--dir', project, '--prompt', 'x'], { env: { ...h.env, RESILIENT_AGENT_DEBUG: '1' } });
    await waitFor(() => paneShows('claude-thinking', 'working...'), 'the agent at work');
    // Read: woken for it once it went quiet, or read already by a pass that came after its output (on
    // a loaded machine the pass a start wakes may come that late; then there is nothing new to wake for).
    await waitFor(() => /the pane of claude-thinking went quiet|> tmux capture-pane/.test(log()), 'the quiet pane read', 10_000);
    // Then looked at for longer than a prompt takes to be confirmed.
    const until = Date.now() + 2_500;
    while (Date.now() < until) {
      assert.equal(await listed('claude-thinking'), 'running');
      assert.equal(h.record('claude-thinking')?.state, 'running');
    }
    assert.doesNotMatch(log(), /claude-thinking: running -> waiting/);
  });
});
