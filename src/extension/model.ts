import fs = require('node:fs');
import vscode = require('vscode');
import * as manifest from '../../package.json';
import type { Settings } from '../core/model/settings';
import type { Logger } from '../core/platform/log';
import { stateHome } from '../core/store/paths';
import { policyFrom } from '../core/ops/core';
import { TaskService } from '../core/ops/service';
import { sharedLimits, writeLimits } from '../core/ops/queue';
import type { TaskView } from '../core/model/views';
import { TmuxError } from '../core/tmux/errors';
import type { StateChange } from '../core/ops/monitor';
import { Launcher, supervisorStatus, SupervisorStatus } from '../core/ops/supervisor';
import { Supervision } from './supervision';
import { Disposable, toDisposable } from './lifecycle';

export function channelLogger(log: vscode.LogOutputChannel): Logger {
  return {
    debug: (m) => log.debug(m),
    info: (m) => log.info(m),
    warn: (m) => log.warn(m),
    error: (m) => log.error(m),
  };
}

/**
 * The extension's model of all tasks: the core service, the supervisor loop for this window,
 * and the latest views. It fires events; the tree, status bar and notices decide what to redraw.
 */
export class TaskModel extends Disposable {
  private _service: TaskService;
  private readonly supervision: Supervision;
  private _views: TaskView[] = [];
  private _tmuxMissing = false;
  private _loaded = false;
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;
  private autoTimer: NodeJS.Timeout | undefined;
  private autoRefreshMs = 0;

  private readonly changed = this.register(new vscode.EventEmitter<void>());
  readonly onDidChange = this.changed.event;
  private readonly stateChanged = this.register(new vscode.EventEmitter<StateChange>());
  /** A task moved from one state to another under this window's supervisor. */
  readonly onDidChangeState = this.stateChanged.event;

  private readonly policyApplied = this.register(new vscode.EventEmitter<string[]>());
  /** Changed recovery settings were written into these unfinished tasks. */
  readonly onDidApplyPolicy = this.policyApplied.event;

  private readonly corruptKept = this.register(new vscode.EventEmitter<{ session: string; problem: string; keptAt?: string }>());
  /** An unreadable task record was moved aside by this window's supervisor. */
  readonly onDidKeepCorrupt = this.corruptKept.event;

  private _supervisor: SupervisorStatus | undefined;

  constructor(
    private settings: Settings,
    private readonly log: vscode.LogOutputChannel,
    readonly launcher: Launcher,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    super();
    this._service = this.createService(settings);
    this.supervision = this.register(new Supervision(this._service, settings, launcher, log, {
      onChange: (c) => this.stateChanged.fire(c),
      onPass: (r) => {
        const known = new Set(this._views.filter((v) => !v.adopted).map((v) => v.session));
        const differs = r.sessions.length !== known.size || r.sessions.some((s) => !known.has(s));
        if (r.changes.length || r.launched.length || r.corrupt.length || differs) void this.refresh('monitor pass');
        for (const c of r.corrupt) this.corruptKept.fire(c);
      },
      onSupervisor: (status) => {
        this._supervisor = status;
        this.changed.fire();
      },
    }));
    this.register(toDisposable(() => {
      this.watcher?.close();
      if (this.autoTimer) clearTimeout(this.autoTimer);
    }));
    // Off the activation path: the first look at the tasks folder happens right after.
    setImmediate(() => this.isDisposed || this.watchTasks());
  }

  private watcher: fs.FSWatcher | undefined;

  /** Tasks started or forgotten elsewhere (the CLI, another window) show up at once. */
  private watchTasks(): void {
    this.watcher?.close();
    this.watcher = undefined;
    try {
      this._service.store.init();
      // A new task folder is made before its record is written: settle briefly, then read.
      let settle: NodeJS.Timeout | undefined;
      const watcher = fs.watch(this._service.store.paths.tasksDir, () => {
        if (settle) clearTimeout(settle);
        settle = setTimeout(() => {
          settle = undefined;
          if (this.isDisposed) return;
          void this.refresh('tasks changed on disk');
          if (this.hasTaskRecords()) this.ensureMonitor();
        }, 100);
      });
      watcher.on('close', () => settle && clearTimeout(settle));
      watcher.on('error', (e) => this.log.warn(`watching the tasks folder stopped: ${e.message}`));
      this.watcher = watcher;
    } catch (e) {
      this.log.warn(`cannot watch the tasks folder: ${(e as Error).message}`);
    }
  }

  get service(): TaskService {
    return this._service;
  }

  get views(): readonly TaskView[] {
    return this._views;
  }

  get tmuxMissing(): boolean {
    return this._tmuxMissing;
  }

  get loaded(): boolean {
    return this._loaded;
  }

  get monitorRunning(): boolean {
    return this.supervision.monitorRunning;
  }

  get supervisorMode(): Settings['supervisorMode'] {
    return this.settings.supervisorMode;
  }

  /** Who supervises the tasks now (read at each refresh). */
  get supervisor(): SupervisorStatus | undefined {
    return this._supervisor;
  }

  get monitorIntervalMs(): number {
    return this.settings.intervalMs;
  }

  private createService(settings: Settings): TaskService {
    return new TaskService({
      home: stateHome(this.env), settings, env: this.env, logger: channelLogger(this.log), owner: `vscode window pid ${process.pid}`,
      launcher: this.launcher, version: (manifest as unknown as { version: string }).version,
    });
  }

  /** Settings changed: apply them now, without a reload. */
  /**
   * The queue's limits are the machine's, not a window's: they go into the state dir, where every
   * process that starts a task (the background supervisor, the CLI, other windows) reads them.
   */
  shareLimits(): void {
    try {
      const mine = {
        'queue.maxRunning': this.settings.maxRunning,
        'queue.maxRunningPerAgent': this.settings.maxRunningPerAgent,
        'queue.minFreeMemoryMB': this.settings.minFreeMemoryMb,
      };
      const shared = sharedLimits(this._service);
      if (Object.entries(mine).every(([k, v]) => JSON.stringify(shared[k]) === JSON.stringify(v))) return;
      writeLimits(this._service, mine);
      this.log.info(`queue limits: ${this.settings.maxRunning} running at once, ${this.settings.minFreeMemoryMb} MB free to start one`);
    } catch (e) {
      this.log.error(`the queue limits could not be shared with the state dir: ${(e as Error).message}`);
    }
  }

  applySettings(settings: Settings): void {
    const socketChanged = settings.tmuxSocket !== this.settings.tmuxSocket;
    const policy = policyFrom(settings);
    const policyChanged = JSON.stringify(policy) !== JSON.stringify(policyFrom(this.settings));
    const previous = this.settings;
    this.settings = settings;
    this._service = this.createService(settings);
    this.supervision.replace(this._service, settings);
    this.watchTasks();
    this.log.info(`settings applied: interval ${settings.intervalMs / 1000}s${socketChanged ? `, tmux socket "${settings.tmuxSocket}"` : ''}`);
    const limits = (x: Settings) => JSON.stringify([x.maxRunning, x.maxRunningPerAgent, x.minFreeMemoryMb]);
    if (limits(settings) !== limits(previous)) this.shareLimits();
    if (policyChanged) {
      // One task, one policy, whoever supervises it: the new limits go into the unfinished tasks'
      // records, which the background supervisor (or any other) reads every pass.
      void this._service.applyPolicy(policy).then(
        (changed) => {
          const line = `recovery settings applied to ${changed.length} unfinished task${changed.length === 1 ? '' : 's'}${changed.length ? ` (${changed.join(', ')})` : ''}`;
          this.log.info(line);
          this.policyApplied.fire(changed);
        },
        (e) => this.log.error(`applying the recovery settings failed: ${(e as Error).message}`),
      );
    }
    void this.refresh('settings changed');
  }

  /** Tasks need supervising: by the background supervisor or this window, as the settings say. */
  ensureMonitor(): void {
    if (!this.isDisposed) this.supervision.ensure();
  }

  /** Ask the supervisor for a pass now (after a command, or when something looks off). */
  wakeMonitor(reason: string): void {
    this.supervision.wake(reason);
  }

  hasTaskRecords(): boolean {
    return this._service.store.sessions().length > 0;
  }

  /** Re-reads tmux and the records; coalesced so at most one runs and one more is queued. */
  refresh(reason: string): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      do {
        this.refreshAgain = false;
        await this.load(reason);
      } while (this.refreshAgain && !this.isDisposed);
    })().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async load(reason: string): Promise<void> {
    const started = Date.now();
    try {
      const { views, corrupt } = await this._service.views();
      for (const c of corrupt) this.log.warn(`unreadable task record ${c.session}: ${c.problem}`);
      this._views = views;
      this._supervisor = supervisorStatus(this._service);
      void vscode.commands.executeCommand('setContext', 'resilientAgent.hasFinished', views.some((v) => v.state === 'done' && !v.adopted));
      this.setTmuxMissing(false);
    } catch (e) {
      if (e instanceof TmuxError && e.cause === 'not-installed') {
        this.setTmuxMissing(true);
        this._views = [];
      } else {
        this.log.error(`refresh (${reason}) failed: ${(e as Error).message}`);
      }
    }
    if (!this._loaded) {
      this._loaded = true;
      void vscode.commands.executeCommand('setContext', 'resilientAgent.loaded', true);
    }
    this.log.debug(`refresh (${reason}) [${Date.now() - started}ms]: ${this._views.length} tasks`);
    this.changed.fire();
  }

  private setTmuxMissing(missing: boolean): void {
    if (missing === this._tmuxMissing && this._loaded) return;
    this._tmuxMissing = missing;
    void vscode.commands.executeCommand('setContext', 'resilientAgent.tmuxMissing', missing);
  }

  /** Re-read periodically, only while someone looks (the view is visible); 0 stops it. */
  setAutoRefresh(ms: number): void {
    this.autoRefreshMs = ms;
    if (this.autoTimer) clearTimeout(this.autoTimer);
    this.autoTimer = undefined;
    if (ms > 0) this.armAuto();
  }

  private armAuto(): void {
    if (this.isDisposed || this.autoRefreshMs <= 0) return;
    this.autoTimer = setTimeout(() => {
      void this.refresh('visible').finally(() => this.armAuto());
    }, this.autoRefreshMs);
  }

  find(session: string): TaskView | undefined {
    return this._views.find((v) => v.session === session);
  }
}
