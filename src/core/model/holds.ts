import type { Attempt, TaskState } from './record';

/**
 * The kinds of hold a person is shown differently, told apart by the task's state, its reason and
 * its last attempt (no field of the record changes for them).
 */

/** How the reason of a task held by its agent begins: the agent waits out a usage limit by itself. */
export const AGENT_WAITS = 'the agent waits out its usage limit by itself';

/** In the reason of a hold for a usage limit that said no reset time: it is tried again on a schedule. */
export const NO_RESET_TIME = 'no reset time given';

/** The note of an attempt started by that schedule. */
export const SCHEDULED_TRY_NOTE = 'tried again on the schedule for a usage limit with no reset time';

/** A task record (its `stateReason`) or a view of one (its `reason`). */
interface Held {
  state: TaskState;
  reason?: string | null;
  stateReason?: string | null;
  attempts: readonly Attempt[];
}

function reasonOf(t: Pick<Held, 'reason' | 'stateReason'>): string {
  return t.reason ?? t.stateReason ?? '';
}

/**
 * Held by the agent: it runs, and waits out a usage limit by itself. Nobody resumes it while it
 * waits; the supervisor does only if it dies or gives up.
 */
export function heldByAgent(t: Held): boolean {
  const last = t.attempts[t.attempts.length - 1];
  return t.state === 'held' && reasonOf(t).startsWith(AGENT_WAITS) && last !== undefined && last.endedAt === null;
}

/** Held for a usage limit with no reset time: its `heldUntil` is the next scheduled try. */
export function scheduledTry(t: Pick<Held, 'state' | 'reason' | 'stateReason'>): boolean {
  return t.state === 'held' && reasonOf(t).includes(NO_RESET_TIME);
}
