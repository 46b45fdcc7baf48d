// 1c. `resilient-agent start` from the CLI: one start, and many in a row
import * as fs from 'node:fs';
import * as os from 'node:os';
import { CLI, waitFor } from '../../integration/harness';
import type { Args } from '../args';
import { log, median, ms, nowMs, p95, ratio, timeArgv, yes } from '../helpers';
import type { Section } from '../report';
import { cleanupWorld, newWorld } from '../world';

const AGENTS = ['codex', 'claude', 'opencode', 'pi'] as const;

/**
 * As a person (or a script) starts tasks: `node dist/cli.js start <agent> <name> --dir D --prompt P`,
 * `args.starts` times one after another, each spawned when the one before exited, with the CLI's
 * defaults (the background supervisor, started by the first start). Fixture agents of the four
 * kinds, plan ["hang"]: each keeps running, so the last start runs beside all the others. Wall
 * time of each start from spawn to exit; the run as a whole. Every task's agent is then seen
 * started once.
 */
export async function measureStarts(args: Args): Promise<Section> {
  const loadBefore = os.loadavg();
  const w = newWorld();
  w.h.configure({ 'supervisor.mode': 'background', 'queue.maxRunning': 1000 }); // starts, not the queue: none waits for a slot
  const env = { ...w.env };
  const n = args.starts;
  const each: number[] = [];
  const floor: number[] = [];
  const version: number[] = [];
  let allMs = 0;
  try {
    if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: npm run build`);
    for (let i = 0; i < 5; i++) {
      floor.push((await timeArgv(process.execPath, ['-e', '0'], env)).ms);
      version.push((await timeArgv(process.execPath, [CLI, '--version'], env)).ms);
    }
    const projects: string[] = [];
    for (let i = 0; i < n; i++) projects.push(w.h.project(`s${i}`, ['hang']));
    const t0 = nowMs();
    for (let i = 0; i < n; i++) {
      const r = await timeArgv(process.execPath, [CLI, 'start', AGENTS[i % AGENTS.length], `s${i}`, '--dir', projects[i], '--prompt', 'bench'], env);
      if (r.code !== 0) throw new Error(`start ${i} exited ${r.code}: ${r.stdout}`);
      each.push(r.ms);
    }
    allMs = nowMs() - t0;
    log(`starts: ${n} in a row in ${ms(allMs, 0)}`);
    await waitFor(() => projects.every((p) => w.h.invocations(p).length >= 1), 'every agent started', 60_000);
    const twice = projects.filter((p) => w.h.invocations(p).length !== 1);
    if (twice.length) throw new Error(`${twice.length} agents ran more than once after one start each`);
  } finally {
    await cleanupWorld(w);
  }
  const loadAfter = os.loadavg();
  const later = each.slice(1);
  const med = median(later);
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  const lines = [
    `\`node dist/cli.js start <agent> <name> --dir D --prompt P\` as a person runs it (the CLI's defaults: the first start starts the`,
    `background supervisor, which then supervises every task), ${n} times one after another, fixture agents of the four kinds that keep`,
    `running (the last start runs beside ${n - 1} running tasks, their agents and the supervisor). Wall time from spawn to exit.`,
    '',
    '| | median | p95 | max | target |',
    '|---|---|---|---|---|',
    `| \`node -e 0\` (the floor) | ${ms(median(floor))} | ${ms(p95(floor))} | ${ms(Math.max(...floor))} | |`,
    `| \`resilient-agent --version\` (loads the bundle) | ${ms(median(version))} | ${ms(p95(version))} | ${ms(Math.max(...version))} | |`,
    `| the first start (starts the background supervisor) | ${ms(each[0])} | | | |`,
    `| **one start** (starts 2..${n}) | **${ms(med)}** | ${ms(p95(later))} | ${ms(Math.max(...later))} | <= 200 ms ${yes(med <= 200)} (${ratio(med, 200)}) |`,
    `| **${n} starts in a row**, the whole run | **${ms(allMs, 0)}** | | | <= 10 s ${yes(allMs <= 10_000)} (${ratio(allMs, 10_000)}) |`,
    '',
    `The first and the last ten starts, median: ${ms(median(each.slice(0, 10)))} and ${ms(median(each.slice(-10)))}. Every agent ran once.`,
    `Load average (1 / 5 / 15 min) before this measure: ${load(loadBefore)}; after: ${load(loadAfter)}.`,
  ];
  return { id: 'starts', title: `1c. \`resilient-agent start\`: one start, and ${n} in a row`, markdown: lines.join('\n') };
}
