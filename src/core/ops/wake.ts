import * as fs from 'node:fs';
import * as path from 'node:path';
import { adapterFor } from '../agents/registry';
import type { LastRead } from '../decide/streak';
import { dueRead, wentQuiet } from '../decide/streak';
import type { TaskRecord } from '../model/record';
import { isFinished } from '../model/record';
import { heldByAgent } from '../model/holds';
import { attemptFile, readRunnerPid } from '../store/attempt';
import { processAlive } from '../platform/processes';
import type { Core } from './core';
import type { Leadership } from './election';

/**
 * What wakes a monitor between its ticks, without spawning a process: another process writing the
 * state dir's wake file (a task started, a person acted), a watched runner dying (crash, kill -9,
 * tmux server gone; probed with signal 0), and, for a follower, the supervisor itself dying.
 * And one that costs one tmux call a second while an agent that can ask a person runs: a pane
 * whose output moved and then went still (a prompt may be on it), one that keeps moving (a prompt
 * beside a spinner never goes still) and has not been read for a while, or a waiting task's pane
 * moving again (a person answered). tmux's own `alert-silence` hook would cost no call, but it needs
 * `silence-action any`, which rings the bell of every client attached to the pane each time it goes
 * quiet, and fires once per detached session unless its flags are cleared (then every 2 s).
 */
export class WakeSources {
  /** Runners to probe between passes: session -> attempt dir and pid (once the runner wrote it). */
  private readonly watched = new Map<string, { attemptDir: string; pid: number | null }>();
  /** Panes to look at between passes: session -> whether its task waits for a person now. */
  private readonly panes = new Map<string, { waiting: boolean }>();
  /**
   * The activity stamp each pane last woke the monitor for, and when: one wake per change of
   * output, and one more once that second is over if the wake came during it (output later in the
   * same second keeps the stamp: a person's answer right after a read was never looked at).
   */
  private readonly wokeFor = new Map<string, { activity: number; at: number }>();
  private probeTimer: NodeJS.Timeout | undefined;
  private paneTimer: NodeJS.Timeout | undefined;
  private listing = false;
  private watcher: fs.FSWatcher | undefined;
  private stopped = true;

  constructor(
    private readonly core: Core,
    private readonly leadership: Leadership,
    private readonly wake: (reason: string) => void,
    private readonly probeMs = 250,
    /** When the monitor last read each pane (the quiet rule compares against it). */
    private readonly lastRead: (session: string) => LastRead | undefined = () => undefined,
    private readonly paneProbeMs = 1000,
  ) {}

  start(): void {
    this.stopped = false;
    const paths = this.core.store.paths;
    try {
      this.core.store.init();
      this.watcher = fs.watch(paths.home, (_event, file) => {
        if (file !== path.basename(paths.wakeFile)) return;
        let from = '';
        try {
          from = fs.readFileSync(paths.wakeFile, 'utf8').split(' ')[0];
        } catch {
          /* removed meanwhile */
        }
        if (from !== String(process.pid)) this.wake('signalled');
      });
      this.watcher.on('error', () => undefined);
    } catch (e) {
      this.core.logger.warn(`cannot watch ${paths.home}: ${(e as Error).message}; relying on the timer`);
    }
    this.armProbe();
    this.armPaneProbe();
  }

  stop(): void {
    this.stopped = true;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    if (this.paneTimer) clearTimeout(this.paneTimer);
    this.paneTimer = undefined;
    this.watcher?.close();
    this.watcher = undefined;
  }

  /** Which runners to probe until the next pass: every attempt not yet ended. */
  watchRunners(records: readonly TaskRecord[]): void {
    const before = new Map(this.watched);
    this.watched.clear();
    this.panes.clear();
    for (const r of records) {
      const a = r.attempts[r.attempts.length - 1];
      const here = !a?.host || a.host.key === this.core.host.key;
      if (a && here && !a.endedAt && (r.state === 'running' || r.state === 'waiting') && adapterFor(r.agent).waitingPatterns.length > 0) {
        this.panes.set(r.session, { waiting: r.state === 'waiting' });
      }
    }
    for (const key of [...this.wokeFor.keys()]) if (!this.panes.has(key)) this.wokeFor.delete(key);
    for (const r of records) {
      const a = r.attempts[r.attempts.length - 1];
      // A task held by its agent still runs: its death is a crash to notice at once.
      if (!a || a.endedAt || isFinished(r.state) || (r.state === 'held' && !heldByAgent(r))) continue;
      // Another host's runner: its pid means nothing here (that host's supervisor watches it).
      if (a.host && a.host.key !== this.core.host.key) continue;
      const attemptDir = this.core.store.paths.attemptDir(r.session, a.n);
      const prior = before.get(r.session);
      this.watched.set(r.session, { attemptDir, pid: prior?.attemptDir === attemptDir ? prior.pid : null });
    }
  }

  /** The runners watched now, by session (pid null until the runner wrote it). */
  watchedRunners(): Map<string, number | null> {
    return new Map([...this.watched].map(([s, w]) => [s, w.pid]));
  }

  private armProbe(): void {
    if (this.stopped) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      this.probe();
      this.armProbe();
    }, this.probeMs);
    this.probeTimer.unref?.();
  }

  private armPaneProbe(): void {
    if (this.stopped) return;
    this.paneTimer = setTimeout(() => {
      this.paneTimer = undefined;
      void this.probePanes().finally(() => this.armPaneProbe());
    }, this.paneProbeMs);
    this.paneTimer.unref?.();
  }

  /** One `list-panes` for every pane: wakes the monitor for a pane gone quiet after output, or a waiting one moving. */
  private async probePanes(): Promise<void> {
    if (this.panes.size === 0 || this.listing || (this.leadership.electing && !this.leadership.isLeader)) return;
    this.listing = true;
    let panes;
    try {
      panes = await this.core.tmux.listPanes();
    } catch {
      return; // tmux failing: the monitor's own passes notice and say so
    } finally {
      this.listing = false;
    }
    const now = this.core.now();
    for (const [session, { waiting }] of this.panes) {
      const pane = panes.get(session);
      const woke = this.wokeFor.get(session);
      if (!pane || pane.dead || (woke?.activity === pane.activity && woke.at >= (pane.activity + 1) * 1000)) continue;
      const last = this.lastRead(session);
      if (dueRead(pane, last, now)) {
        this.wokeFor.set(session, { activity: pane.activity, at: now });
        const reason = waiting ? `the pane of ${session} moved` : wentQuiet(pane, last, now) ? `the pane of ${session} went quiet` : `the pane of ${session} keeps moving`;
        this.core.logger.debug(reason);
        this.wake(reason);
      }
    }
  }

  private probe(): void {
    if (this.leadership.electing && !this.leadership.isLeader) {
      // A follower watches the supervisor instead, to take over the moment it dies.
      let holder;
      try {
        holder = this.leadership.liveHolder();
      } catch {
        return; // unreadable just now: look again at the next probe
      }
      if (!holder) this.wake('the supervisor is gone');
      return;
    }
    // A leader whose lease was taken over (it was stopped and replaced, or a newer build leads)
    // looks at once: it defers, or hands over, before it could act again.
    if (this.leadership.lostLead()) {
      this.wake('the supervisor lease was taken over');
      return;
    }
    for (const [session, w] of this.watched) {
      if (w.pid === null) w.pid = readRunnerPid(w.attemptDir);
      if (w.pid !== null && !processAlive(w.pid)) {
        this.watched.delete(session);
        this.wake(`runner of ${session} exited`);
      } else if (w.pid !== null && fs.existsSync(attemptFile(w.attemptDir, 'exit'))) {
        // The run is over; its runner may still be showing the last of its transcript.
        this.watched.delete(session);
        this.wake(`the run of ${session} ended`);
      }
    }
  }
}
