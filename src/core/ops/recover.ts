import type { TaskRecord } from '../model/record';
import type { CorruptRecord } from '../store/store';
import type { Core } from './core';
import { rebuildRecord } from './launch';

/**
 * The supervisor's care of records it cannot use: each unreadable one is kept aside (never
 * silently dropped) and, for a task that ran, rebuilt from the copy beside its latest attempt.
 * Returns the rebuilt records, to supervise in the same pass, and where the unreadable ones went.
 */
export function recoverRecords(core: Core, corrupt: readonly CorruptRecord[]): { rebuilt: TaskRecord[]; keptAside: CorruptRecord[] } {
  const rebuilt: TaskRecord[] = [];
  const keptAside: CorruptRecord[] = [];
  for (const c of corrupt) {
    // Kept aside, never silently dropped: the person is told where the unreadable record went.
    const lock = core.locks.tryAcquire(c.session);
    if (!lock) continue;
    try {
      const again = core.store.read(c.session);
      if (again.kind !== 'corrupt') continue;
      const keptAt = core.store.quarantine(c.session);
      // A task that ran is rebuilt from the copy beside its latest attempt and supervised again;
      // one that cannot be is shown as held for a person (observe.ts), never taken for a hand-started one.
      const found = rebuildRecord(core, c.session);
      if (found) {
        core.logger.warn(`${c.session}: unreadable task record (${c.problem}); kept at ${keptAt}; rebuilt from attempt ${found.attempts.length}`);
        rebuilt.push(found);
      } else {
        core.logger.error(`${c.session}: unreadable task record (${c.problem}); kept at ${keptAt}`);
      }
      keptAside.push({ ...c, keptAt });
    } finally {
      lock.release();
    }
  }
  // A task folder whose attempts ran but whose record is gone, kept aside by a pass that could
  // not write the rebuilt one (a full disk): rebuilt once it can be, never left unsupervised.
  // Only one whose record a pass kept aside: a record gone otherwise (removed by hand, a
  // `kill --forget` cut short) is shown held for a person, never revived from an older copy.
  for (const session of core.store.orphans().filter((s) => core.store.keptAside(s).length > 0)) {
    const lock = core.locks.tryAcquire(session);
    if (!lock) continue; // being started (its record not written yet) or changed
    try {
      if (core.store.read(session).kind !== 'missing') continue;
      const found = rebuildRecord(core, session);
      if (!found) continue;
      core.logger.warn(`${session}: no task record; rebuilt from attempt ${found.attempts.length}`);
      rebuilt.push(found);
    } finally {
      lock.release();
    }
  }
  return { rebuilt, keptAside };
}
