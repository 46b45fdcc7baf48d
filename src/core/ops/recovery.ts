import { applyEvaluation } from '../decide/apply';
import type { Observation } from '../decide/observation';
import type { TaskRecord } from '../model/record';
import { lastAttempt } from '../model/record';
import type { Lock } from '../store/lock';
import { FencedError } from '../store/lock';
import type { PaneInfo } from '../tmux/commands';
import type { Core } from './core';
import { isoNow } from './core';
import type { AttemptProcesses } from './launch';
import { attemptProcesses, launch, signalSupervisors } from './launch';
import { decideAgain, PANES_FRESH_MS } from './recheck';

/**
 * Launches in one pass are paced: the first at once, each next one a gap (random in [min, max] ms)
 * after the one before started, and at most `concurrency` of them under way at once. A launch
 * returns once tmux made the pane; the agent then starts by itself, so the gap is what bounds how
 * many agent CLIs start up at the same moment (the jitter keeps them from reaching their servers
 * in step), and the concurrency how many launches write and call tmux side by side. A recovery
 * brings back only what was running (each lost task once), so a limit on running agents is not
 * what holds it back; this pacing is what keeps it from flooding the machine.
 */
export interface Pacing {
  gapMs: [number, number];
  concurrency: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** 50 tasks lost at once take about 1.5 s of pacing (49 gaps of 30 ms on average); one crash is launched at once. */
export const DEFAULT_PACING: Pacing = { gapMs: [20, 40], concurrency: 4 };

export class Pacer {
  private nextAt = -Infinity;

  constructor(private readonly pacing: Pacing, private readonly now: () => number = Date.now) {}

  get concurrency(): number {
    return Math.max(1, Math.floor(this.pacing.concurrency));
  }

  /** Resolves when the next launch may start. */
  async turn(): Promise<void> {
    const [min, max] = this.pacing.gapMs;
    const now = this.now();
    const at = Math.max(now, this.nextAt);
    this.nextAt = at + min + (this.pacing.random ?? Math.random)() * (max - min);
    if (at > now) await (this.pacing.sleep ?? ((t: number) => new Promise<void>((r) => setTimeout(r, t))))(at - now);
  }
}

/** A pass's pacer from a monitor's options (each default DEFAULT_PACING's). */
export function pacerFor(o: { paceMs?: [number, number]; launchConcurrency?: number; sleep?: Pacing['sleep']; random?: Pacing['random'] }): Pacer {
  return new Pacer({ gapMs: o.paceMs ?? DEFAULT_PACING.gapMs, concurrency: o.launchConcurrency ?? DEFAULT_PACING.concurrency, sleep: o.sleep, random: o.random });
}

/** What acting on a task needs from the loop that decided to: its lease, its breaker, its record of the pass. */
export interface Actor {
  readonly core: Core;
  /** Throws FencedError unless this process still leads. */
  fenceLead(): void;
  breakerOpen(): boolean;
  /** When the pass listed the panes it decided from. */
  readonly listedAt: number;
  tmuxSucceeded(): void;
  tmuxFailed(e: unknown): void;
  /** A record went from `before` to `after` (written). */
  changed(before: TaskRecord, after: TaskRecord): void;
  launched(session: string): void;
  /** The task is to be looked at again in a moment (a verdict under its lock said so: recheckSoon). */
  soon?(): void;
  readonly pacer: Pacer;
}

/** What a pass decided to launch, with what it remembers of the task (streaks, dead-since). */
export interface Candidate {
  record: TaskRecord;
  memory: Partial<Observation>;
}

/** Looked at once for several tasks decided together, each under its own lock taken before. */
interface Shared {
  /** Undefined: one task, decided from the pass's own recent list (./recheck.ts lists again if it must). */
  listed?: Map<string, PaneInfo>;
  seen: () => AttemptProcesses;
}

/**
 * Under the task's lock (the caller's): the verdict again from the record as it is now, then the
 * record written and, when it says so, the next attempt launched. The record is written before
 * tmux is touched; the lease and the task's lock are checked before each write and before tmux.
 */
export async function actUnderLock(
  actor: Actor, lock: Lock, record: TaskRecord, panes: Map<string, PaneInfo>, memory: Partial<Observation>, shared?: Shared,
): Promise<TaskRecord | undefined> {
  const core = actor.core;
  const again = await decideAgain(core, record, panes, { ...memory, underLock: true }, actor.breakerOpen(), shared?.listed, actor.listedAt);
  if (again.kind === 'acted') return again.fresh;
  const { fresh, sessionExists, ev } = again;
  let next = applyEvaluation(fresh, ev, isoNow(core));
  // Fencing: this process still leads and still holds the task's lock, right before it acts.
  const fence = () => {
    actor.fenceLead();
    if (lock.check() === 'lost') throw new FencedError(lock.file);
  };
  if (ev.action.kind !== 'launch') {
    fence();
    core.store.write(next);
    actor.changed(fresh, next);
    // Its session on its way to tmux (its launcher died): nothing else will say when it gets there, or not.
    if (ev.recheckSoon) actor.soon?.();
    return next;
  }
  if (actor.breakerOpen()) return fresh;
  await actor.pacer.turn();
  // The attempt that ended is written as such by the launch's own record, before tmux is touched.
  // Written first on its own only when the launch may wait (an earlier attempt's processes to end,
  // up to seconds) or no look at /proc was shared: in a recovery of many tasks each record write
  // is two fsyncs, and they are most of what a launch waits for on a busy disk.
  const ended = lastAttempt(fresh);
  const seen = shared?.seen();
  const early = !seen || !ended || (seen.get(core.store.paths.attemptDir(fresh.session, ended.n))?.length ?? 0) > 0;
  fence();
  if (early) await core.store.writeAsync(next);
  actor.changed(fresh, next);
  const before = next;
  let launchWrote = false;
  try {
    next = await launch(core, next, ev.action, sessionExists, fence, { ...(seen ? { seen, quiet: true } : {}), onWritten: () => (launchWrote = true) });
    actor.launched(record.session);
    actor.tmuxSucceeded();
  } catch (e) {
    if (e instanceof FencedError) throw e;
    // Not launched, and its record not written by the launch: the end of the attempt is written all the same.
    if (!early && !launchWrote) await writeIfStillHeld(core, fence, before);
    actor.tmuxFailed(e);
    core.logger.error(`${record.session}: could not launch attempt ${next.attempts.length + 1}: ${(e as Error).message}`);
    throw e;
  }
  actor.changed(before, next);
  return next;
}

/** Best effort: the error that made this necessary is what the caller says. */
async function writeIfStillHeld(core: Core, fence: () => void, record: TaskRecord): Promise<void> {
  try {
    fence();
    await core.store.writeAsync(record);
  } catch {
    /* lost the lease meanwhile, or the disk is full: the next pass sees the loss again */
  }
}

export type Outcome = { record: TaskRecord | undefined } | { error: unknown };

/**
 * Every launch a pass decided on, together (a tmux server killed: every task lost at once). Each
 * task's lock is taken first; then the panes are listed once and /proc looked at once for all of
 * them (each taken after every lock, so each is as fresh as a look of its own would be); then each
 * task is decided again and launched under its lock, paced. `settle` hears of each task it acted
 * on (undefined: another process holds its lock). A lease found taken over stops every launch not
 * yet begun, and is thrown once those under way have stopped.
 */
export async function launchMany(
  actor: Actor, candidates: readonly Candidate[], panes: Map<string, PaneInfo>, settle: (c: Candidate, outcome: Outcome) => void,
): Promise<void> {
  const core = actor.core;
  const locked: { c: Candidate; lock: Lock; done: boolean }[] = [];
  for (const c of candidates) {
    let lock: Lock | undefined;
    try {
      lock = core.locks.tryAcquire(c.record.session);
    } catch (e) {
      settle(c, { error: e }); // its lock cannot be written (a full disk): that task's trouble, not the pass's
      continue;
    }
    if (lock) locked.push({ c, lock, done: false });
    else settle(c, { record: undefined }); // another supervisor (or a person) is acting on this task
  }
  if (locked.length === 0) return;
  let fenced: FencedError | undefined;
  let launches = 0;
  try {
    let listed: Map<string, PaneInfo> | undefined;
    try {
      // One crash, seen in a list of a moment ago: decided from it (no call on the way to its resume).
      if (locked.length > 1 || core.now() - actor.listedAt >= PANES_FRESH_MS) listed = await core.tmux.listPanes();
    } catch (e) {
      for (const l of locked) settle(l.c, { error: e });
      return;
    }
    let seen: AttemptProcesses | undefined;
    const shared: Shared = { listed, seen: () => (seen ??= attemptProcesses()) };
    let next = 0;
    const worker = async () => {
      while (next < locked.length && !fenced) {
        const l = locked[next++];
        try {
          const before = l.c.record.attempts.length;
          const record = await actUnderLock(actor, l.lock, l.c.record, panes, l.c.memory, shared);
          if (record && record.attempts.length > before) launches++;
          settle(l.c, { record });
        } catch (e) {
          if (e instanceof FencedError) fenced = e;
          else settle(l.c, { error: e });
        } finally {
          l.done = true;
          l.lock.release();
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(actor.pacer.concurrency, locked.length) }, worker));
  } finally {
    for (const l of locked) if (!l.done) l.lock.release();
    if (launches > 0) signalSupervisors(core);
  }
  if (fenced) throw fenced;
}
