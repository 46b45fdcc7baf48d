import type { EventReading } from './transcript';
import { count, errorLine, messageLines, noteLine, promptLines, resultLines, retryLine, toolDetail, toolLine } from './transcript';
import type { HookReading } from '../model/interactive';
import { shCommand } from '../platform/ssh';
import type { AgentAdapter, EventOutcome, InteractiveAdapter, RunActivity } from './types';
import { clip, nextClockTime, parseJsonLines, withPrompt } from './types';

/** codex: `{"type":"error","message":…}` and `{"type":"turn.failed","error":{"message":…}}`. */
function codexOutcome(events: readonly unknown[], now: Date): EventOutcome | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const ev = events[i] as { type?: string; message?: string; error?: { message?: string } };
    if (ev.type !== 'error' && ev.type !== 'turn.failed') continue;
    const message = ev.message ?? ev.error?.message ?? '';
    if (/\b401\b|Unauthorized/i.test(message)) return { kind: 'held', reason: `authentication failed: ${clip(message)}` };
    if (/usage limit/i.test(message)) {
      const at = /try again at ([^.]+)/i.exec(message);
      return { kind: 'held', reason: `usage limit reached: ${clip(message)}`, until: at ? nextClockTime(at[1], now) : undefined };
    }
    // A 429 that is not its usage-limit body: a rate limit with no time to try again at.
    if (/last status: 429\b/.test(message)) return { kind: 'held', reason: `usage limit reached: ${clip(message)}` };
  }
  return undefined;
}

/**
 * What codex does by itself at a failed request (codex-cli 0.171.0, `exec --json`, against the
 * e2e suite's model server):
 * - A 500: four quick request retries that print nothing, then `{"type":"error","message":
 *   "Reconnecting... 1/5 (We’re currently experiencing high demand, …)"}` before each of its 5
 *   stream reconnects (about 3 s apart), then `error` + `turn.failed` with the message, exit 1.
 *   A request that succeeds meanwhile goes on (`item.completed`, `turn.completed`, exit 0).
 * - A usage limit (429 `usage_limit_reached` with `resets_at`): `error` + `turn.failed` "You’ve
 *   hit your usage limit. … try again at 2:17 AM.", exit 1 at once. It never waits for the reset.
 * - Any other 429: "exceeded retry limit, last status: 429 Too Many Requests", exit 1 at once:
 *   a limit with no reset time.
 */
function codexActivity(events: readonly unknown[]): RunActivity | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const ev = events[i] as { type?: string; message?: string };
    const m = ev.type === 'error' ? /^Reconnecting\.\.\. (\d+)\/(\d+)/.exec(ev.message ?? '') : null;
    return m ? { kind: 'retrying', attempt: Number(m[1]), max: Number(m[2]) } : undefined;
  }
  return undefined;
}

type CodexItem = {
  type?: string; text?: string; command?: string; aggregated_output?: string; exit_code?: number | null; status?: string;
  changes?: { path?: string; kind?: string }[]; server?: string; tool?: string; arguments?: unknown;
  result?: { content?: { text?: string }[] } | null; error?: { message?: string } | null; query?: string; items?: { completed?: boolean }[];
};

/** `/bin/bash -lc 'echo hi'` -> `echo hi`: codex runs every command through a login shell. */
function innerCommand(command: string): string {
  const m = /^\S*\/(?:ba|z)?sh -lc '((?:[^']|'\\'')*)'$/.exec(command);
  return m ? m[1].replace(/'\\''/g, "'") : command;
}

/**
 * codex exec --json (codex-cli 0.171.0): `thread.started`, `turn.started`, `item.started` /
 * `item.updated` / `item.completed` with an item (agent_message, reasoning, command_execution,
 * file_change, mcp_tool_call, web_search, todo_list), `turn.completed` with `usage`, `turn.failed`,
 * and `error` (also "Reconnecting... 2/5" while it retries a dropped stream). The usage of
 * `turn.completed` counts the whole thread: a resumed thread goes on from its earlier runs' counts.
 */
function readCodexEvent(ev: Record<string, unknown>): EventReading | undefined {
  const item = (ev.item ?? {}) as CodexItem;
  switch (ev.type) {
    case 'thread.started':
      return { lines: [noteLine(`codex thread ${String(ev.thread_id)}`)] };
    case 'turn.started':
    case 'item.updated':
      return { lines: [] };
    case 'turn.completed': {
      const u = (ev.usage ?? {}) as Record<string, unknown>;
      return {
        lines: [], endsTurn: true,
        usage: { tokens: { inputTokens: count(u.input_tokens), cachedInputTokens: count(u.cached_input_tokens), outputTokens: count(u.output_tokens) }, ofSession: true },
      };
    }
    case 'turn.failed':
      return { lines: [errorLine((ev.error as { message?: string } | undefined)?.message ?? 'the turn failed')] };
    case 'error': {
      const message = String(ev.message ?? 'error');
      const retry = /Reconnecting\.*\s*(\d+)\/(\d+)/i.exec(message);
      return { lines: [retry ? retryLine(Number(retry[1]), Number(retry[2]), message) : errorLine(message)] };
    }
    case 'item.started':
      if (item.type === 'command_execution') return { lines: [toolLine('shell', innerCommand(item.command ?? ''))] };
      if (item.type === 'mcp_tool_call') return { lines: [toolLine(`${item.server ?? 'mcp'}.${item.tool ?? 'tool'}`, toolDetail(item.arguments))] };
      return { lines: [] };
    case 'item.completed':
      switch (item.type) {
        case 'agent_message':
          return { lines: messageLines(item.text ?? ''), message: item.text ?? '' };
        case 'reasoning':
          return { lines: [noteLine(`thinking: ${item.text ?? ''}`)] };
        case 'command_execution':
          return { lines: resultLines(item.aggregated_output ?? '', item.status === 'failed' || (typeof item.exit_code === 'number' && item.exit_code !== 0)) };
        case 'file_change':
          return { lines: (item.changes ?? []).map((c) => toolLine(c.kind === 'add' ? 'create' : c.kind === 'delete' ? 'delete' : 'edit', c.path)) };
        case 'mcp_tool_call':
          return { lines: resultLines(item.error?.message ?? (item.result?.content ?? []).map((c) => c.text ?? '').join('\n'), Boolean(item.error)) };
        case 'web_search':
          return { lines: [toolLine('web search', item.query)] };
        case 'todo_list':
          return { lines: [noteLine(`plan: ${(item.items ?? []).filter((i) => i.completed).length}/${(item.items ?? []).length} steps done`)] };
        case 'error':
          return { lines: [errorLine(String((item as { message?: string }).message ?? 'error'))] };
        default:
          return undefined;
      }
    default:
      return undefined;
  }
}

/** The events whose hooks tell what Codex's TUI does (codex-cli 0.171.0 has each of them). */
const HOOK_EVENTS = ['SessionStart', 'UserPromptSubmit', 'PreToolUse', 'PermissionRequest', 'PostToolUse', 'Stop', 'Interrupt', 'SessionEnd'] as const;

const str = (x: unknown): string | undefined => (typeof x === 'string' && x ? x : undefined);

/**
 * One of Codex's hook payloads (JSON on the hook's stdin: session_id, turn_id, transcript_path,
 * cwd, hook_event_name, model, permission_mode and the event's own fields) as a state. As measured
 * with codex-cli 0.171.0's TUI:
 * - SessionStart fires only when the first prompt is submitted (right before UserPromptSubmit),
 *   also on a resume: it says "working" and gives the session id, which cannot be chosen up front.
 *   Until then no hook says anything (an empty TUI is idle by its still pane) and the id is unknown.
 * - Esc fires Interrupt (unlike Claude Code): idle at once.
 * - SessionEnd says `reason: "other"` for /exit and for Ctrl-C alike: it tells nothing the exit
 *   status does not (0 for the person's exit, 137 for a kill -9), so it is read as nothing.
 */
export function readCodexHook(payload: Record<string, unknown>): HookReading | undefined {
  const sessionId = str(payload.session_id);
  const log = str(payload.transcript_path);
  const withId = (r: HookReading): HookReading => ({ ...r, ...(sessionId ? { sessionId } : {}), ...(log ? { log } : {}) });
  switch (payload.hook_event_name) {
    case 'SessionStart':
    case 'UserPromptSubmit':
    case 'PreToolUse':
    case 'PostToolUse':
      return withId({ state: 'working' });
    case 'PermissionRequest': {
      const input = (payload.tool_input ?? {}) as { command?: unknown };
      const command = str(input.command);
      return withId({ state: 'waiting', reason: `permission to use ${str(payload.tool_name) ?? 'a tool'}${command ? `: ${clip(command, 80)}` : ''}` });
    }
    case 'Stop':
      return withId({ state: 'idle' });
    case 'Interrupt':
      return withId({ state: 'idle', reason: 'interrupted (Esc): your move' });
    default:
      return undefined;
  }
}

/**
 * The hooks as `-c` config overrides (each a TOML inline value, one argv element; Codex runs the
 * command with a shell, so every element of ours is quoted for sh). Hooks given that way run only
 * once trusted, and Codex keeps that trust in the person's own config.toml (a hash per hook under
 * `hooks.state`; the same table given with `-c` is not honoured): the one way that leaves the
 * person's files alone is `--dangerously-bypass-hook-trust`, for this run only.
 */
function hookArgs(hook: readonly string[] | undefined): string[] {
  if (!hook?.length) return [];
  const command = JSON.stringify(shCommand(hook)); // a TOML basic string
  return ['--dangerously-bypass-hook-trust', ...HOOK_EVENTS.flatMap((event) => ['-c', `hooks.${event}=[{hooks=[{type="command",command=${command}}]}]`])];
}

/**
 * Codex's TUI in the pane: its hooks on the command line (hookArgs), the folder with `-C`, the
 * first prompt after `--`; `codex resume -- ID` opens the exact session again (from any folder;
 * an unknown id: "No saved session found with ID …", exit 1). The attempt's settings file holds
 * the same hooks, for a person reading the attempt folder: Codex does not read it. The
 * approval flags of unattended runs (modeArgs) are left out: a person answers its own prompts.
 */
const codexInteractive: InteractiveAdapter = {
  settingsFile(hook) {
    const hooks = Object.fromEntries(HOOK_EVENTS.map((e) => [e, [{ hooks: [{ type: 'command', command: shCommand(hook) }] }]]));
    return `${JSON.stringify({ note: 'given to Codex as -c overrides with --dangerously-bypass-hook-trust; Codex does not read this file', hooks }, null, 2)}\n`;
  },
  startArgs: (task, s, _file, prompt, hook) => [...hookArgs(hook), '-C', task.dir, ...s.extraArgs, ...(prompt ? ['--', prompt] : [])],
  resumeArgs: (task, s, _file, prompt, hook) =>
    ['resume', ...hookArgs(hook), '-C', task.dir, ...s.extraArgs, '--', task.agentSessionId ?? '', ...(prompt ? [prompt] : [])],
  readHook: readCodexHook,
  readLogLine: readCodexLogLine,
};

/**
 * One entry of Codex's session log (its rollout JSONL, the file its hooks name as transcript_path;
 * codex-cli 0.171.0): `response_item`s hold the conversation as the model saw it: the person's
 * prompts (user messages; those Codex adds itself, its environment and instructions, are in tags),
 * its replies (assistant messages), its tool calls and their output; its `token_count` events, the
 * session's tokens so far. The rest (the session's settings, `event_msg`s that repeat the items) is not shown.
 */
function readCodexLogLine(entry: Record<string, unknown>): EventReading {
  const none = { lines: [] };
  const p = (entry.payload ?? {}) as { type?: unknown; role?: unknown; content?: unknown; name?: unknown; arguments?: unknown; output?: unknown; info?: unknown };
  // Its token count so far, the whole session's.
  if (entry.type === 'event_msg' && p.type === 'token_count') {
    const u = ((p.info ?? {}) as { total_token_usage?: Record<string, unknown> }).total_token_usage;
    return u ? { lines: [], usage: { tokens: { inputTokens: count(u.input_tokens), cachedInputTokens: count(u.cached_input_tokens), outputTokens: count(u.output_tokens) }, ofSession: true } } : none;
  }
  if (entry.type !== 'response_item') return none;
  if (p.type === 'message') {
    const text = (Array.isArray(p.content) ? p.content : []).map((c) => (c as { text?: unknown })?.text).filter((t): t is string => typeof t === 'string').join('\n');
    if (!text.trim()) return none;
    if (p.role === 'user') return /^\s*</.test(text) ? none : { lines: promptLines(text) };
    return p.role === 'assistant' ? { lines: messageLines(text), message: text } : none;
  }
  if (p.type === 'function_call') {
    let args: unknown = p.arguments;
    try {
      args = typeof p.arguments === 'string' ? JSON.parse(p.arguments) : p.arguments;
    } catch {
      /* shown as it is */
    }
    return { lines: [toolLine(typeof p.name === 'string' ? p.name : 'tool', toolDetail(args))] };
  }
  if (p.type === 'function_call_output') {
    const out = typeof p.output === 'string' ? p.output : JSON.stringify(p.output ?? '');
    // Codex heads a command's output with its own lines (chunk id, wall time, exit code): the output follows "Output:".
    const at = out.indexOf('\nOutput:\n');
    return { lines: resultLines(at >= 0 ? out.slice(at + 9) : out) };
  }
  return none;
}

/**
 * OpenAI Codex CLI. `codex exec --json` prints `{"type":"thread.started","thread_id":…}` as its
 * first line, before any model call; `codex exec resume <thread_id> <prompt>` continues it.
 * `--full-auto` no longer exists; exec never asks for approval.
 */
/** codex's word for "the prompt is on stdin". */
const STDIN = '-';

export const codex: AgentAdapter = {
  id: 'codex',
  displayName: 'Codex',
  install: 'npm install -g @openai/codex',
  signIn: 'run "codex login"',
  // `-` reads the prompt from stdin (codex-cli 0.169, still so in 0.171.0): a prompt in argv is readable by every local user (ps).
  promptOnStdin: () => true,
  prepare: () => ({ agentSessionId: null, agentData: {} }),
  startArgs: (task, s) =>
    withPrompt(['exec', '--json', ...s.modeArgs, '--skip-git-repo-check', '-C', task.dir, ...s.extraArgs], STDIN),
  // `exec resume` refuses -s and -C: they go on `exec`, before `resume` (checked on codex-cli 0.169.0 and 0.171.0: `unexpected argument '-s' found`).
  resumeArgs: (task, s) => [
    'exec', '--json', ...s.modeArgs, '--skip-git-repo-check', '-C', task.dir, ...s.extraArgs,
    'resume', task.agentSessionId ?? '', '--', STDIN,
  ],
  sessionIdFromEvents(lines) {
    for (const e of parseJsonLines(lines.slice(0, 20))) {
      const ev = e as { type?: unknown; thread_id?: unknown };
      if (ev.type === 'thread.started' && typeof ev.thread_id === 'string' && ev.thread_id) return ev.thread_id;
    }
    return undefined;
  },
  canResume: (task) =>
    task.agentSessionId ? { ok: true } : { ok: false, why: 'codex had not reported a thread id' },
  sessionNotFound: [/no rollout found for thread id/i, /No saved session found with ID/i],
  waitingPatterns: [/^\s*Allow command\?/m, /Approve this (command|change)\?/i],
  outcomeFromEvents: codexOutcome,
  readEvent: readCodexEvent,
  activityFromEvents: codexActivity,
  interactive: codexInteractive,
  seedSessionIdFile: (taskName) => `/tmp/codex-${taskName}.codex-session-id`,
};
