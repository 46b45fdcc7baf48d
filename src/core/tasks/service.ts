import * as fs from 'node:fs';
import * as path from 'node:path';
import { adapterFor } from '../agents/registry';
import type { AgentAdapter } from '../agents/types';
import type { Settings } from '../config';
import { TaskError, UsageError } from '../errors';
import type { Logger } from '../log';
import { silentLogger } from '../log';
import type { PaneInfo } from '../tmux/commands';
import { TmuxError } from '../tmux/errors';
import { Tmux } from '../tmux/tmux';
import type { Action, Evaluation } from '../watch/classify';
import { DONE_MARKER, evaluate, WAITING_PASSES, waitingSeen } from '../watch/classify';
import type { Observation } from '../watch/observe';
import { eventsHead, eventsTail, readAttemptFiles } from '../watch/observe';
import type { Policy } from '../watch/policy';
import { writeFileAtomic } from './fsutil';
import type { Lock } from './lock';
import { LockManager } from './lock';
import { AgentId, isAgentId, nameProblem, parseSessionName, sessionName, AGENT_IDS } from './names';
import type { Attempt, TaskRecord, TaskState } from './record';
import { RECORD_VERSION, lastAttempt } from './record';
import { resolveExecutable } from './resolve';
import { encodeEnv, encodeNul, runnerCommand } from './runner';
import { TaskStore } from './store';

export interface StartInput {
  agent: string;
  name: string;
  dir: string;
  prompt: string;
}

/** A task as a user sees it: the record plus what tmux shows now. Also sessions started by hand. */
export interface TaskView {
  name: string;
  session: string;
  agent: AgentId;
  state: TaskState;
  reason: string | null;
  agentSessionId: string | null;
  dir: string | null;
  prompt: string | null;
  createdAt: string | null;
  attempts: Attempt[];
  nextAttemptAt: string | null;
  heldUntil: string | null;
  /** Started by hand the seed's way; the pane is its only signal. */
  adopted: boolean;
  /** The events log of the current attempt, if any. */
  eventsFile: string | null;
  /** tmux has the session now (its pane can be attached or read). */
  hasSession: boolean;
  /** The state as a supervisor recorded it, and since when: what changes are announced from. */
  recorded: { state: TaskState; since: string } | null;
}

export interface ServiceOptions {
  home: string;
  settings: Settings;
  /** The caller's environment: agents are found on its PATH and run with it. */
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  now?: () => number;
  tmux?: Tmux;
  /** Names this process in lock files, e.g. "cli monitor". */
  owner?: string;
}

export function policyFrom(settings: Settings): Policy {
  return {
    intervalMs: settings.intervalMs,
    backoffFactor: settings.backoffFactor,
    maxBackoffMs: settings.maxBackoffMs,
    maxRuntimeMs: settings.maxRuntimeMs,
    maxAttempts: settings.maxAttempts,
  };
}

/** Linux refuses to exec an argument longer than MAX_ARG_STRLEN (32 pages) minus its NUL. */
export const MAX_PROMPT_BYTES = 128 * 1024 - 1;

/** How long a command from a person waits for a supervisor that is acting on the same task. */
const PERSON_LOCK_WAIT_MS = 10_000;

/** Everything that starts, observes and changes tasks; the CLI and the extension both drive this. */
export class TaskService {
  readonly store: TaskStore;
  readonly tmux: Tmux;
  readonly locks: LockManager;
  readonly settings: Settings;
  readonly policy: Policy;
  readonly env: NodeJS.ProcessEnv;
  readonly logger: Logger;
  readonly now: () => number;

  constructor(options: ServiceOptions) {
    this.store = new TaskStore(options.home);
    this.settings = options.settings;
    this.policy = policyFrom(options.settings);
    this.env = options.env ?? process.env;
    this.logger = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
    this.tmux = options.tmux ?? new Tmux({ socket: options.settings.tmuxSocket, logger: this.logger, env: this.env });
    this.locks = new LockManager(this.store.paths.locksDir, options.owner ?? `pid ${process.pid}`);
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }

  // ---- start ------------------------------------------------------------------------------

  /** Checks a start request without creating anything; throws UsageError for bad input. */
  validateStart(input: StartInput): { agent: AgentId; dir: string } {
    if (!isAgentId(input.agent)) {
      throw new UsageError(`unknown agent "${input.agent}": choose one of ${AGENT_IDS.join(', ')}`);
    }
    const problem = nameProblem(input.name);
    if (problem) throw new UsageError(`invalid task name "${input.name}": ${problem}`);
    const dir = path.resolve(input.dir);
    let stat: fs.Stats | undefined;
    try {
      stat = fs.statSync(dir);
    } catch {
      stat = undefined;
    }
    if (!stat?.isDirectory()) throw new UsageError(`folder not found: ${dir}`);
    if (input.prompt.trim() === '') throw new UsageError('the prompt is empty');
    // An argv element cannot hold a NUL byte: refuse rather than cut the prompt short.
    if (input.prompt.includes('\0')) throw new UsageError('the prompt contains a NUL byte, which no program can receive as an argument');
    const bytes = Buffer.byteLength(input.prompt);
    if (bytes > MAX_PROMPT_BYTES) {
      throw new UsageError(`the prompt is ${bytes} bytes; one argument can hold at most ${MAX_PROMPT_BYTES} (put the details in a file and refer to it)`);
    }
    return { agent: input.agent, dir };
  }

  /** The agent's executable on the caller's PATH, or a TaskError saying what to install. */
  resolveAgent(agent: AgentId): string {
    const configured = this.settings.agents[agent].executable;
    const found = resolveExecutable(configured, this.env);
    if (!found) {
      const how: Record<AgentId, string> = {
        codex: 'npm install -g @openai/codex',
        claude: 'npm install -g @anthropic-ai/claude-code',
        opencode: 'npm install -g opencode-ai',
        pi: 'npm install -g @mariozechner/pi-coding-agent',
      };
      throw new TaskError(
        `${configured} was not found on PATH: install ${adapterFor(agent).displayName} (${how[agent]}) or set agents.${agent}.executable`,
        'missing-tool',
      );
    }
    return found;
  }

  async start(input: StartInput): Promise<TaskRecord> {
    const { agent, dir } = this.validateStart(input);
    const session = sessionName(agent, input.name);
    const executable = this.resolveAgent(agent);
    await this.tmux.version(); // tmux missing: one clear TmuxError before anything is made
    this.store.init();
    const lock = this.locks.tryAcquire(session);
    if (!lock) throw new TaskError(`task ${session} is being started or changed by another process`, 'conflict');
    try {
      if (this.store.exists(session)) {
        throw new TaskError(`a task named ${session} already exists (use another name, or "kill ${session} --forget" first)`, 'conflict');
      }
      if (await this.tmux.hasSession(session)) {
        throw new TaskError(`a tmux session named ${session} already exists`, 'conflict');
      }
      const adapter = adapterFor(agent);
      const taskDir = this.store.paths.taskDir(session);
      const prepared = adapter.prepare({ dir, taskDir, env: this.env });
      const now = this.iso();
      const record: TaskRecord = {
        version: RECORD_VERSION,
        name: input.name,
        agent,
        session,
        dir,
        prompt: input.prompt,
        createdAt: now,
        agentSessionId: prepared.agentSessionId,
        agentData: prepared.agentData,
        attempts: [],
        state: 'running',
        stateReason: null,
        stateSince: now,
        nextAttemptAt: null,
        heldUntil: null,
        killedByUser: false,
        agentArgs: this.agentArgs(agent),
        executable,
        policy: this.policy,
        adopted: false,
        updatedAt: now,
      };
      try {
        writeFileAtomic(this.envFile(session), encodeEnv(this.env));
        return await this.launch(record, { kind: 'launch', cause: 'start', mode: 'start' }, false);
      } catch (e) {
        // Nothing half-made: no record without a session, no session without a record.
        await this.tmux.killSession(session).catch(() => undefined);
        this.store.remove(session);
        throw e;
      }
    } finally {
      lock.release();
    }
  }

  private agentArgs(agent: AgentId): TaskRecord['agentArgs'] {
    const a = this.settings.agents[agent];
    return { modeArgs: a.modeArgs, extraArgs: a.extraArgs, continuePrompt: this.settings.continuePrompt };
  }

  /** Tells every supervisor watching this state dir to look now. Best effort. */
  signalSupervisors(): void {
    try {
      fs.writeFileSync(this.store.paths.wakeFile, `${process.pid} ${this.now()}\n`, { mode: 0o600 });
    } catch {
      /* the timer still runs */
    }
  }

  private envFile(session: string): string {
    return path.join(this.store.paths.taskDir(session), 'env');
  }

  /**
   * Starts the next attempt. The caller holds the task's lock. The record is written before tmux
   * is touched, so a supervisor that dies in between leaves an attempt that never started (seen
   * and handled), never an agent nobody knows about.
   */
  async launch(record: TaskRecord, action: Extract<Action, { kind: 'launch' }>, sessionExists: boolean): Promise<TaskRecord> {
    const adapter = adapterFor(record.agent);
    const agentSettings = { executable: record.executable, ...record.agentArgs };
    const n = record.attempts.length + 1;
    const attemptDir = this.store.paths.attemptDir(record.session, n);
    fs.mkdirSync(attemptDir, { recursive: true, mode: 0o700 });
    if (action.mode === 'start' && record.attempts.length > 0) {
      // Started again from the prompt: the earlier session was never saved, so its id is void.
      const fresh = adapter.prepare({ dir: record.dir, taskDir: this.store.paths.taskDir(record.session), env: this.env });
      record = { ...record, agentSessionId: fresh.agentSessionId, agentData: { ...record.agentData, ...fresh.agentData } };
    }
    const prompt = { text: action.mode === 'resume' ? record.agentArgs.continuePrompt : record.prompt };
    if (adapter.promptOnStdin(prompt.text)) writeFileAtomic(path.join(attemptDir, 'stdin'), prompt.text);
    const args = action.mode === 'resume'
      ? adapter.resumeArgs(record, agentSettings, prompt)
      : adapter.startArgs(record, agentSettings, prompt);
    writeFileAtomic(path.join(attemptDir, 'argv'), encodeNul([record.executable, ...args]));
    const now = this.iso();
    const attempt: Attempt = {
      n, cause: action.cause, mode: action.mode, startedAt: now, endedAt: null, exitCode: null, signal: null,
      note: action.note ?? null,
    };
    const next: TaskRecord = {
      ...record,
      attempts: [...record.attempts, attempt],
      state: action.cause === 'start' ? 'running' : 'resuming',
      stateReason: action.note ?? (action.cause === 'start' ? null : `attempt ${n}: ${action.mode === 'resume' ? 'resumed by id' : 'started from the prompt'}`),
      stateSince: now,
      nextAttemptAt: null,
      heldUntil: null,
      updatedAt: now,
    };
    this.store.write(next);
    const bash = resolveExecutable('bash', this.env) ?? '/bin/bash';
    const command = runnerCommand(bash, attemptDir, this.envFile(record.session), record.dir);
    if (sessionExists) {
      await this.tmux.respawnPane(record.session, record.dir, command);
    } else {
      await this.tmux.newSession({ session: record.session, cwd: record.dir, command });
    }
    this.logger.info(`${record.session}: attempt ${n} (${action.cause}, ${action.mode}) launched`);
    this.signalSupervisors();
    return next;
  }

  // ---- observe ----------------------------------------------------------------------------

  /** Reads what the pane and files show of one task. `panes` is one `list-panes -a` for the whole pass. */
  observe(record: TaskRecord, panes: Map<string, PaneInfo>, extra: Partial<Observation> = {}): Observation {
    const attempt = lastAttempt(record);
    const dir = attempt ? this.store.paths.attemptDir(record.session, attempt.n) : undefined;
    const files = dir ? readAttemptFiles(dir) : { started: false, pid: null, exitCode: null, exitAt: null, serverPid: null };
    const head = dir && !record.agentSessionId ? eventsHead(dir) : [];
    // When the run has just ended, read far enough back to see its last event whole (pi's
    // agent_end carries the whole conversation).
    const justEnded = attempt && !attempt.endedAt && files.exitCode !== null;
    const tail = dir ? eventsTail(dir, 40, justEnded ? 4 * 1024 * 1024 : 16 * 1024) : [];
    const anyPane = panes.values().next().value as PaneInfo | undefined;
    return { pane: panes.get(record.session), attempt: files, eventsHead: head, eventsTail: tail, serverPid: anyPane?.serverPid, ...extra };
  }

  evaluate(record: TaskRecord, obs: Observation): Evaluation {
    return evaluate(record, obs, this.now(), adapterFor(record.agent), record.policy ?? this.policy);
  }

  /** The record with an evaluation written into it (state, attempt end, session id). */
  applyEvaluation(record: TaskRecord, ev: Evaluation): TaskRecord {
    const now = this.iso();
    const attempts = ev.ended
      ? record.attempts.map((a, i) =>
          i === record.attempts.length - 1 ? { ...a, endedAt: ev.ended!.at, exitCode: ev.ended!.exitCode, signal: ev.ended!.signal } : a)
      : record.attempts;
    const stateChanged = ev.state !== record.state;
    return {
      ...record,
      attempts,
      agentSessionId: ev.agentSessionId ?? record.agentSessionId,
      state: ev.state,
      stateReason: ev.reason,
      stateSince: stateChanged ? now : record.stateSince,
      nextAttemptAt: ev.nextAttemptAt,
      heldUntil: ev.heldUntil,
      updatedAt: now,
    };
  }

  /** Every task as it is now (one tmux call), and seed-style sessions started by hand. Changes nothing. */
  async views(): Promise<{ views: TaskView[]; corrupt: { session: string; problem: string }[] }> {
    // Records first: a task's record is written before its session exists, so every session a
    // record names that exists by now is in the pane list taken after it.
    const { records, corrupt, newer, unreadable } = this.store.list();
    const panes = await this.tmux.listPanes();
    const views: TaskView[] = [];
    const known = new Set<string>();
    for (const record of records) {
      known.add(record.session);
      // The supervisor saw a prompt for a person on passes in a row (the streak it keeps): a view
      // takes its word for it while the pane lives, instead of reading one pass's "running".
      const ev = this.evaluate(record, this.observe(record, panes, record.state === 'waiting' ? { waitingStreak: WAITING_PASSES } : {}));
      views.push(this.view(this.applyEvaluation(record, ev), panes.has(record.session), record));
    }
    // Records this build cannot read right now are tasks all the same: never "started by hand".
    const opaque = [
      ...newer.map((n) => ({ session: n.session, reason: `written by a newer resilient-agent (record version ${n.version}): update to see and supervise it here` })),
      ...unreadable.map((u) => ({ session: u.session, reason: `its record cannot be read just now (${u.problem})` })),
    ];
    for (const { session, reason } of opaque) {
      const parsed = parseSessionName(session);
      if (!parsed) continue;
      known.add(session);
      views.push({
        name: parsed.name, session, agent: parsed.agent, state: 'held', reason, agentSessionId: null, dir: null, prompt: null,
        createdAt: null, attempts: [], nextAttemptAt: null, heldUntil: null, adopted: false, eventsFile: null, hasSession: panes.has(session), recorded: null,
      });
    }
    for (const [session, pane] of panes) {
      if (known.has(session)) continue;
      const parsed = parseSessionName(session);
      if (!parsed) continue;
      const tail = await this.capture(session, 30).catch(() => [] as string[]);
      const { state, reason } = classifyAdopted(adapterFor(parsed.agent), pane, tail);
      views.push({
        name: parsed.name, session, agent: parsed.agent, state, reason,
        agentSessionId: this.seedSessionId(parsed.agent, parsed.name) ?? null,
        dir: null, prompt: null, createdAt: new Date(pane.created * 1000).toISOString(), attempts: [],
        nextAttemptAt: null, heldUntil: null, adopted: true, eventsFile: null, hasSession: true, recorded: null,
      });
    }
    return { views, corrupt };
  }

  /** `stored`: the record as written, when `record` is a fresher evaluation of it. */
  view(record: TaskRecord, hasSession = true, stored: TaskRecord = record): TaskView {
    const attempt = lastAttempt(record);
    return {
      name: record.name, session: record.session, agent: record.agent, state: record.state, reason: record.stateReason,
      agentSessionId: record.agentSessionId, dir: record.dir, prompt: record.prompt, createdAt: record.createdAt,
      attempts: record.attempts, nextAttemptAt: record.nextAttemptAt, heldUntil: record.heldUntil, adopted: record.adopted,
      eventsFile: attempt ? path.join(this.store.paths.attemptDir(record.session, attempt.n), 'events.jsonl') : null,
      hasSession,
      recorded: { state: stored.state, since: stored.stateSince },
    };
  }

  private seedSessionId(agent: AgentId, name: string): string | undefined {
    const file = adapterFor(agent).seedSessionIdFile?.(name);
    if (!file) return undefined;
    return readSeedIdFile(file);
  }

  /** The pane's last lines, without the blank rows tmux pads the screen with. */
  async capture(session: string, lines: number): Promise<string[]> {
    return trimPadding((await this.tmux.capturePane(session, lines)).split('\n'));
  }

  /** Many panes' last lines in one tmux call. */
  async captureMany(sessions: readonly string[], lines: number): Promise<Map<string, string[]>> {
    const raw = await this.tmux.captureMany(sessions, lines);
    return new Map([...raw].map(([s, text]) => [s, trimPadding(text.split('\n'))]));
  }

  /** A task by its name or its full session name; a person's argument. */
  async find(nameOrSession: string): Promise<TaskView> {
    const { views } = await this.views();
    const exact = views.find((v) => v.session === nameOrSession);
    if (exact) return exact;
    const byName = views.filter((v) => v.name === nameOrSession);
    if (byName.length === 1) return byName[0];
    if (byName.length > 1) {
      throw new UsageError(`"${nameOrSession}" names several tasks: ${byName.map((v) => v.session).join(', ')}; give the session name`);
    }
    throw new TaskError(`no task named ${nameOrSession}`, 'not-found');
  }

  // ---- a person's actions -----------------------------------------------------------------

  /**
   * A person changed the recovery settings: every unfinished task is supervised by them from
   * now on, by whichever supervisor (each re-reads its tasks' records every pass). Returns the
   * sessions changed; a task busy under another supervisor's lock is retried briefly.
   */
  async applyPolicy(policy: Policy): Promise<string[]> {
    const changed: string[] = [];
    for (const record of this.store.list().records) {
      if (record.state === 'done' || record.state === 'gave-up') continue;
      if (JSON.stringify(record.policy) === JSON.stringify(policy)) continue;
      const lock = await this.locks.acquire(record.session, PERSON_LOCK_WAIT_MS);
      if (!lock) continue;
      try {
        const fresh = this.store.get(record.session);
        if (!fresh || fresh.state === 'done' || fresh.state === 'gave-up') continue;
        this.store.write({ ...fresh, policy, updatedAt: this.iso() });
        changed.push(record.session);
      } finally {
        lock.release();
      }
    }
    if (changed.length) this.signalSupervisors();
    return changed;
  }

  private async personLock(session: string): Promise<Lock> {
    const r = this.store.read(session);
    if (r.kind === 'newer') {
      throw new TaskError(`task ${session} was written by a newer resilient-agent (record version ${r.version}): use that version for it`, 'refused');
    }
    this.store.init();
    const lock = await this.locks.acquire(session, PERSON_LOCK_WAIT_MS);
    if (!lock) throw new TaskError(`task ${session} is busy: another supervisor is acting on it; try again`, 'conflict');
    return lock;
  }

  async logs(nameOrSession: string, lines: number): Promise<string> {
    const task = await this.find(nameOrSession);
    try {
      return (await this.capture(task.session, lines)).join('\n');
    } catch (e) {
      if (e instanceof TmuxError && (e.cause === 'no-such-session' || e.cause === 'no-server')) {
        throw new TaskError(`the tmux session ${task.session} is gone (task ${task.state}); its events are in ${task.eventsFile ?? 'no file'}`, 'not-found');
      }
      throw e;
    }
  }

  async send(nameOrSession: string, text: string): Promise<void> {
    const task = await this.find(nameOrSession);
    if (!(await this.tmux.hasSession(task.session))) throw new TaskError(`the tmux session ${task.session} is gone`, 'not-found');
    await this.tmux.sendLine(task.session, text);
  }

  /** Resume now, by the agent's own command, whatever the backoff says. Refused while it runs. */
  async resume(nameOrSession: string): Promise<TaskRecord> {
    const task = await this.find(nameOrSession);
    const lock = await this.personLock(task.session);
    try {
      // Decided under the lock: a concurrent resume may have taken a hand-started session over
      // (it has a record now, and its agent runs) since `find` looked.
      const record = this.store.get(task.session);
      if (!record) {
        if (task.adopted) return await this.adoptAndResume(task);
        throw new TaskError(`no task named ${nameOrSession}`, 'not-found');
      }
      const panes = await this.tmux.listPanes();
      const ev = this.evaluate({ ...record, killedByUser: false, state: record.state === 'held' || record.state === 'gave-up' ? 'failed' : record.state }, this.observe(record, panes));
      const current = this.applyEvaluation(record, ev);
      if (current.state === 'running' || current.state === 'waiting' || (current.state === 'resuming' && ev.nextAttemptAt === null)) {
        throw new TaskError(`task ${task.session} is ${current.state}; nothing to resume`, 'refused');
      }
      if (current.state === 'done') throw new TaskError(`task ${task.session} is done; nothing to resume`, 'refused');
      const adapter = adapterFor(record.agent);
      const check = adapter.canResume(current);
      const action: Extract<Action, { kind: 'launch' }> = check.ok
        ? { kind: 'launch', cause: 'manual', mode: 'resume' }
        : { kind: 'launch', cause: 'manual', mode: 'start', note: `started again from its prompt: ${check.why ?? 'no session to resume'}` };
      return await this.launch({ ...current, killedByUser: false }, action, panes.has(record.session));
    } finally {
      lock.release();
    }
  }

  /**
   * A session started by hand the seed's way is taken over on resume: a record is made for it and
   * the agent's resume runs in its pane by our runner (no command typed into the user's shell).
   * The caller holds the task's lock.
   */
  private async adoptAndResume(task: TaskView): Promise<TaskRecord> {
    if (task.state === 'running' || task.state === 'waiting') throw new TaskError(`${task.session} is ${task.state}; nothing to resume`, 'refused');
    if (task.state === 'done') throw new TaskError(`${task.session} is done; nothing to resume`, 'refused');
    const adapter = adapterFor(task.agent);
    const id = task.agentSessionId;
    if (!id) {
      throw new TaskError(
        `${task.session} was started by hand and its ${adapter.displayName} session id is unknown: resume it by hand (it cannot be resumed by exact id)`,
        'refused',
      );
    }
    const executable = this.resolveAgent(task.agent);
    const dir = await this.tmux.panePath(task.session);
    {
      const now = this.iso();
      const record: TaskRecord = {
        version: RECORD_VERSION, name: task.name, agent: task.agent, session: task.session, dir,
        prompt: '', createdAt: task.createdAt ?? now, agentSessionId: id, agentData: {}, attempts: [],
        state: 'failed', stateReason: 'started by hand', stateSince: now, nextAttemptAt: null, heldUntil: null,
        killedByUser: false, agentArgs: this.agentArgs(task.agent), executable, policy: this.policy, adopted: true, updatedAt: now,
      };
      writeFileAtomic(this.envFile(task.session), encodeEnv(this.env));
      try {
        return await this.launch(record, { kind: 'launch', cause: 'manual', mode: 'resume' }, true);
      } catch (e) {
        this.store.remove(task.session);
        throw e;
      }
    }
  }

  /** Kills the session (and so the agent); the task is held and never resumed by a supervisor. */
  async kill(nameOrSession: string, forget: boolean): Promise<{ session: string; killed: boolean }> {
    const task = await this.find(nameOrSession);
    const lock = await this.personLock(task.session);
    try {
      // A task with a record (one taken over from a hand-started session too) is held as killed
      // by the user before its session goes, so no supervisor re-creates it; a hand-started
      // session without one only has its session to kill. With --forget the record goes last:
      // a process that dies in between leaves a task held as killed, never one to re-create.
      const record = this.store.get(task.session);
      if (record) {
        const now = this.iso();
        const finished = record.state === 'done' || record.state === 'gave-up';
        this.store.write({
          ...record,
          killedByUser: !finished,
          state: finished ? record.state : 'held',
          stateReason: finished ? record.stateReason : 'killed by the user',
          stateSince: now,
          nextAttemptAt: null,
          updatedAt: now,
        });
      }
      const killed = await this.tmux.killSession(task.session);
      if (forget) this.store.remove(task.session);
      this.signalSupervisors();
      return { session: task.session, killed };
    } finally {
      lock.release();
    }
  }
}

/**
 * The seed keeps a session id in a file under /tmp, where anyone can put a file first. It is
 * believed only when it is a regular file (not a symlink to something else), owned by this user,
 * writable by nobody else, and holds nothing but an id: else a secret could end up in `list`
 * and in the agent's argv (visible in `ps`).
 */
export function readSeedIdFile(file: string): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch {
    return undefined; // absent, or a symlink (ELOOP)
  }
  try {
    const st = fs.fstatSync(fd);
    const uid = process.getuid?.();
    if (!st.isFile() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o022) !== 0 || st.size > 256) return undefined;
    const id = fs.readFileSync(fd, 'utf8').trim();
    return /^[A-Za-z0-9._:-]{1,200}$/.test(id) ? id : undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/** Drops blank screen rows at the end, and those between the output and tmux's "Pane is dead" line. */
export function trimPadding(lines: string[]): string[] {
  const out = [...lines];
  while (out.length && out[out.length - 1].trim() === '') out.pop();
  const last = out[out.length - 1];
  if (last !== undefined && /^Pane is dead/.test(last)) {
    out.pop();
    while (out.length && out[out.length - 1].trim() === '') out.pop();
    out.push('', last);
  }
  return out;
}

/** The seed's pane rules, the only signal a session started by hand gives. */
export function classifyAdopted(adapter: AgentAdapter, pane: PaneInfo, tail: readonly string[]): { state: TaskState; reason: string | null } {
  const lines = tail.map((l) => l.trimEnd()).filter((l) => l.trim() !== '');
  const last = lines[lines.length - 1] ?? '';
  if (lines.some((l) => l.trim() === DONE_MARKER) && !pane.dead) {
    const markerAt = lines.map((l) => l.trim()).lastIndexOf(DONE_MARKER);
    if (markerAt >= lines.length - 3) return { state: 'done', reason: 'done marker seen' };
  }
  if (pane.dead) {
    return pane.deadStatus === 0 ? { state: 'done', reason: null } : { state: 'failed', reason: `the pane's program ended (${pane.deadStatus ?? `signal ${pane.deadSignal}`})` };
  }
  if (/[$%#>]\s*$/.test(last)) return { state: 'failed', reason: 'the shell prompt is back without the done marker' };
  if (waitingSeen(adapter, lines)) return { state: 'waiting', reason: 'the agent waits for input' };
  return { state: 'running', reason: null };
}
