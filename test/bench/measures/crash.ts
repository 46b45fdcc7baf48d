// 1. crash -> resume command started
import * as fs from 'node:fs';
import { Monitor } from '../../../src/core/ops/monitor';
import type { PassResult } from '../../../src/core/ops/monitor';
import { waitFor } from '../../integration/harness';
import type { Args } from '../args';
import { log, median, ms, p95, ratio, sleep, yes } from '../helpers';
import type { Section } from '../report';
import { attemptFile, cleanupWorld, newWorld, World } from '../world';

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

export async function measureCrash(args: Args): Promise<Section> {
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
