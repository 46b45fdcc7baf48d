import type { EventReading } from './transcript';
import { count, errorLine, messageLines, resultLines, toolDetail, toolLine } from './transcript';
import type { AgentAdapter, EventOutcome } from './types';
import { clip, parseJsonLines } from './types';

type OpencodeError = { type?: string; error?: { name?: string; data?: { message?: string; statusCode?: number; responseHeaders?: Record<string, string> } } };

/** opencode: `{"type":"error","error":{"name":"APIError","data":{"statusCode":401|429,"responseHeaders":{…}}}}`. */
function opencodeOutcome(events: readonly unknown[], now: Date): EventOutcome | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const ev = events[i] as OpencodeError;
    if (ev.type !== 'error' || !ev.error) continue;
    const data = ev.error.data ?? {};
    const message = clip(data.message ?? ev.error.name ?? 'error');
    if (data.statusCode === 401 || data.statusCode === 403) return { kind: 'held', reason: `authentication failed: ${message}` };
    if (data.statusCode === 429) {
      const retry = Number(data.responseHeaders?.['retry-after']);
      return { kind: 'held', reason: `usage limit reached: ${message}`, until: Number.isFinite(retry) && retry > 0 ? new Date(now.getTime() + retry * 1000) : undefined };
    }
    return undefined;
  }
  return undefined;
}

type OpencodePart = {
  id?: string; type?: string; text?: string; tool?: string; reason?: string; cost?: number;
  state?: { status?: string; input?: unknown; output?: string; error?: string; title?: string };
  tokens?: { input?: number; output?: number; reasoning?: number; cache?: { read?: number; write?: number } };
};

/**
 * opencode run --format json (1.18.33): `step_start`, `text`, `tool_use` (the tool's whole call,
 * input and output, once it finished), `step_finish` per model call with its `tokens` (input
 * without the cache's part; reasoning apart from output) and `cost` (0 when it knows no price for
 * the model: then no cost is shown), and `error`.
 */
function readOpencodeEvent(ev: Record<string, unknown>): EventReading | undefined {
  const part = (ev.part ?? {}) as OpencodePart;
  switch (ev.type) {
    case 'step_start':
      return { lines: [] };
    case 'text':
      return { lines: messageLines(part.text ?? ''), message: part.text ?? '' };
    case 'reasoning':
      return { lines: [] };
    case 'tool_use': {
      const st = part.state ?? {};
      const failed = st.status === 'error';
      return { lines: [toolLine(part.tool ?? 'tool', toolDetail(st.input) ?? st.title), ...resultLines(failed ? (st.error ?? '') : (st.output ?? ''), failed)] };
    }
    case 'step_finish': {
      const t = part.tokens ?? {};
      const cached = count(t.cache?.read);
      const tokens = {
        inputTokens: count(t.input) + cached + count(t.cache?.write), cachedInputTokens: cached,
        outputTokens: count(t.output) + count(t.reasoning), ...(count(part.cost) > 0 ? { costUsd: part.cost } : {}),
      };
      return { lines: [], endsTurn: part.reason === 'stop', usage: { tokens, key: part.id } };
    }
    case 'error': {
      const e = (ev.error ?? {}) as { name?: string; data?: { message?: string } };
      return { lines: [errorLine(e.data?.message ?? e.name ?? 'error')] };
    }
    default:
      return undefined;
  }
}
/*
 * What opencode does by itself at a failed request (opencode 1.18.33, `run --format json`, against
 * the e2e suite's model server): it retries 5 times and prints nothing meanwhile, no JSON event at
 * all. A 429 with `retry-after: 20` is asked again every 20 s (100 s in all; a real limit's
 * retry-after of an hour keeps it quiet for 5 hours); without retry-after it backs off 2, 4, 8 …
 * seconds (75 s in all). Then one `error` event, APIError with `statusCode: 429`,
 * `isRetryable: true` and the `responseHeaders` (retry-after among them), and exit 1. So its own
 * retries and waits cannot be shown: it is running until it says otherwise; the hold then lasts
 * retry-after from its end, or is put on the supervisor's schedule when there was none.
 */

/**
 * OpenCode. `--dir` is required (it takes its folder from $PWD, and a resume from elsewhere never
 * exits). Every JSON event carries `sessionID`, from the first streamed model output on.
 */
export const opencode: AgentAdapter = {
  id: 'opencode',
  displayName: 'OpenCode',
  install: 'npm install -g opencode-ai',
  signIn: 'run "opencode auth login"',
  prepare: () => ({ agentSessionId: null, agentData: {} }),
  // `opencode run` wraps a message argument in quotes before the model sees it (1.18.33); from
  // stdin it takes the prompt as it is.
  promptOnStdin: () => true,
  startArgs: (task, s) => ['run', '--dir', task.dir, '--format', 'json', ...s.modeArgs, ...s.extraArgs],
  resumeArgs: (task, s) =>
    ['run', '--dir', task.dir, '--session', task.agentSessionId ?? '', '--format', 'json', ...s.modeArgs, ...s.extraArgs],
  sessionIdFromEvents(lines) {
    for (const e of parseJsonLines(lines.slice(0, 200))) {
      const id = (e as { sessionID?: unknown }).sessionID;
      if (typeof id === 'string' && id) return id;
    }
    return undefined;
  },
  canResume: (task) =>
    task.agentSessionId ? { ok: true } : { ok: false, why: 'OpenCode had not reported a session id' },
  sessionNotFound: [/Session not found/i],
  waitingPatterns: [/Permission required/i, /\bAllow (once|always)\b/i],
  outcomeFromEvents: opencodeOutcome,
  readEvent: readOpencodeEvent,
};
