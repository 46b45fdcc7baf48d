import { CONTRACT } from './contract';
import type { Usage } from './record';
import type { TaskView } from './views';

function usageJson(u: Usage | null | undefined): Record<string, number> | null {
  if (!u) return null;
  return { inputTokens: u.inputTokens, cachedInputTokens: u.cachedInputTokens, outputTokens: u.outputTokens, ...(u.costUsd !== undefined ? { costUsd: u.costUsd } : {}) };
}

/** A task as the CLI's `--json` answers give it (contract CONTRACT): `list`, `status`, the event stream, a host's list snapshot. */
export function statusJson(v: TaskView): Record<string, unknown> {
  return {
    contract: CONTRACT,
    name: v.name,
    session: v.session,
    agent: v.agent,
    state: v.state,
    reason: v.reason,
    mode: v.mode ?? null,
    agentSessionId: v.agentSessionId,
    dir: v.dir,
    adopted: v.adopted,
    createdAt: v.createdAt,
    nextAttemptAt: v.nextAttemptAt,
    heldUntil: v.heldUntil,
    attempts: v.attempts.map((a) => ({
      n: a.n, cause: a.cause, mode: a.mode, startedAt: a.startedAt, endedAt: a.endedAt, exitCode: a.exitCode, signal: a.signal, note: a.note,
      lastMessage: a.lastMessage ?? null, usage: usageJson(a.usage),
    })),
    lastMessage: v.lastMessage,
    usage: usageJson(v.usage),
    eventsFile: v.eventsFile,
    hasSession: v.hasSession,
    worktree: v.worktree ? { path: v.worktree.path, branch: v.worktree.branch, base: v.worktree.base } : null,
    host: v.host ?? null,
    queue: v.queue ?? null,
  };
}
