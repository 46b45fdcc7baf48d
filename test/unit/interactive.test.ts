import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ADAPTERS } from '../../src/core/agents/registry';
import { readClaudeHook } from '../../src/core/agents/claude';
import { evaluate } from '../../src/core/decide/classify';
import type { Observation } from '../../src/core/decide/observation';
import type { Policy } from '../../src/core/decide/policy';
import type { HookState } from '../../src/core/model/interactive';
import type { Attempt, TaskRecord } from '../../src/core/model/record';
import { RECORD_VERSION } from '../../src/core/model/record';
import { readHookState, recordHook } from '../../src/core/store/hooks';
import { TaskStore } from '../../src/core/store/store';
import { testRecord } from '../tools/records';

const MIN = 60_000;
const policy: Policy = { intervalMs: 3 * MIN, backoffFactor: 2, maxBackoffMs: 60 * MIN, maxRuntimeMs: 300 * MIN, maxAttempts: 10 };
const T0 = Date.parse('2026-03-01T08:00:00.000Z');
const iso = (t: number) => new Date(t).toISOString();
const ID = '3f1c2a4e-0000-4000-8000-000000000001';

function tui(attempts: Attempt[], over: Partial<TaskRecord> = {}): TaskRecord {
  return testRecord({ agent: 'claude', session: 'claude-fix', agentSessionId: ID, attempts, mode: 'interactive', ...over }, iso(T0));
}

function attempt(n: number, end: number | null = null, exitCode: number | null = null): Attempt {
  return { n, cause: n === 1 ? 'start' : 'crash', mode: n === 1 ? 'start' : 'resume', startedAt: iso(T0), endedAt: end === null ? null : iso(end), exitCode, signal: null, note: null };
}

const pane = (dead = false, status: number | null = null) => ({
  session: 'claude-fix', windowIndex: 0, paneIndex: 0, paneId: '%1', pid: 1, dead, deadStatus: status, deadSignal: null,
  activity: 0, currentCommand: 'claude', created: 0, serverPid: 7,
});

function obs(o: Partial<Observation> = {}): Observation {
  return { pane: pane(), attempt: { started: true, pid: 1, exitCode: null, exitAt: null, serverPid: 7 }, serverPid: 7, ...o };
}

const hook = (state: HookState['state'], over: Partial<HookState> = {}): HookState => ({ state, event: 'x', at: T0, ...over });
const exited = (code: number) => ({ attempt: { started: true, pid: 1, exitCode: code, exitAt: new Date(T0 + MIN), serverPid: 7 }, pane: pane(true, code) });

describe("Claude Code's hooks read as states", () => {
  // Every reading names Claude Code's own log of the session (its transcript_path): the rest compared here.
  const read = (p: Record<string, unknown>) => {
    const r = readClaudeHook({ session_id: ID, transcript_path: '/t.jsonl', cwd: '/p', ...p });
    if (!r) return r;
    assert.equal(r.log, '/t.jsonl');
    const { log: _log, ...rest } = r;
    return rest;
  };

  it('working on a prompt and around tools, waiting on a permission, idle when its turn ends', () => {
    assert.deepEqual(read({ hook_event_name: 'UserPromptSubmit', prompt: 'hi' }), { state: 'working', sessionId: ID });
    assert.equal(read({ hook_event_name: 'PreToolUse', tool_name: 'Bash' })?.state, 'working');
    assert.equal(read({ hook_event_name: 'PostToolUse', tool_name: 'Bash' })?.state, 'working');
    assert.deepEqual(read({ hook_event_name: 'PermissionRequest', tool_name: 'Bash' }), { state: 'waiting', reason: 'permission to use Bash', sessionId: ID });
    assert.equal(read({ hook_event_name: 'Notification', notification_type: 'permission_prompt', message: 'Claude needs your permission to use Bash' })?.state, 'waiting');
    assert.equal(read({ hook_event_name: 'Notification', notification_type: 'elicitation_dialog' })?.state, 'waiting');
    assert.equal(read({ hook_event_name: 'Notification', notification_type: 'idle_prompt' })?.state, 'idle');
    assert.equal(read({ hook_event_name: 'Notification', notification_type: 'auth_success' }), undefined);
    assert.deepEqual(read({ hook_event_name: 'Stop', stop_hook_active: false }), { state: 'idle', sessionId: ID });
    assert.equal(read({ hook_event_name: 'SessionStart', source: 'startup' })?.state, 'idle');
    assert.equal(read({ hook_event_name: 'SessionStart', source: 'compact' }), undefined);
  });

  it('an API error ends the turn with StopFailure: idle, saying so (Stop never fires then)', () => {
    const r = read({ hook_event_name: 'StopFailure', error: 'rate_limit' });
    assert.equal(r?.state, 'idle');
    assert.match(r?.reason ?? '', /error: rate_limit$/);
    // Claude Code 2.1.332's StopFailure: error (a kind), error_details, last_assistant_message.
    assert.equal(read({ hook_event_name: 'StopFailure', error: 'unknown', error_details: '400 bad request test' })?.reason, 'its turn ended on an error: unknown: 400 bad request test');
  });

  it("the person's exit ends it by the person; /clear and /resume are no end; anything else is not the person's", () => {
    assert.deepEqual(read({ hook_event_name: 'SessionEnd', reason: 'prompt_input_exit' }), { state: 'ended', reason: 'the person exited Claude Code', byPerson: true, sessionId: ID });
    assert.equal(read({ hook_event_name: 'SessionEnd', reason: 'logout' })?.byPerson, true);
    assert.equal(read({ hook_event_name: 'SessionEnd', reason: 'clear' }), undefined);
    assert.equal(read({ hook_event_name: 'SessionEnd', reason: 'resume' }), undefined);
    assert.equal(read({ hook_event_name: 'SessionEnd', reason: 'other' })?.byPerson, false);
  });

  it('odd payloads say nothing and never throw', () => {
    for (const p of [{}, { hook_event_name: 42 }, { hook_event_name: 'Nope' }, { hook_event_name: 'PermissionRequest', tool_name: {} }]) {
      assert.doesNotThrow(() => readClaudeHook(p));
    }
    assert.equal(readClaudeHook({ hook_event_name: 'Stop' })?.sessionId, undefined);
  });

  it("the settings file: every hook runs the product's argv, quoted for Claude Code's shell", () => {
    const settings = JSON.parse(ADAPTERS.claude.interactive!.settingsFile(['/usr/bin/node', "/o p/it's/cli.js", 'hook', 'claude', '/s/a/1', '/s/wake']));
    for (const event of ['UserPromptSubmit', 'PreToolUse', 'PermissionRequest', 'Notification', 'Stop', 'StopFailure', 'SessionEnd', 'SessionStart']) {
      const entry = settings.hooks[event][0].hooks[0];
      assert.equal(entry.type, 'command');
      assert.equal(entry.command, `'/usr/bin/node' '/o p/it'\\''s/cli.js' 'hook' 'claude' '/s/a/1' '/s/wake'`);
    }
    assert.deepEqual(Object.keys(settings), ['hooks']);
  });

  it('argv: the id chosen up front, the settings file, the first prompt one element after "--"; a resume types nothing', () => {
    const t = tui([], { agentArgs: { modeArgs: ['--dangerously-skip-permissions'], extraArgs: ['--model', 'x'], continuePrompt: 'go on' } });
    const s = { executable: '/bin/claude', ...t.agentArgs };
    assert.deepEqual(ADAPTERS.claude.interactive!.startArgs(t, s, '/a/agent-settings.json', '-rf and "quotes"'),
      ['--session-id', ID, '--settings', '/a/agent-settings.json', '--model', 'x', '--', '-rf and "quotes"']);
    assert.deepEqual(ADAPTERS.claude.interactive!.startArgs(t, s, '/a/s.json', undefined), ['--session-id', ID, '--settings', '/a/s.json', '--model', 'x']);
    assert.deepEqual(ADAPTERS.claude.interactive!.resumeArgs(t, s, '/a/s.json', undefined), ['--resume', ID, '--settings', '/a/s.json', '--model', 'x']);
    assert.deepEqual(ADAPTERS.claude.interactive!.resumeArgs(t, s, '/a/s.json', 'and then?').slice(-2), ['--', 'and then?']);
  });
});

describe('evaluate: an interactive task', () => {
  const live = tui([attempt(1)], { state: 'running' });

  it('its hooks, not its pane, say working, waiting for you, or idle', () => {
    assert.equal(evaluate(live, obs(), T0 + MIN, ADAPTERS.claude, policy).state, 'running');
    const waiting = evaluate(live, obs({ hook: hook('waiting', { reason: 'permission to use Bash' }) }), T0 + MIN, ADAPTERS.claude, policy);
    assert.equal(waiting.state, 'waiting');
    assert.equal(waiting.reason, 'waits for you: permission to use Bash');
    const idle = evaluate(live, obs({ hook: hook('idle') }), T0 + MIN, ADAPTERS.claude, policy);
    assert.equal(idle.state, 'idle');
    assert.equal(idle.action.kind, 'none');
    // A prompt seen in the pane on passes in a row does not count: the hooks would have said.
    assert.equal(evaluate(live, obs({ hook: hook('working'), waitingStreak: 5 }), T0 + MIN, ADAPTERS.claude, policy).state, 'running');
  });

  it('a pane still for 5 s while its hooks last said working: interrupted (Esc fires no hook), idle; else looked at again then', () => {
    const t = T0 + 10 * MIN;
    const stillPane = (secondsAgo: number) => ({ ...pane(), activity: Math.floor((t - secondsAgo * 1000) / 1000) - 1 });
    const idle = evaluate(live, obs({ pane: stillPane(6), hook: hook('working', { at: t - 20_000 }) }), t, ADAPTERS.claude, policy);
    assert.equal(idle.state, 'idle');
    assert.match(idle.reason ?? '', /still for 6 s and its last hook said working: interrupted/);
    const moving = evaluate(live, obs({ pane: stillPane(1), hook: hook('working', { at: t - 20_000 }) }), t, ADAPTERS.claude, policy);
    assert.equal(moving.state, 'running');
    assert.equal(moving.recheckAt, t - 1000 + 5000);
    // A hook a moment ago counts as movement too.
    assert.equal(evaluate(live, obs({ pane: stillPane(60), hook: hook('working', { at: t - 2000 }) }), t, ADAPTERS.claude, policy).state, 'running');
    // Waiting for a person, its pane is still of course.
    assert.equal(evaluate(live, obs({ pane: stillPane(60), hook: hook('waiting', { at: t - 60_000 }) }), t, ADAPTERS.claude, policy).state, 'waiting');
  });

  it('an unattended task reads its pane as before', () => {
    const unattended = tui([attempt(1)], { state: 'running', mode: 'unattended' });
    assert.equal(evaluate(unattended, obs({ hook: hook('idle'), waitingStreak: 2 }), T0 + MIN, ADAPTERS.claude, policy).state, 'waiting');
    assert.equal(evaluate({ ...unattended, mode: undefined }, obs({ hook: hook('idle') }), T0 + MIN, ADAPTERS.claude, policy).state, 'running');
  });

  it('a TUI that exited with status 0 was left by the person: held, never resumed', () => {
    const ev = evaluate(live, obs(exited(0)), T0 + 2 * MIN, ADAPTERS.claude, policy);
    assert.equal(ev.state, 'held');
    assert.match(ev.reason ?? '', /^stopped by the user: Claude Code exited with status 0/);
    assert.equal(ev.action.kind, 'none');
  });

  it("the person's SessionEnd counts whatever status follows; another SessionEnd does not", () => {
    const mine = evaluate(live, obs({ ...exited(1), hook: hook('ended', { byPerson: true, reason: 'the person exited Claude Code' }) }), T0 + 2 * MIN, ADAPTERS.claude, policy);
    assert.equal(mine.state, 'held');
    assert.equal(mine.action.kind, 'none');
    const other = evaluate(live, obs({ ...exited(1), hook: hook('ended', { byPerson: false }) }), T0 + 2 * MIN, ADAPTERS.claude, policy);
    assert.deepEqual(other.action, { kind: 'launch', cause: 'crash', mode: 'resume' });
  });

  it('kill -9 (137) is a crash, resumed by id; a tmux server gone is a loss, resumed by id', () => {
    assert.deepEqual(evaluate(live, obs(exited(137)), T0 + 2 * MIN, ADAPTERS.claude, policy).action, { kind: 'launch', cause: 'crash', mode: 'resume' });
    const lost = evaluate(live, obs({ pane: undefined, serverPid: 99, hook: hook('idle') }), T0 + 2 * MIN, ADAPTERS.claude, policy);
    assert.equal(lost.state, 'lost');
    assert.deepEqual(lost.action, { kind: 'launch', cause: 'lost', mode: 'resume' });
  });

  it('learns the session id its hooks give (a /clear starts another)', () => {
    const ev = evaluate(live, obs({ hook: hook('idle', { sessionId: 'another' }) }), T0 + MIN, ADAPTERS.claude, policy);
    assert.equal(ev.agentSessionId, 'another');
    assert.equal(evaluate(live, obs({ hook: hook('idle', { sessionId: ID }) }), T0 + MIN, ADAPTERS.claude, policy).agentSessionId, undefined);
  });
});

describe('the hook file', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ra-hook-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('keeps the latest reading by when its hook started, and logs every one', () => {
    assert.equal(recordHook(dir, { state: 'working' }, 'UserPromptSubmit', 50).changed, true);
    assert.equal(recordHook(dir, { state: 'working' }, 'PreToolUse', 100).changed, false, 'still working: no pass needed');
    assert.equal(recordHook(dir, { state: 'waiting', reason: 'permission to use Bash' }, 'PermissionRequest', 200).changed, true);
    // A hook started earlier that got through its start-up later: logged, not made the state.
    assert.equal(recordHook(dir, { state: 'working' }, 'PostToolUse', 150).changed, false);
    assert.deepEqual(readHookState(dir), { state: 'waiting', reason: 'permission to use Bash', event: 'PermissionRequest', at: 200 });
    assert.equal(fs.readFileSync(path.join(dir, 'hooks.jsonl'), 'utf8').trim().split('\n').length, 4);
  });

  it('an unreadable file is no state', () => {
    fs.writeFileSync(path.join(dir, 'hook.json'), '{"state":"sleeping"');
    assert.equal(readHookState(dir), undefined);
  });
});

describe('record version 6', () => {
  it('reads a version 5 record as unattended, and makes new ones with their mode', () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ra-rec-'));
    try {
      const store = new TaskStore(home);
      store.init();
      const old = { ...testRecord(), version: 5 } as Record<string, unknown>;
      delete old.mode;
      fs.mkdirSync(store.paths.taskDir(old.session as string), { recursive: true });
      fs.writeFileSync(path.join(store.paths.taskDir(old.session as string), 'task.json'), JSON.stringify(old));
      const read = store.get(old.session as string);
      assert.equal(read?.version, RECORD_VERSION);
      assert.equal(read?.mode, undefined);
      assert.equal(testRecord().mode, 'unattended');
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
