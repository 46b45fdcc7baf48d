import * as fs from 'node:fs';
import * as manifest from '../../package.json';
import { lookupFromObject, resolveSettings, Settings, SettingsError } from '../core/model/settings';
import { TaskError, UsageError } from '../core/model/errors';
import type { Logger } from '../core/platform/log';
import { adapterFor } from '../core/agents/registry';
import { AGENT_IDS } from '../core/model/names';
import { stateHome, StatePaths } from '../core/store/paths';
import { resolveExecutable } from '../core/platform/executables';
import { TaskService } from '../core/ops/service';
import type { TaskView } from '../core/model/views';
import { attachArgs } from '../core/tmux/commands';
import { TmuxError } from '../core/tmux/errors';
import { identified } from '../core/store/lock';
import { Monitor, needsSupervision, StateChange } from '../core/ops/monitor';
import * as path from 'node:path';
import {
  BACKGROUND_OWNER, ensureSupervisor, Launcher, startBackgroundSupervisor, stopBackgroundSupervisor, supervisorLog, supervisorStatus, SupervisorStatus,
} from '../core/ops/supervisor';
import { installUnit, uninstallUnit } from './systemd';
import { CommandSpec, parseArgs, Parsed } from './args';

const VERSION = (manifest as unknown as { version: string }).version;

const USAGE = `resilient-agent ${VERSION}: run coding agents in tmux, watch them, resume them by exact session id.

usage:
  resilient-agent start <agent> <name> [--dir DIR] (--prompt TEXT | --prompt-file FILE | --prompt -) [--json]
  resilient-agent list [--json]
  resilient-agent status <name> [--json]
  resilient-agent logs <name> [--lines N]
  resilient-agent attach <name>
  resilient-agent send <name> <text>
  resilient-agent resume <name>
  resilient-agent kill <name> [--forget]
  resilient-agent monitor [--once] [--interval SECONDS] [--on-change PROGRAM [ARG...]]
  resilient-agent supervisor start|stop|status|install|uninstall
  resilient-agent doctor

agents: ${AGENT_IDS.join(', ')}. <name> is the task name or the session name (<agent>-<name>).
environment: RESILIENT_AGENT_HOME (state dir), RESILIENT_AGENT_TMUX_SOCKET (tmux -L name).
exit status: 0 success, 1 failure, 2 bad usage or input.`;

const SPECS: Record<string, CommandSpec> = {
  start: {
    positionals: [{ name: 'agent', required: true }, { name: 'name', required: true }],
    flags: { dir: 'value', prompt: 'value', 'prompt-file': 'value', json: 'bool' },
  },
  list: { positionals: [], flags: { json: 'bool' } },
  status: { positionals: [{ name: 'name', required: true }], flags: { json: 'bool' } },
  logs: { positionals: [{ name: 'name', required: true }], flags: { lines: 'value' } },
  attach: { positionals: [{ name: 'name', required: true }], flags: {} },
  send: { positionals: [{ name: 'name', required: true }, { name: 'text', required: true }], flags: {} },
  resume: { positionals: [{ name: 'name', required: true }], flags: {} },
  kill: { positionals: [{ name: 'name', required: true }], flags: { forget: 'bool' } },
  monitor: { positionals: [], flags: { once: 'bool', interval: 'value', 'on-change': 'rest', background: 'bool' } },
  supervisor: { positionals: [{ name: 'action', required: true }], flags: { json: 'bool' } },
  doctor: { positionals: [], flags: {} },
};

interface Io {
  out(text: string): void;
  err(text: string): void;
}

const io: Io = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
};

function stderrLogger(level: 'debug' | 'info' | 'warn'): Logger {
  const order = { debug: 0, info: 1, warn: 2, error: 3 };
  const at = (l: keyof typeof order) => (m: string) => {
    if (order[l] >= order[level]) io.err(`${new Date().toISOString()} ${l} ${m}`);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

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
  return resolveSettings((key) => {
    if (key === 'tmux.socket' && env.RESILIENT_AGENT_TMUX_SOCKET !== undefined) return env.RESILIENT_AGENT_TMUX_SOCKET;
    return handed(key) ?? fromFile(key);
  });
}

function statusJson(v: TaskView): Record<string, unknown> {
  return {
    name: v.name,
    session: v.session,
    agent: v.agent,
    state: v.state,
    reason: v.reason,
    agentSessionId: v.agentSessionId,
    dir: v.dir,
    adopted: v.adopted,
    createdAt: v.createdAt,
    nextAttemptAt: v.nextAttemptAt,
    heldUntil: v.heldUntil,
    attempts: v.attempts.map((a) => ({
      n: a.n, cause: a.cause, mode: a.mode, startedAt: a.startedAt, endedAt: a.endedAt, exitCode: a.exitCode, signal: a.signal, note: a.note,
    })),
    eventsFile: v.eventsFile,
  };
}

function ago(iso: string | null, now: number): string {
  if (!iso) return '-';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d`;
}

function describe(v: TaskView, now: number): string {
  if (v.state === 'resuming' && v.nextAttemptAt) {
    const wait = Math.max(0, Math.round((Date.parse(v.nextAttemptAt) - now) / 1000));
    return `resuming in ${wait >= 60 ? `${Math.ceil(wait / 60)}m` : `${wait}s`}`;
  }
  return v.state + (v.adopted ? ' (started by hand)' : '');
}

function table(views: TaskView[], now: number): string {
  if (views.length === 0) return 'no tasks';
  const rows = [['SESSION', 'STATE', 'ATTEMPTS', 'AGE', 'REASON']];
  for (const v of views) {
    rows.push([v.session, describe(v, now), String(v.attempts.length || '-'), ago(v.createdAt, now), v.reason ?? '']);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd()).join('\n');
}

async function readPrompt(parsed: Parsed): Promise<string> {
  const inline = parsed.flags.get('prompt') as string | undefined;
  const file = parsed.flags.get('prompt-file') as string | undefined;
  if (inline !== undefined && file !== undefined) throw new UsageError('give --prompt or --prompt-file, not both');
  if (inline === undefined && file === undefined) throw new UsageError('a prompt is required: --prompt TEXT, --prompt-file FILE or --prompt -');
  if (inline === '-' || file === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  if (file !== undefined) {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new UsageError(`cannot read the prompt file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  return inline as string;
}

function onChangeRunner(program: string[], logger: Logger): (c: StateChange) => Promise<void> {
  return async (c) => {
    const { execa } = await import('execa');
    const r = await execa(program[0], program.slice(1), {
      reject: false,
      stdin: 'ignore',
      stdout: 'inherit',
      stderr: 'inherit',
      env: {
        RESILIENT_AGENT_TASK: c.name,
        RESILIENT_AGENT_SESSION: c.session,
        RESILIENT_AGENT_AGENT: c.agent,
        RESILIENT_AGENT_OLD_STATE: c.from,
        RESILIENT_AGENT_NEW_STATE: c.to,
        RESILIENT_AGENT_REASON: c.reason ?? '',
      },
    });
    if (r.failed) logger.warn(`--on-change ${program[0]} for ${c.session}: ${r.shortMessage ?? `exit ${r.exitCode}`}`);
  };
}

async function doctor(svc: TaskService, settings: Settings, home: string, env: NodeJS.ProcessEnv): Promise<number> {
  let ok = true;
  try {
    io.out(`tmux: ${await svc.tmux.version()} (socket: ${settings.tmuxSocket || 'default'})`);
  } catch (e) {
    ok = false;
    io.out(`tmux: MISSING: ${(e as Error).message}`);
  }
  try {
    svc.store.init();
    fs.accessSync(home, fs.constants.W_OK);
    const mode = fs.statSync(home).mode & 0o777;
    io.out(`state dir: ${home} (writable, mode ${mode.toString(8)})${mode & 0o077 ? ' — others can read it: prompts and environments are kept there; chmod 700 it' : ''}`);
  } catch (e) {
    ok = false;
    io.out(`state dir: ${home}: NOT WRITABLE: ${(e as Error).message}`);
  }
  for (const agent of AGENT_IDS) {
    const exe = settings.agents[agent].executable;
    const found = resolveExecutable(exe, env);
    if (!found) {
      io.out(`${agent}: not found on PATH (${adapterFor(agent).displayName}; set agents.${agent}.executable if it lives elsewhere)`);
      continue;
    }
    const { execa } = await import('execa');
    const r = await execa(found, ['--version'], { reject: false, timeout: 15_000, stdin: 'ignore', env });
    const version = (r.stdout || r.stderr || '').split('\n')[0].trim();
    io.out(`${agent}: ${found}${version ? ` (${version})` : ''}`);
  }
  io.out(`node: ${process.version}`);
  return ok ? 0 : 1;
}

/** Run after a successful command: keeps a background supervisor alive while tasks need one. */
let afterCommand: (() => Promise<void>) | undefined;

/** This CLI, run by the Node that runs it now: how the background supervisor is started. */
function selfLauncher(): Launcher {
  return { node: process.execPath, cli: fs.realpathSync(require.main?.filename ?? process.argv[1]) };
}

function fileLogger(file: string, level: 'debug' | 'info' | 'warn'): Logger {
  const order = { debug: 0, info: 1, warn: 2, error: 3 };
  const MAX = 1024 * 1024;
  const at = (l: keyof typeof order) => (m: string) => {
    if (order[l] < order[level]) return;
    try {
      // Bounded: past 1 MiB the log moves to supervisor.log.1 and starts again.
      if ((fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0) > MAX) fs.renameSync(file, `${file}.1`);
      fs.appendFileSync(file, `${new Date().toISOString()} ${l} ${m}\n`, { mode: 0o600 });
    } catch {
      /* logging must never stop supervision */
    }
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

async function supervisorCommand(svc: TaskService, action: string, json: boolean, env: NodeJS.ProcessEnv): Promise<number> {
  const describeHolder = (s: SupervisorStatus) =>
    s.running && s.holder ? `${s.holder.owner} (pid ${s.holder.pid}) since ${s.holder.acquiredAt}` : 'none';
  switch (action) {
    case 'start': {
      const { started, status } = await startBackgroundSupervisor(svc, selfLauncher());
      if (!started) io.out(`already supervised by ${describeHolder(status)}`);
      else if (!status.running) io.out('background supervisor started, found no task needing supervision, and exited; it starts again with the next task');
      else io.out(`background supervisor started: ${describeHolder(status)}; log: ${supervisorLog(svc)}`);
      return 0;
    }
    case 'stop': {
      const before = supervisorStatus(svc);
      if (before.background && before.holder && !identified(before.holder)) {
        io.out(`the background supervisor runs where this machine cannot signal it (${before.holder.owner}, host ${before.holder.host}); stop it there`);
        return 1;
      }
      const status = await stopBackgroundSupervisor(svc);
      const h = status.holder;
      io.out(status.background ? `background supervisor stopped (pid ${h?.pid})` : status.running ? `no background supervisor; tasks are supervised by ${describeHolder(status)}` : 'no supervisor was running');
      return 0;
    }
    case 'status': {
      const status = supervisorStatus(svc);
      if (json) {
        io.out(JSON.stringify({ running: status.running, background: status.background, holder: status.holder ?? null, unfinished: status.unfinished, log: supervisorLog(svc) }, null, 2));
      } else {
        io.out(`supervisor: ${describeHolder(status)}`);
        io.out(`tasks needing supervision: ${status.unfinished}`);
        if (status.running) io.out(`log: ${supervisorLog(svc)}`);
      }
      return 0;
    }
    case 'install': {
      const r = await installUnit(svc, selfLauncher(), env);
      for (const line of r.lines) io.out(line);
      return r.code;
    }
    case 'uninstall': {
      const r = await uninstallUnit(env, svc);
      for (const line of r.lines) io.out(line);
      return r.code;
    }
  }
  throw new UsageError(`unknown supervisor action "${action}": use start, stop, status, install or uninstall`);
}

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    io.out(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === '-V') {
    io.out(VERSION);
    return 0;
  }
  const spec = SPECS[command];
  if (!spec) throw new UsageError(`unknown command "${command}" (see resilient-agent --help)`);
  const parsed = parseArgs(command, rest, spec);
  const home = stateHome(env);
  const settings = loadSettings(home, env);
  const debug = env.RESILIENT_AGENT_DEBUG ? 'debug' : command === 'monitor' ? 'info' : 'warn';
  const background = command === 'monitor' && parsed.flags.get('background') === true;
  const logger = background ? fileLogger(path.join(home, 'supervisor.log'), debug) : stderrLogger(debug);
  const owner = background ? `${BACKGROUND_OWNER} pid ${process.pid}` : `cli ${command} pid ${process.pid}`;
  const svc = new TaskService({ home, settings, env, logger, owner });
  // A dead background supervisor is replaced by the next command that finds tasks needing one.
  if (!['monitor', 'supervisor', 'doctor'].includes(command)) {
    afterCommand = () => ensureSupervisor(svc, selfLauncher()).then(() => undefined, (e) => logger.warn(`background supervisor: ${(e as Error).message}`));
  }
  const json = parsed.flags.get('json') === true;
  const [first, second] = parsed.positionals;

  switch (command) {
    case 'start': {
      const prompt = await readPrompt(parsed);
      const dir = (parsed.flags.get('dir') as string | undefined) ?? process.cwd();
      const record = await svc.start({ agent: first, name: second, dir, prompt });
      if (json) {
        io.out(JSON.stringify(statusJson(svc.view(record)), null, 2));
      } else {
        io.out(`started ${record.session}`);
        io.out(`attach: resilient-agent attach ${record.session}   (or: ${[...svc.tmux.baseArgv(), ...attachArgs(record.session)].join(' ')})`);
      }
      return 0;
    }
    case 'list': {
      const { views, corrupt } = await svc.views();
      for (const c of corrupt) io.err(`unreadable task record ${c.session}: ${c.problem}`);
      io.out(json ? JSON.stringify(views.map(statusJson), null, 2) : table(views, Date.now()));
      return 0;
    }
    case 'status': {
      const v = await svc.find(first);
      if (json) {
        io.out(JSON.stringify(statusJson(v), null, 2));
      } else {
        const now = Date.now();
        io.out(`${v.session}: ${describe(v, now)}${v.reason ? ` (${v.reason})` : ''}`);
        io.out(`agent: ${v.agent}   session id: ${v.agentSessionId ?? 'unknown'}`);
        if (v.dir) io.out(`folder: ${v.dir}`);
        for (const a of v.attempts) {
          const end = a.endedAt ? `ended ${ago(a.endedAt, now)} ago, ${a.signal !== null ? `signal ${a.signal}` : `exit ${a.exitCode}`}` : 'running';
          io.out(`attempt ${a.n} (${a.cause}, ${a.mode}): started ${ago(a.startedAt, now)} ago, ${end}${a.note ? `; ${a.note}` : ''}`);
        }
      }
      return 0;
    }
    case 'logs': {
      const raw = parsed.flags.get('lines') as string | undefined;
      const lines = raw === undefined ? 200 : Number(raw);
      if (!Number.isInteger(lines) || lines < 1) throw new UsageError(`--lines must be a positive whole number, not "${raw}"`);
      io.out(await svc.logs(first, lines));
      return 0;
    }
    case 'attach': {
      const v = await svc.find(first);
      if (!process.stdin.isTTY) throw new UsageError('attach needs a terminal');
      const { execa } = await import('execa');
      const r = await execa(svc.tmux.executable, [...svc.tmux.baseArgv().slice(1), ...attachArgs(v.session)], {
        stdio: 'inherit', reject: false, env: { ...env, TMUX: undefined, TMUX_PANE: undefined }, extendEnv: false,
      });
      return r.exitCode ?? 1;
    }
    case 'send': {
      await svc.send(first, second);
      return 0;
    }
    case 'resume': {
      const record = await svc.resume(first);
      const a = record.attempts[record.attempts.length - 1];
      io.out(`${record.session}: attempt ${a.n} ${a.mode === 'resume' ? `resumes session ${record.agentSessionId}` : 'starts again from the prompt'}`);
      return 0;
    }
    case 'kill': {
      const forget = parsed.flags.get('forget') === true;
      const r = await svc.kill(first, forget);
      io.out(`${r.session}: ${r.killed ? 'killed' : 'session was already gone'}${forget ? '; record removed' : '; it will not be resumed'}`);
      return 0;
    }
    case 'monitor': {
      const raw = parsed.flags.get('interval') as string | undefined;
      let intervalMs = settings.intervalMs;
      if (raw !== undefined) {
        const seconds = Number(raw);
        if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`--interval must be a positive number of seconds, not "${raw}"`);
        intervalMs = seconds * 1000;
      }
      const program = parsed.flags.get('on-change') as string[] | undefined;
      const background = parsed.flags.get('background') === true;
      const pending = new Set<Promise<void>>();
      const run = program ? onChangeRunner(program, logger) : undefined;
      let idle: (() => void) | undefined;
      const monitor = new Monitor(svc, {
        intervalMs,
        onChange: (c) => {
          io.out(`${c.session}: ${c.from} -> ${c.to}${c.reason ? ` (${c.reason})` : ''}`);
          if (!run) return;
          const p = run(c).finally(() => pending.delete(p));
          pending.add(p);
        },
        onPass: (r) => {
          if (background && r.leader && r.unfinished === 0) idle?.();
        },
        onError: (e) => logger.error((e as Error).message),
      });
      if (parsed.flags.get('once') === true) {
        await monitor.pass('once');
        monitor.resign();
        await new Promise((r) => setImmediate(r));
        await Promise.all(pending);
        return 0;
      }
      await new Promise<void>((resolve) => {
        const stop = () => {
          monitor.stop();
          resolve();
        };
        // The background supervisor exits when nothing is left to watch. It gives up the lock
        // first and looks once more, so a task started meanwhile is never left unsupervised.
        idle = () => {
          monitor.resign();
          if (svc.store.list().records.some(needsSupervision)) return;
          logger.info('no unfinished task left: the background supervisor exits');
          stop();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        // A hangup (a closed terminal, a dropped SSH link) stops a monitor someone runs by hand,
        // never the background supervisor: it exists to outlive them.
        if (background) process.on('SIGHUP', () => logger.info('hangup ignored: the background supervisor keeps supervising'));
        else process.once('SIGHUP', stop);
        monitor.start();
      });
      await Promise.all(pending);
      return 0;
    }
    case 'supervisor':
      return supervisorCommand(svc, first, json, env);
    case 'doctor':
      return doctor(svc, settings, home, env);
  }
  throw new UsageError(`unknown command "${command}"`);
}

export function exitCodeFor(e: unknown): number {
  if (e instanceof UsageError || e instanceof SettingsError) return 2;
  return 1;
}

export function messageFor(e: unknown): string {
  if (e instanceof TmuxError && e.cause === 'not-installed') return e.message;
  if (e instanceof UsageError || e instanceof TaskError || e instanceof TmuxError || e instanceof SettingsError) return e.message;
  return (e as Error)?.message ?? String(e);
}

if (require.main === module) {
  // A reader that stops early (`| head`) is not a failure: stop writing, keep the command's work.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });
  main(process.argv.slice(2)).then(
    async (code) => {
      if (code === 0 && afterCommand) await afterCommand();
      process.exitCode = code;
    },
    (e) => {
      io.err(`resilient-agent: ${messageFor(e)}`);
      if (process.env.RESILIENT_AGENT_DEBUG && e instanceof Error) io.err(e.stack ?? '');
      process.exitCode = exitCodeFor(e);
    },
  );
}
