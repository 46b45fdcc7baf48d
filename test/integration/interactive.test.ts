import * as assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, harnessPerTest, REPO, waitFor } from './harness';
import { processesWithEnv } from '../tools/processes';

/** The fixture of Claude Code's TUI and hooks (test/fixtures/tui.mjs). */
const TUI = path.join(REPO, 'test', 'fixtures', 'tui.mjs');

interface Listed { session: string; state: string; reason: string | null; mode: string | null; agentSessionId: string | null; attempts: { n: number; cause: string; mode: string }[] }
interface Fired { event: string; at: number; pid: number }
interface Run { argv: string[]; pid: number; mode: string; sessionId: string; prompt: string; tty: boolean }

describe('interactive tasks: a TUI in its pane, its state from its own hooks (fixture of Claude Code, real tmux)', function () {
  this.timeout(90_000);
  const h = harnessPerTest();

  /** `claude` on the world's PATH is the TUI fixture; the person's own Claude settings exist. */
  function setUp(project: string): { dir: string; personal: string; before: Buffer } {
    fs.writeFileSync(path.join(h.bin, 'claude'), `#!/bin/sh\nexec '${process.execPath}' '${TUI}' "$@"\n`, { mode: 0o755 });
    const personal = path.join(h.env.HOME!, '.claude', 'settings.json');
    fs.mkdirSync(path.dirname(personal), { recursive: true });
    fs.writeFileSync(personal, '{\n  "theme": "dark",\n  "hooks": {}\n}\n');
    return { dir: h.project(project), personal, before: fs.readFileSync(personal) };
  }

  async function listed(session: string): Promise<Listed | undefined> {
    return (JSON.parse(await h.ok(['list', '--json'])) as Listed[]).find((t) => t.session === session);
  }

  const fired = (dir: string): Fired[] => {
    const file = path.join(dir, '.fixture-hooks.jsonl');
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
  };
  /** Its first turn over (Stop fired; SessionStart's idle comes before the prompt's turn) and recorded. */
  const idleAfterTurn = async (session: string, dir: string) => {
    await waitFor(() => fired(dir).some((f) => f.event === 'Stop'), 'the end of the first turn');
    await waitFor(() => h.record(session)?.state === 'idle', 'idle after the first turn');
  };
  const runs = (dir: string): Run[] => h.invocations(dir) as unknown as Run[];
  const paneText = async (session: string) => (await h.tmux(['capture-pane', '-p', '-t', `=${session}:`])).stdout;

  it('starts with a first prompt, is waiting for you within 2 s of a permission, answered by send, then idle; the person\'s settings untouched', async () => {
    const { dir, personal, before } = setUp('perm');
    // A long interval: what moves the supervisor here is the hooks' wake, not its timer.
    h.monitor(['--interval', '60']);
    await h.ok(['start', 'claude', 'perm', '--interactive', '--dir', dir, '--prompt', 'please ask permission to touch a file']);
    const session = 'claude-perm';
    const asked = await waitFor(() => fired(dir).find((f) => f.event === 'PermissionRequest'), 'the permission prompt');
    // As a person sees it: `list --json` says waiting, and the supervisor recorded it.
    const seen = await waitFor(async () => ((await listed(session))?.state === 'waiting' ? Date.now() : undefined), 'waiting in list', 10_000);
    const recorded = await waitFor(() => (h.record(session)?.state === 'waiting' ? h.record(session) : undefined), 'waiting recorded', 10_000);
    const recordedAfter = Date.parse(recorded.stateSince) - asked.at;
    console.log(`      waiting: recorded ${recordedAfter} ms after PermissionRequest fired; list --json showed it ${seen - asked.at} ms after`);
    assert.ok(recordedAfter < 2000, `waiting recorded ${recordedAfter} ms after the prompt`);
    assert.ok(seen - asked.at < 2000, `list showed waiting ${seen - asked.at} ms after the prompt`);
    const task = (await listed(session))!;
    assert.equal(task.mode, 'interactive');
    assert.equal(task.reason, 'waits for you: permission to use Bash');
    assert.match(await paneText(session), /Do you want to proceed\?/);

    // The TUI has the pane's terminal; the id was chosen up front; the prompt is one argv element.
    const [run] = runs(dir);
    assert.equal(run.tty, true);
    assert.equal(run.mode, 'start');
    assert.equal(run.sessionId, task.agentSessionId);
    assert.deepEqual(run.argv.slice(0, 2), ['--session-id', task.agentSessionId]);
    assert.equal(run.argv[2], '--settings');
    assert.ok(run.argv[3].startsWith(h.store.paths.attemptDir(session, 1)), run.argv[3]);
    assert.deepEqual(run.argv.slice(-2), ['--', 'please ask permission to touch a file']);

    await h.ok(['send', 'perm', '1']);
    await waitFor(() => fs.existsSync(path.join(dir, 'made-by-tool')), 'the tool run after the answer');
    await waitFor(async () => (await listed(session))?.state === 'idle', 'idle after its turn');
    await waitFor(() => h.record(session)?.state === 'idle', 'idle recorded');
    const states = fs.readFileSync(path.join(h.store.paths.attemptDir(session, 1), 'hooks.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l).state);
    assert.deepEqual(states, ['idle', 'working', 'working', 'waiting', 'working', 'idle']);
    assert.equal(runs(dir).length, 1);
    // logs: the TUI as its pane shows it; --events: what its hooks said.
    assert.match(await h.ok(['logs', 'perm']), /ran the tool/);
    assert.deepEqual((await h.ok(['logs', 'perm', '--events'])).trim().split('\n').map((l) => JSON.parse(l).event),
      ['SessionStart', 'UserPromptSubmit', 'PreToolUse', 'PermissionRequest', 'PostToolUse', 'Stop']);
    assert.ok(fs.readFileSync(personal).equals(before), "the person's ~/.claude/settings.json changed");
  });

  it('kill -9 of the TUI: resumed by its exact id in the same pane, once, nothing typed into it', async () => {
    const { dir } = setUp('crash');
    h.monitor(['--interval', '60']);
    await h.ok(['start', 'claude', 'crash', '--interactive', '--dir', dir, '--prompt', 'hello']);
    const session = 'claude-crash';
    await idleAfterTurn(session, dir);
    const pane = (await h.tmux(['display-message', '-p', '-t', `=${session}:`, '#{pane_id}'])).stdout.trim();
    const [first] = runs(dir);
    // Resumed, it reads no key for 1.5 s after its SessionStart (a long session to load).
    fs.writeFileSync(path.join(dir, '.fixture-start-block-ms'), '1500');
    process.kill(first.pid, 'SIGKILL');
    const again = await waitFor(() => runs(dir)[1], 'the resume');
    assert.equal(again.mode, 'resume');
    assert.equal(again.sessionId, first.sessionId);
    assert.deepEqual(again.argv.slice(0, 2), ['--resume', first.sessionId]);
    assert.equal(again.prompt, '', 'a resume types nothing on the person\'s behalf');
    assert.equal(again.tty, true);
    await waitFor(() => h.record(session)?.state === 'idle' && h.record(session)?.attempts.length === 2, 'idle again in attempt 2');
    const r = h.record(session)!;
    assert.equal(r.attempts[0].exitCode, 137);
    assert.deepEqual([r.attempts[1].cause, r.attempts[1].mode], ['crash', 'resume']);
    assert.equal((await h.tmux(['display-message', '-p', '-t', `=${session}:`, '#{pane_id}'])).stdout.trim(), pane);
    assert.match(await paneText(session), /Resumed session .* \(2 messages\)/);
    assert.equal(runs(dir).length, 2);
    // A follow-up on it, idle at its prompt but still starting: typed into its TUI, no new attempt;
    // its Enter waits until the TUI shows the text (sent with the text, it would be a newline in a paste).
    assert.match(await h.ok(['continue', 'crash', '--prompt', 'and then?']), /typed into its TUI/);
    await waitFor(() => fired(dir).some((f) => f.event === 'UserPromptSubmit' && f.pid === again.pid), 'the follow-up submitted');
    await waitFor(async () => /done: and then\?/.test(await paneText(session)), 'its answer');
    assert.equal(h.record(session)!.attempts.length, 2);
    // Its transcript: the conversation from Claude Code's own session log (named by its hooks), across both runs.
    await waitFor(() => h.record(session)?.state === 'idle', 'idle after the follow-up');
    const logs = (await h.ok(['logs', 'crash'])).split('\n');
    assert.match(logs[0], new RegExp(`Claude Code's own log of the session: .*${first.sessionId}\\.jsonl`));
    assert.deepEqual(logs.slice(1).filter((l) => /^[›●] /.test(l)), ['› hello', '● done: hello', '› and then?', '● done: and then?']);
    assert.match(await h.ok(['logs', 'crash', '--raw']), /Resumed session/, 'the pane, as tmux has it');
    // Its tokens and last words: the whole conversation's, from the same log (12 in and 3 out a reply).
    const status = JSON.parse(await h.ok(['status', 'crash', '--json']));
    assert.deepEqual([status.usage, status.lastMessage], [{ inputTokens: 24, cachedInputTokens: 0, outputTokens: 6 }, 'done: and then?']);
  });

  it('tmux kill-server: resumed by its exact id in a new pane', async () => {
    const { dir } = setUp('server');
    h.monitor(['--interval', '60']);
    await h.ok(['start', 'claude', 'server', '--interactive', '--dir', dir, '--prompt', 'hello']);
    const session = 'claude-server';
    await idleAfterTurn(session, dir);
    await h.tmux(['kill-server']);
    const again = await waitFor(() => runs(dir)[1], 'the resume');
    assert.deepEqual([again.mode, again.sessionId], ['resume', runs(dir)[0].sessionId]);
    await waitFor(() => h.record(session)?.state === 'idle' && h.record(session)?.attempts.length === 2, 'idle again in attempt 2');
    assert.equal(h.record(session)!.attempts[1].cause, 'lost');
    assert.equal(runs(dir).length, 2);
  });

  it('a reboot (the TUI, tmux and every process of ours gone at once; the supervisor started as its systemd unit starts it, nobody at the keyboard): resumed by its exact id in a new pane', async () => {
    const { dir } = setUp('boot');
    h.configure({}); // supervised as by default: the background supervisor
    await h.ok(['start', 'claude', 'boot', '--interactive', '--dir', dir, '--prompt', 'hello']);
    const session = 'claude-boot';
    await idleAfterTurn(session, dir);
    const [first] = runs(dir);
    const ours = () => processesWithEnv(`RESILIENT_AGENT_HOME=${h.home}`).filter((pid) => pid !== process.pid);
    const down = ours();
    assert.ok(down.includes(first.pid), 'its TUI is one of them');
    for (const pid of down) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone already */
      }
    }
    await waitFor(() => ours().length === 0, 'the machine down');
    // Up again: the unit's ExecStart (node cli.js monitor --background), and no other command.
    spawn(process.execPath, [CLI, 'monitor', '--background'], { env: h.env, detached: true, stdio: 'ignore' }).unref();
    const again = await waitFor(() => runs(dir)[1], 'resumed after the reboot');
    assert.deepEqual([again.mode, again.sessionId, again.prompt, again.tty], ['resume', first.sessionId, '', true]);
    const r = await waitFor(() => (h.record(session)?.state === 'idle' && h.record(session)?.attempts.length === 2 ? h.record(session) : undefined), 'idle again in attempt 2');
    assert.deepEqual([r.attempts[1].cause, r.attempts[1].mode], ['lost', 'resume']);
    assert.match(await paneText(session), /Resumed session .* \(2 messages\)/);
    assert.equal(runs(dir).length, 2);
  });

  it('a TUI that outlives its pane (it ignores SIGHUP) is ended before its resume: never two writers in one session', async () => {
    const { dir } = setUp('stray');
    h.monitor(['--interval', '60']);
    await h.ok(['start', 'claude', 'stray', '--interactive', '--dir', dir, '--prompt', 'be stubborn']);
    const session = 'claude-stray';
    await idleAfterTurn(session, dir);
    const [first] = runs(dir);
    await h.tmux(['kill-server']);
    const again = await waitFor(() => runs(dir)[1], 'the resume');
    const exits = fs.readFileSync(path.join(dir, '.fixture-exits.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { pid: number; at: number; how: string });
    assert.ok(exits.some((e) => e.pid === first.pid && e.how === 'SIGHUP ignored'), 'the first run outlived its pane');
    const gone = exits.find((e) => e.pid === first.pid && e.how === 'SIGTERM');
    assert.ok(gone, 'the first run was ended');
    assert.ok(gone.at <= (again as unknown as { startedAt: number }).startedAt, 'ended before the resume began');
    assert.deepEqual([again.mode, again.sessionId], ['resume', first.sessionId]);
    await waitFor(() => h.record(session)?.state === 'idle' && h.record(session)?.attempts.length === 2, 'idle again in attempt 2');
  });

  it('Esc fires no hook: a turn interrupted is idle once its pane has been still 5 s; a turn at work is not', async () => {
    const { dir } = setUp('esc');
    h.monitor(['--interval', '60']);
    await h.ok(['start', 'claude', 'esc', '--interactive', '--dir', dir, '--prompt', 'a slow one']);
    const session = 'claude-esc';
    const began = (await waitFor(() => fired(dir).find((f) => f.event === 'UserPromptSubmit'), 'the prompt submitted')).at;
    // Working for 7 s, its spinner moving: never taken for idle.
    await waitFor(async () => {
      assert.equal((await listed(session))?.state, 'running');
      return Date.now() - began > 7_000;
    }, 'seven seconds of work', 15_000);
    await h.tmux(['send-keys', '-t', `=${session}:`, 'Escape']);
    const pressed = Date.now();
    const idle = await waitFor(() => (h.record(session)?.state === 'idle' ? h.record(session) : undefined), 'idle after Esc', 15_000);
    const after = Date.parse(idle.stateSince) - pressed;
    console.log(`      idle recorded ${after} ms after Esc (no hook fired): ${idle.stateReason}`);
    assert.match(idle.stateReason ?? '', /still for \d+ s and its last hook said working: interrupted/);
    assert.ok(after >= 4_000 && after < 8_000, `${after} ms`);
    assert.ok(!fired(dir).some((f) => f.event === 'Stop'), 'no Stop fired');
  });

  it('/clear: the new id from its hooks; killed before that session saved anything: opened again empty, its first prompt not said twice', async () => {
    const { dir } = setUp('clear');
    h.monitor(['--interval', '60']);
    await h.ok(['start', 'claude', 'clear', '--interactive', '--dir', dir, '--prompt', 'hello']);
    const session = 'claude-clear';
    await idleAfterTurn(session, dir);
    const first = runs(dir)[0];
    await h.ok(['send', 'clear', '/clear']);
    const cleared = await waitFor(() => (h.record(session)?.agentSessionId !== first.sessionId ? h.record(session) : undefined), 'the new id');
    assert.ok(cleared.agentSessionId);
    process.kill(first.pid, 'SIGKILL');
    // Its resume of the new id finds nothing saved ("No conversation found"): started again, empty.
    const fresh = await waitFor(() => runs(dir)[2], 'started again');
    assert.deepEqual([runs(dir)[1].mode, runs(dir)[1].sessionId], ['resume', cleared.agentSessionId]);
    assert.equal(fresh.mode, 'start');
    assert.equal(fresh.prompt, '', 'the first prompt is not said again');
    const r = await waitFor(() => (h.record(session)?.attempts.length === 3 && h.record(session)?.state === 'idle' ? h.record(session) : undefined), 'idle in attempt 3');
    assert.deepEqual([r.attempts[2].cause, r.attempts[2].mode], ['restart', 'start']);
    assert.match(r.attempts[2].note ?? '', /No conversation found/);
    assert.equal(r.agentSessionId, fresh.sessionId);
  });

  it('in a worktree of its own, behind the queue\'s limit: its changes reviewed with diff; the next one queued, started when its slot frees', async () => {
    const { dir } = setUp('wt');
    const git = (...args: string[]) => execFileSync('git', ['-C', dir, '-c', 'user.name=Dev', '-c', 'user.email=dev@example.com', ...args], { encoding: 'utf8' });
    fs.writeFileSync(path.join(dir, '.gitignore'), '.fixture-*\n');
    git('init', '--quiet', '--initial-branch=main');
    git('add', '.');
    git('commit', '--quiet', '-m', 'first');
    h.configure({ 'supervisor.mode': 'window', 'queue.maxRunning': 1 });
    h.monitor(['--interval', '60']);
    await h.ok(['start', 'claude', 'wt', '--interactive', '--worktree', '--dir', dir, '--prompt', 'please ask permission to touch a file']);
    const tree = path.join(h.home, 'worktrees', 'claude-wt');
    assert.equal(h.record('claude-wt')!.dir, tree);
    await waitFor(() => h.record('claude-wt')?.state === 'waiting', 'waiting for you in its worktree');
    await h.ok(['send', 'wt', '1']);
    await waitFor(() => h.record('claude-wt')?.state === 'idle' && fs.existsSync(path.join(tree, 'made-by-tool')), 'the tool ran in its worktree, idle');
    assert.ok(!fs.existsSync(path.join(dir, 'made-by-tool')), 'the checkout untouched');
    assert.match(await h.ok(['diff', 'wt']), /untracked files:\n {2}made-by-tool/);
    // An interactive TUI at its prompt holds its slot: the next start waits.
    const next = h.project('wt-next');
    assert.match(await h.ok(['start', 'claude', 'next', '--interactive', '--dir', next, '--prompt', 'hello']), /^queued claude-next/);
    await h.ok(['send', 'wt', '/exit']);
    await waitFor(() => h.record('claude-wt')?.state === 'held', 'the first exited by the person');
    await waitFor(() => runs(next).length === 1 && h.record('claude-next')?.state === 'idle', 'the queued one started once its slot freed, idle after its turn');
    assert.equal(runs(dir).length + runs(tree).length, 1, 'the first never resumed');
  });

  it('/exit: stopped by the person, never resumed', async () => {
    const { dir } = setUp('exit');
    h.monitor(['--interval', '60']);
    // No first prompt: the person types it.
    await h.ok(['start', 'claude', 'exit', '--interactive', '--dir', dir]);
    const session = 'claude-exit';
    await waitFor(() => h.record(session)?.state === 'idle', 'idle at its empty prompt');
    assert.deepEqual(runs(dir)[0].argv.slice(-1), [runs(dir)[0].argv[3]], 'no prompt argument');
    await h.ok(['send', 'exit', '/exit']);
    const held = await waitFor(() => (h.record(session)?.state === 'held' ? h.record(session) : undefined), 'stopped');
    assert.match(held.stateReason ?? '', /^stopped by the user: the person exited Claude Code/);
    assert.equal(held.attempts[0].exitCode, 0);
    assert.equal((await listed(session))?.state, 'held');
    // A pass after it (the monitor's wake on the pane's end came and went): nothing started again.
    await h.ok(['monitor', '--once']);
    assert.equal(runs(dir).length, 1);
    assert.equal(h.record(session)!.attempts.length, 1);
    assert.ok(fired(dir).some((f) => f.event === 'SessionEnd'));
  });
});
