import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AGENTS, Harness, waitFor } from './harness';

describe('recovery with real tmux and fixture agents', function () {
  let h: Harness;
  beforeEach(() => {
    h = new Harness();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  for (const agent of AGENTS) {
    it(`${agent}: killed with -9 mid-reply -> resumed once by exact id -> done`, async () => {
      const project = h.project('p', ['hang', 'ok']);
      const prompt = 'Refactor the auth module.';
      const out = await h.ok(['start', agent, 'crashy', '--dir', project, '--prompt', prompt]);
      assert.match(out, new RegExp(`started ${agent}-crashy`));
      const session = `${agent}-crashy`;
      await waitFor(() => h.invocations(project).length === 1, 'the first run');
      const first = h.invocations(project)[0];
      assert.equal(first.prompt, prompt);
      assert.equal(first.mode, 'start');

      const monitor = h.monitor();
      await waitFor(async () => (await h.status(session)).state === 'running', 'running');
      await h.sessionIdKnown(session);
      await h.crash(session, 1);
      const done = await waitFor(async () => {
        const s = await h.status(session);
        return s.state === 'done' ? s : undefined;
      }, 'done after resume');
      await h.stop(monitor);

      const runs = h.invocations(project);
      assert.equal(runs.length, 2, 'resumed exactly once');
      assert.equal(runs[1].mode, 'resume', `the second run is ${agent}'s own resume`);
      assert.equal(runs[1].sessionId, first.sessionId, 'the exact session id');
      assert.equal(done.agentSessionId !== null, true);
      if (agent !== 'pi') assert.equal(done.agentSessionId, first.sessionId);
      assert.ok(runs[1].argv.includes(agent === 'pi' ? h.record(session)!.agentData.sessionFile : first.sessionId), runs[1].argv.join(' '));
      assert.equal(runs[1].prompt, 'Continue the previous task from where it stopped.');
      const conversation = JSON.parse(fs.readFileSync(path.join(h.env.FIXTURE_HOME!, agent, `${first.sessionId}.json`), 'utf8'));
      assert.deepEqual(conversation.prompts, [prompt, 'Continue the previous task from where it stopped.'], 'the resumed session holds the original prompt');

      assert.equal(done.attempts.length, 2);
      assert.equal(done.attempts[0].signal ?? done.attempts[0].exitCode! - 128, 9);
      assert.deepEqual([done.attempts[1].cause, done.attempts[1].mode, done.attempts[1].exitCode], ['crash', 'resume', 0]);
      // The pane's last line, once the transcript beside the agent has shown the rest (a moment after the exit).
      await waitFor(async () => /^__TASK_DONE__$/m.test(await h.ok(['logs', session, '--raw'])), 'the done marker in the pane');
    });
  }

  it('a crash wakes the monitor at once: resumed long before the next tick (interval 10 min)', async () => {
    const monitor = h.monitor(['--interval', '600']);
    // Started after the monitor: the start itself signals it, so it watches the new runner.
    const project = h.project('p', ['hang', 'hang']);
    await h.ok(['start', 'codex', 'instant', '--dir', project, '--prompt', 'x']);
    await h.sessionIdKnown('codex-instant');
    await waitFor(() => (h.record('codex-instant')?.state === 'running'), 'the monitor saw it running');
    await h.crash('codex-instant', 1);
    await waitFor(() => h.invocations(project).length === 2, 'the resume, well within 10 minutes', 10_000);
    await h.stop(monitor);
    assert.equal(h.invocations(project)[1].mode, 'resume');
  });

  it('pi killed during its first reply (no session on disk) is started again from its prompt, and says so', async () => {
    const project = h.project('p', ['hang-first', 'ok']);
    await h.ok(['start', 'pi', 'early', '--dir', project, '--prompt', 'Write the docs.']);
    await waitFor(() => h.invocations(project).length === 1, 'the first run');
    await h.crash('pi-early', 1);
    // A supervisor that goes on looking: on a loaded machine tmux may not have said how the pane
    // ended by the first pass (a dead pane without its status is looked at again a moment later).
    const monitor = h.monitor(['--interval', '0.2']);
    const s = await waitFor(async () => {
      const st = await h.status('pi-early');
      return st.attempts.length === 2 ? st : undefined;
    }, 'a second attempt');
    await h.stop(monitor);
    assert.deepEqual([s.attempts[1].cause, s.attempts[1].mode], ['restart', 'start']);
    assert.match(s.attempts[1].note ?? '', /started again from its prompt: pi had not saved its session/);
    await waitFor(() => h.invocations(project).length === 2, 'the second run');
    assert.equal(h.invocations(project)[1].prompt, 'Write the docs.');
    assert.equal(h.invocations(project)[1].mode, 'start');
  });

  it('tmux server killed -> the task is re-created and resumed by id', async () => {
    const project = h.project('p', ['hang', 'ok']);
    await h.ok(['start', 'codex', 'server', '--dir', project, '--prompt', 'Long job']);
    await waitFor(() => h.invocations(project).length === 1, 'the first run');
    await h.sessionIdKnown('codex-server');
    await h.tmux(['kill-server']);
    await waitFor(async () => (await h.status('codex-server')).state === 'lost', 'lost');
    await h.ok(['monitor', '--once']);
    const s = await waitFor(async () => {
      const st = await h.status('codex-server');
      return st.state === 'done' ? st : undefined;
    }, 'done');
    assert.deepEqual(s.attempts.map((a) => a.cause), ['start', 'lost']);
    const runs = h.invocations(project);
    assert.equal(runs.length, 2);
    assert.equal(runs[1].mode, 'resume');
    assert.equal(runs[1].sessionId, runs[0].sessionId);
    assert.equal((await h.tmux(['has-session', '-t', '=codex-server'])).code, 0, 'the session exists again');
  });

  it('a task the user killed is never resumed', async () => {
    const project = h.project('p', ['hang', 'ok']);
    await h.ok(['start', 'claude', 'stopme', '--dir', project, '--prompt', 'x']);
    await waitFor(() => h.invocations(project).length === 1, 'the first run');
    const out = await h.ok(['kill', 'stopme']);
    assert.match(out, /claude-stopme: killed; it will not be resumed/);
    for (let i = 0; i < 3; i++) await h.ok(['monitor', '--once']);
    const s = await h.status('claude-stopme');
    assert.equal(s.state, 'held');
    assert.match(s.reason ?? '', /killed by the user/);
    assert.equal(h.invocations(project).length, 1);
    assert.notEqual((await h.tmux(['has-session', '-t', '=claude-stopme'])).code, 0);
    await h.ok(['kill', 'stopme', '--forget']);
    assert.equal((await h.cli(['status', 'stopme'])).code, 1);
    assert.equal(h.store.exists('claude-stopme'), false);
  });

  it('three monitors at once resume a crash once', async () => {
    const project = h.project('p', ['hang', 'hang', 'hang']);
    await h.ok(['start', 'opencode', 'race', '--dir', project, '--prompt', 'x']);
    await h.sessionIdKnown('opencode-race');
    await h.crash('opencode-race', 1);
    await waitFor(async () => (await h.status('opencode-race')).state === 'failed', 'the crash seen');
    // Rounds of three supervisors racing over the same crash, then over the resumed task.
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all([1, 2, 3].map(() => h.cli(['monitor', '--once'])));
      for (const r of results) assert.equal(r.code, 0, r.stderr);
    }
    await waitFor(() => h.invocations(project).length === 2, 'the resumed run');
    const s = await waitFor(async () => {
      const st = await h.status('opencode-race');
      return st.state === 'running' ? st : undefined;
    }, 'running again');
    assert.equal(s.attempts.length, 2, 'exactly one resume');
    assert.equal(h.invocations(project).length, 2);
  });

  it('monitor --on-change runs a program (argv, no shell) with the task and its states', async () => {
    const project = h.project('p', ['crash']);
    const log = path.join(h.root, 'changes.log');
    const script = path.join(h.root, 'on-change.sh');
    fs.writeFileSync(script, `#!/bin/sh\nprintf '%s %s %s %s\\n' "$RESILIENT_AGENT_SESSION" "$RESILIENT_AGENT_OLD_STATE" "$RESILIENT_AGENT_NEW_STATE" "$1" >> '${log}'\n`, { mode: 0o755 });
    // A task keeps the recovery policy it was started with: the limit is set before the start.
    h.configure({ 'supervisor.mode': 'window', 'monitor.maxAttempts': 1 });
    await h.ok(['start', 'codex', 'notify', '--dir', project, '--prompt', 'x']);
    await waitFor(() => fs.existsSync(path.join(h.store.paths.attemptDir('codex-notify', 1), 'exit')), 'the crash');
    await h.ok(['monitor', '--once', '--on-change', script, 'a $(touch pwned) b']);
    assert.equal(fs.readFileSync(log, 'utf8'), 'codex-notify running gave-up a $(touch pwned) b\n');
    assert.equal(fs.existsSync(path.join(h.root, 'pwned')), false);
  });
});

describe('held: authentication failures and usage limits are never retried by backoff', function () {
  let h: Harness;
  beforeEach(() => {
    h = new Harness();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  for (const agent of AGENTS) {
    it(`${agent}: a 401 holds the task and says why; it is not resumed`, async () => {
      const project = h.project('p', ['auth', 'ok']);
      await h.ok(['start', agent, 'auth', '--dir', project, '--prompt', 'x']);
      await waitFor(() => fs.existsSync(path.join(h.store.paths.attemptDir(`${agent}-auth`, 1), 'exit')), 'the run ended');
      for (let i = 0; i < 3; i++) await h.ok(['monitor', '--once']);
      const s = await h.status(`${agent}-auth`);
      assert.equal(s.state, 'held');
      assert.match(s.reason ?? '', /^authentication failed/);
      assert.equal(h.invocations(project).length, 1, 'not resumed');
    });
  }

  it('a usage limit with a reset time holds the task until then, then resumes it by id', async () => {
    const project = h.project('p', ['usage', 'ok']);
    const env = { ...h.env, FIXTURE_RESET_SECONDS: '2' };
    await h.ok(['start', 'claude', 'limit', '--dir', project, '--prompt', 'x'], { env });
    await waitFor(() => fs.existsSync(path.join(h.store.paths.attemptDir('claude-limit', 1), 'exit')), 'the run ended');
    await h.ok(['monitor', '--once']);
    const held = await h.status('claude-limit');
    assert.equal(held.state, 'held');
    assert.match(held.reason ?? '', /^usage limit reached/);
    const monitor = h.monitor(['--interval', '0.2']);
    await waitFor(async () => (await h.status('claude-limit')).state === 'done', 'done after the reset', 15_000);
    await h.stop(monitor);
    const runs = h.invocations(project);
    assert.equal(runs.length, 2);
    assert.equal(runs[1].mode, 'resume');
  });
});
