import type { AgentAdapter } from '../agents/types';
import type { PaneInfo } from '../tmux/commands';
import { WAITING_PASSES } from './classify';

/**
 * A prompt for a person in a task's pane: on how many passes in a row it was seen, and how many
 * lines of the pane were below it when it was last read. `n` 0 with a depth: an answered prompt
 * still on the screen.
 */
export interface Streak {
  n: number;
  depth?: number;
}

/**
 * The streak after this pass. `tail` is the pane read this pass, or undefined when it was not read
 * (its output had not moved: the streak goes on). A dead pane, an ended run, or an agent with no
 * prompt patterns has none. A confirmed prompt with output come below it was answered (the agent
 * went on), and stays answered while it only moves up the screen; a prompt lower down is a new one.
 */
export function nextStreak(prior: Streak, adapter: AgentAdapter, pane: PaneInfo | undefined, runEnded: boolean, tail: readonly string[] | undefined): Streak {
  if (!pane || pane.dead || runEnded || adapter.waitingPatterns.length === 0) return { n: 0 };
  if (tail === undefined) return prior.n > 0 ? { ...prior, n: prior.n + 1 } : prior;
  const depth = promptDepth(adapter, tail);
  if (depth === undefined) return { n: 0 };
  if (prior.depth !== undefined && (prior.n === 0 || prior.n >= WAITING_PASSES)) {
    if (depth > prior.depth || (prior.n === 0 && depth === prior.depth)) return { n: 0, depth };
  }
  return { n: prior.n + 1, depth };
}

/**
 * How many lines are below the last line of the pane's tail (its last 15) that shows a prompt for
 * a person; undefined when none does.
 */
export function promptDepth(adapter: AgentAdapter, lines: readonly string[]): number | undefined {
  const tail = lines.slice(-15);
  for (let i = tail.length - 1; i >= 0; i--) {
    if (adapter.waitingPatterns.some((p) => p.test(tail[i]))) return tail.length - 1 - i;
  }
  // A pattern that spans lines: the prompt is somewhere in the tail.
  return adapter.waitingPatterns.some((p) => p.test(tail.join('\n'))) ? 0 : undefined;
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
  // Its runner killed by a signal (kill -9 of its group, the OOM killer) before it could write the
  // agent's exit: something outside the agent ended it, and nothing the agent printed decides what
  // comes next. Not read: its resume starts one tmux call sooner (an agent that had said it is out
  // of quota says so again when resumed, and is held then).
  if (pane.dead && pane.deadSignal !== null && !exited) return false;
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

/**
 * How long a pane whose output keeps moving goes unread: a prompt drawn beside a spinner or a clock
 * redrawn every second never goes quiet. Read this often, a prompt that came just after a read is
 * seen on the next one and confirmed a second later (CONFIRM_MS), within 5 s with the 1 s probe.
 */
export const BUSY_READ_MS = 2_000;

/**
 * Whether the pane probe should have a pass read a task's pane now: its output moved and then went
 * still (wentQuiet), or it keeps moving and has not been read for BUSY_READ_MS. The same for a
 * waiting pane (a person's answer): a pane that is never still is read every 2–3 s, not at every
 * second's probe.
 */
export function dueRead(pane: PaneInfo, last: LastRead | undefined, now: number): boolean {
  return wentQuiet(pane, last, now) || (!pane.dead && moved(pane, last) && now - (last?.at ?? 0) >= BUSY_READ_MS);
}

/** Whether a pane's output moved since it was last read (read during its last active second: maybe). */
export function moved(pane: PaneInfo, last: LastRead | undefined): boolean {
  return !last || last.activity !== pane.activity || pane.activity >= Math.floor(last.at / 1000);
}
