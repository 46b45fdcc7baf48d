// 6. what the product runs beside each agent: RSS per running task at 20 tasks, design by design
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { hubLock } from '../../../src/core/store/transcripts';
import { ATTEMPT_ENV } from '../../../src/core/store/runner';
import type { Launcher } from '../../../src/core/ops/core';
import { descendantsOf, processesWithEnv } from '../../../src/core/platform/processes';
import { waitFor } from '../../integration/harness';
import { log, pool } from '../helpers';
import type { Section } from '../report';
import { attemptFile, children, cleanupWorld, newWorld } from '../world';

const TASKS = 20;
const TARGET_MB = 8;

interface Memory {
  rss: number;
  pss: number;
}

/** VmRSS and Pss of one process, in bytes (0 when it is gone). */
function memoryOf(pid: number): Memory {
  const field = (text: string, name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
  try {
    const rss = field(fs.readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmRSS');
    let pss = rss;
    try {
      pss = field(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'), 'Pss');
    } catch {
      /* no smaps_rollup: RSS */
    }
    return { rss, pss };
  } catch {
    return { rss: 0, pss: 0 };
  }
}

const sum = (xs: Memory[]): Memory => xs.reduce((a, b) => ({ rss: a.rss + b.rss, pss: a.pss + b.pss }), { rss: 0, pss: 0 });
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(2);

interface Row {
  name: string;
  /** Per task: the runner, what runs beside the agent in its pane, a shared process's share. */
  runner: Memory;
  beside: Memory;
  shared: Memory;
  /** Processes counted per task (the runner included). */
  processes: number;
  sharedProcesses: number;
  readable: boolean;
}

/**
 * Starts TASKS fixture agents that stay running (their first message shown, then quiet), waits
 * until every pane shows it readable (no supervisor runs), and sums the RSS of every process the
 * product added: each runner, everything under it but the agent's own processes (found by the
 * attempt named in their environment), and the render hub if there is one (divided by the tasks).
 */
async function measureDesign(name: string, launcher: Partial<Launcher>): Promise<Row> {
  const w = newWorld({ launcher });
  try {
    const names = Array.from({ length: TASKS }, (_, i) => `o${i}`);
    const sessions: string[] = [];
    await pool(names, 4, async (n) => {
      const dir = w.h.project(n, ['hang']);
      sessions.push((await w.svc.start({ agent: 'codex', name: n, dir, prompt: 'bench' })).session);
    });
    const shows = async (s: string) => /^● working\.\.\.$/m.test((await w.h.tmux(['capture-pane', '-p', '-t', `=${s}:`])).stdout);
    let readable = true;
    try {
      await waitFor(async () => (await Promise.all(sessions.map(shows))).every(Boolean), 'every pane to show its transcript', 60_000);
    } catch {
      readable = false;
    }
    // A few readings a quarter second apart: the mean (a Node process's heap breathes).
    const samples: Row[] = [];
    for (let k = 0; k < 5; k++) {
      const runners: Memory[] = [];
      const beside: Memory[] = [];
      let count = 0;
      for (const s of sessions) {
        const dir = w.svc.store.paths.attemptDir(s, 1);
        const runner = Number(fs.readFileSync(attemptFile(w, s, 1, 'pid'), 'utf8'));
        const agent = processesWithEnv(`${ATTEMPT_ENV}=${dir}`);
        const agentTree = new Set([...agent, ...descendantsOf(agent)]);
        const others = descendantsOf([runner]).filter((pid) => !agentTree.has(pid));
        runners.push(memoryOf(runner));
        beside.push(sum(others.map(memoryOf)));
        count += 1 + others.length;
      }
      let hub: Memory = { rss: 0, pss: 0 };
      let hubs = 0;
      try {
        const pid = (JSON.parse(fs.readFileSync(path.join(w.svc.store.paths.locksDir, `${hubLock(w.svc.host.key)}.lock`), 'utf8')) as { pid: number }).pid;
        hub = memoryOf(pid);
        hubs = 1;
      } catch {
        /* no hub */
      }
      const per = (m: Memory): Memory => ({ rss: m.rss / TASKS, pss: m.pss / TASKS });
      samples.push({ name, runner: per(sum(runners)), beside: per(sum(beside)), shared: per(hub), processes: count / TASKS, sharedProcesses: hubs, readable });
      await new Promise((r) => setTimeout(r, 250));
    }
    const mean = (pick: (r: Row) => Memory): Memory => ({ rss: samples.reduce((a, r) => a + pick(r).rss, 0) / samples.length, pss: samples.reduce((a, r) => a + pick(r).pss, 0) / samples.length });
    return { ...samples[0], runner: mean((r) => r.runner), beside: mean((r) => r.beside), shared: mean((r) => r.shared) };
  } finally {
    await cleanupWorld(w);
  }
}

/**
 * The per-pane reader other designs would add beside the hub (a `cat` of a FIFO the hub writes, a
 * `tail -f` of a rendered file): TASKS of each, run for real, their mean RSS.
 */
async function measureReader(program: string, argv: (dir: string, i: number) => string[]): Promise<Memory> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ra-bench-reader-'));
  const procs: ChildProcess[] = [];
  try {
    for (let i = 0; i < TASKS; i++) {
      const [file, ...args] = argv(root, i);
      const c = spawn(file, args, { stdio: ['ignore', 'ignore', 'ignore'] });
      children.add(c);
      procs.push(c);
    }
    await waitFor(() => procs.every((c) => c.pid && memoryOf(c.pid).rss > 0 && fs.readFileSync(`/proc/${c.pid}/cmdline`, 'utf8').startsWith(`${program}\0`)), 'the readers to run');
    return sum(procs.map((c) => memoryOf(c.pid!)));
  } finally {
    for (const c of procs) {
      c.kill('SIGKILL');
      children.delete(c);
    }
    fs.rmSync(root, { recursive: true, force: true });
  }
}

export async function measureOverhead(): Promise<Section> {
  const designs: [string, Partial<Launcher>][] = [
    ['before: a Node `render` per pane', { transcript: 'process' }],
    ['a Node `render` per pane, small V8 heap (`--max-semi-space-size=1 --max-old-space-size=16 --v8-pool-size=0`)', { transcript: 'process', env: { NODE_OPTIONS: '--max-semi-space-size=1 --max-old-space-size=16 --v8-pool-size=0' } }],
    ['a Node `render` per pane, `--jitless`', { transcript: 'process', env: { NODE_OPTIONS: '--jitless' } }],
    ['after: one render hub per host and state dir, writing into each pane', { transcript: 'hub' }],
    ['the hub, `--jitless` (not the default: V8 then interprets every line it renders, slower under a burst)', { transcript: 'hub', env: { NODE_OPTIONS: '--jitless' } }],
  ];
  const rows: Row[] = [];
  for (const [name, launcher] of designs) {
    log(`overhead: ${name}`);
    rows.push(await measureDesign(name, launcher));
    const r = rows[rows.length - 1];
    log(`overhead: ${mb(r.runner.rss + r.beside.rss + r.shared.rss)} MiB RSS per task (runner ${mb(r.runner.rss)}, beside ${mb(r.beside.rss)}, shared ${mb(r.shared.rss)}), readable ${r.readable}`);
  }
  const fifo = (dir: string, i: number) => {
    const f = path.join(dir, `fifo${i}`);
    execFileSync('mkfifo', [f]);
    // Held open read-write by the reader's own shell in the sketch; here `cat` opens it so.
    return ['bash', '-c', 'exec 8<>"$1"; exec cat "$1" 8>&-', 'cat', f];
  };
  const tail = (dir: string, i: number) => {
    const f = path.join(dir, `text${i}`);
    fs.writeFileSync(f, 'rendered\n');
    return ['tail', '-f', f];
  };
  const cat = await measureReader('cat', fifo);
  const tailF = await measureReader('tail', tail);
  const hub = rows[3];
  const total = (r: Row) => r.runner.rss + r.beside.rss + r.shared.rss;
  const totalPss = (r: Row) => r.runner.pss + r.beside.pss + r.shared.pss;
  const before = rows[0];
  const line = (name: string, r: Row, extra?: Memory, readable = r.readable ? 'yes' : '**no**') => {
    const t = total(r) + (extra?.rss ?? 0) / TASKS;
    return `| ${name} | ${mb(r.runner.rss)} | ${mb(r.beside.rss + (extra?.rss ?? 0) / TASKS)} | ${mb(r.shared.rss)} | **${mb(t)}** | ${mb(totalPss(r) + (extra?.pss ?? 0) / TASKS)} | ${(total(before) / t).toFixed(1)}x | ${t <= TARGET_MB * 1024 * 1024 ? 'met' : '**missed**'} | ${readable} |`;
  };
  const lines = [
    `${TASKS} codex fixture agents running at once (each showed its first message, then stays quiet), no supervisor.`,
    'Summed over every process the product adds: the runner (`bash`), whatever runs beside the agent in its pane (the',
    'agent\'s own processes, found by the attempt named in their environment, are left out), and a shared process',
    `divided by the ${TASKS} tasks. MiB per task, the mean of 5 readings a quarter second apart; PSS counts shared pages once.`,
    `"Readable": every pane showed its agent's first message rendered (\`● working...\`) with no supervisor running.`,
    '',
    '| design | runner | beside the agent | shared (per task) | RSS per task | PSS per task | vs before | target ≤ 8 MB | readable |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => line(r.name, r)),
    line('the hub + a `cat` of a FIFO per pane (the sketch; the cats measured on their own)', hub, cat, 'not built'),
    line('the hub + a `tail -f` of a rendered file per pane (the tails measured on their own)', hub, tailF, 'not built'),
    '',
    `A \`cat\` of a FIFO: ${mb(cat.rss / TASKS)} MiB RSS each; a \`tail -f\`: ${mb(tailF.rss / TASKS)} MiB. Processes per task (runner included): ` +
      rows.map((r) => `${r.processes.toFixed(0)}${r.sharedProcesses ? ` + ${r.sharedProcesses} shared` : ''}`).join(', ') + '.',
  ];
  return { id: 'overhead', title: '6. What runs beside each agent (per task, at 20 tasks)', markdown: lines.join('\n') };
}
