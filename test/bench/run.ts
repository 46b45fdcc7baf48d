/**
 * Benchmarks: crash -> resume latency, tmux server killed -> every task resumed, the cost of a monitor pass, `resilient-agent list`, memory
 * over many passes, and the bundle's size. Real tmux on private `-L` sockets, fixture agents.
 *
 *   npm run compile && npm run build && node out/test/bench/run.js            (all, writes BENCHMARKS.md)
 *   node out/test/bench/run.js pass-cost        (one measure: crash | server-kill | pass-cost | list | memory | size)
 *   options: --crashes N (per mode, default 50)  --kills N (server-kill, default 20)  --kill-tasks N (default 10)
 *            --passes N (memory, default 10000)  --no-write
 *
 * Every external command is an argv array (no shell). Every tmux server and temp folder made here
 * is removed at the end, on failure, and on SIGINT/SIGTERM.
 */
import { ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as zlib from 'node:zlib';
import { lookupFromObject, resolveSettings } from '../../src/core/model/settings';
import type { Settings } from '../../src/core/model/settings';
import type { Logger } from '../../src/core/platform/log';
import { identified } from '../../src/core/store/lock';
import { TaskService } from '../../src/core/ops/service';
import { evaluateTask, observe } from '../../src/core/ops/observe';
import { listPanesArgs } from '../../src/core/tmux/commands';
import { Monitor } from '../../src/core/ops/monitor';
import type { PassResult } from '../../src/core/ops/monitor';
import { CLI, Harness, REPO, waitFor } from '../integration/harness';
import { processesWithEnv } from '../tools/processes';

// ---- small helpers ------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const nowMs = () => performance.now();

function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil(q * s.length); // nearest rank
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))];
}
const median = (xs: readonly number[]) => quantile(xs, 0.5);
const p95 = (xs: readonly number[]) => quantile(xs, 0.95);
const ms = (x: number, digits = 1) => (Number.isFinite(x) ? `${x.toFixed(digits)} ms` : 'n/a');
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a');
const yes = (ok: boolean) => (ok ? 'met' : '**missed**');

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** Runs an argv to its end; wall time in ms, from spawn to exit. */
function timeArgv(file: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ ms: number; stdout: string; code: number }> {
  return new Promise((resolve) => {
    const t0 = nowMs();
    execFile(file, args, { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (error, stdout) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : 1) : 0;
      resolve({ ms: nowMs() - t0, stdout, code });
    });
  });
}

/** Runs jobs with at most `limit` at once. */
async function pool<T>(items: readonly T[], limit: number, job: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await job(items[next++]);
  }));
}

// ---- isolated worlds, always cleaned up -----------------------------------------------------------

interface World {
  h: Harness;
  svc: TaskService;
  env: NodeJS.ProcessEnv;
  settings: Settings;
}

const worlds = new Set<Harness>();
const children = new Set<ChildProcess>();

/** A private tmux socket and state dir. `sleepAgents`: codex/claude are tiny shell agents, not the node fixture. */
function newWorld(options: { sleepAgents?: boolean; settings?: Record<string, unknown>; logger?: Logger } = {}): World {
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
    ...options.settings,
    'tmux.socket': h.socket,
  }));
  const svc = new TaskService({ home: h.home, settings, env, owner: 'bench', logger: options.logger });
  return { h, svc, env, settings };
}

/** tmux leaves its socket file behind after kill-server; ours are removed too. */
function removeSocketFile(socket: string): void {
  const dir = path.join(process.env.TMUX_TMPDIR || '/tmp', `tmux-${process.getuid?.() ?? 0}`);
  fs.rmSync(path.join(dir, socket), { force: true });
}

async function cleanupWorld(w: World): Promise<void> {
  worlds.delete(w.h);
  await w.h.cleanup().catch(() => undefined);
  removeSocketFile(w.h.socket);
}

/** Last resort (signal, uncaught error): synchronous, kills every server and folder still here. */
function cleanupAllSync(): void {
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

function attemptFile(w: World, session: string, n: number, file: string): string {
  return path.join(w.svc.store.paths.attemptDir(session, n), file);
}

/** Starts sleep-agent tasks (4 at a time) and waits until every runner wrote its pid. */
async function startSleepTasks(w: World, names: string[], agent = 'codex'): Promise<string[]> {
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
function monitorMaps(m: Monitor): Record<string, number> {
  return m.stats().tracked;
}

// ---- results ------------------------------------------------------------------------------------

interface Section {
  id: string;
  title: string;
  markdown: string;
}

interface Args {
  crashes: number;
  passes: number;
  /** tmux server kills (server-kill), and the tasks running at each. */
  kills: number;
  killTasks: number;
  write: boolean;
}

// ---- 1. crash -> resume command started ---------------------------------------------------------

interface CrashSample {
  mode: 'event' | 'timer';
  session: string;
  toAgentMs: number;
  toRunnerMs: number;
  toPassEndMs: number | null;
  passReason: string | null;
  resumedBy: string;
}

/**
 * Each crash has its own task (so backoff never applies): start it with a fixture plan
 * ["hang", "hang"], wait until it has reported its session id, SIGKILL its runner's process group,
 * and wait for the resumed run. Latency = the resumed fixture's logged `startedAt` - the kill; the
 * new attempt's pid-file mtime (runner started, before the agent's exec) is shown too.
 * Event-driven: one world, default 180 s interval. Timer-only: 2 s interval, TIMER_WORLDS worlds sharing
 * the crashes so they run at once (a crash waits ~one interval); each is still the only one in its pass.
 * All three run concurrently (same machine noise); each crash waits a random delay first so it
 * falls at a random phase of the timer and of the 250 ms probe.
 */
const TIMER_WORLDS = 3;

async function measureCrash(args: Args): Promise<Section> {
  const n = args.crashes;
  const ev = newWorld({ settings: { 'monitor.intervalSeconds': 180 } });
  const timers = Array.from({ length: TIMER_WORLDS }, () => newWorld({ settings: { 'monitor.intervalSeconds': 2 } }));
  const launchedAt = new Map<string, { at: number; reason: string }>();
  const errors: string[] = [];
  const onPass = (r: PassResult) => {
    for (const s of r.launched) launchedAt.set(s, { at: Date.now(), reason: r.reason });
  };
  const onError = (e: unknown) => errors.push((e as Error).message);
  const evMonitor = new Monitor(ev.svc, { intervalMs: ev.settings.intervalMs, onPass, onError });
  const timerMonitors = timers.map((w) => new Monitor(w.svc, { intervalMs: w.settings.intervalMs, eventDriven: false, onPass, onError }));
  const samples: CrashSample[] = [];
  let counter = 0;
  try {
    evMonitor.start();
    timerMonitors.forEach((m) => m.start());

    const startTask = async (w: World): Promise<{ session: string; project: string }> => {
      const name = `c${++counter}`;
      const project = w.h.project(name, ['hang', 'hang']);
      const r = await w.svc.start({ agent: 'codex', name, dir: project, prompt: 'bench' });
      return { session: r.session, project };
    };
    const ready = (w: World, t: { session: string; project: string }) =>
      w.h.invocations(t.project).length === 1 &&
      (fs.existsSync(attemptFile(w, t.session, 1, 'events.jsonl')) && fs.readFileSync(attemptFile(w, t.session, 1, 'events.jsonl'), 'utf8').includes('thread.started'));

    const crashOne = async (w: World, mode: 'event' | 'timer', t: { session: string; project: string }, jitterMs: number, monitor: Monitor) => {
      await sleep(Math.random() * jitterMs);
      if (mode === 'event') {
        // A runner the probe already watches (a task that has been running for a while).
        await waitFor(() => monitor.stats().watchedRunners.get(t.session), `probe watching ${t.session}`, 10_000);
      }
      const pid = Number(fs.readFileSync(attemptFile(w, t.session, 1, 'pid'), 'utf8'));
      const t0 = Date.now();
      process.kill(-pid, 'SIGKILL');
      const inv = await waitFor(() => { const i = w.h.invocations(t.project); return i.length >= 2 ? i : undefined; }, `resume of ${t.session}`, 30_000);
      const second = inv[1] as unknown as { startedAt?: number; mode: string };
      if (typeof second.startedAt !== 'number') throw new Error('the fixture does not log startedAt');
      const pidMtime = fs.statSync(attemptFile(w, t.session, 2, 'pid')).mtimeMs;
      const pass = launchedAt.get(t.session);
      samples.push({
        mode, session: t.session, toAgentMs: second.startedAt - t0, toRunnerMs: pidMtime - t0,
        toPassEndMs: pass ? pass.at - t0 : null, passReason: pass?.reason ?? null, resumedBy: second.mode,
      });
    };

    const perRound = 10;
    const rounds = Math.ceil(n / perRound);
    for (let round = 0; round < rounds; round++) {
      const k = Math.min(perRound, n - round * perRound);
      const evTasks: { session: string; project: string }[] = [];
      const tTasks: { session: string; project: string }[][] = timers.map(() => []);
      for (let i = 0; i < k; i++) {
        evTasks.push(await startTask(ev));
        tTasks[i % TIMER_WORLDS].push(await startTask(timers[i % TIMER_WORLDS]));
      }
      evMonitor.wake('bench: tasks started'); // in-process starts signal with our own pid, which the watcher ignores
      await waitFor(() => evTasks.every((t) => ready(ev, t)) && tTasks.every((ts, i) => ts.every((t) => ready(timers[i], t))),
        'every agent reported its session id', 60_000);
      await sleep(300);
      await Promise.all([
        (async () => { for (const t of evTasks) await crashOne(ev, 'event', t, 1000, evMonitor); })(),
        ...timers.map(async (w, i) => { for (const t of tTasks[i]) await crashOne(w, 'timer', t, 2000, timerMonitors[i]); }),
      ]);
      // Forget this round's tasks (frees the fixture processes).
      for (const t of evTasks) await ev.svc.kill(t.session, true);
      for (let i = 0; i < TIMER_WORLDS; i++) for (const t of tTasks[i]) await timers[i].svc.kill(t.session, true);
      log(`crash: round ${round + 1}/${rounds}: ${samples.length} crashes so far`);
    }
  } finally {
    evMonitor.stop();
    timerMonitors.forEach((m) => m.stop());
    await cleanupWorld(ev);
    for (const w of timers) await cleanupWorld(w);
  }

  const stats = (mode: 'event' | 'timer') => {
    const s = samples.filter((x) => x.mode === mode);
    const pass = s.map((x) => x.toPassEndMs).filter((x): x is number => x !== null);
    return {
      n: s.length,
      med: median(s.map((x) => x.toAgentMs)), p95: p95(s.map((x) => x.toAgentMs)), max: Math.max(...s.map((x) => x.toAgentMs)),
      runnerMed: median(s.map((x) => x.toRunnerMs)), runnerP95: p95(s.map((x) => x.toRunnerMs)),
      passMed: median(pass),
      byProbe: s.filter((x) => x.passReason?.startsWith('runner of')).length,
      byTimer: s.filter((x) => x.passReason === 'timer').length,
      byId: s.filter((x) => x.resumedBy === 'resume').length,
    };
  };
  const e = stats('event');
  const t = stats('timer');
  const lines = [
    `Each crash is \`kill -9\` of a task's runner process group (\`process.kill(-pid, 'SIGKILL')\`), each in its own task`,
    `(first failure: resumed at once, no backoff). "Resume started" = the resumed fixture agent's logged \`startedAt\``,
    `(after its node start-up); "runner" = the new attempt's \`pid\` file mtime (bash runner started, before the agent).`,
    `In-process TaskService + Monitor, fixture agents (codex). Both modes run at once (one event-driven world, ${TIMER_WORLDS} timer-only`,
    `worlds sharing the timer crashes, each crash alone in its pass), each crash after a random delay (random phase).`,
    `Timer-only uses a 2 s interval; with the seed's default 3 min the median would be ~90 s.`,
    '',
    '| crash -> resume started | event-driven (180 s interval) | timer-only (2 s interval) | timer / event | target |',
    '|---|---|---|---|---|',
    `| crashes | ${e.n} | ${t.n} | | >= 50 |`,
    `| median | ${ms(e.med, 0)} | ${ms(t.med, 0)} | ${ratio(t.med, e.med)} | <= 1000 ms: event-driven ${yes(e.med <= 1000)} (timer-only ${t.med <= 1000 ? 'within' : 'over'}) |`,
    `| p95 | ${ms(e.p95, 0)} | ${ms(t.p95, 0)} | ${ratio(t.p95, e.p95)} | <= 2000 ms: event-driven ${yes(e.p95 <= 2000)} (timer-only ${t.p95 <= 2000 ? 'within' : 'over'}) |`,
    `| max | ${ms(e.max, 0)} | ${ms(t.max, 0)} | | |`,
    `| runner started (pid mtime), median / p95 | ${ms(e.runnerMed, 0)} / ${ms(e.runnerP95, 0)} | ${ms(t.runnerMed, 0)} / ${ms(t.runnerP95, 0)} | | |`,
    `| crash -> end of the pass that launched it, median | ${ms(e.passMed, 0)} | ${ms(t.passMed, 0)} | | |`,
    `| pass woken by the runner probe / by the timer | ${e.byProbe} / ${e.byTimer} | ${t.byProbe} / ${t.byTimer} | | |`,
    `| resumed by exact id | ${e.byId}/${e.n} | ${t.byId}/${t.n} | | all |`,
  ];
  if (errors.length) lines.push('', `Monitor errors during the run: ${errors.length} (first: ${errors[0]})`);
  return { id: 'crash', title: '1. Crash -> resume command started', markdown: lines.join('\n') };
}

// ---- 1b. tmux server killed -> every task resumed ---------------------------------------------------

interface ServerKillRound {
  /** Baseline, same round: one task's runner killed -> its resumed agent started. */
  one: { agentMs: number; runnerMs: number; launchMs: number };
  /** Server killed -> each task's resumed agent started (fixture `startedAt`). */
  agentMs: number[];
  runnerMs: number[];
  launchMs: number[];
  byId: number;
  causes: string[];
}

const LAUNCHED = /^(\S+) info (\S+): attempt (\d+) \((\w+), (\w+)\) launched$/;

/** When the supervisor's log says it launched each session's attempt `n` (ms since epoch). */
function launchTimes(logFile: string, n: number): Map<string, number> {
  const out = new Map<string, number>();
  const text = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
  for (const line of text.split('\n')) {
    const m = LAUNCHED.exec(line);
    if (m && Number(m[3]) === n) out.set(m[2], Date.parse(m[1]));
  }
  return out;
}

/**
 * The background supervisor (`resilient-agent supervisor start`: a detached `monitor --background`
 * process outside tmux, the seed's defaults) supervises one world. Each round starts `killTasks`
 * fresh tasks (fixture agents of the four kinds, plan ["hang", "hang"]) plus one baseline task,
 * waits until every agent is mid-reply (session saved, "working..." printed), then: the baseline's
 * runner is killed alone (`kill -9` of its group) and its resume timed; it is forgotten; then
 * `tmux kill-server`, and the time until every task's resumed agent logged its `startedAt`. The
 * round's tasks are forgotten after. A sentinel task held until a usage limit resets (10 h away)
 * keeps the supervisor from exiting idle between rounds: one supervisor process for every kill.
 */
async function measureServerKill(args: Args): Promise<Section> {
  const loadBefore = os.loadavg();
  const w = newWorld();
  w.h.configure({ 'supervisor.mode': 'background' }); // the CLI's config: every other setting the seed's default
  const env = { ...w.env, FIXTURE_RESET_SECONDS: '36000' };
  const svc = new TaskService({ home: w.h.home, settings: w.settings, env, owner: 'bench' });
  const logFile = path.join(w.h.home, 'supervisor.log');
  const rounds: ServerKillRound[] = [];
  const agents = ['codex', 'claude', 'opencode', 'pi'] as const;
  let supervisorPid = 0;
  try {
    const sentinel = await svc.start({ agent: 'claude', name: 'sentinel', dir: w.h.project('sentinel', ['usage']), prompt: 'bench' });
    const up = await timeArgv(process.execPath, [CLI, 'supervisor', 'start'], env);
    if (up.code !== 0) throw new Error(`supervisor start exited ${up.code}: ${up.stdout}`);
    const holder = await waitFor(() => {
      const hd = svc.locks.readHolder('supervisor');
      return hd?.owner.startsWith('background supervisor') && identified(hd) ? hd : undefined;
    }, 'the background supervisor', 20_000);
    supervisorPid = holder.pid;
    await waitFor(() => svc.store.get(sentinel.session)?.state === 'held', 'the sentinel held until its usage limit resets', 30_000);
    const sameSupervisor = () => {
      const hd = svc.locks.readHolder('supervisor');
      if (!hd || hd.pid !== supervisorPid || !identified(hd)) throw new Error(`the background supervisor changed: ${JSON.stringify(hd)}`);
    };
    const mid = (t: { session: string; project: string }) => {
      const events = attemptFile(w, t.session, 1, 'events.jsonl');
      return w.h.invocations(t.project).length === 1 && fs.existsSync(events) && fs.readFileSync(events, 'utf8').includes('working...');
    };
    const resumedAt = (project: string): number | undefined => {
      const inv = w.h.invocations(project);
      return inv.length >= 2 ? (inv[1] as unknown as { startedAt: number }).startedAt : undefined;
    };
    for (let k = 0; k < args.kills; k++) {
      sameSupervisor();
      const tasks: { session: string; project: string }[] = [];
      const names = Array.from({ length: args.killTasks }, (_, i) => i);
      await pool(names, 4, async (i) => {
        const project = w.h.project(`k${k}t${i}`, ['hang', 'hang']);
        const r = await svc.start({ agent: agents[i % agents.length], name: `k${k}t${i}`, dir: project, prompt: 'bench' });
        tasks.push({ session: r.session, project });
      });
      const oneProject = w.h.project(`k${k}one`, ['hang', 'hang']);
      const one = { session: (await svc.start({ agent: 'codex', name: `k${k}one`, dir: oneProject, prompt: 'bench' })).session, project: oneProject };
      await waitFor(() => [...tasks, one].every(mid), 'every agent mid-reply', 60_000);
      // A random phase against the supervisor's probe (250 ms) and its timer.
      await sleep(300 + Math.random() * 1000);

      // Baseline: one runner killed while the server lives.
      let t0 = Date.now();
      process.kill(-Number(fs.readFileSync(attemptFile(w, one.session, 1, 'pid'), 'utf8')), 'SIGKILL');
      const oneAt = await waitFor(() => resumedAt(one.project), `resume of ${one.session}`, 30_000);
      const oneLaunch = await waitFor(() => launchTimes(logFile, 2).get(one.session), `the launch of ${one.session} logged`, 10_000);
      const oneRound = { agentMs: oneAt - t0, runnerMs: fs.statSync(attemptFile(w, one.session, 2, 'pid')).mtimeMs - t0, launchMs: oneLaunch - t0 };
      await svc.kill(one.session, true);
      await sleep(300 + Math.random() * 1000);

      // The server killed: every task lost at once.
      sameSupervisor();
      t0 = Date.now();
      const killed = await timeArgv('tmux', ['-L', w.h.socket, 'kill-server'], { ...env, TMUX: '' });
      if (killed.code !== 0) throw new Error('tmux kill-server failed');
      await waitFor(() => tasks.every((t) => resumedAt(t.project) !== undefined), 'every task resumed', 60_000);
      const launched = await waitFor(() => {
        const m = launchTimes(logFile, 2);
        return tasks.every((t) => m.has(t.session)) ? m : undefined;
      }, 'every launch logged', 10_000);
      const round: ServerKillRound = { one: oneRound, agentMs: [], runnerMs: [], launchMs: [], byId: 0, causes: [] };
      for (const t of tasks) {
        round.agentMs.push(resumedAt(t.project)! - t0);
        round.runnerMs.push(fs.statSync(attemptFile(w, t.session, 2, 'pid')).mtimeMs - t0);
        round.launchMs.push(launched.get(t.session)! - t0);
        const inv = w.h.invocations(t.project);
        const rec = svc.store.get(t.session)!;
        if (inv.length !== 2 || rec.attempts.length !== 2) throw new Error(`${t.session}: ${inv.length} runs, ${rec.attempts.length} attempts after one kill`);
        if (inv[1].mode === 'resume' && inv[1].sessionId === inv[0].sessionId) round.byId++;
        round.causes.push(rec.attempts[1].cause);
      }
      rounds.push(round);
      for (const t of tasks) await svc.kill(t.session, true);
      log(`server-kill: ${k + 1}/${args.kills}: every task resumed ${ms(Math.max(...round.agentMs), 0)} after the kill (one crash: ${ms(oneRound.agentMs, 0)})`);
    }
    sameSupervisor();
    await timeArgv(process.execPath, [CLI, 'supervisor', 'stop'], env);
  } finally {
    await cleanupWorld(w);
  }
  const loadAfter = os.loadavg();

  const n = rounds.length;
  const every = rounds.map((r) => Math.max(...r.agentMs));
  const first = rounds.map((r) => Math.min(...r.agentMs));
  const oneAgent = rounds.map((r) => r.one.agentMs);
  const col = (xs: number[]) => ({ med: median(xs), p95: p95(xs), max: Math.max(...xs) });
  const e = col(every);
  const f = col(first);
  const o = col(oneAgent);
  const pair = (xs: number[]) => `${ms(median(xs), 0)} / ${ms(p95(xs), 0)}`;
  const each = rounds.flatMap((r) => r.agentMs);
  const spread = rounds.map((r) => Math.max(...r.launchMs) - Math.min(...r.launchMs));
  const tasks = rounds.reduce((a, r) => a + r.agentMs.length, 0);
  const byId = rounds.reduce((a, r) => a + r.byId, 0);
  const causes = new Map<string, number>();
  for (const c of rounds.flatMap((r) => r.causes)) causes.set(c, (causes.get(c) ?? 0) + 1);
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  const lines = [
    `The background supervisor (\`resilient-agent supervisor start\`: a detached \`monitor --background\` process outside tmux,`,
    `the seed's defaults: 180 s interval, event-driven) supervises ${args.killTasks} tasks running fixture agents (codex, claude, opencode, pi)`,
    `mid-reply; \`tmux -L sock kill-server\`; time until every task's resumed agent logged its \`startedAt\` (after its node start-up).`,
    `Fresh tasks each round (each kill is their first failure: no backoff). Same round, same supervisor, just before: one more task's`,
    `runner killed alone (\`kill -9\` of its process group), the baseline. Nobody runs a CLI command or an editor between a kill and the resumes.`,
    '',
    `| per kill (${args.killTasks} tasks) | one runner killed (1 task) | server killed: first task resumed | server killed: every task resumed | every / one |`,
    '|---|---|---|---|---|',
    `| kills | ${n} | ${n} | ${n} | |`,
    `| median | ${ms(o.med, 0)} | ${ms(f.med, 0)} | ${ms(e.med, 0)} | ${ratio(e.med, o.med)} |`,
    `| p95 | ${ms(o.p95, 0)} | ${ms(f.p95, 0)} | ${ms(e.p95, 0)} | ${ratio(e.p95, o.p95)} |`,
    `| max | ${ms(o.max, 0)} | ${ms(f.max, 0)} | ${ms(e.max, 0)} | |`,
    `| runner started (pid mtime), median / p95 | ${pair(rounds.map((r) => r.one.runnerMs))} | ${pair(rounds.map((r) => Math.min(...r.runnerMs)))} | ${pair(rounds.map((r) => Math.max(...r.runnerMs)))} | |`,
    `| supervisor logged the launch, median / p95 | ${pair(rounds.map((r) => r.one.launchMs))} | ${pair(rounds.map((r) => Math.min(...r.launchMs)))} | ${pair(rounds.map((r) => Math.max(...r.launchMs)))} | |`,
    '',
    `Each task's own resume after a kill, median / p95: ${pair(each)} (${each.length} resumes). First to last launch of one recovery, median`,
    `${ms(median(spread), 0)}: the lost tasks are started one after another in one pass, 50-250 ms apart (\`paceMs\`), so ${args.killTasks} tasks`,
    `take about ${args.killTasks - 1} x 150 ms = ${((args.killTasks - 1) * 150 / 1000).toFixed(2)} s of pacing by design.`,
    `Resumed by exact id (mode resume, the same agent session id): ${byId}/${tasks}; one new run and one new attempt per task per kill (none resumed`,
    `twice); attempt causes: ${[...causes].map(([c, k]) => `${c} ${k}`).join(', ')}. One supervisor process (pid ${supervisorPid}) recovered all ${n} kills`,
    `(kill-server never reached it); a sentinel task held until a usage limit resets keeps it from exiting idle between rounds.`,
    `Load average (1 / 5 / 15 min) before this measure: ${load(loadBefore)}; after: ${load(loadAfter)}.`,
  ];
  return { id: 'server-kill', title: '1b. tmux server killed -> every task resumed', markdown: lines.join('\n') };
}

// ---- 2. the cost of one pass (and 3. list at 100 tasks) ------------------------------------------

async function listPanesFloor(w: World, format = '#{session_name}'): Promise<number> {
  const r = await timeArgv('tmux', ['-L', w.h.socket, 'list-panes', '-a', '-F', format], { ...w.env, TMUX: '' });
  if (r.code !== 0) throw new Error('tmux list-panes failed');
  return r.ms;
}

/** The format the monitor's `list-panes` asks for (11 fields), for the breakdown. */
const FULL_FORMAT = listPanesArgs()[listPanesArgs().indexOf('-F') + 1];

interface PassRow {
  tasks: number;
  coldSpawned: number;
  coldMs: number;
  spawned: number[];
  passMs: number[];
  floorMs: number[];
  fullFormatMs: number[];
  listPanesMs: number[];
  storeListMs: number[];
  observeMs: number[];
  /** The monitor's warnings/errors during this size's passes. */
  problems?: string[];
}

async function measurePassCost(sizes = [10, 100, 300], listAt = 100): Promise<Section[]> {
  // The monitor's warnings and errors are counted: a pass that cannot read panes says so only there.
  const problems: string[] = [];
  const logger: Logger = { debug() {}, info() {}, warn: (m) => problems.push(m), error: (m) => problems.push(m) };
  const w = newWorld({ sleepAgents: true, logger });
  const monitor = new Monitor(w.svc, { intervalMs: w.settings.intervalMs, eventDriven: false });
  const rows: PassRow[] = [];
  let listSection: Section | undefined;
  let count = 0;
  try {
    for (const size of sizes) {
      const t0 = nowMs();
      const names = Array.from({ length: size - count }, (_, i) => `s${count + i}`);
      await startSleepTasks(w, names);
      count = size;
      log(`pass-cost: ${size} tasks running (${((nowMs() - t0) / 1000).toFixed(1)} s to start ${names.length})`);
      // The first pass over new tasks reads every new pane once (their output was never seen).
      problems.length = 0;
      let before = w.svc.tmux.spawned;
      let p0 = nowMs();
      const first = await monitor.pass('bench cold');
      const row: PassRow = {
        tasks: size, coldSpawned: w.svc.tmux.spawned - before, coldMs: nowMs() - p0,
        spawned: [], passMs: [], floorMs: [], fullFormatMs: [], listPanesMs: [], storeListMs: [], observeMs: [],
      };
      if (first.tasks !== size) throw new Error(`the pass saw ${first.tasks} tasks, not ${size}`);
      const reps = size >= 300 ? 9 : 15;
      for (let i = 0; i < reps; i++) {
        // Interleaved so the floor and the pass see the same machine load.
        row.floorMs.push(await listPanesFloor(w));
        row.fullFormatMs.push(await listPanesFloor(w, FULL_FORMAT));
        before = w.svc.tmux.spawned;
        p0 = nowMs();
        const r = await monitor.pass('bench');
        row.passMs.push(nowMs() - p0);
        row.spawned.push(w.svc.tmux.spawned - before);
        if (r.launched.length) throw new Error(`a pass launched ${r.launched.join(', ')}: tasks are not all running`);
        p0 = nowMs();
        const panes = await w.svc.tmux.listPanes();
        row.listPanesMs.push(nowMs() - p0);
        p0 = nowMs();
        const { records } = w.svc.store.list();
        row.storeListMs.push(nowMs() - p0);
        p0 = nowMs();
        for (const record of records) evaluateTask(w.svc, record, observe(w.svc, record, panes));
        row.observeMs.push(nowMs() - p0);
      }
      row.problems = [...problems];
      rows.push(row);
      if (size === listAt) listSection = await measureList(w);
    }
  } finally {
    monitor.stop();
    await cleanupWorld(w);
  }
  const lines = [
    'One `monitor.pass()` over N running tasks (each a real runner + `sleep`, tiny shell agents named `codex`),',
    'private tmux server. "Floor" = one `tmux -L sock list-panes -a -F \'#{session_name}\'` spawned from Node (execFile),',
    'interleaved with the passes. Steady passes follow a first ("cold") pass that reads every new pane once.',
    'Breakdown, each alone: the floor with the monitor\'s 11-field format (execFile), `svc.tmux.listPanes()` (execa, same',
    'format, parsed), `svc.store.list()` (read + validate every',
    '`task.json`), and `observe()` + `evaluateTask()` of every task (attempt files, events tail).',
    '',
    '| tasks | tmux procs / pass: steady median (max); cold | pass wall, median | floor, median | pass / floor | floor, 11 fields | listPanes() | store.list() | observe + evaluate | target (100 tasks) |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const spawned = Math.max(...r.spawned);
    const spawnedMedian = median(r.spawned);
    const pass = median(r.passMs);
    const floor = median(r.floorMs);
    const target = r.tasks === 100
      ? `<= 2 procs ${yes(spawned <= 2 && r.coldSpawned <= 2)}; <= 25 ms ${yes(pass <= 25)}; <= 4x floor ${yes(pass <= 4 * floor)}`
      : '';
    lines.push(`| ${r.tasks} | ${spawnedMedian} (max ${spawned}); ${r.coldSpawned} | ${ms(pass)} | ${ms(floor)} | ${ratio(pass, floor)} | ${ms(median(r.fullFormatMs))} | ${ms(median(r.listPanesMs))} | ${ms(median(r.storeListMs))} | ${ms(median(r.observeMs))} | ${target} |`);
  }
  for (const r of rows) {
    if (!r.problems?.length) continue;
    const kinds = new Map<string, number>();
    for (const m of r.problems) {
      const k = m.replace(/[0-9]+/g, '#').slice(0, 90);
      kinds.set(k, (kinds.get(k) ?? 0) + 1);
    }
    lines.push('', `**${r.tasks} tasks: the monitor logged ${r.problems.length} warnings/errors over ${r.passMs.length + 1} passes**: ` +
      [...kinds].map(([k, c]) => `${c} x "${k}"`).join('; '));
  }
  lines.push('', `Passes per size: ${rows.map((r) => `${r.tasks}: ${r.passMs.length}`).join(', ')} (plus the cold one, ${rows.map((r) => ms(r.coldMs, 0)).join(' / ')}).`);
  const sections: Section[] = [{ id: 'pass-cost', title: '2. One monitor pass', markdown: lines.join('\n') }];
  if (listSection) sections.push(listSection);
  return sections;
}

// ---- 3. resilient-agent list -----------------------------------------------------------------------

async function measureList(given?: World, runs = 10): Promise<Section> {
  const w = given ?? newWorld({ sleepAgents: true });
  try {
    if (!given) {
      await startSleepTasks(w, Array.from({ length: 100 }, (_, i) => `s${i}`));
      // As a supervisor would have: the session ids are recorded (list then reads each events tail).
      const monitor = new Monitor(w.svc, { intervalMs: w.settings.intervalMs, eventDriven: false });
      await monitor.pass('bench');
      monitor.stop();
    }
    if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: npm run build`);
    const tasks = w.svc.store.sessions().length;
    const env = { ...w.env }; // RESILIENT_AGENT_HOME and RESILIENT_AGENT_TMUX_SOCKET are set by the harness
    const node: number[] = [];
    const version: number[] = [];
    const list: number[] = [];
    await timeArgv(process.execPath, [CLI, 'list'], env); // warm the page cache
    for (let i = 0; i < runs; i++) {
      node.push((await timeArgv(process.execPath, ['-e', '0'], env)).ms);
      version.push((await timeArgv(process.execPath, [CLI, '--version'], env)).ms);
      const r = await timeArgv(process.execPath, [CLI, 'list'], env);
      if (r.code !== 0) throw new Error(`list exited ${r.code}`);
      const rows = r.stdout.split('\n').filter((l) => l.includes('codex-s')).length;
      if (rows !== tasks) throw new Error(`list showed ${rows} tasks, not ${tasks}`);
      list.push(r.ms);
    }
    const views: number[] = [];
    for (let i = 0; i < runs; i++) {
      const p0 = nowMs();
      await w.svc.views();
      views.push(nowMs() - p0);
    }
    const l = median(list);
    const lines = [
      `\`node dist/cli.js list\` with ${tasks} running tasks (env RESILIENT_AGENT_HOME, RESILIENT_AGENT_TMUX_SOCKET), wall time from`,
      `spawn to exit, ${runs} runs each, interleaved. \`node -e 0\` is the floor; \`--version\` loads the bundle and does nothing else.`,
      '',
      '| command | median | p95 | / `node -e 0` | target |',
      '|---|---|---|---|---|',
      `| \`node -e 0\` | ${ms(median(node))} | ${ms(p95(node))} | 1.00x | |`,
      `| \`resilient-agent --version\` | ${ms(median(version))} | ${ms(p95(version))} | ${ratio(median(version), median(node))} | |`,
      `| \`resilient-agent list\` (${tasks} tasks) | ${ms(l)} | ${ms(p95(list))} | ${ratio(l, median(node))} | <= 150 ms ${yes(l <= 150)} |`,
      `| in-process \`svc.views()\` (the work of list, warm, no start-up) | ${ms(median(views))} | ${ms(p95(views))} | | |`,
    ];
    return { id: 'list', title: `3. \`resilient-agent list\` with ${tasks} tasks`, markdown: lines.join('\n') };
  } finally {
    if (!given) await cleanupWorld(w);
  }
}

// ---- 4. memory over many passes (in a child with --expose-gc) -------------------------------------

interface MemSnapshot {
  pass: number;
  heapUsed: number;
  rss: number;
  external: number;
  oldSpace: number;
  codeSpace: number;
  maps?: Record<string, number>;
  tasks: number;
  elapsedS: number;
}

async function memoryChild(args: Args): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  const w = newWorld({ sleepAgents: true });
  const monitor = new Monitor(w.svc, { intervalMs: w.settings.intervalMs, onError: (e) => log(`monitor error: ${(e as Error).message}`) });
  const snapshots: MemSnapshot[] = [];
  const t0 = nowMs();
  try {
    const sessions = await startSleepTasks(w, Array.from({ length: 18 }, (_, i) => `m${i}`));
    sessions.push(...(await startSleepTasks(w, ['tick0', 'tick1'], 'claude')));
    monitor.start(); // event sources on (probe + wake watcher), 180 s timer
    let churn = 0;
    const marks = new Set([1, args.passes]);
    for (let p = 1000; p < args.passes; p += 1000) marks.add(p);
    for (let pass = 1; pass <= args.passes; pass++) {
      await monitor.pass('bench');
      if (pass % 1000 === 0 && pass < args.passes) {
        // Churn: one task forgotten, a new one started (the maps must drop the old one).
        const old = sessions.shift()!;
        await w.svc.kill(old, true);
        sessions.push(...(await startSleepTasks(w, [`churn${churn++}`])));
      }
      if (marks.has(pass)) {
        gc();
        gc();
        const m = process.memoryUsage();
        const spaces = v8.getHeapSpaceStatistics();
        const space = (name: string) => spaces.find((x) => x.space_name === name)?.space_used_size ?? NaN;
        snapshots.push({
          pass, heapUsed: m.heapUsed, rss: m.rss, external: m.external, maps: monitorMaps(monitor),
          oldSpace: space('old_space'), codeSpace: space('code_space'),
          tasks: w.svc.store.sessions().length, elapsedS: (nowMs() - t0) / 1000,
        });
        log(`memory: pass ${pass}: heapUsed ${mib(m.heapUsed)}, rss ${mib(m.rss)}`);
      }
    }
  } finally {
    monitor.stop();
    await cleanupWorld(w);
  }
  process.stdout.write(`BENCH_RESULT ${JSON.stringify({ snapshots })}\n`);
}

async function measureMemory(args: Args): Promise<Section> {
  const child = spawn(process.execPath, ['--expose-gc', __filename, 'memory-child', '--passes', String(args.passes)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  const code: number = await new Promise((r) => child.on('exit', (c) => r(c ?? 1)));
  children.delete(child);
  const line = out.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
  if (code !== 0 || !line) throw new Error(`the memory child exited ${code}`);
  const { snapshots } = JSON.parse(line.slice('BENCH_RESULT '.length)) as { snapshots: MemSnapshot[] };
  const at = (p: number) => snapshots.find((s) => s.pass === p);
  const first = at(1000) ?? snapshots[0];
  const last = snapshots[snapshots.length - 1];
  const mid = snapshots.reduce((best, s) => (Math.abs(s.pass - last.pass / 2) < Math.abs(best.pass - last.pass / 2) ? s : best), first);
  const early = mid.heapUsed - first.heapUsed;
  const late = last.heapUsed - mid.heapUsed;
  const latePerPass = late / Math.max(1, last.pass - mid.pass);
  // A warm heap wobbles by a few hundred KiB between readings; a leak of one small object per pass
  // (~100 B) would add ~0.5 MiB over the second half. The first thousands of passes warm up (JIT code, caches).
  const grew = late > 512 * 1024;
  const mapsBounded = snapshots.every((s) => !s.maps || Object.values(s.maps).every((v) => v <= s.tasks));
  const shown = snapshots.filter((s) => [1, 1000, 2000, mid.pass, last.pass].includes(s.pass));
  const sign = (x: number) => (x >= 0 ? '+' : '');
  const lines = [
    `${last.pass} \`monitor.pass()\` calls over 20 running tasks (18 sleeping shell agents, 2 printing a line a second,`,
    'so their panes keep being captured), monitor started (probe + wake watcher on). Every 1 000 passes one task is',
    'forgotten and a new one started. Separate `node --expose-gc` process; `gc()` twice before each reading (one every 1 000 passes).',
    '',
    '| after pass | heapUsed | V8 old space | V8 code space | RSS | monitor maps (waitingStreak / capturedAt / watched) | tasks | elapsed |',
    '|---|---|---|---|---|---|---|---|',
    ...shown.map((s) => `| ${s.pass} | ${mib(s.heapUsed)} | ${mib(s.oldSpace)} | ${mib(s.codeSpace)} | ${mib(s.rss)} | ${s.maps ? `${s.maps.waitingStreak ?? '?'} / ${s.maps.capturedAt ?? '?'} / ${s.maps.watched ?? '?'}` : 'not observable'} | ${s.tasks} | ${s.elapsedS.toFixed(0)} s |`),
    '',
    `heapUsed, warm-up (pass ${first.pass} -> ${mid.pass}): ${sign(early)}${kib(early)}; second half (pass ${mid.pass} -> ${last.pass}): ` +
      `${sign(late)}${kib(late)} (${latePerPass.toFixed(1)} B/pass). All readings: ${snapshots.slice(1).map((s) => (s.heapUsed / 1024 / 1024).toFixed(2)).join(', ')} MiB. ` +
      `RSS ${mib(Math.min(...snapshots.slice(1).map((s) => s.rss)))} to ${mib(Math.max(...snapshots.slice(1).map((s) => s.rss)))} after pass 1 000. ` +
      `Monitor maps ${mapsBounded ? 'never exceed the task count' : '**exceed the task count**'}.`,
    `Target: no growth -> ${grew ? '**grew** (> 512 KiB over the second half)' : 'met (flat after warm-up: < 512 KiB over the second half)'}.`,
  ];
  return { id: 'memory', title: '4. Memory over many passes', markdown: lines.join('\n') };
}

// ---- 5. bundle size ------------------------------------------------------------------------------

function runNode(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { env, cwd: REPO, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${args.join(' ')} failed: ${String(stderr || stdout).split('\n').slice(-5).join(' | ')}`));
      else resolve();
    });
  });
}

async function measureSize(): Promise<Section> {
  const file = path.join(REPO, 'dist', 'extension.js');
  const buf = fs.readFileSync(file);
  const gz = zlib.gzipSync(buf, { level: 9 }).length;
  const cli = fs.readFileSync(path.join(REPO, 'dist', 'cli.js'));
  // Activation in the real VS Code host (code-server): the extension logs loading the bundle plus
  // its activate call; the host's suite writes that figure out. Three cold starts.
  const activations: number[] = [];
  for (let i = 0; i < 3; i++) {
    await runNode([path.join(REPO, 'out', 'test', 'vscode', 'host.js')], { ...process.env, RESILIENT_AGENT_TEST_GREP: 'activates' });
    activations.push(Number(fs.readFileSync(path.join(REPO, '.test-artifacts', 'vscode', 'activation-ms.txt'), 'utf8')));
  }
  activations.sort((a, b) => a - b);
  await runNode([path.join(REPO, 'out', 'test', 'vscode', 'package.js')], process.env);
  const manifest = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { name: string; version: string };
  const vsix = fs.statSync(path.join(REPO, `${manifest.name}-${manifest.version}.vsix`)).size;
  const lines = [
    '| measure | value | target |',
    '|---|---|---|',
    `| extension activation time (load + activate, real VS Code host, 3 cold starts) | median ${activations[1].toFixed(1)} ms (${activations.map((a) => a.toFixed(1)).join(' / ')}) | <= 50 ms ${activations[1] <= 50 ? 'met' : '**missed**'} |`,
    `| .vsix size (\`npm run package\`) | ${kib(vsix)} | <= 300 KB ${vsix <= 300 * 1024 ? 'met' : '**missed**'} |`,
    `| \`dist/extension.js\` size | ${kib(buf.length)} (${buf.length} B) | |`,
    `| \`dist/extension.js\` gzip -9 | ${kib(gz)} (${gz} B) | |`,
    `| \`dist/cli.js\` size / gzip -9 (for reference) | ${kib(cli.length)} / ${kib(zlib.gzipSync(cli, { level: 9 }).length)} | |`,
    '',
    `Bundles as built at ${fs.statSync(file).mtime.toISOString()} (\`npm run build\`).`,
  ];
  return { id: 'size', title: '5. Extension activation and size', markdown: lines.join('\n') };
}

// ---- BENCHMARKS.md --------------------------------------------------------------------------------

/** The machine, with the load average as it was when the run started. */
function machine(loadAtStart: number[]): string {
  const run = (file: string, a: string[]) => {
    try {
      return execFileSync(file, a, { encoding: 'utf8' }).trim();
    } catch {
      return 'n/a';
    }
  };
  const load = loadAtStart.map((x) => x.toFixed(2)).join(' ');
  return `\`nproc\` ${run('nproc', [])}, ${os.cpus()[0]?.model ?? 'cpu n/a'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ` +
    `${os.type()} ${os.release()}; node ${process.version}; ${run('tmux', ['-V'])}. Load average at the start: ${load}.`;
}

const NOISY = 'The machine is shared and noisy: compare figures side by side within one run (the ratios), not across runs.';

const ORDER = ['crash', 'server-kill', 'pass-cost', 'list', 'memory', 'size'];

/**
 * A full run replaces every block and the machine block. One measure run alone replaces its own
 * block only, which then names the machine it ran on (the others keep the machine they were
 * measured on).
 */
function writeBenchmarks(sections: Section[], startedAt: Date, totalS: number, machineText: string, which: string): string {
  const file = path.join(REPO, 'BENCHMARKS.md');
  const existing = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const previousMachine = existing.match(/<!-- bench:machine -->[\s\S]*?<!-- \/bench:machine -->/)?.[0];
  const alone = which !== 'all' && previousMachine !== undefined;
  const measured = alone
    ? `_Measured ${startedAt.toISOString().slice(0, 10)}, alone (\`node out/test/bench/run.js ${which}\`, ${totalS.toFixed(0)} s), on: ${machineText}_`
    : `_Measured ${startedAt.toISOString().slice(0, 10)}._`;
  const block = (s: Section) => `<!-- bench:${s.id} -->\n## ${s.title}\n\n${s.markdown}\n\n${measured}\n<!-- /bench:${s.id} -->`;
  const blocks = new Map<string, string>();
  for (const id of ORDER) {
    const m = existing.match(new RegExp(`<!-- bench:${id} -->[\\s\\S]*?<!-- /bench:${id} -->`));
    if (m) blocks.set(id, m[0]);
  }
  for (const s of sections) blocks.set(s.id, block(s));
  const machineBlock = alone
    ? previousMachine
    : `<!-- bench:machine -->\nMachine: ${machineText}\n${NOISY}\nLast run: ${startedAt.toISOString()} (${sections.map((s) => s.id).join(', ')}; ${totalS.toFixed(0)} s).\n<!-- /bench:machine -->`;
  const intro = [
    '# Benchmarks',
    '',
    'Produced by `npm run compile && npm run build && node out/test/bench/run.js` (one measure: `node out/test/bench/run.js',
    'crash|server-kill|pass-cost|list|memory|size`). Real tmux on private `-L` sockets, fixture agents; nothing of the user\'s tmux is touched.',
    '',
    machineBlock,
  ].join('\n');
  const body = ORDER.filter((id) => blocks.has(id)).map((id) => blocks.get(id)!).join('\n\n');
  fs.writeFileSync(file, `${intro}\n\n${body}\n`);
  return file;
}

// ---- main -------------------------------------------------------------------------------------------

function parseArgs(argv: string[]): { which: string; args: Args } {
  const args: Args = { crashes: 50, passes: 10_000, kills: 20, killTasks: 10, write: true };
  let which = 'all';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--crashes') args.crashes = Number(argv[++i]);
    else if (a === '--passes') args.passes = Number(argv[++i]);
    else if (a === '--kills') args.kills = Number(argv[++i]);
    else if (a === '--kill-tasks') args.killTasks = Number(argv[++i]);
    else if (a === '--no-write') args.write = false;
    else if (!a.startsWith('-')) which = a;
    else throw new Error(`unknown option ${a}`);
  }
  if (![args.crashes, args.passes, args.kills, args.killTasks].every((x) => Number.isInteger(x) && x >= 1)) {
    throw new Error('--crashes, --passes, --kills and --kill-tasks need positive whole numbers');
  }
  return { which, args };
}

async function main(): Promise<number> {
  const { which, args } = parseArgs(process.argv.slice(2));
  if (which === 'memory-child') {
    await memoryChild(args);
    return 0;
  }
  const measures: Record<string, () => Promise<Section[]>> = {
    crash: async () => [await measureCrash(args)],
    'server-kill': async () => [await measureServerKill(args)],
    'pass-cost': async () => measurePassCost([10, 100, 300], -1),
    list: async () => [await measureList()],
    memory: async () => [await measureMemory(args)],
    size: async () => [await measureSize()],
  };
  const startedAt = new Date();
  const machineText = machine(os.loadavg());
  const t0 = nowMs();
  let sections: Section[];
  if (which === 'all') {
    sections = [];
    sections.push(await measureSize());
    sections.push(...(await measurePassCost())); // list is measured on its world at 100 tasks
    sections.push(await measureCrash(args));
    sections.push(await measureServerKill(args));
    sections.push(await measureMemory(args));
  } else if (measures[which]) {
    sections = await measures[which]();
  } else {
    throw new Error(`unknown measure "${which}": all | ${Object.keys(measures).join(' | ')}`);
  }
  const totalS = (nowMs() - t0) / 1000;
  for (const id of ORDER) {
    const s = sections.find((x) => x.id === id);
    if (s) process.stdout.write(`\n## ${s.title}\n\n${s.markdown}\n`);
  }
  process.stdout.write(`\n(${totalS.toFixed(0)} s)\n`);
  if (args.write) log(`wrote ${writeBenchmarks(sections, startedAt, totalS, machineText, which)}`);
  return 0;
}

main().then(
  (code) => {
    cleanupAllSync();
    process.exit(code);
  },
  (e) => {
    process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
    cleanupAllSync();
    process.exit(1);
  },
);
