import { randomUUID } from 'node:crypto';
import type { AgentAdapter, EventOutcome } from './types';
import { clip, nextClockTime, parseJsonLines } from './types';

type ClaudeEvent = {
  type?: string; is_error?: boolean; api_error_status?: number; result?: string; error?: string;
  rate_limit_info?: { status?: string; resetsAt?: number };
};

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
};
