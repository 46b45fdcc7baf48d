import { spawn } from 'node:child_process';
import { UsageError } from '../../core/model/errors';
import type { RemoteHosts } from '../../core/ops/remote';
import type { Host } from '../../core/store/hosts';
import type { Parsed } from '../args';
import type { Io } from '../context';
import { fleetOut } from '../format';
import { readPrompt, sendText } from './tasks';

/** The flags handed on to the host as they were given (none of them a prompt). */
function passOn(parsed: Parsed, names: string[]): string[] {
  const out: string[] = [];
  for (const n of names) {
    const v = parsed.flags.get(n);
    if (v === true) out.push(`--${n}`);
    else if (typeof v === 'string') out.push(`--${n}`, v);
  }
  return out;
}

function say(io: Io, result: unknown): void {
  const text = (result as { text?: unknown })?.text;
  if (typeof text === 'string') io.out(text);
  else io.out(JSON.stringify(result, null, 2));
}

/**
 * A task command run on a host (names after `--`, so none is read there as a flag): its CLI driven over ssh with the contract, every argument quoted
 * for its shell, a prompt or a text to type sent on stdin (never in the command line).
 */
export async function runOnHost(command: string, remote: RemoteHosts, host: Host, parsed: Parsed, io: Io): Promise<number> {
  const json = parsed.flags.get('json') === true;
  const [first, second] = parsed.positionals;
  const withHost = (r: unknown) => ({ ...(r as Record<string, unknown>), hostName: host.name });
  switch (command) {
    case 'start': {
      const dir = parsed.flags.get('dir') as string | undefined;
      if (dir === undefined) throw new UsageError(`a task on host ${host.name} needs --dir (a folder on that host)`);
      // An interactive task's first prompt is optional (an empty one on stdin: none).
      const none = parsed.flags.get('interactive') === true && !parsed.flags.has('prompt') && !parsed.flags.has('prompt-file');
      const prompt = none ? '' : await readPrompt(parsed);
      const r = await remote.call(host, ['start', '--dir', dir, '--prompt', '-', ...passOn(parsed, ['worktree', 'branch', 'now', 'interactive']), '--json', '--', first, second], { input: prompt }) as Record<string, unknown>;
      if (json) {
        io.out(JSON.stringify(withHost(r), null, 2));
      } else {
        io.out(`${r.state === 'queued' ? 'queued' : 'started'} ${String(r.session)} on host ${host.name}`);
        io.out(`attach: resilient-agent attach --host ${host.name} ${String(r.session)}`);
      }
      return 0;
    }
    case 'list': {
      fleetOut([{ host: host.name, tasks: await remote.list(host, 60_000) }], io, json);
      return 0;
    }
    case 'status':
    case 'diff': {
      const r = await remote.call(host, [command, ...(json ? ['--json'] : []), '--', first]);
      if (json) io.out(JSON.stringify(withHost(r), null, 2));
      else say(io, r);
      return 0;
    }
    case 'logs':
      say(io, await remote.call(host, ['logs', ...passOn(parsed, ['lines', 'raw', 'events']), '--', first]));
      return 0;
    case 'send':
      say(io, await remote.call(host, ['send', '--stdin', '--', first], { input: await sendText(parsed, second) }));
      return 0;
    case 'resume':
    case 'kill':
      say(io, await remote.call(host, [command, ...passOn(parsed, ['forget', 'force', 'interactive']), '--', first]));
      return 0;
    case 'continue': {
      const prompt = await readPrompt(parsed);
      say(io, await remote.call(host, ['continue', '--prompt', '-', ...passOn(parsed, ['now']), '--', first], { input: prompt }));
      return 0;
    }
    case 'attach': {
      if (!process.stdin.isTTY) throw new UsageError('attach needs a terminal');
      const argv = remote.attachArgv(host, first);
      return new Promise((resolve, reject) => {
        const child = spawn('ssh', argv, { stdio: 'inherit', env: remote.options.env });
        child.on('error', reject);
        child.on('exit', (code) => resolve(code ?? 1));
      });
    }
  }
  throw new UsageError(`"${command}" does not take --host`);
}
