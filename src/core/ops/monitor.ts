/*
 * The supervisor loop and one pass of it. Longer than most files here, for a reason: the pass's
 * memory of each task between passes (waiting streaks, dead-since times, when a pane was last read)
 * belongs to the loop. The rules it applies are pure and live below (decide/); election, wake
 * sources, acting under a task's lock and the paced launches of a pass are their own units
 * (./election.ts, ./wake.ts, ./recovery.ts, ./recheck.ts, ./launch.ts). */
import { adapterFor } from '../agents/registry';
import { Breaker } from '../decide/breaker';
import { earliestDue, nextTrouble, type Trouble } from '../decide/retry';
import type { LastRead, Streak } from '../decide/streak';
import { nextStreak } from '../decide/streak';
import { WAITING_PASSES } from '../decide/classify';
import type { TaskRecord } from '../model/record';
import { isFinished, isInteractive } from '../model/record';
import type { PaneInfo } from '../tmux/commands';
import { TmuxError } from '../tmux/errors';
import { FencedError } from '../store/lock';
import type { Core } from './core';
import { ListSnapshot } from './listSnapshot';
import { Leadership } from './election';
import type { Actor, Candidate, Outcome } from './recovery';
import { actUnderLock, launchMany, pacerFor } from './recovery';
import { recoverRecords } from './recover';
import { captureNeeded, evaluateTask, observe } from './observe';
import type { MonitorOptions, PassResult } from './pass';
import { needsSupervision, stateChange } from './pass';
import { WakeSources } from './wake';
import { ensureRenderHub } from './hubLaunch';
import { startQueued } from './queue';
import { endSuperseded } from './superseded';

/** How soon a pass looks again when an attempt's end is about to be known. */
const RECHECK_MS = 250;
/** How soon a pass looks again at a prompt for a person seen once: the second sighting that confirms it. */
const CONFIRM_MS = 1000;
/** How soon a pass looks again while memory holds the queue back (memory frees without an event). */
const QUEUE_RECHECK_MS = 2000;

export { LEGACY_SUPERVISOR_LOCK, supervisorLock } from './election';
export { needsSupervision, type MonitorOptions, type PassResult, type StateChange } from './pass';

/**
 * The supervisor loop: observe every task with one tmux call, evaluate each (pure), and act under
 * the task's lock. Single-flight: a pass never overlaps another; the timer re-arms after a pass
 * ends; `wake()` asks for a pass now (coalesced with one already running).
 */
export class Monitor {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<PassResult> | undefined;
  private again: string | undefined;
  private stopped = true;
  /** Passes in a row in which each task showed a prompt for a person. */
  private readonly waitingStreak = new Map<string, Streak>();
  /** Since when each task's pane has been seen dead without its status. */
  private readonly deadSince = new Map<string, number>();
  /** The shortest check interval among the unfinished tasks' own policies. */
  private tasksIntervalMs = Infinity;
  /** A pass asked to look again soon (an attempt's end about to be known). */
  private recheckAt = Infinity;
  /** When each task's pane was last read. */
  private readonly capturedAt = new Map<string, LastRead>();
  /** When this pass listed the panes. */
  private listedAt = -Infinity;
  /** Tasks whose pass failed, in a row: what was said, how often, and when to try again. */
  private readonly failing = new Map<string, Trouble>();
  private readonly leadership: Leadership;
  private readonly wakeSources: WakeSources;
  private readonly breaker: Breaker;
  private readonly snapshot: ListSnapshot;

  constructor(private readonly service: Core, private options: MonitorOptions) {
    this.leadership = new Leadership(service, options.elect !== false);
    this.wakeSources = new WakeSources(service, this.leadership, (reason) => this.wake(reason), options.probeMs ?? 250,
      (s) => this.capturedAt.get(s), 1000, options.fallbackProbeMs ?? 2000, options.tmuxEvents !== false);
    this.snapshot = new ListSnapshot(service, () => this.leadership.isLeader);
    this.breaker = new Breaker(options.breakerThreshold ?? 3, options.breakerCooldownMs ?? 30_000, () => service.now());
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    if (this.options.eventDriven !== false) this.wakeSources.start();
    this.leadership.startRenewing();
    this.snapshot.start();
    this.wake('start');
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.wakeSources.stop();
    this.snapshot.stop();
    this.resign();
  }

  /** Gives up the supervisor role (stop, or the end of `monitor --once`). */
  resign(): void {
    this.leadership.resign();
  }

  get isLeader(): boolean {
    return this.leadership.electing && this.leadership.isLeader;
  }

  get isRunning(): boolean {
    return !this.stopped;
  }

  /** What this monitor keeps per task (for the memory benchmark and diagnostics). */
  stats(): { tracked: { waitingStreak: number; capturedAt: number; deadSince: number; watched: number }; watchedRunners: Map<string, number | null> } {
    const watchedRunners = this.wakeSources.watchedRunners();
    return {
      tracked: { waitingStreak: this.waitingStreak.size, capturedAt: this.capturedAt.size, deadSince: this.deadSince.size, watched: watchedRunners.size }, watchedRunners,
    };
  }

  setInterval(ms: number): void {
    this.options = { ...this.options, intervalMs: ms };
    if (!this.stopped) this.wake('interval changed');
  }

  /** A pass as soon as possible; passes asked for while one runs collapse into one more. */
  wake(reason: string): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = reason;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    void this.loop(reason);
  }

  private async loop(reason: string): Promise<void> {
    let next: string | undefined = reason;
    while (next !== undefined && !this.stopped) {
      this.again = undefined;
      try {
        await this.pass(next);
        this.passSucceeded();
      } catch (e) {
        this.passFailed(e);
      }
      next = this.again;
    }
    if (!this.stopped) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.loop('timer');
      }, this.nextDelay());
    }
  }

  /** The next tick: the interval, or sooner when a scheduled resume or the breaker's end comes first. */
  private nextDue = Infinity;

  /** Passes that failed as a whole in a row (tmux not answering, say): retried soon, backing off. */
  private passTrouble: Trouble | undefined;

  private passFailed(e: unknown): void {
    const { trouble, say } = nextTrouble(this.passTrouble, (e as Error).message, this.service.now());
    this.passTrouble = trouble;
    if (say) this.options.onError?.(e);
  }

  private passSucceeded(): void {
    if (!this.passTrouble) return;
    this.service.logger.info(`supervision works again (after ${this.passTrouble.count} failed ${this.passTrouble.count === 1 ? 'pass' : 'passes'}: ${this.passTrouble.message})`);
    this.passTrouble = undefined;
  }

  private nextDelay(): number {
    const now = this.service.now();
    let delay = Math.min(this.options.intervalMs, this.tasksIntervalMs, this.nextDue - now + 50);
    if (this.passTrouble) delay = Math.min(delay, this.passTrouble.retryAt - now);
    if (this.breaker.open) delay = Math.min(delay, this.breaker.closesAt - now + 50);
    return Math.max(10, delay);
  }

  get breakerOpen(): boolean {
    return this.breaker.open;
  }

  /** One pass over every task. Safe to call directly (`monitor --once`); concurrent calls share one pass. */
  pass(reason = 'manual'): Promise<PassResult> {
    if (this.running) return this.running;
    this.running = this.doPass(reason).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async doPass(reason: string): Promise<PassResult> {
    const svc = this.service;
    const startedAt = svc.now();
    if (!this.leadership.lead()) {
      this.wakeSources.notLeading();
      const { records } = svc.store.list();
      const result: PassResult = {
        reason, tasks: records.length, sessions: records.map((r) => r.session), changes: [], launched: [], corrupt: [],
        leader: false, deferredTo: this.leadership.holder(), unfinished: records.filter(needsSupervision).length,
        ...(this.leadership.supersededBy ? { supersededBy: this.leadership.supersededBy } : {}),
      };
      this.options.onPass?.(result);
      return result;
    }
    // Records first, then the panes: a record is written before its session is made.
    const { records, corrupt, unreadable } = svc.store.list();
    let panes;
    try {
      panes = await svc.tmux.listPanes();
      this.listedAt = svc.now();
      this.tmuxSucceeded();
    } catch (e) {
      // A server that does not answer (stopped, overloaded) is not a broken one: the failed pass is
      // tried again soon by itself, and no launch is made meanwhile. Counted here, it opened the
      // breaker after three such passes, and the crashes it hid waited 30 s more once it answered.
      if (!(e instanceof TmuxError && e.cause === 'timeout')) this.tmuxFailed(e);
      throw e;
    }
    for (const u of unreadable) svc.logger.warn(`${u.session}: its record cannot be read just now (${u.problem}); looked at again next pass`);
    const result: PassResult = {
      reason, tasks: records.length, sessions: records.map((r) => r.session), changes: [], launched: [], corrupt: [], leader: true, unfinished: 0,
    };
    const recovered = recoverRecords(svc, corrupt);
    records.push(...recovered.rebuilt);
    result.corrupt.push(...recovered.keptAside);
    const captured = await captureNeeded(svc, records, panes, this.capturedAt);
    const live = new Set<string>();
    const after: TaskRecord[] = [];
    const actor = this.actor(result);
    // Launches wait until every task was looked at, then go together (./recovery.ts).
    const launches: Candidate[] = [];
    // soon: an interactive agent's hooks may say nothing until a prompt: its pane is looked at once it runs.
    const settle = (record: TaskRecord, outcome: Outcome, soon = false) => {
      if (soon) this.recheckAt = Math.min(this.recheckAt, svc.now() + RECHECK_MS);
      const trouble = this.failing.get(record.session);
      if ('error' in outcome) {
        after.push(svc.store.get(record.session) ?? record);
        this.taskFailed(record.session, outcome.error);
        return;
      }
      after.push(outcome.record ?? record);
      if (trouble) {
        this.failing.delete(record.session);
        svc.logger.info(`${record.session}: recovered (after ${trouble.count} failed ${trouble.count === 1 ? 'try' : 'tries'}: ${trouble.message})`);
      }
    };
    try {
      for (const record of records) {
        live.add(record.session);
        const trouble = this.failing.get(record.session);
        if (trouble && trouble.retryAt > svc.now()) {
          after.push(record);
          continue;
        }
        try {
          const done = await this.passOne(record, panes, actor, captured, launches);
          if (done !== 'launch') settle(record, { record: done });
        } catch (e) {
          if (e instanceof FencedError) throw e;
          settle(record, { error: e });
        }
      }
      await launchMany(actor, launches, panes, (c, outcome) => settle(c.record, outcome, isInteractive(c.record)));
      if (after.some((r) => r.state === 'queued')) await this.startQueued(after, panes, result);
    } catch (e) {
      if (!(e instanceof FencedError)) throw e;
      // Replaced while this pass ran (it was stopped, or a newer build took over): not one more action.
      svc.logger.warn(`the supervisor lease was taken over during this pass: acting no more (${e.message})`);
      result.leader = false;
      result.deferredTo = this.leadership.holder();
      this.options.onPass?.(result);
      return result;
    }
    // Panes shown by the render hub get one again should it have died (killed, the OOM killer).
    ensureRenderHub(svc, { ifEntries: true });
    for (const m of [this.failing, this.waitingStreak, this.capturedAt, this.deadSince]) for (const key of [...m.keys()]) if (!live.has(key)) m.delete(key);
    // A task being retried is looked at on its own schedule: its dead runner must not wake a pass every probe.
    this.wakeSources.watchRunners(after.filter((r) => !this.failing.has(r.session)), panes);
    this.nextDue = Math.min(earliestDue(after, startedAt), this.recheckAt, ...[...this.failing.values()].map((f) => f.retryAt));
    // A task's own policy may ask to be looked at more often than this monitor was started with.
    this.tasksIntervalMs = Math.min(Infinity, ...after.filter(needsSupervision).map((r) => r.policy?.intervalMs ?? Infinity));
    this.recheckAt = Infinity;
    result.unfinished = after.filter(needsSupervision).length;
    void this.snapshot.keep();
    this.options.onPass?.(result);
    return result;
  }

  /** The queue's turn, once every task was looked at (a slot that just freed is seen): see ops/queue.ts. */
  private async startQueued(after: TaskRecord[], panes: Map<string, PaneInfo>, result: PassResult): Promise<void> {
    const q = await startQueued(this.service, panes, () => this.leadership.fence());
    for (const c of q.changed) {
      result.launched.push(c.after.session);
      this.emit(result, c.before, c.after);
      after.splice(after.findIndex((r) => r.session === c.after.session), 1, c.after);
    }
    for (const f of q.failed) this.taskFailed(f.session, f.error);
    if (q.memoryBound) this.recheckAt = Math.min(this.recheckAt, this.service.now() + QUEUE_RECHECK_MS);
  }

  /**
   * A task's pass failed: tried again after a wait that doubles each time in a row (capped), and
   * said once, again only when what fails changes; `recovered` is said when it works again.
   */
  private taskFailed(session: string, e: unknown): void {
    const { trouble, say } = nextTrouble(this.failing.get(session), (e as Error).message, this.service.now());
    this.failing.set(session, trouble);
    // Said by the logger alone: onError's listeners log it too, and one line is enough.
    if (say) this.service.logger.error(`${session}: ${trouble.message} (tried again in a while, said again only if it changes)`);
  }

  private tmuxSucceeded(): void {
    this.breaker.succeeded();
  }

  /** tmux itself failing (not a missing session): after a few in a row, stop resuming for a while. */
  private tmuxFailed(e: unknown): void {
    if (e instanceof TmuxError && (e.cause === 'no-such-session' || e.cause === 'duplicate-session')) return;
    if (this.breaker.failed()) {
      this.service.logger.error(`tmux keeps failing (${(e as Error).message}); no resumes for ${this.breaker.cooldownSeconds}s`);
    }
  }

  private async passOne(
    record: TaskRecord, panes: Map<string, PaneInfo>, actor: Actor, captured: Map<string, string[]>, launches: Candidate[],
  ): Promise<TaskRecord | undefined | 'launch'> {
    const svc = this.service;
    if (isFinished(record.state)) return record;
    const adapter = adapterFor(record.agent);
    const pane = panes.get(record.session);
    const tail = captured.get(record.session);
    let obs = { ...observe(svc, record, panes), paneTail: tail };
    // A prompt for a person counts once it is seen on two passes in a row (unchanged panes keep their streak).
    const seen = nextStreak(this.waitingStreak.get(record.session) ?? { n: 0 }, adapter, pane, obs.attempt.exitCode !== null, tail);
    this.waitingStreak.set(record.session, seen);
    const streak = seen.n;
    if (streak > 0 && streak < WAITING_PASSES) this.recheckAt = Math.min(this.recheckAt, svc.now() + CONFIRM_MS);
    // A dead pane whose status tmux has not filled in yet: remember since when.
    if (pane?.dead && pane.deadStatus === null && pane.deadSignal === null) {
      if (!this.deadSince.has(record.session)) this.deadSince.set(record.session, svc.now());
      // tmux may have missed its process's end: asked to reap now, it runs the pane-died hook.
      svc.tmux.nudge(pane.serverPid);
    } else {
      this.deadSince.delete(record.session);
    }
    obs = { ...obs, waitingStreak: streak, deadSince: this.deadSince.get(record.session) };
    // This host ran it, was away (suspended, cut off) past its lease, and another host resumed it
    // meanwhile: what still runs of it here is a second agent in the same session.
    if (obs.elsewhere && pane) {
      await endSuperseded(svc, () => this.leadership.fence(), record, pane);
      return record;
    }
    const ev = evaluateTask(svc, record, obs);
    if (ev.recheckSoon) this.recheckAt = Math.min(this.recheckAt, svc.now() + RECHECK_MS);
    if (ev.recheckAt !== undefined) this.recheckAt = Math.min(this.recheckAt, ev.recheckAt);
    const changed =
      ev.state !== record.state || ev.reason !== record.stateReason || ev.ended !== undefined ||
      (ev.agentSessionId !== undefined && ev.agentSessionId !== record.agentSessionId) ||
      ev.nextAttemptAt !== record.nextAttemptAt || ev.heldUntil !== record.heldUntil;
    if (!changed && ev.action.kind === 'none' && !ev.confirmUnderLock) return record;
    const memory = { paneTail: obs.paneTail, waitingStreak: streak, deadSince: obs.deadSince };
    if (ev.action.kind === 'launch') {
      launches.push({ record, memory });
      return 'launch';
    }
    const lock = svc.locks.tryAcquire(record.session);
    if (!lock) return undefined; // another supervisor is acting on this task
    try {
      return await actUnderLock(actor, lock, record, panes, memory);
    } finally {
      lock.release();
    }
  }

  /** What acting on tasks needs from this loop, for one pass. */
  private actor(result: PassResult): Actor {
    return {
      core: this.service, fenceLead: () => this.leadership.fence(), breakerOpen: () => this.breakerOpen, listedAt: this.listedAt,
      tmuxSucceeded: () => this.tmuxSucceeded(), tmuxFailed: (e) => this.tmuxFailed(e),
      changed: (before, after) => this.emit(result, before, after), launched: (session) => result.launched.push(session),
      soon: () => (this.recheckAt = Math.min(this.recheckAt, this.service.now() + RECHECK_MS)),
      pacer: pacerFor(this.options),
    };
  }

  private emit(result: PassResult, before: TaskRecord, after: TaskRecord): void {
    const change = stateChange(before, after);
    if (!change) return;
    result.changes.push(change);
    this.service.logger.debug(`${after.session}: ${before.state} -> ${after.state}${after.stateReason ? ` (${after.stateReason})` : ''}`);
    if (this.options.onChange) {
      Promise.resolve()
        .then(() => this.options.onChange?.(change))
        .catch((e) => this.options.onError?.(e));
    }
  }
}
