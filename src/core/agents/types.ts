import type { HookReading } from '../model/interactive';
import type { AgentId } from '../model/names';
import type { TaskRecord } from '../model/record';
import type { AgentSettings } from '../model/settings';
import type { EventReading } from './transcript';

export type { AgentSettings };

/** What the adapter decides about a task before its first run (ids chosen up front). */
export interface Prepared {
  agentSessionId: string | null;
  agentData: Record<string, string>;
}

/** The prompt of one run: the task's prompt, or the continue prompt of a resume. */
export interface TaskPrompt {
  text: string;
}

export interface HeldSignal {
  reason: string;
  /** Usage limits that say when they reset: held until then, then resumed. */
  until?: Date;
}

export type EventOutcome = ({ kind: 'held' } & HeldSignal) | { kind: 'failed'; reason: string };

/**
 * What a running agent's own events say it is doing by itself: retrying failed model requests
 * (`attempt` of `max`), or waiting out a usage limit until `until` (when it said) before it
 * continues on its own. Undefined: nothing of the sort, or it has gone on since.
 */
export type RunActivity =
  | { kind: 'retrying'; attempt: number; max?: number }
  | { kind: 'limit-wait'; until?: Date; reason: string };

export interface ResumeCheck {
  /** The native resume can continue this task's session. */
  ok: boolean;
  /** Why not, shown to the user when the task is started again from its prompt. */
  why?: string;
  /**
   * The agent saved nothing of the task at all (Pi writes its session only once the first reply
   * is complete): started again, an interactive task is given its first prompt again, which no
   * session holds. Absent: it opens empty (e.g. Claude Code after /clear: the prompt was answered).
   */
  promptUnsaid?: boolean;
}

/**
 * An agent whose own TUI runs in the pane (an interactive task): how it is started and resumed
 * there, and how its own hooks tell what it does. The hooks are installed for that one run (a file
 * in the attempt folder, given on its command line), never in the person's own settings.
 */
export interface InteractiveAdapter {
  /**
   * The content of the attempt's settings file, written before the run and named on the agent's
   * command line: its hooks, each running `hook` (an argv: the product's own `hook` command).
   */
  settingsFile(hook: readonly string[]): string;
  /** That file's name in the attempt folder, when the agent needs its own (Pi loads a `.mjs` extension); else agent-settings.json. */
  readonly settingsName?: string;
  /**
   * Arguments after the executable: its TUI on a new session (the id chosen up front, where the
   * agent lets us), with an optional first prompt. `hook` is the same argv as settingsFile's, for
   * an agent that takes its hooks on the command line instead of in a file (Codex's `-c`); `port`,
   * the loopback port its server is to listen on (an agent with a `server`).
   */
  startArgs(task: TaskRecord, settings: AgentSettings, settingsFile: string, prompt: string | undefined, hook?: readonly string[], port?: number): string[];
  /**
   * Arguments after the executable: its TUI on the exact session again. Nothing is typed into it
   * but `prompt`, a follow-up a person asked for.
   */
  resumeArgs(task: TaskRecord, settings: AgentSettings, settingsFile: string, prompt: string | undefined, hook?: readonly string[], port?: number): string[];
  /** One hook payload (the JSON the agent gave the hook on stdin) as a state; undefined: an event that says nothing. */
  readHook(payload: Record<string, unknown>): HookReading | undefined;
  /**
   * One entry (a JSON line) of the agent's own session log, the file its hooks name (`log`), as
   * transcript lines. Absent: the task's transcript is its pane.
   */
  readLogLine?(entry: Record<string, unknown>): EventReading | undefined;
  /**
   * An agent whose TUI tells what it does over its own HTTP server (Server-Sent Events) instead of
   * hooks (OpenCode): the supervisor holds one connection to it per live attempt and writes what it
   * hears into the attempt's hook files, as the `hook` command does for the others.
   */
  readonly server?: AgentServer;
}

/** The server part of an interactive TUI: how it is asked to serve, and what its events mean. */
export interface AgentServer {
  /** Environment entries for the TUI: its server's password (never on its command line). */
  env(password: string): Record<string, string>;
  /** The `Authorization` header of a request to it. */
  authorization(password: string): string;
  /** The path of its event stream (SSE), for the TUI's folder. */
  eventsPath(dir: string): string;
  /**
   * One event of the stream as a state. `sessionId`: the task's session as known (events of other
   * sessions, e.g. a subagent's, say nothing of the TUI's own). Undefined: nothing to tell.
   */
  readEvent(event: Record<string, unknown>, sessionId: string | undefined): HookReading | undefined;
  /**
   * What it does now, asked on every (re)connection (events sent before it are lost): `get` makes
   * one request to it (a path, the JSON answer); `since`, when the attempt began (ms), for a
   * session id not known yet. Undefined: it does not say.
   */
  currentState(get: (path: string) => Promise<unknown>, dir: string, sessionId: string | undefined, since: number): Promise<HookReading | undefined>;
  /**
   * A follow-up for a TUI resumed on its session, said through its API once it answers (for an
   * agent whose resume takes no prompt): the request to make (`post` sends JSON, resolves once accepted).
   */
  sendPrompt?(post: (path: string, body: unknown) => Promise<void>, dir: string, sessionId: string, text: string): Promise<void>;
}

export interface AgentAdapter {
  readonly id: AgentId;
  readonly displayName: string;
  /** How a person installs it (shown when it is not on PATH). */
  readonly install: string;
  /** How a person signs this agent in again after an authentication failure. */
  readonly signIn?: string;
  /** Minted before the first run (claude's --session-id, pi's session file). */
  prepare(input: { dir: string; taskDir: string; env: NodeJS.ProcessEnv }): Prepared;
  /**
   * Whether this prompt must reach the agent on its standard input instead of as an argument:
   * some CLIs rewrite or misread a prompt argument (opencode quotes it; pi reads a leading "-" as
   * a flag and "@" as a file). The prompt is then left out of the argv.
   */
  promptOnStdin(prompt: string): boolean;
  /** Arguments after the executable for a fresh run from the task's prompt. */
  startArgs(task: TaskRecord, settings: AgentSettings, prompt: TaskPrompt): string[];
  /** Arguments after the executable for a native resume of the exact session, with the continue prompt. */
  resumeArgs(task: TaskRecord, settings: AgentSettings, prompt: TaskPrompt): string[];
  /** The session id from the first lines of the JSON event stream, if it is there yet. */
  sessionIdFromEvents(lines: readonly string[]): string | undefined;
  /** Whether the agent's own resume can continue this task (an id known and a session on disk). */
  canResume(task: TaskRecord): ResumeCheck;
  /** Pane or event lines that mean the agent waits for a person. */
  readonly waitingPatterns: readonly RegExp[];
  /**
   * What the agent's own JSON events say about how its run ended: an auth failure or a usage limit
   * (held, never retried by backoff), or a failure behind a zero exit status (pi exits 0 on API
   * errors). Undefined: the events say nothing special. Pane text is only a last resort, elsewhere.
   */
  outcomeFromEvents(events: readonly unknown[], now: Date): EventOutcome | undefined;
  /**
   * What the last events of a run that is still going say it is doing by itself (its own retries,
   * its own wait for a usage limit). Absent: the agent reports nothing of the kind.
   */
  activityFromEvents?(events: readonly unknown[], now: Date): RunActivity | undefined;
  /**
   * What the agent prints when asked to resume a session it does not have (its own words, e.g.
   * Claude Code's "No conversation found with session ID"). Only then is a task started again from
   * its prompt: where an agent keeps its sessions is never guessed (a wrapper may move them).
   */
  readonly sessionNotFound: readonly RegExp[];
  /**
   * One of the agent's JSON events as a person reads it (messages, tool calls and results, errors,
   * retries) and what it reports (a message, token use). Undefined: an event this adapter does not
   * know, shown compactly. Pure; never throws on odd input (a throw counts as unknown).
   */
  readEvent(event: Record<string, unknown>): EventReading | undefined;
  /** Its TUI supervised as an interactive task; absent: the agent runs unattended only. */
  readonly interactive?: InteractiveAdapter;
  /** The seed's way to find the id of a session started by hand, if this agent had one. */
  seedSessionIdFile?(taskName: string): string;
}

export function parseJsonLines(lines: readonly string[]): unknown[] {
  const out: unknown[] = [];
  for (const line of lines) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      out.push(JSON.parse(t));
    } catch {
      /* a partial or foreign line */
    }
  }
  return out;
}

const AUTH_PATTERNS = [/\b401\b.*(unauthori[sz]ed|invalid|api key)/i, /invalid (x-)?api[ _-]?key/i, /authentication[_ ](error|failed)/i, /not logged in/i];
const USAGE_PATTERNS = [/usage limit/i, /session limit/i, /quota exceeded/i, /insufficient_quota/i];

/** The last resort, for an agent that exited non-zero without saying why in its events: its pane. */
export function heldFromPane(pane: readonly string[]): HeldSignal | undefined {
  const text = pane.slice(-20);
  for (const line of text) {
    if (AUTH_PATTERNS.some((p) => p.test(line))) return { reason: `authentication failed: ${clip(line)}` };
  }
  for (const line of text) {
    if (USAGE_PATTERNS.some((p) => p.test(line))) return { reason: `usage limit reached: ${clip(line)}` };
  }
  return undefined;
}

export function clip(text: string, max = 160): string {
  const t = text.trim().replace(/\s+/g, ' ');
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

/** The next time a wall clock shows `h:mm` (with am/pm if given) after `now`, in local time or UTC. */
export function nextClockTime(text: string, now: Date): Date | undefined {
  const m = /(\d{1,2}):(\d{2})\s*([ap]\.?m\.?)?\s*(\(UTC\)|UTC)?/i.exec(text);
  if (!m) return undefined;
  let hour = Number(m[1]);
  const minute = Number(m[2]);
  const ampm = m[3]?.toLowerCase().replace(/\./g, '');
  if (ampm === 'pm' && hour < 12) hour += 12;
  if (ampm === 'am' && hour === 12) hour = 0;
  if (hour > 23 || minute > 59) return undefined;
  const utc = Boolean(m[4]);
  const at = new Date(now);
  if (utc) at.setUTCHours(hour, minute, 0, 0);
  else at.setHours(hour, minute, 0, 0);
  if (at.getTime() <= now.getTime()) at.setTime(at.getTime() + 24 * 3600_000);
  return at;
}

/** Every argv keeps the prompt one element after `--`, so a prompt starting with `-` stays a prompt. */
export function withPrompt(args: string[], prompt: string): string[] {
  return [...args, '--', prompt];
}
