import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { heldByAgent } from '../../src/core/model/holds';
import { resolveSettings } from '../../src/core/model/settings';
import type { PassResult } from '../../src/core/ops/monitor';
import { Monitor } from '../../src/core/ops/monitor';
import { TaskService } from '../../src/core/ops/service';
import { harnessPerTest, waitFor } from './harness';

/**
 * What the agents do by themselves (fixture agents following each CLI's events): their own
 * retries shown as such, a usage limit waited out by the agent itself (never a second continue on
 * top, a crash meanwhile still resumed by id), a limit with no reset time tried again on schedule.
 */
describe('the agents\' own retries and waits, with real tmux and fixture agents', function () {
  const h = harnessPerTest();

  /** Claude Code at a usage limit it waits out by itself (resetting in `resetSeconds`), under a monitor. */
  const heldByClaude = async (resetSeconds: string) => {
    h.env.FIXTURE_RESET_SECONDS = resetSeconds;
    const project = h.project('p', ['limit-wait', 'ok']);
    await h.ok(['start', 'claude', 'limited', '--dir', project, '--prompt', 'Write the report.']);
    const session = 'claude-limited';
    const monitor = h.monitor();
    const held = await waitFor(() => {
      const r = h.record(session);
      return r && heldByAgent(r) ? r : undefined;
    }, 'held by the agent');
    return { project, session, monitor, held };
  };

  const retried = { codex: 'retrying (3/5)', claude: 'retrying (3/10)', pi: 'retrying (2/3)' } as const;
  for (const [agent, detail] of Object.entries(retried)) {
    it(`${agent} retrying its requests -> running, "${detail}" in status and the views; then done, one attempt`, async () => {
      const project = h.project('p', ['retry']);
      await h.ok(['start', agent, 'flaky', '--dir', project, '--prompt', 'Fix the build.']);
      const session = `${agent}-flaky`;
      const monitor = h.monitor();
      const seen = await waitFor(async () => {
        const s = await h.status(session);
        return s.reason === detail ? s : undefined;
      }, `status says ${detail}`);
      assert.equal(seen.state, 'running');
      assert.match(await h.ok(['status', session]), new RegExp(`^${session}: running · ${detail.replace(/[()]/g, '\\$&')}$`, 'm'));
      assert.match(await h.ok(['list']), new RegExp(`${session}\\s+running · ${detail.replace(/[()]/g, '\\$&')}\\s+1\\s`));
      await waitFor(() => h.record(session)?.stateReason === detail, 'the supervisor recorded it');
      fs.writeFileSync(path.join(project, '.fixture-release'), '');
      const done = await waitFor(async () => {
        const s = await h.status(session);
        return s.state === 'done' ? s : undefined;
      }, 'done');
      await h.stop(monitor);
      assert.equal(done.reason, null);
      assert.equal(done.attempts.length, 1);
      assert.equal(h.invocations(project).length, 1);
    });
  }

  it('claude waiting out a usage limit by itself -> held by the agent until the reset; no second continue; resume refused; done by itself', async () => {
    const { project, session, monitor, held } = await heldByClaude('3');
    const resetsAt = JSON.parse(fs.readFileSync(path.join(h.store.paths.attemptDir(session, 1), 'events.jsonl'), 'utf8').split('\n')[1]).rate_limit_info.resetsAt * 1000;
    assert.equal(held.heldUntil, new Date(resetsAt).toISOString());
    assert.match(await h.ok(['status', session]), /^claude-limited: held by the agent, its limit resets in \d+s \(the agent waits out its usage limit by itself: usage limit reached\)$/m);
    const refused = await h.cli(['resume', session]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /runs: the agent waits out its usage limit by itself: usage limit reached; it goes on by itself/);
    const done = await waitFor(async () => {
      const s = await h.status(session);
      return s.state === 'done' ? s : undefined;
    }, 'done by itself after the reset');
    await h.stop(monitor);
    assert.equal(done.attempts.length, 1, 'never resumed on top of the agent');
    assert.deepEqual(h.invocations(project).map((i) => i.mode), ['start']);
    assert.ok(Date.now() >= resetsAt);
  });

  it('claude killed while it waited out a usage limit -> held until the reset, then resumed once by its exact id', async () => {
    const { project, session, monitor, held } = await heldByClaude('4');
    await h.crash(session, 1);
    const ours = await waitFor(() => {
      const r = h.record(session);
      return r && r.state === 'held' && r.attempts[0].endedAt ? r : undefined;
    }, 'held by the supervisor after the crash');
    assert.equal(ours.heldUntil, held.heldUntil, 'until the same reset');
    assert.match(ours.stateReason ?? '', /the agent ended while it waited for the reset; resumed by id then/);
    assert.equal(h.invocations(project).length, 1, 'not resumed before the reset');
    const done = await waitFor(async () => {
      const s = await h.status(session);
      return s.state === 'done' ? s : undefined;
    }, 'done after the resume');
    await h.stop(monitor);
    const runs = h.invocations(project);
    assert.equal(runs.length, 2, 'resumed exactly once');
    assert.deepEqual([runs[1].mode, runs[1].sessionId], ['resume', runs[0].sessionId]);
    assert.ok(runs[1].startedAt >= Date.parse(held.heldUntil!), 'resumed at the reset, not before');
    assert.deepEqual([done.attempts[1].cause, done.attempts[1].mode], ['crash', 'resume']);
  });

  it('claude killed by the user while it waited out a usage limit -> killed by the user, nothing said of a resume', async () => {
    const { project, session, monitor } = await heldByClaude('600');
    assert.match(await h.ok(['kill', session]), /claude-limited: killed; it will not be resumed/);
    await h.ok(['monitor', '--once']);
    const text = await h.ok(['status', session]);
    assert.match(text, /^claude-limited: held \(killed by the user\)$/m);
    assert.doesNotMatch(text, /resume[sd]? in|resets in|next try/);
    const s = await h.status(session);
    assert.deepEqual([s.state, s.reason, (s as unknown as { heldUntil: string | null }).heldUntil], ['held', 'killed by the user', null]);
    const row = (await h.ok(['list'])).split('\n').find((l) => l.startsWith(session)) ?? '';
    assert.match(row, /^claude-limited\s+held\s+1\s.*killed by the user$/);
    await h.stop(monitor);
    assert.equal(h.invocations(project).length, 1, 'not resumed');
  });

  it('claude still waiting after its reset time -> the supervisor looks at its interval, not in a loop; status says the limit should have reset', async () => {
    h.env.FIXTURE_RESET_SECONDS = '-60';
    const project = h.project('p', ['limit-wait', 'ok']);
    await h.ok(['start', 'claude', 'late', '--dir', project, '--prompt', 'Write the report.']);
    const session = 'claude-late';
    const svc = new TaskService({ home: h.home, settings: { ...resolveSettings(), tmuxSocket: h.socket }, env: h.env, owner: 'test' });
    const passes: { at: number; spawned: number; result: PassResult }[] = [];
    const intervalMs = 400;
    const monitor = new Monitor(svc, { intervalMs, elect: false, onPass: (result) => passes.push({ at: Date.now(), spawned: svc.tmux.spawned, result }) });
    monitor.start();
    try {
      const held = await waitFor(() => {
        const r = h.record(session);
        return r && heldByAgent(r) ? r : undefined;
      }, 'held by the agent');
      assert.ok(Date.parse(held.heldUntil!) < Date.now(), 'the reset it gives is already past');
      // Five passes after it is held: each comes at the interval (or a wake), never one after another.
      const from = passes.length;
      await waitFor(() => passes.length >= from + 5, 'five passes', 10_000);
      const window = passes.slice(from - 1, from + 5);
      const took = window[window.length - 1].at - window[0].at;
      const calls = window[window.length - 1].spawned - window[0].spawned;
      assert.ok(took >= 4 * intervalMs * 0.8, `five passes took ${took} ms (${window.map((p) => p.result.reason).join(', ')})`);
      assert.ok(calls <= 5 * 2, `${calls} tmux calls in five passes`);
      const status = await h.ok(['status', session]);
      assert.doesNotMatch(status, /resets in 0s/);
      assert.match(status, /^claude-late: held by the agent, its limit should have reset at \d\d:\d\d; the agent has not gone on yet/m);
      fs.writeFileSync(path.join(project, '.fixture-release'), '');
      await waitFor(() => h.record(session)?.state === 'done', 'done once the agent goes on');
      assert.equal(h.record(session)!.attempts.length, 1, 'never resumed on top of the agent');
    } finally {
      monitor.stop();
    }
  });

  for (const agent of ['codex', 'claude', 'opencode', 'pi'] as const) {
    it(`${agent}: a usage limit with no reset time -> held, the next try on schedule (the setting), then done`, async () => {
      h.configure({ 'supervisor.mode': 'window', 'monitor.usageLimitRetryMinutes': 0.03 });
      const project = h.project('p', ['usage-noreset', 'ok']);
      await h.ok(['start', agent, 'quota', '--dir', project, '--prompt', 'Summarise the logs.']);
      const session = `${agent}-quota`;
      const monitor = h.monitor();
      const held = await waitFor(() => {
        const r = h.record(session);
        return r?.state === 'held' ? r : undefined;
      }, 'held for the limit');
      assert.match(held.stateReason ?? '', /^usage limit reached: .*; no reset time given, so it is tried again on a schedule \(try 1\)$/);
      const wait = Date.parse(held.heldUntil!) - Date.parse(held.attempts[0].endedAt!);
      assert.ok(wait >= 1_700 && wait < 3_000, `the next try 1.8 s after the limit (the setting), got ${wait} ms`);
      assert.match(await h.ok(['status', session]), new RegExp(`^${session}: held, next try in \\d+s \\(${held.heldUntil!.replace(/[.]/g, '\\.')}\\)`, 'm'));
      const done = await waitFor(async () => {
        const s = await h.status(session);
        return s.state === 'done' ? s : undefined;
      }, 'done after the scheduled try');
      await h.stop(monitor);
      assert.equal(done.attempts.length, 2);
      const runs = h.invocations(project);
      assert.ok(runs[1].startedAt >= Date.parse(held.heldUntil!), 'tried at the time it said');
      if (agent === 'pi') {
        // pi saved nothing (its first reply never completed): started again from its prompt.
        assert.deepEqual([done.attempts[1].mode, runs[1].mode], ['start', 'start']);
      } else {
        assert.deepEqual([done.attempts[1].mode, runs[1].mode, runs[1].sessionId], ['resume', 'resume', runs[0].sessionId]);
        assert.equal(done.attempts[1].note, 'tried again on the schedule for a usage limit with no reset time (try 1)');
      }
    });
  }
});
