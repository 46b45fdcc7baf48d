// 1. crash -> resume command started
import * as fs from 'node:fs';
import { Monitor } from '../../../src/core/ops/monitor';
import type { PassResult } from '../../../src/core/ops/monitor';
import { waitFor } from '../../integration/harness';
import type { Args } from '../args';
import { log, median, ms, p95, ratio, sleep, yes } from '../helpers';
import type { Section } from '../report';
import { attemptFile, cleanupWorld, newWorld, World } from '../world';

type Mode = 'event' | 'probe' | 'timer';

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
      if (mode === 'event') {
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
      const prTasks: { session: string; project: string }[] = [];
      const tTasks: { session: string; project: string }[][] = timers.map(() => []);
      for (let i = 0; i < k; i++) {
        evTasks.push(await startTask(ev));
        prTasks.push(await startTask(pr));
        tTasks[i % TIMER_WORLDS].push(await startTask(timers[i % TIMER_WORLDS]));
      }
      evMonitor.wake('bench: tasks started'); // in-process starts signal with our own pid, which the watcher ignores
      prMonitor.wake('bench: tasks started');
      await waitFor(() => evTasks.every((t) => ready(ev, t)) && prTasks.every((t) => ready(pr, t)) && tTasks.every((ts, i) => ts.every((t) => ready(timers[i], t))),
        'every agent reported its session id', 60_000);
      await sleep(300);
      await Promise.all([
        (async () => { for (const t of evTasks) await crashOne(ev, 'event', t, 1000, evMonitor); })(),
        (async () => { for (const t of prTasks) await crashOne(pr, 'probe', t, 1000, prMonitor); })(),
        ...timers.map(async (w, i) => { for (const t of tTasks[i]) await crashOne(w, 'timer', t, 2000, timerMonitors[i]); }),
      ]);
      // Forget this round's tasks (frees the fixture processes).
      for (const t of evTasks) await ev.svc.kill(t.session, true);
      for (const t of prTasks) await pr.svc.kill(t.session, true);
      for (let i = 0; i < TIMER_WORLDS; i++) for (const t of tTasks[i]) await timers[i].svc.kill(t.session, true);
      log(`crash: round ${round + 1}/${rounds}: ${samples.length} crashes so far`);
    }
  } finally {
    evMonitor.stop();
    prMonitor.stop();
    timerMonitors.forEach((m) => m.stop());
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
  const e = stats('event');
  const pb = stats('probe');
  const t = stats('timer');
  const lines = [
    `Each crash is \`kill -9\` of a task's runner process group (\`process.kill(-pid, 'SIGKILL')\`), each in its own task`,
    `(first failure: resumed at once, no backoff). "Resume started" = the resumed fixture agent's logged \`startedAt\``,
    `(after its node start-up); "runner" = the new attempt's \`pid\` file mtime (bash runner started, before the agent).`,
    `In-process TaskService + Monitor, fixture agents (codex), each pane with its transcript (\`render\`) as users run tasks.`,
    `Three modes at once: event-driven (tmux's pane-died hook wakes one blocked \`tmux wait-for\`; the runner probe only as`,
    `the fallback), probe-only (the same without the tmux event: signal 0 to each runner every 250 ms, the design before it),`,
    `timer-only (${TIMER_WORLDS} worlds sharing the timer crashes, each crash alone in its pass); each crash after a random delay.`,
    `Timer-only uses a 2 s interval; with the seed's default 3 min the median would be ~90 s.`,
    '',
    '| crash -> resume started | event-driven (180 s interval) | probe-only (250 ms, before) | timer-only (2 s interval) | probe / event | timer / event | target (event-driven) |',
    '|---|---|---|---|---|---|---|',
    `| crashes | ${e.n} | ${pb.n} | ${t.n} | | | >= 50 |`,
    `| median | ${ms(e.med, 0)} | ${ms(pb.med, 0)} | ${ms(t.med, 0)} | ${ratio(pb.med, e.med)} | ${ratio(t.med, e.med)} | <= 100 ms ${yes(e.med <= 100)} |`,
    `| p95 | ${ms(e.p95, 0)} | ${ms(pb.p95, 0)} | ${ms(t.p95, 0)} | ${ratio(pb.p95, e.p95)} | ${ratio(t.p95, e.p95)} | <= 250 ms ${yes(e.p95 <= 250)} |`,
    `| max | ${ms(e.max, 0)} | ${ms(pb.max, 0)} | ${ms(t.max, 0)} | | | |`,
    `| runner started (pid mtime), median / p95 | ${ms(e.runnerMed, 0)} / ${ms(e.runnerP95, 0)} | ${ms(pb.runnerMed, 0)} / ${ms(pb.runnerP95, 0)} | ${ms(t.runnerMed, 0)} / ${ms(t.runnerP95, 0)} | ${ratio(pb.runnerMed, e.runnerMed)} | ${ratio(t.runnerMed, e.runnerMed)} | |`,
    `| of which the agent's start-up (runner -> startedAt), median / p95 | ${ms(e.startupMed, 0)} / ${ms(e.startupP95, 0)} | ${ms(pb.startupMed, 0)} / ${ms(pb.startupP95, 0)} | ${ms(t.startupMed, 0)} / ${ms(t.startupP95, 0)} | | | |`,
    `| crash -> end of the pass that launched it, median | ${ms(e.passMed, 0)} | ${ms(pb.passMed, 0)} | ${ms(t.passMed, 0)} | | | |`,
    `| pass woken by the tmux event / the runner probe / the timer | ${e.byEvent} / ${e.byProbe} / ${e.byTimer} | ${pb.byEvent} / ${pb.byProbe} / ${pb.byTimer} | ${t.byEvent} / ${t.byProbe} / ${t.byTimer} | | | |`,
    `| resumed by exact id | ${e.byId}/${e.n} | ${pb.byId}/${pb.n} | ${t.byId}/${t.n} | | | all |`,
  ];
  if (errors.length) lines.push('', `Monitor errors during the run: ${errors.length} (first: ${errors[0]})`);
  return { id: 'crash', title: '1. Crash -> resume command started', markdown: lines.join('\n') };
}
