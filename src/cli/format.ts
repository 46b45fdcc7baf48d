import { printable } from '../core/agents/transcript';
import { heldByAgent, scheduledTry } from '../core/model/holds';
import { duration } from '../core/model/time';
import { exitText } from '../core/model/record';
import { usageShort, usageText } from '../core/model/usage';
import type { TaskView } from '../core/model/views';
import { statusJson } from '../core/model/taskJson';

export { statusJson };

export function ago(iso: string | null, now: number): string {
  return iso ? duration(now - Date.parse(iso)) : '-';
}

function inTime(iso: string, now: number): string {
  const wait = Math.max(0, Math.round((Date.parse(iso) - now) / 1000));
  return wait >= 60 ? `${Math.ceil(wait / 60)}m` : `${wait}s`;
}

/** HH:MM in local time. */
function clockTime(iso: string): string {
  const at = new Date(iso);
  return `${String(at.getHours()).padStart(2, '0')}:${String(at.getMinutes()).padStart(2, '0')}`;
}

/** When the limit an agent waits out resets; a reset time gone by is said as such, never "in 0s". */
function agentReset(iso: string, now: number): string {
  if (Date.parse(iso) > now) return `its limit resets in ${inTime(iso, now)}`;
  return `its limit should have reset at ${clockTime(iso)}; the agent has not gone on yet`;
}

export function describe(v: TaskView, now: number): string {
  const here = describeHere(v, now);
  return v.host ? `${here} on ${v.host}` : here;
}

function describeHere(v: TaskView, now: number): string {
  if (v.state === 'queued' && v.queue) return `queued ${v.queue.place} of ${v.queue.of}`;
  if (v.state === 'resuming' && v.nextAttemptAt) return `resuming in ${inTime(v.nextAttemptAt, now)}`;
  if (v.state === 'running' && v.reason?.startsWith('retrying')) return `running · ${v.reason}`;
  if (heldByAgent(v)) return `held by the agent${v.heldUntil ? `, ${agentReset(v.heldUntil, now)}` : ''}`;
  if (scheduledTry(v) && v.heldUntil) return `held, next try in ${inTime(v.heldUntil, now)} (${v.heldUntil})`;
  if (v.state === 'held' && v.heldUntil) return `held, resumed in ${inTime(v.heldUntil, now)} (${v.heldUntil})`;
  // An interactive task's two "your move" states read apart: a question waits, an idle prompt does not.
  if (v.mode === 'interactive' && (v.state === 'waiting' || v.state === 'idle')) return v.state === 'waiting' ? 'waiting for you' : 'idle (your move)';
  return v.state + (v.adopted ? ' (started by hand)' : '') + (v.mode === 'interactive' ? ' (interactive)' : '');
}

export function table(views: TaskView[], now: number): string {
  if (views.length === 0) return 'no tasks';
  const rows = [['SESSION', 'STATE', 'ATTEMPTS', 'AGE', 'TOKENS', 'REASON']];
  for (const v of views) {
    rows.push([v.session, describe(v, now), String(v.attempts.length || '-'), ago(v.createdAt, now), v.usage ? usageShort(v.usage) : '-', v.reason ?? '']);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd()).join('\n');
}

/** `status` for a person: the state, the ids, and one line per attempt. */
export function statusLines(v: TaskView, now: number): string[] {
  const state = describe(v, now);
  const head = v.state === 'queued' && v.queue && v.reason ? `${v.reason} (place ${v.queue.place} of ${v.queue.of} in the queue)` : `${state}${v.reason && !state.includes(v.reason) ? ` (${v.reason})` : ''}`;
  const lines = [`${v.session}: ${head}`, `agent: ${v.agent}   session id: ${v.agentSessionId ?? 'unknown'}`];
  if (v.dir) lines.push(`folder: ${v.dir}`);
  if (v.worktree) lines.push(`worktree: branch ${v.worktree.branch} from ${v.worktree.base.slice(0, 12)} (of ${v.worktree.repo})`);
  for (const a of v.attempts) {
    const end = a.endedAt ? `ended ${ago(a.endedAt, now)} ago, ${exitText(a)}` : 'running';
    lines.push(`attempt ${a.n} (${a.cause}, ${a.mode}): started ${ago(a.startedAt, now)} ago, ${end}${a.usage ? `; ${usageText(a.usage)}` : ''}${a.note ? `; ${a.note}` : ''}`);
  }
  if (v.usage && v.attempts.length > 1) lines.push(`tokens in all: ${usageText(v.usage)}`);
  if (v.lastMessage) lines.push('last message:', ...printable(v.lastMessage).split('\n').map((l) => `  ${l}`));
  return lines;
}

/** One host's tasks (statusJson's shape), or what it said last when it did not answer now. */
export interface HostTasks {
  host: string;
  tasks: Record<string, unknown>[];
  unreachable?: { error: string; seenAt: string | null };
}

/** Every host's tasks as one list, each naming its host; a host's last answer says when it was. */
export function fleetJson(answers: HostTasks[]): Record<string, unknown>[] {
  return answers.flatMap((a) => a.tasks.map((t) => ({ ...t, hostName: a.host, ...(a.unreachable ? { stale: { seenAt: a.unreachable.seenAt, error: a.unreachable.error } } : {}) })));
}

/** What a person reads of an unreachable host: why, and how old the tasks shown are. */
export function unreachableLine(a: HostTasks, now: number): string {
  const u = a.unreachable!;
  const seen = u.seenAt ? `its tasks as last seen ${ago(u.seenAt, now)} ago (${u.seenAt})` : 'no answer of it kept';
  // The errors of a host name it first; anything else is said as its.
  const why = u.error.startsWith(`host ${a.host} `) ? u.error : `host ${a.host}: ${u.error}`;
  return `${why}; ${seen}`;
}

/** `list` over every host: a HOST column; a host that did not answer shows its tasks as last seen. */
export function fleetTable(answers: HostTasks[], now: number): string {
  const rows = [['HOST', 'SESSION', 'STATE', 'ATTEMPTS', 'AGE', 'TOKENS', 'REASON']];
  for (const a of answers) {
    for (const t of a.tasks) {
      const v = t as unknown as TaskView;
      const state = describe(v, now) + (a.unreachable ? ' (last seen)' : '');
      rows.push([a.host, v.session, state, String(v.attempts?.length || '-'), ago(v.createdAt, now), v.usage ? usageShort(v.usage) : '-', v.reason ?? '']);
    }
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.length > 1 ? rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd()) : ['no tasks'];
  return [...lines, ...answers.filter((a) => a.unreachable).map((a) => unreachableLine(a, now))].join('\n');
}

export function fleetOut(answers: HostTasks[], io: { out(t: string): void; err(t: string): void }, json: boolean): void {
  const now = Date.now();
  if (!json) {
    io.out(fleetTable(answers, now));
    return;
  }
  for (const a of answers.filter((x) => x.unreachable)) io.err(unreachableLine(a, now));
  io.out(JSON.stringify(fleetJson(answers), null, 2));
}
