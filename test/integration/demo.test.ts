import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { harnessPerTest } from './harness';

/** `demo`: a crash and a resume by exact id, with the demo agent, in the person's own tmux and state dir. */
describe('the demo', function () {
  this.timeout(90_000);
  const h = harnessPerTest();

  it('one crash, one resume by the same session id, done; nothing left behind; another task untouched', async () => {
    const other = h.project('other', ['hang']);
    await h.ok(['start', 'codex', 'mine', '--dir', other, '--prompt', 'x']);
    const r = await h.cli(['demo']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = r.stdout.split('\n');
    const started = lines.find((l) => /started codex-demo-[0-9a-f]{4}: the demo agent/.test(l));
    assert.ok(started, r.stdout);
    const dir = started.match(/ in (\S+)$/)![1];
    const crashed = lines.filter((l) => /crashed: killed with -9 mid-reply/.test(l));
    assert.equal(crashed.length, 1);
    const id = crashed[0].match(/session (\S+)$/)![1];
    const resumed = lines.filter((l) => /resumed \d+ ms after the crash: attempt 2, its own resume command with the exact session id/.test(l));
    assert.equal(resumed.length, 1);
    assert.ok(resumed[0].endsWith(id), 'resumed by the same id');
    assert.ok(lines.some((l) => /done: it went on from where it stopped/.test(l)));
    assert.equal(fs.existsSync(dir), false, 'its folder is gone');
    const sessions = (await h.tmux(['list-sessions', '-F', '#{session_name}'])).stdout.trim().split('\n');
    assert.deepEqual(sessions, ['codex-mine'], 'no demo session left; the other task still runs');
    assert.deepEqual(h.store.sessions(), ['codex-mine'], 'no demo record left');
    assert.equal(h.invocations(other).length, 1, 'the other task was not touched');
  });

  it('--keep keeps the task and says how to remove it; a --dir that is not a folder is refused', async () => {
    const r = await h.cli(['demo', '--keep']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const session = r.stdout.match(/started (codex-demo-[0-9a-f]{4})/)![1];
    assert.match(r.stdout, new RegExp(`kept: resilient-agent status ${session}; remove it with resilient-agent kill ${session} --forget`));
    assert.equal(h.record(session)?.state, 'done');
    fs.rmSync(path.dirname(r.stdout.match(/ in (\S+)\n/)![1]), { recursive: true, force: true }); // the kept demo's scratch folder
    const bad = await h.cli(['demo', '--dir', path.join(h.root, 'nowhere')]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^resilient-agent: folder not found: /);
  });
});
