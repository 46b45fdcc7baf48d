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

/** How a monitor (./monitor.ts) runs: its interval, its wake sources, its pacing, what it tells. */
export interface MonitorOptions {
  intervalMs: number;
  /**
   * Wake at once instead of at the next tick: a task's pane dying or the tmux server exiting
   * (tmux's pane-died hook, ./wake.ts), a runner found dead by the probe (signal 0), another
   * process signalling the state dir. The timer stays as the safety net. Default true.
   */
  eventDriven?: boolean;
  /** The runner probe while some runner is not covered by tmux's event (250 ms), and while all are (2000 ms). */
  probeMs?: number;
  fallbackProbeMs?: number;
  /** false: no tmux event, the probe alone (a benchmark's "before"). */
  tmuxEvents?: boolean;
  /** The gap between two launches of one pass (random in [min, max] ms), and how many at once (./recovery.ts). */
  paceMs?: [number, number];
  launchConcurrency?: number;
  /** Consecutive tmux failures that open the circuit breaker (no resumes while tmux itself fails). */
  breakerThreshold?: number;
  breakerCooldownMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /**
   * One supervisor acts for the whole state dir: the holder of the "supervisor" lock. Every other
   * monitor (another window, a CLI monitor) only watches, and takes over when the holder dies.
   * Default true; false only for tests of the per-task locks.
   */
  elect?: boolean;
  onChange?: (change: StateChange) => void | Promise<void>;
  onPass?: (result: PassResult) => void;
  onError?: (error: unknown) => void;
}
