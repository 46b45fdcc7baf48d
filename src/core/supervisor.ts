import * as fs from 'node:fs';
import * as path from 'node:path';
import { settingsToObject } from './config';
import type { LockHolder } from './tasks/lock';
import { processAlive } from './tasks/lock';
import { resolveExecutable } from './tasks/resolve';
import type { TaskService } from './tasks/service';
import { needsSupervision, SUPERVISOR_LOCK } from './watch/monitor';

/** The tmux session the background supervisor runs in, on the same server as the tasks. */
export const SUPERVISOR_SESSION = 'resilient-agent-supervisor';
/** The owner name a background supervisor writes into the supervisor lock. */
export const BACKGROUND_OWNER = 'background supervisor';

export interface SupervisorStatus {
  /** Some process holds the supervisor lock and is alive. */
  running: boolean;
  holder?: LockHolder;
  background: boolean;
  /** Tasks that still need a supervisor. */
  unfinished: number;
}

export function supervisorStatus(svc: TaskService): SupervisorStatus {
  const holder = svc.locks.readHolder(SUPERVISOR_LOCK);
  const running = holder !== undefined && processAlive(holder.pid);
  const unfinished = svc.store.list().records.filter(needsSupervision).length;
  return { running, holder: running ? holder : undefined, background: running && holder!.owner.startsWith(BACKGROUND_OWNER), unfinished };
}

/** How to run the CLI for the background supervisor: a Node and the bundle's path. */
export interface Launcher {
  node: string;
  cli: string;
  /** Extra environment, e.g. ELECTRON_RUN_AS_NODE=1 when `node` is an editor's Electron. */
  env?: Record<string, string>;
}

/** A Node for the supervisor: `node` on PATH, else this process's own runtime (Electron run as Node). */
export function defaultLauncher(cli: string, env: NodeJS.ProcessEnv): Launcher {
  const node = resolveExecutable('node', env);
  if (node) return { node, cli };
  return { node: process.execPath, cli, env: { ELECTRON_RUN_AS_NODE: '1' } };
}

export function supervisorLog(svc: TaskService): string {
  return path.join(svc.store.paths.home, 'supervisor.log');
}

/**
 * Starts the background supervisor in its own tmux session, unless a live supervisor already holds
 * the lock. It survives the editor, a closed terminal and a dropped SSH link, as the agents do.
 * Resolves once it holds the lock.
 */
export async function startBackgroundSupervisor(
  svc: TaskService, launcher: Launcher, options: { timeoutMs?: number } = {},
): Promise<{ started: boolean; status: SupervisorStatus }> {
  const before = supervisorStatus(svc);
  if (before.running) return { started: false, status: before };
  svc.store.init();
  if (await svc.tmux.hasSession(SUPERVISOR_SESSION)) await svc.tmux.killSession(SUPERVISOR_SESSION);
  const env: Record<string, string> = {
    RESILIENT_AGENT_HOME: svc.store.paths.home,
    RESILIENT_AGENT_TMUX_SOCKET: svc.settings.tmuxSocket,
    RESILIENT_AGENT_SETTINGS: JSON.stringify(settingsToObject(svc.settings)),
    PATH: svc.env.PATH ?? '/usr/bin:/bin',
    ...(svc.env.HOME ? { HOME: svc.env.HOME } : {}),
    ...(launcher.env ?? {}),
  };
  await svc.tmux.newSession({
    session: SUPERVISOR_SESSION,
    cwd: svc.store.paths.home,
    command: [launcher.node, launcher.cli, 'monitor', '--background'],
    env,
    keepDeadPane: false,
  });
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let pause = 10;
  for (;;) {
    const status = supervisorStatus(svc);
    if (status.running) return { started: true, status };
    if (Date.now() > deadline) {
      const log = fs.existsSync(supervisorLog(svc)) ? fs.readFileSync(supervisorLog(svc), 'utf8').split('\n').slice(-5).join(' | ') : '';
      throw new Error(`the background supervisor did not start${log ? `: ${log}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, pause));
    pause = Math.min(pause * 2, 200);
  }
}

/** Stops the background supervisor (or whichever supervisor holds the lock, when asked to). */
export async function stopBackgroundSupervisor(svc: TaskService): Promise<SupervisorStatus> {
  const status = supervisorStatus(svc);
  if (status.running && status.background && status.holder) {
    process.kill(status.holder.pid, 'SIGTERM');
    const deadline = Date.now() + 5000;
    while (processAlive(status.holder.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }
  await svc.tmux.killSession(SUPERVISOR_SESSION);
  return status;
}

/**
 * The background supervisor is started (or replaced, if it died) whenever tasks need one and no
 * live supervisor holds the lock. Called on task start, by CLI commands and by the extension.
 */
export async function ensureSupervisor(svc: TaskService, launcher: Launcher): Promise<SupervisorStatus> {
  if (svc.settings.supervisorMode !== 'background') return supervisorStatus(svc);
  const status = supervisorStatus(svc);
  if (status.running || status.unfinished === 0) return status;
  return (await startBackgroundSupervisor(svc, launcher)).status;
}
