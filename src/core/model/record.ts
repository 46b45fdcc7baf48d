// zod/mini: the same checks without zod's locales and method chains, a much smaller bundle.
import * as z from 'zod/mini';
import { AGENT_IDS, sessionName } from './names';
import type { AgentId } from './names';

/**
 * `waiting`: it waits for a person (a permission, a question); `idle`: an interactive agent whose
 * turn is over, its prompt empty: the person's move (not done: it goes on when told more).
 */
export const TASK_STATES = ['running', 'waiting', 'idle', 'done', 'failed', 'lost', 'resuming', 'held', 'gave-up', 'queued'] as const;
export type TaskState = (typeof TASK_STATES)[number];

/** How a task runs: see `TaskRecordSchema.mode`. */
export const TASK_MODES = ['interactive', 'unattended'] as const;
export type TaskMode = (typeof TASK_MODES)[number];

/** Why an attempt was started. */
export const ATTEMPT_CAUSES = ['start', 'crash', 'lost', 'manual', 'restart', 'follow-up'] as const;
export type AttemptCause = (typeof ATTEMPT_CAUSES)[number];

/**
 * Tokens an attempt used, as its agent reported them. `inputTokens` counts all input, cached
 * included; `cachedInputTokens` the part read from the provider's cache. Cost only where the agent
 * reports one (never a guess from prices).
 */
export const UsageSchema = z.object({
  inputTokens: z.number(),
  cachedInputTokens: z.number(),
  outputTokens: z.number(),
  costUsd: z.optional(z.number()),
});
export type Usage = z.infer<typeof UsageSchema>;

export const AttemptSchema = z.object({
  n: z.int().check(z.positive()),
  cause: z.enum(ATTEMPT_CAUSES),
  /** `resume`: the agent's native resume by id. `start`: from the prompt (first run, or no session to resume). */
  mode: z.enum(['start', 'resume']),
  startedAt: z.string(),
  endedAt: z.nullable(z.string()),
  exitCode: z.nullable(z.int()),
  signal: z.nullable(z.int()),
  /** What a person should know about this attempt, e.g. why it started from the prompt again. */
  note: z.nullable(z.string()),
  /** A follow-up's prompt (cause `follow-up`): resumes during the follow-up say it again. */
  prompt: z.optional(z.string()),
  /** The agent's final message in this attempt (its last word), when it said one. */
  lastMessage: z.optional(z.string()),
  /** What the agent reported of its token use in this attempt. */
  usage: z.optional(UsageSchema),
  /**
   * The host that launched it (its boot, pid namespace and tmux server, as a key; and its name):
   * only that host can see its pane and processes, so only it declares the attempt lost while its
   * supervisor's lease lives. Absent in attempts of earlier versions (taken as this host's).
   */
  host: z.optional(z.object({ key: z.string(), name: z.string() })),
});
export type Attempt = z.infer<typeof AttemptSchema>;

/**
 * 2: worktrees and follow-ups (a `worktree`, the attempt cause `follow-up`).
 * 3: each attempt's last message and token use (`lastMessage`, `usage`).
 * 4: the host each attempt runs on (`host`).
 * 5: the queue (state `queued`, `queue`).
 * 6: interactive tasks (`mode`, state `idle`); a record without `mode` is unattended.
 * An older record is read as this version's without what came since; a build that knows only an
 * older version leaves newer records alone (it would drop what it does not know on its next write).
 */
export const RECORD_VERSION = 6;
export const OLDEST_READABLE_VERSION = 1;

/** The line a finished run prints last in its pane (the seed's convention, which people grep for). */
export const DONE_MARKER = '__TASK_DONE__';

/** The recovery limits a task is supervised by, whoever supervises it (times in ms). */
export const PolicySchema = z.object({
  intervalMs: z.number().check(z.positive()),
  backoffFactor: z.number(),
  maxBackoffMs: z.number(),
  maxRuntimeMs: z.number(),
  maxAttempts: z.int().check(z.positive()),
  /** The first wait before trying again after a usage limit with no reset time (absent: 30 minutes). */
  usageLimitRetryMs: z.optional(z.number().check(z.positive())),
});

export const WorktreeSchema = z.object({
  path: z.string(),
  branch: z.string(),
  /** The commit the branch was made from: what the task changed is measured against it. */
  base: z.string(),
  /** The checkout the worktree belongs to (the folder the task was started from). */
  repo: z.string(),
});
export type Worktree = z.infer<typeof WorktreeSchema>;

/**
 * A start or a follow-up waiting for a free slot (state `queued`): started first in, first out by
 * `order` (then `at`), which a person may change. A follow-up keeps its prompt here until it runs.
 */
export const QueueEntrySchema = z.object({
  at: z.string(),
  order: z.number(),
  cause: z.enum(['start', 'follow-up']),
  prompt: z.optional(z.string()),
  /** The machine whose slots it waits for: only that host's supervisor starts it. */
  host: z.object({ key: z.string(), name: z.string() }),
});
export type QueueEntry = z.infer<typeof QueueEntrySchema>;

export const TaskRecordSchema = z.object({
  version: z.literal(RECORD_VERSION),
  name: z.string(),
  agent: z.enum(AGENT_IDS),
  session: z.string(),
  dir: z.string(),
  prompt: z.string(),
  createdAt: z.string(),
  agentSessionId: z.nullable(z.string()),
  /** Adapter-owned facts, e.g. pi's session file. */
  agentData: z.record(z.string(), z.string()),
  attempts: z.array(AttemptSchema),
  state: z.enum(TASK_STATES),
  stateReason: z.nullable(z.string()),
  stateSince: z.string(),
  /** When a scheduled resume is due (state `resuming`). */
  nextAttemptAt: z.nullable(z.string()),
  /** Held until then (a usage limit with a reset time); null: held until a person acts. */
  heldUntil: z.nullable(z.string()),
  killedByUser: z.boolean(),
  /** The agent flags and continue prompt in force when the task started: whoever resumes it uses these. */
  agentArgs: z.object({ modeArgs: z.array(z.string()), extraArgs: z.array(z.string()), continuePrompt: z.string() }),
  /** The absolute path of the agent's executable, resolved on the starter's PATH. */
  executable: z.string(),
  /**
   * The task's own recovery policy: set from the starter's settings, changed when a person changes
   * them. Absent in records of earlier versions (the supervisor's settings then apply).
   */
  policy: z.optional(PolicySchema),
  /** A session started by hand the seed's way, taken over when it was resumed. */
  adopted: z.boolean(),
  /** The git worktree the task runs in (its `dir`), on its own branch made from `base`. */
  worktree: z.optional(WorktreeSchema),
  /** Waiting for a free slot (state `queued`); absent otherwise. */
  queue: z.optional(QueueEntrySchema),
  /**
   * `interactive`: the agent's own TUI in the pane, a person talks to it, its state from its hooks.
   * `unattended` (and absent, in records of earlier versions): it works alone, its events in a file.
   */
  mode: z.optional(z.enum(TASK_MODES)),
  updatedAt: z.string(),
});
export type TaskRecord = z.infer<typeof TaskRecordSchema>;

export function isInteractive(record: Pick<TaskRecord, 'mode'>): boolean {
  return record.mode === 'interactive';
}

export function lastAttempt(record: TaskRecord): Attempt | undefined {
  return record.attempts[record.attempts.length - 1];
}

/**
 * What these attempts used of their agent session: those since the last one that started it from
 * the prompt (for agents whose counts cover the whole session, a resume's counts go on from here).
 */
export function sessionUsage(attempts: readonly Attempt[]): Usage | undefined {
  let from = 0;
  attempts.forEach((a, i) => {
    if (a.mode === 'start') from = i;
  });
  return sumUsage(attempts.slice(from).map((a) => a.usage));
}

/** What the session had used before attempt `n`: undefined when `n` started it from the prompt. */
export function usageBefore(record: TaskRecord, n: number): Usage | undefined {
  const current = record.attempts.find((a) => a.n === n);
  if (!current || current.mode === 'start') return undefined;
  return sessionUsage(record.attempts.filter((a) => a.n < n));
}

/** Several usages summed (cost only when some attempt reported one); undefined when none did. */
export function sumUsage(usages: readonly (Usage | undefined)[]): Usage | undefined {
  const known = usages.filter((u): u is Usage => u !== undefined);
  if (known.length === 0) return undefined;
  const costs = known.filter((u) => u.costUsd !== undefined);
  // Never past Number.MAX_SAFE_INTEGER: a sum that reached Infinity is no number a record can keep.
  const sum = (of: readonly Usage[], f: (u: Usage) => number): number => Math.min(of.reduce((n, u) => n + f(u), 0), Number.MAX_SAFE_INTEGER);
  return {
    inputTokens: sum(known, (u) => u.inputTokens),
    cachedInputTokens: sum(known, (u) => u.cachedInputTokens),
    outputTokens: sum(known, (u) => u.outputTokens),
    ...(costs.length ? { costUsd: sum(costs, (u) => u.costUsd ?? 0) } : {}),
  };
}


/** Stopped short of done: a person may resume it (a supervisor may too, unless it is held or given up). */
/** How an attempt that ended did so; one whose pane went before it said (its tmux session lost) has neither. */
export function exitText(a: Pick<Attempt, 'exitCode' | 'signal'>): string {
  return a.signal !== null ? `signal ${a.signal}` : a.exitCode !== null ? `exit ${a.exitCode}` : 'no exit status';
}

export function isStopped(state: TaskState): boolean {
  return state === 'failed' || state === 'lost' || state === 'held' || state === 'gave-up';
}

/** Finished: nothing more happens to the task by itself, and nobody resumes it unasked. */
export function isFinished(state: TaskState): boolean {
  return state === 'done' || state === 'gave-up';
}

export interface NewRecord {
  name: string;
  agent: AgentId;
  dir: string;
  prompt: string;
  executable: string;
  agentArgs: TaskRecord['agentArgs'];
  policy?: TaskRecord['policy'];
  /** ISO time of creation. */
  now: string;
  createdAt?: string;
  agentSessionId?: string | null;
  agentData?: Record<string, string>;
  state?: TaskState;
  stateReason?: string | null;
  adopted?: boolean;
  worktree?: Worktree;
  mode?: TaskMode;
}

/** The one place a task record is made: a new task with no attempt yet. */
export function newRecord(r: NewRecord): TaskRecord {
  return {
    version: RECORD_VERSION,
    name: r.name,
    agent: r.agent,
    session: sessionName(r.agent, r.name),
    dir: r.dir,
    prompt: r.prompt,
    createdAt: r.createdAt ?? r.now,
    agentSessionId: r.agentSessionId ?? null,
    agentData: r.agentData ?? {},
    attempts: [],
    state: r.state ?? 'running',
    stateReason: r.stateReason ?? null,
    stateSince: r.now,
    nextAttemptAt: null,
    heldUntil: null,
    killedByUser: false,
    agentArgs: r.agentArgs,
    executable: r.executable,
    ...(r.policy ? { policy: r.policy } : {}),
    adopted: r.adopted ?? false,
    ...(r.worktree ? { worktree: r.worktree } : {}),
    mode: r.mode ?? 'unattended',
    updatedAt: r.now,
  };
}
