import type { AttemptSummary } from '../agents/transcript';
import type { AgentAdapter, EventOutcome } from '../agents/types';
import { heldFromPane, parseJsonLines } from '../agents/types';
import type { AttemptCause, TaskRecord, TaskState } from '../model/record';
import { isFinished, isInteractive, lastAttempt } from '../model/record';
import { heldByAgent, scheduledTry } from '../model/holds';
import { endedWhileAgentWaited, nextScheduledTry, scheduledTryNote, whileRunning } from './limits';
import type { Observation } from './observation';
import type { Policy } from './policy';
import { decideAfterFailure } from './policy';

import { DONE_MARKER } from '../model/record';

export { DONE_MARKER };

/** A prompt for a person counts once seen on this many passes in a row. */
export const WAITING_PASSES = 2;

/** A runner that has not written its pid this long after launch never started. */
export const START_GRACE_MS = 15_000;
/**
 * tmux marks a pane dead when its terminal closes, and learns how its process ended a moment
 * later (when it reaps it). Read in between, a dead pane has neither status nor signal: wait this
 * long for them before calling the end unknown (a Ctrl-C must not be taken for a crash).
 */
export const DEAD_STATUS_GRACE_MS = 3_000;

/** What the pane and the runner's files show about the current attempt. Pure. */
export type Condition =
  /** `confirm`: its session does not exist yet; looked at under the task's lock, it never will. */
  | { kind: 'starting'; confirm?: boolean }
  | { kind: 'ending' }
  | { kind: 'running' }
  /** `reason`: what it asks, when its hooks said. */
  | { kind: 'waiting'; reason?: string }
  /** An interactive agent's turn is over (its hooks said so): the person's move. */
  | { kind: 'idle'; reason?: string }
  | { kind: 'exited'; exitCode: number | null; signal: number | null; at: number; why?: string }
  | { kind: 'lost'; at: number };

export function waitingSeen(adapter: AgentAdapter, lines: readonly string[] | undefined): boolean {
  if (!lines?.length) return false;
  const tail = lines.slice(-15).join('\n');
  return adapter.waitingPatterns.some((p) => p.test(tail));
}

/**
 * A TUI at work always moves (Claude Code's spinner and its elapsed time change every second, also
 * while it waits for the model or a tool); one whose pane has been still this long after its hooks
 * last said "working" was interrupted (Esc, which fires no hook) and waits at its prompt.
 */
export const PANE_STILL_MS = 5_000;
/** How soon an interactive attempt that has not started yet is looked at again. */
const STARTING_RECHECK_MS = 1_000;

/**
 * Since when an interactive task's pane and hooks have both been still (ms), while its hooks say
 * it works (or have said nothing); undefined when tmux gave no activity time.
 */
export function stillSince(task: TaskRecord, obs: Observation, now: number): number | undefined {
  const a = lastAttempt(task);
  if (!isInteractive(task) || !a || !obs.pane || obs.pane.dead || !obs.pane.activity) return undefined;
  if (obs.hook && obs.hook.state !== 'working') return undefined;
  // tmux counts whole seconds: the end of that second, so a pane never looks stiller than it is.
  return Math.min(now, Math.max((obs.pane.activity + 1) * 1000, obs.hook?.at ?? Date.parse(a.startedAt)));
}

export function classifyCondition(task: TaskRecord, obs: Observation, now: number): Condition {
  const attempt = lastAttempt(task);
  if (!attempt) return { kind: 'lost', at: now };
  if (attempt.endedAt) {
    // A loss whose supervisor died before the next attempt was written (the record left as
    // `lost`, its attempt ended): still a loss, whoever finishes it; never a failure of the agent.
    if (task.state === 'lost') return { kind: 'lost', at: Date.parse(attempt.endedAt) };
    return { kind: 'exited', exitCode: attempt.exitCode, signal: attempt.signal, at: Date.parse(attempt.endedAt) };
  }
  const files = obs.attempt;
  if (files.exitCode !== null) {
    return { kind: 'exited', exitCode: files.exitCode, signal: null, at: files.exitAt?.getTime() ?? now };
  }
  const launchedAgo = now - Date.parse(attempt.startedAt);
  if (!obs.pane) {
    if (!files.started && launchedAgo < START_GRACE_MS) return obs.underLock && !obs.launching ? { kind: 'lost', at: now } : { kind: 'starting', confirm: true };
    return { kind: 'lost', at: now };
  }
  if (obs.pane.dead) {
    if (!files.started) {
      if (launchedAgo < START_GRACE_MS) return { kind: 'starting' };
      // Its launch never reached tmux: the pane still shows how the attempt before ended. A loss
      // (launched again at once), not a failure of the agent with the earlier attempt's status.
      if (obs.paneOfEarlier) return { kind: 'lost', at: now };
      // How tmux saw it end still tells a Ctrl-C from a crash.
      return { kind: 'exited', exitCode: obs.pane.deadStatus, signal: obs.pane.deadSignal, at: now, why: 'the attempt never started' };
    }
    if (obs.pane.deadStatus === null && obs.pane.deadSignal === null && now - (obs.deadSince ?? now) < DEAD_STATUS_GRACE_MS) {
      return { kind: 'ending' };
    }
    // Killed together with the runner (its whole process group): only tmux saw how it ended.
    return { kind: 'exited', exitCode: obs.pane.deadStatus, signal: obs.pane.deadSignal, at: now };
  }
  if (!files.started) return { kind: 'starting' };
  // An interactive agent's own hooks say what it does; its pane's text is not read.
  if (isInteractive(task)) {
    if (obs.hook?.state === 'waiting') return { kind: 'waiting', reason: obs.hook.reason };
    if (obs.hook?.state === 'idle') return { kind: 'idle', reason: obs.hook.reason };
    const still = stillSince(task, obs, now);
    if (still !== undefined && now - still >= PANE_STILL_MS) {
      const why = obs.hook ? 'its last hook said working: interrupted, or its turn ended on an error (no hook fired)' : 'no hook has said anything';
      return { kind: 'idle', reason: `its pane has been still for ${Math.round((now - still) / 1000)} s and ${why}` };
    }
    return { kind: 'running' };
  }
  if ((obs.waitingStreak ?? 0) >= WAITING_PASSES) return { kind: 'waiting' };
  return { kind: 'running' };
}

export type Action =
  | { kind: 'none' }
  /** `prompt`: what the agent is told this run (a follow-up's); else the task's prompt, or the continue prompt on a resume. */
  | { kind: 'launch'; cause: AttemptCause; mode: 'start' | 'resume'; note?: string; prompt?: string };

/** The whole verdict on one task for one pass: what to record and what to do. */
export interface Evaluation {
  state: TaskState;
  reason: string | null;
  /** The current attempt's end, to record when it is first seen. */
  ended?: { at: string; exitCode: number | null; signal: number | null; summary?: AttemptSummary };
  agentSessionId?: string;
  nextAttemptAt: string | null;
  heldUntil: string | null;
  action: Action;
  /** How the attempt ended is about to be known: look again in a moment, not at the next tick. */
  recheckSoon?: boolean;
  /** Look again then (ms): an interactive task's pane may go still without any hook saying so. */
  recheckAt?: number;
  /** An attempt whose session does not exist yet: decided again under the task's lock (its launcher may have died). */
  confirmUnderLock?: boolean;
}

function describeExit(c: { exitCode: number | null; signal: number | null; why?: string }): string {
  if (c.why) return c.why;
  if (c.signal !== null) return `the agent was killed by signal ${c.signal}`;
  if (c.exitCode !== null && c.exitCode > 128) return `the agent was killed by signal ${c.exitCode - 128}`;
  if (c.exitCode === null) return 'the agent stopped';
  return `the agent exited with status ${c.exitCode}`;
}

/**
 * classify + decide for one task: a pure function of the record, what was observed, and the time.
 * `resume` of the evaluation is only a wish: the monitor carries it out under the task's lock.
 */
export function evaluate(task: TaskRecord, obs: Observation, now: number, adapter: AgentAdapter, policy: Policy): Evaluation {
  // Waiting for a slot: the queue starts it (ops/queue.ts), nothing here does.
  if (task.state === 'queued' && !task.killedByUser) {
    return { state: task.state, reason: task.stateReason, nextAttemptAt: null, heldUntil: null, action: { kind: 'none' } };
  }
  // Another host runs it and lives: only that host can see its pane; nothing here is known better.
  if (obs.elsewhere?.alive && !isFinished(task.state)) {
    return { state: task.state, reason: task.stateReason, nextAttemptAt: task.nextAttemptAt, heldUntil: task.heldUntil, action: { kind: 'none' } };
  }
  // The id may have appeared in the events since the last pass, whatever happened after.
  // An interactive agent's hooks name its session as it is now (a /clear in its TUI starts another).
  const hookId = isInteractive(task) && obs.hook?.sessionId && obs.hook.sessionId !== task.agentSessionId ? obs.hook.sessionId : undefined;
  const foundId = hookId ?? (task.agentSessionId ? undefined : adapter.sessionIdFromEvents([...(obs.eventsHead ?? []), ...(obs.eventsTail ?? [])]));
  const ev = foundId
    ? { ...evaluateKnown({ ...task, agentSessionId: foundId }, obs, now, adapter, policy), agentSessionId: foundId }
    : evaluateKnown(task, obs, now, adapter, policy);
  return obs.elsewhere ? resumeOnly(ev, obs.elsewhere.host) : ev;
}

/**
 * A task whose host is gone (its lease expired) is recovered here only by its agent's own resume:
 * started again from its prompt, it would run twice if that host still ran it after all.
 */
function resumeOnly(ev: Evaluation, host: string): Evaluation {
  if (ev.action.kind !== 'launch' || ev.action.mode === 'resume') return ev;
  return {
    ...ev, state: 'held', nextAttemptAt: null, heldUntil: null, action: { kind: 'none' },
    reason: `it ran on ${host}, which is gone, and cannot be resumed by id (${ev.action.note ?? 'no session to resume'}): start it again here with resume if that host no longer runs it`,
  };
}

function evaluateKnown(task: TaskRecord, obs: Observation, now: number, adapter: AgentAdapter, policy: Policy): Evaluation {
  const keep = (extra: Partial<Evaluation> = {}): Evaluation => ({
    state: task.state,
    reason: task.stateReason,
    nextAttemptAt: task.nextAttemptAt,
    heldUntil: task.heldUntil,
    action: { kind: 'none' },
    ...extra,
  });
  if (task.state === 'done' || task.state === 'gave-up') return keep();
  if (task.killedByUser) return keep({ state: 'held', reason: task.stateReason ?? 'killed by the user', nextAttemptAt: null });

  const condition = classifyCondition(task, obs, now);
  const attempt = lastAttempt(task);
  const ended =
    (condition.kind === 'exited' || condition.kind === 'lost') && attempt && !attempt.endedAt
      ? {
          at: new Date(condition.at).toISOString(),
          exitCode: condition.kind === 'exited' ? condition.exitCode : null,
          signal: condition.kind === 'exited' ? condition.signal : null,
          ...(obs.summary ? { summary: obs.summary } : {}),
        }
      : undefined;

  // A task held until a usage limit resets stays held until then, whatever its pane shows. One
  // held by its agent (which waits out the limit itself) is watched like a running one instead.
  const agentHolds = heldByAgent(task);
  if (task.state === 'held' && !agentHolds) {
    if (task.heldUntil === null || now < Date.parse(task.heldUntil)) return keep({ ended });
    if (scheduledTry(task)) {
      const note = scheduledTryNote(task);
      const action = launchAction(task, adapter, 'crash');
      return {
        state: 'failed', reason: 'tried again after a usage limit with no reset time', ended, nextAttemptAt: null, heldUntil: null,
        // The note counts the tries in a row (each waits twice as long); a restart keeps its own why too.
        action: action.kind === 'launch' ? { ...action, note: action.note ? `${note}; ${action.note}` : note } : action,
      };
    }
    return { state: 'failed', reason: 'the usage limit has reset', ended, nextAttemptAt: null, heldUntil: null, action: launchAction(task, adapter, 'crash') };
  }

  switch (condition.kind) {
    case 'ending':
      return keep({ recheckSoon: true });
    case 'starting':
      return keep({
        state: attempt?.cause === 'start' ? 'running' : 'resuming', reason: null, nextAttemptAt: null, ...(condition.confirm ? { confirmUnderLock: true } : {}),
        // Its session still on its way to tmux (its launcher died): looked at again in a moment.
        ...(obs.launching ? { recheckSoon: true } : {}),
        // An interactive agent whose hooks say nothing until a prompt (Codex's TUI resumed) is idle
        // by its still pane: looked at again once it runs, not at the next tick.
        ...(isInteractive(task) ? { recheckAt: now + STARTING_RECHECK_MS } : {}),
      });
    case 'running': {
      // What the agent says it does by itself: retrying its requests, or waiting out a usage limit.
      const v = whileRunning(adapter.activityFromEvents?.(parseJsonLines(obs.eventsTail ?? []), new Date(now)));
      const still = stillSince(task, obs, now);
      return keep({ state: v.state, reason: v.reason, nextAttemptAt: null, heldUntil: v.heldUntil, ...(still !== undefined ? { recheckAt: still + PANE_STILL_MS } : {}) });
    }
    case 'waiting':
      return keep({ state: 'waiting', reason: condition.reason ? `waits for you: ${condition.reason}` : 'the agent waits for input', nextAttemptAt: null, heldUntil: null });
    case 'idle':
      return keep({ state: 'idle', reason: condition.reason ?? 'its turn is over: your move', nextAttemptAt: null, heldUntil: null });
    case 'exited':
    case 'lost': {
      // A person's stop is final until the person says otherwise; a kill by the kernel stays a crash.
      const stopped = stoppedByPerson(condition, obs) ?? exitedByPerson(task, condition, obs, adapter);
      if (stopped) {
        return { state: 'held', reason: `stopped by the user: ${stopped}`, ended, nextAttemptAt: null, heldUntil: null, action: { kind: 'none' } };
      }
      // The task's folder (or worktree) is gone: no attempt can run there; a person must decide.
      if (obs.dirMissing) {
        return { state: 'held', reason: `its folder ${task.dir} is gone (removed or unmounted): restore it, then resume`, ended, nextAttemptAt: null, heldUntil: null, action: { kind: 'none' } };
      }
      // The agent's own word that the session it was asked to resume does not exist: only then
      // is the task started again from its prompt (a lost conversation, so the record says why).
      const missing = condition.kind === 'exited' && condition.exitCode !== 0 && attempt?.mode === 'resume'
        ? sessionNotFoundSaid(adapter, [...(obs.eventsTail ?? []), ...currentAttemptLines(obs.paneTail ?? [])])
        : undefined;
      if (missing) {
        const said = `${adapter.displayName} said "${missing}"`;
        return {
          state: 'failed', reason: `the session to resume does not exist: ${said}`, ended, nextAttemptAt: null, heldUntil: null,
          action: { kind: 'launch', cause: 'restart', mode: 'start', note: `started again from its prompt: ${said}` },
        };
      }
      // The agent's own events first (an auth failure, a usage limit, an error behind exit 0), its pane last.
      let outcome: EventOutcome | undefined;
      if (condition.kind === 'exited') {
        outcome = adapter.outcomeFromEvents(parseJsonLines(obs.eventsTail ?? []), new Date(now));
        if (!outcome && condition.exitCode !== 0) {
          // What the agent printed besides its events (in its events file) and on its terminal.
          const held = heldFromPane([...(obs.eventsTail ?? []).filter((l) => !l.trimStart().startsWith('{')), ...(obs.paneTail ?? [])]);
          if (held) outcome = { kind: 'held', ...held };
        }
      }
      if (outcome?.kind === 'held') {
        // A usage limit that says no reset time is tried again on a slow schedule, not held for a person forever.
        if (!outcome.until && /^usage limit/.test(outcome.reason)) {
          const next = nextScheduledTry(task, now, policy);
          return { state: 'held', reason: `${outcome.reason}; ${next.reason}`, ended, nextAttemptAt: null, heldUntil: new Date(next.at).toISOString(), action: { kind: 'none' } };
        }
        return {
          state: 'held', reason: outcome.reason, ended, nextAttemptAt: null,
          heldUntil: outcome.until ? outcome.until.toISOString() : null, action: { kind: 'none' },
        };
      }
      // It ended while it waited out a usage limit by itself: resumed by id once the limit resets.
      const waited = condition.kind === 'lost' || condition.exitCode !== 0 ? endedWhileAgentWaited(task, now) : undefined;
      if (waited) return { state: 'held', reason: waited.reason, ended, nextAttemptAt: null, heldUntil: waited.heldUntil, action: { kind: 'none' } };
      if (condition.kind === 'exited' && condition.exitCode === 0 && !outcome) {
        return { state: 'done', reason: null, ended, nextAttemptAt: null, heldUntil: null, action: { kind: 'none' } };
      }
      const why = outcome?.kind === 'failed' ? outcome.reason : condition.kind === 'lost' ? 'the tmux session is gone' : describeExit(condition);
      // Decide on the record as it will be once this attempt's end is written.
      const settled: TaskRecord = ended && attempt
        ? { ...task, attempts: [...task.attempts.slice(0, -1), { ...attempt, endedAt: ended.at, exitCode: ended.exitCode, signal: ended.signal }] }
        : task;
      // A session lost with its tmux server (a reboot, kill-server, tmux crashing) is not the
      // agent failing: it is re-created and resumed at once, whatever the limits say.
      if (condition.kind === 'lost') {
        // A start whose runner never ran (its launcher died before its session came): the agent
        // never made the session its id names, so a resume would only fail: started again.
        const unborn = attempt?.mode === 'start' && !obs.attempt.started;
        const action: Action = unborn
          ? { kind: 'launch', cause: 'restart', mode: 'start', note: 'started again from its prompt: its start never ran', ...(isInteractive(task) && task.prompt.trim() ? { prompt: task.prompt } : {}) }
          : launchAction(task, adapter, 'lost');
        return { state: 'lost', reason: why, ended, nextAttemptAt: null, heldUntil: null, action };
      }
      const decision = decideAfterFailure(settled, now, policy);
      if (decision.kind === 'give-up') {
        return { state: 'gave-up', reason: `${decision.reason}; last: ${why}`, ended, nextAttemptAt: null, heldUntil: null, action: { kind: 'none' } };
      }
      if (decision.kind === 'wait') {
        return {
          state: 'resuming', reason: `${why}; failure ${decision.failures} in a row`, ended,
          nextAttemptAt: new Date(decision.until).toISOString(), heldUntil: null, action: { kind: 'none' },
        };
      }
      return { state: 'failed', reason: why, ended, nextAttemptAt: null, heldUntil: null, action: launchAction(task, adapter, 'crash') };
    }
  }
}

const SIGINT = 2;

function sessionNotFoundSaid(adapter: AgentAdapter, lines: readonly string[]): string | undefined {
  for (const line of lines) {
    if (adapter.sessionNotFound.some((p) => p.test(line))) return line.trim().slice(0, 200);
  }
  return undefined;
}

/** The pane lines of the attempt that just ended: after the end line of the one before it. */
export function currentAttemptLines(lines: readonly string[]): readonly string[] {
  const isEnd = (l: string) => /^\[resilient-agent\] the agent exited/.test(l.trim()) || l.trim() === DONE_MARKER;
  let last = lines.length;
  while (last > 0 && !isEnd(lines[last - 1])) last--;
  let previous = last - 1;
  while (previous > 0 && !isEnd(lines[previous - 1])) previous--;
  return last === 0 ? lines : lines.slice(Math.max(previous, 0), last);
}

/**
 * Ctrl-C in the pane (the agent killed by SIGINT, or exiting 130 after catching it), or its tmux
 * session closed while the tmux server it ran in kept running: a person stopped the task. A server
 * that is gone or another than the attempt's lost its sessions (a crash, a reboot, `kill-server`):
 * recovered.
 */
function stoppedByPerson(condition: Condition, obs: Observation): string | undefined {
  if (condition.kind === 'exited') {
    if (obs.attempt.interrupted || condition.signal === SIGINT || condition.exitCode === 128 + SIGINT) return 'interrupted (Ctrl-C) in its pane';
    return undefined;
  }
  // A pid means something only on its own host: another host's server pid may be the same number.
  if (condition.kind === 'lost' && !obs.elsewhere && obs.attempt.serverPid !== null && obs.serverPid === obs.attempt.serverPid) {
    return 'its tmux session was closed while the tmux server kept running';
  }
  return undefined;
}

/**
 * An interactive agent the person left: its TUI exited with status 0 (/exit, Ctrl-D, Ctrl-C
 * twice), or its hooks said the person ended its session, whatever status followed. Never resumed.
 * A kill -9 (137), a crash, or a tmux server gone is none of these: resumed by id.
 */
function exitedByPerson(task: TaskRecord, condition: Condition, obs: Observation, adapter: AgentAdapter): string | undefined {
  if (!isInteractive(task)) return undefined;
  if (obs.hook?.state === 'ended' && obs.hook.byPerson) return obs.hook.reason ?? `the person exited ${adapter.displayName}`;
  if (condition.kind === 'exited' && condition.exitCode === 0 && condition.signal === null) return `${adapter.displayName} exited with status 0 (the person left it)`;
  return undefined;
}

/** Resume by the agent's own command when it can; otherwise start again from the prompt, and say so. */
export function launchAction(task: TaskRecord, adapter: AgentAdapter, cause: AttemptCause): Action {
  const check = adapter.canResume(task);
  if (check.ok) return { kind: 'launch', cause, mode: 'resume' };
  const note = `started again from its prompt: ${check.why ?? 'no session to resume'}`;
  // Nothing of it saved: its first prompt was never answered, so an interactive TUI is told it again.
  return { kind: 'launch', cause: 'restart', mode: 'start', note, ...(check.promptUnsaid && isInteractive(task) && task.prompt.trim() ? { prompt: task.prompt } : {}) };
}
