// 1b. tmux server killed -> every task resumed, at several task counts side by side
import * as fs from 'node:fs';
import * as os from 'node:os';
import { CLI, waitFor } from '../../integration/harness';
import type { Args } from '../args';
import { log, median, ms, p95, pool, ratio, sleep, timeArgv, yes } from '../helpers';
import type { Section } from '../report';
import { attemptFile, cleanupWorld, launchTimes, supervisedWorld } from '../world';

interface ServerKillRound {
  /** Tasks running when the server was killed. */
  size: number;
  /** Baseline, same round: one task's runner killed -> its resumed agent started. */
  one: { agentMs: number; runnerMs: number; launchMs: number };
  /** Server killed -> each task's resumed agent started (fixture `startedAt`). */
  agentMs: number[];
  runnerMs: number[];
  launchMs: number[];
  byId: number;
  causes: string[];
}


/**
 * The background supervisor (`resilient-agent supervisor start`: a detached `monitor --background`
 * process outside tmux, the seed's defaults) supervises one world. For each count in `killTasks`
 * (10 and 50 by default), `kills` rounds; each round starts that many
 * fresh tasks (fixture agents of the four kinds, plan ["hang", "hang"]) plus one baseline task,
 * waits until every agent is mid-reply (session saved, "working..." printed), then: the baseline's
 * runner is killed alone (`kill -9` of its group) and its resume timed; it is forgotten; then
 * `tmux kill-server`, and the time until every task's resumed agent logged its `startedAt`. The
 * round's tasks are forgotten after. A sentinel task held until a usage limit resets (10 h away)
 * keeps the supervisor from exiting idle between rounds: one supervisor process for every kill.
 */
export async function measureServerKill(args: Args): Promise<Section> {
  const loadBefore = os.loadavg();
  const w = await supervisedWorld();
  const { svc, env, logFile, sameSupervisor, supervisorPid } = w;
  const rounds: ServerKillRound[] = [];
  const agents = ['codex', 'claude', 'opencode', 'pi'] as const;
  try {
    const mid = (t: { session: string; project: string }) => {
      const events = attemptFile(w, t.session, 1, 'events.jsonl');
      return w.h.invocations(t.project).length === 1 && fs.existsSync(events) && fs.readFileSync(events, 'utf8').includes('working...');
    };
    const resumedAt = (project: string): number | undefined => {
      const inv = w.h.invocations(project);
      return inv.length >= 2 ? (inv[1] as unknown as { startedAt: number }).startedAt : undefined;
    };
    for (const size of args.killTasks) for (let k = 0; k < args.kills; k++) {
      sameSupervisor();
      const tasks: { session: string; project: string }[] = [];
      const names = Array.from({ length: size }, (_, i) => i);
      const id = `n${size}k${k}`;
      await pool(names, 4, async (i) => {
        const project = w.h.project(`${id}t${i}`, ['hang', 'hang']);
        const r = await svc.start({ agent: agents[i % agents.length], name: `${id}t${i}`, dir: project, prompt: 'bench' });
        tasks.push({ session: r.session, project });
      });
      const oneProject = w.h.project(`${id}one`, ['hang', 'hang']);
      const one = { session: (await svc.start({ agent: 'codex', name: `${id}one`, dir: oneProject, prompt: 'bench' })).session, project: oneProject };
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
      const round: ServerKillRound = { size, one: oneRound, agentMs: [], runnerMs: [], launchMs: [], byId: 0, causes: [] };
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
      log(`server-kill: ${size} tasks, ${k + 1}/${args.kills}: every task resumed ${ms(Math.max(...round.agentMs), 0)} after the kill (one crash: ${ms(oneRound.agentMs, 0)})`);
    }
    sameSupervisor();
    await timeArgv(process.execPath, [CLI, 'supervisor', 'stop'], env);
  } finally {
    await cleanupWorld(w);
  }
  const loadAfter = os.loadavg();

  const sizes = args.killTasks;
  const of = (size: number) => rounds.filter((r) => r.size === size);
  const cols = (f: (rs: ServerKillRound[]) => string) => sizes.map((size) => f(of(size))).join(' | ');
  const every = (rs: ServerKillRound[]) => rs.map((r) => Math.max(...r.agentMs));
  const first = (rs: ServerKillRound[]) => rs.map((r) => Math.min(...r.agentMs));
  const oneAgent = (rs: ServerKillRound[]) => rs.map((r) => r.one.agentMs);
  const pair = (xs: number[]) => `${ms(median(xs), 0)} / ${ms(p95(xs), 0)}`;
  const spread = (rs: ServerKillRound[]) => rs.map((r) => Math.max(...r.launchMs) - Math.min(...r.launchMs));
  const all = rounds.flatMap((r) => r.agentMs).length;
  const byId = rounds.reduce((a, r) => a + r.byId, 0);
  const causes = new Map<string, number>();
  for (const c of rounds.flatMap((r) => r.causes)) causes.set(c, (causes.get(c) ?? 0) + 1);
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  const big = Math.max(...sizes);
  const bigEvery = median(every(of(big)));
  const lines = [
    `The background supervisor (\`resilient-agent supervisor start\`: a detached \`monitor --background\` process outside tmux,`,
    `the seed's defaults: 180 s interval, event-driven) supervises ${sizes.join(' and then ')} tasks running fixture agents (codex, claude, opencode, pi)`,
    `mid-reply; \`tmux -L sock kill-server\`; time until every task's resumed agent logged its \`startedAt\` (after its node start-up).`,
    `Fresh tasks each round (each kill is their first failure: no backoff). Same round, same supervisor, just before: one more task's`,
    `runner killed alone (\`kill -9\` of its process group), the baseline. Nobody runs a CLI command or an editor between a kill and the resumes.`,
    '',
    `| per kill | ${sizes.map((n) => `${n} tasks`).join(' | ')} |`,
    `|---|${sizes.map(() => '---|').join('')}`,
    `| kills | ${cols((rs) => String(rs.length))} |`,
    `| **server killed: every task resumed**, median | ${cols((rs) => `**${ms(median(every(rs)), 0)}**`)} |`,
    `| every task resumed, p95 / max | ${cols((rs) => `${ms(p95(every(rs)), 0)} / ${ms(Math.max(...every(rs)), 0)}`)} |`,
    `| server killed: first task resumed, median / p95 | ${cols((rs) => pair(first(rs)))} |`,
    `| one runner killed alone (1 task), median / p95 | ${cols((rs) => pair(oneAgent(rs)))} |`,
    `| every resumed / one alone (medians) | ${cols((rs) => ratio(median(every(rs)), median(oneAgent(rs))))} |`,
    `| each task's own resume, median / p95 | ${cols((rs) => pair(rs.flatMap((r) => r.agentMs)))} |`,
    `| last runner started (pid mtime), median / p95 | ${cols((rs) => pair(rs.map((r) => Math.max(...r.runnerMs))))} |`,
    `| supervisor logged the last launch, median / p95 | ${cols((rs) => pair(rs.map((r) => Math.max(...r.launchMs))))} |`,
    `| first to last launch, median | ${cols((rs) => ms(median(spread(rs)), 0))} |`,
    '',
    `Target: ${big} tasks every one resumed within 5 s: ${ms(bigEvery, 0)} median, ${ratio(bigEvery, 5000)} of the target ${yes(bigEvery <= 5000)}.`,
    `The lost tasks of one pass are launched together (src/core/ops/recovery.ts): each task's lock, then one pane listing and one look`,
    `at /proc for all; launches start 20-40 ms apart, at most 4 under way, so ${big} tasks take about ${big - 1} x 30 ms = ${((big - 1) * 30 / 1000).toFixed(2)} s of pacing.`,
    `Resumed by exact id (mode resume, the same agent session id): ${byId}/${all}; one new run and one new attempt per task per kill (none resumed`,
    `twice); attempt causes: ${[...causes].map(([c, k]) => `${c} ${k}`).join(', ')}. One supervisor process (pid ${supervisorPid}) recovered all ${rounds.length} kills`,
    `(kill-server never reached it); a sentinel task held until a usage limit resets keeps it from exiting idle between rounds.`,
    `Load average (1 / 5 / 15 min) before this measure: ${load(loadBefore)}; after: ${load(loadAfter)}.`,
  ];
  return { id: 'server-kill', title: `1b. tmux server killed -> every task resumed (${sizes.join(' and ')} tasks)`, markdown: lines.join('\n') };
}
