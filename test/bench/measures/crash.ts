// 1. crash -> resume command started
import * as fs from 'node:fs';
import { Monitor } from '../../../src/core/ops/monitor';
import type { PassResult } from '../../../src/core/ops/monitor';
import { waitFor } from '../../integration/harness';
import type { Args } from '../args';
import { log, median, ms, p95, ratio, sleep, yes } from '../helpers';
import type { Section } from '../report';
import { attemptFile, cleanupWorld, launchTimes, newWorld, supervisedWorld, World } from '../world';

type Mode = 'background' | 'event' | 'probe' | 'timer';

interface CrashSample {
  mode: Mode;
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
 * Background: one world supervised by its background supervisor (its own process, the defaults), as
 * users run tasks: the target's lane. In this process, one Monitor per world:
 * Event-driven: one world, default 180 s interval, woken by tmux's pane-died hook (the runner probe
 * only as the fallback). Probe-only: the same without the tmux event (the runner probe every 250 ms,
 * the design before it). Timer-only: 2 s interval, TIMER_WORLDS worlds sharing the crashes so they
 * run at once (a crash waits ~one interval); each is still the only one in its pass. All run
 * concurrently (same machine noise); each crash waits a random delay first so it falls at a random
 * phase of the timer and of the probe.
 */
const TIMER_WORLDS = 3;

export async function measureCrash(args: Args): Promise<Section> {
  const n = args.crashes;
  // As users run tasks: the background supervisor, its own process (the seed's defaults).
  const bg = await supervisedWorld();
  const ev = newWorld({ settings: { 'monitor.intervalSeconds': 180 } });
  const pr = newWorld({ settings: { 'monitor.intervalSeconds': 180 } });
  const timers = Array.from({ length: TIMER_WORLDS }, () => newWorld({ settings: { 'monitor.intervalSeconds': 2 } }));
  const launchedAt = new Map<string, { at: number; reason: string }>();
  const errors: string[] = [];
  const onPass = (r: PassResult) => {
    for (const s of r.launched) launchedAt.set(s, { at: Date.now(), reason: r.reason });
  };
  const onError = (e: unknown) => errors.push((e as Error).message);
  const evMonitor = new Monitor(ev.svc, { intervalMs: ev.settings.intervalMs, onPass, onError });
  const prMonitor = new Monitor(pr.svc, { intervalMs: pr.settings.intervalMs, tmuxEvents: false, onPass, onError });
  const timerMonitors = timers.map((w) => new Monitor(w.svc, { intervalMs: w.settings.intervalMs, eventDriven: false, onPass, onError }));
  const samples: CrashSample[] = [];
  let counter = 0;
  try {
    evMonitor.start();
    prMonitor.start();
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

    const crashOne = async (w: World, mode: Mode, t: { session: string; project: string }, jitterMs: number, monitor: Monitor) => {
      await sleep(Math.random() * jitterMs);
      if (mode === 'event' || mode === 'background') {
        // A pane with the hook (a task that has been running for a while).
        await waitFor(async () => (await w.h.tmux(['show-hooks', '-t', `=${t.session}:`, 'pane-died'])).stdout.includes('wait-for'), `hook on ${t.session}`, 10_000);
      } else if (mode === 'probe') {
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
      const pass = mode === 'background'
        ? await waitFor(() => { const at = launchTimes(bg.logFile, 2).get(t.session); return at === undefined ? undefined : { at, reason: 'background' }; }, `the launch of ${t.session} logged`, 10_000)
        : launchedAt.get(t.session);
      samples.push({
        mode, session: t.session, toAgentMs: second.startedAt - t0, toRunnerMs: pidMtime - t0,
        toPassEndMs: pass ? pass.at - t0 : null, passReason: pass?.reason ?? null, resumedBy: second.mode,
      });
    };

    const perRound = 10;
    const rounds = Math.ceil(n / perRound);
    for (let round = 0; round < rounds; round++) {
      const k = Math.min(perRound, n - round * perRound);
      const bgTasks: { session: string; project: string }[] = [];
      const evTasks: { session: string; project: string }[] = [];
      const prTasks: { session: string; project: string }[] = [];
      const tTasks: { session: string; project: string }[][] = timers.map(() => []);
      for (let i = 0; i < k; i++) {
        bgTasks.push(await startTask(bg));
        evTasks.push(await startTask(ev));
        prTasks.push(await startTask(pr));
        tTasks[i % TIMER_WORLDS].push(await startTask(timers[i % TIMER_WORLDS]));
      }
      evMonitor.wake('bench: tasks started'); // in-process starts signal with our own pid, which the watcher ignores
      prMonitor.wake('bench: tasks started');
      await waitFor(() => bgTasks.every((t) => ready(bg, t)) && evTasks.every((t) => ready(ev, t)) && prTasks.every((t) => ready(pr, t)) && tTasks.every((ts, i) => ts.every((t) => ready(timers[i], t))),
        'every agent reported its session id', 60_000);
      await sleep(300);
      bg.sameSupervisor();
      await Promise.all([
        (async () => { for (const t of bgTasks) await crashOne(bg, 'background', t, 1000, evMonitor); })(),
        (async () => { for (const t of evTasks) await crashOne(ev, 'event', t, 1000, evMonitor); })(),
        (async () => { for (const t of prTasks) await crashOne(pr, 'probe', t, 1000, prMonitor); })(),
        ...timers.map(async (w, i) => { for (const t of tTasks[i]) await crashOne(w, 'timer', t, 2000, timerMonitors[i]); }),
      ]);
      // Forget this round's tasks (frees the fixture processes).
      for (const t of bgTasks) await bg.svc.kill(t.session, true);
      for (const t of evTasks) await ev.svc.kill(t.session, true);
      for (const t of prTasks) await pr.svc.kill(t.session, true);
      for (let i = 0; i < TIMER_WORLDS; i++) for (const t of tTasks[i]) await timers[i].svc.kill(t.session, true);
      log(`crash: round ${round + 1}/${rounds}: ${samples.length} crashes so far`);
    }
  } finally {
    evMonitor.stop();
    prMonitor.stop();
    timerMonitors.forEach((m) => m.stop());
    await cleanupWorld(bg);
    await cleanupWorld(ev);
    await cleanupWorld(pr);
    for (const w of timers) await cleanupWorld(w);
  }

  const stats = (mode: Mode) => {
    const s = samples.filter((x) => x.mode === mode);
    const pass = s.map((x) => x.toPassEndMs).filter((x): x is number => x !== null);
    return {
      n: s.length,
      med: median(s.map((x) => x.toAgentMs)), p95: p95(s.map((x) => x.toAgentMs)), max: Math.max(...s.map((x) => x.toAgentMs)),
      runnerMed: median(s.map((x) => x.toRunnerMs)), runnerP95: p95(s.map((x) => x.toRunnerMs)),
      // The agent's own start-up: from its runner's start to its logged startedAt (bash, env, node).
      startupMed: median(s.map((x) => x.toAgentMs - x.toRunnerMs)), startupP95: p95(s.map((x) => x.toAgentMs - x.toRunnerMs)),
      byEvent: s.filter((x) => x.passReason === 'a pane died or the tmux server ended').length,
      passMed: median(pass),
      byProbe: s.filter((x) => x.passReason?.startsWith('runner of')).length,
      byTimer: s.filter((x) => x.passReason === 'timer').length,
      byId: s.filter((x) => x.resumedBy === 'resume').length,
    };
  };
  const b = stats('background');
  const e = stats('event');
  const pb = stats('probe');
  const t = stats('timer');
  const row = (label: string, f: (x: ReturnType<typeof stats>) => string, ratios: (x: ReturnType<typeof stats>, y: ReturnType<typeof stats>) => string, target = '') =>
    `| ${label} | ${[b, e, pb, t].map(f).join(' | ')} | ${ratios(e, b)} | ${ratios(pb, e)} | ${ratios(t, e)} | ${target} |`;
  const none = () => '';
  const lines = [
    `Each crash is \`kill -9\` of a task's runner process group (\`process.kill(-pid, 'SIGKILL')\`), each in its own task`,
    `(first failure: resumed at once, no backoff). "Resume started" = the resumed fixture agent's logged \`startedAt\``,
    `(after its node start-up); "runner" = the new attempt's \`pid\` file mtime (bash runner started, before the agent).`,
    `Fixture agents (codex), each pane with its transcript as users run tasks. Four lanes at once, each crash after a random delay:`,
    `**the background supervisor** (\`resilient-agent supervisor start\`: its own process, the seed's defaults: 180 s interval,`,
    `event-driven; what users run, and what the target is judged on; its pass end from its log); and in this process, as before,`,
    `one TaskService + Monitor per world: event-driven (tmux's pane-died hook wakes one blocked \`tmux wait-for\`; the runner`,
    `probe only as the fallback), probe-only (the same without the tmux event: signal 0 to each runner every 250 ms, the design`,
    `before it), timer-only (${TIMER_WORLDS} worlds sharing the timer crashes, each crash alone in its pass). The in-process lanes share`,
    `one event loop (each one's passes and resumes wait behind the others'); every lane shares the machine's two cores.`,
    `Timer-only uses a 2 s interval; with the seed's default 3 min the median would be ~90 s.`,
    '',
    '| crash -> resume started | background supervisor (default) | event-driven (in-process) | probe-only (250 ms, before) | timer-only (2 s interval) | in-process event / background | probe / event | timer / event | target (background supervisor) |',
    '|---|---|---|---|---|---|---|---|---|',
    row('crashes', (x) => `${x.n}`, none, '>= 50'),
    row('median', (x) => ms(x.med, 0), (x, y) => ratio(x.med, y.med), `<= 100 ms ${yes(b.med <= 100)}`),
    row('p95', (x) => ms(x.p95, 0), (x, y) => ratio(x.p95, y.p95), `<= 250 ms ${yes(b.p95 <= 250)}`),
    row('max', (x) => ms(x.max, 0), none),
    row('runner started (pid mtime), median / p95', (x) => `${ms(x.runnerMed, 0)} / ${ms(x.runnerP95, 0)}`, (x, y) => ratio(x.runnerMed, y.runnerMed)),
    row("of which the agent's start-up (runner -> startedAt), median / p95", (x) => `${ms(x.startupMed, 0)} / ${ms(x.startupP95, 0)}`, none),
    row('crash -> the launch (pass end in process; logged by the background supervisor), median', (x) => ms(x.passMed, 0), none),
    row('pass woken by the tmux event / the runner probe / the timer', (x) => (x === b ? 'not logged' : `${x.byEvent} / ${x.byProbe} / ${x.byTimer}`), none),
    row('resumed by exact id', (x) => `${x.byId}/${x.n}`, none, 'all'),
  ];
  if (errors.length) lines.push('', `Monitor errors during the run: ${errors.length} (first: ${errors[0]})`);
  return { id: 'crash', title: '1. Crash -> resume command started', markdown: lines.join('\n') };
}
