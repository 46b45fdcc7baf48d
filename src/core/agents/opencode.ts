import type { HookReading } from '../model/interactive';
import type { EventReading } from './transcript';
import { count, errorLine, messageLines, resultLines, toolDetail, toolLine } from './transcript';
import type { AgentAdapter, AgentServer, EventOutcome, InteractiveAdapter } from './types';
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

const str = (x: unknown): string | undefined => (typeof x === 'string' && x ? x : undefined);
const obj = (x: unknown): Record<string, unknown> => (typeof x === 'object' && x !== null && !Array.isArray(x) ? (x as Record<string, unknown>) : {});

type OpencodeStatus = { type?: string; attempt?: number; message?: string };

/** A session status as a state: `busy` and `retry` (its own retries of a failed request) work, `idle` is the person's move. */
function statusReading(status: OpencodeStatus | undefined): HookReading {
  if (status?.type === 'busy') return { state: 'working' };
  if (status?.type === 'retry') return { state: 'working', reason: `retrying (attempt ${status.attempt ?? '?'}): ${clip(status.message ?? 'the model request failed', 100)}` };
  return { state: 'idle' };
}

/** What a pending permission asks: "permission to use bash: echo hi > out.txt". */
function permissionReason(p: Record<string, unknown>): string {
  const command = str(obj(p.metadata).command) ?? (Array.isArray(p.patterns) ? p.patterns.filter((x) => typeof x === 'string').join(' ') : '');
  return `permission to use ${str(p.permission) ?? 'a tool'}${command ? `: ${clip(command, 80)}` : ''}`;
}

/** What a pending question asks: its first question's text. */
function questionReason(q: Record<string, unknown>): string {
  const first = Array.isArray(q.questions) ? obj(q.questions[0]) : {};
  return `a question: ${clip(str(first.question) ?? str(first.header) ?? '?', 80)}`;
}

/**
 * One event of OpenCode's server (`GET /event`, Server-Sent Events; OpenCode 1.18.33's TUI with
 * `--port`) as a state. As seen with the real TUI against the e2e model server:
 * - `session.created` when the first prompt is submitted (a subagent's session has a `parentID`:
 *   not the TUI's); `session.status` `busy` / `retry` / `idle` around every turn (`session.idle`
 *   too, the older name); `permission.asked` while a tool waits for the person (the status stays
 *   busy), `permission.replied` (once, always, reject); `question.asked` / `replied` / `rejected`.
 * - Esc: `session.error` `MessageAbortedError`, then status idle. An API error (a 400):
 *   `session.error` `APIError` with its message, then idle; errors it retries: status `retry`.
 * - /exit, Ctrl-C, SIGTERM and SIGHUP alike: `server.instance.disposed` and exit status 0. Nothing
 *   tells a person's exit from a signal: the exit status 0 is read as the person's (see README).
 */
export function readOpencodeServerEvent(event: Record<string, unknown>, sessionId: string | undefined): HookReading | undefined {
  const p = obj(event.properties);
  const sid = str(p.sessionID);
  const withId = (r: HookReading): HookReading => (sid ? { ...r, sessionId: sid } : r);
  // A session of the TUI's own (its first prompt, or after /new): the task's from now on.
  if (event.type === 'session.created') return sid && !str(obj(p.info).parentID) ? withId({ state: 'working' }) : undefined;
  if (sessionId && sid && sid !== sessionId) return undefined; // another session's (a subagent's)
  switch (event.type) {
    case 'session.status':
      return sid ? withId(statusReading(obj(p.status) as OpencodeStatus)) : undefined;
    case 'session.idle':
      return sid ? withId({ state: 'idle' }) : undefined;
    case 'session.error': {
      const e = obj(p.error);
      if (e.name === 'MessageAbortedError') return withId({ state: 'idle', reason: 'its turn was interrupted (Esc)' });
      return withId({ state: 'idle', reason: `its turn ended on an error: ${clip(str(obj(e.data).message) ?? str(e.name) ?? 'unknown')}` });
    }
    case 'permission.asked':
      return sid ? withId({ state: 'waiting', reason: permissionReason(p) }) : undefined;
    case 'question.asked':
      return sid ? withId({ state: 'waiting', reason: questionReason(p) }) : undefined;
    case 'permission.replied':
    case 'question.replied':
    case 'question.rejected':
      return sid ? withId({ state: 'working' }) : undefined;
    default:
      return undefined;
  }
}

const inDir = (path: string, dir: string) => `${path}?directory=${encodeURIComponent(dir)}`;

/**
 * The TUI's session when no event named it (created while no one listened): the newest top-level
 * session of its folder created since the attempt began, as its API lists them.
 */
async function newestSession(get: (path: string) => Promise<unknown>, dir: string, since: number): Promise<string | undefined> {
  const sessions = await get(`${inDir('/session', dir)}&roots=true&start=${since}`);
  if (!Array.isArray(sessions)) return undefined;
  const created = (s: Record<string, unknown>) => Number(obj(s.time).created ?? 0);
  const mine = sessions.map(obj).filter((s) => str(s.id) && !str(s.parentID) && created(s) >= since);
  mine.sort((a, b) => created(b) - created(a));
  return str(mine[0]?.id);
}

/**
 * What the TUI does now, from its API (asked at every connection: events before it are lost): a
 * pending permission or question of its session, else its session's status (none listed: idle).
 * The session is the one known, else the one `/session/status` lists alone, else the newest.
 */
async function opencodeCurrentState(get: (path: string) => Promise<unknown>, dir: string, known: string | undefined, since: number): Promise<HookReading | undefined> {
  const statuses = obj(await get(inDir('/session/status', dir)));
  const listed = Object.keys(statuses);
  const sessionId = known ?? (listed.length === 1 ? listed[0] : await newestSession(get, dir, since));
  const withId = (r: HookReading): HookReading => (sessionId ? { ...r, sessionId } : r);
  const mine = (x: unknown) => !sessionId || obj(x).sessionID === sessionId;
  const permissions = await get(inDir('/permission', dir));
  const permission = Array.isArray(permissions) ? permissions.find(mine) : undefined;
  if (permission) return withId({ state: 'waiting', reason: permissionReason(obj(permission)) });
  const questions = await get(inDir('/question', dir));
  const question = Array.isArray(questions) ? questions.find(mine) : undefined;
  if (question) return withId({ state: 'waiting', reason: questionReason(obj(question)) });
  return withId(statusReading(sessionId ? (statuses[sessionId] as OpencodeStatus | undefined) : undefined));
}

/**
 * OpenCode's TUI serves its own API when given `--port` (`--hostname` 127.0.0.1, its default too),
 * behind HTTP Basic auth when `OPENCODE_SERVER_PASSWORD` is set (user `opencode`): the task sets
 * one of its own per attempt, so another local user cannot read or drive the session.
 */
const opencodeServer: AgentServer = {
  env: (password) => ({ OPENCODE_SERVER_PASSWORD: password, OPENCODE_SERVER_USERNAME: 'opencode' }),
  authorization: (password) => `Basic ${Buffer.from(`opencode:${password}`).toString('base64')}`,
  eventsPath: (dir) => inDir('/event', dir),
  readEvent: readOpencodeServerEvent,
  currentState: opencodeCurrentState,
  // `-s ID --prompt TEXT` opens the session but drops the prompt (1.18.33, checked): a follow-up goes
  // through its API instead, which the TUI shows as if typed.
  sendPrompt: (post, dir, sessionId, text) => post(inDir(`/session/${encodeURIComponent(sessionId)}/prompt_async`, dir), { parts: [{ type: 'text', text }] }),
};

const serveArgs = (port: number | undefined): string[] => ['--port', String(port ?? 0), '--hostname', '127.0.0.1'];
/** The first prompt as one element: `--prompt=TEXT` (a prompt starting with "-" is no flag). */
const promptArg = (prompt: string | undefined): string[] => (prompt ? [`--prompt=${prompt}`] : []);

/**
 * OpenCode's TUI in the pane: `opencode --port N --hostname 127.0.0.1 [--prompt=TEXT] DIR`, and
 * `-s ID` to open the exact session again (a follow-up then goes through its API). OpenCode's plugins (its own way to hook events) hang
 * without network, so its state comes from its server instead (`server`): no hooks file.
 */
const opencodeInteractive: InteractiveAdapter = {
  settingsFile: () => `${JSON.stringify({ note: "OpenCode's state is read from its own server's events (server.json has its port); OpenCode does not read this file" }, null, 2)}\n`,
  startArgs: (task, s, _file, prompt, _hook, port) => [...serveArgs(port), ...s.extraArgs, ...promptArg(prompt), task.dir],
  // A follow-up is not on its command line (dropped with -s): the supervisor says it through its server (sendPrompt).
  resumeArgs: (task, s, _file, _prompt, _hook, port) => [...serveArgs(port), '--session', task.agentSessionId ?? '', ...s.extraArgs, task.dir],
  readHook: () => undefined,
  server: opencodeServer,
};

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
  interactive: opencodeInteractive,
};
