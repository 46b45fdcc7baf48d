/**
 * The demo agent: a small program that follows codex's `exec --json` contract closely enough to be
 * supervised like it (a thread id in its first event, JSON events, `exec … resume <id> -- -` with
 * the prompt on stdin), with no network and no key. It counts ten steps, one every 400 ms, and keeps
 * its progress per session in `.resilient-agent-demo/` of its folder, so a resume by id goes on where
 * the crash stopped it. It exists for `resilient-agent demo`; it is never offered for real tasks.
 */
import { randomUUID } from 'node:crypto';
import fs = require('node:fs');
import path = require('node:path');

const STEPS = 10;
const STEP_MS = 600;

function out(event: unknown): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function main(argv: string[]): number {
  if (argv[0] === '--version') {
    process.stdout.write('resilient-agent demo agent\n');
    return 0;
  }
  if (argv[0] !== 'exec' || !argv.includes('--json')) {
    process.stderr.write('the demo agent only runs as "exec --json" (it stands in for codex in resilient-agent demo)\n');
    return 2;
  }
  const at = argv.indexOf('resume');
  const id = at > 0 ? argv[at + 1] : randomUUID();
  const store = path.join(process.cwd(), '.resilient-agent-demo');
  const file = path.join(store, `${id}.json`);
  let done = 0;
  if (at > 0) {
    try {
      done = (JSON.parse(fs.readFileSync(file, 'utf8')) as { done: number }).done;
    } catch {
      process.stderr.write(`Error: no rollout found for thread id ${id}\n`);
      return 1;
    }
  }
  const prompt = argv[argv.length - 1] === '-' ? fs.readFileSync(0, 'utf8') : argv[argv.length - 1];
  fs.mkdirSync(store, { recursive: true });
  const save = () => fs.writeFileSync(file, JSON.stringify({ done, prompt }));
  save();
  out({ type: 'thread.started', thread_id: id });
  out({ type: 'turn.started' });
  out({ type: 'item.completed', item: { type: 'agent_message', text: at > 0 ? `Resumed at step ${done + 1} of ${STEPS}.` : `Working on: ${prompt.trim()}` } });
  const step = () => {
    done++;
    save();
    out({ type: 'item.completed', item: { type: 'agent_message', text: `working... step ${done} of ${STEPS}` } });
    if (done < STEPS) {
      setTimeout(step, STEP_MS);
      return;
    }
    out({ type: 'item.completed', item: { type: 'agent_message', text: 'All ten steps done.' } });
    out({ type: 'turn.completed', usage: { input_tokens: 10, output_tokens: 10 } });
  };
  setTimeout(step, STEP_MS);
  return -1;
}

const code = main(process.argv.slice(2));
if (code >= 0) process.exitCode = code;
