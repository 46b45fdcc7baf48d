import type { Policy } from '../decide/policy';
import type { Settings } from '../model/settings';
import type { Logger } from '../platform/log';
import { silentLogger } from '../platform/log';
import { LockManager } from '../store/lock';
import { TaskStore } from '../store/store';
import { Tmux } from '../tmux/tmux';

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
    store,
    settings: options.settings,
    policy: policyFrom(options.settings),
    env,
    logger,
    now: options.now ?? Date.now,
    tmux: options.tmux ?? new Tmux({ socket: options.settings.tmuxSocket, logger, env }),
    locks: new LockManager(store.paths.locksDir, options.owner ?? `pid ${process.pid}`),
  };
}

export function isoNow(core: Core): string {
  return new Date(core.now()).toISOString();
}
