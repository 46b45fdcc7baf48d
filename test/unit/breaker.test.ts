import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveSettings } from '../../src/core/config';
import { TaskService } from '../../src/core/tasks/service';
import { Tmux } from '../../src/core/tmux/tmux';
import { Monitor } from '../../src/core/watch/monitor';

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
