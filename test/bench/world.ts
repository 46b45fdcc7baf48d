// isolated worlds, always cleaned up
import { ChildProcess, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { lookupFromObject, resolveSettings } from '../../src/core/model/settings';
import type { Settings } from '../../src/core/model/settings';
import type { Logger } from '../../src/core/platform/log';
import { TaskService } from '../../src/core/ops/service';
import type { Launcher } from '../../src/core/ops/core';
import type { Monitor } from '../../src/core/ops/monitor';
import { CLI, Harness, waitFor } from '../integration/harness';
import { processesWithEnv } from '../tools/processes';
import { identified } from '../../src/core/store/lock';
import { log, pool, timeArgv } from './helpers';

export interface World {
  h: Harness;
  svc: TaskService;
  env: NodeJS.ProcessEnv;
  settings: Settings;
}

const worlds = new Set<Harness>();
export const children = new Set<ChildProcess>();

/** A private tmux socket and state dir. `sleepAgents`: codex/claude are tiny shell agents, not the node fixture. */
export function newWorld(options: { sleepAgents?: boolean; settings?: Record<string, unknown>; logger?: Logger; launcher?: Partial<Launcher> } = {}): World {
  const h = new Harness();
  worlds.add(h);
  let env = h.env;
  if (options.sleepAgents) {
    const bin = path.join(h.root, 'sleep-bin');
    fs.mkdirSync(bin);
    // A real runner + one sleeping process per task, a few KiB each instead of a node process. It
    // reports a thread id first, as codex does, so the task looks like a real running one.
    fs.writeFileSync(path.join(bin, 'codex'),
      '#!/bin/sh\nprintf \'{"type":"thread.started","thread_id":"bench-%s"}\\n\' "$$"\nexec sleep 100000\n', { mode: 0o755 });
    // A pane whose output moves (so the monitor keeps capturing it).
    fs.writeFileSync(path.join(bin, 'claude'), '#!/bin/sh\nwhile :; do echo tick; sleep 1; done\n', { mode: 0o755 });
    env = { ...h.env, PATH: `${bin}:${h.env.PATH}` };
  }
  const settings = resolveSettings(lookupFromObject({
    // Quick backoff: a consecutive failure would be resumed at once too (each crash has its own task anyway).
    'monitor.backoffFactor': 1,
    'monitor.maxBackoffMinutes': 0,
    // Measures of many tasks at once, not of the queue: no task waits for a slot.
    'queue.maxRunning': 1000,
    ...options.settings,
    'tmux.socket': h.socket,
  }));
  // As the CLI and the extension run tasks: each pane shows its agent's transcript beside it.
  const svc = new TaskService({ home: h.home, settings, env, owner: 'bench', logger: options.logger, launcher: { ...BENCH_LAUNCHER, ...options.launcher } });
  return { h, svc, env, settings };
}

export const BENCH_LAUNCHER = { node: process.execPath, cli: CLI };

/** tmux leaves its socket file behind after kill-server; ours are removed too. */
function removeSocketFile(socket: string): void {
  const dir = path.join(process.env.TMUX_TMPDIR || '/tmp', `tmux-${process.getuid?.() ?? 0}`);
  fs.rmSync(path.join(dir, socket), { force: true });
}

export async function cleanupWorld(w: World): Promise<void> {
  worlds.delete(w.h);
  await w.h.cleanup().catch(() => undefined);
  removeSocketFile(w.h.socket);
}

/** Last resort (signal, uncaught error): synchronous, kills every server and folder still here. */
export function cleanupAllSync(): void {
  for (const c of children) {
    try {
      c.kill('SIGTERM');
    } catch {
      /* gone */
    }
  }
  for (const h of worlds) {
    try {
      execFileSync('tmux', ['-L', h.socket, 'kill-server'], { stdio: 'ignore', env: { ...h.env, TMUX: '' } });
    } catch {
      /* no server */
    }
    // A background supervisor is nobody's child: found by its state dir in its environment.
    for (const pid of processesWithEnv(`RESILIENT_AGENT_HOME=${h.home}`)) {
      try {
        if (pid !== process.pid) process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    fs.rmSync(h.root, { recursive: true, force: true });
    removeSocketFile(h.socket);
  }
  worlds.clear();
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    log(`${signal}: cleaning up`);
    cleanupAllSync();
    process.exit(130);
  });
}
process.on('exit', cleanupAllSync);

export function attemptFile(w: World, session: string, n: number, file: string): string {
  return path.join(w.svc.store.paths.attemptDir(session, n), file);
}

/** Starts sleep-agent tasks (4 at a time) and waits until every runner wrote its pid. */
export async function startSleepTasks(w: World, names: string[], agent = 'codex'): Promise<string[]> {
  const sessions: string[] = [];
  await pool(names, 4, async (name) => {
    const dir = path.join(w.h.root, 'projects', name);
    fs.mkdirSync(dir, { recursive: true });
    const r = await w.svc.start({ agent, name, dir, prompt: 'bench' });
    sessions.push(r.session);
  });
  // Started = the runner wrote its pid and the agent its first line (so a pane's output no longer moves).
  const started = (s: string) => fs.existsSync(attemptFile(w, s, 1, 'pid')) &&
    (agent !== 'codex' || (fs.existsSync(attemptFile(w, s, 1, 'events.jsonl')) && fs.statSync(attemptFile(w, s, 1, 'events.jsonl')).size > 0));
  await waitFor(() => sessions.every(started), 'every runner started', 60_000);
  return sessions;
}

/** What the monitor keeps per task, through its public stats(). */
export function monitorMaps(m: Monitor): Record<string, number> {
  return m.stats().tracked;
}

const LAUNCHED = /^(\S+) info (\S+): attempt (\d+) \((\w+), (\w+)\) launched$/;

/** When the supervisor's log says it launched each session's attempt `n` (ms since epoch). */
export function launchTimes(logFile: string, n: number): Map<string, number> {
  const out = new Map<string, number>();
  const text = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
  for (const line of text.split('\n')) {
    const m = LAUNCHED.exec(line);
    if (m && Number(m[3]) === n) out.set(m[2], Date.parse(m[1]));
  }
  return out;
}

/** A world supervised as users run it: its background supervisor (its own process, the seed's defaults). */
export interface SupervisedWorld extends World {
  /** Starts tasks in this process, as the CLI would (signalling the supervisor). */
  svc: TaskService;
  logFile: string;
  supervisorPid: number;
  /** Throws if another process leads now (the measure would no longer be of one supervisor). */
  sameSupervisor(): void;
}

/**
 * `resilient-agent supervisor start` on a new world (a detached `monitor --background` outside
 * tmux; the CLI's config says only `background` and no queue limit). A sentinel task held until a
 * usage limit resets (10 h away) keeps it from exiting idle between rounds: one process throughout.
 */
export async function supervisedWorld(): Promise<SupervisedWorld> {
  const w = newWorld();
  w.h.configure({ 'supervisor.mode': 'background', 'queue.maxRunning': 1000 }); // every other setting the seed's default
  const env = { ...w.env, FIXTURE_RESET_SECONDS: '36000' };
  const svc = new TaskService({ home: w.h.home, settings: w.settings, env, owner: 'bench', launcher: BENCH_LAUNCHER });
  const sentinel = await svc.start({ agent: 'claude', name: 'sentinel', dir: w.h.project('sentinel', ['usage']), prompt: 'bench' });
  const up = await timeArgv(process.execPath, [CLI, 'supervisor', 'start'], env);
  if (up.code !== 0) throw new Error(`supervisor start exited ${up.code}: ${up.stdout}`);
  const holder = await waitFor(() => {
    const hd = svc.locks.readHolder('supervisor');
    return hd?.owner.startsWith('background supervisor') && identified(hd) ? hd : undefined;
  }, 'the background supervisor', 20_000);
  await waitFor(() => svc.store.get(sentinel.session)?.state === 'held', 'the sentinel held until its usage limit resets', 30_000);
  return {
    ...w, env, svc, logFile: path.join(w.h.home, 'supervisor.log'), supervisorPid: holder.pid,
    sameSupervisor: () => {
      const hd = svc.locks.readHolder('supervisor');
      if (!hd || hd.pid !== holder.pid || !identified(hd)) throw new Error(`the background supervisor changed: ${JSON.stringify(hd)}`);
    },
  };
}
