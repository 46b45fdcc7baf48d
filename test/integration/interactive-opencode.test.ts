import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { harnessPerTest, REPO, waitFor } from './harness';

/** The fixture of OpenCode's TUI and its server's events (test/fixtures/tui-opencode.mjs). */
const TUI = path.join(REPO, 'test', 'fixtures', 'tui-opencode.mjs');

interface Listed { session: string; state: string; reason: string | null; mode: string | null; agentSessionId: string | null }
interface Sent { event: string; at: number; pid: number; properties: { sessionID?: string } }
interface Run { argv: string[]; pid: number; mode: string; sessionId?: string; prompt: string; port: number; hostname: string; password: boolean; tty: boolean }

describe('interactive tasks: OpenCode\'s TUI in its pane, its state from its server\'s events (fixture of OpenCode, real tmux)', function () {
  this.timeout(90_000);
  const h = harnessPerTest();

  /** `opencode` on the world's PATH is the TUI fixture; the person's own OpenCode config exists. */
  function setUp(project: string): { dir: string; personal: string; before: Buffer } {
    fs.writeFileSync(path.join(h.bin, 'opencode'), `#!/bin/sh\nexec '${process.execPath}' '${TUI}' "$@"\n`, { mode: 0o755 });
    const personal = path.join(h.env.HOME!, '.config', 'opencode', 'opencode.json');
    fs.mkdirSync(path.dirname(personal), { recursive: true });
    fs.writeFileSync(personal, '{\n  "$schema": "https://opencode.ai/config.json",\n  "plugin": []\n}\n');
    return { dir: h.project(project), personal, before: fs.readFileSync(personal) };
  }

  async function listed(session: string): Promise<Listed | undefined> {
    return (JSON.parse(await h.ok(['list', '--json'])) as Listed[]).find((t) => t.session === session);
  }
  const sent = (dir: string): Sent[] => {
    const file = path.join(dir, '.fixture-hooks.jsonl');
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Sent) : [];
  };
  const runs = (dir: string): Run[] => h.invocations(dir) as unknown as Run[];
  const paneText = async (session: string) => (await h.tmux(['capture-pane', '-p', '-t', `=${session}:`])).stdout;
  const hookStates = (session: string, n: number) => {
    const f = path.join(h.store.paths.attemptDir(session, n), 'hooks.jsonl');
    return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { state: string; event: string; reason?: string }) : [];
  };
  /** Its turn over (session.status idle sent) and recorded as idle. */
  const idleAfter = async (session: string, dir: string, turns = 1) => {
    await waitFor(() => sent(dir).filter((f) => f.event === 'session.idle').length >= turns, 'the end of the turn');
    const ended = sent(dir).filter((f) => f.event === 'session.idle')[turns - 1];
    await waitFor(() => h.record(session)?.state === 'idle' && h.record(session)?.agentSessionId === ended.properties.sessionID ? h.record(session) : undefined, 'idle after the turn, its id known');
  };

  it('starts with a first prompt: working, a permission -> waiting within 2 s, answered -> working -> idle; its id from session.created; a server of its own on 127.0.0.1 with a password; the person\'s config untouched', async () => {
    const { dir, personal, before } = setUp('work');
    // A long interval: what moves the supervisor here is its server's events, not its timer.
    h.monitor(['--interval', '60']);
    await h.ok(['start', 'opencode', 'work', '--interactive', '--dir', dir, '--prompt', 'hello']);
    const session = 'opencode-work';
    await idleAfter(session, dir);
    await h.ok(['send', 'work', 'ask permission, then a slow one']);
    const asked = await waitFor(() => sent(dir).find((f) => f.event === 'permission.asked'), 'the permission asked', 30_000);
    const waiting = await waitFor(() => (h.record(session)?.state === 'waiting' ? h.record(session) : undefined), 'waiting for the person', 10_000);
    const after = Date.parse(waiting.stateSince) - asked.at;
    console.log(`      waiting recorded ${after} ms after permission.asked: ${waiting.stateReason}`);
    assert.ok(after < 2000, `${after} ms`);
    assert.equal(waiting.stateReason, 'waits for you: permission to use bash: echo hi > out.txt');
    assert.equal((await listed(session))?.state, 'waiting');
    const created = sent(dir).find((f) => f.event === 'session.created')!;
    assert.equal(waiting.agentSessionId, created.properties.sessionID);
    const [run] = runs(dir);
    assert.equal(run.tty, true);
    assert.equal(run.mode, 'start');
    assert.equal(run.hostname, '127.0.0.1');
    assert.equal(run.password, true, 'its server has a password');
    assert.deepEqual(run.argv, ['--port', String(run.port), '--hostname', '127.0.0.1', '--prompt=hello', dir]);
    const info = JSON.parse(fs.readFileSync(path.join(h.store.paths.attemptDir(session, 1), 'server.json'), 'utf8')) as { port: number; password: string };
    assert.equal(info.port, run.port);
    assert.equal(fs.statSync(path.join(h.store.paths.attemptDir(session, 1), 'server.json')).mode & 0o077, 0, 'server.json is private');
    assert.ok(!run.argv.join(' ').includes(info.password), 'the password is not on its command line');
    // Without the password its server answers 401.
    const bare = await fetch(`http://127.0.0.1:${run.port}/session/status`);
    assert.equal(bare.status, 401);

    await h.ok(['send', 'work', '']);
    await waitFor(() => sent(dir).some((f) => f.event === 'permission.replied'), 'answered');
    await waitFor(() => (h.record(session)?.state === 'running' ? true : undefined), 'working again');
    await waitFor(async () => /working \(\d+s\)/.test(await paneText(session)), 'its spinner');
    // OpenCode interrupts at the second Esc.
    await h.tmux(['send-keys', '-t', `=${session}:`, 'Escape']);
    await waitFor(async () => /esc again to interrupt/.test(await paneText(session)), 'asked for a second Esc');
    assert.equal(h.record(session)!.state, 'running');
    await h.tmux(['send-keys', '-t', `=${session}:`, 'Escape']);
    const pressed = Date.now();
    const idle = await waitFor(() => (h.record(session)?.state === 'idle' ? h.record(session) : undefined), 'idle after Esc', 10_000);
    console.log(`      idle recorded ${Date.parse(idle.stateSince) - pressed} ms after Esc: ${idle.stateReason}`);
    assert.equal(idle.stateReason, 'its turn was interrupted (Esc)');
    assert.ok(fs.existsSync(path.join(dir, 'out.txt')));

    // An API error ends the turn: idle, naming it.
    await h.ok(['send', 'work', 'this will fail']);
    const failed = await waitFor(() => (/error: bad request 4/.test(h.record(session)?.stateReason ?? '') ? h.record(session) : undefined), 'idle after an API error');
    assert.equal(failed.state, 'idle');
    assert.ok(fs.readFileSync(personal).equals(before), "the person's opencode.json changed");
    assert.equal(runs(dir).length, 1);
  });

  it('kill -9 of the TUI: resumed by its exact session id in the same pane, once, nothing typed; idle from its current status', async () => {
    const { dir } = setUp('crash');
    h.monitor(['--interval', '60']);
    await h.ok(['start', 'opencode', 'crash', '--interactive', '--dir', dir, '--prompt', 'hello']);
    const session = 'opencode-crash';
    await idleAfter(session, dir);
    const id = h.record(session)!.agentSessionId!;
    assert.match(id, /^ses_/);
    const pane = (await h.tmux(['display-message', '-p', '-t', `=${session}:`, '#{pane_id}'])).stdout.trim();
    const [first] = runs(dir);
    process.kill(first.pid, 'SIGKILL');
    const killed = Date.now();
    const again = await waitFor(() => runs(dir)[1], 'the resume');
    console.log(`      resumed (its TUI started again) ${Date.now() - killed} ms after kill -9`);
    assert.equal(again.mode, 'resume');
    assert.equal(again.sessionId, id);
    assert.deepEqual(again.argv, ['--port', String(again.port), '--hostname', '127.0.0.1', '--session', id, dir]);
    assert.notEqual(again.port, first.port, 'a port of its own per attempt');
    assert.equal(again.prompt, '', 'a resume types nothing on the person\'s behalf');
    const r = await waitFor(() => (h.record(session)?.attempts.length === 2 && hookStates(session, 2).some((s) => s.event === 'status') ? h.record(session) : undefined), 'its current status asked in attempt 2');
    assert.equal(r.attempts[0].exitCode, 137);
    assert.deepEqual([r.attempts[1].cause, r.attempts[1].mode], ['crash', 'resume']);
    await waitFor(() => h.record(session)?.state === 'idle', 'idle in attempt 2');
    assert.equal((await h.tmux(['display-message', '-p', '-t', `=${session}:`, '#{pane_id}'])).stdout.trim(), pane);
    assert.match(await paneText(session), /session ses_\w+ \(2 messages\)/);
    // A follow-up on it, idle at its prompt: typed into its TUI, no new attempt.
    assert.match(await h.ok(['continue', 'crash', '--prompt', 'and then?']), /typed into its TUI/);
    await waitFor(async () => /done: and then\?/.test(await paneText(session)), 'its answer');
    await idleAfter(session, dir, 2);
    assert.equal(h.record(session)!.attempts.length, 2);
    assert.equal(h.record(session)!.agentSessionId, id);
    assert.equal(runs(dir).length, 2);
  });

  it('a supervisor restarted mid-turn: connects again and asks what the TUI does now (waiting)', async () => {
    const { dir } = setUp('restart');
    const first = h.monitor(['--interval', '60']);
    await h.ok(['start', 'opencode', 'restart', '--interactive', '--dir', dir, '--prompt', 'hello']);
    const session = 'opencode-restart';
    await idleAfter(session, dir);
    await h.stop(first);
    await h.ok(['send', 'restart', 'ask permission please']);
    await waitFor(() => sent(dir).some((f) => f.event === 'permission.asked'), 'the permission asked, no one listening');
    assert.equal(h.record(session)!.state, 'idle');
    h.monitor(['--interval', '60']);
    const waiting = await waitFor(() => (h.record(session)?.state === 'waiting' ? h.record(session) : undefined), 'waiting, from its current state', 15_000);
    assert.equal(waiting.stateReason, 'waits for you: permission to use bash: echo hi > out.txt');
    assert.equal(hookStates(session, 1).at(-1)?.event, 'status');
    assert.equal(h.record(session)!.attempts.length, 1);
  });

  it('/exit: stopped by the person (status 0), never resumed; a follow-up resumes it by id and says it through its server, once', async () => {
    const { dir } = setUp('exit');
    h.monitor(['--interval', '60']);
    await h.ok(['start', 'opencode', 'exit', '--interactive', '--dir', dir, '--prompt', 'hello']);
    const session = 'opencode-exit';
    await idleAfter(session, dir);
    await h.ok(['send', 'exit', '/exit']);
    const held = await waitFor(() => (h.record(session)?.state === 'held' ? h.record(session) : undefined), 'stopped');
    assert.match(held.stateReason ?? '', /^stopped by the user: OpenCode exited with status 0/);
    assert.equal(held.attempts[0].exitCode, 0);
    await h.ok(['monitor', '--once']);
    assert.equal(runs(dir).length, 1);
    assert.equal(h.record(session)!.attempts.length, 1);
    assert.ok(sent(dir).some((f) => f.event === 'server.instance.disposed'));
    // A follow-up the person asks for: its session resumed by id (no prompt on its command line: OpenCode drops it
    // with -s), the follow-up said through its server once it answers, once.
    const id = h.record(session)!.agentSessionId!;
    await h.ok(['continue', 'exit', '--prompt', 'back again']);
    const again = await waitFor(() => runs(dir)[1], 'the resume with the follow-up');
    assert.deepEqual([again.mode, again.sessionId], ['resume', id]);
    assert.deepEqual(again.argv, ['--port', String(again.port), '--hostname', '127.0.0.1', '--session', id, dir]);
    await waitFor(async () => /done: back again/.test(await paneText(session)), 'its answer to the follow-up');
    await waitFor(() => (h.record(session)?.state === 'idle' && h.record(session)?.attempts.length === 2 ? true : undefined), 'idle after the follow-up');
    assert.equal(h.record(session)!.attempts[1].cause, 'follow-up');
    const apiPrompts = fs.readFileSync(path.join(dir, '.fixture-api-prompts.jsonl'), 'utf8').split('\n').filter(Boolean);
    assert.equal(apiPrompts.length, 1, 'said once');
    assert.equal((JSON.parse(apiPrompts[0]) as { text: string }).text, 'back again');
  });
});
