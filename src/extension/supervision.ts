import vscode = require('vscode');
import type { Settings } from '../core/model/settings';
import type { PassResult, StateChange } from '../core/ops/monitor';
import { Monitor } from '../core/ops/monitor';
import type { TaskService } from '../core/ops/service';
import type { Launcher, SupervisorStatus } from '../core/ops/supervisor';
import { ensureSupervisor } from '../core/ops/supervisor';
import { supervisorLock } from '../core/ops/election';

/** How often a window looks at the background supervisor's lease (a file read, no process spawned). */
const LEASE_CHECK_MS = 5_000;

export interface SupervisionEvents {
  /** A task changed state under this window's supervisor. */
  onChange(change: StateChange): void;
  /** This window's supervisor finished a pass. */
  onPass(result: PassResult): void;
  /** Who supervises changed (the background supervisor started, died, was replaced). */
  onSupervisor(status: SupervisorStatus): void;
}

/**
 * Who supervises this window's tasks, per the `supervisor.mode` setting. "background": a
 * background supervisor outside the window, started when none runs and watched so that one that
 * dies is replaced within a monitor interval. "window": a monitor in this window, which defers to
 * any other that holds the supervisor lock. Nothing runs until there is something to supervise.
 */
export class Supervision implements vscode.Disposable {
  private monitor: Monitor;
  private watchdog: NodeJS.Timeout | undefined;
  private wanted = false;
  private status: SupervisorStatus | undefined;
  private disposed = false;
  private nextFullCheck = 0;

  constructor(
    private service: TaskService,
    private settings: Settings,
    private readonly launcher: Launcher,
    private readonly log: vscode.LogOutputChannel,
    private readonly events: SupervisionEvents,
  ) {
    this.monitor = this.createMonitor();
  }

  get monitorRunning(): boolean {
    return this.monitor.isRunning;
  }

  private createMonitor(): Monitor {
    return new Monitor(this.service, {
      intervalMs: this.settings.intervalMs,
      onChange: (c) => this.events.onChange(c),
      onPass: (r) => this.events.onPass(r),
      onError: (e) => this.log.error(`monitor: ${(e as Error).message}`),
    });
  }

  /** New settings (and so a new service): the old monitor stops, supervision goes on as it was wanted. */
  replace(service: TaskService, settings: Settings): void {
    this.monitor.stop();
    this.service = service;
    this.settings = settings;
    this.monitor = this.createMonitor();
    if (this.wanted) this.ensure();
  }

  /** Tasks need supervising: start whichever supervisor the mode asks for, if none runs. */
  ensure(): void {
    if (this.disposed) return;
    this.wanted = true;
    if (this.settings.supervisorMode === 'background') {
      this.monitor.stop();
      this.checkBackground(true);
      return;
    }
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = undefined;
    if (!this.monitor.isRunning) {
      this.log.info(`supervising from this window (every ${this.settings.intervalMs / 1000}s)`);
      this.monitor.start();
    }
  }

  /** Ask this window's supervisor for a pass now (after a command, or when something looks off). */
  wake(reason: string): void {
    this.monitor.wake(reason);
  }

  private checkBackground(force = false): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = undefined;
    // Cheap between full checks: one lease file and /proc. A supervisor that died, stopped
    // (SIGSTOP) or stopped renewing is replaced within seconds, not at the next interval.
    if (!force && Date.now() < this.nextFullCheck && (!this.status?.running || this.sameHolderAlive())) {
      this.rearm();
      return;
    }
    this.nextFullCheck = Date.now() + Math.max(250, this.settings.intervalMs);
    void ensureSupervisor(this.service, this.launcher).then(
      (status) => {
        const changed = status.holder?.pid !== this.status?.holder?.pid;
        this.status = status;
        if (changed) {
          this.log.info(status.running ? `supervised by ${status.holder!.owner}` : 'no task needs a supervisor');
          this.events.onSupervisor(status);
        }
      },
      (e) => this.log.error(`background supervisor: ${(e as Error).message}`),
    ).finally(() => this.rearm());
  }

  private sameHolderAlive(): boolean {
    try {
      return this.service.locks.liveHolder(supervisorLock(this.service))?.pid === this.status?.holder?.pid;
    } catch {
      return false; // unreadable just now: the full check says what to do
    }
  }

  private rearm(): void {
    if (this.disposed || this.settings.supervisorMode !== 'background') return;
    this.watchdog = setTimeout(() => this.checkBackground(), Math.min(LEASE_CHECK_MS, Math.max(250, this.settings.intervalMs)));
  }

  dispose(): void {
    this.disposed = true;
    this.monitor.stop();
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = undefined;
  }
}
