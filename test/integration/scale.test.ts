import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AGENTS, harnessPerTest, waitFor } from './harness';

describe('recovery at scale', function () {
  this.timeout(180_000);
  const h = harnessPerTest();

  it('tmux server killed under 20 running tasks: the background supervisor (default settings) resumes each by its exact id, once, with one pane listing for them all', async () => {
    // Twenty at once: above the queue's default limit (16), which this test is not about.
    h.configure({ 'supervisor.mode': 'background', 'queue.maxRunning': 20 });
    // Its tmux calls go into its log: what it took to bring every task back.
    const env = { ...h.env, RESILIENT_AGENT_DEBUG: '1' };
    const n = 20;
    const tasks = Array.from({ length: n }, (_, i) => {
      const agent = AGENTS[i % AGENTS.length];
      return { agent, session: `${agent}-t${i}`, name: `t${i}`, project: h.project(`t${i}`, ['hang', 'hang']) };
    });
    for (const t of tasks) await h.ok(['start', t.agent, t.name, '--dir', t.project, '--prompt', 'x'], { env });
    for (const t of tasks) await h.sessionIdKnown(t.session);
    const logFile = path.join(h.home, 'supervisor.log');
    const before = fs.readFileSync(logFile, 'utf8').length;

    const t0 = Date.now();
    await h.tmux(['kill-server']);
    // No CLI command and no editor from here on: only the supervisor can bring the tasks back.
    await waitFor(() => tasks.every((t) => h.invocations(t.project).length >= 2), 'every task resumed', 90_000);
    const took = Date.now() - t0;
    // Seen running again by a pass after its launch, which did not launch it again.
    await waitFor(() => tasks.every((t) => h.record(t.session)?.state === 'running' && h.record(t.session)!.attempts.length === 2), 'every task running again', 30_000);

    const recovery = fs.readFileSync(logFile, 'utf8').slice(before);
    for (const t of tasks) {
      const runs = h.invocations(t.project);
      assert.deepEqual(runs.map((r) => r.mode), ['start', 'resume'], `${t.session}: resumed once`);
      assert.equal(runs[1].sessionId, runs[0].sessionId, `${t.session}: by its exact id`);
      const attempts = h.record(t.session)!.attempts;
      assert.deepEqual(attempts.map((a) => a.cause), ['start', 'lost'], `${t.session}: one new attempt, for the loss`);
      const launched = recovery.match(new RegExp(`${t.session}: attempt \\d+ \\(\\w+, \\w+\\) launched`, 'g')) ?? [];
      assert.deepEqual(launched, [`${t.session}: attempt 2 (lost, resume) launched`], `${t.session}: launched once, by the background supervisor`);
    }
    // The lost tasks are launched together: one pane listing for all of them (one per task before,
    // under each task's lock), besides each pass's own.
    const lastLaunch = recovery.lastIndexOf(') launched');
    const listings = (recovery.slice(0, lastLaunch).match(/> tmux list-panes/g) ?? []).length;
    assert.ok(listings <= n / 2, `${listings} pane listings until the last of ${n} launches (all resumed ${took} ms after the kill)`);
  });
});
