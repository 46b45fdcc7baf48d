// 2. the cost of one pass (and 3. list at 100 tasks)
import type { Logger } from '../../../src/core/platform/log';
import { evaluateTask, observe } from '../../../src/core/ops/observe';
import { listPanesArgs } from '../../../src/core/tmux/commands';
import { Monitor } from '../../../src/core/ops/monitor';
import { log, median, ms, nowMs, ratio, timeArgv, yes } from '../helpers';
import type { Section } from '../report';
import { cleanupWorld, newWorld, startSleepTasks, World } from '../world';
import { measureList } from './list';

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

export async function measurePassCost(sizes = [10, 100, 300], listAt = 100): Promise<Section[]> {
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
    'Breakdown, each alone: the floor with the monitor\'s 11-field format (execFile), `svc.tmux.listPanes()` (spawn, same',
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
