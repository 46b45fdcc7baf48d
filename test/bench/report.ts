// Results: each measure's section, printed and written into BENCHMARKS.md.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO } from '../integration/harness';

export interface Section {
  id: string;
  title: string;
  markdown: string;
}

// BENCHMARKS.md

/** The machine, with the load average as it was when the run started. */
export function machine(loadAtStart: number[]): string {
  const run = (file: string, a: string[]) => {
    try {
      return execFileSync(file, a, { encoding: 'utf8' }).trim();
    } catch {
      return 'n/a';
    }
  };
  const load = loadAtStart.map((x) => x.toFixed(2)).join(' ');
  return `\`nproc\` ${run('nproc', [])}, ${os.cpus()[0]?.model ?? 'cpu n/a'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ` +
    `${os.type()} ${os.release()}; node ${process.version}; ${run('tmux', ['-V'])}. Load average at the start: ${load}.`;
}

const NOISY = 'The machine is shared and noisy: compare figures side by side within one run (the ratios), not across runs.';

export const ORDER = ['crash', 'server-kill', 'starts', 'prompt', 'pass-cost', 'list', 'memory', 'overhead', 'size', 'hosts'];

/**
 * A full run replaces every block and the machine block. One measure run alone replaces its own
 * block only, which then names the machine it ran on (the others keep the machine they were
 * measured on).
 */
export function writeBenchmarks(sections: Section[], startedAt: Date, totalS: number, machineText: string, which: string): string {
  const file = path.join(REPO, 'BENCHMARKS.md');
  const existing = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const previousMachine = existing.match(/<!-- bench:machine -->[\s\S]*?<!-- \/bench:machine -->/)?.[0];
  const alone = which !== 'all' && previousMachine !== undefined;
  const measured = alone
    ? `_Measured ${startedAt.toISOString().slice(0, 10)}, alone (\`node out/test/bench/run.js ${which}\`, ${totalS.toFixed(0)} s), on: ${machineText}_`
    : `_Measured ${startedAt.toISOString().slice(0, 10)}._`;
  const block = (s: Section) => `<!-- bench:${s.id} -->\n## ${s.title}\n\n${s.markdown}\n\n${measured}\n<!-- /bench:${s.id} -->`;
  const blocks = new Map<string, string>();
  for (const id of ORDER) {
    const m = existing.match(new RegExp(`<!-- bench:${id} -->[\\s\\S]*?<!-- /bench:${id} -->`));
    if (m) blocks.set(id, m[0]);
  }
  for (const s of sections) blocks.set(s.id, block(s));
  const machineBlock = alone
    ? previousMachine
    : `<!-- bench:machine -->\nMachine: ${machineText}\n${NOISY}\nLast run: ${startedAt.toISOString()} (${sections.map((s) => s.id).join(', ')}; ${totalS.toFixed(0)} s).\n<!-- /bench:machine -->`;
  const intro = [
    '# Benchmarks',
    '',
    'Produced by `npm run compile && npm run build && node out/test/bench/run.js` (one measure: `node out/test/bench/run.js',
    'crash|server-kill|starts|pass-cost|list|memory|size|prompt|overhead|hosts`). Real tmux on private `-L` sockets, fixture agents; nothing of the user\'s tmux is touched.',
    '',
    machineBlock,
  ].join('\n');
  const body = ORDER.filter((id) => blocks.has(id)).map((id) => blocks.get(id)!).join('\n\n');
  fs.writeFileSync(file, `${intro}\n\n${body}\n`);
  return file;
}
