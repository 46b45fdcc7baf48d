import type { TaskRecord } from '../model/record';
import { readRunnerPid } from '../store/attempt';
import { FencedError } from '../store/lock';
import type { PaneInfo } from '../tmux/commands';
import type { Core } from './core';
import { endStrays } from './launch';
import { ownerElsewhere } from './observe';

/**
 * This host ran the task, was away (suspended, cut off) past its lease, and another host resumed it
 * meanwhile: what still runs of it here is a second agent in the same session. Ends this host's
 * pane and processes of it, under the task's lock, fenced (`fence` throws when this process no
 * longer leads). The record is that host's: it is not written here.
 */
export async function endSuperseded(core: Core, fence: () => void, record: TaskRecord, pane: PaneInfo): Promise<void> {
  const lock = core.locks.tryAcquire(record.session);
  if (!lock) return;
  try {
    const fresh = core.store.get(record.session);
    const owner = fresh && ownerElsewhere(core, fresh);
    if (!fresh || !owner) return;
    fence();
    if (lock.check() === 'lost') throw new FencedError(lock.file);
    core.logger.warn(`${record.session}: ${owner.host} runs it now (attempt ${fresh.attempts.length}); ending what still ran of it here`);
    const mine = fresh.attempts.filter((a) => a.host?.key === core.host.key);
    // Only a pane this host's own runner made (a tmux server shared across pid namespaces may
    // show the other host's pane under the same name): its runner's pid is one this host wrote.
    if (mine.some((a) => readRunnerPid(core.store.paths.attemptDir(record.session, a.n)) === pane.pid)) await core.tmux.killSession(record.session);
    for (const a of mine) await endStrays(core, record.session, a.n);
  } finally {
    lock.release();
  }
}
