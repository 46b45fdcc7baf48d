import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EventReading } from './transcript';
import { count, errorLine, messageLines, noteLine, resultLines, retryLine, toolDetail, toolLine } from './transcript';
import type { AgentAdapter, EventOutcome, RunActivity, TaskPrompt } from './types';
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
      const u = m.usage;
      const cached = count(u?.cacheRead);
      const cost = count(u?.cost?.total);
      const usage = u
        ? { tokens: { inputTokens: count(u.input) + cached + count(u.cacheWrite), cachedInputTokens: cached, outputTokens: count(u.output), ...(cost > 0 ? { costUsd: cost } : {}) }, key: m.responseId ?? String(m.timestamp ?? '') }
        : undefined;
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
 * Pi. Its session file is chosen up front with `--session <path>`; pi writes it only once the first
 * assistant message completes, so a pi task killed during its first reply has nothing to resume
 * and is started again from its prompt. Resume runs in the original folder.
 */
export const pi: AgentAdapter = {
  id: 'pi',
  displayName: 'Pi',
  install: 'npm install -g @mariozechner/pi-coding-agent',
  prepare: ({ taskDir }) => ({ agentSessionId: null, agentData: { sessionFile: path.join(taskDir, 'pi-session.jsonl') } }),
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
    const file = task.agentData.sessionFile;
    if (file && fs.existsSync(file)) return { ok: true };
    return { ok: false, why: 'pi had not saved its session (killed during its first reply)' };
  },
  // pi's session file is a path this product chose and passed with --session, not a guess; a
  // resume of a missing file would silently start a new conversation, so it is checked first.
  sessionNotFound: [],
  waitingPatterns: [],
  outcomeFromEvents: piOutcome,
  readEvent: readPiEvent,
  activityFromEvents: piActivity,
};
