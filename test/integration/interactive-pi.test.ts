import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { harnessPerTest, REPO, waitFor } from './harness';

/** The fixture of Pi's TUI and extension events (test/fixtures/tui-pi.mjs). */
const TUI = path.join(REPO, 'test', 'fixtures', 'tui-pi.mjs');

interface Listed { session: string; state: string; reason: string | null; mode: string | null; agentSessionId: string | null; attempts: { n: number; cause: string; mode: string }[] }
interface Fired { event: string; at: number; pid: number; messages?: { stopReason?: string }[] }
interface Run { argv: string[]; pid: number; mode: string; sessionId: string; prompt: string; tty: boolean; startedAt: number }

describe('interactive tasks: Pi\'s TUI in its pane, its state from its extension events (fixture of Pi, real tmux)', function () {
  this.timeout(90_000);
  const h = harnessPerTest();

  /** `pi` on the world's PATH is the TUI fixture; the person's own Pi settings exist. */
  function setUp(project: string): { dir: string; personal: string; before: Buffer } {
    fs.writeFileSync(path.join(h.bin, 'pi'), `#!/bin/sh\nexec '${process.execPath}' '${TUI}' "$@"\n`, { mode: 0o755 });
    const personal = path.join(h.env.HOME!, '.pi', 'agent', 'settings.json');
    fs.mkdirSync(path.dirname(personal), { recursive: true });
    fs.writeFileSync(personal, '{\n  "theme": "dark",\n  "extensions": []\n}\n');
    return { dir: h.project(project), personal, before: fs.readFileSync(personal) };
  }

  async function listed(session: string): Promise<Listed | undefined> {
    return (JSON.parse(await h.ok(['list', '--json'])) as Listed[]).find((t) => t.session === session);
  }
  const fired = (dir: string): Fired[] => {
    const file = path.join(dir, '.fixture-hooks.jsonl');
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
  };
  const runs = (dir: string): Run[] => h.invocations(dir) as unknown as Run[];
  const paneText = async (session: string) => (await h.tmux(['capture-pane', '-p', '-t', `=${session}:`])).stdout;
  const hookStates = (session: string, n: number) =>
    fs.readFileSync(path.join(h.store.paths.attemptDir(session, n), 'hooks.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { state: string; event: string });
  /** Its first turn over (agent_end fired) and recorded as idle. */
  const idleAfterTurn = async (session: string, dir: string) => {
    await waitFor(() => fired(dir).some((f) => f.event === 'agent_end'), 'the end of the first turn');
    await waitFor(() => h.record(session)?.state === 'idle' && hookStates(session, h.record(session)!.attempts.length).some((s) => s.event === 'agent_end'), 'idle after the first turn');
  };

  it('starts with a first prompt: working, then Esc -> idle from agent_end; the session file chosen up front; the person\'s Pi settings untouched', async () => {
    const { dir, personal, before } = setUp('work');
    // A long interval: what moves the supervisor here is the hooks' wake, not its timer.
    h.monitor(['--interval', '60']);
    await h.ok(['start', 'pi', 'work', '--interactive', '--dir', dir, '--prompt', 'a slow one']);
    const session = 'pi-work';
    const began = await waitFor(() => fired(dir).find((f) => f.event === 'agent_start'), 'its turn begun');
    const working = await waitFor(async () => ((await listed(session))?.state === 'running' ? Date.now() : undefined), 'working in list');
    console.log(`      working: list --json showed it ${working - began.at} ms after agent_start`);
    const task = (await listed(session))!;
    assert.equal(task.mode, 'interactive');
    const file = path.join(h.store.paths.taskDir(session), 'pi-session.jsonl');
    assert.equal(task.agentSessionId, file);
    const [run] = runs(dir);
    assert.equal(run.tty, true);
    assert.equal(run.mode, 'start');
    assert.deepEqual(run.argv.slice(0, 3), ['--session', file, '-e']);
    assert.equal(run.argv[3], path.join(h.store.paths.attemptDir(session, 1), 'pi-hooks.mjs'));
    assert.deepEqual(run.argv.slice(4), ['a slow one']);

    await h.tmux(['send-keys', '-t', `=${session}:`, 'Escape']);
    const pressed = Date.now();
    const idle = await waitFor(() => (h.record(session)?.state === 'idle' ? h.record(session) : undefined), 'idle after Esc', 10_000);
    console.log(`      idle recorded ${Date.parse(idle.stateSince) - pressed} ms after Esc (agent_end, aborted)`);
    assert.equal(idle.stateReason, 'its turn was interrupted (Esc)');
    assert.ok(Date.parse(idle.stateSince) - pressed < 3_000);
    assert.equal((await listed(session))?.state, 'idle');
    assert.deepEqual(hookStates(session, 1).map((s) => `${s.event}:${s.state}`), ['session_start:idle', 'agent_start:working', 'agent_end:idle']);

    // An API error ends the turn: idle, saying so.
    await h.ok(['send', 'work', 'this will fail']);
    const failed = await waitFor(() => (/error: 500 boom/.test(h.record(session)?.stateReason ?? '') ? h.record(session) : undefined), 'idle after an API error');
    assert.equal(failed.state, 'idle');
    assert.ok(fs.readFileSync(personal).equals(before), "the person's ~/.pi/agent/settings.json changed");
    assert.equal(runs(dir).length, 1);
  });

  it('kill -9 of the TUI: resumed with its exact session file in the same pane, once, nothing typed into it', async () => {
    const { dir } = setUp('crash');
    h.monitor(['--interval', '60']);
    await h.ok(['start', 'pi', 'crash', '--interactive', '--dir', dir, '--prompt', 'hello']);
    const session = 'pi-crash';
    await idleAfterTurn(session, dir);
    const pane = (await h.tmux(['display-message', '-p', '-t', `=${session}:`, '#{pane_id}'])).stdout.trim();
    const [first] = runs(dir);
    process.kill(first.pid, 'SIGKILL');
    const again = await waitFor(() => runs(dir)[1], 'the resume');
    assert.equal(again.mode, 'resume');
    assert.equal(again.sessionId, first.sessionId);
    assert.deepEqual(again.argv.slice(0, 2), ['--session', first.sessionId]);
    assert.equal(again.prompt, '', 'a resume types nothing on the person\'s behalf');
    assert.equal(again.tty, true);
    await waitFor(() => h.record(session)?.state === 'idle' && h.record(session)?.attempts.length === 2, 'idle again in attempt 2');
    const r = h.record(session)!;
    assert.equal(r.attempts[0].exitCode, 137);
    assert.deepEqual([r.attempts[1].cause, r.attempts[1].mode], ['crash', 'resume']);
    assert.equal((await h.tmux(['display-message', '-p', '-t', `=${session}:`, '#{pane_id}'])).stdout.trim(), pane);
    assert.match(await paneText(session), /Resumed session .* \(2 messages\)/);
    // A follow-up on it, idle at its prompt: typed into its TUI, no new attempt.
    assert.match(await h.ok(['continue', 'crash', '--prompt', 'and then?']), /typed into its TUI/);
    await waitFor(async () => /done: and then\?/.test(await paneText(session)), 'its answer');
    assert.equal(h.record(session)!.attempts.length, 2);
    assert.equal(runs(dir).length, 2);
    // Its transcript: the conversation from Pi's own session file, across both runs.
    await waitFor(() => h.record(session)?.state === 'idle', 'idle after the follow-up');
    const logs = (await h.ok(['logs', 'crash'])).split('\n');
    assert.match(logs[0], new RegExp(`Pi's own log of the session: ${first.sessionId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.deepEqual(logs.slice(1).filter((l) => /^[›●] /.test(l)), ['› hello', '● done: hello', '› and then?', '● done: and then?']);
  });

  it('killed during its first reply (Pi had saved nothing): started again with its first prompt, said once more', async () => {
    const { dir } = setUp('early');
    h.monitor(['--interval', '60']);
    await h.ok(['start', 'pi', 'early', '--interactive', '--dir', dir, '--prompt', 'a slow start']);
    const session = 'pi-early';
    await waitFor(() => fired(dir).some((f) => f.event === 'agent_start'), 'its turn begun');
    const [first] = runs(dir);
    assert.equal(fs.existsSync(first.sessionId), false, 'nothing saved yet');
    process.kill(first.pid, 'SIGKILL');
    const again = await waitFor(() => runs(dir)[1], 'started again');
    assert.equal(again.mode, 'start');
    assert.equal(again.prompt, 'a slow start');
    const r = await waitFor(() => (h.record(session)?.attempts.length === 2 ? h.record(session) : undefined), 'attempt 2');
    assert.deepEqual([r.attempts[1].cause, r.attempts[1].mode], ['restart', 'start']);
    assert.match(r.attempts[1].note ?? '', /pi had not saved its session/);
  });

  it('a Pi that outlives its pane (it ignores SIGHUP) is ended before its resume: never two writers in one session file', async () => {
    const { dir } = setUp('stray');
    h.monitor(['--interval', '60']);
    await h.ok(['start', 'pi', 'stray', '--interactive', '--dir', dir, '--prompt', 'be stubborn']);
    const session = 'pi-stray';
    await idleAfterTurn(session, dir);
    const [first] = runs(dir);
    await h.tmux(['kill-server']);
    const again = await waitFor(() => runs(dir)[1], 'the resume');
    const exits = fs.readFileSync(path.join(dir, '.fixture-exits.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { pid: number; at: number; how: string });
    assert.ok(exits.some((e) => e.pid === first.pid && e.how === 'SIGHUP ignored'), 'the first run outlived its pane');
    const gone = exits.find((e) => e.pid === first.pid && e.how === 'SIGTERM');
    assert.ok(gone, 'the first run was ended');
    assert.ok(gone.at <= again.startedAt, 'ended before the resume began');
    assert.deepEqual([again.mode, again.sessionId], ['resume', first.sessionId]);
    const r = await waitFor(() => (h.record(session)?.state === 'idle' && h.record(session)?.attempts.length === 2 ? h.record(session) : undefined), 'idle again in attempt 2');
    assert.equal(r.attempts[1].cause, 'lost');
  });

  it('/quit: stopped by the person, never resumed (a follow-up resumes it with that prompt); SIGTERM (Pi exits 0 on it) is no person\'s exit: resumed', async () => {
    const { dir } = setUp('quit');
    h.monitor(['--interval', '60']);
    // No first prompt: the person types it.
    await h.ok(['start', 'pi', 'quit', '--interactive', '--dir', dir]);
    const session = 'pi-quit';
    await waitFor(() => h.record(session)?.state === 'idle', 'idle at its empty prompt');
    await h.ok(['send', 'quit', 'hello']);
    await idleAfterTurn(session, dir);
    const [first] = runs(dir);
    assert.deepEqual(first.argv.length, 4, 'no prompt argument');
    process.kill(first.pid, 'SIGTERM');
    const again = await waitFor(() => runs(dir)[1], 'resumed after SIGTERM').catch((e) => { console.log(JSON.stringify(h.record(session), null, 1), fs.readFileSync(path.join(h.store.paths.attemptDir(session, 1), 'hooks.jsonl'), 'utf8')); throw e; });
    assert.equal(again.mode, 'resume');
    await waitFor(() => h.record(session)?.state === 'idle' && h.record(session)?.attempts.length === 2, 'idle in attempt 2');
    assert.equal(h.record(session)!.attempts[0].exitCode, 143);

    await h.ok(['send', 'quit', '/quit']);
    const held = await waitFor(() => (h.record(session)?.state === 'held' ? h.record(session) : undefined), 'stopped');
    assert.match(held.stateReason ?? '', /^stopped by the user: the person exited Pi/);
    assert.equal(held.attempts[1].exitCode, 0);
    await h.ok(['monitor', '--once']);
    assert.equal(runs(dir).length, 2);
    assert.equal(h.record(session)!.attempts.length, 2);
    // A follow-up on it: the same session file again, the follow-up its first prompt.
    await h.ok(['continue', 'quit', '--prompt', 'and once more']);
    const more = await waitFor(() => runs(dir)[2], 'resumed with the follow-up');
    assert.deepEqual([more.mode, more.sessionId, more.prompt], ['resume', first.sessionId, 'and once more']);
    await waitFor(async () => /done: and once more/.test(await paneText(session)), 'its answer');
  });
});
