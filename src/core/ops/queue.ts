import fs = require('node:fs');
import type { Action } from '../decide/classify';
import type { Admission, Limits } from '../decide/admission';
import { admit, holdsSlot, queueOrder } from '../decide/admission';
export { queuePlaces } from '../decide/admission';
import { TaskError, UsageError } from '../model/errors';
import type { QueueEntry, TaskRecord } from '../model/record';
import { lastAttempt } from '../model/record';
import { attemptFile } from '../store/attempt';
import { lookupFromObject, resolveSettings, settingsToObject, SettingsError } from '../model/settings';
import { writeFileAtomic } from '../platform/files';
import { freeMemory, memoryText } from '../platform/memory';
import type { Lock } from '../store/lock';
import { FencedError } from '../store/lock';
import type { Core } from './core';
import { isoNow } from './core';
import { launch, signalSupervisors } from './launch';

/** One process at a time counts the slots and starts an agent in one (a state-dir-wide lock). */
export const ADMISSION_LOCK = 'admission';
/** How long a start waits for another process's admission (a launch takes well under a second). */
const ADMISSION_WAIT_MS = 10_000;
export const QUEUE_KEYS = ['queue.maxRunning', 'queue.maxRunningPerAgent', 'queue.minFreeMemoryMB'] as const;

/**
 * The limits in force for this state dir: what its config.json says (VS Code's settings and
 * `resilient-agent queue limits` write there), read afresh each time so every process sharing the
 * state dir, the background supervisor too, applies the same ones; else this process's settings.
 * A config.json that cannot be used is said once, and this process's settings apply meanwhile.
 */
export function currentLimits(core: Core): Limits {
  let fromFile: Record<string, unknown> = {};
  try {
    fromFile = sharedLimits(core);
  } catch (e) {
    warnOnce(core, `the state dir's config.json cannot be read (${(e as Error).message}); the queue limits of this process apply`);
  }
  const own = settingsToObject(core.settings);
  let s = core.settings;
  try {
    s = resolveSettings((k) => fromFile[k] ?? own[k]);
  } catch (e) {
    warnOnce(core, `${(e as Error).message} in the state dir's config.json; the queue limits of this process apply`);
  }
  return { maxRunning: s.maxRunning, perAgent: s.maxRunningPerAgent, minFreeMemoryMb: s.minFreeMemoryMb };
}

/** The queue keys the state dir's config.json sets (as written, unchecked); none when it has no file. */
export function sharedLimits(core: Core): Record<string, unknown> {
  let obj: unknown;
  try {
    obj = JSON.parse(fs.readFileSync(core.store.paths.configFile, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw e;
  }
  const out: Record<string, unknown> = {};
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) return out;
  const o = obj as Record<string, unknown>;
  for (const k of QUEUE_KEYS) if ((o[k] ?? o[`resilientAgent.${k}`]) !== undefined) out[k] = o[k] ?? o[`resilientAgent.${k}`];
  return out;
}

let lastWarning = '';
function warnOnce(core: Core, text: string): void {
  if (text === lastWarning) return;
  lastWarning = text;
  core.logger.warn(text);
}

/**
 * Sets some of the limits in the state dir's config.json (the rest of the file kept as it is).
 * Checked first: a bad value is one clear SettingsError and nothing is written.
 */
export function writeLimits(core: Core, change: Partial<Record<(typeof QUEUE_KEYS)[number], unknown>>): Limits {
  const file = core.store.paths.configFile;
  let obj: Record<string, unknown> = {};
  try {
    obj = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new SettingsError(`cannot read ${file}: ${(e as Error).message}`);
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new SettingsError(`${file} must hold one JSON object`);
  const next = { ...obj };
  for (const [k, v] of Object.entries(change)) {
    delete next[`resilientAgent.${k}`];
    if (v === undefined) delete next[k];
    else next[k] = v;
  }
  resolveSettings(lookupFromObject(next)); // throws SettingsError naming the bad key
  core.store.init();
  writeFileAtomic(file, `${JSON.stringify(next, null, 2)}\n`);
  signalSupervisors(core);
  return currentLimits(core);
}

/** What a start or follow-up is, as the queue keeps it. */
function entryFor(core: Core, cause: QueueEntry['cause'], prompt: string | undefined, order: number): QueueEntry {
  return { at: isoNow(core), order, cause, ...(prompt !== undefined ? { prompt } : {}), host: { key: core.host.key, name: core.host.name } };
}

function actionFor(entry: QueueEntry): Extract<Action, { kind: 'launch' }> {
  return entry.cause === 'follow-up'
    ? { kind: 'launch', cause: 'follow-up', mode: 'resume', ...(entry.prompt !== undefined ? { prompt: entry.prompt } : {}) }
    : { kind: 'launch', cause: 'start', mode: 'start' };
}

/** The queued tasks this host starts, first to start first. */
function ourQueue(core: Core, records: readonly TaskRecord[]): TaskRecord[] {
  return queueOrder(records).filter((r) => r.queue!.host.key === core.host.key);
}

/**
 * The records as admission counts them: a task whose agent has ended (its runner wrote the exit
 * file) holds no slot, even before a supervisor's pass has recorded the end.
 */
function settled(core: Core, records: readonly TaskRecord[]): TaskRecord[] {
  return records.map((r) => {
    const a = lastAttempt(r);
    if (!a || a.endedAt || !holdsSlot(r, core.host.key)) return r;
    return fs.existsSync(attemptFile(core.store.paths.attemptDir(r.session, a.n), 'exit')) ? { ...r, state: 'done' as const } : r;
  });
}

/** What admission sees of this host now. */
function look(core: Core, records: readonly TaskRecord[]): Admission & { limits: Limits } {
  const limits = currentLimits(core);
  const mine = settled(core, records).filter((r) => r.state !== 'queued' || r.queue?.host.key === core.host.key);
  return { ...admit(mine, limits, core.host.key, freeMemory(core.env)?.bytes), limits };
}

async function admissionLock(core: Core): Promise<Lock> {
  core.store.init();
  const lock = await core.locks.acquire(ADMISSION_LOCK, ADMISSION_WAIT_MS);
  if (!lock) throw new TaskError('another process has been starting a queued task for 10 s; try again', 'conflict');
  return lock;
}

export interface AdmitInput {
  /** The task as it is to start (its record not necessarily written yet). */
  record: TaskRecord;
  cause: QueueEntry['cause'];
  prompt?: string;
  /** Start now whatever the limits say (a person's explicit word). */
  now?: boolean;
  sessionExists: boolean;
  fence?: () => void;
}

/**
 * A start or a follow-up: launched now if this host has a free slot (and enough memory) and
 * nothing is queued before it, else written as queued, for the supervisor to start the moment a
 * slot frees. The caller holds the task's lock.
 */
export async function startOrQueue(core: Core, input: AdmitInput): Promise<TaskRecord> {
  const lock = await admissionLock(core);
  try {
    const records = core.store.list().records.filter((r) => r.session !== input.record.session);
    const queued = { ...input.record, state: 'queued' as const, queue: entryFor(core, input.cause, input.prompt, Date.now()) };
    const seen = look(core, [...records, queued]);
    if (input.now || seen.start.includes(queued.session)) {
      const record: TaskRecord = { ...input.record };
      delete record.queue;
      const beyond = input.now && !seen.start.includes(queued.session) ? `started by hand beyond the limit (${(seen.waiting.get(queued.session) ?? 'queued').replace(/^queued: /, '')})` : undefined;
      const action = actionFor(queued.queue);
      return await launch(core, record, beyond ? { ...action, note: beyond } : action, input.sessionExists, input.fence);
    }
    const now = isoNow(core);
    const next: TaskRecord = { ...queued, stateReason: seen.waiting.get(queued.session) ?? 'queued', stateSince: now, nextAttemptAt: null, heldUntil: null, killedByUser: false, updatedAt: now };
    input.fence?.();
    core.store.write(next);
    signalSupervisors(core);
    return next;
  } finally {
    lock.release();
  }
}

export interface Dequeued {
  before: TaskRecord;
  after: TaskRecord;
}

/**
 * The supervisor's part: starts the queued tasks that fit now, first in first out, and keeps each
 * waiting task's reason current. `leaderFence` throws once this process no longer leads. Returns
 * what it started and changed, and whether memory holds the queue back (memory frees with no event:
 * the caller looks again soon).
 */
export async function startQueued(core: Core, panes: Map<string, unknown>, leaderFence: () => void): Promise<{ changed: Dequeued[]; memoryBound: boolean; failed: { session: string; error: unknown }[] }> {
  const changed: Dequeued[] = [];
  const failed: { session: string; error: unknown }[] = [];
  const lock = core.locks.tryAcquire(ADMISSION_LOCK);
  if (!lock) return { changed, memoryBound: true, failed }; // another process admits now: look again soon
  try {
    const records = core.store.list().records;
    if (ourQueue(core, records).length === 0) return { changed, memoryBound: false, failed };
    const seen = look(core, records);
    for (const r of ourQueue(core, records)) {
      const starting = seen.start.includes(r.session);
      const reason = seen.waiting.get(r.session);
      if (!starting && (reason === undefined || reason === r.stateReason)) continue;
      const taskLock = core.locks.tryAcquire(r.session);
      if (!taskLock) continue; // a person acts on it now (a kill, a start now)
      try {
        const fresh = core.store.get(r.session);
        if (!fresh || fresh.state !== 'queued' || !fresh.queue) continue;
        const fence = () => {
          leaderFence();
          if (taskLock.check() === 'lost') throw new FencedError(taskLock.file);
        };
        if (!starting) {
          fence();
          core.store.write({ ...fresh, stateReason: reason!, updatedAt: isoNow(core) });
          continue;
        }
        const record: TaskRecord = { ...fresh };
        delete record.queue;
        try {
          changed.push({ before: fresh, after: await launch(core, record, actionFor(fresh.queue), panes.has(r.session), fence) });
        } catch (e) {
          if (e instanceof FencedError) throw e;
          failed.push({ session: r.session, error: e });
          // Not started: it stays queued (launch wrote nothing, or an attempt the next pass sees).
        }
      } finally {
        taskLock.release();
      }
    }
    return { changed, memoryBound: seen.memoryBound, failed };
  } finally {
    lock.release();
  }
}

/** A queued task moved to `position` (1: next to start). The caller holds the task's lock. */
export async function moveQueued(core: Core, session: string, position: number): Promise<number> {
  if (!Number.isInteger(position) || position < 1) throw new UsageError(`the position must be a whole number of at least 1 (got ${position})`);
  const lock = await admissionLock(core);
  try {
    const records = core.store.list().records;
    const q = queueOrder(records);
    const me = q.find((r) => r.session === session);
    if (!me) throw new TaskError(`task ${session} is not queued`, 'refused');
    const others = q.filter((r) => r !== me);
    const at = Math.min(position, others.length + 1) - 1;
    const prev = others[at - 1]?.queue!.order;
    const next = others[at]?.queue!.order;
    const order = prev === undefined && next === undefined ? me.queue!.order
      : prev === undefined ? next! - 1 : next === undefined ? prev + 1 : (prev + next) / 2;
    core.store.write({ ...me, queue: { ...me.queue!, order }, updatedAt: isoNow(core) });
    signalSupervisors(core);
    return at + 1;
  } finally {
    lock.release();
  }
}

/** What `queue` and `status` say of the limits and the machine now. */
export function queueSummary(core: Core): { limits: Limits; running: number; free: string | undefined } {
  const records = core.store.list().records;
  const free = freeMemory(core.env);
  return { limits: currentLimits(core), running: settled(core, records).filter((r) => holdsSlot(r, core.host.key)).length, free: free ? memoryText(free.bytes) : undefined };
}
