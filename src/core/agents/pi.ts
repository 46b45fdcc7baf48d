import fs = require('node:fs');
import path = require('node:path');
import type { EventReading } from './transcript';
import { count, errorLine, messageLines, noteLine, promptLines, resultLines, retryLine, toolDetail, toolLine } from './transcript';
import type { HookReading } from '../model/interactive';
import { isInteractive } from '../model/record';
import type { AgentAdapter, EventOutcome, InteractiveAdapter, RunActivity, TaskPrompt } from './types';
import { clip, parseJsonLines } from './types';

type PiMessage = { role?: string; stopReason?: string; errorMessage?: string };
type PiEvent = {
  type?: string; stopReason?: string; errorMessage?: string; success?: boolean; finalError?: string; message?: PiMessage; messages?: PiMessage[];
  attempt?: number; maxAttempts?: number;
};

/** The error an event reports, if any: `agent_end` carries the conversation, the last assistant message says how it ended. */
function piError(ev: PiEvent): string | undefined {
  if (ev.type === 'auto_retry_end' && ev.success === false) return ev.finalError ?? 'error';
  const last = ev.type === 'agent_end' && Array.isArray(ev.messages) ? [...ev.messages].reverse().find((m) => m.role === 'assistant') : undefined;
  const m = last ?? ev.message ?? ev;
  return m.stopReason === 'error' ? (m.errorMessage ?? 'error') : undefined;
}

/**
 * pi exits 0 even when the model API failed: the error is only in its events, a `stopReason`
 * of "error" with `errorMessage` ("401 …", "429 …"), or `auto_retry_end` with `success: false`.
 */
function piOutcome(events: readonly unknown[]): EventOutcome | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const ev = events[i] as PiEvent;
    const error = piError(ev);
    if (error === undefined) {
      if (ev.type === 'agent_end' || ev.type === 'message_end') return undefined; // a clean end after any retry
      continue;
    }
    if (/^\s*(401|403)\b/.test(error) || /api key|unauthori[sz]ed/i.test(error)) return { kind: 'held', reason: `authentication failed: ${clip(error)}` };
    if (/^\s*429\b/.test(error) || /quota|usage limit|rate limit/i.test(error)) return { kind: 'held', reason: `usage limit reached: ${clip(error)}` };
    return { kind: 'failed', reason: `the model API failed: ${clip(error)}` };
  }
  return undefined;
}

type PiContent = { type?: string; text?: string };
type PiAssistant = {
  role?: string; content?: PiContent[] | string; stopReason?: string; errorMessage?: string; responseId?: string; timestamp?: number;
  usage?: { input?: number; output?: number; cacheRead?: number; cacheWrite?: number; cost?: { total?: number } };
};

/** An assistant message's tokens (input without the cache's part, as Pi gives it) and cost, counted once per response. */
function piUsage(m: PiAssistant): EventReading['usage'] {
  const u = m.usage;
  if (!u) return undefined;
  const cached = count(u.cacheRead);
  const cost = count(u.cost?.total);
  return { tokens: { inputTokens: count(u.input) + cached + count(u.cacheWrite), cachedInputTokens: cached, outputTokens: count(u.output), ...(cost > 0 ? { costUsd: cost } : {}) }, key: m.responseId ?? String(m.timestamp ?? '') };
}

function piText(content: PiContent[] | string | undefined): string {
  if (typeof content === 'string') return content;
  return (content ?? []).filter((c) => c.type === 'text' && typeof c.text === 'string').map((c) => c.text).join('\n');
}

/**
 * pi --mode json (0.73.1): `session`, `agent_start`, `turn_start`, `message_start` /
 * `message_update` (streamed deltas) / `message_end` (the whole message: an assistant's has its
 * `usage`, input without the cache's part, and its `cost.total`, 0 for a model without a price),
 * `tool_execution_start` / `_update` / `_end`, `turn_end`, `agent_end` (the conversation), and
 * `auto_retry_start` / `auto_retry_end` around its own retries of a failed model request.
 */
function readPiEvent(ev: Record<string, unknown>): EventReading | undefined {
  switch (ev.type) {
    case 'session':
      return { lines: [noteLine(`pi session ${String(ev.id)}`)] };
    case 'agent_start':
    case 'turn_start':
    case 'turn_end':
    case 'message_start':
    case 'message_update':
    case 'tool_execution_update':
      return { lines: [] };
    case 'agent_end':
      return { lines: [], endsTurn: true };
    case 'message_end': {
      const m = (ev.message ?? {}) as PiAssistant;
      if (m.role !== 'assistant') return { lines: [] };
      const text = piText(m.content);
      const usage = piUsage(m);
      const lines = [...(text ? messageLines(text) : []), ...(m.stopReason === 'error' ? [errorLine(m.errorMessage ?? 'error')] : [])];
      return { lines, ...(text ? { message: text } : {}), ...(usage ? { usage } : {}) };
    }
    case 'tool_execution_start':
      return { lines: [toolLine(String(ev.toolName ?? 'tool'), toolDetail(ev.args))] };
    case 'tool_execution_end': {
      const r = (ev.result ?? {}) as { content?: PiContent[] | string };
      return { lines: resultLines(piText(r.content), ev.isError === true) };
    }
    case 'auto_retry_start':
      return { lines: [retryLine(typeof ev.attempt === 'number' ? ev.attempt : undefined, typeof ev.maxAttempts === 'number' ? ev.maxAttempts : undefined, typeof ev.errorMessage === 'string' ? ev.errorMessage : undefined)] };
    case 'auto_retry_end':
      return { lines: ev.success === false ? [errorLine(String(ev.finalError ?? 'the retries failed'))] : [] };
    case 'auto_compaction_start':
      return { lines: [noteLine('compacting the conversation')] };
    case 'auto_compaction_end':
      return { lines: [] };
    default:
      return undefined;
  }
}

/**
 * What pi does by itself at a failed request (pi 0.73.1, `-p --mode json`, against the e2e suite's
 * model server): its provider SDK retries twice without a word (waiting `retry-after` when the
 * response has one: a 429 with retry-after 20 keeps it quiet for 40 s), then the run ends with
 * `stopReason: "error"` and pi retries the turn itself, announcing it with
 * `{"type":"auto_retry_start","attempt":1,"maxAttempts":3,"delayMs":2000,"errorMessage":"429 …"}`
 * (then `agent_start`, `turn_start`); after the third `{"type":"auto_retry_end","success":false,
 * "finalError":"429 …"}` and exit status 0. A usage limit is no different: pi never says when it
 * resets, so it is held and tried again on the supervisor's slow schedule.
 */
function piActivity(events: readonly unknown[]): RunActivity | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const ev = events[i] as PiEvent;
    if (ev.type === 'agent_start' || ev.type === 'turn_start') continue;
    return ev.type === 'auto_retry_start' && typeof ev.attempt === 'number' ? { kind: 'retrying', attempt: ev.attempt, max: ev.maxAttempts } : undefined;
  }
  return undefined;
}

/**
 * Pi has no end-of-options marker (`--` is "Unknown option"): a prompt starting with "-" would be
 * read as a flag and one starting with "@" as a file to attach. Those go on stdin (pi trims it).
 */
function piStdin(prompt: string): boolean {
  return prompt.startsWith('-') || prompt.startsWith('@');
}

function piPrompt(prompt: TaskPrompt): string[] {
  return piStdin(prompt.text) ? [] : [prompt.text];
}

/**
 * Pi has no hooks setting, but loads an extension given with `-e FILE` for one run (Pi 0.73.1,
 * never in the person's own ~/.pi). This one, written into the attempt folder, runs the product's
 * `hook` command at the extension events that tell a state, one after another in the order Pi
 * fired them (its handlers return at once: Pi never waits for a hook, except at its exit), with a
 * JSON payload on its stdin: `hook_event_name` (Pi's event), `session_file`, `session_id`, `cwd`
 * and the event's own fields. Pi answers SIGTERM like /quit (exit status 0), which would read as a
 * person's exit: the extension notes a SIGTERM and makes the exit status 143, as if it had killed
 * Pi (a SIGTERM before Pi's own handler is there kills Pi as it would without the extension).
 */
export function piExtension(hook: readonly string[]): string {
  return `// resilient-agent: this attempt's hooks for Pi (loaded with -e for one run; Pi's own settings untouched).
import { spawn } from 'node:child_process';
const HOOK = ${JSON.stringify(hook)};
const KEY = Symbol.for('resilient-agent.pi-hooks');
// One for the process: Pi loads its extensions again at /new, /resume, /fork and /reload.
const shared = (globalThis[KEY] ??= { chain: Promise.resolve(), signal: undefined, listening: false });
function run(payload) {
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(HOOK[0], HOOK.slice(1), { stdio: ['pipe', 'ignore', 'ignore'] });
    } catch {
      resolve();
      return;
    }
    child.on('error', () => resolve());
    child.on('close', () => resolve());
    child.stdin.on('error', () => undefined);
    child.stdin.end(JSON.stringify(payload));
  });
}
function send(event, ctx, extra) {
  let file;
  let id;
  try {
    file = ctx.sessionManager.getSessionFile();
    id = ctx.sessionManager.getSessionId();
  } catch {
    /* an ephemeral session */
  }
  const payload = { hook_event_name: event, session_file: file, session_id: id, cwd: ctx.cwd, ...extra };
  shared.chain = shared.chain.then(() => run(payload));
  return shared.chain;
}
export default function (pi) {
  if (!shared.listening) {
    shared.listening = true;
    const onTerm = () => {
      shared.signal = 'SIGTERM';
      if (process.listenerCount('SIGTERM') === 1) {
        process.off('SIGTERM', onTerm);
        process.kill(process.pid, 'SIGTERM');
      }
    };
    process.on('SIGTERM', onTerm);
    process.on('exit', () => {
      if (shared.signal === 'SIGTERM' && !process.exitCode) process.exitCode = 143;
    });
  }
  pi.on('session_start', (event, ctx) => {
    send('session_start', ctx, { reason: event.reason });
  });
  pi.on('agent_start', (_event, ctx) => {
    send('agent_start', ctx, {});
  });
  pi.on('agent_end', (event, ctx) => {
    const last = [...(event.messages ?? [])].reverse().find((m) => m && m.role === 'assistant');
    send('agent_end', ctx, { stop_reason: last?.stopReason, error_message: last?.errorMessage });
  });
  // Waited for (3 s at most): Pi exits right after. A moment first: a SIGTERM that began the
  // shutdown reaches this file's listener after Pi's own.
  pi.on('session_shutdown', async (event, ctx) => {
    await new Promise((r) => setImmediate(r));
    await Promise.race([send('session_shutdown', ctx, { reason: event.reason, signal: shared.signal }), new Promise((r) => setTimeout(r, 3000))]);
  });
}
`;
}

type PiHookPayload = { hook_event_name?: unknown; session_file?: unknown; reason?: unknown; stop_reason?: unknown; error_message?: unknown; signal?: unknown };

const str = (x: unknown): string | undefined => (typeof x === 'string' && x ? x : undefined);

/**
 * One payload of the extension above as a state. The session is named by its file (what
 * `--session` takes back; /new, /resume and /fork in the TUI give another). What Pi's events miss
 * (0.73.1): Pi has no permission prompts and no questions of its own, so an interactive Pi task is
 * never "waiting" (a dialog of a person's own extension is not seen); a turn ended on an API error
 * is idle, but Pi retries some errors by itself (agent_start again after 2, 4, 8 s: working again).
 */
export function readPiHook(payload: Record<string, unknown>): HookReading | undefined {
  const p = payload as PiHookPayload;
  const file = str(p.session_file);
  // Pi's session is its file: its id, and its own log of the session (the task's transcript).
  const withId = (r: HookReading): HookReading => (file ? { ...r, sessionId: file, log: file } : r);
  switch (p.hook_event_name) {
    case 'session_start':
      return withId({ state: 'idle' });
    case 'agent_start':
      return withId({ state: 'working' });
    case 'agent_end':
      if (p.stop_reason === 'error') return withId({ state: 'idle', reason: `its turn ended on an error: ${clip(str(p.error_message) ?? 'unknown')} (Pi retries some errors by itself)` });
      if (p.stop_reason === 'aborted') return withId({ state: 'idle', reason: 'its turn was interrupted (Esc)' });
      return withId({ state: 'idle' });
    case 'session_shutdown': {
      // /new, /resume, /fork and /reload end one session and start another at once (session_start says which).
      if (p.reason !== 'quit') return undefined;
      const signal = str(p.signal);
      return withId(signal ? { state: 'ended', reason: `Pi ended on ${signal}`, byPerson: false } : { state: 'ended', reason: 'the person exited Pi', byPerson: true });
    }
    default:
      return undefined;
  }
}

/** Pi's session: the file its TUI last named (its hooks), else the one chosen up front. */
const piSession = (task: { agentSessionId: string | null; agentData: Record<string, string> }): string =>
  (task.agentSessionId && path.isAbsolute(task.agentSessionId) ? task.agentSessionId : task.agentData.sessionFile) ?? '';

/** A first prompt as Pi's TUI takes it: one starting with "-" or "@" (a flag, a file) after a space. */
const tuiPrompt = (prompt: string | undefined): string[] => (prompt ? [piStdin(prompt) ? ` ${prompt}` : prompt] : []);

/**
 * Pi's TUI in the pane: `--session FILE` (chosen up front; the same file again to resume, run in
 * the original folder) and `-e` with the attempt's extension. Pi takes no lock on a session file:
 * a second Pi on the same file writes beside the first (two branches of one conversation), so the
 * supervisor ends every process of the attempt before it resumes (launch.ts, endStrays).
 */
const piInteractive: InteractiveAdapter = {
  settingsName: 'pi-hooks.mjs',
  settingsFile: piExtension,
  startArgs: (task, s, extension, prompt) => ['--session', piSession(task), '-e', extension, ...s.extraArgs, ...tuiPrompt(prompt)],
  resumeArgs: (task, s, extension, prompt) => ['--session', piSession(task), '-e', extension, ...s.extraArgs, ...tuiPrompt(prompt)],
  readHook: readPiHook,
  readLogLine: readPiLogLine,
};

/**
 * One entry of Pi's session file (0.73.1; the session's header, model changes and the like are
 * not shown): a `message` entry holds one message: the person's prompt (user), its reply with its
 * tool calls (assistant), a tool's result (toolResult).
 */
function readPiLogLine(entry: Record<string, unknown>): EventReading {
  const none = { lines: [] };
  if (entry.type !== 'message') return none;
  const m = (entry.message ?? {}) as { role?: unknown; content?: unknown; isError?: unknown; stopReason?: unknown; errorMessage?: unknown };
  const parts = (typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : Array.isArray(m.content) ? m.content : []) as { type?: unknown; text?: unknown; name?: unknown; arguments?: unknown }[];
  const text = piText(parts.filter((c) => typeof c.text === 'string') as PiContent[]);
  if (m.role === 'user') return text.trim() ? { lines: promptLines(text) } : none;
  if (m.role === 'toolResult') return { lines: resultLines(text, m.isError === true) };
  if (m.role !== 'assistant') return none;
  const lines: string[] = [];
  for (const c of parts) {
    if (c.type === 'text' && typeof c.text === 'string' && c.text.trim()) lines.push(...messageLines(c.text));
    else if (c.type === 'toolCall') lines.push(toolLine(typeof c.name === 'string' ? c.name : 'tool', toolDetail(c.arguments)));
  }
  if (m.stopReason === 'error') lines.push(errorLine(typeof m.errorMessage === 'string' ? m.errorMessage : 'error'));
  const usage = piUsage(m as PiAssistant);
  return { lines, ...(text ? { message: text } : {}), ...(usage ? { usage } : {}) };
}

/**
 * A session file that does not exist yet: the task's first, or the next free one when it is
 * started again while an earlier session of it is kept (its TUI had moved to another by /new).
 */
function freshSessionFile(taskDir: string): string {
  for (let n = 1; ; n++) {
    const file = path.join(taskDir, n === 1 ? 'pi-session.jsonl' : `pi-session-${n}.jsonl`);
    if (!fs.existsSync(file)) return file;
  }
}

/**
 * Pi. Its session file is chosen up front with `--session <path>`; pi writes it only once the first
 * assistant message completes, so a pi task killed during its first reply has nothing to resume
 * and is started again from its prompt. Resume runs in the original folder.
 */
export const pi: AgentAdapter = {
  id: 'pi',
  displayName: 'Pi',
  install: 'npm install -g @mariozechner/pi-coding-agent',
  prepare: ({ taskDir }) => ({ agentSessionId: null, agentData: { sessionFile: freshSessionFile(taskDir) } }),
  promptOnStdin: piStdin,
  startArgs: (task, s, prompt) =>
    ['-p', '--mode', 'json', '--session', task.agentData.sessionFile ?? '', ...s.modeArgs, ...s.extraArgs, ...piPrompt(prompt)],
  resumeArgs: (task, s, prompt) =>
    ['-p', '--mode', 'json', '--session', task.agentData.sessionFile ?? '', ...s.modeArgs, ...s.extraArgs, ...piPrompt(prompt)],
  sessionIdFromEvents(lines) {
    for (const e of parseJsonLines(lines.slice(0, 5))) {
      const ev = e as { type?: unknown; id?: unknown };
      if (ev.type === 'session' && typeof ev.id === 'string' && ev.id) return ev.id;
    }
    return undefined;
  },
  canResume(task) {
    const file = isInteractive(task) ? piSession(task) : task.agentData.sessionFile;
    if (file && fs.existsSync(file)) return { ok: true };
    // Nothing of the task saved at all (no session file it was ever given): its first prompt unanswered.
    const first = task.agentData.sessionFile;
    return { ok: false, why: 'pi had not saved its session (killed during its first reply)', promptUnsaid: !first || !fs.existsSync(first) };
  },
  // pi's session file is a path this product chose and passed with --session, not a guess; a
  // resume of a missing file would silently start a new conversation, so it is checked first.
  sessionNotFound: [],
  waitingPatterns: [],
  outcomeFromEvents: piOutcome,
  readEvent: readPiEvent,
  activityFromEvents: piActivity,
  interactive: piInteractive,
};
