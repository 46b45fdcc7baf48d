import type * as z from 'zod/mini';
import type { Attempt, PolicySchema, TaskRecord } from '../model/record';

/**
 * The supervisor's limits (the seed's defaults, all settings). Times in milliseconds. intervalMs:
 * the check interval; a run that lasts at least this long counts as running normally.
 */
export type Policy = z.infer<typeof PolicySchema>;

export type FailureDecision =
  | { kind: 'resume-now' }
  | { kind: 'wait'; until: number; failures: number }
  | { kind: 'give-up'; reason: string };

function duration(a: Attempt): number {
  if (!a.endedAt) return Infinity;
  return Date.parse(a.endedAt) - Date.parse(a.startedAt);
}

/** Every ended attempt but a successful last one was a failure: a success ends the task (done). */
function failed(a: Attempt): boolean {
  return a.endedAt !== null;
}

/** The attempt ended with its tmux server (the next one re-created the session): not the agent failing. */
function lostWithServer(attempts: readonly Attempt[], i: number): boolean {
  return attempts[i + 1]?.cause === 'lost';
}

/** Failures in a row at the end of the attempt list; a run that lasted an interval breaks the row. */
export function consecutiveFailures(attempts: readonly Attempt[], policy: Policy): number {
  let n = 0;
  for (let i = attempts.length - 1; i >= 0; i--) {
    const a = attempts[i];
    if (!failed(a)) break;
    if (lostWithServer(attempts, i)) continue;
    n++;
    if (duration(a) >= policy.intervalMs) break;
  }
  return n;
}

/**
 * The wait before resuming after the k-th failure in a row: none for the first (a crash is
 * resumed as soon as it is seen), then one interval, doubling (3, 6, 12 … minutes by default).
 */
export function backoffMs(failures: number, policy: Policy): number {
  if (failures <= 1) return 0;
  return Math.min(policy.maxBackoffMs, policy.intervalMs * Math.pow(policy.backoffFactor, failures - 2));
}

function minutes(ms: number): string {
  const m = ms / 60_000;
  return m >= 60 && m % 60 === 0 ? `${m / 60} h` : `${Math.round(m * 10) / 10} min`;
}

/**
 * The attempts the limits count: since the last follow-up (a person's new prompt starts a new
 * budget and a new wall clock), else all of them; and when that stretch began.
 */
export function budgetedAttempts(task: TaskRecord): { attempts: Attempt[]; since: string } {
  let from = -1;
  for (let i = task.attempts.length - 1; i >= 0; i--) {
    if (task.attempts[i].cause === 'follow-up') {
      from = i;
      break;
    }
  }
  return from < 0 ? { attempts: task.attempts, since: task.createdAt } : { attempts: task.attempts.slice(from), since: task.attempts[from].startedAt };
}

/** What to do about a task whose last attempt failed (its end already recorded). Pure. */
export function decideAfterFailure(task: TaskRecord, now: number, policy: Policy): FailureDecision {
  if (task.killedByUser) return { kind: 'give-up', reason: 'killed by the user' };
  const { attempts, since } = budgetedAttempts(task);
  const age = now - Date.parse(since);
  if (age >= policy.maxRuntimeMs) {
    return { kind: 'give-up', reason: `gave up after ${minutes(policy.maxRuntimeMs)} of wall clock (${attempts.length} attempts)` };
  }
  // Runs that ended with their tmux server are not counted against the limit.
  const counted = attempts.filter((_, i) => !lostWithServer(attempts, i)).length;
  if (counted >= policy.maxAttempts) {
    return { kind: 'give-up', reason: `gave up after ${counted} attempt${counted === 1 ? '' : 's'} (the limit is ${policy.maxAttempts})` };
  }
  const last = attempts[attempts.length - 1];
  const failures = consecutiveFailures(attempts, policy);
  const endedAt = last?.endedAt ? Date.parse(last.endedAt) : now;
  const until = endedAt + backoffMs(failures, policy);
  if (now >= until) return { kind: 'resume-now' };
  return { kind: 'wait', until, failures };
}
