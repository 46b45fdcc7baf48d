import type { AgentAdapter } from '../agents/types';
import type { PaneInfo } from '../tmux/commands';
import { waitingSeen } from './classify';

/**
 * Passes in a row that saw a prompt for a person in a task's pane. `tail` is the pane read this
 * pass, or undefined when it was not read (its output had not moved: the streak goes on).
 * A dead pane, an ended run, or an agent with no prompt patterns has none.
 */
export function nextStreak(prior: number, adapter: AgentAdapter, pane: PaneInfo | undefined, runEnded: boolean, tail: readonly string[] | undefined): number {
  if (!pane || pane.dead || runEnded || adapter.waitingPatterns.length === 0) return 0;
  if (tail !== undefined) return waitingSeen(adapter, tail) ? prior + 1 : 0;
  return prior > 0 ? prior + 1 : 0;
}

/** When a pane was last read: tmux's activity stamp (whole seconds) then, and the time of the read (ms). */
export interface LastRead {
  activity: number;
  at: number;
}

/**
 * Whether to read a task's pane this pass: its run just ended (its last lines tell an auth failure
 * or a usage limit), or its output moved since it was last read and its agent has prompts a
 * person must answer. tmux counts activity in whole seconds: output in the same second as the last
 * read shows no change, so a pane read during its last active second is read again.
 */
export function shouldCapture(adapter: AgentAdapter, pane: PaneInfo, exited: boolean, last: LastRead | undefined): boolean {
  if (exited || pane.dead) return true;
  return adapter.waitingPatterns.length > 0 && moved(pane, last);
}

/**
 * Whether a live pane's output moved since it was last read and has been still since: the moment
 * a prompt for a person may be on it (an agent stops printing to ask). tmux counts activity in
 * whole seconds, so "still" means at least one whole second after the last active one (1–2 s).
 */
export function wentQuiet(pane: PaneInfo, last: LastRead | undefined, now: number): boolean {
  return !pane.dead && moved(pane, last) && now >= (pane.activity + 2) * 1000;
}

/** Whether a pane's output moved since it was last read (read during its last active second: maybe). */
export function moved(pane: PaneInfo, last: LastRead | undefined): boolean {
  return !last || last.activity !== pane.activity || pane.activity >= Math.floor(last.at / 1000);
}
