import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { lookupFromObject, resolveSettings } from '../../src/core/model/settings';
import { Monitor } from '../../src/core/ops/monitor';
import type { PassResult } from '../../src/core/ops/monitor';
import { TaskService } from '../../src/core/ops/service';
import { wakeChannel } from '../../src/core/ops/wake';
import { Harness, waitFor } from './harness';

/**
 * The supervisor wakes on the event itself: tmux's pane-died hook on each task's session, and the
 * tmux server's exit, both seen by one blocked `tmux wait-for`. The runner probes are set to ten
 * minutes here (and the interval is the default three), so only the event can wake it in time.
 */
describe('waking on tmux\'s own events', function () {
  this.timeout(60_000);
  let h: Harness;
  let monitor: Monitor | undefined;
  beforeEach(() => {
    h = new Harness();
  });
  afterEach(async () => {
    monitor?.stop();
    monitor = undefined;
    await h.cleanup();
  });

  const NEVER = 600_000;
  const world = (options: { fallbackProbeMs?: number } = {}) => {
    // No backoff: a crash right after a resume is resumed at once too.
    const settings = { ...resolveSettings(lookupFromObject({ 'monitor.backoffFactor': 1, 'monitor.maxBackoffMinutes': 0 })), tmuxSocket: h.socket, intervalMs: 180_000 };
    const svc = new TaskService({ home: h.home, settings, env: h.env, owner: 'wake test' });
    const passes: PassResult[] = [];
    monitor = new Monitor(svc, {
      intervalMs: settings.intervalMs, probeMs: NEVER, fallbackProbeMs: options.fallbackProbeMs ?? NEVER, onPass: (r) => passes.push(r),
    });
    monitor.start();
    return { svc, passes, monitor };
  };

  /** Starts a task in-process (its start signals other processes, not this one) and waits until it runs mid-reply. */
  const start = async (svc: TaskService, m: Monitor, name: string, plan: string[]) => {
    const project = h.project(name, plan);
    const { session } = await svc.start({ agent: 'codex', name, dir: project, prompt: 'x' });
    m.wake('test: started');
    await h.sessionIdKnown(session);
    return { session, project };
  };

  /** The channel the session's pane-died hook signals, once it has one. */
  const hooked = async (session: string, channel: string) => waitFor(async () => {
    const hooks = (await h.tmux(['show-hooks', '-t', `=${session}:`, 'pane-died'])).stdout;
    return hooks.includes(`wait-for -S ${channel}`) ? hooks : undefined;
  }, `the pane-died hook on ${session}`);

  it('a crash is resumed by exact id at once, woken by the pane-died hook (180 s interval, the probe at its 2 s fallback)', async () => {
    // The fallback stays on as users run it: tmux now and then misses a killed pane's exit (tmux #311),
    // and then only a pass (the fallback's) nudges it into reaping the pane and running the hook.
    const { svc, passes, monitor: m } = world({ fallbackProbeMs: 2000 });
    const channel = wakeChannel(svc);
    const { session, project } = await start(svc, m, 'a', ['hang', 'hang', 'hang']);
    // Started by a process that did not know whether this tmux has the hook: the supervisor gives it one.
    await hooked(session, channel);
    await h.crash(session, 1);
    await waitFor(() => h.invocations(project).length === 2, 'resumed', 10_000);
    const runs = h.invocations(project);
    assert.deepEqual([runs[1].mode, runs[1].sessionId], ['resume', runs[0].sessionId]);
    assert.ok(passes.some((p) => p.reason === 'a pane died or the tmux server ended'), passes.map((p) => p.reason).join(', '));
    // The resumed run's pane was hooked in the call that made it: its crash wakes the supervisor too.
    await h.sessionIdKnown(session, 2);
    await h.crash(session, 2);
    await waitFor(() => h.invocations(project).length === 3, 'resumed again', 10_000);
    // Only the task's own session has it: nothing global on the server.
    assert.doesNotMatch((await h.tmux(['show-hooks', '-g'])).stdout, /wait-for/);
    assert.equal(h.invocations(project).length, 3, 'each crash resumed once');
  });

  it('tmux kill-server is noticed by the event: every task re-created and resumed by exact id', async () => {
    const { svc, passes, monitor: m } = world();
    const tasks = [await start(svc, m, 'a', ['hang', 'hang']), await start(svc, m, 'b', ['hang', 'hang'])];
    for (const t of tasks) await hooked(t.session, wakeChannel(svc));
    await m.pass('test: settled'); // the waiter is blocked by now
    const before = passes.length;
    await h.tmux(['kill-server']);
    for (const t of tasks) await waitFor(() => h.invocations(t.project).length === 2, `${t.session} resumed`, 10_000);
    for (const t of tasks) {
      const runs = h.invocations(t.project);
      assert.deepEqual([runs[1].mode, runs[1].sessionId], ['resume', runs[0].sessionId]);
    }
    assert.equal(passes.slice(before)[0]?.reason, 'a pane died or the tmux server ended');
  });

  it('a missed event (the hook removed by hand) is caught by the fallback probe, and the resumed run is hooked again', async () => {
    const { svc, passes, monitor: m } = world({ fallbackProbeMs: 300 });
    const channel = wakeChannel(svc);
    const { session, project } = await start(svc, m, 'a', ['hang', 'hang']);
    await hooked(session, channel);
    await h.tmux(['set-hook', '-u', '-t', `=${session}:`, 'pane-died']);
    await h.crash(session, 1);
    await waitFor(() => h.invocations(project).length === 2, 'resumed by the fallback', 10_000);
    const launched = passes.find((p) => p.launched.includes(session));
    assert.match(launched?.reason ?? '', /^runner of codex-a exited$/);
    await hooked(session, channel);
    assert.ok(fs.existsSync(path.join(h.store.paths.attemptDir(session, 2), 'pid')));
  });
});
