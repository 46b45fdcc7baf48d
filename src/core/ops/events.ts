import fs = require('node:fs');
import type { TaskView } from '../model/views';

/** A task's state as a watcher last saw it. */
export interface Seen {
  state: string;
  reason: string | null;
}

export interface ViewChange {
  session: string;
  /** null: the task is new to the watcher (started, or first seen); `to` null: it is gone. */
  from: string | null;
  to: string | null;
  reason: string | null;
  view?: TaskView;
}

/** What changed between two looks at every task (pure). */
export function changesBetween(before: Map<string, Seen>, views: TaskView[]): { changes: ViewChange[]; now: Map<string, Seen> } {
  const now = new Map<string, Seen>();
  const changes: ViewChange[] = [];
  for (const v of views) {
    now.set(v.session, { state: v.state, reason: v.reason });
    const was = before.get(v.session);
    if (!was || was.state !== v.state) changes.push({ session: v.session, from: was?.state ?? null, to: v.state, reason: v.reason, view: v });
  }
  for (const [session, was] of before) {
    if (!now.has(session)) changes.push({ session, from: was.state, to: null, reason: null });
  }
  return { changes, now };
}

/**
 * Looks at every task again whenever the state dir is touched (a record written, the wake file)
 * and at least every `everyMs`, and hands on what changed. It only watches: it never takes the
 * supervisor's lease nor acts on a task. Stops when `signal` aborts.
 */
export async function watchViews(
  home: string, look: () => Promise<TaskView[]>, onChanges: (changes: ViewChange[], views: TaskView[]) => void,
  signal: AbortSignal, everyMs = 500,
): Promise<void> {
  let seen = new Map<string, Seen>();
  let poke: (() => void) | undefined;
  const watchers: fs.FSWatcher[] = [];
  for (const dir of [home, `${home}/tasks`]) {
    try {
      const w = fs.watch(dir, () => poke?.());
      w.on('error', () => undefined);
      watchers.push(w);
    } catch {
      /* not there yet: the timer looks */
    }
  }
  try {
    let first = true;
    while (!signal.aborted) {
      const views = await look();
      const { changes, now } = changesBetween(seen, views);
      seen = now;
      if (changes.length || first) onChanges(first ? [] : changes, views);
      first = false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, everyMs);
        function done() {
          clearTimeout(t);
          poke = undefined;
          signal.removeEventListener('abort', done);
          resolve();
        }
        poke = done;
        signal.addEventListener('abort', done);
      });
    }
  } finally {
    for (const w of watchers) w.close();
  }
}
