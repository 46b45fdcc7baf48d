import * as assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AGENTS, Harness, waitFor } from './harness';
import { Random, seedFromEnv } from './random';

const SEED = seedFromEnv('CHAOS_SEED');
const TASKS = Number(process.env.CHAOS_TASKS ?? 10);
const STEPS = Number(process.env.CHAOS_STEPS ?? 40);

type Action = 'kill-agent' | 'kill-tmux' | 'kill-supervisor' | 'add-supervisor' | 'corrupt-record' | 'pause';

/**
 * A seeded random schedule of failures over many tasks and supervisors. Whatever happens, at the
 * end: every task is done or in a state a person is told about; no task is lost; no crash was
 * resumed twice (attempts never overlap, one agent run per started attempt); no record is left
 * unreadable (a corrupt one is kept aside and reported).
 */
describe(`chaos (seed ${SEED}, ${TASKS} tasks, ${STEPS} steps; replay with CHAOS_SEED=${SEED})`, function () {
  this.timeout(240_000);
  let h: Harness;
  const supervisors: ChildProcess[] = [];

  before(() => {
    h = new Harness();
    // Fast clocks for a short run: a 0.2 s interval, backoff capped at 1.2 s, plenty of attempts.
    h.configure({ 'supervisor.mode': 'window', 'monitor.intervalSeconds': 0.2, 'monitor.maxBackoffMinutes': 0.02, 'monitor.maxAttempts': 60 });
  });
  after(async () => {
    if (this.ctx.currentTest?.state === 'failed') console.error(`chaos failed: replay with CHAOS_SEED=${SEED}`);
    await h.cleanup();
  });

  it('every task ends done or told about; none lost, none resumed twice, none unreadable', async () => {
    const r = new Random(SEED);
    console.log(`      chaos seed ${SEED}`);
    const projects = new Map<string, string>();
    const corrupted = new Set<string>();
    for (let i = 0; i < TASKS; i++) {
      const agent = AGENTS[i % AGENTS.length];
      const hangs = r.int(0, 3);
      const plan = [...Array(hangs).fill('hang'), r.chance(0.15) ? 'crash' : 'ok'];
      // Runs after the plan default to ok: every killed run is followed by a finishing one eventually.
      const name = `t${i}`;
      projects.set(`${agent}-${name}`, h.project(name, plan));
      await h.ok(['start', agent, name, '--dir', projects.get(`${agent}-${name}`)!, '--prompt', `task ${i}`]);
    }
    const startSupervisor = () => {
      const m = h.monitor(['--interval', '0.2']);
      supervisors.push(m);
      return m;
    };
    startSupervisor();

    const alive = () => supervisors.filter((m) => m.exitCode === null && m.signalCode === null);
    for (let step = 0; step < STEPS; step++) {
      const action = r.pick<Action>(['kill-agent', 'kill-agent', 'kill-agent', 'kill-tmux', 'kill-supervisor', 'add-supervisor', 'corrupt-record', 'pause']);
      switch (action) {
        case 'kill-agent':
          h.killRunning(r.pick([...projects.keys()]));
          break;
        case 'kill-tmux':
          await h.tmux(['kill-server']);
          break;
        case 'kill-supervisor': {
          const live = alive();
          if (live.length) r.pick(live).kill('SIGKILL');
          if (alive().length === 0) startSupervisor();
          break;
        }
        case 'add-supervisor':
          if (alive().length < 3) startSupervisor();
          break;
        case 'corrupt-record': {
          if (corrupted.size >= 2) break;
          const session = r.pick([...projects.keys()].filter((s) => !corrupted.has(s)));
          const file = h.store.paths.recordFile(session);
          const text = fs.readFileSync(file, 'utf8');
          fs.writeFileSync(file, r.chance(0.5) ? text.slice(0, r.int(0, text.length - 2)) : '{"version":1,"garbage":');
          corrupted.add(session);
          break;
        }
        case 'pause':
          break;
      }
      // The schedule's own timing: a random gap lets supervisors act in between, or not.
      await new Promise((resolve) => setTimeout(resolve, r.int(0, 250)));
    }

    // Calm: one supervisor left; every later run finishes ("ok"), and runs still hanging are
    // crashed once more so that they are resumed and finish too.
    for (const m of alive()) m.kill('SIGKILL');
    startSupervisor();
    for (const [session, project] of projects) {
      fs.writeFileSync(path.join(project, '.fixture-plan.json'), '[]');
      h.killRunning(session); // a record kept aside is unreadable: its agent is left alone
    }
    const settled = new Set(['done', 'held', 'gave-up', 'waiting']);
    // A corrupted record is either kept aside (and reported), or was overwritten whole by a
    // supervisor's atomic write that raced the corruption: then it is a task like the others.
    const readable = () => [...projects.keys()].filter((s) => h.record(s) !== undefined);
    await waitFor(() => h.store.list().corrupt.length === 0 && readable().every((s) => settled.has(h.record(s)!.state)), 'every task settled, no record unreadable', 120_000).catch((e) => {
      const states = [...projects.keys()].map((s) => `${s}=${h.record(s)?.state ?? 'unreadable'}`).join(' ');
      throw new Error(`${(e as Error).message} (seed ${SEED}): ${states}`);
    });
    await Promise.all(alive().map((m) => h.stop(m)));
    const healthy = readable();

    const kept = fs.existsSync(h.store.paths.quarantineDir) ? fs.readdirSync(h.store.paths.quarantineDir) : [];
    const logs = supervisors.map((m) => (m as ChildProcess & { log: () => string }).log()).join('\n');
    for (const s of corrupted) {
      if (healthy.includes(s)) continue;
      assert.ok(kept.some((f) => f.startsWith(`${s}.`)), `seed ${SEED}: ${s} kept aside`);
      assert.match(logs, new RegExp(`${s}: unreadable task record`), `seed ${SEED}: ${s} reported`);
    }
    for (const s of projects.keys()) assert.ok(healthy.includes(s) || kept.some((f) => f.startsWith(`${s}.`)), `seed ${SEED}: ${s} lost`);

    for (const session of healthy) {
      const rec = h.record(session);
      assert.ok(rec, `seed ${SEED}: ${session} lost`);
      assert.ok(settled.has(rec.state), `seed ${SEED}: ${session} ended ${rec.state}`);
      // Attempts follow one another: each began after the one before ended (no crash resumed twice).
      for (let i = 1; i < rec.attempts.length; i++) {
        const prev = rec.attempts[i - 1];
        assert.ok(prev.endedAt && Date.parse(prev.endedAt) <= Date.parse(rec.attempts[i].startedAt) + 5,
          `seed ${SEED}: ${session} attempt ${i + 1} overlaps attempt ${i}`);
      }
      // No agent run without an attempt that started it (a run killed at once may never have logged).
      const started = rec.attempts.filter((a) => fs.existsSync(path.join(h.store.paths.attemptDir(session, a.n), 'pid'))).length;
      const runs = h.invocations(projects.get(session)!).length;
      assert.ok(runs <= started, `seed ${SEED}: ${session} has ${runs} agent runs for ${started} started attempts`);
      if (rec.state === 'done') assert.equal(rec.attempts[rec.attempts.length - 1].exitCode, 0);
    }
    const summary = healthy.map((s) => `${s}:${h.record(s)!.state}/${h.record(s)!.attempts.length}`).join(' ');
    console.log(`      chaos seed ${SEED}: ${summary}; corrupted ${[...corrupted].join(' ') || 'none'}`);
  });
});
