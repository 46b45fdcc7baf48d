import type { Evaluation } from '../decide/classify';
import type { Observation } from '../decide/observation';
import type { TaskRecord } from '../model/record';
import type { PaneInfo } from '../tmux/commands';
import type { Core } from './core';
import { evaluateTask, observe } from './observe';

export type Decided =
  | { kind: 'decided'; fresh: TaskRecord; ev: Evaluation; sessionExists: boolean }
  /** Another supervisor acted (or the task is gone), or a launch waits for tmux to work: nothing to do now. */
  | { kind: 'acted'; fresh: TaskRecord | undefined };

/**
 * The verdict on one task again, under its lock, from the record as it is now: another supervisor
 * may have acted since the pass read it. The pass's pane list may be older than the record too (a
 * task started, or an attempt launched, after it was taken: its pane then still shows the previous
 * run's end), so before starting an agent, or recording that a run ended or a session is gone, the
 * panes are listed again (one call: whether the tmux server itself is still the same is part of it).
 * `listed`: panes listed after the caller took this task's lock (one listing for many tasks
 * decided together), which stand for that call.
 */
export async function decideAgain(
  core: Core, record: TaskRecord, panes: Map<string, PaneInfo>, memory: Partial<Observation>, breakerOpen: boolean,
  listed?: Map<string, PaneInfo>,
): Promise<Decided> {
  const fresh = core.store.get(record.session);
  if (!fresh || fresh.attempts.length !== record.attempts.length) return { kind: 'acted', fresh };
  let ev = evaluateTask(core, fresh, { ...observe(core, fresh, panes), ...memory });
  let sessionExists = panes.has(record.session);
  if (ev.action.kind === 'launch' && breakerOpen) return { kind: 'acted', fresh }; // decided again once tmux works
  if (ev.action.kind === 'launch' || !sessionExists || ev.ended) {
    const now = listed ?? await core.tmux.listPanes();
    sessionExists = now.has(record.session);
    ev = evaluateTask(core, fresh, { ...observe(core, fresh, now), ...memory });
  }
  return { kind: 'decided', fresh, ev, sessionExists };
}
