/**
 * What a test writes and reads: the APIs, the kinds of request, the behaviours a rule answers
 * with, the rules, the recorded requests, the server's options and ready-made rule predicates.
 */
import * as http from 'http';

export type Api = 'responses' | 'messages' | 'chat';

/**
 * - `turn`: a request whose latest message is a user message (a new prompt or a
 *   resume "continue" prompt). Rules match only these unless they say otherwise.
 * - `toolResult`: a follow-up carrying the result of a tool call (answered
 *   automatically with the `then` text of the tool call that caused it).
 * - `title`: opencode's title request (chat, no tools, system prompt about a title).
 * - `other`: anything else (unknown paths, HEAD /, count_tokens…), answered 404.
 */
export type RequestKind = 'turn' | 'toolResult' | 'title' | 'other';

export type Behaviour =
  /** Answer with this text, then end the turn. */
  | { kind: 'text'; text: string }
  /**
   * Make one shell tool call running `command` (exec_command {cmd} for codex,
   * Bash {command, description} for claude, bash {command[, description]} for
   * opencode/pi); when the tool result comes back, answer `then`. `extraArgs` join the call's
   * arguments (codex: `sandbox_permissions: 'require_escalated'` and a `justification` make its
   * TUI ask the person first).
   */
  | { kind: 'toolCall'; command: string; then?: string; extraArgs?: Record<string, unknown> }
  /**
   * Start a reply and stream text slowly forever (until the client goes away).
   * The request's `streamStarted` becomes true once the first delta is written.
   */
  | { kind: 'streamForever'; text?: string; intervalMs?: number }
  /** 401 with the API's usual authentication-error body. */
  | { kind: 'authError' }
  /**
   * 429 "usage limit" with the fields each CLI reads: codex `usage_limit_reached`
   * + `resets_at`/`resets_in_seconds` (+ x-codex-primary-* headers); claude
   * `anthropic-ratelimit-unified-status: rejected` + `…-reset` (epoch seconds);
   * chat `insufficient_quota`. `retry-after` is `retryAfterSeconds` (default:
   * `resetsInSeconds`; null: no header). opencode and pi honour retry-after
   * before retrying (and hang for that long), so keep it small for chat agents.
   */
  | { kind: 'usageLimit'; resetsInSeconds?: number; retryAfterSeconds?: number | null }
  /** Any other HTTP error, verbatim. */
  | { kind: 'httpError'; status: number; body: unknown; headers?: Record<string, string> };

export interface Rule {
  /** Default: matches requests of kind `turn`. */
  match?: (req: RecordedRequest) => boolean;
  behaviour: Behaviour;
  /** How many requests this rule answers; default 1; use Infinity for "always". */
  times?: number;
}

export interface RecordedRequest {
  /** 0-based index among all requests. */
  seq: number;
  /**
   * 0-based index among requests of kind `turn` (-1 for other kinds). A CLI's
   * own retries of a failed request count as new turns (see `retryOf`).
   */
  turnIndex: number;
  /** Seq of an earlier request with the very same conversation (a retry, or the same prompt re-sent). */
  retryOf?: number;
  method: string;
  /** Path including the query string, e.g. `/v1/messages?beta=true`. */
  url: string;
  /** Path without the query string. */
  path: string;
  headers: http.IncomingHttpHeaders;
  rawBody: string;
  /** Parsed JSON body, or undefined. */
  body: any;
  api: Api | null;
  kind: RequestKind;
  /** Model named in the body, if any. */
  model?: string;
  /** Text of the latest user message (tool results and injected context excluded where recognisable). */
  lastUserText: string;
  /** All user-message text of the request joined by newlines (for "contains the original prompt"). */
  allUserText: string;
  /** Names of the tools offered in the request. */
  toolNames: string[];
  /** Ids of the tool results carried by the latest message(s). */
  toolResultIds: string[];
  /** Kind of the behaviour used to answer (or 'auto-title', 'auto-followup', 'fallback', '404'). */
  answeredWith?: string;
  status?: number;
  streamStarted: boolean;
  /** True once the response ended (completed, error, or client went away). */
  finished: boolean;
  /** True if the client closed the connection before the response ended. */
  clientAborted: boolean;
  receivedAt: number;
}

export interface ModelServerOptions {
  /** Answer for a `turn` request no rule matches. Default: text "Done.". */
  fallback?: Behaviour;
  /** Text of the auto answer to opencode's title request. */
  titleText?: string;
  /** Delay between the chunks of finite replies (ms). Default 0. */
  chunkDelayMs?: number;
}

/** Ready-made rule predicates. */
export const match = {
  /** Any request of kind `turn`. */
  turn: (r: RecordedRequest): boolean => r.kind === 'turn',
  /** The Nth (0-based) `turn` request. */
  nthTurn:
    (n: number) =>
    (r: RecordedRequest): boolean =>
      r.kind === 'turn' && r.turnIndex === n,
  /** A `turn` whose latest user message contains `s` (string) or matches it (RegExp). */
  lastUser:
    (s: string | RegExp) =>
    (r: RecordedRequest): boolean =>
      r.kind === 'turn' && (typeof s === 'string' ? r.lastUserText.includes(s) : s.test(r.lastUserText)),
  /** Any request of the given API. */
  api:
    (a: Api) =>
    (r: RecordedRequest): boolean =>
      r.api === a,
};
