import * as assert from 'node:assert/strict';
import { readCodexHook as readHook } from '../../src/core/agents/codex';
import { ADAPTERS } from '../../src/core/agents/registry';
import { evaluate } from '../../src/core/decide/classify';
import type { Observation } from '../../src/core/decide/observation';
import type { Policy } from '../../src/core/decide/policy';
import type { Attempt, TaskRecord } from '../../src/core/model/record';
import { testRecord } from '../tools/records';

const MIN = 60_000;
const policy: Policy = { intervalMs: 3 * MIN, backoffFactor: 2, maxBackoffMs: 60 * MIN, maxRuntimeMs: 300 * MIN, maxAttempts: 10 };
const T0 = Date.parse('2026-03-01T08:00:00.000Z');
const iso = (t: number) => new Date(t).toISOString();
const ID = '01a24d25-9ef4-7411-a27b-4abee91c6b96';
const codex = ADAPTERS.codex;

function tui(attempts: Attempt[], over: Partial<TaskRecord> = {}): TaskRecord {
  return testRecord({ agent: 'codex', session: 'codex-fix', agentSessionId: null, dir: '/home/dev/proj', attempts, mode: 'interactive', ...over }, iso(T0));
}
const attempt = (n: number, end: number | null = null, exitCode: number | null = null): Attempt =>
  ({ n, cause: n === 1 ? 'start' : 'crash', mode: n === 1 ? 'start' : 'resume', startedAt: iso(T0), endedAt: end === null ? null : iso(end), exitCode, signal: null, note: null });
const pane = (dead = false, status: number | null = null) => ({
  session: 'codex-fix', windowIndex: 0, paneIndex: 0, paneId: '%1', pid: 1, dead, deadStatus: status, deadSignal: null,
  activity: 0, currentCommand: 'codex', created: 0, serverPid: 7,
});
const obs = (o: Partial<Observation> = {}): Observation =>
  ({ pane: pane(), attempt: { started: true, pid: 1, exitCode: null, exitAt: null, serverPid: 7 }, serverPid: 7, ...o });

describe("Codex's hooks (codex-cli 0.171.0 payloads)", () => {
  const base = { session_id: ID, transcript_path: '/x/rollout.jsonl', cwd: '/home/dev/proj', model: 'gpt-5.5', permission_mode: 'default' };
  // Every reading names Codex's own log of the session (its transcript_path): the rest compared here.
  const readCodexHook = (p: Record<string, unknown>) => {
    const r = readHook(p);
    if (!r) return r;
    assert.equal(r.log, '/x/rollout.jsonl');
    const { log: _log, ...rest } = r;
    return rest;
  };

  it('SessionStart (it comes with the first prompt) is working and gives the id; a permission is waiting, saying the command; Stop and Interrupt are idle', () => {
    assert.deepEqual(readCodexHook({ ...base, hook_event_name: 'SessionStart', source: 'startup' }), { state: 'working', sessionId: ID });
    assert.deepEqual(readCodexHook({ ...base, hook_event_name: 'UserPromptSubmit', prompt: 'hi' }), { state: 'working', sessionId: ID });
    assert.deepEqual(readCodexHook({ ...base, hook_event_name: 'PermissionRequest', tool_name: 'Bash', tool_input: { command: 'echo hi > out.txt', description: 'Write out.txt' } }),
      { state: 'waiting', reason: 'permission to use Bash: echo hi > out.txt', sessionId: ID });
    assert.deepEqual(readCodexHook({ ...base, hook_event_name: 'PostToolUse', tool_name: 'Bash', tool_response: '' }), { state: 'working', sessionId: ID });
    assert.deepEqual(readCodexHook({ ...base, hook_event_name: 'Stop', stop_hook_active: false, last_assistant_message: 'OK.' }), { state: 'idle', sessionId: ID });
    assert.deepEqual(readCodexHook({ ...base, hook_event_name: 'Interrupt' }), { state: 'idle', reason: 'interrupted (Esc): your move', sessionId: ID });
  });

  it('SessionEnd ("other" for /exit and Ctrl-C alike) and unknown events say nothing: the exit status tells', () => {
    assert.equal(readCodexHook({ ...base, hook_event_name: 'SessionEnd', reason: 'other' }), undefined);
    assert.equal(readCodexHook({ ...base, hook_event_name: 'Whatever' }), undefined);
    assert.equal(readCodexHook({}), undefined);
  });

  it('argv: hooks as -c overrides with trust bypassed for this run, every element of the hook quoted for sh; the folder; the prompt after --; resume -- ID', () => {
    const t = tui([], { agentSessionId: ID, agentArgs: { modeArgs: ['-s', 'workspace-write'], extraArgs: ['-m', 'x'], continuePrompt: 'go on' } });
    const s = { executable: '/bin/codex', ...t.agentArgs };
    const hook = ['/usr/bin/node', "/opt/it's/cli.js", 'hook', 'codex', '/state/a 1', '/state/wake'];
    const start = codex.interactive!.startArgs(t, s, '/a/settings', '-rf and "quotes"', hook);
    assert.equal(start[0], '--dangerously-bypass-hook-trust');
    const overrides = start.filter((_a, i) => start[i - 1] === '-c');
    assert.deepEqual(overrides.map((o) => o.split('=')[0]), ['hooks.SessionStart', 'hooks.UserPromptSubmit', 'hooks.PreToolUse', 'hooks.PermissionRequest', 'hooks.PostToolUse', 'hooks.Stop', 'hooks.Interrupt', 'hooks.SessionEnd']);
    const command = JSON.parse(/command=("(?:[^"\\]|\\.)*")/.exec(overrides[0])![1]) as string;
    assert.equal(command, `'/usr/bin/node' '/opt/it'\\''s/cli.js' 'hook' 'codex' '/state/a 1' '/state/wake'`);
    assert.deepEqual(start.slice(-6), ['-C', '/home/dev/proj', '-m', 'x', '--', '-rf and "quotes"']);
    assert.ok(!start.includes('workspace-write'), 'no unattended approval flags');
    assert.deepEqual(codex.interactive!.startArgs(t, s, '/a/settings', undefined, hook).slice(-4), ['-C', '/home/dev/proj', '-m', 'x']);
    const resume = codex.interactive!.resumeArgs(t, s, '/a/settings', undefined, hook);
    assert.deepEqual([resume[0], resume[1]], ['resume', '--dangerously-bypass-hook-trust']);
    assert.deepEqual(resume.slice(-6), ['-C', '/home/dev/proj', '-m', 'x', '--', ID]);
    assert.deepEqual(codex.interactive!.resumeArgs(t, s, '/a/settings', 'and then?', hook).slice(-3), ['--', ID, 'and then?']);
  });
});

describe('evaluate: an interactive Codex task', () => {
  it('learns the id its hooks give (none up front); killed before any prompt (no id) it is started again empty, saying why', () => {
    const live = tui([attempt(1)], { state: 'running' });
    assert.equal(evaluate(live, obs({ hook: { state: 'working', sessionId: ID, event: 'SessionStart', at: T0 } }), T0 + 1000, codex, policy).agentSessionId, ID);
    const ev = evaluate(live, obs({ pane: pane(true, 137), attempt: { started: true, pid: 1, exitCode: 137, exitAt: new Date(T0 + 1000), serverPid: 7 } }), T0 + 2000, codex, policy);
    assert.deepEqual(ev.action, { kind: 'launch', cause: 'restart', mode: 'start', note: 'started again from its prompt: codex had not reported a thread id' });
  });

  it('kill -9 (137) after its id is known: resumed by id; status 0: stopped by the person, never resumed', () => {
    const live = tui([attempt(1)], { state: 'idle', agentSessionId: ID });
    const dead = (code: number) => obs({ pane: pane(true, code), attempt: { started: true, pid: 1, exitCode: code, exitAt: new Date(T0 + 1000), serverPid: 7 } });
    assert.deepEqual(evaluate(live, dead(137), T0 + 2000, codex, policy).action, { kind: 'launch', cause: 'crash', mode: 'resume' });
    const exited = evaluate(live, dead(0), T0 + 2000, codex, policy);
    assert.equal(exited.state, 'held');
    assert.match(exited.reason ?? '', /^stopped by the user: Codex exited with status 0/);
  });

  it('resumed, no hook until a prompt: idle once its pane is still 5 s', () => {
    const resumed = tui([attempt(1, T0, 137), attempt(2)], { state: 'resuming', agentSessionId: ID });
    const still = obs({ pane: { ...pane(), activity: Math.floor(T0 / 1000) } });
    assert.equal(evaluate(resumed, still, T0 + 3000, codex, policy).state, 'running');
    const ev = evaluate(resumed, still, T0 + 7000, codex, policy);
    assert.equal(ev.state, 'idle');
    assert.match(ev.reason ?? '', /no hook has said anything/);
  });
});
