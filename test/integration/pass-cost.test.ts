import * as assert from 'node:assert/strict';
import { resolveSettings } from '../../src/core/model/settings';
import { TaskService } from '../../src/core/ops/service';
import { Monitor } from '../../src/core/ops/monitor';
import { Harness, waitFor } from './harness';

describe('the cost of a monitor pass', function () {
  this.timeout(120_000);
  let h: Harness;
  before(() => {
    h = new Harness();
  });
  after(async () => {
    await h.cleanup();
  });

  it('one pass over 20 running tasks starts at most 2 tmux processes (list + one batched capture)', async () => {
    const settings = { ...resolveSettings(), tmuxSocket: h.socket, maxRunning: 20 };
    const svc = new TaskService({ home: h.home, settings, env: h.env });
    const project = h.project('many', Array(40).fill('hang'));
    for (let i = 0; i < 20; i++) await svc.start({ agent: i % 2 ? 'codex' : 'claude', name: `n${i}`, dir: project, prompt: 'x' });
    await waitFor(() => h.invocations(project).length === 20, 'all running');
    const monitor = new Monitor(svc, { intervalMs: 60_000, eventDriven: false });
    for (let pass = 0; pass < 3; pass++) {
      const before = svc.tmux.spawned;
      const result = await monitor.pass(`pass ${pass}`);
      assert.equal(result.tasks, 20);
      assert.equal(result.launched.length, 0);
      assert.ok(svc.tmux.spawned - before <= 2, `pass ${pass} started ${svc.tmux.spawned - before} tmux processes`);
    }
  });
});
