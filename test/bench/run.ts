/**
 * Benchmarks: crash -> resume latency, tmux server killed -> every task resumed (10 and 50 tasks), `resilient-agent start` (one, and
 * many in a row), the cost of a monitor pass, `resilient-agent list`, memory over many passes, the bundle's size, and what runs beside each agent
 * (overhead). Real tmux on private `-L` sockets, fixture agents.
 *
 *   npm run compile && npm run build && node out/test/bench/run.js            (all, writes BENCHMARKS.md)
 *   node out/test/bench/run.js pass-cost        (one measure: crash | server-kill | starts | pass-cost | list | memory | size | prompt | overhead | hosts)
 *   options: --crashes N (per mode, default 50)  --kills N (server-kill, per task count, default 10)  --kill-tasks N[,N] (default 10,50)
 *            --starts N (starts in a row, default 50)
 *            --passes N (memory, default 10000)  --prompts N (prompt, default 10)  --no-write
 *
 * Every external command is an argv array (no shell). Every tmux server and temp folder made here
 * is removed at the end, on failure, and on SIGINT/SIGTERM.
 *
 * One file per measure in measures/ (crash, server-kill, pass-cost, list, memory, size); world.ts
 * makes the isolated worlds and cleans them up, report.ts writes BENCHMARKS.md, args.ts reads the
 * command line, helpers.ts holds the timing and formatting. This file runs them.
 */
import * as os from 'node:os';
import { parseArgs } from './args';
import { log, nowMs } from './helpers';
import { measureCrash } from './measures/crash';
import { measureList } from './measures/list';
import { measureOverhead } from './measures/overhead';
import { measureHosts } from './measures/hosts';
import { measureMemory, memoryChild } from './measures/memory';
import { measurePassCost } from './measures/pass-cost';
import { measurePrompt } from './measures/prompt';
import { measureServerKill } from './measures/server-kill';
import { measureSize } from './measures/size';
import { measureStarts } from './measures/starts';
import { machine, ORDER, Section, writeBenchmarks } from './report';
import { cleanupAllSync } from './world';

// ---- main -------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const { which, args } = parseArgs(process.argv.slice(2));
  if (which === 'memory-child') {
    await memoryChild(args);
    return 0;
  }
  const measures: Record<string, () => Promise<Section[]>> = {
    crash: async () => [await measureCrash(args)],
    'server-kill': async () => [await measureServerKill(args)],
    starts: async () => [await measureStarts(args)],
    'pass-cost': async () => measurePassCost([10, 100, 300], -1),
    list: async () => [await measureList()],
    hosts: async () => [await measureHosts()],
    memory: async () => [await measureMemory(args, __filename)],
    size: async () => [await measureSize()],
    overhead: async () => [await measureOverhead()],
    prompt: async () => [await measurePrompt(args)],
  };
  const startedAt = new Date();
  const machineText = machine(os.loadavg());
  const t0 = nowMs();
  let sections: Section[];
  if (which === 'all') {
    sections = [];
    sections.push(await measureSize());
    sections.push(...(await measurePassCost())); // list is measured on its world at 100 tasks
    sections.push(await measureCrash(args));
    sections.push(await measureServerKill(args));
    sections.push(await measureStarts(args));
    sections.push(await measurePrompt(args));
    sections.push(await measureMemory(args, __filename));
    sections.push(await measureOverhead());
    sections.push(await measureHosts());
  } else if (measures[which]) {
    sections = await measures[which]();
  } else {
    throw new Error(`unknown measure "${which}": all | ${Object.keys(measures).join(' | ')}`);
  }
  const totalS = (nowMs() - t0) / 1000;
  for (const id of ORDER) {
    const s = sections.find((x) => x.id === id);
    if (s) process.stdout.write(`\n## ${s.title}\n\n${s.markdown}\n`);
  }
  process.stdout.write(`\n(${totalS.toFixed(0)} s)\n`);
  if (args.write) log(`wrote ${writeBenchmarks(sections, startedAt, totalS, machineText, which)}`);
  return 0;
}

main().then(
  (code) => {
    cleanupAllSync();
    process.exit(code);
  },
  (e) => {
    process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
    cleanupAllSync();
    process.exit(1);
  },
);
