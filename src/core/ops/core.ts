import type { Policy } from '../decide/policy';
import type { Settings } from '../model/settings';
import type { HostIdentity } from '../platform/host';
import { hostIdentity, tmuxServerPath } from '../platform/host';
import type { Logger } from '../platform/log';
import { silentLogger } from '../platform/log';
import { EventSummaries } from '../store/events';
import { LockManager } from '../store/lock';
import { TaskStore } from '../store/store';
import { Tmux } from '../tmux/tmux';

/** How to run this product's CLI: a Node and the bundle's path (the background supervisor, each pane's transcript). */
export interface Launcher {
  node: string;
  cli: string;
  /** Extra environment, e.g. ELECTRON_RUN_AS_NODE=1 when `node` is an editor's Electron. */
  env?: Record<string, string>;
  /**
   * How each pane shows its transcript: `hub`, the state dir's one render hub (where /proc lets it
   * write into a pane; the default); `process`, a Node `render` per pane (what every pane ran
   * before: kept for the benchmarks' side-by-side, and where there is no /proc).
   */
  transcript?: 'hub' | 'process';
}

export interface CoreOptions {
  home: string;
  settings: Settings;
  /** The caller's environment: agents are found on its PATH and run with it. */
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  now?: () => number;
  tmux?: Tmux;
  /** Names this process in lock files, e.g. "cli monitor". */
  owner?: string;
  /** How to run the CLI: each pane then shows its agent's events readable (else the pane shows only what the agent prints besides them). */
  launcher?: Launcher;
  /** This build's version, written into the leases it takes (a newer build leads over an older one). */
  version?: string;
}

/** What every operation works with: one state dir, one tmux server, the caller's settings and clock. */
export interface Core {
  readonly store: TaskStore;
  readonly tmux: Tmux;
  readonly locks: LockManager;
  readonly settings: Settings;
  /** The recovery limits new tasks are given (from the settings). */
  readonly policy: Policy;
  readonly env: NodeJS.ProcessEnv;
  readonly logger: Logger;
  readonly now: () => number;
  /** Attempts' last words and token use, read on from where the last look stopped. */
  readonly summaries: EventSummaries;
  readonly launcher?: Launcher;
  /** This host (boot, pid namespace, tmux server): the owner of the attempts it launches. */
  readonly host: HostIdentity;
}

export function policyFrom(settings: Settings): Policy {
  return {
    intervalMs: settings.intervalMs,
    backoffFactor: settings.backoffFactor,
    maxBackoffMs: settings.maxBackoffMs,
    maxRuntimeMs: settings.maxRuntimeMs,
    maxAttempts: settings.maxAttempts,
    usageLimitRetryMs: settings.usageLimitRetryMs,
  };
}

export function createCore(options: CoreOptions): Core {
  const store = new TaskStore(options.home);
  const env = options.env ?? process.env;
  const logger = options.logger ?? silentLogger;
  return {
    host: hostIdentity(tmuxServerPath(options.settings.tmuxSocket, env)),
    store,
    settings: options.settings,
    policy: policyFrom(options.settings),
    env,
    logger,
    now: options.now ?? Date.now,
    tmux: options.tmux ?? new Tmux({ socket: options.settings.tmuxSocket, logger, env }),
    summaries: new EventSummaries(),
    ...(options.launcher ? { launcher: options.launcher } : {}),
    locks: new LockManager(store.paths.locksDir, options.owner ?? `pid ${process.pid}`, options.version),
  };
}

export function isoNow(core: Core): string {
  return new Date(core.now()).toISOString();
}
