import * as assert from 'node:assert/strict';
import { ADAPTERS } from '../../src/core/agents/registry';
import { parseJsonLines } from '../../src/core/agents/types';
import { applyEvaluation } from '../../src/core/decide/apply';
import { evaluate } from '../../src/core/decide/classify';
import type { Observation } from '../../src/core/decide/observation';
import type { Policy } from '../../src/core/decide/policy';
import { heldByAgent, scheduledTry } from '../../src/core/model/holds';
import type { Attempt, TaskRecord } from '../../src/core/model/record';
import { testRecord } from '../tools/records';

// Event lines as the real CLIs print them against the e2e suite's model server (codex-cli 0.171.0,
// Claude Code 2.1.332, pi 0.73.1), on a fake clock.
const MIN = 60_000;
const policy: Policy = { intervalMs: 3 * MIN, backoffFactor: 2, maxBackoffMs: 60 * MIN, maxRuntimeMs: 300 * MIN, maxAttempts: 10, usageLimitRetryMs: 30 * MIN };
const T0 = Date.parse('2026-03-01T08:00:00.000Z');
const iso = (t: number) => new Date(t).toISOString();
const RESETS_AT = T0 / 1000 + 3600;

const CLAUDE_RETRY = (n: number) => `{"type":"system","subtype":"api_retry","attempt":${n},"max_retries":10,"retry_delay_ms":572,"error_status":500,"error":"server_error","session_id":"s"}`;
const CLAUDE_LIMIT = `{"type":"rate_limit_event","rate_limit_info":{"status":"rejected","resetsAt":${RESETS_AT},"rateLimitType":"five_hour"},"session_id":"s"}`;
const CLAUDE_LIMIT_WAIT = `{"type":"system","subtype":"api_retry","attempt":1,"max_retries":300,"retry_delay_ms":3599000,"error_status":429,"error":"rate_limit","session_id":"s"}`;
const CLAUDE_INIT = '{"type":"system","subtype":"init","session_id":"s"}';

function attempt(n: number, start: number, end: number | null, exitCode: number | null = 1, note: string | null = null): Attempt {
  return { n, cause: n === 1 ? 'start' : 'crash', mode: n === 1 ? 'start' : 'resume', startedAt: iso(start), endedAt: end === null ? null : iso(end), exitCode: end === null ? null : exitCode, signal: null, note };
}

function task(attempts: Attempt[], over: Partial<TaskRecord> = {}): TaskRecord {
  return testRecord({ agentSessionId: 's', attempts, ...over }, iso(T0));
}

const pane = (dead: boolean, signal: number | null = null) => ({
  session: 'claude-fix', windowIndex: 0, paneIndex: 0, paneId: '%1', pid: 1, dead, deadStatus: null, deadSignal: signal,
  activity: 0, currentCommand: 'bash', created: 0, serverPid: 0,
});
const alive = (eventsTail: string[]): Observation => ({ pane: pane(false), attempt: { started: true, pid: 1, exitCode: null, exitAt: null, serverPid: null }, eventsTail });
const exited = (code: number, eventsTail: string[], at: number): Observation => ({
  pane: pane(true), attempt: { started: true, pid: 1, exitCode: code, exitAt: new Date(at), serverPid: null }, eventsTail,
});
const killed = (eventsTail: string[]): Observation => ({ pane: pane(true, 9), attempt: { started: true, pid: 1, exitCode: null, exitAt: null, serverPid: null }, eventsTail });

describe('what the agents do by themselves, from their events', () => {
  const activity = (agent: keyof typeof ADAPTERS, lines: string[]) => ADAPTERS[agent].activityFromEvents?.(parseJsonLines(lines), new Date(T0));

  it('claude: api_retry is a retry (attempt of max); once it goes on, nothing', () => {
    assert.deepEqual(activity('claude', [CLAUDE_INIT, CLAUDE_RETRY(1), CLAUDE_RETRY(2), CLAUDE_RETRY(3)]), { kind: 'retrying', attempt: 3, max: 10 });
    assert.equal(activity('claude', [CLAUDE_INIT, CLAUDE_RETRY(1), '{"type":"assistant","message":{"content":[]}}']), undefined);
    assert.equal(activity('claude', [CLAUDE_INIT]), undefined);
  });

  it('claude: a rejected rate limit, then an api_retry of its 429 -> it waits out the limit by itself until resetsAt', () => {
    const a = activity('claude', [CLAUDE_INIT, CLAUDE_LIMIT, CLAUDE_LIMIT_WAIT]);
    assert.equal(a?.kind, 'limit-wait');
    assert.equal((a as { until?: Date }).until?.getTime(), RESETS_AT * 1000);
    // Its second look at the reset (another api_retry without a new rate_limit_event) is still the wait.
    assert.equal(activity('claude', [CLAUDE_LIMIT, CLAUDE_LIMIT_WAIT, CLAUDE_LIMIT_WAIT.replace('"attempt":1', '"attempt":2')])?.kind, 'limit-wait');
    // A 429 without a rejected usage limit (an API key's rate limit) is only a retry.
    assert.equal(activity('claude', [CLAUDE_INIT, CLAUDE_LIMIT_WAIT])?.kind, 'retrying');
  });

  it('codex: "Reconnecting... 2/5" is a retry; a completed item after it is not', () => {
    const r = '{"type":"error","message":"Reconnecting... 2/5 (We’re currently experiencing high demand, which may cause temporary errors.)"}';
    assert.deepEqual(activity('codex', ['{"type":"thread.started","thread_id":"t"}', '{"type":"turn.started"}', r]), { kind: 'retrying', attempt: 2, max: 5 });
    assert.equal(activity('codex', [r, '{"type":"item.completed","item":{"type":"agent_message","text":"Done."}}']), undefined);
  });

  it('codex: a 429 that is not its usage-limit body is a usage limit with no reset time', () => {
    const o = ADAPTERS.codex.outcomeFromEvents(parseJsonLines(['{"type":"error","message":"exceeded retry limit, last status: 429 Too Many Requests"}']), new Date(T0));
    assert.deepEqual(o, { kind: 'held', reason: 'usage limit reached: exceeded retry limit, last status: 429 Too Many Requests' });
  });

  it('pi: auto_retry_start (and the agent_start, turn_start after it) is a retry of attempt of maxAttempts', () => {
    assert.deepEqual(activity('pi', ['{"type":"auto_retry_start","attempt":2,"maxAttempts":3,"delayMs":4000,"errorMessage":"429 quota"}', '{"type":"agent_start"}', '{"type":"turn_start"}']),
      { kind: 'retrying', attempt: 2, max: 3 });
    assert.equal(activity('pi', ['{"type":"auto_retry_start","attempt":1,"maxAttempts":3}', '{"type":"message_update"}']), undefined);
  });

  it('opencode says nothing while it retries (it waits retry-after silently)', () => {
    assert.equal(ADAPTERS.opencode.activityFromEvents, undefined);
  });
});

describe('states from the agents\' own retries and waits (fake clock)', () => {
  const running = task([attempt(1, T0, null)], { agent: 'claude' });

  it('an agent retrying its requests is running, with "retrying (3/10)"', () => {
    const ev = evaluate(running, alive([CLAUDE_INIT, CLAUDE_RETRY(3)]), T0 + MIN, ADAPTERS.claude, policy);
    assert.deepEqual([ev.state, ev.reason, ev.action.kind], ['running', 'retrying (3/10)', 'none']);
    // And running again, with no detail, once it went on.
    const on = evaluate(applyEvaluation(running, ev, iso(T0 + MIN)), alive([CLAUDE_RETRY(3), '{"type":"assistant"}']), T0 + 2 * MIN, ADAPTERS.claude, policy);
    assert.deepEqual([on.state, on.reason], ['running', null]);
  });

  it('an agent waiting out its limit is held by the agent until the reset, never resumed on top, and running again once it goes on', () => {
    const events = [CLAUDE_INIT, CLAUDE_LIMIT, CLAUDE_LIMIT_WAIT];
    const ev = evaluate(running, alive(events), T0 + MIN, ADAPTERS.claude, policy);
    assert.equal(ev.state, 'held');
    assert.equal(ev.heldUntil, iso(RESETS_AT * 1000));
    assert.equal(ev.action.kind, 'none');
    let t = applyEvaluation(running, ev, iso(T0 + MIN));
    assert.ok(heldByAgent(t));
    // Long past its reset time and still waiting (it asks again by itself): never a second continue.
    for (const at of [T0 + 30 * MIN, RESETS_AT * 1000, RESETS_AT * 1000 + 60 * MIN]) {
      const again = evaluate(t, alive(events), at, ADAPTERS.claude, policy);
      assert.deepEqual([again.state, again.action.kind], ['held', 'none'], `at ${iso(at)}`);
    }
    const on = evaluate(t, alive([...events, '{"type":"assistant"}']), RESETS_AT * 1000 + MIN, ADAPTERS.claude, policy);
    assert.deepEqual([on.state, on.reason, on.heldUntil, on.action.kind], ['running', null, null, 'none']);
    // It finishes by itself: done, one attempt.
    t = applyEvaluation(t, on, iso(RESETS_AT * 1000 + MIN));
    const done = evaluate(t, exited(0, ['{"type":"result","is_error":false}'], RESETS_AT * 1000 + 2 * MIN), RESETS_AT * 1000 + 2 * MIN, ADAPTERS.claude, policy);
    assert.deepEqual([done.state, done.action.kind], ['done', 'none']);
  });

  it('killed while it waited out the limit -> held until the reset, then resumed by its exact id', () => {
    const events = [CLAUDE_INIT, CLAUDE_LIMIT, CLAUDE_LIMIT_WAIT];
    const held = applyEvaluation(running, evaluate(running, alive(events), T0 + MIN, ADAPTERS.claude, policy), iso(T0 + MIN));
    const crash = evaluate(held, killed(events), T0 + 2 * MIN, ADAPTERS.claude, policy);
    assert.deepEqual([crash.state, crash.heldUntil, crash.action.kind], ['held', iso(RESETS_AT * 1000), 'none']);
    assert.ok(crash.ended, 'the attempt\'s end is recorded');
    const after = applyEvaluation(held, crash, iso(T0 + 2 * MIN));
    assert.equal(heldByAgent(after), false, 'held by the supervisor now');
    assert.equal(evaluate(after, killed(events), RESETS_AT * 1000 - 1000, ADAPTERS.claude, policy).action.kind, 'none');
    const resumed = evaluate(after, killed(events), RESETS_AT * 1000, ADAPTERS.claude, policy);
    assert.deepEqual(resumed.action, { kind: 'launch', cause: 'crash', mode: 'resume' });
  });

  it('gave up while it waited (its own result: the limit) -> held until the reset from its events', () => {
    const events = [CLAUDE_INIT, CLAUDE_LIMIT, CLAUDE_LIMIT_WAIT, '{"type":"result","is_error":true,"api_error_status":429,"result":"You\'ve hit your 5-hour limit · resets 9:00am (UTC)"}'];
    const held = applyEvaluation(running, evaluate(running, alive(events.slice(0, 3)), T0 + MIN, ADAPTERS.claude, policy), iso(T0 + MIN));
    const ev = evaluate(held, exited(1, events, T0 + 2 * MIN), T0 + 2 * MIN, ADAPTERS.claude, policy);
    assert.deepEqual([ev.state, ev.heldUntil, ev.action.kind], ['held', iso(RESETS_AT * 1000), 'none']);
  });

  it('a crash after the reset time is resumed at once', () => {
    const events = [CLAUDE_INIT, CLAUDE_LIMIT, CLAUDE_LIMIT_WAIT];
    const held = applyEvaluation(running, evaluate(running, alive(events), T0 + MIN, ADAPTERS.claude, policy), iso(T0 + MIN));
    const ev = evaluate(held, killed(events), RESETS_AT * 1000 + MIN, ADAPTERS.claude, policy);
    assert.deepEqual(ev.action, { kind: 'launch', cause: 'crash', mode: 'resume' });
  });

  it('a usage limit with no reset time: held, tried again after 30 min, then 60, 120 … at most 4 h, and each try says which', () => {
    const pi = task([attempt(1, T0, null)], { agent: 'pi', agentData: {} });
    const limit = ['{"type":"auto_retry_end","success":false,"attempt":3,"finalError":"429 You exceeded your current quota"}'];
    // pi exits 0 on API errors.
    const ev = evaluate({ ...pi }, exited(0, limit, T0 + MIN), T0 + MIN, { ...ADAPTERS.pi, canResume: () => ({ ok: true }) }, policy);
    assert.equal(ev.state, 'held');
    assert.equal(ev.heldUntil, iso(T0 + 31 * MIN));
    assert.match(ev.reason ?? '', /^usage limit reached: 429 .*; no reset time given, so it is tried again on a schedule \(try 1\)$/);
    let t = applyEvaluation(pi, ev, iso(T0 + MIN));
    assert.ok(scheduledTry(t));
    const adapter = { ...ADAPTERS.pi, canResume: () => ({ ok: true }) };
    assert.equal(evaluate(t, exited(0, limit, T0 + MIN), T0 + 31 * MIN - 1, adapter, policy).action.kind, 'none');
    const due = evaluate(t, exited(0, limit, T0 + MIN), T0 + 31 * MIN, adapter, policy);
    assert.deepEqual(due.action, { kind: 'launch', cause: 'crash', mode: 'resume', note: 'tried again on the schedule for a usage limit with no reset time (try 1)' });
    // The try meets the limit again: twice as long, and so on, at most 4 hours.
    const waits: number[] = [];
    let now = T0 + 31 * MIN;
    for (let k = 1; k <= 6; k++) {
      t = { ...t, state: 'running', stateReason: null, heldUntil: null, attempts: [...t.attempts, attempt(t.attempts.length + 1, now, null, null, `tried again on the schedule for a usage limit with no reset time (try ${k})`)] };
      const again = evaluate(t, exited(0, limit, now + 1000), now + 1000, adapter, policy);
      waits.push((Date.parse(again.heldUntil!) - (now + 1000)) / MIN);
      t = applyEvaluation(t, again, iso(now + 1000));
      now = Date.parse(again.heldUntil!);
    }
    assert.deepEqual(waits, [60, 120, 240, 240, 240, 240]);
    // A try that must start again from the prompt (pi saved nothing) still counts as a try of the schedule.
    const restart = evaluate(t, exited(0, limit, now), now, ADAPTERS.pi, policy);
    assert.deepEqual(restart.action, { kind: 'launch', cause: 'restart', mode: 'start',
      note: 'tried again on the schedule for a usage limit with no reset time (try 7); started again from its prompt: pi had not saved its session (killed during its first reply)' });
    // A policy written before this setting existed: 30 minutes.
    const { usageLimitRetryMs: _, ...old } = policy;
    assert.equal(evaluate(pi, exited(0, limit, T0 + MIN), T0 + MIN, adapter, old).heldUntil, iso(T0 + 31 * MIN));
  });

  it('a usage limit that says when it resets is held until then, not put on the schedule', () => {
    const ev = evaluate(running, exited(1, [CLAUDE_LIMIT, '{"type":"result","is_error":true,"api_error_status":429,"result":"You\'ve hit your 5-hour limit"}'], T0 + MIN), T0 + MIN, ADAPTERS.claude, policy);
    assert.deepEqual([ev.state, ev.heldUntil, scheduledTry({ state: ev.state, reason: ev.reason })], ['held', iso(RESETS_AT * 1000), false]);
  });
});
