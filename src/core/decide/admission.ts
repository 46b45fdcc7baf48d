import type { AgentId } from '../model/names';
import type { TaskRecord } from '../model/record';
import { lastAttempt } from '../model/record';
import { heldByAgent } from '../model/holds';
import { memoryText } from '../platform/memory';

/** How many agents may run at once on one machine, and how much memory a start must leave. */
export interface Limits {
  maxRunning: number;
  perAgent: Partial<Record<AgentId, number>>;
  minFreeMemoryMb: number;
}

/**
 * A task holding one of this host's slots: its agent runs (or is about to, or is being resumed
 * after a crash: a resume keeps its slot). Held tasks waiting for a person or a reset time, done,
 * given up, killed and queued ones hold none. Tasks another host runs are that host's.
 */
export function holdsSlot(r: TaskRecord, hostKey: string): boolean {
  if (r.killedByUser || r.state === 'queued') return false;
  const a = lastAttempt(r);
  if (!a) return false;
  if (a.host && a.host.key !== hostKey) return false;
  switch (r.state) {
    case 'running':
    case 'waiting':
    case 'idle':
    case 'resuming':
    case 'failed':
    case 'lost':
      return true;
    case 'held':
      return heldByAgent(r); // its agent still runs, waiting for its own reset
    default:
      return false;
  }
}

/** The queued tasks, first to start first: by their order, then when they were queued, then by name. */
export function queueOrder(records: readonly TaskRecord[]): TaskRecord[] {
  return records
    .filter((r) => r.state === 'queued' && r.queue)
    .sort((a, b) => a.queue!.order - b.queue!.order || a.queue!.at.localeCompare(b.queue!.at) || a.session.localeCompare(b.session));
}

export interface Admission {
  /** Sessions to start now, in order. */
  start: string[];
  /** Why each other queued task waits (what `status` and the tree say). */
  waiting: Map<string, string>;
  /** Memory is what holds the queue back: look again soon (memory frees without an event). */
  memoryBound: boolean;
}

/**
 * Which queued tasks start now. First in, first out; a task whose agent is at its own limit lets
 * later tasks of other agents pass, but a full machine (all slots taken, or memory below the floor)
 * holds back everything behind the first task it stops. `free` is the memory free now (undefined:
 * unknown, then it holds nothing back); at most one start is made on memory's word per look (an
 * agent just started has not taken its memory yet).
 */
export function admit(records: readonly TaskRecord[], limits: Limits, hostKey: string, free: number | undefined): Admission {
  const running = records.filter((r) => holdsSlot(r, hostKey));
  let total = running.length;
  const perAgent = new Map<AgentId, number>();
  for (const r of running) perAgent.set(r.agent, (perAgent.get(r.agent) ?? 0) + 1);
  const start: string[] = [];
  const waiting = new Map<string, string>();
  let blocked: string | undefined;
  let memoryBound = false;
  const floor = limits.minFreeMemoryMb * 1024 * 1024;
  for (const r of queueOrder(records)) {
    if (blocked) {
      waiting.set(r.session, blocked);
      continue;
    }
    const agentMax = limits.perAgent[r.agent];
    const mine = perAgent.get(r.agent) ?? 0;
    if (total >= limits.maxRunning) {
      blocked = `queued: ${total} of ${limits.maxRunning} running`;
      waiting.set(r.session, blocked);
      continue;
    }
    if (agentMax !== undefined && mine >= agentMax) {
      waiting.set(r.session, `queued: ${mine} of ${agentMax} ${r.agent} running`);
      continue;
    }
    if (free !== undefined && free < floor) {
      blocked = `queued: ${memoryText(free)} free, ${memoryText(floor)} needed`;
      memoryBound = true;
      waiting.set(r.session, blocked);
      continue;
    }
    start.push(r.session);
    total += 1;
    perAgent.set(r.agent, mine + 1);
    // Memory's word counts for one start: the next is decided after this one took its share.
    if (free !== undefined && free < floor * 2) {
      blocked = `queued: waiting for the last start to take its memory (${memoryText(free)} free, ${memoryText(floor)} needed)`;
      memoryBound = true;
    }
  }
  return { start, waiting, memoryBound };
}

/** The queue as a person sees it: each queued task's place, from 1. */
export function queuePlaces(records: readonly TaskRecord[]): Map<string, { place: number; of: number }> {
  const q = queueOrder(records);
  return new Map(q.map((r, i) => [r.session, { place: i + 1, of: q.length }]));
}
