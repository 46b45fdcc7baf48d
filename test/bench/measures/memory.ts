// 4. memory over many passes (in a child with --expose-gc)
import { spawn } from 'node:child_process';
import * as v8 from 'node:v8';
import { Monitor } from '../../../src/core/ops/monitor';
import type { Args } from '../args';
import { kib, log, mib, nowMs } from '../helpers';
import type { Section } from '../report';
import { children, cleanupWorld, monitorMaps, newWorld, startSleepTasks } from '../world';

interface MemSnapshot {
  pass: number;
  heapUsed: number;
  rss: number;
  external: number;
  oldSpace: number;
  codeSpace: number;
  maps?: Record<string, number>;
  tasks: number;
  elapsedS: number;
}

export async function memoryChild(args: Args): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  const w = newWorld({ sleepAgents: true });
  const monitor = new Monitor(w.svc, { intervalMs: w.settings.intervalMs, onError: (e) => log(`monitor error: ${(e as Error).message}`) });
  const snapshots: MemSnapshot[] = [];
  const t0 = nowMs();
  try {
    const sessions = await startSleepTasks(w, Array.from({ length: 18 }, (_, i) => `m${i}`));
    sessions.push(...(await startSleepTasks(w, ['tick0', 'tick1'], 'claude')));
    monitor.start(); // event sources on (probe + wake watcher), 180 s timer
    let churn = 0;
    const marks = new Set([1, args.passes]);
    for (let p = 1000; p < args.passes; p += 1000) marks.add(p);
    for (let pass = 1; pass <= args.passes; pass++) {
      await monitor.pass('bench');
      if (pass % 1000 === 0 && pass < args.passes) {
        // Churn: one task forgotten, a new one started (the maps must drop the old one).
        const old = sessions.shift()!;
        await w.svc.kill(old, true);
        sessions.push(...(await startSleepTasks(w, [`churn${churn++}`])));
      }
      if (marks.has(pass)) {
        gc();
        gc();
        const m = process.memoryUsage();
        const spaces = v8.getHeapSpaceStatistics();
        const space = (name: string) => spaces.find((x) => x.space_name === name)?.space_used_size ?? NaN;
        snapshots.push({
          pass, heapUsed: m.heapUsed, rss: m.rss, external: m.external, maps: monitorMaps(monitor),
          oldSpace: space('old_space'), codeSpace: space('code_space'),
          tasks: w.svc.store.sessions().length, elapsedS: (nowMs() - t0) / 1000,
        });
        log(`memory: pass ${pass}: heapUsed ${mib(m.heapUsed)}, rss ${mib(m.rss)}`);
      }
    }
  } finally {
    monitor.stop();
    await cleanupWorld(w);
  }
  process.stdout.write(`BENCH_RESULT ${JSON.stringify({ snapshots })}\n`);
}

/** `entry`: the bench's own script (run.js), which runs memoryChild() when its measure is `memory-child`. */
export async function measureMemory(args: Args, entry: string): Promise<Section> {
  const child = spawn(process.execPath, ['--expose-gc', entry, 'memory-child', '--passes', String(args.passes)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  const code: number = await new Promise((r) => child.on('exit', (c) => r(c ?? 1)));
  children.delete(child);
  const line = out.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
  if (code !== 0 || !line) throw new Error(`the memory child exited ${code}`);
  const { snapshots } = JSON.parse(line.slice('BENCH_RESULT '.length)) as { snapshots: MemSnapshot[] };
  const at = (p: number) => snapshots.find((s) => s.pass === p);
  const first = at(1000) ?? snapshots[0];
  const last = snapshots[snapshots.length - 1];
  const mid = snapshots.reduce((best, s) => (Math.abs(s.pass - last.pass / 2) < Math.abs(best.pass - last.pass / 2) ? s : best), first);
  const early = mid.heapUsed - first.heapUsed;
  const late = last.heapUsed - mid.heapUsed;
  const latePerPass = late / Math.max(1, last.pass - mid.pass);
  // A warm heap wobbles by a few hundred KiB between readings; a leak of one small object per pass
  // (~100 B) would add ~0.5 MiB over the second half. The first thousands of passes warm up (JIT code, caches).
  const grew = late > 512 * 1024;
  const mapsBounded = snapshots.every((s) => !s.maps || Object.values(s.maps).every((v) => v <= s.tasks));
  const shown = snapshots.filter((s) => [1, 1000, 2000, mid.pass, last.pass].includes(s.pass));
  const sign = (x: number) => (x >= 0 ? '+' : '');
  const lines = [
    `${last.pass} \`monitor.pass()\` calls over 20 running tasks (18 sleeping shell agents, 2 printing a line a second,`,
    'so their panes keep being captured), monitor started (probe + wake watcher on). Every 1 000 passes one task is',
    'forgotten and a new one started. Separate `node --expose-gc` process; `gc()` twice before each reading (one every 1 000 passes).',
    '',
    '| after pass | heapUsed | V8 old space | V8 code space | RSS | monitor maps (waitingStreak / capturedAt / watched) | tasks | elapsed |',
    '|---|---|---|---|---|---|---|---|',
    ...shown.map((s) => `| ${s.pass} | ${mib(s.heapUsed)} | ${mib(s.oldSpace)} | ${mib(s.codeSpace)} | ${mib(s.rss)} | ${s.maps ? `${s.maps.waitingStreak ?? '?'} / ${s.maps.capturedAt ?? '?'} / ${s.maps.watched ?? '?'}` : 'not observable'} | ${s.tasks} | ${s.elapsedS.toFixed(0)} s |`),
    '',
    `heapUsed, warm-up (pass ${first.pass} -> ${mid.pass}): ${sign(early)}${kib(early)}; second half (pass ${mid.pass} -> ${last.pass}): ` +
      `${sign(late)}${kib(late)} (${latePerPass.toFixed(1)} B/pass). All readings: ${snapshots.slice(1).map((s) => (s.heapUsed / 1024 / 1024).toFixed(2)).join(', ')} MiB. ` +
      `RSS ${mib(Math.min(...snapshots.slice(1).map((s) => s.rss)))} to ${mib(Math.max(...snapshots.slice(1).map((s) => s.rss)))} after pass 1 000. ` +
      `Monitor maps ${mapsBounded ? 'never exceed the task count' : '**exceed the task count**'}.`,
    `Target: no growth -> ${grew ? '**grew** (> 512 KiB over the second half)' : 'met (flat after warm-up: < 512 KiB over the second half)'}.`,
  ];
  return { id: 'memory', title: '4. Memory over many passes', markdown: lines.join('\n') };
}
