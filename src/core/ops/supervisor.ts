import { ChildProcess, spawn } from 'node:child_process';
import fs = require('node:fs');
import path = require('node:path');
import { settingsToObject } from '../model/settings';
import type { LockHolder } from '../store/lock';
import { compareBuilds, identified } from '../store/lock';
import { processStopped } from '../platform/processes';
import { tmuxEnvironment } from '../tmux/tmux';
import { resolveExecutable } from '../platform/executables';
import type { Launcher } from './core';
import type { TaskService } from './service';
import { needsSupervision, supervisorLock } from './monitor';

/** The owner name a background supervisor writes into the supervisor lock. */
export const BACKGROUND_OWNER = 'background supervisor';

export interface SupervisorStatus {
  /** Some process holds the supervisor lock and is alive. */
  running: boolean;
  holder?: LockHolder;
  background: boolean;
  /** Tasks that still need a supervisor. */
  unfinished: number;
  /** The supervisor that runs is an older build than this one: this build takes the lead from it. */
  older?: boolean;
  /** No supervisor runs, but a lease still names one: who, and why it no longer counts. */
  stale?: { holder: LockHolder; why: string };
}

/** Why a holder named in a lease that is not alive no longer supervises. */
function staleWhy(h: LockHolder): string {
  if (!identified(h)) return 'it is gone';
  if (processStopped(h.pid)) return 'it is stopped (SIGSTOP, Ctrl-Z)';
  return 'it stopped renewing its lease (frozen, or a clock far off)';
}

/** This host's supervisor: a live holder of its lease (one that stopped, or stopped renewing, is none). */
export function supervisorStatus(svc: TaskService): SupervisorStatus {
  const holder = svc.locks.liveHolder(supervisorLock(svc));
  const running = holder !== undefined;
  const unfinished = svc.store.list().records.filter(needsSupervision).length;
  const older = running && compareBuilds(svc.locks.identity(), holder!) > 0;
  let stale: SupervisorStatus['stale'];
  if (!running) {
    try {
      const named = svc.locks.readHolder(supervisorLock(svc));
      if (named) stale = { holder: named, why: staleWhy(named) };
    } catch {
      /* unreadable just now: said as none */
    }
  }
  return { running, holder: running ? holder : undefined, background: running && holder!.owner.startsWith(BACKGROUND_OWNER), unfinished, ...(older ? { older } : {}), ...(stale ? { stale } : {}) };
}

export type { Launcher };

/** A Node for the supervisor: `node` on PATH, else this process's own runtime (Electron run as Node). */
export function defaultLauncher(cli: string, env: NodeJS.ProcessEnv): Launcher {
  const node = resolveExecutable('node', env);
  if (node) return { node, cli };
  return { node: process.execPath, cli, env: { ELECTRON_RUN_AS_NODE: '1' } };
}

export function supervisorLog(svc: TaskService): string {
  return path.join(svc.store.paths.home, 'supervisor.log');
}

/** Starts argv[1..] in a session of its own and exits once it runs: a double fork, in Node. */
const DETACH_SCRIPT = `const c = require('node:child_process').spawn(process.argv[1], process.argv.slice(2), { detached: true, stdio: 'inherit' });
c.on('spawn', () => process.exit(0));
c.on('error', (e) => { process.stderr.write(e.message + '\\n'); process.exit(1); });`;

/** What the supervisor process itself printed before its logger ran (a crash at start), kept for `supervisor status`. */
export function supervisorStderr(svc: TaskService): string {
  return path.join(svc.store.paths.home, 'supervisor.stderr');
}

/**
 * The environment a CLI process started on the caller's behalf runs with: the caller's whole
 * environment (it names the tmux server — TMUX_TMPDIR, the socket — and the folders the agents'
 * tasks were started with), its state dir and settings; only a tmux client's own variables dropped.
 */
export function cliEnvironment(svc: TaskService, launcher: Launcher): NodeJS.ProcessEnv {
  return {
    ...tmuxEnvironment(svc.env),
    RESILIENT_AGENT_HOME: svc.store.paths.home,
    RESILIENT_AGENT_TMUX_SOCKET: svc.settings.tmuxSocket,
    RESILIENT_AGENT_SETTINGS: JSON.stringify(settingsToObject(svc.settings)),
    PATH: svc.env.PATH ?? '/usr/bin:/bin',
    ...(launcher.env ?? {}),
  };
}

/**
 * Starts the background supervisor as a process of its own, unless a live supervisor already
 * holds the lock. It is not on the tasks' tmux server (a `kill-server`, a tmux crash or the OOM
 * killer taking tmux must not take the one process that recovers from it), and it leads a session
 * of its own (no terminal's hangup reaches it). It survives the editor and a dropped SSH link.
 * Resolves once it holds the lock.
 */
export async function startBackgroundSupervisor(
  svc: TaskService, launcher: Launcher, options: { timeoutMs?: number } = {},
): Promise<{ started: boolean; status: SupervisorStatus }> {
  const before = supervisorStatus(svc);
  // An older build's supervisor is replaced: the one started here takes the lead from it.
  if (before.running && !before.older) return { started: false, status: before };
  svc.store.init();
  const env = cliEnvironment(svc, launcher);
  const stderr = fs.openSync(supervisorStderr(svc), 'w', 0o600);
  let child: ChildProcess;
  try {
    // Through a launcher that exits at once: the supervisor is nobody's child (an editor that
    // ends its extension host's process tree does not reach it) and leads its own session.
    child = spawn(launcher.node, ['-e', DETACH_SCRIPT, launcher.node, launcher.cli, 'monitor', '--background'], {
      cwd: svc.store.paths.home,
      env,
      detached: true,
      stdio: ['ignore', 'ignore', stderr],
    });
  } finally {
    fs.closeSync(stderr);
  }
  let failed: string | undefined;
  let launched = false;
  child.on('error', (e) => (failed = e.message));
  child.on('exit', (code, signal) => {
    if (code === 0) launched = true;
    else failed = `its launcher exited (${signal ?? code})`;
  });
  child.unref();
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let pause = 10;
  for (;;) {
    const status = supervisorStatus(svc);
    if (status.running && !status.older) return { started: true, status };
    // It exits by itself when no task needs it: started, and done.
    if (launched && status.unfinished === 0) return { started: true, status };
    if (Date.now() > deadline || failed !== undefined) {
      const said = [supervisorStderr(svc), supervisorLog(svc)]
        .map((f) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trim().split('\n').slice(-3).join(' | ') : ''))
        .filter(Boolean)
        .join(' | ');
      throw new Error(`the background supervisor did not start${failed ? ` (${failed})` : ''}${said ? `: ${said}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, pause));
    pause = Math.min(pause * 2, 200);
  }
}

/**
 * Stops the background supervisor. Only a process identified by pid, start time, boot and pid
 * namespace is signalled: a pid the lock names may belong to another process by now.
 */
export async function stopBackgroundSupervisor(svc: TaskService): Promise<SupervisorStatus> {
  const status = supervisorStatus(svc);
  const holder = status.holder;
  if (status.running && status.background && holder && identified(holder)) {
    process.kill(holder.pid, 'SIGTERM');
    const deadline = Date.now() + 5000;
    while (identified(holder) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }
  return status;
}

/**
 * The background supervisor is started (or replaced, if it died) whenever tasks need one and no
 * live supervisor holds the lock. Called on task start, by CLI commands and by the extension.
 */
export async function ensureSupervisor(svc: TaskService, launcher: Launcher): Promise<SupervisorStatus> {
  if (svc.settings.supervisorMode !== 'background') return supervisorStatus(svc);
  const status = supervisorStatus(svc);
  if ((status.running && !status.older) || status.unfinished === 0) return status;
  return (await startBackgroundSupervisor(svc, launcher)).status;
}

/**
 * ensureSupervisor for a caller that needs no status back (a CLI command ending): a live
 * supervisor of this build or a newer one, the common case, is seen from its lease alone, without
 * reading every task's record.
 */
export async function ensureSupervisorRuns(svc: TaskService, launcher: Launcher): Promise<void> {
  if (svc.settings.supervisorMode !== 'background') return;
  try {
    const holder = svc.locks.liveHolder(supervisorLock(svc));
    if (holder && compareBuilds(svc.locks.identity(), holder) <= 0) return;
  } catch {
    /* unreadable just now: the full look says what to do */
  }
  await ensureSupervisor(svc, launcher);
}
