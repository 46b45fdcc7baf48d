import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveSettings } from '../../src/core/model/settings';
import { TaskService } from '../../src/core/ops/service';
import { Monitor } from '../../src/core/ops/monitor';
import { encodeEnv, encodeNul, RUNNER_NAME, RUNNER_SCRIPT } from '../../src/core/store/runner';
import { FIXTURE, Harness, waitFor } from './harness';
import { RECORD_VERSION } from '../../src/core/model/record';
import { processAlive } from '../../src/core/platform/processes';
import { processesWithEnv } from '../tools/processes';
import { TmuxError } from '../../src/core/tmux/errors';

/** Faults of the world as it is: slow tmux, people at the keyboard, reused pids, full disks. */
describe('faults the fixtures alone do not make', function () {
  this.timeout(60_000);
  let h: Harness;
  beforeEach(() => {
    h = new Harness();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  for (const bystander of [false, true]) {
    it(`a pane list older than a task's session never launches a second run nor holds it${bystander ? ' (another session on the server)' : ''}`, async () => {
      const settings = { ...resolveSettings(), tmuxSocket: h.socket, intervalMs: 60_000 };
      const svc = new TaskService({ home: h.home, settings, env: h.env, owner: 'slow tmux' });
      if (bystander) await h.ok(['start', 'codex', 'other', '--dir', h.project('other', ['hang']), '--prompt', 'x']);
      const project = h.project('p', ['hang']);
      await h.ok(['start', 'codex', 'healthy', '--dir', project, '--prompt', 'x']);
      await waitFor(() => h.invocations(project).length === 1, 'the agent runs');
      // A loaded host: the pass's `list-panes` was answered just before the task's session existed.
      // Only the pass's own list is old; a look taken later sees tmux as it is.
      let stale = false;
      const listPanes = svc.tmux.listPanes.bind(svc.tmux);
      svc.tmux.listPanes = async () => {
        const panes = await listPanes();
        if (stale) panes.delete('codex-healthy');
        stale = false;
        return panes;
      };
      const monitor = new Monitor(svc, { intervalMs: 60_000, eventDriven: false, elect: false });
      for (let i = 0; i < 2; i++) {
        stale = true;
        const result = await monitor.pass('test');
        assert.deepEqual(result.launched, [], 'nothing launched from the stale list');
      }
      const record = h.record('codex-healthy')!;
      assert.equal(record.attempts.length, 1);
      assert.equal(record.state, 'running', `${record.state}: ${record.stateReason}`);
      assert.equal(h.invocations(project).length, 1, 'one run of the agent');
    });
  }

  it('a pane list taken just before a resume (the last run\'s dead pane) does not end the new run', async () => {
    const settings = { ...resolveSettings(), tmuxSocket: h.socket, intervalMs: 60_000 };
    const svc = new TaskService({ home: h.home, settings, env: h.env, owner: 'slow tmux' });
    const project = h.project('p', ['hang', 'hang']);
    await h.ok(['start', 'codex', 'again', '--dir', project, '--prompt', 'x']);
    await h.sessionIdKnown('codex-again');
    await h.tmux(['send-keys', '-t', '=codex-again:', 'C-c']);
    await waitFor(() => fs.existsSync(path.join(h.store.paths.attemptDir('codex-again', 1), 'exit')), 'the run ended');
    await h.ok(['monitor', '--once']);
    assert.equal((await h.status('codex-again')).state, 'held');
    // The supervisor's pass lists the panes, then the person resumes before it reads the record.
    // (Once the pane is dead: its runner ends a moment after the exit file, when the transcript is shown whole.)
    const before = await waitFor(async () => {
      const panes = await svc.tmux.listPanes();
      return panes.get('codex-again')?.dead ? panes : undefined;
    }, 'the pane dead');
    // As tmux shows it once it reaped the run (it sometimes leaves the runner a zombie for long).
    const last = before.get('codex-again')!;
    before.set('codex-again', { ...last, deadStatus: 130 });
    assert.match(await h.ok(['resume', 'codex-again']), /resumes session/);
    await waitFor(() => h.invocations(project).length === 2, 'the resumed agent runs');
    let stale = true;
    const listPanes = svc.tmux.listPanes.bind(svc.tmux);
    svc.tmux.listPanes = async () => {
      const panes = stale ? before : await listPanes();
      stale = false;
      return panes;
    };
    const monitor = new Monitor(svc, { intervalMs: 60_000, eventDriven: false, elect: false });
    await monitor.pass('test');
    const s = h.record('codex-again')!;
    assert.equal(s.attempts.length, 2);
    assert.equal(s.attempts[1].endedAt, null, `the new run was taken as ended: ${s.state} ${s.stateReason}`);
    assert.notEqual(s.state, 'held', `${s.state}: ${s.stateReason}`);
  });

  it('Ctrl-C in the pane stops the task as the user\'s wish: held, not resumed, until resumed by hand', async () => {
    const project = h.project('p', ['hang', 'ok']);
    await h.ok(['start', 'codex', 'interrupted', '--dir', project, '--prompt', 'x']);
    const monitor = h.monitor(['--interval', '0.2']);
    await h.sessionIdKnown('codex-interrupted');
    await h.tmux(['send-keys', '-t', '=codex-interrupted:', 'C-c']);
    const held = await waitFor(async () => {
      const s = await h.status('codex-interrupted');
      return s.state === 'held' ? s : undefined;
    }, 'held after Ctrl-C').catch(async (e) => {
      throw new Error(`${e.message}: ${JSON.stringify(await h.status('codex-interrupted'))} pane: ${(await h.tmux(['capture-pane', '-p', '-t', '=codex-interrupted:'])).stdout.trim()}`);
    });
    assert.match(held.reason ?? '', /stopped by the user: interrupted \(Ctrl-C\)/);
    // Several passes later it is still held and was never resumed.
    const passes = async () => (await h.ok(['monitor', '--once'])).length;
    await passes();
    await passes();
    assert.equal(h.invocations(project).length, 1, 'not resumed by a supervisor');
    assert.equal((await h.status('codex-interrupted')).state, 'held');
    assert.match(await h.ok(['resume', 'codex-interrupted']), /resumes session/);
    await waitFor(async () => (await h.status('codex-interrupted')).state === 'done', 'done once resumed by the person').catch(async (e) => {
      throw new Error(`${e.message}: ${JSON.stringify(await h.status('codex-interrupted'))} ${(monitor as unknown as { log: () => string }).log()}`);
    });
    assert.deepEqual(h.invocations(project).map((r) => r.mode), ['start', 'resume']);
    await h.stop(monitor);
  });

  it('Ctrl-C to an agent that catches it and exits with a status of its own is still the user\'s stop', async () => {
    // Real CLIs shut down gracefully on SIGINT; this one exits 1.
    const preload = path.join(h.root, 'sigint.cjs');
    fs.writeFileSync(preload, "process.on('SIGINT', () => process.exit(1));\n");
    fs.writeFileSync(path.join(h.bin, 'claude'), `#!/bin/sh\nexec '${process.execPath}' --require '${preload}' '${FIXTURE}' claude "$@"\n`, { mode: 0o755 });
    const project = h.project('p', ['hang', 'ok']);
    await h.ok(['start', 'claude', 'graceful', '--dir', project, '--prompt', 'x']);
    await h.sessionIdKnown('claude-graceful');
    await h.tmux(['send-keys', '-t', '=claude-graceful:', 'C-c']);
    await waitFor(() => fs.existsSync(path.join(h.store.paths.attemptDir('claude-graceful', 1), 'exit')), 'the run ended');
    await h.ok(['monitor', '--once']);
    const s = await h.status('claude-graceful');
    assert.equal(s.state, 'held');
    assert.equal(s.attempts[0].exitCode, 1);
    assert.match(s.reason ?? '', /stopped by the user: interrupted/);
    await h.ok(['monitor', '--once']);
    assert.equal(h.invocations(project).length, 1, 'not resumed');
  });

  it('an agent that ignores SIGHUP outlives the tmux server: it is stopped before its resume, so the session never runs twice', async () => {
    const preload = path.join(h.root, 'nohup.cjs');
    const ended = path.join(h.root, 'first-run-ended');
    // Ignores the hangup (and its closed output), and notes when it is told to stop.
    fs.writeFileSync(preload, `process.on('SIGHUP', () => {}); process.stdout.on('error', () => {});
process.on('SIGTERM', () => { require('node:fs').appendFileSync(${JSON.stringify(ended)}, Date.now() + '\\n'); process.exit(143); });\n`);
    fs.writeFileSync(path.join(h.bin, 'claude'), `#!/bin/sh\nexec '${process.execPath}' --require '${preload}' '${FIXTURE}' claude "$@"\n`, { mode: 0o755 });
    const project = h.project('p', ['hang', 'ok']);
    await h.ok(['start', 'claude', 'stubborn', '--dir', project, '--prompt', 'x']);
    await h.sessionIdKnown('claude-stubborn');
    const first = h.invocations(project)[0].pid;
    const runner = await h.runnerPid('claude-stubborn', 1);
    await h.tmux(['kill-server']);
    await waitFor(() => !processAlive(runner), 'the runner ended with its pane');
    assert.ok(processAlive(first), 'the agent outlived its pane (the fault this test is about)');
    const monitor = h.monitor(['--interval', '0.2']);
    await waitFor(async () => (await h.status('claude-stubborn')).state === 'done', 'resumed and done');
    await h.stop(monitor);
    const runs = h.invocations(project);
    assert.deepEqual(runs.map((r) => r.mode), ['start', 'resume']);
    assert.equal(processAlive(first), false, 'the first run was stopped, not left running beside its resume');
    const stoppedAt = Number(fs.readFileSync(ended, 'utf8').trim().split('\n')[0]);
    assert.ok(stoppedAt <= (runs[1] as unknown as { startedAt: number }).startedAt, 'stopped before the resume started');
  });

  it('a running task whose record turns to garbage is rebuilt from its attempts, shown meanwhile, and a crash is resumed by id', async () => {
    const project = h.project('p', ['hang', 'hang']);
    const session = 'claude-garbled';
    await h.ok(['start', 'claude', 'garbled', '--dir', project, '--prompt', 'x']);
    const id = await h.sessionIdKnown(session);
    fs.writeFileSync(h.store.paths.recordFile(session), '{"version": 7, "sess\u0000garbage');
    const before = JSON.parse(await h.ok(['list', '--json'])).find((v: { session: string }) => v.session === session);
    assert.deepEqual([before.adopted, before.state], [false, 'held'], 'not taken for a session started by hand');
    assert.match(before.reason, /its record is unreadable/);
    await h.ok(['monitor', '--once']);
    assert.equal(h.store.keptAside(session).length, 1, 'the unreadable record kept aside');
    const rebuilt = h.record(session)!;
    assert.deepEqual([rebuilt.agentSessionId, rebuilt.attempts.length, rebuilt.dir, rebuilt.prompt], [id, 1, project, 'x']);
    await h.crash(session, 1);
    await waitFor(async () => {
      await h.ok(['monitor', '--once']);
      return h.invocations(project).length === 2;
    }, 'the crash resumed');
    const runs = h.invocations(project);
    assert.deepEqual(runs.map((r) => [r.mode, r.sessionId]), [['start', id], ['resume', id]]);
    const row = JSON.parse(await h.ok(['list', '--json'])).find((v: { session: string }) => v.session === session);
    assert.equal(row.adopted, false);
    assert.match(row.state, /resuming|running/);
    assert.equal(row.attempts.length, 2);
  });

  it('a task whose record turns to garbage and cannot be rebuilt is held for a person, never started by hand', async () => {
    const project = h.project('p', ['hang']);
    const session = 'codex-opaque';
    await h.ok(['start', 'codex', 'opaque', '--dir', project, '--prompt', 'x']);
    await h.sessionIdKnown(session);
    // As an earlier build left it: no copy of the record beside the attempt.
    fs.rmSync(path.join(h.store.paths.attemptDir(session, 1), 'task.json'), { force: true });
    fs.writeFileSync(h.store.paths.recordFile(session), 'garbage');
    await h.ok(['monitor', '--once']);
    const [kept] = h.store.keptAside(session);
    assert.ok(kept, 'kept aside');
    const row = JSON.parse(await h.ok(['list', '--json'])).find((v: { session: string }) => v.session === session);
    assert.deepEqual([row.adopted, row.state], [false, 'held']);
    assert.ok(row.reason.includes(`its record was unreadable and could not be rebuilt; kept at ${kept}`), row.reason);
    assert.match(await h.ok(['list']), /codex-opaque\s+held\s.*could not be rebuilt/);
    const resume = await h.cli(['resume', 'opaque']);
    assert.equal(resume.code, 1);
    assert.ok(resume.stderr.includes(`task codex-opaque cannot be resumed: its record was unreadable and could not be rebuilt; kept at ${kept}`), resume.stderr);
    assert.equal(h.invocations(project).length, 1);
  });

  it('a task folder whose record was kept aside but not rebuilt (the rebuilt one could not be written) is rebuilt by a later pass and a crash resumed by id', async () => {
    const project = h.project('p', ['hang', 'hang']);
    const session = 'codex-recordless';
    await h.ok(['start', 'codex', 'recordless', '--dir', project, '--prompt', 'x']);
    const id = await h.sessionIdKnown(session);
    // As a pass leaves it when it kept an unreadable record aside but could not write the rebuilt one.
    h.store.quarantine(session);
    await h.ok(['monitor', '--once']);
    assert.equal(h.record(session)?.agentSessionId, id, 'rebuilt');
    await h.crash(session, 1);
    await waitFor(async () => {
      await h.ok(['monitor', '--once']);
      return h.invocations(project).length === 2;
    }, 'the crash resumed');
    assert.deepEqual(h.invocations(project).map((r) => [r.mode, r.sessionId]), [['start', id], ['resume', id]]);
  });

  it('a task killed while the copy of its record could not be written (a read-only attempt folder), whose record then turns to garbage, is never resumed', async () => {
    const { execFileSync } = await import('node:child_process');
    const project = h.project('p', ['hang', 'ok']);
    const session = 'codex-stale';
    await h.ok(['start', 'codex', 'stale', '--dir', project, '--prompt', 'x']);
    await h.sessionIdKnown(session);
    const dir = h.store.paths.attemptDir(session, 1);
    // The copy beside the attempt cannot be written at the kill (EROFS); the record can.
    execFileSync('mount', ['--bind', dir, dir]);
    try {
      execFileSync('mount', ['-o', 'remount,ro,bind', dir]);
      await h.ok(['kill', 'stale']);
    } finally {
      execFileSync('umount', [dir]);
    }
    assert.equal(h.record(session)!.killedByUser, true);
    fs.writeFileSync(h.store.paths.recordFile(session), 'garbage');
    await h.ok(['monitor', '--once']);
    await h.ok(['monitor', '--once']);
    assert.equal(h.invocations(project).length, 1, 'not resumed after the user killed it');
    const row = JSON.parse(await h.ok(['list', '--json'])).find((v: { session: string }) => v.session === session);
    assert.equal(row.state, 'held', row.reason);
  });

  for (const copy of ['garbage', 'newer']) {
    it(`a killed task whose record and latest copy turn unreadable (${copy}) is not rebuilt from an older attempt's copy`, async () => {
      const project = h.project('p', ['hang', 'hang', 'ok']);
      const session = `codex-older-${copy}`;
      await h.ok(['start', 'codex', `older-${copy}`, '--dir', project, '--prompt', 'x']);
      await h.sessionIdKnown(session);
      await h.crash(session, 1);
      await waitFor(async () => (await h.ok(['monitor', '--once'])) !== undefined && h.record(session)!.attempts.length === 2, 'the crash resumed');
      await h.sessionIdKnown(session, 2);
      await h.ok(['kill', `older-${copy}`]);
      const latest = path.join(h.store.paths.attemptDir(session, 2), 'task.json');
      fs.writeFileSync(latest, copy === 'garbage' ? 'garbage' : JSON.stringify({ ...JSON.parse(fs.readFileSync(latest, 'utf8')), version: RECORD_VERSION + 1 }));
      fs.writeFileSync(h.store.paths.recordFile(session), 'garbage');
      await h.ok(['monitor', '--once']);
      await h.ok(['monitor', '--once']);
      assert.equal(h.invocations(project).length, 2, 'not resumed after the user killed it');
      const row = JSON.parse(await h.ok(['list', '--json'])).find((v: { session: string }) => v.session === session);
      assert.equal(row.state, 'held', row.reason);
    });
  }

  it('a supervisor killed mid-recovery after a tmux server loss: the next one finishes it as a loss, at once, not as a failure in a row', async () => {
    // An agent that ignores SIGHUP and SIGTERM: after kill-server the supervisor that recovers it
    // writes the loss, then waits (3 s) for it to end before the next attempt; it is killed -9 there.
    const preload = path.join(h.root, 'stubborn.cjs');
    fs.writeFileSync(preload, "process.on('SIGHUP', () => {}); process.on('SIGTERM', () => {}); process.stdout.on('error', () => {});\n");
    fs.writeFileSync(path.join(h.bin, 'claude'), `#!/bin/sh\nexec '${process.execPath}' --require '${preload}' '${FIXTURE}' claude "$@"\n`, { mode: 0o755 });
    const project = h.project('p', ['hang', 'hang', 'ok']);
    const session = 'claude-midway';
    await h.ok(['start', 'claude', 'midway', '--dir', project, '--prompt', 'x']);
    await h.sessionIdKnown(session);
    // A crash a moment ago, resumed: one failure in the row already.
    await h.crash(session, 1);
    await waitFor(async () => (await h.ok(['monitor', '--once'])) !== undefined && h.record(session)!.attempts.length === 2, 'the crash resumed');
    await h.sessionIdKnown(session, 2);
    const runner = await h.runnerPid(session, 2);
    await h.tmux(['kill-server']);
    await waitFor(() => !processAlive(runner), 'the runner ended with its pane');
    const first = h.monitor(['--interval', '0.2']);
    await waitFor(() => h.record(session)?.state === 'lost', 'the first supervisor wrote the loss');
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const left = h.record(session)!;
    assert.equal(left.attempts.length, 2, 'killed before the next attempt was written');
    await h.ok(['monitor', '--once']);
    const s = h.record(session)!;
    assert.deepEqual(s.attempts.map((a) => [a.cause, a.mode]), [['start', 'start'], ['crash', 'resume'], ['lost', 'resume']], `${s.state}: ${s.stateReason}`);
    await waitFor(() => h.invocations(project).length === 3, 'resumed');
    const runs = h.invocations(project);
    assert.deepEqual(runs.map((r) => r.mode), ['start', 'resume', 'resume']);
    assert.equal(runs[2].sessionId, runs[0].sessionId);
  });

  it('a supervisor killed after writing the next attempt of a loss but before making its session: the next one resumes it at once, as a loss', async () => {
    const project = h.project('p', ['hang', 'ok']);
    const session = 'codex-unmade';
    await h.ok(['start', 'codex', 'unmade', '--dir', project, '--prompt', 'x']);
    const id = await h.sessionIdKnown(session);
    const runner = await h.runnerPid(session, 1);
    await h.tmux(['kill-server']);
    await waitFor(() => !processAlive(runner), 'the runner ended with its pane');
    // The record as launch() leaves it when its process dies before tmux makes the session.
    const r = h.record(session)!;
    const now = new Date().toISOString();
    fs.mkdirSync(h.store.paths.attemptDir(session, 2), { recursive: true });
    h.store.write({
      ...r, agentSessionId: id, state: 'resuming', stateReason: 'attempt 2: resumed by id', stateSince: now, updatedAt: now,
      attempts: [{ ...r.attempts[0], endedAt: now }, { n: 2, cause: 'lost', mode: 'resume', startedAt: now, endedAt: null, exitCode: null, signal: null, note: null }],
    });
    await h.ok(['monitor', '--once']);
    const s = h.record(session)!;
    assert.deepEqual(s.attempts.map((a) => [a.cause, a.mode]), [['start', 'start'], ['lost', 'resume'], ['lost', 'resume']], `${s.state}: ${s.stateReason}`);
    await waitFor(() => h.invocations(project).length === 2, 'resumed');
    assert.deepEqual(h.invocations(project).map((i) => [i.mode, i.sessionId]), [['start', id], ['resume', id]]);
  });

  /**
   * tmux found first on PATH: while `gate` exists, the first new-session (or `verb`) waits before it reaches
   * tmux (a loaded machine: its client slow to connect), having written its launcher's pid and its own to `held`.
   */
  function slowFirstSession(verb = 'new-session'): { ctl: string; launcher: () => number; client: () => number; open: () => void } {
    const real = (process.env.PATH ?? '').split(':').map((d) => path.join(d, 'tmux')).find((f) => fs.existsSync(f)) ?? '/usr/bin/tmux';
    const ctl = path.join(h.root, 'tmux-ctl');
    fs.mkdirSync(ctl);
    fs.writeFileSync(path.join(ctl, 'gate'), '');
    fs.writeFileSync(path.join(h.bin, 'tmux'), `#!/bin/bash
ctl='${ctl}'
for a in "$@"; do
  if [ "$a" = ${verb} ] && [ -e "$ctl/gate" ] && mkdir "$ctl/taken" 2>/dev/null; then
    echo "$PPID $$" > "$ctl/held.tmp"; mv "$ctl/held.tmp" "$ctl/held"
    while [ -e "$ctl/gate" ]; do sleep 0.05; done
    break
  fi
done
exec '${real}' "$@"
`, { mode: 0o755 });
    return {
      ctl,
      launcher: () => Number(fs.readFileSync(path.join(ctl, 'held'), 'utf8').split(' ')[0]),
      client: () => Number(fs.readFileSync(path.join(ctl, 'held'), 'utf8').split(' ')[1]),
      open: () => fs.rmSync(path.join(ctl, 'gate'), { force: true }),
    };
  }

  /** `start` killed -9 once it has handed its new session to tmux (the client still on its way). */
  async function startKilledInFlight(name: string, project: string): Promise<ReturnType<typeof slowFirstSession>> {
    const slow = slowFirstSession();
    const started = h.cli(['start', 'codex', name, '--dir', project, '--prompt', 'x']);
    await waitFor(() => fs.existsSync(path.join(slow.ctl, 'held')), 'the new session on its way to tmux');
    process.kill(slow.launcher(), 'SIGKILL');
    assert.notEqual((await started).code, 0);
    return slow;
  }

  /** Passes of `monitor --once` until the task is done (no supervisor runs in these worlds). */
  async function doneByPasses(session: string): Promise<void> {
    await waitFor(async () => {
      await h.ok(['monitor', '--once']);
      return h.record(session)!.state === 'done';
    }, `${session} done`);
  }

  it('a launcher killed -9 while its new session is on its way to tmux: the next pass waits for it, and the agent runs once', async () => {
    const project = h.project('p', ['ok']);
    const session = 'codex-inflight';
    const slow = await startKilledInFlight('inflight', project);
    await h.ok(['monitor', '--once']);
    assert.equal(h.record(session)!.attempts.length, 1, 'not launched again while its session is on its way');
    assert.equal((await h.tmux(['has-session', '-t', `=${session}`])).code, 1);
    slow.open();
    await doneByPasses(session);
    assert.equal(h.record(session)!.attempts.length, 1);
    assert.equal(h.invocations(project).length, 1, 'the agent ran once');
  });

  it('a new session stuck on its way to tmux past the start grace: ended, then the attempt launched again, the agent run once', async () => {
    const project = h.project('p', ['ok']);
    const session = 'codex-stuck';
    const slow = await startKilledInFlight('stuck', project);
    const r = h.record(session)!;
    const long = new Date(Date.now() - 20_000).toISOString();
    h.store.write({ ...r, attempts: [{ ...r.attempts[0], startedAt: long }] });
    await h.ok(['monitor', '--once']);
    assert.deepEqual(h.record(session)!.attempts.map((a) => [a.cause, a.mode]), [['start', 'start'], ['restart', 'start']], 'started again (it never ran: no session to resume)');
    assert.equal(processAlive(slow.client()), false, 'the stuck tmux client was ended before the launch');
    await doneByPasses(session);
    slow.open();
    assert.equal(h.invocations(project).length, 1, 'the agent ran once');
    assert.equal(fs.existsSync(path.join(h.store.paths.attemptDir(session, 1), 'pid')), false, 'the stuck launch never ran its runner');
  });

  it('a new session stuck on its way to tmux, its attempt started an hour from now (the clock set back since): not waited for that hour', async () => {
    const project = h.project('p', ['ok']);
    const session = 'codex-skewed';
    const slow = await startKilledInFlight('skewed', project);
    const r = h.record(session)!;
    h.store.write({ ...r, attempts: [{ ...r.attempts[0], startedAt: new Date(Date.now() + 3_600_000).toISOString() }] });
    await h.ok(['monitor', '--once']);
    assert.equal(processAlive(slow.client()), false, 'the stuck tmux client was ended');
    assert.equal(h.record(session)!.attempts.length, 2, 'launched again');
    await doneByPasses(session);
    slow.open();
    assert.equal(h.invocations(project).length, 1, 'the agent ran once');
  });

  it('a new session on its way to tmux that never gets there: the supervisor that waited for it looks again soon, not at its next tick', async () => {
    const project = h.project('p', ['ok']);
    const session = 'codex-vanished';
    const slow = await startKilledInFlight('vanished', project);
    const written = h.record(session)!.updatedAt;
    const supervisor = h.monitor(['--interval', '60']);
    await waitFor(() => h.record(session)!.updatedAt !== written, 'the supervisor waiting for the launch on its way');
    assert.equal(h.record(session)!.attempts.length, 1);
    // Its client ends before it reaches tmux (killed, its server gone): no event says so.
    process.kill(slow.client(), 'SIGKILL');
    await waitFor(() => h.record(session)!.attempts.length === 2, 'launched again', 10_000);
    await waitFor(() => h.record(session)!.state === 'done', 'the task done');
    assert.equal(h.invocations(project).length, 1, 'the agent ran once');
    await h.stop(supervisor);
  });

  it('kill of a task whose new session is on its way to tmux (its start killed): that launch is ended too, no agent comes after', async () => {
    const project = h.project('p', ['hang']);
    const session = 'codex-killed';
    const slow = await startKilledInFlight('killed', project);
    await h.ok(['kill', 'killed']);
    assert.equal(processAlive(slow.client()), false, 'the launch on its way was ended');
    slow.open();
    assert.equal((await h.tmux(['has-session', '-t', `=${session}`])).code, 1);
    assert.equal(h.record(session)!.state, 'held');
  });

  it('a claude task whose start was killed before it reached tmux: started again from its prompt, not resumed by the id nothing ever used', async () => {
    // tmux found first on PATH: the first new-session kills its launcher (-9) and never reaches tmux.
    const real = (process.env.PATH ?? '').split(':').map((d) => path.join(d, 'tmux')).find((f) => fs.existsSync(f)) ?? '/usr/bin/tmux';
    const ctl = path.join(h.root, 'tmux-ctl');
    fs.writeFileSync(path.join(h.bin, 'tmux'), `#!/bin/bash
for a in "$@"; do
  if [ "$a" = new-session ] && mkdir '${ctl}' 2>/dev/null; then kill -9 $PPID; exit 1; fi
done
exec '${real}' "$@"
`, { mode: 0o755 });
    const project = h.project('p', ['ok']);
    const session = 'claude-unborn';
    assert.notEqual((await h.cli(['start', 'claude', 'unborn', '--dir', project, '--prompt', 'x'])).code, 0);
    assert.equal(h.record(session)!.attempts.length, 1);
    await doneByPasses(session);
    const r = h.record(session)!;
    assert.deepEqual(r.attempts.map((a) => [a.cause, a.mode]), [['start', 'start'], ['restart', 'start']], `${r.state}: ${r.stateReason}`);
    const ran = r.attempts.filter((a) => fs.existsSync(path.join(h.store.paths.attemptDir(session, a.n), 'pid')));
    assert.equal(ran.length, 1, 'one attempt ran');
  });

  it('a respawn stuck on its way to tmux past the start grace: ended before the attempt is launched again, the agent resumed once', async () => {
    const project = h.project('p', ['crash', 'ok']);
    const session = 'codex-respawn';
    await h.ok(['start', 'codex', 'respawn', '--dir', project, '--prompt', 'x']);
    await waitFor(() => fs.existsSync(path.join(h.store.paths.attemptDir(session, 1), 'exit')), 'the first run crashed');
    // The pass that resumes it is killed -9 once its respawn-pane is on its way to tmux.
    const slow = slowFirstSession('respawn-pane');
    const pass = h.cli(['monitor', '--once']);
    await waitFor(() => fs.existsSync(path.join(slow.ctl, 'held')), 'the respawn on its way to tmux');
    process.kill(slow.launcher(), 'SIGKILL');
    assert.notEqual((await pass).code, 0);
    const r = h.record(session)!;
    assert.equal(r.attempts.length, 2);
    const long = new Date(Date.now() - 20_000).toISOString();
    h.store.write({ ...r, attempts: [r.attempts[0], { ...r.attempts[1], startedAt: long }] });
    await h.ok(['monitor', '--once']);
    assert.deepEqual(h.record(session)!.attempts.map((a) => [a.cause, a.mode]), [['start', 'start'], ['crash', 'resume'], ['lost', 'resume']]);
    assert.equal(processAlive(slow.client()), false, 'the stuck tmux client was ended before the launch');
    slow.open();
    await doneByPasses(session);
    assert.deepEqual(h.invocations(project).map((i) => i.mode), ['start', 'resume'], 'resumed once');
    assert.equal(fs.existsSync(path.join(h.store.paths.attemptDir(session, 2), 'pid')), false, 'the stuck respawn never ran its runner');
  });

  for (const past of [false, true]) {
    it(`the tmux server a never-started attempt's new-session started is not a launch on its way: ${past ? 'not killed past the start grace' : 'not waited for'}`, async () => {
      // The server is forked from the first client and keeps its command line: the attempt's folder and new-session.
      const project = h.project('p', ['hang', 'ok']);
      const session = 'codex-first';
      await h.ok(['start', 'codex', 'first', '--dir', project, '--prompt', 'x']);
      const dir = h.store.paths.attemptDir(session, 1);
      const server = Number((await h.tmux(['display-message', '-p', '#{pid}'])).stdout.trim());
      assert.ok(fs.readFileSync(`/proc/${server}/cmdline`, 'utf8').split('\0').includes(dir), 'the server carries the command that started it');
      await h.ok(['start', 'codex', 'other', '--dir', h.project('other', ['hang']), '--prompt', 'x']);
      // Its session gone before its runner wrote a word (closed by a person at once, say): as if
      // it never ran, not even its pane's server noted.
      await waitFor(() => fs.existsSync(path.join(dir, 'pid')), 'the runner');
      await h.tmux(['kill-session', '-t', `=${session}`]);
      await waitFor(() => processesWithEnv(`RESILIENT_AGENT_ATTEMPT=${dir}`).length === 0, 'the attempt\'s processes gone');
      for (const f of ['pid', 'tmux']) fs.rmSync(path.join(dir, f));
      const r = h.record(session)!;
      if (past) h.store.write({ ...r, attempts: [{ ...r.attempts[0], startedAt: new Date(Date.now() - 20_000).toISOString() }] });
      await h.ok(['monitor', '--once']);
      assert.equal(processAlive(server), true, 'the tmux server lives');
      assert.equal((await h.tmux(['has-session', '-t', '=codex-other'])).code, 0, 'the other task\'s session lives');
      assert.equal(h.record(session)!.attempts.length, 2, 'launched again at once');
    });
  }

  for (const forget of [false, true]) {
    it(`kill${forget ? ' --forget' : ''} ends an agent that ignores SIGHUP, and its child, before it says killed`, async () => {
      const project = h.project('p', ['ignore-hup']);
      await h.ok(['start', 'codex', 'stubborn', '--dir', project, '--prompt', 'x']);
      const alive = path.join(project, '.fixture-alive');
      const entry = `RESILIENT_AGENT_ATTEMPT=${h.store.paths.attemptDir('codex-stubborn', 1)}`;
      const attempt = () => processesWithEnv(entry).filter((pid) => pid !== process.pid && processAlive(pid));
      // The agent and its child both run and write.
      await waitFor(() => attempt().length === 2 && fs.existsSync(alive) && new Set(fs.readFileSync(alive, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ')[0])).size === 2, 'the agent and its child writing');
      const out = await h.ok(['kill', 'stubborn', ...(forget ? ['--forget'] : [])]);
      assert.deepEqual(attempt(), [], `no process of the attempt is left once kill says "${out.trim()}"`);
      assert.match(out, forget ? /codex-stubborn: killed; record removed/ : /codex-stubborn: killed; it will not be resumed/);
      const size = fs.statSync(alive).size;
      await h.ok(['monitor', '--once']);
      await h.ok(['monitor', '--once']);
      assert.equal(fs.statSync(alive).size, size, 'the folder stopped growing');
      assert.equal(h.invocations(project).length, 1, 'not resumed');
    });
  }

  it('kill ends what the agent started with an environment of its own (codex clears its MCP servers\' one), before it says killed', async () => {
    // An agent that ignores SIGHUP and starts a child, as codex starts a stdio MCP server, with a
    // cleared environment: the child has no RESILIENT_AGENT_ATTEMPT entry and ignores SIGHUP too.
    const pidFile = path.join(h.root, 'child.pid');
    const agent = path.join(h.root, 'cleared.cjs');
    fs.writeFileSync(agent, `process.on('SIGHUP', () => {}); process.stdout.on('error', () => {});
const c = require('node:child_process').spawn(process.execPath, ['-e', "process.on('SIGHUP', () => {}); setInterval(() => {}, 1000)"], { env: {}, stdio: 'ignore' });
require('node:fs').writeFileSync(${JSON.stringify(pidFile)}, String(c.pid)); setInterval(() => {}, 1000);\n`);
    fs.writeFileSync(path.join(h.bin, 'codex'), `#!/bin/sh\nexec '${process.execPath}' '${agent}'\n`, { mode: 0o755 });
    await h.ok(['start', 'codex', 'cleared', '--dir', h.project('p', ['hang']), '--prompt', 'x']);
    await waitFor(() => fs.existsSync(pidFile), 'the child started');
    const child = Number(fs.readFileSync(pidFile, 'utf8'));
    assert.ok(!fs.readFileSync(`/proc/${child}/environ`, 'utf8').includes('RESILIENT_AGENT_ATTEMPT'), 'the child has no entry');
    await h.ok(['kill', 'cleared']);
    assert.equal(processAlive(child), false, 'the child ended before kill said killed');
  });

  it('a session killed by hand while the tmux server lives is held as stopped; the server dying is still recovered', async () => {
    const a = h.project('a', ['hang', 'ok']);
    const b = h.project('b', ['hang', 'ok']);
    await h.ok(['start', 'claude', 'by-hand', '--dir', a, '--prompt', 'x']);
    await h.ok(['start', 'claude', 'bystander', '--dir', b, '--prompt', 'x']);
    await h.sessionIdKnown('claude-by-hand');
    await h.sessionIdKnown('claude-bystander');
    await h.tmux(['kill-session', '-t', '=claude-by-hand']);
    await h.ok(['monitor', '--once']);
    const s = await h.status('claude-by-hand');
    assert.equal(s.state, 'held');
    assert.match(s.reason ?? '', /closed while the tmux server kept running/);
    assert.equal(h.invocations(a).length, 1, 'not re-created');
    assert.equal((await h.status('claude-bystander')).state, 'running');
  });

  it('claude behind a wrapper that keeps its sessions elsewhere: resumed by id, not started again', async () => {
    // A `claude` on PATH that sets its own config folder, as wrappers and version managers do.
    const custom = path.join(h.root, 'elsewhere', 'claude-config');
    fs.writeFileSync(path.join(h.bin, 'claude'), `#!/bin/sh\nCLAUDE_CONFIG_DIR='${custom}'\nexport CLAUDE_CONFIG_DIR\nexec '${process.execPath}' '${FIXTURE}' claude "$@"\n`, { mode: 0o755 });
    const project = h.project('p', ['hang', 'ok']);
    await h.ok(['start', 'claude', 'wrapped', '--dir', project, '--prompt', 'Refactor it.']);
    await h.sessionIdKnown('claude-wrapped');
    await waitFor(() => fs.existsSync(path.join(custom, 'projects')), 'the transcript where the wrapper keeps it');
    await h.crash('claude-wrapped', 1);
    const monitor = h.monitor(['--interval', '0.2']);
    await waitFor(async () => (await h.status('claude-wrapped')).state === 'done', 'done');
    await h.stop(monitor);
    const runs = h.invocations(project);
    assert.deepEqual(runs.map((r) => r.mode), ['start', 'resume'], 'resumed, the conversation kept');
    assert.equal(runs[1].sessionId, runs[0].sessionId);
  });

  it('an agent that says the session does not exist is started again from its prompt, and the record says why', async () => {
    const project = h.project('p', ['hang', 'ok']);
    await h.ok(['start', 'claude', 'forgotten', '--dir', project, '--prompt', 'The original prompt.']);
    await h.sessionIdKnown('claude-forgotten');
    // Claude Code lost the session (its folder wiped): only its own answer to --resume tells.
    fs.rmSync(path.join(h.root, 'home', '.claude'), { recursive: true, force: true });
    await h.crash('claude-forgotten', 1);
    const monitor = h.monitor(['--interval', '0.2']);
    const done = await waitFor(async () => {
      const s = await h.status('claude-forgotten');
      return s.state === 'done' ? s : undefined;
    }, 'done');
    await h.stop(monitor);
    assert.deepEqual(done.attempts.map((a) => [a.cause, a.mode]), [['start', 'start'], ['crash', 'resume'], ['restart', 'start']]);
    assert.match(done.attempts[2].note ?? '', /started again from its prompt: Claude Code said "No conversation found with session ID/);
    // The resume was refused before the agent did anything: two runs of the agent in all.
    const runs = h.invocations(project);
    assert.deepEqual(runs.map((r) => r.mode), ['start', 'start']);
    assert.equal(runs[1].prompt, 'The original prompt.', 'the prompt, not the continue prompt');
    assert.notEqual(runs[1].sessionId, runs[0].sessionId, 'a new session');
  });

  it('a task whose record a newer version wrote is left alone, shown as such, and not supervised', async () => {
    const project = h.project('p', ['hang']);
    await h.ok(['start', 'codex', 'future', '--dir', project, '--prompt', 'x']);
    await waitFor(() => h.invocations(project).length === 1, 'the agent runs');
    const file = h.store.paths.recordFile('codex-future');
    const newer = JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), version: RECORD_VERSION + 1, aFieldOfTomorrow: true });
    fs.writeFileSync(file, newer);
    await h.ok(['monitor', '--once']);
    await h.crash('codex-future', 1);
    await h.ok(['monitor', '--once']);
    assert.equal(fs.readFileSync(file, 'utf8'), newer, 'never moved, never rewritten');
    assert.equal(h.invocations(project).length, 1, 'not resumed by an older supervisor');
    const [view] = JSON.parse(await h.ok(['list', '--json']));
    assert.equal(view.adopted, false, 'not taken for a session started by hand');
    assert.match(view.reason, new RegExp(`written by a newer resilient-agent \\(record version ${RECORD_VERSION + 1}\\): update`));
    const r = await h.cli(['resume', 'future']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /newer resilient-agent/);
  });

  it('a stopped tmux server (SIGSTOP): list says tmux is not answering within the deadline, a pass neither hangs nor loses the task; after SIGCONT it runs on, never resumed', async () => {
    h.env.RESILIENT_AGENT_TMUX_TIMEOUT_MS = '1500';
    const project = h.project('p', ['hang']);
    await h.ok(['start', 'codex', 'frozen', '--dir', project, '--prompt', 'x']);
    await h.sessionIdKnown('codex-frozen');
    const server = Number((await h.tmux(['display', '-p', '#{pid}'])).stdout.trim());
    assert.ok(server > 0);
    const svc = new TaskService({ home: h.home, settings: { ...resolveSettings(), tmuxSocket: h.socket }, env: h.env, owner: 'test' });
    const monitor = new Monitor(svc, { intervalMs: 60_000, eventDriven: false, elect: false });
    const errors: string[] = [];
    let passes = 0;
    const running = new Monitor(svc, { intervalMs: 60_000, eventDriven: false, elect: false, onError: (e) => errors.push((e as Error).message), onPass: () => passes++ });
    /** The promise, or a failure once `ms` have gone by (what used to hang must not hang the test). */
    const within = <T>(ms: number, p: Promise<T>, what: string) => {
      let timer: NodeJS.Timeout | undefined;
      return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} still had no answer after ${ms} ms`)), ms)))])
        .finally(() => clearTimeout(timer));
    };
    process.kill(server, 'SIGSTOP');
    try {
      const started = Date.now();
      const r = await within(10_000, h.cli(['list']), 'list');
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, new RegExp(`^resilient-agent: tmux is not answering: list-panes had no reply in 1\\.5s; its server \\(pid ${server}\\) may be stopped \\(kill -CONT ${server}\\) or overloaded\n$`));
      assert.ok(Date.now() - started < 8_000, `list took ${Date.now() - started} ms`);
      for (let i = 0; i < 2; i++) {
        await assert.rejects(within(10_000, monitor.pass('test'), 'a pass'), (e) => e instanceof TmuxError && e.cause === 'timeout');
      }
      const held = h.record('codex-frozen')!;
      assert.equal(held.state, 'running', `${held.state}: ${held.stateReason}`);
      assert.equal(held.attempts.length, 1);
      // A running monitor (its timer a minute) says it once and tries again soon, not at its next tick.
      running.start();
      await waitFor(() => errors.length > 0, 'the running monitor\'s failed pass');
    } finally {
      process.kill(server, 'SIGCONT');
    }
    try {
      await waitFor(() => passes > 0, 'a pass once tmux answers again');
    } finally {
      running.stop();
    }
    assert.equal(errors.length, 1, `said once: ${errors.join(' | ')}`);
    assert.match(errors[0], /tmux is not answering/);
    const result = await monitor.pass('test');
    assert.deepEqual([result.launched, result.changes], [[], []]);
    const after = h.record('codex-frozen')!;
    assert.equal(after.state, 'running');
    assert.equal(after.attempts.length, 1, 'never resumed');
    assert.equal(h.invocations(project).length, 1, 'one run of the agent');
    assert.match(await h.ok(['list']), /codex-frozen\s+running/);
  });

  it('a crash while the tmux server is stopped: resumed once, at once, when it answers again (no breaker left open by the passes it did not answer)', async () => {
    h.env.RESILIENT_AGENT_TMUX_TIMEOUT_MS = '1000';
    const project = h.project('p', ['hang', 'hang']);
    await h.ok(['start', 'codex', 'frozen', '--dir', project, '--prompt', 'x']);
    await h.sessionIdKnown('codex-frozen');
    const server = Number((await h.tmux(['display', '-p', '#{pid}'])).stdout.trim());
    const svc = new TaskService({ home: h.home, settings: { ...resolveSettings(), tmuxSocket: h.socket }, env: h.env, owner: 'test' });
    const monitor = new Monitor(svc, { intervalMs: 60_000, eventDriven: false, elect: false });
    process.kill(server, 'SIGSTOP');
    try {
      await h.crash('codex-frozen', 1);
      for (let i = 0; i < 4; i++) await assert.rejects(monitor.pass('test'), (e) => e instanceof TmuxError && e.cause === 'timeout');
    } finally {
      process.kill(server, 'SIGCONT');
    }
    const answered = Date.now();
    await waitFor(async () => (await monitor.pass('test')).launched.includes('codex-frozen'), 'the crash resumed', 5_000);
    assert.ok(Date.now() - answered < 5_000);
    const rec = h.record('codex-frozen')!;
    assert.deepEqual(rec.attempts.map((a) => a.cause), ['start', 'crash']);
    await waitFor(() => h.invocations(project).length === 2, 'the agent resumed');
    monitor.stop();
  });

  it('a full disk: nothing half-written is left, the supervisor says why, and it recovers by itself when space returns', async () => {
    // The state dir on a small tmpfs (the tests run as root), filled once the task runs.
    const { execFileSync } = await import('node:child_process');
    fs.mkdirSync(h.home, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', h.home]);
    try {
      h.configure({ 'supervisor.mode': 'window' });
      const project = h.project('p', ['hang', 'ok']);
      // The pane's transcript by a process of its own, which frees nothing: the render hub removes
      // its entry for the crashed attempt (a page of this disk) some time after the crash, and the
      // failure then moves on (from the lock to the record) and is rightly said again.
      await h.ok(['start', 'codex', 'full', '--dir', project, '--prompt', 'x'], { env: { ...h.env, RESILIENT_AGENT_PANE_RENDERER: 'process' } });
      await h.sessionIdKnown('codex-full');
      const filler = path.join(h.home, 'filler');
      try {
        fs.writeFileSync(filler, Buffer.alloc(4 * 1024 * 1024));
      } catch {
        /* the disk is full now */
      }
      await h.crash('codex-full', 1);
      const r = await h.cli(['monitor', '--once']);
      assert.match(r.stderr, /ENOSPC|no space/i, 'says why it cannot act');
      assert.match(r.stderr, /cannot write \S+/, `and which file: ${r.stderr}`);
      const leftovers = (dir: string): string[] => fs.readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.tmp'));
      assert.deepEqual(leftovers(h.home), [], 'no temp file left');
      const locks = path.join(h.home, 'locks');
      for (const lock of fs.readdirSync(locks).filter((f) => f.endsWith('.lock'))) assert.ok(fs.readFileSync(path.join(locks, lock), 'utf8').length > 0, `no empty lock (${lock})`);
      assert.equal(h.invocations(project).length, 1);
      fs.rmSync(filler);
      await h.ok(['monitor', '--once']);
      await waitFor(async () => (await h.status('codex-full')).state === 'done', 'resumed once there is space');
      assert.deepEqual(h.invocations(project).map((i) => i.mode), ['start', 'resume']);
    } finally {
      await h.tmux(['kill-server']);
      execFileSync('umount', ['-l', h.home]);
    }
  });

  it('a full disk under a running supervisor: it says so once and backs off (no pass every 250 ms), says when it recovers, and resumes the crash once there is space', async () => {
    const { execFileSync } = await import('node:child_process');
    fs.mkdirSync(h.home, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', h.home]);
    const filler = path.join(h.home, 'filler');
    try {
      h.configure({ 'supervisor.mode': 'window' });
      const project = h.project('p', ['hang', 'ok']);
      // The pane's transcript by a process of its own, which frees nothing: the render hub removes
      // its entry for the crashed attempt (a page of this disk) some time after the crash, and the
      // failure then moves on (from the lock to the record) and is rightly said again.
      await h.ok(['start', 'codex', 'full', '--dir', project, '--prompt', 'x'], { env: { ...h.env, RESILIENT_AGENT_PANE_RENDERER: 'process' } });
      await h.sessionIdKnown('codex-full');
      const settings = { ...resolveSettings(), tmuxSocket: h.socket };
      const errors: string[] = [];
      const infos: string[] = [];
      const logger = { error: (m: string) => errors.push(m), warn: (m: string) => errors.push(m), info: (m: string) => infos.push(m), debug: () => undefined };
      const svc = new TaskService({ home: h.home, settings, env: h.env, owner: 'test', logger });
      const passes: number[] = [];
      const monitor = new Monitor(svc, { intervalMs: 60_000, onPass: () => passes.push(Date.now()), onError: (e) => errors.push(String(e)) });
      monitor.start();
      try {
        await waitFor(() => passes.length > 0, 'a first pass');
        try {
          fs.writeFileSync(filler, Buffer.alloc(2 * 1024 * 1024));
        } catch {
          /* the disk is full now */
        }
        await h.crash('codex-full', 1);
        await waitFor(() => errors.length > 0, 'the supervisor says it cannot act');
        // Four seconds of a full disk: the passes back off, and the trouble is said once.
        const from = passes.length;
        await waitFor(() => Date.now() - passes[from - 1] > 4_000 || passes.length - from > 40, 'four seconds of passes', 10_000);
        assert.ok(passes.length - from <= 8, `${passes.length - from} passes in four seconds of a full disk: ${errors.slice(0, 3).join(' | ')}`);
        assert.equal(errors.length, 1, `said once: ${errors.join(' | ')}`);
        assert.match(errors[0], /codex-full: .*(ENOSPC|no space)/i);
        assert.equal(h.invocations(project).length, 1, 'nothing started meanwhile');
        fs.rmSync(filler);
        await waitFor(async () => (await h.status('codex-full')).state === 'done', 'resumed once there is space', 40_000);
        assert.deepEqual(h.invocations(project).map((i) => i.mode), ['start', 'resume']);
        assert.equal(errors.length, 1, `nothing more said: ${errors.join(' | ')}`);
        assert.ok(infos.some((m) => /codex-full: .*recovered/.test(m)), `says it recovered: ${infos.join(' | ')}`);
      } finally {
        monitor.stop();
      }
    } finally {
      await h.tmux(['kill-server']);
      execFileSync('umount', ['-l', h.home]);
    }
  });

  it('the runner on a full disk leaves no temp file, says which file it could not write, and exits with the agent\'s status, at once (its transcript does not wait for an exit file that cannot come)', () => {
    const { execFileSync } = require('node:child_process') as typeof import('node:child_process');
    const attempt = path.join(h.root, 'full-attempt');
    fs.mkdirSync(attempt, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', attempt]);
    try {
      fs.writeFileSync(path.join(attempt, 'argv'), encodeNul(['/bin/sh', '-c', 'exit 3']));
      // A transcript that, as the real one does, ends once the exit file appears.
      fs.writeFileSync(path.join(attempt, 'render'), encodeNul(['/bin/sh', '-c', 'while [ ! -e "$0/exit" ]; do sleep 0.05; done', attempt]));
      const envFile = path.join(h.root, 'env');
      fs.writeFileSync(envFile, encodeEnv({ PATH: process.env.PATH }));
      try {
        fs.writeFileSync(path.join(attempt, 'filler'), Buffer.alloc(128 * 1024));
      } catch {
        /* full now */
      }
      const started = Date.now();
      const r = spawnSync('bash', ['--norc', '-c', RUNNER_SCRIPT, RUNNER_NAME, attempt, envFile, h.project('full')], { encoding: 'utf8' });
      const took = Date.now() - started;
      assert.equal(r.status, 3, r.stderr);
      // Its watchdog would end the transcript after 10 s: the pane looked alive (the task "running") until then.
      assert.ok(took < 5_000, `the runner ended ${took} ms after its agent`);
      assert.match(r.stderr, /cannot write .*\/exit \(disk full\?\)/);
      assert.deepEqual(fs.readdirSync(attempt).filter((f) => f.endsWith('.tmp')), [], 'no temp file left');
    } finally {
      execFileSync('umount', ['-l', attempt]);
    }
  });

  it('the runner\'s files are private (0600); what the agent makes keeps the user\'s umask', () => {
    const attempt = path.join(h.root, 'attempt');
    const project = h.project('modes');
    fs.mkdirSync(attempt, { mode: 0o700 });
    fs.writeFileSync(path.join(attempt, 'argv'), encodeNul(['/bin/sh', '-c', 'umask; : > made-by-agent']));
    const envFile = path.join(h.root, 'env');
    fs.writeFileSync(envFile, encodeEnv({ PATH: process.env.PATH }));
    const r = spawnSync('bash', ['--norc', '-c', `umask 022; exec bash --norc -c "$0" "$@"`, RUNNER_SCRIPT, RUNNER_NAME, attempt, envFile, project], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    for (const f of ['pid', 'tmux', 'events.jsonl', 'exit']) {
      assert.equal((fs.statSync(path.join(attempt, f)).mode & 0o777).toString(8), '600', f);
    }
    assert.equal(fs.readFileSync(path.join(attempt, 'events.jsonl'), 'utf8').trim(), '0022', 'the agent runs with the user\'s umask');
    assert.equal((fs.statSync(path.join(project, 'made-by-agent')).mode & 0o777).toString(8), '644');
  });

  it('an approval prompt shows as waiting in status and list within two passes, every time over 20 runs; send answers it', async function () {
    this.timeout(180_000);
    const settings = { ...resolveSettings(), tmuxSocket: h.socket, intervalMs: 60_000 };
    const svc = new TaskService({ home: h.home, settings, env: h.env, owner: 'test' });
    let passes = 0;
    // Passes every ~100 ms, so that some fall in the same second as the prompt appears.
    const monitor = new Monitor(svc, { intervalMs: 100, eventDriven: false, elect: false, onPass: () => passes++ });
    monitor.start();
    try {
      for (let i = 0; i < 20; i++) {
        const project = h.project(`ask${i}`, ['ask']);
        await h.ok(['start', 'claude', `ask${i}`, '--dir', project, '--prompt', 'x']);
        const session = `claude-ask${i}`;
        await waitFor(async () => (await h.tmux(['capture-pane', '-p', '-t', `=${session}:`])).stdout.includes('Do you want to proceed?'), `the prompt of run ${i}`);
        const seenAt = passes;
        await waitFor(() => passes >= seenAt + 3, 'passes after the prompt'); // the one under way may have read the pane before it
        const status = await h.status(session);
        assert.equal(status.state, 'waiting', `run ${i}: status says ${status.state}`);
        const row = JSON.parse(await h.ok(['list', '--json'])).find((v: { session: string }) => v.session === session);
        assert.equal(row.state, 'waiting', `run ${i}: list says ${row.state}`);
        await h.ok(['send', session, 'y']);
        await waitFor(async () => (await h.status(session)).state === 'done', `run ${i} answered and done`);
        assert.match(fs.readFileSync(path.join(h.store.paths.attemptDir(session, 1), 'events.jsonl'), 'utf8'), /answered: y/);
      }
    } finally {
      monitor.stop();
    }
  });

  describe('a session started by hand the seed\'s way', () => {
    let name: string;
    let idFile: string;
    let project: string;
    beforeEach(async () => {
      name = `seed${process.pid}x${Math.floor(Math.random() * 1e6)}`;
      idFile = `/tmp/codex-${name}.codex-session-id`;
      project = h.project('seed', ['hang']);
      fs.mkdirSync(path.join(h.env.FIXTURE_HOME!, 'codex'), { recursive: true });
      fs.writeFileSync(path.join(h.env.FIXTURE_HOME!, 'codex', 'th-seed.json'), JSON.stringify({ id: 'th-seed', cwd: project, prompts: ['by hand'] }));
      await h.tmux(['new-session', '-d', '-s', `codex-${name}`, '-c', project, 'sh', '-c', 'echo "codex crashed"; printf "user@host:~/proj$ "; exec sleep 600']);
    });
    afterEach(() => fs.rmSync(idFile, { force: true }));

    it('resumed once, then killed with --forget: gone for good, never re-created', async () => {
      fs.writeFileSync(idFile, 'th-seed\n');
      await waitFor(async () => JSON.parse(await h.ok(['list', '--json']))[0]?.state === 'failed', 'the shell prompt seen');
      await h.ok(['resume', name]);
      await waitFor(() => h.invocations(project).length === 1, 'the resume runs');
      assert.equal(h.record(`codex-${name}`)?.adopted, true);
      assert.match(await h.ok(['kill', name, '--forget']), /killed; record removed/);
      assert.equal(h.record(`codex-${name}`), undefined, 'no record left');
      await h.ok(['monitor', '--once']);
      await h.ok(['monitor', '--once']);
      assert.equal((await h.tmux(['has-session', '-t', `=codex-${name}`])).code, 1, 'not re-created');
      assert.equal(h.invocations(project).length, 1, 'not resumed again');
    });

    it('a command on a task whose start is under way (its attempts made, its record not yet) says it is busy, not that there is no such task', async () => {
      fs.mkdirSync(path.join(h.store.paths.taskDir('codex-starting'), 'attempts'), { recursive: true });
      for (const args of [['resume', 'starting'], ['kill', 'codex-starting'], ['status', 'starting']]) {
        const r = await h.cli(args);
        assert.equal(r.code, 1, args.join(' '));
        assert.match(r.stderr, /codex-starting is being started just now \(busy\): try again in a moment/, args.join(' '));
      }
      assert.doesNotMatch(await h.ok(['list']), /codex-starting/, 'not listed until it has a record');
    });

    it('two resumes at once: one takes it over, the other is refused', async () => {
      fs.writeFileSync(idFile, 'th-seed\n');
      await waitFor(async () => JSON.parse(await h.ok(['list', '--json']))[0]?.state === 'failed', 'the shell prompt seen');
      const results = await Promise.all([h.cli(['resume', name]), h.cli(['resume', name])]);
      assert.deepEqual(results.map((r) => r.code).sort(), [0, 1], results.map((r) => r.stderr).join(' | '));
      assert.match(results.find((r) => r.code === 1)!.stderr, /running|busy|nothing to resume/);
      await waitFor(() => h.invocations(project).length === 1, 'one resume');
      await h.ok(['monitor', '--once']);
      assert.equal(h.invocations(project).length, 1, 'resumed once');
    });

    it('an id file that is a symlink, or writable by others, or not an id, is not believed', async () => {
      const secret = path.join(h.root, 'secret');
      fs.writeFileSync(secret, 'sk-very-secret-key\n');
      const cases: [string, () => void][] = [
        ['a symlink to a secret', () => fs.symlinkSync(secret, idFile)],
        ['writable by others', () => {
          fs.writeFileSync(idFile, 'th-seed\n');
          fs.chmodSync(idFile, 0o666);
        }],
        ['not an id', () => fs.writeFileSync(idFile, 'th-seed; rm -rf ~\n')],
      ];
      for (const [what, make] of cases) {
        fs.rmSync(idFile, { force: true });
        make();
        const list = await h.ok(['list', '--json']);
        assert.equal(JSON.parse(list)[0].agentSessionId, null, what);
        assert.doesNotMatch(list, /very-secret/, what);
        const r = await h.cli(['resume', name]);
        assert.equal(r.code, 1, what);
        assert.match(r.stderr, /session id is unknown/, what);
      }
      assert.equal(h.invocations(project).length, 0, 'the agent never ran with it');
    });
  });
});
