// 3. resilient-agent list
import * as fs from 'node:fs';
import { Monitor } from '../../../src/core/ops/monitor';
import { CLI } from '../../integration/harness';
import { median, ms, nowMs, p95, ratio, timeArgv, yes } from '../helpers';
import type { Section } from '../report';
import { cleanupWorld, newWorld, startSleepTasks, World } from '../world';

export async function measureList(given?: World, runs = 10): Promise<Section> {
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
