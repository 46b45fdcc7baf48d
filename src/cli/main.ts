import fs = require('node:fs');
import path = require('node:path');
import * as manifest from '../../package.json';
import { quoted, TaskError, UsageError } from '../core/model/errors';
import { AGENT_IDS } from '../core/model/names';
import { lookupFromObject, resolveSettings, Settings, SettingsError, withEnvOverrides } from '../core/model/settings';
import type { Logger, LogLevel } from '../core/platform/log';
import { leveledLogger } from '../core/platform/log';
import { TaskService } from '../core/ops/service';
import { BACKGROUND_OWNER, ensureSupervisorRuns } from '../core/ops/supervisor';
import { stateHome, StatePaths } from '../core/store/paths';
import { TmuxError } from '../core/tmux/errors';
import { parseArgs } from './args';
import { demoCommand } from './commands/demo';
import { doctorCommand } from './commands/doctor';
import { monitorCommand } from './commands/monitor';
import { renderCommand } from './commands/render';
import { renderHubCommand } from './commands/renderHub';
import { selfLauncher, supervisorCommand } from './commands/supervisor';
import { TASK_COMMANDS } from './commands/tasks';
import type { Command } from './context';
import { queueCommand } from './commands/queue';
import { stdio } from './context';
import type { Io } from './context';
import { contractAsked, envelopeIo, resultOf } from './contract';
import { CONTRACT, envelope } from '../core/model/contract';
import { RemoteError, RemoteHosts } from '../core/ops/remote';
import { SshError } from '../core/platform/ssh';
import { LOCAL_HOST } from '../core/store/hosts';
import { hostsCommand } from './commands/hosts';
import { runOnHost } from './commands/onHost';
import { versionCommand } from './commands/version';
import { eventsCommand } from './commands/events';
import { hookCommand } from './commands/hook';

const VERSION = (manifest as unknown as { version: string }).version;

const USAGE = `resilient-agent ${VERSION}: run coding agents in tmux, watch them, resume them by exact session id.

usage:
  resilient-agent start <agent> <name> [--dir DIR] (--prompt TEXT | --prompt-file FILE | --prompt -) [--worktree [--branch NAME]] [--now] [--json]
  resilient-agent start claude|codex|opencode|pi <name> --interactive [--prompt ...] [--dir DIR] [--worktree ...]   its own TUI in the pane: you talk to it
  resilient-agent list [--json]
  resilient-agent status <name> [--json]
  resilient-agent logs <name> [--lines N] [--raw | --events]   what the agent said and did (--raw: the pane as tmux has it; --events: its JSON events)
  resilient-agent attach <name>
  resilient-agent send <name> <text>
  resilient-agent resume <name> [--interactive]   (--interactive: a session started by hand taken over in its agent's TUI, supervised)
  resilient-agent continue <name> (--prompt TEXT | --prompt-file FILE | --prompt -) [--now]
  resilient-agent queue [--json]                  the starts waiting for a free slot, and the limits
  resilient-agent queue start <name>              start a queued task now, beyond the limits
  resilient-agent queue move <name> <position>    reorder (1: the next to start)
  resilient-agent queue limits [--max-running N] [--per-agent AGENT=N,...|none] [--min-free-memory-mb N]
  resilient-agent diff <name> [--json]
  resilient-agent kill <name> [--forget [--force]]
  resilient-agent monitor [--once] [--interval SECONDS] [--on-change PROGRAM [ARG...]]
  resilient-agent supervisor start|stop|status|install|uninstall
  resilient-agent doctor
  resilient-agent version [--json]              this CLI, its contract, node, tmux, the state dir, the supervisor
  resilient-agent hosts add <name> <ssh-target> | list [--json] | remove <name> | check <name> [--json] | install <name> [--node PATH] [--supervisor]
  resilient-agent events [--json] [--host NAME]  state changes as they happen, here and on every host
  resilient-agent demo [--dir DIR] [--keep]     watch a crash and a resume, with a demo agent (no network, no key)

agents: ${AGENT_IDS.join(', ')}. <name> is the task name or the session name (<agent>-<name>).
--host NAME (start, list, status, logs, attach, send, resume, continue, diff, kill): on that host, over ssh; list without it: every host.
environment: RESILIENT_AGENT_HOME (state dir), RESILIENT_AGENT_TMUX_SOCKET (tmux -L name).
exit status: 0 success, 1 failure, 2 bad usage or input.`;

const COMMANDS: Record<string, Command> = {
  ...TASK_COMMANDS,
  monitor: monitorCommand,
  supervisor: supervisorCommand,
  queue: queueCommand,
  doctor: doctorCommand,
  demo: demoCommand,
  hosts: hostsCommand,
  version: versionCommand,
  events: eventsCommand,
};

function loadSettings(home: string, env: NodeJS.ProcessEnv): Settings {
  const file = new StatePaths(home).configFile;
  let obj: unknown;
  try {
    obj = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new SettingsError(`cannot read ${file}: ${(e as Error).message}`);
  }
  const fromFile = lookupFromObject(obj);
  // Handed down by whoever started the background supervisor (e.g. VS Code's settings).
  let handed: (key: string) => unknown = () => undefined;
  if (env.RESILIENT_AGENT_SETTINGS) {
    try {
      handed = lookupFromObject(JSON.parse(env.RESILIENT_AGENT_SETTINGS));
    } catch (e) {
      throw new SettingsError(`RESILIENT_AGENT_SETTINGS: ${(e as Error).message}`);
    }
  }
  return resolveSettings(withEnvOverrides((key) => handed(key) ?? fromFile(key), env));
}

/** The background supervisor's log: bounded, past 1 MiB it moves to supervisor.log.1 and starts again. */
function fileLogger(file: string, level: LogLevel): Logger {
  const MAX = 1024 * 1024;
  return leveledLogger(level, (line) => {
    try {
      if ((fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0) > MAX) fs.renameSync(file, `${file}.1`);
      fs.appendFileSync(file, `${line}\n`, { mode: 0o600 });
    } catch {
      /* logging must never stop supervision */
    }
  });
}

/**
 * Runs one command. `after`: what to do once it succeeded (keep a background supervisor alive
 * while tasks need one); the entry point runs it, a test calling this need not.
 */
export async function run(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, io = stdio): Promise<{ code: number; after?: () => Promise<void> }> {
  const contract = contractAsked(argv);
  if (contract) {
    if (contract.asked !== CONTRACT) {
      io.out(envelope(VERSION, false, { error: `contract ${Number.isFinite(contract.asked) ? contract.asked : '?'} asked; resilient-agent ${VERSION} here speaks contract ${CONTRACT}`, exit: 2 }));
      return { code: 2 };
    }
    if (COMMANDS[contract.rest[0]]?.streams) return runCommand(contract.rest, env, io);
    const captured = envelopeIo(io);
    try {
      const r = await runCommand(contract.rest, env, captured.io);
      io.out(envelope(VERSION, r.code === 0, r.code === 0 ? { result: resultOf(captured.printed()) } : { error: captured.printed() || `exit ${r.code}`, exit: r.code }, captured.meta));
      return r;
    } catch (e) {
      io.out(envelope(VERSION, false, { error: messageFor(e), exit: exitCodeFor(e) }));
      return { code: exitCodeFor(e) };
    }
  }
  return runCommand(argv, env, io);
}

async function runCommand(argv: readonly string[], env: NodeJS.ProcessEnv, io: Io): Promise<{ code: number; after?: () => Promise<void> }> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(USAGE);
    return { code: name === undefined ? 2 : 0 };
  }
  if (name === '--version' || name === '-V') {
    io.out(VERSION);
    return { code: 0 };
  }
  // What each pane runs beside its agent: no state dir, no settings.
  if (name === 'render') return { code: await renderCommand(rest, io) };
  if (name === 'render-hub') return { code: await renderHubCommand(rest, env) };
  // What an interactive agent's hooks run: quick, silent, never failing the agent.
  if (name === 'hook') return { code: await hookCommand(rest) };
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) throw new UsageError(`unknown command ${quoted(name)} (see resilient-agent --help)`);
  const parsed = parseArgs(name, rest, command.spec);
  const home = stateHome(env);
  const settings = loadSettings(home, env);
  const level: LogLevel = env.RESILIENT_AGENT_DEBUG ? 'debug' : name === 'monitor' ? 'info' : 'warn';
  const background = name === 'monitor' && parsed.flags.get('background') === true;
  const logger = background ? fileLogger(path.join(home, 'supervisor.log'), level) : leveledLogger(level, io.err);
  const owner = background ? `${BACKGROUND_OWNER} pid ${process.pid}` : `cli ${name} pid ${process.pid}`;
  // Run as the CLI itself: the panes it starts run its `render` beside their agents.
  const host = parsed.flags.get('host') as string | undefined;
  const remote = new RemoteHosts({ home, env, logger, version: VERSION });
  if (host !== undefined && host !== LOCAL_HOST && !command.streams) return { code: await runOnHost(name, remote, remote.host(host), parsed, io) };
  const svc = new TaskService({ home, settings, env, logger, owner, version: VERSION, ...(require.main === module ? { launcher: selfLauncher() } : {}) });
  const [first, second] = parsed.positionals;
  const code = await command.run({ svc, version: VERSION, settings, home, env, parsed, io, logger, json: parsed.flags.get('json') === true, first, second, remote, allHosts: host === undefined });
  // A dead background supervisor is replaced by the next command that finds tasks needing one.
  const after = command.ensuresSupervisor
    ? () => ensureSupervisorRuns(svc, selfLauncher()).then(() => undefined, (e) => logger.warn(`background supervisor: ${(e as Error).message}`))
    : undefined;
  return { code, after };
}

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return (await run(argv, env)).code;
}

export function exitCodeFor(e: unknown): number {
  if (e instanceof UsageError || e instanceof SettingsError) return 2;
  if (e instanceof RemoteError && e.kind === 'command') return e.exit;
  return 1;
}

export function messageFor(e: unknown): string {
  if (e instanceof TmuxError && e.cause === 'not-installed') return e.message;
  if (e instanceof UsageError || e instanceof TaskError || e instanceof TmuxError || e instanceof SettingsError) return e.message;
  if (e instanceof SshError) return e.message;
  return (e as Error)?.message ?? String(e);
}

if (require.main === module) {
  // A reader that stops early (`| head`) is not a failure: stop writing, keep the command's work.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });
  run(process.argv.slice(2)).then(
    async ({ code, after }) => {
      if (code === 0 && after) await after();
      process.exitCode = code;
    },
    (e) => {
      stdio.err(`resilient-agent: ${messageFor(e)}`);
      if (process.env.RESILIENT_AGENT_DEBUG && e instanceof Error) stdio.err(e.stack ?? '');
      process.exitCode = exitCodeFor(e);
    },
  );
}
