import type { LockHolder } from '../store/lock';
import type { TaskRecord, TaskState } from '../model/record';
import { isFinished } from '../model/record';
import { heldByAgent } from '../model/holds';

export interface StateChange {
  session: string;
  name: string;
  agent: string;
  from: TaskState;
  to: TaskState;
  reason: string | null;
  record: TaskRecord;
}

export interface PassResult {
  reason: string;
  tasks: number;
  /** The sessions of every readable record seen in this pass. */
  sessions: string[];
  /** This monitor was the supervisor for the pass; otherwise it deferred to `deferredTo`. */
  leader: boolean;
  deferredTo?: LockHolder;
  /** A newer build leads this host's tasks: this monitor hands over to it. */
  supersededBy?: LockHolder;
  /** Tasks that still need supervision (not done, not given up, not killed by the user). */
  unfinished: number;
  changes: StateChange[];
  launched: string[];
  corrupt: { session: string; problem: string; keptAt?: string }[];
}

/** A task a supervisor must still watch: not done, not given up, not killed by the user. */
export function needsSupervision(r: TaskRecord): boolean {
  if (isFinished(r.state)) return false;
  if (r.state === 'held') return !r.killedByUser && (r.heldUntil !== null || heldByAgent(r));
  return true;
}

/** What changed between two versions of a record, when its state did. */
export function stateChange(before: TaskRecord, after: TaskRecord): StateChange | undefined {
  if (before.state === after.state) return undefined;
  return { session: after.session, name: after.name, agent: after.agent, from: before.state, to: after.state, reason: after.stateReason, record: after };
}
