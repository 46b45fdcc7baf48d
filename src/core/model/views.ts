import type { AgentId } from './names';
import type { Attempt, TaskMode, TaskState, Usage, Worktree } from './record';

/** A task as a user sees it: the record plus what tmux shows now. Also sessions started by hand. */
export interface TaskView {
  name: string;
  session: string;
  agent: AgentId;
  state: TaskState;
  reason: string | null;
  agentSessionId: string | null;
  dir: string | null;
  prompt: string | null;
  createdAt: string | null;
  attempts: Attempt[];
  nextAttemptAt: string | null;
  heldUntil: string | null;
  /** How it runs (absent: a session started by hand, or a view from a host of an earlier version). */
  mode?: TaskMode;
  /** Started by hand the seed's way; the pane is its only signal. */
  adopted: boolean;
  /** The events log of the current attempt, if any. */
  eventsFile: string | null;
  /** tmux has the session now (its pane can be attached or read). */
  hasSession: boolean;
  /** The task's own git worktree (its `dir`), when it has one. */
  worktree: Worktree | null;
  /** The agent's last message: the latest attempt's that said one (a running attempt's so far). */
  lastMessage: string | null;
  /** Token use summed over the attempts (a running attempt's so far); null when the agent reported none. */
  usage: Usage | null;
  /** Another host (or container) sharing the state dir runs its latest attempt: that host's name. */
  host?: string;
  /** Queued (state `queued`): its place in this host's queue, from 1 (the next to start). */
  queue?: { place: number; of: number };
  /** The state as a supervisor recorded it, and since when: what changes are announced from. */
  recorded: { state: TaskState; since: string } | null;
}
