import * as assert from 'node:assert/strict';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { identified, LockHolder, selfIdentity } from '../../src/core/store/lock';
import { processAlive } from '../../src/core/platform/processes';
import { RUNNER_NAME } from '../../src/core/store/runner';
import { needsSupervision } from '../../src/core/ops/monitor';
import { AGENTS, Harness, waitFor } from './harness';
import { Random, seedFromEnv } from './random';

const SEED = seedFromEnv('CHAOS_SEED');
const TASKS = Number(process.env.CHAOS_TASKS ?? 10);
const STEPS = Number(process.env.CHAOS_STEPS ?? 40);

type Action =
  | 'kill-agent' | 'kill-tmux' | 'kill-supervisor' | 'add-supervisor' | 'corrupt-record' | 'pause'
  | 'kill-tmux-background' | 'reused-pid-lock' | 'slow-tmux' | 'disk-full' | 'ctrl-c';

/** Faults every run makes at least once, at seeded steps, besides the random picks. */
const EVERY_RUN: Action[] = ['kill-tmux-background', 'reused-pid-lock', 'slow-tmux', 'disk-full', 'ctrl-c'];

/**
 * A seeded random schedule of failures over many tasks and supervisors: agents killed, the tmux
 * server killed (under CLI monitors, and under the background supervisor alone), supervisors
 * killed and added, records corrupted, a supervisor lock naming a reused pid, a slow tmux, a full
 * disk, Ctrl-C in a pane. Whatever happens, at the end: every task is done or in a state a person
 * is told about; no task is lost; no crash was resumed twice (attempts never overlap, one agent run
 * per started attempt); no task the user stopped was resumed; no record is left unreadable (a
 * corrupt one is kept aside and reported); nothing half-written is left (no temp file of an atomic
 * write, no empty lock).
 */
describe(`chaos (seed ${SEED}, ${TASKS} tasks, ${STEPS} steps; replay with CHAOS_SEED=${SEED})`, function () {
  this.timeout(240_000);
  let h: Harness;
  const supervisors: ChildProcess[] = [];
  /** The tmux wrapper's control folder (outside the state dir, so a full disk does not reach it). */
  let ctl: string;
  let realTmux: string;
  let tmpfs = false;
  let bystander: ChildProcess | undefined;

  before(() => {
    h = new Harness();
    // CHAOS_DEBUG=1: every supervisor logs each state change (the background one in supervisor.log).
    if (process.env.CHAOS_DEBUG) h.env.RESILIENT_AGENT_DEBUG = '1';
    // The state dir on a small tmpfs of its own (the tests run as root), so that it can be filled.
    fs.mkdirSync(h.home, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0700', 'tmpfs', h.home], { stdio: 'ignore' });
      tmpfs = true;
    } catch {
      console.log('      (cannot mount a tmpfs here: no full-disk fault in this run)');
    }
    // Fast clocks for a short run: a 0.2 s interval, backoff capped at 1.2 s, plenty of attempts.
    h.configure({ 'supervisor.mode': 'window', 'monitor.intervalSeconds': 0.2, 'monitor.maxBackoffMinutes': 0.02, 'monitor.maxAttempts': 60 });
    realTmux = (process.env.PATH ?? '').split(':').map((d) => path.join(d, 'tmux')).find((f) => fs.existsSync(f)) ?? '/usr/bin/tmux';
    ctl = path.join(h.root, 'tmux-ctl');
    fs.mkdirSync(path.join(ctl, 'inflight'), { recursive: true });
    // Every tmux call of the world (CLI monitors, the background supervisor, this test) goes
    // through this wrapper, found first on PATH. `slow` holds a delay: list-panes answers that
    // much later than it looked (a stale list), other commands start half of it later. While
    // `gate` exists, a command that makes a pane (new-session, respawn-pane) waits; one that got
    // past the gate is listed in inflight/ until tmux returns.
    fs.writeFileSync(path.join(h.bin, 'tmux'), `#!/bin/bash
real='${realTmux}'; ctl='${ctl}'
cmd=; for a in "$@"; do [ "$a" = -- ] && break; case $a in new-session|respawn-pane|list-panes) cmd=$a;; esac; done
delay=; [ -e "$ctl/slow" ] && { read -r delay < "$ctl/slow"; } 2>/dev/null
if [ "$cmd" = list-panes ] && [ -n "$delay" ]; then
  out="$ctl/out.$$"; "$real" "$@" > "$out"; rc=$?; sleep "$delay"; cat "$out"; rm -f "$out"; exit $rc
fi
[ -n "$delay" ] && sleep "$(awk "BEGIN { print $delay / 2 }")"
if [ "$cmd" = new-session ] || [ "$cmd" = respawn-pane ]; then
  while :; do
    : > "$ctl/inflight/$$"
    [ -e "$ctl/gate" ] || break
    rm -f "$ctl/inflight/$$"; sleep 0.05
  done
  "$real" "$@"; rc=$?; rm -f "$ctl/inflight/$$"; exit $rc
fi
exec "$real" "$@"
`, { mode: 0o755 });
  });
  after(async () => {
    if (this.ctx.currentTest?.state === 'failed') console.error(`chaos failed: replay with CHAOS_SEED=${SEED}`);
    fs.rmSync(path.join(ctl, 'slow'), { force: true });
    fs.rmSync(path.join(ctl, 'gate'), { force: true });
    bystander?.kill('SIGKILL');
    if (tmpfs) {
      // Lazily: the world's processes (ended by cleanup) may still have files open there.
      execFileSync('umount', ['-l', h.home]);
    }
    await h.cleanup();
  });

  it('every task ends done or told about; none lost, none resumed twice, none the user stopped resumed, none unreadable', async () => {
    const r = new Random(SEED);
    console.log(`      chaos seed ${SEED}`);
    const projects = new Map<string, string>();
    const corrupted = new Set<string>();
    const interrupted = new Set<string>();
    const done: Record<string, number> = {};
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

    // ---- the background supervisor: a process of its own, outside tmux, not our child ----------
    const supervisorLock = path.join(h.store.paths.locksDir, 'supervisor.lock');
    const lockHolder = (): LockHolder | undefined => {
      try {
        return JSON.parse(fs.readFileSync(supervisorLock, 'utf8')) as LockHolder;
      } catch {
        return undefined;
      }
    };
    let background: LockHolder | undefined;
    const backgroundAlive = () => background !== undefined && identified(background);
    const backgroundLog = () => ['supervisor.log.1', 'supervisor.log', 'supervisor.stderr']
      .map((f) => path.join(h.home, f)).filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f, 'utf8')).join('\n');
    /** Starts it unless it runs; resolves once it leads. Undefined when nothing needs it (it exits at once). */
    const ensureBackground = async (): Promise<LockHolder | undefined> => {
      if (!backgroundAlive()) {
        await h.ok(['supervisor', 'start']);
        const holder = lockHolder();
        background = holder?.owner.startsWith('background supervisor') && identified(holder) ? holder : undefined;
        if (!background) return undefined;
      }
      await waitFor(() => lockHolder()?.pid === background!.pid || !backgroundAlive(), 'the background supervisor leading');
      return backgroundAlive() ? background : undefined;
    };

    // A monitor just signalled counts as gone at once (its exit is seen a moment later).
    const alive = () => supervisors.filter((m) => m.exitCode === null && m.signalCode === null && !m.killed);
    const anyAlive = () => alive().length > 0 || backgroundAlive();
    const readable = () => [...projects.keys()].filter((s) => h.record(s) !== undefined);
    const runnerOf = (session: string): number | undefined => {
      const rec = h.record(session);
      const a = rec?.attempts[rec.attempts.length - 1];
      const file = a ? path.join(h.store.paths.attemptDir(session, a.n), 'pid') : '';
      if (!a || a.endedAt || !fs.existsSync(file)) return undefined;
      const pid = Number(fs.readFileSync(file, 'utf8'));
      return processAlive(pid) ? pid : undefined;
    };

    // ---- the full disk ------------------------------------------------------------------------
    const filler = path.join(h.home, 'filler');
    let fullUntil = -1;
    let fills = 0;
    /**
     * Every runner on the tasks' server has recorded its start (pid and tmux files), and no pane
     * is being made. A runner started on a full disk cannot record its pid: the disk fills only
     * once the runners it would catch have started, and launches wait at tmux while it is full.
     */
    const runnersUnsettled = (): string | undefined => {
      const making = fs.readdirSync(path.join(ctl, 'inflight'));
      if (making.length) return `panes being made (${making.join(' ')})`;
      const listed = tmuxNow(realTmux, ['-L', h.socket, 'list-panes', '-a', '-F', '#{pane_dead} #{pane_pid} #{session_name}'], h.env);
      for (const line of listed.split('\n').filter(Boolean)) {
        const [dead, pid, session] = line.split(' ');
        if (dead === '1') continue;
        let argv: string[];
        try {
          argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        } catch {
          continue; // ended meanwhile
        }
        const at = argv.indexOf(RUNNER_NAME);
        if (at < 0) return `${session}: pane ${pid} is not the runner yet (${argv[0]})`; // tmux forks, then execs it
        const dir = argv[at + 1];
        if (!fs.existsSync(path.join(dir, 'pid')) || !fs.existsSync(path.join(dir, 'tmux'))) return `${session}: runner ${pid} has not recorded its start`;
      }
      return undefined;
    };
    const fillDisk = async (step: number) => {
      if (!tmpfs || fullUntil >= 0) return;
      // A record kept aside is reported in the supervisor's log, which a full disk would swallow:
      // none pending first (before the gate, which holds a pass that launches, so the next one).
      if (alive().length === 0) startSupervisor(); // a CLI monitor never exits idle: someone keeps records aside
      await waitFor(() => h.store.list().corrupt.length === 0, 'no corrupt record pending').catch((e) => {
        throw new Error(`${(e as Error).message} (seed ${SEED}): ${h.store.list().corrupt.map((c) => c.session).join(' ')}`);
      });
      fs.writeFileSync(path.join(ctl, 'gate'), '');
      let why: string | undefined;
      await waitFor(() => (why = runnersUnsettled()) === undefined, 'every runner started, no pane being made').catch((e) => {
        throw new Error(`${(e as Error).message} (seed ${SEED}): ${why}`);
      });
      const fd = fs.openSync(filler, 'w');
      try {
        for (const size of [1 << 20, 4096, 64]) {
          for (;;) {
            try {
              fs.writeSync(fd, Buffer.alloc(size));
            } catch (e) {
              if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
              throw e;
            }
          }
        }
      } finally {
        fs.closeSync(fd);
      }
      fullUntil = step + r.int(1, 5);
      fills++;
    };
    const freeDisk = () => {
      if (fullUntil < 0) return;
      fs.rmSync(filler, { force: true });
      fs.rmSync(path.join(ctl, 'gate'), { force: true });
      fullUntil = -1;
    };

    // ---- the schedule -------------------------------------------------------------------------
    const actions: Action[] = ['kill-agent', 'kill-agent', 'kill-agent', 'kill-tmux', 'kill-supervisor', 'add-supervisor', 'corrupt-record', 'pause',
      'kill-tmux-background', 'reused-pid-lock', 'slow-tmux', 'disk-full', 'ctrl-c'];
    const schedule = Array.from({ length: STEPS }, () => r.pick(actions));
    // In the first half, while most tasks still run.
    for (const a of EVERY_RUN) if (!schedule.includes(a)) schedule[r.int(0, Math.floor(STEPS / 2))] = a;
    let recoveries = 0;
    for (let step = 0; step < STEPS; step++) {
      if (fullUntil >= 0 && step >= fullUntil) freeDisk();
      const action = schedule[step];
      done[action] = (done[action] ?? 0) + 1;
      switch (action) {
        case 'kill-agent':
          h.killRunning(r.pick([...projects.keys()]));
          break;
        case 'kill-tmux':
          await h.tmux(['kill-server']);
          break;
        case 'kill-supervisor': {
          const live: (ChildProcess | 'background')[] = [...alive(), ...(backgroundAlive() ? ['background' as const] : [])];
          if (live.length) {
            const victim = r.pick(live);
            // The background supervisor is signalled only as the process its lock identified.
            if (victim === 'background') {
              if (backgroundAlive()) process.kill(background!.pid, 'SIGKILL');
            } else {
              victim.kill('SIGKILL');
            }
          }
          if (!anyAlive()) startSupervisor();
          break;
        }
        case 'add-supervisor':
          if (alive().length < 3) startSupervisor();
          break;
        case 'corrupt-record': {
          freeDisk(); // corrupting takes a write
          if (corrupted.size >= 2) break;
          const session = r.pick([...projects.keys()].filter((s) => !corrupted.has(s)));
          const file = h.store.paths.recordFile(session);
          let text: string;
          try {
            text = fs.readFileSync(file, 'utf8');
          } catch {
            break; // being moved aside just now
          }
          fs.writeFileSync(file, r.chance(0.5) ? text.slice(0, r.int(0, text.length - 2)) : '{"version":1,"garbage":');
          corrupted.add(session);
          break;
        }
        case 'pause':
          break;
        case 'kill-tmux-background': {
          // The tmux server dies while the background supervisor alone supervises: no CLI monitor,
          // no CLI command, no editor until every unfinished task is re-created and resumed.
          freeDisk();
          for (const m of alive()) m.kill('SIGKILL');
          await waitFor(() => supervisors.every((m) => m.exitCode !== null || m.signalCode !== null), 'the CLI monitors gone');
          const bg = await ensureBackground();
          // The kill comes when no crash is pending (every unfinished task's runner alive, or its
          // end recorded): a crash the supervisor has seen in a pane list taken just before the
          // server died is held as "closed while the tmux server kept running" (a defect, counted
          // below, not asserted).
          await waitFor(() => readable().every((s) => {
            const rec = h.record(s);
            if (!rec || !needsSupervision(rec)) return true;
            const a = rec.attempts[rec.attempts.length - 1];
            return !a || a.endedAt !== null || runnerOf(s) !== undefined;
          }), 'no crash pending', 30_000);
          // Attempts so far of every task still needing a supervisor.
          const before = new Map<string, number>();
          for (const s of readable()) {
            const rec = h.record(s);
            if (rec && needsSupervision(rec)) before.set(s, rec.attempts.length);
          }
          const killAt = Date.now();
          await h.tmux(['kill-server']);
          if (!bg) break; // nothing unfinished: it exited at once
          // Re-created and resumed: a new attempt launched after the kill, its runner started, and
          // the background supervisor's log says it launched it. Or done: its run ended with
          // status 0 just before. Held only when the user had stopped it (Ctrl-C) just before.
          const recovered = (s: string, log: string) => {
            const rec = h.record(s);
            if (!rec) return false;
            if (rec.state === 'done') return true;
            if (rec.state === 'held' && interrupted.has(s) && /stopped by the user/.test(rec.stateReason ?? '')) return true;
            const a = rec.attempts[rec.attempts.length - 1];
            return rec.attempts.length > before.get(s)! && Date.parse(a.startedAt) >= killAt &&
              fs.existsSync(path.join(h.store.paths.attemptDir(s, a.n), 'pid')) &&
              new RegExp(`${s}: attempt ${a.n} \\(\\w+, \\w+\\) launched`).test(log);
          };
          await waitFor(() => {
            const log = backgroundLog();
            return [...before.keys()].every((s) => recovered(s, log));
          }, 'every unfinished task re-created and resumed by the background supervisor', 60_000).catch((e) => {
            const states = [...before.keys()].map((s) => `${s}=${h.record(s)?.state}/${h.record(s)?.attempts.length} (${h.record(s)?.stateReason})`).join(' ');
            throw new Error(`${(e as Error).message} (seed ${SEED}): ${states}; interrupted ${[...interrupted].join(' ')}; background ${backgroundAlive() ? 'alive' : 'dead'}; log: ${backgroundLog().slice(-2000)}`);
          });
          recoveries += before.size;
          break;
        }
        case 'reused-pid-lock': {
          // The supervisor lock names a pid that now belongs to an unrelated process (a reboot,
          // pids wrapped): it must be taken over, and that process never signalled.
          freeDisk();
          bystander ??= spawn('sleep', ['100000'], { stdio: 'ignore', env: { PATH: process.env.PATH } });
          // A CLI monitor: it never exits idle (the background supervisor does, once every task is done).
          if (alive().length === 0) startSupervisor();
          const fake = { ...selfIdentity(`background supervisor pid ${bystander.pid}`), pid: bystander.pid!, pidStart: '1' };
          const tmp = `${supervisorLock}.chaos`;
          fs.writeFileSync(tmp, JSON.stringify(fake), { mode: 0o600 });
          fs.renameSync(tmp, supervisorLock);
          await waitFor(() => {
            const holder = lockHolder();
            return holder !== undefined && holder.pid !== bystander!.pid && identified(holder);
          }, 'the supervisor lock taken over from the reused pid').catch((e) => {
            const monitors = supervisors.slice(-3).map((m) => `monitor ${m.pid} (exit ${m.exitCode ?? m.signalCode ?? 'none'}): ${(m as ChildProcess & { log: () => string }).log().slice(-800)}`).join(' || ');
            throw new Error(`${(e as Error).message} (seed ${SEED}): ${fs.readFileSync(supervisorLock, 'utf8')}; locks: ${fs.readdirSync(h.store.paths.locksDir).join(' ')}; ` +
              `background ${backgroundAlive() ? background!.pid : 'none'}: ${backgroundLog().slice(-1500)} || ${monitors}`);
          });
          assert.ok(bystander.exitCode === null && bystander.signalCode === null, `seed ${SEED}: the unrelated process was signalled`);
          break;
        }
        case 'slow-tmux':
          if (fs.existsSync(path.join(ctl, 'slow'))) fs.rmSync(path.join(ctl, 'slow'));
          else fs.writeFileSync(path.join(ctl, 'slow'), (r.int(2, 8) / 10).toFixed(1));
          break;
        case 'disk-full':
          if (fullUntil >= 0) freeDisk();
          else await fillDisk(step);
          break;
        case 'ctrl-c': {
          if (interrupted.size >= 2) break;
          const running = [...projects.keys()].filter((s) => !interrupted.has(s) && runnerOf(s) !== undefined);
          if (!running.length) break;
          const session = r.pick(running);
          await h.tmux(['send-keys', '-t', `=${session}:`, 'C-c']);
          interrupted.add(session);
          break;
        }
      }
      // The schedule's own timing: a random gap lets supervisors act in between, or not.
      await new Promise((resolve) => setTimeout(resolve, r.int(0, 250)));
    }

    // Calm: space back, tmux quick, one CLI monitor (and the background supervisor, if it runs);
    // every later run finishes ("ok"), and runs still hanging are crashed once more so that they
    // are resumed and finish too.
    freeDisk();
    fs.rmSync(path.join(ctl, 'slow'), { force: true });
    for (const m of alive()) m.kill('SIGKILL');
    startSupervisor();
    for (const [session, project] of projects) {
      fs.writeFileSync(path.join(project, '.fixture-plan.json'), '[]');
      h.killRunning(session); // a record kept aside is unreadable: its agent is left alone
    }
    const settled = new Set(['done', 'held', 'gave-up', 'waiting']);
    // A corrupted record is either kept aside (and reported), or was overwritten whole by a
    // supervisor's atomic write that raced the corruption: then it is a task like the others.
    await waitFor(() => h.store.list().corrupt.length === 0 && readable().every((s) => settled.has(h.record(s)!.state)), 'every task settled, no record unreadable', 120_000).catch((e) => {
      const states = [...projects.keys()].map((s) => `${s}=${h.record(s)?.state ?? 'unreadable'}`).join(' ');
      throw new Error(`${(e as Error).message} (seed ${SEED}): ${states}`);
    });
    await Promise.all(alive().map((m) => h.stop(m)));
    if (backgroundAlive()) {
      process.kill(background!.pid, 'SIGTERM');
      await waitFor(() => !backgroundAlive(), 'the background supervisor stopped');
    }
    const healthy = readable();

    const kept = fs.existsSync(h.store.paths.quarantineDir) ? fs.readdirSync(h.store.paths.quarantineDir) : [];
    const logs = supervisors.map((m) => (m as ChildProcess & { log: () => string }).log()).join('\n') + backgroundLog();
    for (const s of corrupted) {
      if (healthy.includes(s)) continue;
      assert.ok(kept.some((f) => f.startsWith(`${s}.`)), `seed ${SEED}: ${s} kept aside`);
      assert.match(logs, new RegExp(`${s}: unreadable task record`), `seed ${SEED}: ${s} reported`);
    }
    for (const s of projects.keys()) assert.ok(healthy.includes(s) || kept.some((f) => f.startsWith(`${s}.`)), `seed ${SEED}: ${s} lost`);

    let stoppedByUser = 0;
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
      // A run the user stopped (Ctrl-C: SIGINT, or status 130) is the task's last: never resumed.
      const stop = rec.attempts.findIndex((a) => a.signal === 2 || a.exitCode === 130);
      if (stop >= 0) {
        stoppedByUser++;
        assert.ok(interrupted.has(session), `seed ${SEED}: ${session} attempt ${stop + 1} ended by SIGINT, which nobody sent`);
        assert.equal(stop, rec.attempts.length - 1, `seed ${SEED}: ${session} was resumed after the user stopped it`);
        assert.equal(rec.state, 'held', `seed ${SEED}: ${session} stopped by the user`);
        assert.match(rec.stateReason ?? '', /stopped by the user/);
      }
    }
    // Nothing half-written: no temp file of an atomic write (record, lock), no empty lock.
    const files = fs.readdirSync(h.home, { recursive: true }).map(String);
    assert.deepEqual(files.filter((f) => /\.\d+\.[0-9a-f]{8}\.tmp$/.test(f)), [], `seed ${SEED}: temp files left`);
    const locks = fs.readdirSync(h.store.paths.locksDir).filter((f) => f.endsWith('.lock'));
    assert.deepEqual(locks.filter((f) => fs.statSync(path.join(h.store.paths.locksDir, f)).size === 0), [], `seed ${SEED}: empty locks`);
    if (bystander) assert.ok(bystander.exitCode === null && bystander.signalCode === null && processAlive(bystander.pid!), `seed ${SEED}: the unrelated process was signalled`);
    // The runner's own pid.tmp / tmux.tmp / exit.tmp stay when a write of its fails on a full disk.
    const runnerTemps = files.filter((f) => /(^|\/)(pid|tmux|exit)\.tmp$/.test(f)).length;
    const enospc = (logs.match(/ENOSPC/g) ?? []).length;
    // Nobody closed a session by hand here: a task held so was lost with its server (the defect above).
    const heldWrongly = healthy.filter((s) => /closed while the tmux server kept running/.test(h.record(s)!.stateReason ?? ''));

    const summary = healthy.map((s) => `${s}:${h.record(s)!.state}/${h.record(s)!.attempts.length}`).join(' ');
    const faults = Object.entries(done).map(([a, n]) => `${a} ${n}`).join(', ');
    console.log(`      chaos seed ${SEED}: ${summary}; corrupted ${[...corrupted].join(' ') || 'none'}; interrupted ${[...interrupted].join(' ') || 'none'}, held as stopped by the user ${stoppedByUser}; ` +
      `re-created by the background supervisor ${recoveries}; disk full ${fills} times, ENOSPC logged ${enospc} times, runner temp files left ${runnerTemps}; ` +
      `held as closed by hand though the server died ${heldWrongly.join(' ') || 'none'}`);
    console.log(`      faults: ${faults}${tmpfs ? '' : ' (no tmpfs: disk-full skipped)'}`);
  });
});

/** The real tmux's answer, not the wrapper's (never slowed): '' when it fails (no server). */
function tmuxNow(file: string, args: string[], env: NodeJS.ProcessEnv): string {
  try {
    return execFileSync(file, args, { env: { ...env, TMUX: '' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}
