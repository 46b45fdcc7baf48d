import fs = require('node:fs');
import path = require('node:path');
import { adapterFor } from '../agents/registry';
import { applyEvaluation } from '../decide/apply';
import type { Action } from '../decide/classify';
import type { Policy } from '../decide/policy';
import { TaskError, word } from '../model/errors';
import type { TaskRecord, Worktree } from '../model/record';
import { isFinished, isInteractive, newRecord } from '../model/record';
import { heldByAgent } from '../model/holds';
import type { TaskView } from '../model/views';
import type { Lock } from '../store/lock';
import { TmuxError } from '../tmux/errors';
import type { Core, CoreOptions } from './core';
import { createCore, isoNow } from './core';
import { interactiveHookLog, interactiveLog, interactiveTranscript, taskEvents, taskTranscript } from './transcript';
import { eventsFile, readAttemptFiles } from '../store/attempt';
import { agentArgs, endAttempt, endLaunches, launch, launchesInFlight, resolveAgent, signalSupervisors, writeTaskEnv } from './launch';
import { capture, evaluateTask, find, observe, ownerElsewhere, view, views } from './observe';
import type { StartInput } from './start';
import { startTask, validatePrompt } from './start';
import { moveQueued, startOrQueue } from './queue';
import { releaseWorktree, worktreeDiff } from './worktree';

export type ServiceOptions = CoreOptions;

/** A person's action stops before it acts if its lock was taken over meanwhile (it was stopped for long). */
function fenceBy(lock: Lock): () => void {
  return () => {
    if (lock.check() === 'lost') throw new TaskError(`${path.basename(lock.file, '.lock')}: this command was paused until another process took over the task; that one decides now (see status)`, 'conflict');
  };
}

/** How long a command from a person waits for a supervisor that is acting on the same task. */
const PERSON_LOCK_WAIT_MS = 10_000;
/** The output channel mirrors a task's transcript up to this many of its last lines. */
const MIRROR_LINES = 5000;
/** `send` to a TUI: the text, then Enter this much later (sent together, the Enter is lost in a paste). */
const TUI_ENTER_DELAY_MS = 400;

/**
 * What a person does to tasks, the CLI's commands and the extension's alike: start, look, send,
 * resume, kill, change the recovery settings. Each action on a task is decided under its lock
 * from the record as it is then. Supervision itself is the monitor's (./monitor.ts).
 */
// The class has every member of Core (filled in by its constructor).
export interface TaskService extends Core {}
export class TaskService {
  constructor(options: ServiceOptions) {
    Object.assign(this, createCore(options));
  }

  private iso(): string {
    return isoNow(this);
  }

  start(input: StartInput): Promise<TaskRecord> {
    return startTask(this, input);
  }

  /** Every task as it is now (one tmux call), and seed-style sessions started by hand. Changes nothing. */
  views(): Promise<{ views: TaskView[]; corrupt: { session: string; problem: string }[] }> {
    return views(this);
  }

  view(record: TaskRecord): TaskView {
    return view(this, record);
  }

  /** A task by its name or its full session name; a person's argument. */
  find(nameOrSession: string): Promise<TaskView> {
    return find(this, nameOrSession);
  }

  /** The pane's last lines, without the blank rows tmux pads the screen with. */
  capture(session: string, lines: number): Promise<string[]> {
    return capture(this, session, lines);
  }

  signalSupervisors(): void {
    signalSupervisors(this);
  }

  /**
   * A person changed the recovery settings: every unfinished task is supervised by them from
   * now on, by whichever supervisor (each re-reads its tasks' records every pass). Returns the
   * sessions changed; a task busy under another supervisor's lock is retried briefly.
   */
  async applyPolicy(policy: Policy): Promise<string[]> {
    const changed: string[] = [];
    for (const record of this.store.list().records) {
      if (isFinished(record.state)) continue;
      if (JSON.stringify(record.policy) === JSON.stringify(policy)) continue;
      const lock = await this.locks.acquire(record.session, PERSON_LOCK_WAIT_MS);
      if (!lock) continue;
      try {
        const fresh = this.store.get(record.session);
        if (!fresh || isFinished(fresh.state)) continue;
        this.store.write({ ...fresh, policy, updatedAt: this.iso() });
        changed.push(record.session);
      } finally {
        lock.release();
      }
    }
    if (changed.length) this.signalSupervisors();
    return changed;
  }

  /** Another host runs it and lives: its pane and processes are that host's to act on. */
  private refuseElsewhere(record: TaskRecord | undefined, action: string): void {
    const owner = record && ownerElsewhere(this, record);
    if (owner?.alive) {
      throw new TaskError(`task ${record!.session} runs on ${owner.host}, whose supervisor is alive: ${action} it there (resilient-agent ${action} ${record!.name} on ${owner.host})`, 'refused');
    }
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

  /**
   * A task's transcript straight from its files (no tmux call), and a signature that changes when
   * it may have: undefined for a session started by hand (it has no events of its own).
   */
  transcriptOf(session: string, since?: string): { text: string; signature: string } | undefined {
    const record = this.store.get(session);
    if (!record) return undefined;
    const a = record.attempts[record.attempts.length - 1];
    const log = isInteractive(record) ? interactiveLog(this, record) : undefined;
    const file = log ?? (a ? eventsFile(this.store.paths.attemptDir(session, a.n)) : undefined);
    const size = file ? fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0 : 0;
    const signature = `${record.updatedAt}:${record.attempts.length}:${log ?? ''}:${size}`;
    if (signature === since) return { text: '', signature };
    // Its last lines: a long attempt's file is read from its end, never whole.
    const lines = (log && interactiveTranscript(this, record, MIRROR_LINES + 1)) || taskTranscript(this, record, MIRROR_LINES + 1);
    if (lines.length > MIRROR_LINES) lines.splice(0, lines.length - MIRROR_LINES, `· only the last ${MIRROR_LINES} lines are shown here (resilient-agent logs ${record.name} --lines N shows more)`);
    return { text: lines.join('\n'), signature };
  }

  /**
   * The last lines of what a task's agent said and did: its transcript (readable, every attempt),
   * its raw JSON events, or its pane as tmux has it. A session started by hand has only its pane.
   */
  async logs(nameOrSession: string, lines: number, kind: 'transcript' | 'events' | 'pane' = 'transcript'): Promise<string> {
    const task = await find(this, nameOrSession);
    const record = task.adopted ? undefined : this.store.get(task.session);
    // An interactive task's transcript is its agent's own log of the session (else its TUI, the pane); its events, what its hooks said.
    if (kind === 'events' && record && isInteractive(record)) return interactiveHookLog(this, record, lines).join('\n');
    const conversation = kind === 'transcript' && record && isInteractive(record) ? interactiveTranscript(this, record, lines) : undefined;
    if (conversation) return conversation.join('\n');
    if (kind !== 'pane' && record && !isInteractive(record)) {
      return (kind === 'events' ? taskEvents(this, record, lines) : taskTranscript(this, record, lines)).join('\n');
    }
    try {
      return (await capture(this, task.session, lines)).join('\n');
    } catch (e) {
      if (e instanceof TmuxError && (e.cause === 'no-such-session' || e.cause === 'no-server')) {
        throw new TaskError(`the tmux session ${task.session} is gone (task ${task.state}); its events are in ${task.eventsFile ?? 'no file'}`, 'not-found');
      }
      throw e;
    }
  }

  async send(nameOrSession: string, text: string): Promise<void> {
    const task = await find(this, nameOrSession);
    const record = this.store.get(task.session);
    this.refuseElsewhere(record, 'send');
    if (!(await this.tmux.hasSession(task.session))) throw new TaskError(`the tmux session ${task.session} is gone`, 'not-found');
    // A TUI (an interactive task, or one started by hand) drops an Enter that comes with the text.
    await this.tmux.sendLine(task.session, text, !record || isInteractive(record) ? TUI_ENTER_DELAY_MS : 0);
  }

  /**
   * Resume now, by the agent's own command, whatever the backoff says. Refused while it runs.
   * `interactive`: a session started by hand is taken over as an interactive task (its agent's
   * TUI, supervised by its hooks); a task of ours keeps the mode it was started in.
   */
  async resume(nameOrSession: string, opts: { interactive?: boolean } = {}): Promise<TaskRecord> {
    const task = await find(this, nameOrSession);
    const lock = await this.personLock(task.session);
    try {
      // Decided under the lock: a concurrent resume may have taken a hand-started session over
      // (it has a record now, and its agent runs) since `find` looked.
      const record = this.store.get(task.session);
      if (record && opts.interactive && !isInteractive(record)) {
        throw new TaskError(`task ${task.session} was started unattended and stays so: --interactive takes over a session started by hand`, 'refused');
      }
      if (!record) {
        if (task.adopted) return await this.adoptAndResume(task, opts.interactive === true);
        // A task whose record cannot be used here (unreadable, kept aside): the view says why.
        throw new TaskError(task.reason ? `task ${task.session} cannot be resumed: ${task.reason}` : `no task named ${word(nameOrSession)}`, task.reason ? 'refused' : 'not-found');
      }
      this.refuseElsewhere(record, 'resume');
      if (record.state === 'queued') {
        throw new TaskError(`task ${task.session} is queued (${record.stateReason ?? 'waiting for a slot'}): resilient-agent queue start ${record.name} starts it now, beyond the limit`, 'refused');
      }
      // Killed while it was queued: it never ran, so it goes back to the queue (or starts) as a start.
      if (record.attempts.length === 0) {
        return await startOrQueue(this, { record: { ...record, killedByUser: false }, cause: 'start', sessionExists: false, fence: fenceBy(lock) });
      }
      const panes = await this.tmux.listPanes();
      const ev = evaluateTask(this, { ...record, killedByUser: false, state: record.state === 'held' || record.state === 'gave-up' ? 'failed' : record.state }, observe(this, record, panes));
      const current = applyEvaluation(record, ev, this.iso());
      if (current.state === 'running' || current.state === 'waiting' || current.state === 'idle' || (current.state === 'resuming' && ev.nextAttemptAt === null)) {
        throw new TaskError(`task ${task.session} is ${current.state}; nothing to resume`, 'refused');
      }
      // Its agent runs and continues by itself at the reset: a second one would run the session twice.
      if (heldByAgent(current)) throw new TaskError(`task ${task.session} runs: ${current.stateReason}; it goes on by itself (kill it to stop it)`, 'refused');
      if (current.state === 'done') throw new TaskError(`task ${task.session} is done; nothing to resume`, 'refused');
      const adapter = adapterFor(record.agent);
      const check = adapter.canResume(current);
      const action: Extract<Action, { kind: 'launch' }> = check.ok
        ? { kind: 'launch', cause: 'manual', mode: 'resume' }
        : { kind: 'launch', cause: 'manual', mode: 'start', note: `started again from its prompt: ${check.why ?? 'no session to resume'}` };
      return await launch(this, { ...current, killedByUser: false }, action, panes.has(record.session), fenceBy(lock));
    } finally {
      lock.release();
    }
  }

  /**
   * A follow-up: the agent's own resume of the task's exact session, told `prompt`, on a task that
   * has stopped (done, held, gave up, failed); an interactive task idle at its prompt is typed it. Supervised again as after a start, with a fresh
   * attempt budget and wall clock; a crash during it resumes with the continue prompt.
   */
  async followUp(nameOrSession: string, prompt: string, now = false): Promise<TaskRecord> {
    validatePrompt(prompt);
    const task = await find(this, nameOrSession);
    const lock = await this.personLock(task.session);
    try {
      const record = this.store.get(task.session);
      if (!record) {
        throw new TaskError(`${task.session} was started by hand: resume it once (resilient-agent resume ${task.name}) before a follow-up`, 'refused');
      }
      this.refuseElsewhere(record, 'continue');
      if (record.state === 'queued') throw new TaskError(`task ${task.session} is queued and has not started yet: a follow-up can wait until it has run`, 'refused');
      const panes = await this.tmux.listPanes();
      const ev = evaluateTask(this, record, observe(this, record, panes));
      const current = applyEvaluation(record, ev, this.iso());
      // An interactive agent at its prompt: the follow-up is typed into its TUI, as a person would.
      if (isInteractive(current) && current.state === 'idle' && panes.get(current.session)?.dead === false) {
        await this.tmux.sendLine(current.session, prompt, TUI_ENTER_DELAY_MS);
        return current;
      }
      if (current.state === 'running' || current.state === 'waiting' || current.state === 'idle' || (current.state === 'resuming' && ev.nextAttemptAt === null) || heldByAgent(current)) {
        throw new TaskError(`task ${task.session} is still running: use send to talk to it`, 'refused');
      }
      const check = adapterFor(record.agent).canResume(current);
      if (!check.ok) {
        throw new TaskError(`task ${task.session} has no ${adapterFor(record.agent).displayName} session to continue (${check.why ?? 'none was saved'}): start a new task with this prompt`, 'refused');
      }
      const next = { ...current, killedByUser: false, heldUntil: null };
      // Queued like a start when this machine has no slot for it.
      return await startOrQueue(this, { record: next, cause: 'follow-up', prompt, now, sessionExists: panes.has(record.session), fence: fenceBy(lock) });
    } finally {
      lock.release();
    }
  }

  /**
   * A session started by hand the seed's way is taken over on resume: a record is made for it and
   * the agent's resume runs in its pane by our runner (no command typed into the user's shell).
   * The caller holds the task's lock.
   */
  private async adoptAndResume(task: TaskView, interactive: boolean): Promise<TaskRecord> {
    if (task.state === 'running' || task.state === 'waiting' || task.state === 'idle') throw new TaskError(`${task.session} is ${task.state}; nothing to resume`, 'refused');
    if (task.state === 'done') throw new TaskError(`${task.session} is done; nothing to resume`, 'refused');
    const adapter = adapterFor(task.agent);
    if (interactive && !adapter.interactive) throw new TaskError(`${adapter.displayName} has no interactive tasks yet: resume ${task.name} without --interactive`, 'refused');
    const id = task.agentSessionId;
    if (!id) {
      throw new TaskError(
        `${task.session} was started by hand and its ${adapter.displayName} session id is unknown: resume it by hand (it cannot be resumed by exact id)`,
        'refused',
      );
    }
    const executable = resolveAgent(this, task.agent);
    const dir = await this.tmux.panePath(task.session);
    {
      const now = this.iso();
      const record = newRecord({
        name: task.name, agent: task.agent, dir, prompt: '', now, createdAt: task.createdAt ?? now, agentSessionId: id,
        state: 'failed', stateReason: 'started by hand', agentArgs: agentArgs(this, task.agent), executable, policy: this.policy, adopted: true,
        ...(interactive ? { mode: 'interactive' as const } : {}),
      });
      writeTaskEnv(this, task.session);
      try {
        return await launch(this, record, { kind: 'launch', cause: 'manual', mode: 'resume' }, true);
      } catch (e) {
        this.store.remove(task.session);
        throw e;
      }
    }
  }

  /** A queued task started now, beyond the limits (said in its attempt's note). */
  async startQueuedNow(nameOrSession: string): Promise<TaskRecord> {
    const task = await find(this, nameOrSession);
    const lock = await this.personLock(task.session);
    try {
      const record = this.store.get(task.session);
      if (!record?.queue || record.state !== 'queued') throw new TaskError(`task ${task.session} is not queued (it is ${task.state})`, 'refused');
      const panes = await this.tmux.listPanes();
      return await startOrQueue(this, { record, cause: record.queue.cause, prompt: record.queue.prompt, now: true, sessionExists: panes.has(record.session), fence: fenceBy(lock) });
    } finally {
      lock.release();
    }
  }

  /** A queued task moved to `position` in the queue (1: the next to start); returns its place. */
  async moveQueued(nameOrSession: string, position: number): Promise<number> {
    const task = await find(this, nameOrSession);
    const lock = await this.personLock(task.session);
    try {
      return await moveQueued(this, task.session, position);
    } finally {
      lock.release();
    }
  }

  /** A worktree kept when its task was forgotten (it had uncommitted changes), removed on a person's word. */
  releaseWorktree(worktree: Worktree, force: boolean): Promise<string> {
    return releaseWorktree(this, worktree, force);
  }

  /** What the task changed in its worktree against the commit it started from. */
  async diff(nameOrSession: string): Promise<{ diff: string; untracked: string[]; files: string[] }> {
    const task = await find(this, nameOrSession);
    const record = this.store.get(task.session);
    if (!record) throw new TaskError(`${task.session} was started by hand: it has no worktree of its own`, 'refused');
    return worktreeDiff(this, record);
  }

  /**
   * Kills the session and every process of its attempt (an agent that ignores SIGHUP too); the task is held and never resumed by a supervisor.
   * `forget`: its record goes too, and its worktree when nothing in it is uncommitted (or `force`);
   * the branch always stays. `kept` says what was kept.
   */
  async kill(nameOrSession: string, forget: boolean, force = false): Promise<{ session: string; killed: boolean; kept?: string; queued?: boolean }> {
    const task = await find(this, nameOrSession);
    const lock = await this.personLock(task.session);
    try {
      // A task with a record (one taken over from a hand-started session too) is held as killed
      // by the user before its session goes, so no supervisor re-creates it; a hand-started
      // session without one only has its session to kill. With --forget the record goes last:
      // a process that dies in between leaves a task held as killed, never one to re-create.
      const record = this.store.get(task.session);
      this.refuseElsewhere(record, 'kill');
      if (record) {
        const now = this.iso();
        const finished = isFinished(record.state);
        this.store.write({
          ...record,
          killedByUser: !finished,
          state: finished ? record.state : 'held',
          stateReason: finished ? record.stateReason : record.state === 'queued' ? 'killed by the user before it started' : 'killed by the user',
          queue: undefined,
          stateSince: now,
          nextAttemptAt: null,
          // Killed during a usage-limit wait: no reset is awaited any more (nor shown as a resume).
          heldUntil: finished ? record.heldUntil : null,
          updatedAt: now,
        });
      }
      const last = record?.attempts[record.attempts.length - 1];
      // Its launch still on its way to tmux (its starter killed after handing it over) would make
      // the session, and run the agent, after it is closed: ended first. Only while no runner ran.
      if (last && !last.endedAt && !readAttemptFiles(this.store.paths.attemptDir(task.session, last.n)).started) {
        // The server's pid, never ended with them (a pane list that fails: its name alone tells it).
        const server = (await this.tmux.listPanes().catch(() => undefined))?.values().next().value?.serverPid;
        endLaunches(launchesInFlight(this, task.session, last.n, server));
      }
      const closed = await this.tmux.killSession(task.session);
      // The session's hangup does not end an agent that ignores SIGHUP: every process of the
      // attempt is ended as before a resume, and "killed" is said only once none is left.
      const ended = last ? await endAttempt(this, task.session, last.n) : { found: [], left: [] };
      if (ended.left.length) {
        throw new TaskError(`${task.session}: its session is closed and the task will not be resumed, but its agent (pid ${ended.left.join(', ')}) did not end even on SIGKILL`, 'failed');
      }
      const killed = closed || ended.found.length > 0;
      // The worktree is looked at before the record goes: a refusal leaves the task as it was.
      const kept = forget && record?.worktree ? await releaseWorktree(this, record.worktree, force) : undefined;
      if (forget) this.store.remove(task.session);
      // A hand-made session has no record whose write says the change: a list snapshot showing it is stale all the same.
      else if (!record) this.store.changed(task.session);
      this.signalSupervisors();
      return { session: task.session, killed, kept, ...(record?.state === 'queued' ? { queued: true } : {}) };
    } finally {
      lock.release();
    }
  }
}
