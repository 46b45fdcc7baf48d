import fs = require('node:fs');
import path = require('node:path');
import { adapterFor } from '../agents/registry';
import type { Action } from '../decide/classify';
import { budgetedAttempts } from '../decide/policy';
import { TaskError } from '../model/errors';
import type { AgentId } from '../model/names';
import type { Attempt, TaskRecord } from '../model/record';
import { isInteractive, sessionUsage } from '../model/record';
import { resolveExecutable } from '../platform/executables';
import { readHead, writeFileAtomic } from '../platform/files';
import { attemptFile, eventsFile } from '../store/attempt';
import { descendantsOf, pidNamespace, processAlive, processesByEnv, processesWithArgs, processesWithEnv, processName, processPidNamespace, processStartTime } from '../platform/processes';
import { ATTEMPT_ENV, encodeEnv, encodeNul, runnerCommand } from '../store/runner';
import { hubLock, writeEntry } from '../store/transcripts';
import { wakeHookArgs } from '../tmux/commands';
import type { Core } from './core';
import { newServerInfo } from './agentServer';
import { ensureRenderHub, hubSpawnedFile, paneRenderer } from './hubLaunch';
import { isoNow } from './core';
import { wakeChannel } from './wake';

/** The agent's executable on the caller's PATH, or a TaskError saying what to install. */
export function resolveAgent(core: Core, agent: AgentId): string {
  const configured = core.settings.agents[agent].executable;
  const found = resolveExecutable(configured, core.env);
  if (!found) {
    const adapter = adapterFor(agent);
    throw new TaskError(
      `${configured} was not found on PATH: install ${adapter.displayName} (${adapter.install}) or set agents.${agent}.executable`,
      'missing-tool',
    );
  }
  return found;
}

/** The agent flags and continue prompt a new task keeps for all its attempts. */
export function agentArgs(core: Core, agent: AgentId): TaskRecord['agentArgs'] {
  const a = core.settings.agents[agent];
  return { modeArgs: a.modeArgs, extraArgs: a.extraArgs, continuePrompt: core.settings.continuePrompt };
}

/** The environment every attempt of a task runs with: the starter's, written once at start. */
export function writeTaskEnv(core: Core, session: string): void {
  writeFileAtomic(envFile(core, session), encodeEnv(core.env));
}

function envFile(core: Core, session: string): string {
  return path.join(core.store.paths.taskDir(session), 'env');
}

/**
 * Only processes of this host: another pid namespace (a container, a host sharing the state dir
 * through a mount) may show its processes here, and they are its own supervisor's to end.
 */
function ours(pid: number): boolean {
  return pid !== process.pid && processPidNamespace(pid) === pidNamespace();
}

/**
 * Ends every process of an attempt, found by the attempt named in its environment (so never a
 * reused pid): SIGTERM, then SIGKILL after a grace period, then a short wait for the kernel to
 * take them. Returns the processes found, and those still there at the end (none but in a
 * process stuck in the kernel).
 */
export async function endAttempt(core: Core, session: string, n: number, graceMs = 3_000): Promise<{ found: number[]; left: number[] }> {
  const entry = `${ATTEMPT_ENV}=${core.store.paths.attemptDir(session, n)}`;
  // Its processes, and what they started without the entry (an environment of its own), found
  // while their parents live and followed after (by pid and start time, so never a reused pid).
  const known = new Map<number, string | null>();
  const look = () => {
    const named = processesWithEnv(entry).filter((pid) => ours(pid));
    for (const pid of [...named, ...descendantsOf(named)]) if (!known.has(pid) && ours(pid)) known.set(pid, processStartTime(pid));
    return [...known].filter(([pid, start]) => processAlive(pid) && processStartTime(pid) === start).map(([pid]) => pid);
  };
  const found = look();
  if (found.length === 0) return { found, left: [] };
  const signal = (pids: number[], sig: NodeJS.Signals) => {
    for (const pid of pids) {
      try {
        process.kill(pid, sig);
      } catch {
        /* gone meanwhile */
      }
    }
  };
  const until = async (ms: number) => {
    const deadline = Date.now() + ms;
    let alive = look();
    while (alive.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      alive = look();
    }
    return alive;
  };
  signal(found, 'SIGTERM');
  let left = await until(graceMs);
  if (left.length) {
    signal(left, 'SIGKILL');
    left = await until(2_000);
  }
  return { found, left };
}

/** Every attempt's processes, as one look at /proc found them: attempt folder -> pids. */
export type AttemptProcesses = Map<string, number[]>;

/** One look at /proc for every attempt at once (a pass resuming many tasks shares it). */
export function attemptProcesses(): AttemptProcesses {
  return processesByEnv(ATTEMPT_ENV);
}

/**
 * An agent that ignores SIGHUP outlives its pane (the tmux server killed, the pane respawned):
 * resumed beside it, one session would run twice. Before the next attempt, every process of the
 * earlier one is ended (endAttempt). `seen`: a look at /proc taken under the task's lock, after its
 * pane was seen gone; an attempt it found nothing of is not looked for again (a process of it
 * could only come from one alive then). One it found something of is looked at afresh, by its
 * environment (never by a pid that may have been reused since).
 */
export async function endStrays(core: Core, session: string, n: number, graceMs = 3_000, seen?: AttemptProcesses): Promise<number[]> {
  const dir = core.store.paths.attemptDir(session, n);
  if (seen && !seen.get(dir)?.some((pid) => ours(pid))) return [];
  const entry = `${ATTEMPT_ENV}=${dir}`;
  const strays = processesWithEnv(entry).filter((pid) => ours(pid) && processAlive(pid));
  if (strays.length === 0) return [];
  core.logger.warn(`${session}: attempt ${n} was still running (pid ${strays.join(', ')}) after its pane ended; stopping it before the next attempt`);
  return (await endAttempt(core, session, n, graceMs)).found;
}

/**
 * The tmux clients of this host still carrying an attempt's runner to tmux (its command names the
 * attempt's folder): what a launcher killed right after starting one leaves on its way. Until it
 * ends, the attempt's session may yet come. Never the tmux server (`serverPid`, from a pane list):
 * a new-session that found none forked it, and it keeps that command line for as long as it serves
 * every session; tmux names it "tmux: server" (its command name, not its command line).
 */
export function launchesInFlight(core: Core, session: string, n: number, serverPid?: number): number[] {
  return processesWithArgs(core.store.paths.attemptDir(session, n), ['new-session', 'respawn-pane'])
    .filter((pid) => ours(pid) && pid !== serverPid && !/: server$/.test(processName(pid) ?? ''));
}

/** Ends (SIGKILL) launches on their way to tmux, as launchesInFlight found them. */
export function endLaunches(clients: readonly number[]): void {
  for (const pid of clients) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* ended meanwhile */
    }
  }
}

/** Tells every supervisor watching this state dir to look now. Best effort. */
export function signalSupervisors(core: Core): void {
  try {
    fs.writeFileSync(core.store.paths.wakeFile, `${process.pid} ${core.now()}\n`, { mode: 0o600 });
  } catch {
    /* the timer still runs */
  }
}

/** This CLI run with `args` (in the launcher's environment), when this process knows how to run it. */
function cliArgv(core: Core, args: readonly string[]): string[] | undefined {
  const l = core.launcher;
  if (!l) return undefined;
  const env = Object.entries(l.env ?? {}).map(([k, v]) => `${k}=${v}`);
  const prefix = env.length ? [resolveExecutable('env', core.env) ?? '/usr/bin/env', ...env] : [];
  return [...prefix, l.node, l.cli, ...args];
}

/** What shows the attempt's events readable in its pane: the CLI's `render`. */
function renderArgv(core: Core, attemptDir: string, record: TaskRecord, mode: 'start' | 'resume'): string[] | undefined {
  // An agent whose counts cover its whole session (codex) shows each attempt's own.
  const before = mode === 'resume' ? sessionUsage(record.attempts) : undefined;
  return cliArgv(core, ['render', attemptDir, '--follow', '--agent', record.agent, ...(before ? ['--baseline', JSON.stringify(before)] : [])]);
}

/**
 * An interactive attempt's argv (its agent's TUI, started or resumed by id) and its settings file
 * with the hooks, added to `files`. The hooks run this CLI's `hook` command, so the process
 * launching must know how to run the CLI. A resume types nothing: the conversation is the agent's.
 */
async function interactiveArgs(
  core: Core, record: TaskRecord, action: Extract<Action, { kind: 'launch' }>, attemptDir: string, files: [string, string | Buffer][],
): Promise<string[]> {
  const adapter = adapterFor(record.agent);
  const tui = adapter.interactive;
  if (!tui) throw new TaskError(`${adapter.displayName} cannot run as an interactive task yet: start it unattended`, 'refused');
  const hook = cliArgv(core, ['hook', record.agent, attemptDir, core.store.paths.wakeFile]);
  if (!hook) throw new TaskError('an interactive task needs the resilient-agent CLI for its hooks, and this process does not know where it is', 'refused');
  const settingsFile = tui.settingsName ? path.join(attemptDir, tui.settingsName) : attemptFile(attemptDir, 'settings');
  files.push([settingsFile, tui.settingsFile(hook)]);
  // An agent that serves its events (OpenCode): a free loopback port and a password of this attempt's own (./agentServer.ts).
  // A follow-up for an agent whose resume takes none (OpenCode) is said through its server once it answers.
  const followUp = action.mode === 'resume' && action.cause === 'follow-up' && tui.server?.sendPrompt ? action.prompt : undefined;
  const server = tui.server ? { ...await newServerInfo(), ...(followUp ? { prompt: followUp } : {}) } : undefined;
  if (server && tui.server) {
    files.push([attemptFile(attemptDir, 'server'), `${JSON.stringify(server)}\n`]);
    files.push([attemptFile(attemptDir, 'agentEnv'), encodeEnv(tui.server.env(server.password))]);
  }
  const settings = { executable: record.executable, ...record.agentArgs };
  // A follow-up a person asked for (`continue`) is its first prompt; a recovery's resume has none.
  if (action.mode === 'resume') return tui.resumeArgs(record, settings, settingsFile, action.cause === 'follow-up' ? action.prompt : undefined, hook, server?.port);
  // Its first prompt on its first run only: started again (its session was never saved, e.g. a
  // crash right after /clear), it opens empty rather than be told the first prompt a second time.
  const prompt = action.prompt ?? (action.cause === 'start' ? record.prompt : '');
  return tui.startArgs(record, settings, settingsFile, prompt.trim() ? prompt : undefined, hook, server?.port);
}

export interface LaunchOptions {
  /** A look at /proc taken under the task's lock (endStrays), shared by a pass's launches. */
  seen?: AttemptProcesses;
  /** The caller signals the supervisors itself, once for many launches. */
  quiet?: boolean;
  /** Told once the record naming the new attempt is written. */
  onWritten?: () => void;
}

/**
 * Starts the next attempt. The caller holds the task's lock. The record is written before tmux
 * is touched, so a supervisor that dies in between leaves an attempt that never started (seen
 * and handled), never an agent nobody knows about.
 */
export async function launch(
  core: Core, record: TaskRecord, action: Extract<Action, { kind: 'launch' }>, sessionExists: boolean, fence: () => void = () => undefined,
  options: LaunchOptions = {},
): Promise<TaskRecord> {
  const adapter = adapterFor(record.agent);
  const previous = record.attempts[record.attempts.length - 1];
  if (previous) await endStrays(core, record.session, previous.n, undefined, options.seen);
  const agentSettings = { executable: record.executable, ...record.agentArgs };
  const n = record.attempts.length + 1;
  const attemptDir = core.store.paths.attemptDir(record.session, n);
  fs.mkdirSync(attemptDir, { recursive: true, mode: 0o700 });
  if (action.mode === 'start' && record.attempts.length > 0) {
    // Started again from the prompt: the earlier session was never saved, so its id is void.
    const fresh = adapter.prepare({ dir: record.dir, taskDir: core.store.paths.taskDir(record.session), env: core.env });
    record = { ...record, agentSessionId: fresh.agentSessionId, agentData: { ...record.agentData, ...fresh.agentData } };
  }
  // A resume during a follow-up says the follow-up again: the agent may have died before it saved it.
  const followUp = budgetedAttempts(record).attempts[0];
  const pending = followUp?.cause === 'follow-up' && followUp.prompt ? followUp.prompt : undefined;
  const resumeText = pending ? `${record.agentArgs.continuePrompt}\n\n${pending}` : record.agentArgs.continuePrompt;
  const prompt = { text: action.prompt ?? (action.mode === 'resume' ? resumeText : record.prompt) };
  // The attempt's files, all of them before its record; not synced to the disk: only this attempt's
  // runner reads them, and after a power loss the attempt is over (the next one has its own).
  const files: [string, string | Buffer][] = [];
  const tui = isInteractive(record) ? await interactiveArgs(core, record, action, attemptDir, files) : undefined;
  const args = tui ?? (action.mode === 'resume'
    ? adapter.resumeArgs(record, agentSettings, prompt)
    : adapter.startArgs(record, agentSettings, prompt));
  files.push([attemptFile(attemptDir, 'argv'), encodeNul([record.executable, ...args])]);
  if (!tui && adapter.promptOnStdin(prompt.text)) files.push([attemptFile(attemptDir, 'stdin'), prompt.text]);
  // An interactive agent draws its own TUI in the pane: nothing shows a transcript there.
  const byHub = !tui && paneRenderer(core) === 'hub';
  if (tui) {
    /* no transcript in the pane */
  } else if (byHub) {
    // The hub shows the pane's transcript: its entry first, so a hub that runs already finds it.
    const before = action.mode === 'resume' ? sessionUsage(record.attempts) : undefined;
    writeEntry(core.store.paths, record.session, n, { host: core.host.key, attemptDir, agent: record.agent, ...(before ? { baseline: before } : {}) });
    files.push([attemptFile(attemptDir, 'hub'), `${core.locks.file(hubLock(core.host.key))}\n${hubSpawnedFile(core.store.paths, core.host.key)}\n`]);
  } else {
    const render = renderArgv(core, attemptDir, record, action.mode);
    if (render) files.push([attemptFile(attemptDir, 'render'), encodeNul(render)]);
  }
  for (const [file, data] of files) writeFileAtomic(file, data, { durable: false });
  const now = isoNow(core);
  const attempt: Attempt = {
    n, cause: action.cause, mode: action.mode, startedAt: now, endedAt: null, exitCode: null, signal: null,
    note: action.note ?? null,
    ...(action.cause === 'follow-up' && action.prompt ? { prompt: action.prompt } : {}),
    host: { key: core.host.key, name: core.host.name },
  };
  const next: TaskRecord = {
    ...record,
    attempts: [...record.attempts, attempt],
    state: action.cause === 'start' || action.cause === 'follow-up' ? 'running' : 'resuming',
    stateReason: action.note ?? (action.cause === 'start' ? null : action.cause === 'follow-up' ? `attempt ${n}: a follow-up in the same session` : `attempt ${n}: ${action.mode === 'resume' ? 'resumed by id' : 'started from the prompt'}`),
    stateSince: now,
    nextAttemptAt: null,
    heldUntil: null,
    updatedAt: now,
  };
  // The caller still holds what lets it act (its leases), after the strays' grace period too.
  fence();
  await core.store.writeAsync(next);
  options.onWritten?.();
  // Once more right before the agent starts: replaced meanwhile (stopped between the two), this
  // process leaves an attempt with no session, which the new holder resumes at once.
  fence();
  if (byHub) ensureRenderHub(core);
  const bash = resolveExecutable('bash', core.env) ?? '/bin/bash';
  const command = runnerCommand(bash, attemptDir, envFile(core, record.session), record.dir, tui ? 'interactive' : 'unattended');
  // Its pane's end wakes the supervisor (./wake.ts): set in the same call, before it can end.
  const then = core.tmux.wakeHooks === true ? wakeHookArgs(record.session, wakeChannel(core)) : [];
  if (sessionExists) {
    await core.tmux.respawnPane(record.session, record.dir, command, then);
  } else {
    await core.tmux.newSession({ session: record.session, cwd: record.dir, command, then });
  }
  core.logger.info(`${record.session}: attempt ${n} (${action.cause}, ${action.mode}) launched`);
  if (!options.quiet) signalSupervisors(core);
  return next;
}

/**
 * A task whose record became unreadable, rebuilt from the copy kept beside its latest attempt's
 * files (the record as last written), with its agent's session id from that attempt's events if
 * the copy did not know it yet; written back. The caller holds the task's lock and has kept the
 * unreadable record aside. Undefined when there is no copy to rebuild from.
 */
export function rebuildRecord(core: Core, session: string): TaskRecord | undefined {
  const found = core.store.fromAttempts(session);
  if (!found) return undefined;
  let record = found.record;
  if (!record.agentSessionId) {
    const id = adapterFor(record.agent).sessionIdFromEvents(readHead(eventsFile(core.store.paths.attemptDir(session, found.attempt)), 50));
    if (id) record = { ...record, agentSessionId: id };
  }
  record = { ...record, updatedAt: isoNow(core) };
  core.store.write(record);
  return record;
}
