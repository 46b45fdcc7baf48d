import fs = require('node:fs');
import path = require('node:path');
import { adapterFor } from '../../core/agents/registry';
import { UsageError } from '../../core/model/errors';
import { AGENT_IDS } from '../../core/model/names';
import type { AgentId } from '../../core/model/names';
import type { Usage } from '../../core/model/record';
import { UsageSchema } from '../../core/model/record';
import { followEvents } from '../../core/ops/transcript';
import { attemptFile, eventsFile } from '../../core/store/attempt';
import { parseArgs } from '../args';
import type { Io } from '../context';

/** Once told to stop, what is left is shown within this long, or not at all. */
const LAST_READ_MS = 2000;
/** The safety net under the file watch. */
const POLL_MS = 500;

/**
 * `render ATTEMPT_DIR --agent AGENT [--baseline USAGE_JSON] [--follow]`: what the pane runner runs
 * beside the agent where the render hub cannot show its pane (no /proc; not for people: they use `logs`). Shows the attempt's events readable as the
 * agent writes them, until the run is over (the runner wrote its exit file; a SIGTERM says so too)
 * or the runner is gone. A person's
 * Ctrl-C is for the agent, not for this. Runs before any settings are read: nothing here can fail
 * because of a broken config.
 */
export async function renderCommand(argv: readonly string[], io: Io): Promise<number> {
  const parsed = parseArgs('render', argv, { positionals: [{ name: 'attempt-dir', required: true }], flags: { agent: 'value', baseline: 'value', follow: 'bool' } });
  const agent = parsed.flags.get('agent') as string | undefined;
  if (!agent || !(AGENT_IDS as readonly string[]).includes(agent)) throw new UsageError(`--agent must be one of ${AGENT_IDS.join(', ')}`);
  let baseline: Usage | undefined;
  const raw = parsed.flags.get('baseline') as string | undefined;
  if (raw !== undefined) {
    const checked = UsageSchema.safeParse((() => {
      try {
        return JSON.parse(raw);
      } catch {
        return undefined;
      }
    })());
    if (!checked.success) throw new UsageError('--baseline must be a usage object');
    baseline = checked.data;
  }
  const dir = path.resolve(parsed.positionals[0]);
  const file = eventsFile(dir);
  const exitFile = attemptFile(dir, 'exit');
  const follow = parsed.flags.get('follow') === true;
  const parent = process.ppid;
  let stop = !follow;
  let wake: (() => void) | undefined;
  const stopNow = (): void => {
    stop = true;
    wake?.();
    setTimeout(() => process.exit(0), LAST_READ_MS).unref();
  };
  if (follow) {
    process.on('SIGTERM', stopNow);
    process.on('SIGINT', () => {});
    process.on('SIGQUIT', () => {});
  }
  // The pane closed under it: nothing to show anything to.
  process.stdout.on('error', () => process.exit(0));
  let watcher: fs.FSWatcher | undefined;
  await followEvents(file, adapterFor(agent as AgentId), baseline, (t) => io.out(t), {
    stopped: () => {
      // The run is over (the runner wrote its exit), or the runner is gone without saying so
      // (reparented: killed with its agent).
      if (!stop && (fs.existsSync(exitFile) || process.ppid !== parent)) stop = true;
      return stop;
    },
    // The attempt's folder: its events file growing, and its exit file appearing.
    changed: () => new Promise<void>((resolve) => {
      wake = resolve;
      if (!watcher) {
        try {
          watcher = fs.watch(dir, { persistent: false }, () => wake?.());
          watcher.on('error', () => undefined);
        } catch {
          /* the poll */
        }
      }
      setTimeout(resolve, POLL_MS);
    }).finally(() => {
      wake = undefined;
    }),
  });
  watcher?.close();
  return 0;
}
