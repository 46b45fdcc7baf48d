import fs = require('node:fs');
import { adapterFor } from '../agents/registry';
import { applyEvaluation } from '../decide/apply';
import { classifyAdopted, trimPadding } from '../decide/adopted';
import type { Evaluation } from '../decide/classify';
import { evaluate, WAITING_PASSES } from '../decide/classify';
import type { Observation } from '../decide/observation';
import type { LastRead } from '../decide/streak';
import { shouldCapture } from '../decide/streak';
import { quoted, TaskError, UsageError, word } from '../model/errors';
import type { AgentId } from '../model/names';
import { parseSessionName } from '../model/names';
import type { TaskRecord } from '../model/record';
import { isFinished, isInteractive, lastAttempt, sumUsage, usageBefore } from '../model/record';
import { readHookState } from '../store/hooks';
import type { TaskView } from '../model/views';
import { attemptFile, eventsFile, eventsHead, eventsTail, readAttemptFiles, readRunnerPid } from '../store/attempt';
import { LEASE_MS } from '../store/lock';
import { readSeedIdFile } from '../store/seed';
import type { PaneInfo } from '../tmux/commands';
import type { Core } from './core';
import { queuePlaces } from '../decide/admission';
import { isoNow } from './core';
import { interactiveLog, logReader } from './transcript';

/** Reads what the pane and files show of one task. `panes` is one `list-panes -a` for the whole pass. */
export function observe(core: Core, record: TaskRecord, panes: Map<string, PaneInfo>, extra: Partial<Observation> = {}): Observation {
  const attempt = lastAttempt(record);
  const dir = attempt ? core.store.paths.attemptDir(record.session, attempt.n) : undefined;
  const files = dir ? readAttemptFiles(dir) : { started: false, pid: null, exitCode: null, exitAt: null, serverPid: null };
  const head = dir && !record.agentSessionId ? eventsHead(dir) : [];
  // When the run has just ended, read far enough back to see its last event whole (pi's
  // agent_end carries the whole conversation).
  const justEnded = attempt && !attempt.endedAt && files.exitCode !== null;
  const tail = dir ? eventsTail(dir, 40, justEnded ? 4 * 1024 * 1024 : 16 * 1024) : [];
  const anyPane = panes.values().next().value as PaneInfo | undefined;
  const pane = panes.get(record.session);
  // Only when the run is over (or its pane gone): one stat, not one per pass of a running task.
  const over = attempt && !attempt.endedAt && (files.exitCode !== null || !pane || pane.dead);
  const dirMissing = over ? !fs.existsSync(record.dir) : undefined;
  // Its last word and token use, to record with its end.
  const summary = over && dir ? core.summaries.summary(eventsFile(dir), adapterFor(record.agent), usageBefore(record, attempt.n), true) : undefined;
  const elsewhere = ownerElsewhere(core, record);
  const before = attempt && attempt.n > 1 && !files.started && pane?.dead ? core.store.paths.attemptDir(record.session, attempt.n - 1) : undefined;
  const paneOfEarlier = before !== undefined && readRunnerPid(before) === pane?.pid;
  const hook = dir && isInteractive(record) ? readHookState(dir) : undefined;
  return {
    ...(hook ? { hook } : {}),
    pane, attempt: files, eventsHead: head, eventsTail: tail, serverPid: anyPane?.serverPid, dirMissing, summary,
    ...(elsewhere ? { elsewhere } : {}), ...(paneOfEarlier ? { paneOfEarlier } : {}), ...extra,
  };
}

/**
 * The host that runs the task's latest attempt, when it is another one sharing this state dir: a
 * pane and processes this host cannot see. It lives while its supervisor renews its lease, or
 * while the attempt's events still change (an agent runs there with no supervisor just now).
 */
export function ownerElsewhere(core: Core, record: TaskRecord): { host: string; alive: boolean } | undefined {
  const a = lastAttempt(record);
  if (!a?.host || a.host.key === core.host.key) return undefined;
  let alive: boolean;
  try {
    alive = core.locks.liveHolder(`supervisor@${a.host.key}`) !== undefined;
  } catch {
    alive = true; // its lease cannot be read just now: never act on a guess
  }
  if (!alive && !a.endedAt) {
    const dir = core.store.paths.attemptDir(record.session, a.n);
    const events = fs.statSync(eventsFile(dir), { throwIfNoEntry: false });
    alive = !fs.existsSync(attemptFile(dir, 'exit')) && events !== undefined && core.now() - events.mtimeMs < LEASE_MS;
  }
  return { host: a.host.name, alive };
}

/** The verdict on one task under its own recovery policy (the caller's for records that have none). */
export function evaluateTask(core: Core, record: TaskRecord, obs: Observation): Evaluation {
  // A record of an earlier build has no usage-limit schedule in its policy: the caller's applies.
  return evaluate(record, obs, core.now(), adapterFor(record.agent), record.policy ? { ...core.policy, ...record.policy } : core.policy);
}

/** `stored`: the record as written, when `record` is a fresher evaluation of it. */
export function view(core: Core, record: TaskRecord, hasSession = true, stored: TaskRecord = record): TaskView {
  const attempt = lastAttempt(record);
  const dir = attempt ? core.store.paths.attemptDir(record.session, attempt.n) : undefined;
  // A running attempt's words and tokens so far (its file read on from the last look).
  const live = attempt && dir && !attempt.endedAt
    ? core.summaries.summary(eventsFile(dir), adapterFor(record.agent), usageBefore(record, attempt.n), false)
    : undefined;
  const attempts = live ? record.attempts.map((a) => (a === attempt ? { ...a, ...live } : a)) : record.attempts;
  // An interactive task's words and tokens: its whole conversation's, from the agent's own log of it.
  const log = isInteractive(record) ? interactiveLog(core, record) : undefined;
  const reader = log ? logReader(adapterFor(record.agent)) : undefined;
  const conversation = log && reader ? core.summaries.summary(log, reader, undefined, false) : undefined;
  return {
    name: record.name, session: record.session, agent: record.agent, state: record.state, reason: record.stateReason,
    agentSessionId: record.agentSessionId, dir: record.dir, prompt: record.prompt, createdAt: record.createdAt,
    attempts, nextAttemptAt: record.nextAttemptAt,
    // A record an earlier build wrote when it was killed during a usage-limit wait kept its reset time.
    heldUntil: record.killedByUser ? null : record.heldUntil, adopted: record.adopted, mode: record.mode ?? 'unattended',
    eventsFile: dir ? eventsFile(dir) : null,
    hasSession,
    worktree: record.worktree ?? null,
    lastMessage: conversation?.lastMessage ?? [...attempts].reverse().find((a) => a.lastMessage !== undefined)?.lastMessage ?? null,
    usage: conversation?.usage ?? sumUsage(attempts.map((a) => a.usage)) ?? null,
    recorded: { state: stored.state, since: stored.stateSince },
    ...(attempt?.host && attempt.host.key !== core.host.key ? { host: attempt.host.name } : {}),
  };
}

/** Every task as it is now (one tmux call), and seed-style sessions started by hand. Changes nothing. */
export async function views(core: Core): Promise<{ views: TaskView[]; corrupt: { session: string; problem: string }[] }> {
  // Records first: a task's record is written before its session exists, so every session a
  // record names that exists by now is in the pane list taken after it.
  const { records, corrupt, newer, unreadable } = core.store.list();
  const panes = await core.tmux.listPanes();
  const out: TaskView[] = [];
  const known = new Set<string>();
  const places = queuePlaces(records);
  for (const record of records) {
    known.add(record.session);
    // The supervisor saw a prompt for a person on passes in a row (the streak it keeps): a view
    // takes its word for it while the pane lives, instead of reading one pass's "running".
    const ev = evaluateTask(core, record, observe(core, record, panes, record.state === 'waiting' ? { waitingStreak: WAITING_PASSES } : {}));
    const v = view(core, applyEvaluation(record, ev, isoNow(core)), panes.has(record.session), record);
    const place = places.get(record.session);
    out.push(place && v.state === 'queued' ? { ...v, queue: place } : v);
  }
  // Records this build cannot read right now are tasks all the same: never "started by hand".
  // A task being started has its attempt's folder a moment before its record: not shown until it
  // has one (nor ever taken for a session started by hand).
  const orphans = core.store.orphans();
  for (const session of orphans.filter((o) => startingNow(core, o))) known.add(session);
  const opaque = [
    ...newer.map((n) => ({ session: n.session, reason: `written by a newer resilient-agent (record version ${n.version}): update to see and supervise it here` })),
    ...unreadable.map((u) => ({ session: u.session, reason: `its record cannot be read just now (${u.problem})` })),
    // Garbage in a record: the supervisor keeps it aside and rebuilds the task from its attempts.
    ...corrupt.map((c) => ({ session: c.session, reason: `its record is unreadable (${c.problem}): the supervisor rebuilds it from its attempts` })),
    // Kept aside and not rebuilt (no copy beside its attempts): a person decides.
    ...orphans.filter((session) => !known.has(session)).map((session) => ({
      session,
      reason: `its record was unreadable and could not be rebuilt; kept at ${core.store.keptAside(session).at(-1) ?? 'no copy'}: look at it, then kill or start it again`,
    })),
  ];
  for (const { session, reason } of opaque) {
    const parsed = parseSessionName(session);
    if (!parsed) continue;
    known.add(session);
    out.push({
      name: parsed.name, session, agent: parsed.agent, state: 'held', reason, agentSessionId: null, dir: null, prompt: null,
      createdAt: null, attempts: [], nextAttemptAt: null, heldUntil: null, adopted: false, eventsFile: null, hasSession: panes.has(session), worktree: null, recorded: null, lastMessage: null, usage: null,
    });
  }
  for (const [session, pane] of panes) {
    if (known.has(session)) continue;
    const parsed = parseSessionName(session);
    if (!parsed) continue;
    const tail = await capture(core, session, 30).catch(() => [] as string[]);
    const { state, reason } = classifyAdopted(adapterFor(parsed.agent), pane, tail);
    out.push({
      name: parsed.name, session, agent: parsed.agent, state, reason,
      agentSessionId: seedSessionId(parsed.agent, parsed.name) ?? null,
      dir: null, prompt: null, createdAt: new Date(pane.created * 1000).toISOString(), attempts: [],
      nextAttemptAt: null, heldUntil: null, adopted: true, eventsFile: null, hasSession: true, worktree: null, recorded: null, lastMessage: null, usage: null,
    });
  }
  return { views: out, corrupt };
}

/** A start in progress: its attempts made just now, no record yet and none kept aside. */
const STARTING_MS = 60_000;
function startingNow(core: Core, session: string): boolean {
  if (core.store.keptAside(session).length > 0) return false;
  try {
    return core.now() - fs.statSync(`${core.store.paths.taskDir(session)}/attempts`).mtimeMs < STARTING_MS;
  } catch {
    return true; // gone meanwhile: its start failed and was undone
  }
}

function seedSessionId(agent: AgentId, name: string): string | undefined {
  const file = adapterFor(agent).seedSessionIdFile?.(name);
  if (!file) return undefined;
  return readSeedIdFile(file);
}

/** A task by its name or its full session name; a person's argument. */
export async function find(core: Core, nameOrSession: string): Promise<TaskView> {
  const { views: all } = await views(core);
  const exact = all.find((v) => v.session === nameOrSession);
  if (exact) return exact;
  const byName = all.filter((v) => v.name === nameOrSession);
  if (byName.length === 1) return byName[0];
  if (byName.length > 1) {
    throw new UsageError(`${quoted(nameOrSession)} names several tasks: ${byName.map((v) => v.session).join(', ')}; give the session name`);
  }
  // Left out of the views while its start is under way (by another command: a start, a resume
  // taking a hand-started session over): there, but busy.
  const starting = core.store.orphans().find((s) => (s === nameOrSession || parseSessionName(s)?.name === nameOrSession) && startingNow(core, s));
  if (starting) throw new TaskError(`${starting} is being started just now (busy): try again in a moment`, 'refused');
  throw new TaskError(`no task named ${word(nameOrSession)}`, 'not-found');
}

/** The pane's last lines, without the blank rows tmux pads the screen with. */
export async function capture(core: Core, session: string, lines: number): Promise<string[]> {
  return trimPadding((await core.tmux.capturePane(session, lines)).split('\n'));
}

/** Many panes' last lines in one tmux call. */
export async function captureMany(core: Core, sessions: readonly string[], lines: number): Promise<Map<string, string[]>> {
  const raw = await core.tmux.captureMany(sessions, lines);
  return new Map([...raw].map(([s, text]) => [s, trimPadding(text.split('\n'))]));
}

/**
 * Which panes to read this pass, all in one tmux call: a live pane whose output moved since it was
 * last read (a prompt for a person may show), and a pane whose agent just ended (its last lines help
 * tell an auth failure or a usage limit). `capturedAt`, when each was last read, is the monitor's.
 */
export async function captureNeeded(core: Core, records: readonly TaskRecord[], panes: Map<string, PaneInfo>, capturedAt: Map<string, LastRead>): Promise<Map<string, string[]>> {
  const wanted: string[] = [];
  for (const r of records) {
    const pane = panes.get(r.session);
    const a = r.attempts[r.attempts.length - 1];
    if (!pane || !a || a.endedAt || isFinished(r.state)) continue;
    const exited = fs.existsSync(attemptFile(core.store.paths.attemptDir(r.session, a.n), 'exit'));
    // A TUI's pane always moves, and its hooks say when it asks: read only once it has ended.
    if (isInteractive(r) && !exited) continue;
    if (shouldCapture(adapterFor(r.agent), pane, exited, capturedAt.get(r.session))) wanted.push(r.session);
  }
  if (wanted.length === 0) return new Map();
  try {
    const readAt = core.now();
    const captured = await captureMany(core, wanted, 40);
    for (const s of wanted) capturedAt.set(s, { activity: panes.get(s)!.activity, at: readAt });
    return captured;
  } catch (e) {
    core.logger.warn(`reading panes failed: ${(e as Error).message}`);
    return new Map();
  }
}
