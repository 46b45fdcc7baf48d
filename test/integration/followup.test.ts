import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AGENT_IDS } from '../../src/core/model/names';
import { harnessPerTest, waitFor } from './harness';

/** `continue`: a new prompt in the same conversation, by the agent's own resume of the exact session. */
describe('follow-ups', function () {
  this.timeout(60_000);
  const h = harnessPerTest();

  const done = (session: string) => waitFor(async () => (await h.status(session)).state === 'done', `${session} done`);

  for (const agent of AGENT_IDS) {
    it(`${agent}: a done task continues in the same session with the new prompt, supervised again`, async () => {
      const project = h.project('p', ['ok', 'crash', 'ok']);
      await h.ok(['start', agent, 'more', '--dir', project, '--prompt', 'Fix the parser.']);
      const session = `${agent}-more`;
      await done(session);
      const monitor = h.monitor(['--interval', '0.2']);
      const out = await h.ok(['continue', 'more', '--prompt', 'Now also add tests for it.']);
      assert.match(out, new RegExp(`^${session}: attempt 2 continues session \\S+ with the new prompt`));
      // The follow-up crashes once: resumed (with the continue prompt) until done, like any task.
      await done(session);
      await h.stop(monitor);
      const runs = h.invocations(project);
      assert.deepEqual(runs.map((r) => r.mode), ['start', 'resume', 'resume']);
      assert.equal(new Set(runs.map((r) => r.sessionId)).size, 1, 'one conversation throughout');
      assert.equal(runs[1].prompt, 'Now also add tests for it.');
      const conversation = JSON.parse(fs.readFileSync(path.join(h.root, 'fixture-home', agent, `${runs[0].sessionId}.json`), 'utf8'));
      assert.deepEqual(conversation.prompts.slice(0, 2), ['Fix the parser.', 'Now also add tests for it.'], 'the agent got the first conversation and the new prompt');
      const record = h.record(session)!;
      assert.deepEqual(record.attempts.map((a) => a.cause), ['start', 'follow-up', 'crash']);
    });
  }

  it('an agent that dies before it saved the follow-up is resumed with the follow-up said again, not lost', async () => {
    const project = h.project('p', ['ok', 'hang-first', 'ok']);
    await h.ok(['start', 'codex', 'fragile', '--dir', project, '--prompt', 'The original task.']);
    await done('codex-fragile');
    await h.ok(['continue', 'fragile', '--prompt', 'FOLLOW-UP: now add tests.']);
    await waitFor(() => h.invocations(project).length === 2, 'the follow-up runs');
    const monitor = h.monitor(['--interval', '0.2']);
    await h.crash('codex-fragile', 2);
    await done('codex-fragile');
    await h.stop(monitor);
    const runs = h.invocations(project);
    assert.deepEqual(runs.map((r) => r.mode), ['start', 'resume', 'resume']);
    assert.match(runs[2].prompt, /FOLLOW-UP: now add tests\./, 'the resume says the follow-up again');
    const conversation = JSON.parse(fs.readFileSync(path.join(h.root, 'fixture-home', 'codex', `${runs[0].sessionId}.json`), 'utf8'));
    assert.ok(conversation.prompts.some((p: string) => p.includes('FOLLOW-UP: now add tests.')), 'the agent has the follow-up in its session');
  });

  it('a running task refuses a follow-up (use send), and so does bad input; nothing changes', async () => {
    const project = h.project('p', ['hang']);
    await h.ok(['start', 'codex', 'busy', '--dir', project, '--prompt', 'x']);
    await waitFor(() => h.invocations(project).length === 1, 'the agent runs');
    const running = await h.cli(['continue', 'busy', '--prompt', 'more']);
    assert.equal(running.code, 1);
    assert.match(running.stderr, /^resilient-agent: task codex-busy is still running: use send to talk to it\n$/);
    const empty = await h.cli(['continue', 'busy', '--prompt', '  ']);
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /the prompt is empty/);
    const unknown = await h.cli(['continue', 'nobody', '--prompt', 'x']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no task named nobody/);
    assert.equal(h.record('codex-busy')!.attempts.length, 1);
    assert.equal(h.invocations(project).length, 1);
  });
});
