import { spawn } from 'node:child_process';
import fs = require('node:fs');
import path = require('node:path');
import type { Core } from './core';
import { hasEntries, hubLock } from '../store/transcripts';
import type { StatePaths } from '../store/paths';

/** Whether panes are shown by the render hub (./hub.ts) or a renderer each, and starting the hub. */

/** Panes can be shown by the hub where /proc opens a process's terminal (Linux). */
export function hubSupported(): boolean {
  return fs.existsSync('/proc/self/fd/1') || fs.existsSync('/proc/self/fd');
}

/** The pid of the hub started last on this host, which may not hold the lock yet. */
export function hubSpawnedFile(paths: StatePaths, hostKey: string): string {
  return path.join(paths.locksDir, `${hubLock(hostKey)}.spawned`);
}

/**
 * `process`: panes show their transcript with a Node \`render\` each, as before the hub (for the
 * benchmarks' side-by-side and the tests of that fallback).
 */
export const PANE_RENDERER_ENV = 'RESILIENT_AGENT_PANE_RENDERER';

/** Where the pane's transcript comes from for attempts this core launches. */
export function paneRenderer(core: Pick<Core, 'launcher' | 'env'>): 'hub' | 'process' | undefined {
  if (!core.launcher) return undefined;
  const chosen = core.launcher.transcript ?? (core.env[PANE_RENDERER_ENV] === 'process' ? 'process' : 'hub');
  return chosen === 'hub' && hubSupported() ? 'hub' : 'process';
}

/** Environment knob for tests: a hub that exits after this many ms idle. */
export const HUB_IDLE_ENV = 'RESILIENT_AGENT_HUB_IDLE_MS';

/**
 * Starts the render hub of this state dir unless a live one holds its lock. Never waits: the hub
 * takes the lock, or finds it taken and exits. Detached (a session of its own): no pane's hangup,
 * Ctrl-C or kill of its process group reaches it.
 */
export function ensureRenderHub(core: Pick<Core, 'launcher' | 'locks' | 'store' | 'env' | 'logger' | 'host'>, opts: { ifEntries?: boolean } = {}): boolean {
  const l = core.launcher;
  if (!l) return false;
  try {
    if (core.locks.liveHolder(hubLock(core.host.key))) return false;
  } catch {
    /* unreadable just now: a hub started needlessly finds the lock taken and exits */
  }
  // A supervisor's pass (the hub died?): only when this host has a pane to show; read after the
  // lock, so a pass with a live hub reads no entry.
  if (opts.ifEntries && !hasEntries(core.store.paths, core.host.key)) return false;
  const idle = core.env[HUB_IDLE_ENV];
  try {
    const child = spawn(l.node, [l.cli, 'render-hub', '--host', core.host.key], {
      cwd: core.store.paths.home,
      env: { RESILIENT_AGENT_HOME: core.store.paths.home, ...(idle ? { [HUB_IDLE_ENV]: idle } : {}), ...(l.env ?? {}) },
      detached: true,
      stdio: 'ignore',
    });
    child.on('error', (e) => core.logger.warn(`the render hub did not start: ${e.message}`));
    child.unref();
    // Until it holds its lock, a runner whose agent ended at once knows it by this pid: starting, not gone.
    if (child.pid) fs.writeFileSync(hubSpawnedFile(core.store.paths, core.host.key), `${child.pid}\n`, { mode: 0o600 });
    return true;
  } catch (e) {
    core.logger.warn(`the render hub did not start: ${(e as Error).message}`);
    return false;
  }
}
