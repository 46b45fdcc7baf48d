/**
 * What an interactive agent's own hooks say it is doing (the agent's adapter reads each payload):
 * - `working`: a prompt was submitted, a tool runs;
 * - `waiting`: it asks the person (a permission, a question);
 * - `idle`: its turn is over, its prompt is empty: the person's move;
 * - `ended`: its session ended (`byPerson`: the person exited it, e.g. /exit or Ctrl-D).
 */
export const HOOK_STATES = ['working', 'waiting', 'idle', 'ended'] as const;
export type HookStateName = (typeof HOOK_STATES)[number];

/** One hook payload as the adapter reads it. */
export interface HookReading {
  state: HookStateName;
  /** What a person reads beside the state ("permission to use Bash", "API error: …"). */
  reason?: string;
  /** The agent's session id as the payload gives it (a /clear starts another). */
  sessionId?: string;
  /** `ended` because the person exited (never resumed). */
  byPerson?: boolean;
  /** The agent's own log of the session, as its hook names it (Claude Code's transcript_path): the task's transcript. */
  log?: string;
}

/** The attempt's hook file: the latest reading, the event it came from, and when (ms since the epoch). */
export interface HookState extends HookReading {
  event: string;
  at: number;
}

export function isHookState(x: unknown): x is HookState {
  const o = x as Partial<HookState> | null;
  return typeof o === 'object' && o !== null && (HOOK_STATES as readonly string[]).includes(o.state as string)
    && typeof o.event === 'string' && typeof o.at === 'number';
}
