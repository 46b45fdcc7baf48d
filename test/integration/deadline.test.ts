import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { harnessPerTest, waitFor } from './harness';
import { processesWithEnv } from '../tools/processes';
import { processAlive } from '../../src/core/platform/processes';

/** A tmux call whose deadline passes after tmux did what it was asked (the client hung before exiting). */
describe('a launch whose tmux call outlives its deadline', function () {
  this.timeout(60_000);
  const h = harnessPerTest();
  let ctl: string;
  beforeEach(() => {
    const realTmux = (process.env.PATH ?? '').split(':').map((d) => path.join(d, 'tmux')).find((f) => fs.existsSync(f)) ?? '/usr/bin/tmux';
    ctl = path.join(h.root, 'tmux-ctl');
    fs.mkdirSync(ctl);
    // While `hang` exists, the next new-session or respawn-pane is done, then its client hangs (once);
    // while `lost` exists, the next one hangs without reaching the server.
    fs.writeFileSync(path.join(h.bin, 'tmux'), `#!/bin/bash
real='${realTmux}'; ctl='${ctl}'
cmd=; for a in "$@"; do [ "$a" = -- ] && break; case $a in new-session|respawn-pane) cmd=$a;; esac; done
if [ -n "$cmd" ] && rm "$ctl/hang" 2>/dev/null; then "$real" "$@"; : > "$ctl/hung"; sleep 30; exit 0; fi
if [ -n "$cmd" ] && rm "$ctl/lost" 2>/dev/null; then : > "$ctl/hung"; sleep 30; exit 0; fi
exec "$real" "$@"
`, { mode: 0o755 });
    h.env.RESILIENT_AGENT_TMUX_TIMEOUT_MS = '1500';
  });

  const alive = (session: string, n: number) => processesWithEnv(`RESILIENT_AGENT_ATTEMPT=${h.store.paths.attemptDir(session, n)}`).filter(processAlive);

  it('start: the agent its new-session started is ended with the record, even one that ignores SIGHUP; nothing is left', async () => {
    const project = h.project('p', ['ignore-hup']);
    fs.writeFileSync(path.join(ctl, 'hang'), '');
    const r = await h.cli(['start', 'codex', 'late', '--dir', project, '--prompt', 'x']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^resilient-agent: tmux is not answering: new-session had no reply in 1\.5s/);
    assert.ok(fs.existsSync(path.join(ctl, 'hung')), 'the session was made');
    assert.equal(h.invocations(project).length, 1, 'the agent ran');
    assert.deepEqual(alive('codex-late', 1), [], 'no agent left running that no record knows');
    assert.equal(h.record('codex-late'), undefined);
    assert.equal((await h.tmux(['has-session', '-t', '=codex-late'])).code, 1, 'no session');
    // Nothing half-made: the same start works once tmux answers.
    fs.writeFileSync(path.join(project, '.fixture-plan.json'), JSON.stringify(['hang']));
    await h.ok(['start', 'codex', 'late', '--dir', project, '--prompt', 'x']);
    assert.equal(h.record('codex-late')?.state, 'running');
  });

  it('a supervisor\'s resume whose new-session outlives its deadline: the resumed run goes on, not ended and resumed again', async () => {
    const project = h.project('p', ['hang', 'hang', 'hang']);
    await h.ok(['start', 'codex', 'late', '--dir', project, '--prompt', 'x']);
    await h.sessionIdKnown('codex-late');
    await h.tmux(['kill-server']);
    fs.writeFileSync(path.join(ctl, 'hang'), '');
    const first = await h.cli(['monitor', '--once']);
    assert.match(first.stderr, /could not launch attempt 2: tmux is not answering: new-session/);
    assert.ok(fs.existsSync(path.join(ctl, 'hung')), 'the session was made');
    await waitFor(() => alive('codex-late', 2).length > 0, 'attempt 2 running');
    for (let i = 0; i < 3; i++) await h.ok(['monitor', '--once']);
    const rec = h.record('codex-late')!;
    assert.deepEqual([rec.state, rec.attempts.length], ['running', 2], `${rec.state}: ${rec.stateReason}`);
    assert.equal(h.invocations(project).length, 2, 'the agent resumed once');
    assert.ok(alive('codex-late', 2).length > 0, 'attempt 2 still running');
  });

  it('a supervisor\'s resume whose respawn-pane never reached tmux: once the start grace is over it is launched again as a loss, not a failure of the agent', async () => {
    const project = h.project('p', ['hang', 'hang', 'hang']);
    await h.ok(['start', 'codex', 'late', '--dir', project, '--prompt', 'x']);
    await h.sessionIdKnown('codex-late');
    await h.crash('codex-late', 1);
    fs.writeFileSync(path.join(ctl, 'lost'), '');
    const first = await h.cli(['monitor', '--once']);
    assert.match(first.stderr, /could not launch attempt 2: tmux is not answering: respawn-pane/);
    const reasons = new Set<string>();
    const rec = await waitFor(async () => {
      await h.ok(['monitor', '--once']);
      const r = h.record('codex-late')!;
      reasons.add(String(r.stateReason));
      return r.attempts.length === 3 && r.state === 'running' ? r : undefined;
    }, 'attempt 3 running', 30_000);
    assert.deepEqual(rec.attempts.map((a) => a.cause), ['start', 'crash', 'lost']);
    assert.ok(![...reasons].some((r) => /in a row/.test(r)), `never a failure in a row: ${[...reasons].join(' | ')}`);
    assert.equal(h.invocations(project).length, 2, 'the agent resumed once');
  });
});
