import type { Evaluation } from '../decide/classify';
import { START_GRACE_MS } from '../decide/classify';
import type { Observation } from '../decide/observation';
import type { TaskRecord } from '../model/record';
import { lastAttempt } from '../model/record';
import type { PaneInfo } from '../tmux/commands';
import type { Core } from './core';
import { endLaunches, launchesInFlight } from './launch';
import { evaluateTask, observe } from './observe';

export type Decided =
  | { kind: 'decided'; fresh: TaskRecord; ev: Evaluation; sessionExists: boolean }
  /** Another supervisor acted (or the task is gone), or a launch waits for tmux to work: nothing to do now. */
  | { kind: 'acted'; fresh: TaskRecord | undefined };

/** How old a pass's pane list may be and still stand for now, when the record has not changed since. */
export const PANES_FRESH_MS = 1000;

/**
 * The verdict on one task again, under its lock, from the record as it is now: another supervisor
 * may have acted since the pass read it. The pass's pane list may be older than the record too (a
 * task started, or an attempt launched, after it was taken: its pane then still shows the previous
 * run's end), so before starting an agent, or recording that a run ended or a session is gone, the
 * panes are listed again (one call: whether the tmux server itself is still the same is part of it)
 * — unless the list shows this very attempt's runner dead (its pid the pane's), is recent
 * (`listedAt`), and the record is the one the pass read: every launch writes its record before it
 * touches tmux, so nothing was launched since, and a dead pane stays dead until one is. One tmux
 * call less on the way to a resume. `listed`: panes listed after the caller took this task's lock
 * (one listing for many tasks decided together), which stand for that call.
 */
export async function decideAgain(
  core: Core, record: TaskRecord, panes: Map<string, PaneInfo>, memory: Partial<Observation>, breakerOpen: boolean,
  listed?: Map<string, PaneInfo>, listedAt = -Infinity,
): Promise<Decided> {
  const fresh = core.store.get(record.session);
  if (!fresh || fresh.attempts.length !== record.attempts.length) return { kind: 'acted', fresh };
  const seen = observe(core, fresh, panes);
  let ev = evaluateTask(core, fresh, { ...seen, ...memory });
  const pane = panes.get(record.session);
  const unchanged = pane?.dead === true && seen.attempt.pid === pane.pid &&
    core.now() - listedAt < PANES_FRESH_MS && JSON.stringify(fresh) === JSON.stringify(record);
  let sessionExists = panes.has(record.session);
  if (ev.action.kind === 'launch' && breakerOpen) return { kind: 'acted', fresh }; // decided again once tmux works
  let latest = panes;
  let obs = seen;
  if ((ev.action.kind === 'launch' || !sessionExists || ev.ended) && !unchanged) {
    latest = listed ?? await core.tmux.listPanes();
    sessionExists = latest.has(record.session);
    obs = observe(core, fresh, latest);
    ev = evaluateTask(core, fresh, { ...obs, ...memory });
  }
  const a = lastAttempt(fresh);
  if (memory.underLock && ev.action.kind === 'launch' && a && !a.endedAt && !obs.attempt.started && obs.attempt.exitCode === null) {
    // Its launcher died after handing the session to tmux: wait for that client while the attempt
    // is young (its session comes, and the agent starts once); past that, end it before launching
    // again. With none left, one more look: it may have ended just after the list, its session made.
    // A respawn into the dead pane of the attempt before is waited for by its verdict ('starting'
    // while young); one still on its way past that is ended all the same: arriving after the next
    // attempt's, its `respawn-pane -k` would end that runner and run this attempt's after all.
    // An attempt that would have started in the future: the clock was set back since; its age is
    // not known, and only as far as the start grace is it taken for young (no wait of hours).
    const young = Math.abs(core.now() - Date.parse(a.startedAt)) < START_GRACE_MS;
    const clients = launchesInFlight(core, fresh.session, a.n, obs.serverPid);
    if (clients.length && young && !sessionExists) return { kind: 'decided', fresh, ev: evaluateTask(core, fresh, { ...obs, ...memory, launching: true }), sessionExists };
    endLaunches(clients);
    latest = await core.tmux.listPanes();
    sessionExists = latest.has(record.session);
    ev = evaluateTask(core, fresh, { ...observe(core, fresh, latest), ...memory });
  }
  return { kind: 'decided', fresh, ev, sessionExists };
}
