import type { Attempt, TaskRecord } from '../model/record';
import type { Evaluation } from './classify';

/** The record with an evaluation written into it (state, attempt end, session id). */
export function applyEvaluation(record: TaskRecord, ev: Evaluation, now: string): TaskRecord {
  const attempts = ev.ended
    ? record.attempts.map((a, i) =>
        i === record.attempts.length - 1 ? ended(a, ev.ended!) : a)
    : record.attempts;
  const stateChanged = ev.state !== record.state;
  return {
    ...record,
    attempts,
    agentSessionId: ev.agentSessionId ?? record.agentSessionId,
    state: ev.state,
    stateReason: ev.reason,
    stateSince: stateChanged ? now : record.stateSince,
    nextAttemptAt: ev.nextAttemptAt,
    heldUntil: ev.heldUntil,
    updatedAt: now,
  };
}

/** The attempt with its end, its last word and its token use. */
function ended(a: Attempt, e: NonNullable<Evaluation['ended']>): Attempt {
  const { lastMessage, usage } = e.summary ?? {};
  return {
    ...a, endedAt: e.at, exitCode: e.exitCode, signal: e.signal,
    ...(lastMessage !== undefined ? { lastMessage } : {}),
    ...(usage ? { usage } : {}),
  };
}
