import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveSettings } from '../../src/core/model/settings';
import type { TaskRecord } from '../../src/core/model/record';
import { Monitor } from '../../src/core/ops/monitor';
import { TaskService } from '../../src/core/ops/service';
import { CLI, waitFor } from '../integration/harness';
import { processesWithEnv } from '../tools/processes';
import type { ModelServer } from './modelServer';

/** What an end-to-end test of an agent's real TUI (interactive*.test.ts) runs in: one task, its own tmux and HOME. */

/** tmux on the test's own socket (never the person's server), its output; never throws. */
export function tmux(socket: string, args: string[]): Promise<string> {
  const env = { ...process.env };
  delete env.TMUX;
  delete env.TMUX_PANE;
  return new Promise((resolve) => execFile('tmux', ['-L', socket, ...args], { env, encoding: 'utf8' }, (_e, out) => resolve(out)));
}

export interface TuiWorld {
  root: string;
  socket: string;
  /** The task's tmux session. */
  session: string;
  server?: ModelServer;
  service?: TaskService;
  monitor?: Monitor;
}

/**
 * After each test: what a failure needs to be understood (the record, the pane, the requests the
 * model server saw), then everything gone: the tmux server, every process of the agent's HOME
 * (a TUI that outlived its pane), the model server and the folder (kept with E2E_KEEP=1).
 */
export async function endTuiWorld(w: TuiWorld, failed: boolean): Promise<void> {
  w.monitor?.stop();
  if (failed && w.service) {
    console.log(`record: ${JSON.stringify(w.service.store.get(w.session), null, 1)}`);
    console.log(`pane:\n${await tmux(w.socket, ['capture-pane', '-p', '-t', `=${w.session}:`])}`);
    console.log(`requests: ${JSON.stringify(w.server?.requests.map((q) => `${q.seq} ${q.kind}:${q.answeredWith} ${JSON.stringify(q.lastUserText.slice(0, 60))}`))}`);
  }
  await tmux(w.socket, ['kill-server']);
  for (const pid of processesWithEnv(`HOME=${path.join(w.root, 'agent', 'home')}`)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await w.server?.close();
  if (process.env.E2E_KEEP !== '1' && w.root) fs.rmSync(w.root, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
}

/** The task's service as the CLI and the extension have it: the test's settings, the agent's environment, the CLI beside it (its hooks run it). */
export function tuiService(root: string, values: Record<string, unknown>, env: NodeJS.ProcessEnv): TaskService {
  const quiet = () => undefined;
  return new TaskService({
    home: path.join(root, 'state'), settings: resolveSettings((k) => values[k]), env,
    logger: { debug: quiet, info: quiet, warn: quiet, error: quiet }, owner: 'e2e test', launcher: { node: process.execPath, cli: CLI },
  });
}

/** Its supervisor, as a person's runs: woken by events (hooks, a pane that died), its timer 60 s. */
export function tuiMonitor(svc: TaskService): Monitor {
  const monitor = new Monitor(svc, { intervalMs: 60_000, eventDriven: true, probeMs: 100 });
  monitor.start();
  return monitor;
}

/** One line of an attempt's hook log (what its agent's hooks, or its server's events, said). */
export interface HookLine { state: string; event: string; at: number; reason?: string; sessionId?: string }

/** `until`: the task's record once `check` holds (within `waitMs`); `hooks`: attempt `n`'s hook log. */
export function watchTask(svc: TaskService, session: string, waitMs: number): {
  until: (check: (r: TaskRecord) => boolean, what: string) => Promise<TaskRecord>;
  hooks: (n: number) => HookLine[];
} {
  return {
    until: (check, what) => waitFor(() => {
      const r = svc.store.get(session);
      return r && check(r) ? r : undefined;
    }, what, waitMs),
    hooks: (n) => {
      const f = path.join(svc.store.paths.attemptDir(session, n), 'hooks.jsonl');
      return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as HookLine) : [];
    },
  };
}
