import { createHash } from 'node:crypto';
import fs = require('node:fs');
import path = require('node:path');
import { adapterFor } from '../agents/registry';
import type { LastRead } from '../decide/streak';
import { dueRead, wentQuiet } from '../decide/streak';
import type { TaskRecord } from '../model/record';
import { isFinished, isInteractive } from '../model/record';
import { heldByAgent } from '../model/holds';
import { attemptFile, readRunnerPid } from '../store/attempt';
import { processAlive } from '../platform/processes';
import type { PaneInfo } from '../tmux/commands';
import type { Core } from './core';
import type { Leadership } from './election';
import { AgentServers } from './agentServer';

/** The tmux wait-for channel of a state dir: the pane-died hook of each of its tasks signals it. */
export function wakeChannel(core: Pick<Core, 'store'>): string {
  return `resilient-agent-${createHash('sha256').update(core.store.paths.home).digest('hex').slice(0, 16)}`;
}

/**
 * What wakes a monitor between its ticks. The event itself, for a leader: tmux runs each task's
 * pane-died hook the moment its pane's process ends (crash, kill -9, an agent's exit), which
 * signals this state dir's channel, and one `tmux wait-for` client kept blocked on it returns;
 * it returns too when the tmux server exits (kill-server, a crash). Without a process of its own:
 * another process writing the state dir's wake file (a task started, a person acted), and a probe
 * of the watched runners with signal 0 — every `probeMs` while some runner is not covered by the
 * hook (a session of an older build, until it is given one; a tmux without the hook; no waiter),
 * else every `fallbackMs` for an event missed (a hook removed by hand, a SIGCHLD tmux lost). A
 * follower probes for the supervisor itself dying.
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
  /** The blocked `tmux wait-for` client, while one is. */
  private waiter: { stop: () => void } | undefined;
  /** Every watched runner's pane has this state dir's hook (as of the last pass). */
  private covered = false;
  /** A call giving older sessions the hook is under way. */
  private hooking = false;
  /** Counts the passes' looks, so a late answer about hooks is not taken for a newer look's. */
  private generation = 0;
  private readonly channel: string;
  /** The event streams of live interactive attempts whose agent serves them (OpenCode): they wake the monitor too. */
  private readonly servers: AgentServers;

  constructor(
    private readonly core: Core,
    private readonly leadership: Leadership,
    private readonly wake: (reason: string) => void,
    private readonly probeMs = 250,
    /** When the monitor last read each pane (the quiet rule compares against it). */
    private readonly lastRead: (session: string) => LastRead | undefined = () => undefined,
    private readonly paneProbeMs = 1000,
    /** The probe while every watched runner is covered by the pane-died event. */
    private readonly fallbackMs = 2000,
    /** Wake on tmux's pane-died hook and on the server's exit (else: the probe alone). */
    private readonly tmuxEvents = true,
  ) {
    this.channel = wakeChannel(core);
    this.servers = new AgentServers(core, wake);
  }

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
        // A launch by this process outside a pass (a start or a follow-up where the supervisor runs in the
        // same process, as VS Code's window): its agent's server is listened to now, not at the next pass.
        else if (this.leadership.isLeader) this.listenToServers();
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
    this.disarm();
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    if (this.paneTimer) clearTimeout(this.paneTimer);
    this.paneTimer = undefined;
    this.watcher?.close();
    this.watcher = undefined;
    this.servers.closeAll();
  }

  /**
   * Which runners to watch until the next pass: every attempt not yet ended. `panes`: the pass's
   * pane list, to tell which of them have the pane-died hook (those without are given it).
   */
  watchRunners(records: readonly TaskRecord[], panes?: Map<string, PaneInfo>): void {
    const before = new Map(this.watched);
    this.watched.clear();
    this.panes.clear();
    for (const r of records) {
      const a = r.attempts[r.attempts.length - 1];
      const here = !a?.host || a.host.key === this.core.host.key;
      // An interactive task's hooks wake the monitor themselves (the wake file); its TUI's pane always moves.
      if (a && here && !a.endedAt && !isInteractive(r) && (r.state === 'running' || r.state === 'waiting') && adapterFor(r.agent).waitingPatterns.length > 0) {
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
    this.followEvents(panes);
    // Only a running monitor listens (`monitor --once` holds no connection).
    if (!this.stopped) this.servers.watch(records);
  }

  /** The servers of the live interactive attempts as the records say now. */
  private listenToServers(): void {
    if (this.stopped) return;
    try {
      this.servers.watch(this.core.store.list().records);
    } catch (e) {
      this.core.logger.debug(`the tasks could not be listed to listen to their agents' servers (${(e as Error).message})`);
    }
  }

  /** A follower acts on nothing: no waiter of its own (the leader's wakes every supervisor's), no agent server held. */
  notLeading(): void {
    this.disarm();
    this.servers.closeAll();
  }

  /** The waiter while there are runners to watch, and the hook on every watched pane without it. */
  private followEvents(panes: Map<string, PaneInfo> | undefined): void {
    const tmux = this.core.tmux;
    const generation = ++this.generation;
    if (!this.tmuxEvents || this.stopped || this.watched.size === 0 || tmux.wakeHooks === false) {
      this.setCovered(false);
      if (this.watched.size === 0) this.disarm();
      return;
    }
    // A pane missing from the pass's list was made after it: by this process (hooked at launch
    // once the hook is known to work), or by another, whose pane the next pass lists.
    const bare = [...this.watched.keys()].filter((s) => {
      const pane = panes?.get(s);
      return pane ? !pane.dead && pane.wakeChannel !== this.channel : tmux.wakeHooks !== true;
    });
    this.setCovered(bare.length === 0);
    if (bare.length && !this.hooking) {
      this.hooking = true;
      tmux.setWakeHooks(bare, this.channel)
        .then(() => {
          if (generation === this.generation) this.setCovered(true);
        })
        .catch((e) => this.core.logger.debug(`the pane-died hook could not be set (${(e as Error).message}); the probe watches those runners`))
        .finally(() => {
          this.hooking = false;
        });
    }
    this.arm();
  }

  private setCovered(covered: boolean): void {
    const was = this.covered;
    this.covered = covered;
    if (was !== covered) this.reprobe(); // at the rate that applies from now, not after the other's wait
  }

  /** One `tmux wait-for` client blocked on the channel; its return is the event. */
  private arm(): void {
    if (this.waiter || this.stopped) return;
    const started = Date.now();
    const waiter = this.core.tmux.waitFor(this.channel);
    this.waiter = waiter;
    void waiter.ended.then(({ code, stderr }) => {
      if (this.waiter !== waiter) return; // stopped on purpose
      this.waiter = undefined;
      if (this.stopped) return;
      if (code === 0) {
        // Signalled (a pane died), or the server exited: a pass now. A signal meanwhile is kept
        // by tmux for the next waiter, so waiting again at once loses none.
        this.core.logger.debug(`tmux: a pane died or the server ended (${Date.now() - started} ms of waiting)`);
        this.wake('a pane died or the tmux server ended');
        this.arm();
      } else {
        // No server (all its sessions gone), or the client was killed: the probe watches until
        // the next pass waits again.
        this.core.logger.debug(`tmux wait-for ended (${code === null ? 'killed' : `status ${code}`}${stderr.trim() ? `: ${stderr.trim()}` : ''}); probing until the next pass`);
        this.reprobe();
      }
    });
    this.reprobe();
  }

  private disarm(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.stop();
  }

  /** The probe, re-armed at the rate that applies now. */
  private reprobe(): void {
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    this.armProbe();
  }

  private probeEvery(): number {
    if (this.leadership.electing && !this.leadership.isLeader) return this.probeMs;
    return this.waiter && this.covered ? this.fallbackMs : this.probeMs;
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
    }, this.probeEvery());
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
