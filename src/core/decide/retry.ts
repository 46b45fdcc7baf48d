import type { TaskRecord } from '../model/record';

/**
 * Something that keeps failing in a row (a task's pass on a full state dir, a whole pass while tmux
 * does not answer): tried again after a wait that doubles each time, up to a cap.
 */
export interface Trouble {
  message: string;
  count: number;
  retryAt: number;
}

export const RETRY_FIRST_MS = 250;
export const RETRY_MAX_MS = 30_000;

/** One more failure after `before`: when to try again, and whether it is new to say (said once while the same). */
export function nextTrouble(before: Trouble | undefined, message: string, now: number): { trouble: Trouble; say: boolean } {
  const count = (before?.count ?? 0) + 1;
  return {
    trouble: { message, count, retryAt: now + Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** (count - 1)) },
    say: before?.message !== message,
  };
}

/**
 * The first time after `since` (a pass's start) that a task is due. A time the pass already saw go
 * by is not one to wake for again: the pass decided about it (an agent still waiting after its
 * reset time stays held by the agent), and waking for it would loop at once, pass after pass.
 */
export function earliestDue(records: readonly TaskRecord[], since: number): number {
  let due = Infinity;
  const consider = (iso: string) => {
    const at = Date.parse(iso);
    if (at > since) due = Math.min(due, at);
  };
  for (const r of records) {
    if (r.state === 'resuming' && r.nextAttemptAt) consider(r.nextAttemptAt);
    if (r.state === 'held' && r.heldUntil) consider(r.heldUntil);
  }
  return due;
}
