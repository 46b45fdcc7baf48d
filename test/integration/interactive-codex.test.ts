import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { harnessPerTest, REPO, waitFor } from './harness';

/** The fixture of Codex's TUI, its Node wrapper and its hooks (test/fixtures/tui-codex.mjs). */
const TUI = path.join(REPO, 'test', 'fixtures', 'tui-codex.mjs');

interface Listed { session: string; state: string; reason: string | null; mode: string | null; agentSessionId: string | null; attempts: { n: number; cause: string; mode: string }[] }
interface Fired { event: string; at: number; pid: number; source?: string; sessionId?: string }
interface Run { argv: string[]; pid: number; wrapperPid: number; mode: string; sessionId: string | null; prompt: string; tty: boolean; bypass: boolean; startedAt: number }

describe('interactive Codex tasks: its TUI in its pane, its state from its own hooks (fixture of Codex, real tmux)', function () {
  this.timeout(90_000);
  let dirOf = '';
  afterEach(async function () {
    if (this.currentTest?.state === 'passed' || !dirOf) return;
    const session = `codex-${path.basename(dirOf)}`;
    console.log(`record: ${JSON.stringify(h.record(session), null, 1)}`);
    for (const f of ['.fixture-invocations.jsonl', '.fixture-hooks.jsonl', '.fixture-exits.jsonl', '.fixture-writers.jsonl']) {
      if (fs.existsSync(path.join(dirOf, f))) console.log(`${f}:\n${fs.readFileSync(path.join(dirOf, f), 'utf8')}`);
    }
    console.log(`pane:\n${await paneText(session)}`);
  });
  const h = harnessPerTest();

  /** `codex` on the world's PATH is the TUI fixture; the person's own Codex config exists. */
  function setUp(project: string): { dir: string; personal: string; before: Buffer; listing: string[] } {
    fs.writeFileSync(path.join(h.bin, 'codex'), `#!/bin/sh\nexec '${process.execPath}' '${TUI}' "$@"\n`, { mode: 0o755 });
    const personal = path.join(h.env.HOME!, '.codex', 'config.toml');
    fs.mkdirSync(path.dirname(personal), { recursive: true });
    fs.writeFileSync(personal, 'model = "gpt-5.5"\n\n[hooks.state]\n');
    dirOf = h.project(project);
    return { dir: dirOf, personal, before: fs.readFileSync(personal), listing: fs.readdirSync(path.dirname(personal)) };
  }

  async function listed(session: string): Promise<Listed | undefined> {
    return (JSON.parse(await h.ok(['list', '--json'])) as Listed[]).find((t) => t.session === session);
  }
  const lines = <T>(file: string): T[] => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as T) : []);
  const fired = (dir: string) => lines<Fired>(path.join(dir, '.fixture-hooks.jsonl'));
  const runs = (dir: string) => lines<Run>(path.join(dir, '.fixture-invocations.jsonl'));
  const paneText = async (session: string) => (await h.tmux(['capture-pane', '-p', '-t', `=${session}:`])).stdout;
  const idleAfterTurn = async (session: string, dir: string) => {
    await waitFor(() => fired(dir).some((f) => f.event === 'Stop'), 'the end of the first turn');
    await waitFor(() => h.record(session)?.state === 'idle', 'idle after the first turn');
  };

  it('first prompt -> waiting for you within 2 s of PermissionRequest -> send -> working -> idle; the id learned from its hooks; the person\'s config untouched', async () => {
    const { dir, personal, before, listing } = setUp('perm');
    h.monitor(['--interval', '60']);
    await h.ok(['start', 'codex', 'perm', '--interactive', '--dir', dir, '--prompt', 'please ask permission to touch a file']);
    const session = 'codex-perm';
    const asked = await waitFor(() => fired(dir).find((f) => f.event === 'PermissionRequest'), 'the permission prompt');
    const seen = await waitFor(async () => ((await listed(session))?.state === 'waiting' ? Date.now() : undefined), 'waiting in list', 10_000);
    const recorded = await waitFor(() => (h.record(session)?.state === 'waiting' ? h.record(session) : undefined), 'waiting recorded', 10_000);
    const recordedAfter = Date.parse(recorded.stateSince) - asked.at;
    console.log(`      waiting: recorded ${recordedAfter} ms after PermissionRequest fired; list --json showed it ${seen - asked.at} ms after`);
    assert.ok(recordedAfter < 2000, `waiting recorded ${recordedAfter} ms after the prompt`);
    assert.ok(seen - asked.at < 2000, `list showed waiting ${seen - asked.at} ms after the prompt`);
    const task = (await listed(session))!;
    assert.equal(task.mode, 'interactive');
    assert.equal(task.reason, 'waits for you: permission to use Bash: touch made-by-tool');
    assert.match(await paneText(session), /Would you like to run the following command\?/);

    // The TUI has the pane's terminal; its hooks ran (trust bypassed for this run); the id, which
    // Codex mints at the first prompt, came from its hooks; the prompt is one argv element after --.
    const [run] = runs(dir);
    assert.equal(run.tty, true);
    assert.equal(run.bypass, true);
    assert.equal(run.mode, 'start');
    assert.ok(task.agentSessionId, 'the session id from the hooks');
    assert.equal(fired(dir).find((f) => f.event === 'SessionStart')?.source, 'startup');
    assert.equal(run.argv[0], '--dangerously-bypass-hook-trust');
    assert.equal(run.argv.filter((a) => a === '-c').length, 8);
    assert.deepEqual(run.argv.slice(-2), ['--', 'please ask permission to touch a file']);
    assert.equal(run.argv[run.argv.indexOf('-C') + 1], dir, 'the folder with -C');
    assert.equal(task.agentSessionId, fired(dir).find((f) => f.event === 'SessionStart')?.sessionId);

    await h.ok(['send', 'perm', '1']);
    await waitFor(() => fs.existsSync(path.join(dir, 'made-by-tool')), 'the tool run after the answer');
    await waitFor(async () => (await listed(session))?.state === 'idle', 'idle after its turn');
    await waitFor(() => h.record(session)?.state === 'idle', 'idle recorded');
    const states = lines<{ state: string }>(path.join(h.store.paths.attemptDir(session, 1), 'hooks.jsonl')).map((l) => l.state);
    assert.deepEqual(states, ['working', 'working', 'working', 'waiting', 'working', 'idle']);
    assert.equal(runs(dir).length, 1);
    assert.deepEqual((await h.ok(['logs', 'perm', '--events'])).trim().split('\n').map((l) => JSON.parse(l).event),
      ['SessionStart', 'UserPromptSubmit', 'PreToolUse', 'PermissionRequest', 'PostToolUse', 'Stop']);
    assert.ok(fs.readFileSync(personal).equals(before), "the person's ~/.codex/config.toml changed");
    assert.deepEqual(fs.readdirSync(path.dirname(personal)), listing, "a file appeared in the person's ~/.codex");
  });

  it('kill -9 of the Node wrapper, its native TUI still running: that one is ended first (never two writers), then resumed by its exact id once', async () => {
    const { dir } = setUp('crash');
    h.monitor(['--interval', '60']);
    await h.ok(['start', 'codex', 'crash', '--interactive', '--dir', dir, '--prompt', 'hello']);
    const session = 'codex-crash';
    await idleAfterTurn(session, dir);
    const id = h.record(session)!.agentSessionId!;
    assert.ok(id);
    const [first] = runs(dir);
    process.kill(first.wrapperPid, 'SIGKILL');
    const again = await waitFor(() => runs(dir)[1], 'the resume');
    const exits = lines<{ pid: number; at: number; how: string }>(path.join(dir, '.fixture-exits.jsonl'));
    const gone = exits.find((e) => e.pid === first.pid && e.how === 'SIGTERM');
    assert.ok(gone, 'the native TUI that outlived its wrapper was ended');
    assert.ok(gone.at <= again.startedAt, 'ended before the resume began');
    assert.equal(lines(path.join(dir, '.fixture-writers.jsonl')).length, 0, 'never two writers in one session');
    assert.equal(again.mode, 'resume');
    assert.equal(again.sessionId, id);
    assert.equal(again.argv[0], 'resume');
    assert.deepEqual(again.argv.slice(-2), ['--', id]);
    assert.equal(again.prompt, '', "a resume types nothing on the person's behalf");
    assert.equal(again.tty, true);
    // No hook says anything until the person's next prompt: its still pane says idle.
    const idle = await waitFor(() => (h.record(session)?.attempts.length === 2 && h.record(session)?.state === 'idle' ? h.record(session) : undefined), 'idle again in attempt 2', 20_000);
    assert.match(idle.stateReason ?? '', /still .* no hook has said anything/);
    const r = h.record(session)!;
    assert.equal(r.attempts[0].exitCode, 137);
    assert.deepEqual([r.attempts[1].cause, r.attempts[1].mode], ['crash', 'resume']);
    assert.match(await paneText(session), /resumed .* \(2 messages\)/);
    // The next prompt: SessionStart (resume) with the same id, then its turn.
    await h.ok(['send', 'crash', 'and then?']);
    await waitFor(async () => /done: and then\?/.test(await paneText(session)), 'its answer');
    assert.equal(fired(dir).filter((f) => f.event === 'SessionStart' && f.pid === again.pid)[0]?.source, 'resume');
    await waitFor(() => h.record(session)?.state === 'idle' && h.record(session)?.stateReason === 'its turn is over: your move', 'idle after the turn');
    assert.equal(h.record(session)!.agentSessionId, id);
    assert.equal(runs(dir).length, 2);
    assert.equal(h.record(session)!.attempts.length, 2);
    // Its transcript: the conversation from Codex's own session log (named by its hooks), across both runs.
    const logs = (await h.ok(['logs', 'crash'])).split('\n');
    assert.match(logs[0], new RegExp(`Codex's own log of the session: .*${id}\\.jsonl`));
    assert.deepEqual(logs.slice(1).filter((l) => /^[›●] /.test(l)), ['› hello', '● done: hello', '› and then?', '● done: and then?']);
  });

  it('Esc fires Interrupt: idle within 2 s', async () => {
    const { dir } = setUp('esc');
    h.monitor(['--interval', '60']);
    await h.ok(['start', 'codex', 'esc', '--interactive', '--dir', dir, '--prompt', 'a slow one']);
    const session = 'codex-esc';
    await waitFor(() => fired(dir).find((f) => f.event === 'UserPromptSubmit'), 'the prompt submitted');
    await waitFor(() => h.record(session)?.state === 'running' && h.record(session)?.agentSessionId, 'at work, its id known');
    await waitFor(async () => /Working \(\d+s/.test(await paneText(session)), 'its timer moving');
    await h.tmux(['send-keys', '-t', `=${session}:`, 'Escape']);
    const pressed = Date.now();
    const idle = await waitFor(() => (h.record(session)?.state === 'idle' ? h.record(session) : undefined), 'idle after Esc', 10_000);
    const after = Date.parse(idle.stateSince) - pressed;
    console.log(`      idle recorded ${after} ms after Esc (Interrupt hook): ${idle.stateReason}`);
    assert.equal(idle.stateReason, 'interrupted (Esc): your move');
    assert.ok(after < 2000, `${after} ms`);
  });

  it('/new: no hook until its next prompt, whose SessionStart gives the new id, taken by the record (a resume then opens that one)', async () => {
    const { dir } = setUp('new');
    h.monitor(['--interval', '60']);
    await h.ok(['start', 'codex', 'new', '--interactive', '--dir', dir, '--prompt', 'hello']);
    const session = 'codex-new';
    await idleAfterTurn(session, dir);
    const first = h.record(session)!.agentSessionId!;
    await h.ok(['send', 'new', '/new']);
    await waitFor(async () => /\(new session\)/.test(await paneText(session)), 'the new session');
    assert.equal(h.record(session)!.agentSessionId, first, 'no hook yet: the id stays');
    await h.ok(['send', 'new', 'second']);
    const starts = await waitFor(() => (fired(dir).filter((f) => f.event === 'SessionStart').length === 2 ? fired(dir).filter((f) => f.event === 'SessionStart') : undefined), 'its SessionStart');
    assert.notEqual(starts[1].sessionId, first);
    await waitFor(() => h.record(session)?.agentSessionId === starts[1].sessionId, 'the new id in the record');
    process.kill(runs(dir)[0].wrapperPid, 'SIGKILL');
    const again = await waitFor(() => runs(dir)[1], 'the resume');
    assert.deepEqual([again.mode, again.sessionId], ['resume', starts[1].sessionId]);
  });

  it('killed before its first prompt (no session yet, no id): opened again empty, saying why', async () => {
    const { dir } = setUp('early');
    h.monitor(['--interval', '60']);
    await h.ok(['start', 'codex', 'early', '--interactive', '--dir', dir]);
    const session = 'codex-early';
    const [first] = await waitFor(() => (runs(dir).length ? runs(dir) : undefined), 'its TUI');
    await waitFor(() => h.record(session)?.state === 'idle', 'idle at its empty prompt', 20_000);
    assert.equal(h.record(session)!.agentSessionId, null);
    process.kill(first.wrapperPid, 'SIGKILL');
    const fresh = await waitFor(() => runs(dir)[1], 'started again');
    assert.equal(fresh.mode, 'start');
    assert.equal(fresh.prompt, '');
    const r = await waitFor(() => (h.record(session)?.attempts.length === 2 ? h.record(session) : undefined), 'attempt 2');
    assert.deepEqual([r.attempts[1].cause, r.attempts[1].mode], ['restart', 'start']);
    assert.match(r.attempts[1].note ?? '', /codex had not reported a thread id/);
    assert.ok(lines<{ pid: number; how: string }>(path.join(dir, '.fixture-exits.jsonl')).some((e) => e.pid === first.pid && e.how === 'SIGTERM'));
  });

  it('a Codex session started by hand the seed\'s way, its id in its id file: taken over by resume --interactive, its TUI supervised by its hooks from then on', async () => {
    const { dir } = setUp('byhand');
    h.monitor(['--interval', '60']);
    const name = `byhand${process.pid}`;
    const session = `codex-${name}`;
    const id = '01a24dcf-0000-7000-8000-00000000beef';
    // The session Codex kept of the run started by hand, and the id file the seed's way writes.
    const sessions = path.join(h.env.FIXTURE_HOME!, 'codex-sessions');
    fs.mkdirSync(sessions, { recursive: true });
    fs.writeFileSync(path.join(sessions, `${id}.jsonl`), `${JSON.stringify({ type: 'response_item', payload: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'by hand' }] } })}\n`);
    const idFile = `/tmp/${session}.codex-session-id`;
    fs.writeFileSync(idFile, `${id}\n`);
    try {
      await h.tmux(['new-session', '-d', '-s', session, '-c', dir, 'sh', '-c', 'echo "codex crashed"; printf "user@host:~/proj$ "; exec sleep 600']);
      await waitFor(async () => (await listed(session))?.state === 'failed', 'its shell prompt back: ended');
      assert.match(await h.ok(['resume', name, '--interactive']), new RegExp(`^${session}: attempt 1 resumes session ${id} in its TUI \\(interactive\\)`));
      const run = await waitFor(() => runs(dir)[0], 'its TUI resumed');
      assert.deepEqual([run.mode, run.sessionId, run.bypass, run.tty], ['resume', id, true, true]);
      assert.deepEqual(run.argv.slice(-2), ['--', id]);
      const r = h.record(session)!;
      assert.deepEqual([r.mode, r.adopted, r.agentSessionId], ['interactive', true, id]);
      // Supervised from now on: its hooks give its state, a kill -9 is resumed by the same id.
      await h.ok(['send', name, 'and now?']);
      await waitFor(() => h.record(session)?.state === 'idle' && fired(dir).some((f) => f.event === 'Stop'), 'idle after its turn, from its hooks');
      process.kill(run.wrapperPid, 'SIGKILL');
      const again = await waitFor(() => runs(dir)[1], 'resumed after the kill');
      assert.deepEqual([again.mode, again.sessionId], ['resume', id]);
      assert.equal(lines(path.join(dir, '.fixture-writers.jsonl')).length, 0, 'never two writers');
    } finally {
      fs.rmSync(idFile, { force: true });
    }
  });

  it('/exit: stopped by the person (status 0), never resumed', async () => {
    const { dir } = setUp('exit');
    h.monitor(['--interval', '60']);
    await h.ok(['start', 'codex', 'exit', '--interactive', '--dir', dir, '--prompt', 'hello']);
    const session = 'codex-exit';
    await idleAfterTurn(session, dir);
    await h.ok(['send', 'exit', '/exit']);
    const held = await waitFor(() => (h.record(session)?.state === 'held' ? h.record(session) : undefined), 'stopped');
    assert.match(held.stateReason ?? '', /^stopped by the user: Codex exited with status 0/);
    assert.equal(held.attempts[0].exitCode, 0);
    await h.ok(['monitor', '--once']);
    assert.equal(runs(dir).length, 1);
    assert.equal(h.record(session)!.attempts.length, 1);
    assert.ok(fired(dir).some((f) => f.event === 'SessionEnd'));
    // A follow-up the person asks for: its session resumed by id with the follow-up as its first prompt.
    const id = h.record(session)!.agentSessionId!;
    await h.ok(['continue', 'exit', '--prompt', 'back again']);
    const again = await waitFor(() => runs(dir)[1], 'the resume with the follow-up');
    assert.deepEqual([again.mode, again.sessionId, again.prompt], ['resume', id, 'back again']);
    assert.deepEqual(again.argv.slice(-3), ['--', id, 'back again']);
    await waitFor(() => (h.record(session)?.state === 'idle' && h.record(session)?.attempts.length === 2 ? true : undefined), 'idle after the follow-up');
    assert.equal(h.record(session)!.attempts[1].cause, 'follow-up');
  });
});
