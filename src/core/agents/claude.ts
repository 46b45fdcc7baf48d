import { randomUUID } from 'node:crypto';
import type { EventReading } from './transcript';
import { count, errorLine, messageLines, noteLine, promptLines, resultLines, retryLine, toolDetail, toolLine } from './transcript';
import type { HookReading } from '../model/interactive';
import { shCommand } from '../platform/ssh';
import type { AgentAdapter, EventOutcome, InteractiveAdapter, RunActivity } from './types';
import { clip, nextClockTime, parseJsonLines } from './types';

type ClaudeEvent = {
  type?: string; subtype?: string; is_error?: boolean; api_error_status?: number; result?: string; error?: string;
  rate_limit_info?: { status?: string; resetsAt?: number };
  attempt?: number; max_retries?: number; error_status?: number;
};

/**
 * What Claude Code does by itself at a failed request, in `-p --output-format stream-json` mode
 * (Claude Code 2.1.332 against the e2e suite's model server):
 * - A 500, a 529 or a 429 without a usage-limit header: it retries, announcing each retry with
 *   `{"type":"system","subtype":"api_retry","attempt":1,"max_retries":10,"retry_delay_ms":572,
 *   "error_status":500,"error":"server_error",…}` (delays 0.5, 1, 2, 4 … about 35 s; 10 retries,
 *   CLAUDE_CODE_MAX_RETRIES changes it), then goes on (exit 0) or ends with a `result` with
 *   `is_error` and `api_error_status` (exit 1). A 429 whose retry-after is longer than it will
 *   wait ends at once that way.
 * - A usage limit (a claude.ai subscriber's 429 with `anthropic-ratelimit-unified-status:
 *   rejected`): a `rate_limit_event` with `status: "rejected"` and `resetsAt` (epoch seconds), a
 *   synthetic assistant message "You've hit your 5-hour limit · resets 2:03am (UTC)" and a
 *   `result` with `is_error`, api_error_status 429: exit 1 at once. It does NOT wait for the reset
 *   in `-p` mode, not even with the setting `autoContinueAtUsageLimit: true` (that continues
 *   interactive sessions: "the limit dialog offers the wait"). So the supervisor holds it until
 *   `resetsAt` and resumes it then.
 * - With CLAUDE_CODE_RETRY_WATCHDOG=1 (what its own remote runner sets) it does wait in `-p`
 *   mode: `rate_limit_event` rejected, then `api_retry` with `error_status: 429`,
 *   `"error":"rate_limit"`, `max_retries: 300` and `retry_delay_ms` up to the reset; it asks again
 *   at the reset and goes on by itself (another limit: another pair of events). That is a task
 *   held by the agent: never resumed on top of it, resumed by id only if it dies or gives up.
 */
function claudeActivity(events: readonly unknown[]): RunActivity | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const ev = events[i] as ClaudeEvent;
    if (ev.type === 'rate_limit_event') continue;
    if (ev.type !== 'system' || ev.subtype !== 'api_retry') return undefined; // it went on since
    if (ev.error_status === 429) {
      for (let j = i - 1; j >= 0; j--) {
        const limit = events[j] as ClaudeEvent;
        if (limit.type === 'system' && limit.subtype === 'api_retry') continue;
        if (limit.type !== 'rate_limit_event') break;
        if (limit.rate_limit_info?.status === 'rejected') {
          const at = limit.rate_limit_info.resetsAt;
          return { kind: 'limit-wait', reason: 'usage limit reached', until: typeof at === 'number' ? new Date(at * 1000) : undefined };
        }
      }
    }
    return typeof ev.attempt === 'number' ? { kind: 'retrying', attempt: ev.attempt, max: ev.max_retries } : undefined;
  }
  return undefined;
}

/**
 * claude: a `result` with `is_error` and `api_error_status` (401, 429); subscribers also get a
 * `rate_limit_event` with `resetsAt` (epoch seconds) and "resets 11:30pm (UTC)" in the result.
 */
function claudeOutcome(events: readonly unknown[], now: Date): EventOutcome | undefined {
  let resetsAt: Date | undefined;
  for (const e of events) {
    const ev = e as ClaudeEvent;
    if (ev.type === 'rate_limit_event' && ev.rate_limit_info?.status === 'rejected' && typeof ev.rate_limit_info.resetsAt === 'number') {
      resetsAt = new Date(ev.rate_limit_info.resetsAt * 1000);
    }
  }
  for (let i = events.length - 1; i >= 0; i--) {
    const ev = events[i] as ClaudeEvent;
    const text = ev.result ?? '';
    if (ev.type === 'result' && ev.is_error) {
      if (ev.api_error_status === 401 || /not logged in|invalid api key/i.test(text)) return { kind: 'held', reason: `authentication failed: ${clip(text)}` };
      if (ev.api_error_status === 429 || /limit/i.test(text)) {
        const at = resetsAt ?? (/resets ([^·]+)/i.exec(text) ? nextClockTime(/resets ([^·]+)/i.exec(text)![1], now) : undefined);
        return { kind: 'held', reason: `usage limit reached: ${clip(text)}`, until: at };
      }
      return { kind: 'failed', reason: clip(text || 'Claude Code reported an error') };
    }
    if (ev.type === 'assistant' && ev.error === 'authentication_failed') return { kind: 'held', reason: 'authentication failed' };
  }
  return undefined;
}

type ClaudeBlock = { type?: string; text?: string; name?: string; input?: unknown; content?: unknown; is_error?: boolean };
type ClaudeUsage = { input_tokens?: number; cache_read_input_tokens?: number; cache_creation_input_tokens?: number; output_tokens?: number };

/** Claude Code's counts: `input_tokens` leaves out what was read from or written to the cache. */
function claudeTokens(u: ClaudeUsage | undefined, costUsd?: number) {
  const cached = count(u?.cache_read_input_tokens);
  return {
    inputTokens: count(u?.input_tokens) + cached + count(u?.cache_creation_input_tokens),
    cachedInputTokens: cached,
    outputTokens: count(u?.output_tokens),
    ...(costUsd !== undefined ? { costUsd } : {}),
  };
}

function blockText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((c) => (c && typeof c === 'object' && typeof (c as { text?: unknown }).text === 'string' ? (c as { text: string }).text : '')).join('\n');
  return '';
}

/**
 * Claude Code's stream-json (2.1.332): `system` (subtype `init` with the session id and model;
 * `api_retry` with attempt/max_retries while it retries a model request), `assistant` messages
 * (text, tool_use and thinking blocks; one event per block, the same message id and usage
 * repeated), `user` messages carrying tool results, `rate_limit_event`, and one `result` per run
 * with the run's `usage` and `total_cost_usd`. That total counts every earlier run of a resumed
 * session too; `model_usage_since_last_result` holds this run's cost per model.
 */
function readClaudeEvent(ev: Record<string, unknown>): EventReading | undefined {
  const message = (ev.message ?? {}) as { id?: string; content?: ClaudeBlock[]; usage?: ClaudeUsage };
  switch (ev.type) {
    case 'system':
      if (ev.subtype === 'init') return { lines: [noteLine(`Claude Code · model ${String(ev.model ?? '?')} · session ${String(ev.session_id ?? '?')}`)] };
      if (ev.subtype === 'api_retry') {
        const why = [ev.error_status, ev.error].filter((x) => x !== undefined && x !== null).join(' ');
        return { lines: [retryLine(typeof ev.attempt === 'number' ? ev.attempt : undefined, typeof ev.max_retries === 'number' ? ev.max_retries : undefined, why || undefined)] };
      }
      return undefined;
    case 'assistant': {
      const blocks = Array.isArray(message.content) ? message.content : [];
      const lines: string[] = [];
      const texts: string[] = [];
      for (const b of blocks) {
        if (b.type === 'text' && b.text) {
          lines.push(...messageLines(b.text));
          texts.push(b.text);
        } else if (b.type === 'tool_use') lines.push(toolLine(b.name ?? 'tool', toolDetail(b.input)));
        else if (b.type === 'thinking') lines.push(noteLine('thinking…'));
      }
      if (typeof ev.error === 'string') lines.push(errorLine(ev.error));
      // Counted by message until the run's result gives the total (a run killed before it has none).
      const usage = message.usage && message.id ? { tokens: claudeTokens(message.usage), key: message.id } : undefined;
      return { lines, ...(texts.length ? { message: texts.join('\n') } : {}), ...(usage ? { usage } : {}) };
    }
    case 'user': {
      const blocks = Array.isArray(message.content) ? message.content : [];
      return { lines: blocks.filter((b) => b.type === 'tool_result').flatMap((b) => resultLines(blockText(b.content), b.is_error === true)) };
    }
    case 'result': {
      const perModel = ev.model_usage_since_last_result as Record<string, { costUSD?: number }> | undefined;
      const runCost = perModel && typeof perModel === 'object'
        ? Object.values(perModel).reduce((n, m) => n + (typeof m?.costUSD === 'number' ? m.costUSD : 0), 0)
        : undefined;
      const lines = ev.is_error ? [errorLine(String(ev.result ?? ev.subtype ?? 'Claude Code reported an error'))] : [];
      // A result that reports no usage (an error before any request) counts nothing.
      const counted = ev.usage && typeof ev.usage === 'object';
      return {
        lines, endsTurn: true,
        ...(!ev.is_error && typeof ev.result === 'string' ? { message: ev.result } : {}),
        ...(counted ? { usage: { tokens: claudeTokens(ev.usage as ClaudeUsage, runCost), total: true } } : {}),
      };
    }
    case 'rate_limit_event': {
      const info = (ev.rate_limit_info ?? {}) as { status?: string; resetsAt?: number };
      if (info.status === 'allowed') return { lines: [] };
      const at = typeof info.resetsAt === 'number' ? ` until ${new Date(info.resetsAt * 1000).toISOString()}` : '';
      return { lines: [noteLine(`rate limit ${info.status ?? ''}${at}`)] };
    }
    case 'stream_event':
      return { lines: [] };
    default:
      return undefined;
  }
}

/** The events whose hooks tell what the TUI does (Claude Code 2.1.332 has each of them). */
const HOOK_EVENTS = ['SessionStart', 'UserPromptSubmit', 'PreToolUse', 'PostToolUse', 'PostToolUseFailure', 'PermissionRequest', 'Notification', 'Stop', 'StopFailure', 'SessionEnd'] as const;
const TOOL_EVENTS: readonly string[] = ['PreToolUse', 'PostToolUse', 'PostToolUseFailure', 'PermissionRequest'];
/** SessionEnd's reasons that are the person's own exit (/exit, Ctrl-D, Ctrl-C twice; signing out). */
const EXITED_BY_PERSON = ['prompt_input_exit', 'logout'];

type HookPayload = {
  hook_event_name?: unknown; session_id?: unknown; source?: unknown; reason?: unknown; tool_name?: unknown;
  notification_type?: unknown; message?: unknown; error?: unknown; error_details?: unknown; transcript_path?: unknown;
};

const str = (x: unknown): string | undefined => (typeof x === 'string' && x ? x : undefined);

/**
 * One of Claude Code's hook payloads (JSON on the hook's stdin: session_id, hook_event_name,
 * transcript_path, cwd, and the event's own fields) as a state. What they miss (2.1.332): an
 * interrupt (Esc) fires no hook at all (decide/classify.ts reads the pane going still instead); a
 * permission answered "no" fires no event of its own (the next one tells); an API error ends the
 * turn with StopFailure, not Stop.
 */
export function readClaudeHook(payload: Record<string, unknown>): HookReading | undefined {
  const p = payload as HookPayload;
  const sessionId = str(p.session_id);
  const log = str(p.transcript_path);
  const withId = (r: HookReading): HookReading => ({ ...r, ...(sessionId ? { sessionId } : {}), ...(log ? { log } : {}) });
  switch (p.hook_event_name) {
    case 'SessionStart':
      // Compaction in the middle of a turn starts the session again too: that says nothing.
      return p.source === 'compact' ? undefined : withId({ state: 'idle' });
    case 'UserPromptSubmit':
    case 'PreToolUse':
    case 'PostToolUse':
    case 'PostToolUseFailure':
      return withId({ state: 'working' });
    case 'PermissionRequest':
      return withId({ state: 'waiting', reason: `permission to use ${str(p.tool_name) ?? 'a tool'}` });
    case 'Notification':
      if (p.notification_type === 'permission_prompt') return withId({ state: 'waiting', reason: clip(str(p.message) ?? 'a permission') });
      if (p.notification_type === 'elicitation_dialog') return withId({ state: 'waiting', reason: clip(str(p.message) ?? 'a question') });
      if (p.notification_type === 'idle_prompt') return withId({ state: 'idle' });
      return undefined;
    case 'Stop':
      return withId({ state: 'idle' });
    case 'StopFailure':
      // `error` is a kind (rate_limit, authentication_failed, unknown, …); `error_details` says more.
      return withId({ state: 'idle', reason: `its turn ended on an error: ${clip([str(p.error) ?? 'unknown', str(p.error_details)].filter(Boolean).join(': '))}` });
    case 'SessionEnd': {
      const reason = str(p.reason) ?? 'other';
      // /clear and /resume end this session and start another at once (SessionStart gives its id).
      if (reason === 'clear' || reason === 'resume') return undefined;
      const byPerson = EXITED_BY_PERSON.includes(reason);
      return withId({ state: 'ended', reason: byPerson ? 'the person exited Claude Code' : `its session ended (${reason})`, byPerson });
    }
    default:
      return undefined;
  }
}

/**
 * Claude Code's TUI in the pane: `--session-id` (chosen up front) and `--settings` with the
 * hooks (a file in the attempt folder; Claude Code merges it with the person's own settings, which
 * stay untouched). Claude Code runs a hook's `command` with a shell, so the product's argv is
 * quoted for sh here, every element, the only command line made for it. The approval flags of
 * unattended runs (modeArgs) are left out: a person answers the TUI's own prompts.
 */
const claudeInteractive: InteractiveAdapter = {
  settingsFile(hook) {
    const command = shCommand(hook);
    const hooks = Object.fromEntries(HOOK_EVENTS.map((event) => [event, [{
      ...(TOOL_EVENTS.includes(event) ? { matcher: '*' } : {}),
      hooks: [{ type: 'command', command, timeout: 10 }],
    }]]));
    return `${JSON.stringify({ hooks }, null, 2)}\n`;
  },
  startArgs: (task, s, settingsFile, prompt) =>
    ['--session-id', task.agentSessionId ?? '', '--settings', settingsFile, ...s.extraArgs, ...(prompt ? ['--', prompt] : [])],
  resumeArgs: (task, s, settingsFile, prompt) =>
    ['--resume', task.agentSessionId ?? '', '--settings', settingsFile, ...s.extraArgs, ...(prompt ? ['--', prompt] : [])],
  readHook: readClaudeHook,
  readLogLine: readClaudeLogLine,
};

/**
 * One entry of Claude Code's session log (the JSONL its hooks name as transcript_path): its
 * assistant and tool-result entries are those of its stream-json events; a prompt typed by the
 * person is a user entry whose content is text (a slash command's and its output's, in tags, and
 * Claude Code's own notes, `isMeta`, are not the person's words).
 */
function readClaudeLogLine(entry: Record<string, unknown>): EventReading {
  const none = { lines: [] };
  // A subagent's own turns, and what is not a message (summaries, snapshots of files, system notes).
  if (entry.isSidechain === true || (entry.type !== 'assistant' && entry.type !== 'user')) return none;
  const content = (entry.message as { content?: unknown } | undefined)?.content;
  if (entry.type === 'assistant' || typeof content !== 'string') return readClaudeEvent(entry) ?? none;
  if (entry.isMeta === true || /^\s*</.test(content)) return none;
  return { lines: promptLines(content) };
}

/**
 * Claude Code. The id is minted here and given with `--session-id`; resume is `--resume <id>`
 * run in the original folder (elsewhere: "No conversation found"). A bare `--resume` opens an
 * interactive picker and would hang the pane: never used.
 */
export const claude: AgentAdapter = {
  id: 'claude',
  displayName: 'Claude Code',
  install: 'npm install -g @anthropic-ai/claude-code',
  signIn: 'run "claude", then /login, or set ANTHROPIC_API_KEY',
  // With no prompt argument, -p reads it from stdin: a prompt in argv is readable by every local user (ps).
  promptOnStdin: () => true,
  prepare: () => ({ agentSessionId: randomUUID(), agentData: {} }),
  startArgs: (task, s) =>
    ['-p', '--output-format', 'stream-json', '--verbose', '--session-id', task.agentSessionId ?? '', ...s.modeArgs, ...s.extraArgs],
  resumeArgs: (task, s) =>
    ['-p', '--resume', task.agentSessionId ?? '', '--output-format', 'stream-json', '--verbose', ...s.modeArgs, ...s.extraArgs],
  sessionIdFromEvents(lines) {
    for (const e of parseJsonLines(lines.slice(0, 20))) {
      const ev = e as { type?: unknown; session_id?: unknown };
      if (ev.type === 'system' && typeof ev.session_id === 'string' && ev.session_id) return ev.session_id;
    }
    return undefined;
  },
  // The id is chosen up front, so it is always known; whether Claude Code saved the session is
  // its own answer to --resume (a wrapper or CLAUDE_CONFIG_DIR may keep it anywhere).
  canResume: (task) => (task.agentSessionId ? { ok: true } : { ok: false, why: 'no session id' }),
  sessionNotFound: [/No conversation found with session ID/i],
  waitingPatterns: [/Do you want to (proceed|make this edit|create)/i, /Do you trust the files in this folder\?/i],
  outcomeFromEvents: claudeOutcome,
  readEvent: readClaudeEvent,
  activityFromEvents: claudeActivity,
  interactive: claudeInteractive,
};
