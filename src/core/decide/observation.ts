import type { PaneInfo } from '../tmux/commands';
import type { AttemptSummary } from '../agents/transcript';
import type { AttemptFiles } from '../store/attempt';
import type { HookState } from '../model/interactive';

/** Everything the classifier needs about one task, gathered without deciding anything. */
export interface Observation {
  /** The session's first pane, or undefined when tmux has no such session. */
  pane: PaneInfo | undefined;
  attempt: AttemptFiles;
  /** The last lines of the pane, when they were captured this time. */
  paneTail?: string[];
  /** The first and the last lines of the current attempt's JSON events (the id is early, the end late). */
  eventsHead?: string[];
  eventsTail?: string[];
  /** The pid of the tmux server that holds the tasks now; undefined when none runs. */
  serverPid?: number;
  /** When the pane was first seen dead without its status (ms; the monitor remembers). */
  deadSince?: number;
  /** The task's folder does not exist (looked at only once its run has ended). */
  dirMissing?: boolean;
  /** The current attempt's last word and token use, read once its run is over. */
  summary?: AttemptSummary;
  /** An interactive attempt: what its agent's hooks said last (absent: nothing yet). */
  hook?: HookState;
  /** How many passes in a row saw a prompt for a person (the monitor remembers). */
  waitingStreak?: number;
  /**
   * The current attempt runs on another host (or container): `alive` while that host's
   * supervisor renews its lease, or the attempt's files still change.
   */
  elsewhere?: { host: string; alive: boolean };
  /**
   * Looked at under the task's lock: every launch holds it until its session exists, so an
   * attempt with no session by now will never get one (its launcher died), unless `launching`.
   */
  underLock?: boolean;
  /**
   * A tmux client of this host still carries the attempt's runner to tmux (its launcher died
   * after handing it over): its session may yet come.
   */
  launching?: boolean;
  /**
   * The current attempt never started and its dead pane is still the one of the attempt before
   * (the pane's process is that attempt's runner): its respawn never reached tmux (a call past its
   * deadline that the server never ran).
   */
  paneOfEarlier?: boolean;
}
