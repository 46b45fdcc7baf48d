import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveSettings } from '../../src/core/config';
import { TaskService } from '../../src/core/tasks/service';
import { Monitor } from '../../src/core/watch/monitor';
import { Harness, waitFor } from './harness';

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

  it('a slow list-panes (a loaded host) never launches a second run of a healthy task', async () => {
    const settings = { ...resolveSettings(), tmuxSocket: h.socket, intervalMs: 60_000 };
    const svc = new TaskService({ home: h.home, settings, env: h.env, owner: 'slow tmux' });
    // The pass's pane list is taken, then tmux "takes its time": the task starts and its runner
    // writes its pid before the pass reads the records.
    const listPanes = svc.tmux.listPanes.bind(svc.tmux);
    let slow: (() => Promise<void>) | undefined;
    svc.tmux.listPanes = async () => {
      const panes = await listPanes();
      if (slow) await slow();
      return panes;
    };
    const project = h.project('p', ['hang']);
    slow = async () => {
      slow = undefined;
      await h.ok(['start', 'codex', 'healthy', '--dir', project, '--prompt', 'x']);
      await h.runnerPid('codex-healthy', 1);
    };
    const monitor = new Monitor(svc, { intervalMs: 60_000, eventDriven: false, elect: false });
    const result = await monitor.pass('test');
    assert.deepEqual(result.launched, [], 'nothing launched from the stale list');
    await monitor.pass('test');
    const record = h.record('codex-healthy')!;
    assert.equal(record.attempts.length, 1);
    assert.equal(record.state, 'running');
    await waitFor(() => h.invocations(project).length === 1, 'the one run');
    assert.equal(h.invocations(project).length, 1);
    assert.ok(fs.existsSync(path.join(h.store.paths.attemptDir('codex-healthy', 1), 'pid')));
  });
});
