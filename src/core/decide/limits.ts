import type { RunActivity } from '../agents/types';
import { AGENT_WAITS, heldByAgent, NO_RESET_TIME, SCHEDULED_TRY_NOTE } from '../model/holds';
import type { TaskRecord } from '../model/record';
import type { Policy } from './policy';

/** The first try after a usage limit with no reset time, when the task's policy does not say. */
export const DEFAULT_LIMIT_RETRY_MS = 30 * 60_000;
/** Tries in a row wait twice as long each time, up to this (or the first wait, if longer). */
export const MAX_LIMIT_RETRY_MS = 4 * 3600_000;

export interface RunningVerdict {
  state: 'running' | 'held';
  reason: string | null;
  heldUntil: string | null;
}

/**
 * A run that goes on, by what its agent says it does by itself: retrying its model requests is
 * running ("retrying (3/10)"); waiting out a usage limit is held by the agent, until the reset
 * time when it said one. Pure.
 */
export function whileRunning(activity: RunActivity | undefined): RunningVerdict {
  if (activity?.kind === 'retrying') {
    return { state: 'running', reason: `retrying (${activity.attempt}${activity.max ? `/${activity.max}` : ''})`, heldUntil: null };
  }
  if (activity?.kind === 'limit-wait') {
    return { state: 'held', reason: `${AGENT_WAITS}: ${activity.reason}`, heldUntil: activity.until ? activity.until.toISOString() : null };
  }
  return { state: 'running', reason: null, heldUntil: null };
}

/**
 * An agent that ended (a crash, its session lost) while it waited out a usage limit that resets
 * later: held until then, and resumed by id at the reset (at once once it has reset). Pure.
 */
export function endedWhileAgentWaited(task: TaskRecord, now: number): { reason: string; heldUntil: string } | undefined {
  if (!heldByAgent(task)) return undefined;
  if (!task.heldUntil || Date.parse(task.heldUntil) <= now) return undefined;
  return { reason: 'usage limit reached: the agent ended while it waited for the reset; resumed by id then', heldUntil: task.heldUntil };
}

/** Tries of the schedule in a row at the end of the attempts (the last one included). */
function scheduledTriesInARow(task: TaskRecord): number {
  let n = 0;
  for (let i = task.attempts.length - 1; i >= 0 && (task.attempts[i].note ?? '').startsWith(SCHEDULED_TRY_NOTE); i--) n++;
  return n;
}

/**
 * A usage limit that says no reset time (pi; Claude Code with an API key; a bare 429) is not a
 * person's problem forever: it is held and tried again after the policy's wait (30 minutes by
 * default), twice as long after each try in a row that meets the limit again, at most 4 hours.
 * `n`: which try of the schedule the next attempt is. Pure.
 */
export function nextScheduledTry(task: TaskRecord, now: number, policy: Policy): { at: number; n: number; reason: string } {
  const before = scheduledTriesInARow(task);
  const base = policy.usageLimitRetryMs ?? DEFAULT_LIMIT_RETRY_MS;
  const wait = Math.min(Math.max(base, MAX_LIMIT_RETRY_MS), base * 2 ** before);
  return { at: now + wait, n: before + 1, reason: `${NO_RESET_TIME}, so it is tried again on a schedule (try ${before + 1})` };
}

/** The note of the attempt a scheduled try starts (the held task's tries so far, plus this one). */
export function scheduledTryNote(task: TaskRecord): string {
  return `${SCHEDULED_TRY_NOTE} (try ${scheduledTriesInARow(task) + 1})`;
}
