import * as fs from 'node:fs';
import * as path from 'node:path';
import { adapterFor } from '../agents/registry';
import { LockHolder, processAlive, RENEW_EVERY_MS } from '../tasks/lock';
import type { Lock } from '../tasks/lock';
import { TmuxError } from '../tmux/errors';
import type { TaskRecord, TaskState } from '../tasks/record';
import type { TaskService } from '../tasks/service';
import type { PaneInfo } from '../tmux/commands';
import { waitingSeen } from './classify';

export interface StateChange {
  session: string;
  name: string;
  agent: string;
  from: TaskState;
  to: TaskState;
  reason: string | null;
  record: TaskRecord;
}

export interface PassResult {
  reason: string;
  tasks: number;
  /** The sessions of every readable record seen in this pass. */
  sessions: string[];
  /** This monitor was the supervisor for the pass; otherwise it deferred to `deferredTo`. */
  leader: boolean;
  deferredTo?: LockHolder;
  /** Tasks that still need supervision (not done, not given up, not killed by the user). */
  unfinished: number;
  changes: StateChange[];
  launched: string[];
  corrupt: { session: string; problem: string; keptAt?: string }[];
}

/** The lock whose holder is the one supervisor of a state dir. */
export const SUPERVISOR_LOCK = 'supervisor';

/** How soon a pass looks again when an attempt's end is about to be known. */
const RECHECK_MS = 250;

/** A task a supervisor must still watch: not done, not given up, not killed by the user. */
export function needsSupervision(r: TaskRecord): boolean {
  if (r.state === 'done' || r.state === 'gave-up') return false;
  if (r.state === 'held') return r.heldUntil !== null && !r.killedByUser;
  return true;
}

export interface MonitorOptions {
  intervalMs: number;
  /**
   * Wake at once instead of at the next tick: when a runner process dies (probed every
   * `probeMs` with signal 0, no process spawned) and when another process signals the state dir.
   * The timer stays as the safety net. Default true.
   */
  eventDriven?: boolean;
  probeMs?: number;
  /** Pause between two launches in one pass (random in [min, max] ms): many recoveries are paced. */
  paceMs?: [number, number];
  /** Consecutive tmux failures that open the circuit breaker (no resumes while tmux itself fails). */
  breakerThreshold?: number;
  breakerCooldownMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /**
   * One supervisor acts for the whole state dir: the holder of the "supervisor" lock. Every other
   * monitor (another window, a CLI monitor) only watches, and takes over when the holder dies.
   * Default true; false only for tests of the per-task locks.
   */
  elect?: boolean;
  onChange?: (change: StateChange) => void | Promise<void>;
  onPass?: (result: PassResult) => void;
  onError?: (error: unknown) => void;
}

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
  private readonly waitingStreak = new Map<string, number>();
  /** Since when each task's pane has been seen dead without its status. */
  private readonly deadSince = new Map<string, number>();
  /** The shortest check interval among the unfinished tasks' own policies. */
  private tasksIntervalMs = Infinity;
  /** A pass asked to look again soon (an attempt's end about to be known). */
  private recheckAt = Infinity;
  /** The pane activity (tmux's, in seconds) at which each task's pane was last read, and when. */
  private readonly capturedAt = new Map<string, { activity: number; at: number }>();
  /** Runners to probe between passes: session -> attempt dir and pid (once the runner wrote it). */
  private readonly watched = new Map<string, { attemptDir: string; pid: number | null }>();
  private probeTimer: NodeJS.Timeout | undefined;
  private wakeWatcher: fs.FSWatcher | undefined;
  private tmuxFailures = 0;
  private breakerOpenUntil = 0;
  private launchesThisPass = 0;
  private leadership: Lock | undefined;
  private lastRenew = 0;
  private renewTimer: NodeJS.Timeout | undefined;

  constructor(private readonly service: TaskService, private options: MonitorOptions) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    if (this.options.eventDriven !== false) this.startEventSources();
    this.armRenew();
    this.wake('start');
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    if (this.renewTimer) clearTimeout(this.renewTimer);
    this.renewTimer = undefined;
    this.wakeWatcher?.close();
    this.wakeWatcher = undefined;
    this.resign();
  }

  /** Gives up the supervisor role (stop, or the end of `monitor --once`). */
  resign(): void {
    this.leadership?.release();
    this.leadership = undefined;
  }

  get isLeader(): boolean {
    return this.leadership !== undefined;
  }

  /** Holds the supervisor lock, taking it when free or when its holder died. */
  private lead(): boolean {
    if (this.options.elect === false) return true;
    const locks = this.service.locks;
    if (this.leadership) {
      // A lock that cannot be read right now (EIO, EMFILE) is still ours: dropping it would make
      // every monitor, this one included, defer to a supervisor that no longer acts.
      if (this.leadership.check() !== 'lost') {
        this.renewLease();
        return true;
      }
      this.leadership = undefined; // lost it (removed by hand, taken over): take it again below if free
    }
    this.service.store.init();
    this.leadership = locks.tryAcquire(SUPERVISOR_LOCK) ?? locks.reclaim(SUPERVISOR_LOCK);
    if (this.leadership) {
      this.lastRenew = Date.now();
      this.service.logger.info('this process is now the supervisor');
    }
    return this.leadership !== undefined;
  }

  /** The supervisor lock is a lease: renewed often enough that no other host takes it over. */
  private renewLease(): void {
    if (!this.leadership || Date.now() - this.lastRenew < RENEW_EVERY_MS) return;
    this.lastRenew = Date.now();
    if (!this.leadership.renew()) {
      this.leadership = undefined;
      this.service.logger.warn('the supervisor lock was taken over; deferring to its new holder');
    }
  }

  private armRenew(): void {
    if (this.stopped || this.options.elect === false) return;
    this.renewTimer = setTimeout(() => {
      this.renewTimer = undefined;
      this.renewLease();
      this.armRenew();
    }, RENEW_EVERY_MS);
    this.renewTimer.unref?.();
  }

  private startEventSources(): void {
    const paths = this.service.store.paths;
    try {
      this.service.store.init();
      this.wakeWatcher = fs.watch(paths.home, (_event, file) => {
        if (file !== path.basename(paths.wakeFile)) return;
        let from = '';
        try {
          from = fs.readFileSync(paths.wakeFile, 'utf8').split(' ')[0];
        } catch {
          /* removed meanwhile */
        }
        if (from !== String(process.pid)) this.wake('signalled');
      });
      this.wakeWatcher.on('error', () => undefined);
    } catch (e) {
      this.service.logger.warn(`cannot watch ${paths.home}: ${(e as Error).message}; relying on the timer`);
    }
    this.armProbe();
  }

  private armProbe(): void {
    if (this.stopped) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      this.probe();
      this.armProbe();
    }, this.options.probeMs ?? 250);
    this.probeTimer.unref?.();
  }

  /** Between passes: a runner that died (crash, kill -9, tmux server gone) asks for a pass now. */
  private probe(): void {
    if (!this.isLeader && this.options.elect !== false) {
      // A follower watches the supervisor instead, to take over the moment it dies.
      let holder: LockHolder | undefined;
      try {
        holder = this.service.locks.liveHolder(SUPERVISOR_LOCK);
      } catch {
        return; // unreadable just now: look again at the next probe
      }
      if (!holder) this.wake('the supervisor is gone');
      return;
    }
    for (const [session, w] of this.watched) {
      if (w.pid === null) {
        try {
          w.pid = Number.parseInt(fs.readFileSync(path.join(w.attemptDir, 'pid'), 'utf8'), 10) || null;
        } catch {
          continue;
        }
      }
      if (w.pid !== null && !processAlive(w.pid)) {
        this.watched.delete(session);
        this.wake(`runner of ${session} exited`);
      }
    }
  }

  get isRunning(): boolean {
    return !this.stopped;
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
      } catch (e) {
        this.options.onError?.(e);
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

  private earliestDue(records: readonly TaskRecord[]): number {
    let due = Infinity;
    for (const r of records) {
      if (r.state === 'resuming' && r.nextAttemptAt) due = Math.min(due, Date.parse(r.nextAttemptAt));
      if (r.state === 'held' && r.heldUntil) due = Math.min(due, Date.parse(r.heldUntil));
    }
    return due;
  }

  private nextDelay(): number {
    const now = this.service.now();
    let delay = Math.min(this.options.intervalMs, this.tasksIntervalMs, this.nextDue - now + 50);
    if (this.breakerOpenUntil > now) delay = Math.min(delay, this.breakerOpenUntil - now + 50);
    return Math.max(10, delay);
  }

  get breakerOpen(): boolean {
    return this.breakerOpenUntil > this.service.now();
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
    this.launchesThisPass = 0;
    if (!this.lead()) {
      const { records } = svc.store.list();
      const result: PassResult = {
        reason, tasks: records.length, sessions: records.map((r) => r.session), changes: [], launched: [], corrupt: [],
        leader: false, deferredTo: readQuietly(() => svc.locks.readHolder(SUPERVISOR_LOCK)), unfinished: records.filter(needsSupervision).length,
      };
      this.options.onPass?.(result);
      return result;
    }
    // Records first, then the panes: a record is written before its session is made.
    const { records, corrupt, unreadable } = svc.store.list();
    let panes;
    try {
      panes = await svc.tmux.listPanes();
      this.tmuxSucceeded();
    } catch (e) {
      this.tmuxFailed(e);
      throw e;
    }
    for (const u of unreadable) svc.logger.warn(`${u.session}: its record cannot be read just now (${u.problem}); looked at again next pass`);
    const result: PassResult = {
      reason, tasks: records.length, sessions: records.map((r) => r.session), changes: [], launched: [], corrupt: [], leader: true, unfinished: 0,
    };
    for (const c of corrupt) {
      // Kept aside, never silently dropped: the person is told where the unreadable record went.
      const lock = svc.locks.tryAcquire(c.session);
      if (!lock) continue;
      try {
        const again = svc.store.read(c.session);
        if (again.kind !== 'corrupt') continue;
        const keptAt = svc.store.quarantine(c.session);
        svc.logger.error(`${c.session}: unreadable task record (${c.problem}); kept at ${keptAt}`);
        result.corrupt.push({ ...c, keptAt });
      } finally {
        lock.release();
      }
    }
    const captured = await this.captureNeeded(records, panes);
    const live = new Set<string>();
    const after: TaskRecord[] = [];
    for (const record of records) {
      live.add(record.session);
      try {
        after.push((await this.passOne(record, panes, result, captured)) ?? record);
      } catch (e) {
        after.push(svc.store.get(record.session) ?? record);
        svc.logger.error(`${record.session}: ${(e as Error).message}`);
        this.options.onError?.(e);
      }
    }
    for (const key of [...this.waitingStreak.keys()]) if (!live.has(key)) this.waitingStreak.delete(key);
    for (const key of [...this.capturedAt.keys()]) if (!live.has(key)) this.capturedAt.delete(key);
    for (const key of [...this.deadSince.keys()]) if (!live.has(key)) this.deadSince.delete(key);
    this.watchRunners(after);
    this.nextDue = Math.min(this.earliestDue(after), this.recheckAt);
    // A task's own policy may ask to be looked at more often than this monitor was started with.
    this.tasksIntervalMs = Math.min(Infinity, ...after.filter(needsSupervision).map((r) => r.policy?.intervalMs ?? Infinity));
    this.recheckAt = Infinity;
    result.unfinished = after.filter(needsSupervision).length;
    this.options.onPass?.(result);
    return result;
  }

  /** Which runners the probe should watch until the next pass: every attempt not yet ended. */
  private watchRunners(records: readonly TaskRecord[]): void {
    const before = new Map(this.watched);
    this.watched.clear();
    for (const r of records) {
      const a = r.attempts[r.attempts.length - 1];
      if (!a || a.endedAt || r.state === 'done' || r.state === 'gave-up' || r.state === 'held') continue;
      const attemptDir = this.service.store.paths.attemptDir(r.session, a.n);
      const prior = before.get(r.session);
      this.watched.set(r.session, { attemptDir, pid: prior?.attemptDir === attemptDir ? prior.pid : null });
    }
  }

  private tmuxSucceeded(): void {
    this.tmuxFailures = 0;
  }

  /** tmux itself failing (not a missing session): after a few in a row, stop resuming for a while. */
  private tmuxFailed(e: unknown): void {
    if (e instanceof TmuxError && (e.cause === 'no-such-session' || e.cause === 'duplicate-session')) return;
    this.tmuxFailures++;
    if (this.tmuxFailures >= (this.options.breakerThreshold ?? 3)) {
      const cooldown = this.options.breakerCooldownMs ?? 30_000;
      this.breakerOpenUntil = this.service.now() + cooldown;
      this.service.logger.error(`tmux keeps failing (${(e as Error).message}); no resumes for ${Math.round(cooldown / 1000)}s`);
    }
  }

  /**
   * Which panes to read this pass, all in one tmux call: a live pane whose output moved since it
   * was last read (a prompt for a person may show), and a pane whose agent just ended (its last
   * lines help tell an auth failure or a usage limit).
   */
  private async captureNeeded(records: readonly TaskRecord[], panes: Map<string, PaneInfo>): Promise<Map<string, string[]>> {
    const wanted: string[] = [];
    for (const r of records) {
      const pane = panes.get(r.session);
      const a = r.attempts[r.attempts.length - 1];
      if (!pane || !a || a.endedAt || r.state === 'done' || r.state === 'gave-up') continue;
      const exited = pane.dead || fs.existsSync(path.join(this.service.store.paths.attemptDir(r.session, a.n), 'exit'));
      // tmux counts activity in whole seconds: output in the same second as the last read shows
      // no change, so a pane read during its last active second is read again.
      const last = this.capturedAt.get(r.session);
      const moved = !last || last.activity !== pane.activity || pane.activity >= Math.floor(last.at / 1000);
      const mayWait = adapterFor(r.agent).waitingPatterns.length > 0 && moved;
      if (exited || mayWait) wanted.push(r.session);
    }
    if (wanted.length === 0) return new Map();
    try {
      const readAt = this.service.now();
      const captured = await this.service.captureMany(wanted, 40);
      for (const s of wanted) this.capturedAt.set(s, { activity: panes.get(s)!.activity, at: readAt });
      return captured;
    } catch (e) {
      this.service.logger.warn(`reading panes failed: ${(e as Error).message}`);
      return new Map();
    }
  }

  private async passOne(record: TaskRecord, panes: Map<string, PaneInfo>, result: PassResult, captured: Map<string, string[]>): Promise<TaskRecord | undefined> {
    const svc = this.service;
    if (record.state === 'done' || record.state === 'gave-up') return record;
    const adapter = adapterFor(record.agent);
    const pane = panes.get(record.session);
    const tail = captured.get(record.session);
    let obs = { ...svc.observe(record, panes), paneTail: tail };
    // A prompt for a person counts once it is seen on two passes in a row (unchanged panes keep their streak).
    let streak = this.waitingStreak.get(record.session) ?? 0;
    if (pane && !pane.dead && obs.attempt.exitCode === null && adapter.waitingPatterns.length) {
      if (tail !== undefined) streak = waitingSeen(adapter, tail) ? streak + 1 : 0;
      else if (streak > 0) streak++;
    } else {
      streak = 0;
    }
    this.waitingStreak.set(record.session, streak);
    // A dead pane whose status tmux has not filled in yet: remember since when.
    if (pane?.dead && pane.deadStatus === null && pane.deadSignal === null) {
      if (!this.deadSince.has(record.session)) this.deadSince.set(record.session, svc.now());
    } else {
      this.deadSince.delete(record.session);
    }
    obs = { ...obs, waitingStreak: streak, deadSince: this.deadSince.get(record.session) };
    const ev = svc.evaluate(record, obs);
    if (ev.recheckSoon) this.recheckAt = Math.min(this.recheckAt, svc.now() + RECHECK_MS);
    const changed =
      ev.state !== record.state || ev.reason !== record.stateReason || ev.ended !== undefined ||
      (ev.agentSessionId !== undefined && ev.agentSessionId !== record.agentSessionId) ||
      ev.nextAttemptAt !== record.nextAttemptAt || ev.heldUntil !== record.heldUntil;
    if (!changed && ev.action.kind === 'none') return record;

    const lock = svc.locks.tryAcquire(record.session);
    if (!lock) return undefined; // another supervisor is acting on this task
    try {
      // Decide again on the record as it is under the lock: another supervisor may have acted.
      const fresh = svc.store.get(record.session);
      if (!fresh || fresh.attempts.length !== record.attempts.length) return fresh;
      let freshObs = { ...svc.observe(fresh, panes), paneTail: obs.paneTail, waitingStreak: streak, deadSince: obs.deadSince };
      let ev2 = svc.evaluate(fresh, freshObs);
      let sessionExists = panes.has(record.session);
      if (ev2.action.kind === 'launch' && this.breakerOpen) return fresh; // decided again once tmux works
      if (ev2.action.kind === 'launch' || !sessionExists || ev2.ended) {
        // The pass's pane list may be older than the record: a task started, or an attempt
        // launched, after it was taken (its pane then still shows the previous run's end). Before
        // starting an agent, or recording that a run ended or a session is gone, look at the panes
        // again (one call: whether the tmux server itself is still the same is part of it).
        const nowPanes = await svc.tmux.listPanes();
        sessionExists = nowPanes.has(record.session);
        freshObs = { ...svc.observe(fresh, nowPanes), paneTail: obs.paneTail, waitingStreak: streak, deadSince: obs.deadSince };
        ev2 = svc.evaluate(fresh, freshObs);
      }
      let next = svc.applyEvaluation(fresh, ev2);
      if (ev2.action.kind === 'launch') {
        if (this.breakerOpen) return fresh;
        // Many tasks recovering at once (a tmux server restart) are started a little apart.
        if (this.launchesThisPass++ > 0) {
          const [min, max] = this.options.paceMs ?? [50, 250];
          const ms = min + (this.options.random ?? Math.random)() * (max - min);
          await (this.options.sleep ?? ((t: number) => new Promise<void>((r) => setTimeout(r, t))))(ms);
        }
        svc.store.write(next);
        this.emit(result, fresh, next);
        const before = next;
        try {
          next = await svc.launch(next, ev2.action, sessionExists);
          result.launched.push(record.session);
          this.tmuxSucceeded();
        } catch (e) {
          this.tmuxFailed(e);
          svc.logger.error(`${record.session}: could not launch attempt ${next.attempts.length + 1}: ${(e as Error).message}`);
          throw e;
        }
        this.emit(result, before, next);
      } else {
        svc.store.write(next);
        this.emit(result, fresh, next);
      }
      return next;
    } finally {
      lock.release();
    }
  }

  private emit(result: PassResult, before: TaskRecord, after: TaskRecord): void {
    if (before.state === after.state) return;
    const change: StateChange = {
      session: after.session, name: after.name, agent: after.agent,
      from: before.state, to: after.state, reason: after.stateReason, record: after,
    };
    result.changes.push(change);
    this.service.logger.debug(`${after.session}: ${before.state} -> ${after.state}${after.stateReason ? ` (${after.stateReason})` : ''}`);
    if (this.options.onChange) {
      Promise.resolve()
        .then(() => this.options.onChange?.(change))
        .catch((e) => this.options.onError?.(e));
    }
  }
}

function readQuietly<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}
