import * as assert from 'node:assert/strict';
import { ADAPTERS } from '../../src/core/agents/registry';
import type { Attempt, TaskRecord } from '../../src/core/model/record';
import { evaluate } from '../../src/core/decide/classify';
import type { Observation } from '../../src/core/decide/observation';
import { backoffMs, consecutiveFailures, decideAfterFailure, Policy } from '../../src/core/decide/policy';
import { testRecord } from '../tools/records';

const MIN = 60_000;
const policy: Policy = { intervalMs: 3 * MIN, backoffFactor: 2, maxBackoffMs: 60 * MIN, maxRuntimeMs: 300 * MIN, maxAttempts: 10 };
const T0 = Date.parse('2026-03-01T08:00:00.000Z');
const iso = (t: number) => new Date(t).toISOString();

function task(attempts: Attempt[], over: Partial<TaskRecord> = {}): TaskRecord {
  return testRecord({ agentSessionId: 'th-1', attempts, ...over }, iso(T0));
}

function attempt(n: number, start: number, end: number | null, exitCode: number | null = 1): Attempt {
  return { n, cause: n === 1 ? 'start' : 'crash', mode: n === 1 ? 'start' : 'resume', startedAt: iso(start), endedAt: end === null ? null : iso(end), exitCode: end === null ? null : exitCode, signal: null, note: null };
}

/** A failing run of `seconds`, one after the other, each resumed when the policy says. */
function quickFailures(count: number): { attempts: Attempt[]; now: number } {
  const attempts: Attempt[] = [];
  let t = T0;
  for (let n = 1; n <= count; n++) {
    attempts.push(attempt(n, t, t + 10_000));
    t += 10_000;
  }
  return { attempts, now: t };
}

describe('policy (fake clock)', () => {
  it('resumes a first crash at once, then waits 3, 6, 12 minutes on failures in a row', () => {
    assert.deepEqual([1, 2, 3, 4, 5].map((k) => backoffMs(k, policy) / MIN), [0, 3, 6, 12, 24]);
    let { attempts, now } = quickFailures(1);
    assert.deepEqual(decideAfterFailure(task(attempts), now, policy), { kind: 'resume-now' });
    ({ attempts, now } = quickFailures(2));
    assert.deepEqual(decideAfterFailure(task(attempts), now, policy), { kind: 'wait', until: now + 3 * MIN, failures: 2 });
    assert.deepEqual(decideAfterFailure(task(attempts), now + 3 * MIN, policy), { kind: 'resume-now' });
    ({ attempts, now } = quickFailures(3));
    assert.equal((decideAfterFailure(task(attempts), now, policy) as { until: number }).until, now + 6 * MIN);
    ({ attempts, now } = quickFailures(4));
    assert.equal((decideAfterFailure(task(attempts), now, policy) as { until: number }).until, now + 12 * MIN);
  });

  it('caps the wait', () => {
    assert.equal(backoffMs(20, policy), 60 * MIN);
  });

  it('resets when the agent ran normally (a run of at least one interval)', () => {
    const attempts = [attempt(1, T0, T0 + 5_000), attempt(2, T0 + 5_000, T0 + 10_000), attempt(3, T0 + 10_000, T0 + 10_000 + 20 * MIN), attempt(4, T0 + 30 * MIN, T0 + 30 * MIN + 1000)];
    assert.equal(consecutiveFailures(attempts, policy), 2);
    const short = [attempt(1, T0, T0 + 5_000), attempt(2, T0 + 5_000, T0 + 10_000), attempt(3, T0 + 10_000, T0 + 10_000 + 20 * MIN)];
    assert.equal(consecutiveFailures(short, policy), 1);
    assert.deepEqual(decideAfterFailure(task(short), T0 + 21 * MIN, policy), { kind: 'resume-now' });
  });

  it('gives up after 5 hours of wall clock', () => {
    const attempts = [attempt(1, T0, T0 + 300 * MIN)];
    const d = decideAfterFailure(task(attempts), T0 + 300 * MIN, policy);
    assert.equal(d.kind, 'give-up');
    assert.match((d as { reason: string }).reason, /5 h of wall clock/);
    assert.equal(decideAfterFailure(task([attempt(1, T0, T0 + 299 * MIN)]), T0 + 299 * MIN, policy).kind, 'resume-now');
  });

  it('gives up at the attempt cap', () => {
    const { attempts, now } = quickFailures(10);
    const d = decideAfterFailure(task(attempts), now + 120 * MIN, policy);
    assert.equal(d.kind, 'give-up');
    assert.match((d as { reason: string }).reason, /10 attempts/);
  });

  it('a follow-up starts a new budget: the attempts and the wall clock count from it', () => {
    const { attempts, now } = quickFailures(9);
    // Nine failures, then hours later the person's follow-up, which fails once.
    const later = now + 400 * MIN;
    const followUp: Attempt = { ...attempt(10, later, later + 1000), cause: 'follow-up' };
    const d = decideAfterFailure(task([...attempts, followUp]), later + 1000, policy);
    assert.deepEqual(d, { kind: 'resume-now' }, 'neither the ten attempts nor the first start\'s 5 h count');
    const ten = Array.from({ length: 9 }, (_, i) => attempt(11 + i, later + 2000 + i * 1000, later + 2500 + i * 1000));
    const capped = decideAfterFailure(task([...attempts, followUp, ...ten]), later + 20 * MIN, policy);
    assert.equal(capped.kind, 'give-up');
    assert.match((capped as { reason: string }).reason, /gave up after 10 attempts/);
  });

  it('never resumes a task the user killed', () => {
    const { attempts, now } = quickFailures(1);
    assert.equal(decideAfterFailure(task(attempts, { killedByUser: true }), now, policy).kind, 'give-up');
    const ev = evaluate(task(attempts, { killedByUser: true, state: 'held' }), obs({}), now + 999 * MIN, ADAPTERS.codex, policy);
    assert.equal(ev.state, 'held');
    assert.equal(ev.action.kind, 'none');
  });
});

function obs(o: Partial<Observation>): Observation {
  return { pane: undefined, attempt: { started: true, pid: 1, exitCode: null, exitAt: null , serverPid: null }, ...o };
}

const pane = (dead: boolean, status: number | null = null, signal: number | null = null) => ({
  session: 'codex-fix', windowIndex: 0, paneIndex: 0, paneId: '%1', pid: 1, dead, deadStatus: status, deadSignal: signal,
  activity: 0, currentCommand: 'bash', created: 0, serverPid: 0,
});

describe('evaluate: classify + decide', () => {
  const running = task([attempt(1, T0, null)]);

  it('a session lost with its tmux server is resumed at once, past every limit, and is not counted against them', () => {
    // Ten losses in a row (kill-server, reboots), the task 6 h old: still re-created and resumed.
    const lostRuns = Array.from({ length: 10 }, (_, i) => ({ ...attempt(i + 1, T0 + i * MIN, i === 9 ? null : T0 + i * MIN + 1000), cause: i === 0 ? 'start' as const : 'lost' as const }));
    const late = T0 + 6 * 60 * MIN;
    const ev = evaluate(task(lostRuns), obs({}), late, ADAPTERS.codex, { ...policy, maxRuntimeMs: 1000 * 60 * MIN });
    assert.equal(ev.state, 'lost');
    assert.deepEqual(ev.action, { kind: 'launch', cause: 'lost', mode: 'resume' });
    const capped = evaluate(task(lostRuns), obs({}), late, ADAPTERS.codex, policy);
    assert.equal(capped.action.kind, 'launch', 'the wall-clock cap is for a failing agent, not a lost server');
    // A real crash after those losses: the losses do not count as attempts or failures in a row.
    const crashed = [...lostRuns.slice(0, 9), { ...lostRuns[9], endedAt: iso(T0 + 10 * MIN), exitCode: 1 }];
    const d = decideAfterFailure(task(crashed), T0 + 10 * MIN, { ...policy, maxRuntimeMs: 1000 * 60 * MIN });
    assert.equal(d.kind, 'resume-now', JSON.stringify(d));
  });

  it('Ctrl-C in the pane (SIGINT, or exit 130 after catching it) holds the task as stopped by the user; SIGKILL stays a crash', () => {
    for (const seen of [obs({ pane: pane(true, null, 2) }), obs({ pane: pane(true, 130), attempt: { started: true, pid: 1, exitCode: 130, exitAt: new Date(T0 + MIN), serverPid: null } })]) {
      const ev = evaluate(running, seen, T0 + MIN, ADAPTERS.codex, policy);
      assert.equal(ev.state, 'held');
      assert.match(ev.reason ?? '', /stopped by the user: interrupted \(Ctrl-C\)/);
      assert.equal(ev.action.kind, 'none');
      assert.equal(ev.heldUntil, null, 'held until a person acts');
    }
    assert.equal(evaluate(running, obs({ pane: pane(true, null, 9) }), T0 + MIN, ADAPTERS.codex, policy).action.kind, 'launch');
  });

  it('a session closed while its tmux server ran on is stopped by the user; one lost with the server is recovered', () => {
    const ranIn = { started: true, pid: 1, exitCode: null, exitAt: null, serverPid: 4000 };
    const byHand = evaluate(running, obs({ attempt: ranIn, serverPid: 4000 }), T0 + MIN, ADAPTERS.codex, policy);
    assert.equal(byHand.state, 'held');
    assert.match(byHand.reason ?? '', /closed while the tmux server kept running/);
    for (const serverPid of [undefined, 4001]) {
      const lost = evaluate(running, obs({ attempt: ranIn, serverPid }), T0 + MIN, ADAPTERS.codex, policy);
      assert.equal(lost.state, 'lost', `server ${serverPid === undefined ? 'gone' : 'replaced'}`);
      assert.equal(lost.action.kind, 'launch');
    }
  });

  it('running while the pane lives and the runner started', () => {
    const ev = evaluate(running, obs({ pane: pane(false) }), T0 + MIN, ADAPTERS.codex, policy);
    assert.equal(ev.state, 'running');
    assert.equal(ev.action.kind, 'none');
  });

  it('done from the exit-status file, whatever the pane says', () => {
    const ev = evaluate(running, obs({ pane: pane(true, 0), attempt: { started: true, pid: 1, exitCode: 0, exitAt: new Date(T0 + MIN) , serverPid: null } }), T0 + MIN, ADAPTERS.codex, policy);
    assert.equal(ev.state, 'done');
    assert.equal(ev.ended?.exitCode, 0);
  });

  it('failed from pane_dead_signal when the runner was killed too, and resumed by id at once', () => {
    const ev = evaluate(running, obs({ pane: pane(true, null, 9) }), T0 + MIN, ADAPTERS.codex, policy);
    assert.equal(ev.state, 'failed');
    assert.equal(ev.reason, 'the agent was killed by signal 9');
    assert.deepEqual(ev.action, { kind: 'launch', cause: 'crash', mode: 'resume' });
  });

  it('lost when tmux has no such session; recovered by a resume', () => {
    const ev = evaluate(running, obs({ pane: undefined }), T0 + MIN, ADAPTERS.codex, policy);
    assert.equal(ev.state, 'lost');
    assert.deepEqual(ev.action, { kind: 'launch', cause: 'lost', mode: 'resume' });
  });

  it('a loss left half-done (recorded lost, its next attempt never written) is finished as a loss at once, after a failure too', () => {
    // A crash resumed, then its tmux server lost; the supervisor died after writing the loss.
    const attempts = [attempt(1, T0, T0 + 10_000), { ...attempt(2, T0 + 10_000, T0 + 20_000, 0), exitCode: null }];
    const ev = evaluate(task(attempts, { state: 'lost', stateReason: 'the tmux session is gone' }), obs({ pane: undefined }), T0 + 30_000, ADAPTERS.codex, policy);
    assert.equal(ev.state, 'lost', `${ev.state}: ${ev.reason}`);
    assert.equal(ev.ended, undefined, 'its end is already recorded');
    assert.deepEqual(ev.action, { kind: 'launch', cause: 'lost', mode: 'resume' });
  });

  it('learns the session id from the events and resumes with it', () => {
    const t = task([attempt(1, T0, null)], { agentSessionId: null });
    const ev = evaluate(t, obs({ pane: pane(true, 1), eventsTail: ['{"type":"thread.started","thread_id":"th-new"}'] }), T0 + MIN, ADAPTERS.codex, policy);
    assert.equal(ev.agentSessionId, 'th-new');
    assert.equal(ev.action.kind === 'launch' && ev.action.mode, 'resume');
  });

  it('starts again from the prompt when there is no session to resume, and says so', () => {
    const t = task([attempt(1, T0, null)], { agent: 'pi', agentSessionId: null, agentData: { sessionFile: '/nonexistent/pi.jsonl' } });
    const ev = evaluate(t, obs({ pane: pane(true, null, 9) }), T0 + MIN, ADAPTERS.pi, policy);
    assert.equal(ev.action.kind, 'launch');
    if (ev.action.kind === 'launch') {
      assert.equal(ev.action.mode, 'start');
      assert.equal(ev.action.cause, 'restart');
      assert.match(ev.action.note ?? '', /started again from its prompt/);
    }
  });

  it('waiting only when a prompt was seen twice in a row', () => {
    assert.equal(evaluate(running, obs({ pane: pane(false), waitingStreak: 1 }), T0, ADAPTERS.codex, policy).state, 'running');
    assert.equal(evaluate(running, obs({ pane: pane(false), waitingStreak: 2 }), T0, ADAPTERS.codex, policy).state, 'waiting');
  });

  it('held, not resumed, on an authentication failure', () => {
    const ev = evaluate(running, obs({ pane: pane(true, 1), attempt: { started: true, pid: 1, exitCode: 1, exitAt: new Date(T0) , serverPid: null }, eventsTail: ['{"type":"error","message":"unexpected status 401 Unauthorized: Invalid API key"}'] }), T0 + MIN, ADAPTERS.codex, policy);
    assert.equal(ev.state, 'held');
    assert.match(ev.reason ?? '', /authentication/);
    assert.equal(ev.action.kind, 'none');
  });

  it('a launch that never started is a failure after a grace period, not a second agent', () => {
    const t = task([attempt(1, T0, T0 + 1000), attempt(2, T0 + 2000, null)]);
    const noPid = { started: false, pid: null, exitCode: null, exitAt: null, serverPid: null };
    assert.equal(evaluate(t, obs({ pane: pane(true, null, 9), attempt: noPid }), T0 + 3000, ADAPTERS.codex, policy).state, 'resuming');
    const later = evaluate(t, obs({ pane: pane(true, null, 9), attempt: noPid }), T0 + 60_000, ADAPTERS.codex, policy);
    assert.equal(later.ended?.exitCode, null);
    assert.match(later.reason ?? '', /never started/);
  });

  it('schedules the next resume (state resuming) while the backoff runs', () => {
    const t = task([attempt(1, T0, T0 + 1000), attempt(2, T0 + 2000, null)]);
    const ev = evaluate(t, obs({ pane: pane(true, 2) }), T0 + 3000, ADAPTERS.codex, policy);
    assert.equal(ev.state, 'resuming');
    assert.equal(ev.nextAttemptAt, iso(T0 + 3000 + 3 * MIN));
    assert.equal(ev.action.kind, 'none');
  });
});
