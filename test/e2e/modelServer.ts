/**
 * A scripted model server for end-to-end tests of the real agent CLIs.
 *
 * Loopback only (127.0.0.1, random port). It speaks, streaming (SSE):
 *  - the OpenAI Responses API      POST /v1/responses          (codex)
 *  - the Anthropic Messages API    POST /v1/messages[?beta=…]  (claude; HEAD / → 404)
 *  - OpenAI chat completions       POST /v1/chat/completions   (opencode, pi)
 *
 * Each request is classified (see `RequestKind`) and answered by the first
 * matching rule of the script; every request is recorded so a test can read
 * what the agent sent.
 *
 *   const s = await ModelServer.start();
 *   s.script([{ behaviour: { kind: 'toolCall', command: 'echo hi > out.txt' } }]);
 *   … run the agent with agentEnv(…, s.port) …
 *   await s.waitFor(() => s.requests.find((r) => r.streamStarted));
 *   await s.close();
 *
 * The server runs in the test's own event loop: start agents with async
 * spawn/execFile, never spawnSync/execSync (those block the loop, the agent's
 * requests go unanswered and it hangs).
 */
import * as http from 'http';
import { AddressInfo } from 'net';

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
   * opencode/pi); when the tool result comes back, answer `then`.
   */
  | { kind: 'toolCall'; command: string; then?: string }
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

interface LiveRule extends Rule {
  left: number;
}

interface PendingCall {
  then: string;
}

type Waiter = () => void;

export class ModelServer {
  readonly requests: RecordedRequest[] = [];
  private rules: LiveRule[] = [];
  private readonly pendingCalls = new Map<string, PendingCall>();
  private readonly waiters = new Set<Waiter>();
  private readonly sockets = new Set<import('net').Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private turnCount = 0;
  private idCounter = 0;

  private constructor(
    private readonly server: http.Server,
    readonly port: number,
    private readonly options: ModelServerOptions,
  ) {}

  static async start(options: ModelServerOptions = {}): Promise<ModelServer> {
    const server = http.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    const s = new ModelServer(server, port, options);
    server.on('connection', (sock) => {
      s.sockets.add(sock);
      sock.on('close', () => s.sockets.delete(sock));
    });
    server.on('request', (req, res) => s.handle(req, res));
    return s;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Replace the script (rules are tried in order; a rule is used up after `times` answers). */
  script(rules: Rule[]): this {
    this.rules = rules.map((r) => ({ ...r, left: r.times ?? 1 }));
    return this;
  }

  /** Append rules to the script. */
  add(...rules: Rule[]): this {
    this.rules.push(...rules.map((r) => ({ ...r, left: r.times ?? 1 })));
    return this;
  }

  /** Forget recorded requests (turn numbering restarts at 0). */
  clearRequests(): void {
    this.requests.length = 0;
    this.turnCount = 0;
  }

  /** Requests of kind `turn`. */
  get turns(): RecordedRequest[] {
    return this.requests.filter((r) => r.kind === 'turn');
  }

  /**
   * Resolve with the first truthy value of `check()`, re-evaluated whenever a
   * request arrives, a stream starts or a response ends. Rejects after `timeoutMs`.
   */
  waitFor<T>(check: () => T | undefined | null | false, timeoutMs = 60_000, what = 'condition'): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const evaluate = (): boolean => {
        let v: T | undefined | null | false;
        try {
          v = check();
        } catch (e) {
          cleanup();
          reject(e);
          return true;
        }
        if (v) {
          cleanup();
          resolve(v);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`ModelServer.waitFor timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const waiter: Waiter = () => {
        evaluate();
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      if (!evaluate()) this.waiters.add(waiter);
    });
  }

  /** Wait for a recorded request matching `pred`. */
  waitForRequest(pred: (r: RecordedRequest) => boolean, timeoutMs = 60_000): Promise<RecordedRequest> {
    return this.waitFor(() => this.requests.find(pred), timeoutMs, 'a matching request');
  }

  /** Wait until a `streamForever` reply has started streaming (the first one after `afterSeq`). */
  waitForStreamStart(timeoutMs = 60_000, afterSeq = -1): Promise<RecordedRequest> {
    return this.waitFor(
      () => this.requests.find((r) => r.seq > afterSeq && r.answeredWith === 'streamForever' && r.streamStarted),
      timeoutMs,
      'a streamForever reply to start',
    );
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers.clear();
    for (const sock of this.sockets) sock.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---------------------------------------------------------------- internals

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  private nextId(prefix: string): string {
    this.idCounter += 1;
    return `${prefix}${Date.now().toString(36)}${this.idCounter.toString().padStart(4, '0')}`;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      let body: any;
      try {
        body = rawBody ? JSON.parse(rawBody) : undefined;
      } catch {
        body = undefined;
      }
      const url = req.url ?? '/';
      const path = url.split('?')[0];
      const api: Api | null =
        req.method === 'POST' && /\/responses$/.test(path)
          ? 'responses'
          : req.method === 'POST' && /\/messages$/.test(path)
            ? 'messages'
            : req.method === 'POST' && /\/chat\/completions$/.test(path)
              ? 'chat'
              : null;
      const rec: RecordedRequest = {
        seq: this.requests.length,
        turnIndex: -1,
        method: req.method ?? '',
        url,
        path,
        headers: req.headers,
        rawBody,
        body,
        api,
        kind: 'other',
        model: typeof body?.model === 'string' ? body.model : undefined,
        lastUserText: '',
        allUserText: '',
        toolNames: [],
        toolResultIds: [],
        streamStarted: false,
        finished: false,
        clientAborted: false,
        receivedAt: Date.now(),
      };
      if (api && body && typeof body === 'object') {
        analyse(rec);
        const key = conversationKey(rec);
        const earlier = this.requests.find((r) => r.api === api && r.kind === rec.kind && conversationKey(r) === key);
        if (earlier) rec.retryOf = earlier.retryOf ?? earlier.seq;
      }
      if (rec.kind === 'turn') rec.turnIndex = this.turnCount++;
      this.requests.push(rec);
      res.on('close', () => {
        if (!rec.finished) {
          rec.clientAborted = !res.writableEnded;
          rec.finished = true;
          this.notify();
        }
      });
      this.notify();
      this.answer(rec, res);
    });
  }

  private choose(rec: RecordedRequest): { behaviour: Behaviour; label: string } | null {
    for (const rule of this.rules) {
      if (rule.left <= 0) continue;
      const ok = rule.match ? rule.match(rec) : rec.kind === 'turn';
      if (!ok) continue;
      rule.left -= 1;
      return { behaviour: rule.behaviour, label: rule.behaviour.kind };
    }
    if (rec.kind === 'title') return { behaviour: { kind: 'text', text: this.options.titleText ?? 'Test session' }, label: 'auto-title' };
    if (rec.kind === 'toolResult') {
      const id = rec.toolResultIds.find((i) => this.pendingCalls.has(i));
      const then = id ? this.pendingCalls.get(id)!.then : 'Done.';
      if (id) this.pendingCalls.delete(id);
      return { behaviour: { kind: 'text', text: then }, label: 'auto-followup' };
    }
    if (rec.kind === 'turn') return { behaviour: this.options.fallback ?? { kind: 'text', text: 'Done.' }, label: 'fallback' };
    return null;
  }

  private answer(rec: RecordedRequest, res: http.ServerResponse): void {
    const picked = rec.api ? this.choose(rec) : null;
    if (!picked || !rec.api) {
      rec.answeredWith = '404';
      this.sendJson(rec, res, 404, { error: { message: `no route for ${rec.method} ${rec.path}`, type: 'not_found' } });
      return;
    }
    rec.answeredWith = picked.label;
    const b = picked.behaviour;
    switch (b.kind) {
      case 'authError':
        this.sendJson(rec, res, 401, authErrorBody(rec.api));
        return;
      case 'usageLimit': {
        const resetsIn = b.resetsInSeconds ?? 3600;
        const { headers, body } = usageLimitResponse(rec.api, resetsIn);
        const retryAfter = b.retryAfterSeconds === undefined ? resetsIn : b.retryAfterSeconds;
        if (retryAfter === null) delete headers['retry-after'];
        else headers['retry-after'] = String(retryAfter);
        this.sendJson(rec, res, 429, body, headers);
        return;
      }
      case 'httpError':
        this.sendJson(rec, res, b.status, b.body, b.headers);
        return;
      case 'text':
      case 'toolCall':
      case 'streamForever':
        this.stream(rec, res, b);
        return;
    }
  }

  private sendJson(rec: RecordedRequest, res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    rec.status = status;
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(rec.method === 'HEAD' ? undefined : text);
    rec.finished = true;
    this.notify();
  }

  private stream(rec: RecordedRequest, res: http.ServerResponse, b: Extract<Behaviour, { kind: 'text' | 'toolCall' | 'streamForever' }>): void {
    rec.status = 200;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const api = rec.api!;
    const enc = encoderFor(api, rec, () => this.nextId(''));
    const events: string[] = [];
    if (b.kind === 'text') {
      events.push(...enc.begin(), ...enc.textStart(), ...splitWords(b.text).map((w) => enc.textDelta(w)), ...enc.textEnd(b.text), ...enc.finish('stop'));
    } else if (b.kind === 'toolCall') {
      const callId = api === 'messages' ? this.nextId('toolu_') : this.nextId('call_');
      const { name, args } = shellToolCall(rec, b.command);
      this.pendingCalls.set(callId, { then: b.then ?? 'Done.' });
      events.push(...enc.begin(), ...enc.toolCall(callId, name, JSON.stringify(args)), ...enc.finish('tool'));
    }
    const delay = this.options.chunkDelayMs ?? 0;
    if (b.kind !== 'streamForever') {
      if (delay <= 0) {
        res.end(events.join(''));
        rec.finished = true;
        this.notify();
        return;
      }
      let i = 0;
      const t = setInterval(() => {
        if (res.destroyed) {
          clearInterval(t);
          this.timers.delete(t);
          return;
        }
        if (i < events.length) {
          res.write(events[i++]);
          return;
        }
        clearInterval(t);
        this.timers.delete(t);
        res.end();
        rec.finished = true;
        this.notify();
      }, delay);
      this.timers.add(t);
      return;
    }
    // streamForever
    res.write([...enc.begin(), ...enc.textStart()].join(''));
    const words = splitWords(b.text ?? 'Working on it, step by step, slowly and carefully. ');
    let i = 0;
    const tick = (): void => {
      if (res.destroyed || res.writableEnded) return;
      res.write(enc.textDelta(words[i % words.length]));
      i += 1;
      if (!rec.streamStarted) {
        rec.streamStarted = true;
        this.notify();
      }
    };
    tick();
    const t = setInterval(() => {
      if (res.destroyed || res.writableEnded) {
        clearInterval(t);
        this.timers.delete(t);
        return;
      }
      tick();
    }, b.intervalMs ?? 250);
    this.timers.add(t);
  }
}

// ------------------------------------------------------------------ matchers

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

// ------------------------------------------------------------- classification

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((p: any) => {
      if (typeof p === 'string') return p;
      if (p && typeof p === 'object' && (p.type === 'text' || p.type === 'input_text' || p.type === 'output_text') && typeof p.text === 'string') return p.text;
      return '';
    })
    .filter((s) => s.length > 0)
    .join('\n');
}

/** Codex and claude inject context as user messages; don't treat those as the user's prompt. */
function isInjectedContext(text: string): boolean {
  const t = text.trim();
  return /^<(environment_context|user_instructions|system-reminder|permissions instructions|INSTRUCTIONS|skills_instructions|turn_aborted)\b/i.test(t) || /^# AGENTS\.md instructions/.test(t);
}

function analyse(rec: RecordedRequest): void {
  const body = rec.body;
  const userTexts: string[] = [];
  let lastIsToolResult = false;
  let lastUser = '';
  if (rec.api === 'responses') {
    rec.toolNames = Array.isArray(body.tools) ? body.tools.map((t: any) => t?.name ?? t?.type).filter(Boolean) : [];
    const input: any[] = Array.isArray(body.input) ? body.input : typeof body.input === 'string' ? [{ type: 'message', role: 'user', content: body.input }] : [];
    for (const item of input) {
      if ((item?.type === 'message' || item?.type === undefined) && item?.role === 'user') {
        const t = textOf(item.content);
        userTexts.push(t);
        if (!isInjectedContext(t)) lastUser = t;
      }
    }
    const last = input[input.length - 1];
    if (last && (last.type === 'function_call_output' || last.type === 'custom_tool_call_output')) {
      lastIsToolResult = true;
      for (let i = input.length - 1; i >= 0 && /_output$/.test(input[i]?.type ?? ''); i--) rec.toolResultIds.push(String(input[i].call_id));
    }
  } else if (rec.api === 'messages') {
    rec.toolNames = Array.isArray(body.tools) ? body.tools.map((t: any) => t?.name).filter(Boolean) : [];
    const msgs: any[] = Array.isArray(body.messages) ? body.messages : [];
    for (const m of msgs) {
      if (m?.role !== 'user') continue;
      const blocks: any[] = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : Array.isArray(m.content) ? m.content : [];
      const texts = blocks.filter((bl) => bl?.type === 'text' && typeof bl.text === 'string').map((bl) => bl.text as string);
      userTexts.push(...texts);
      const real = texts.filter((t) => !isInjectedContext(t));
      if (real.length > 0) lastUser = real.join('\n');
    }
    const last = msgs[msgs.length - 1];
    if (last?.role === 'user' && Array.isArray(last.content)) {
      const results = last.content.filter((bl: any) => bl?.type === 'tool_result');
      if (results.length > 0) {
        lastIsToolResult = true;
        rec.toolResultIds.push(...results.map((bl: any) => String(bl.tool_use_id)));
      }
    }
  } else if (rec.api === 'chat') {
    rec.toolNames = Array.isArray(body.tools) ? body.tools.map((t: any) => t?.function?.name).filter(Boolean) : [];
    const msgs: any[] = Array.isArray(body.messages) ? body.messages : [];
    for (const m of msgs) {
      if (m?.role === 'user') {
        const t = textOf(m.content);
        userTexts.push(t);
        lastUser = t;
      }
    }
    for (let i = msgs.length - 1; i >= 0 && msgs[i]?.role === 'tool'; i--) {
      lastIsToolResult = true;
      rec.toolResultIds.push(String(msgs[i].tool_call_id));
    }
    const system = msgs
      .filter((m) => m?.role === 'system' || m?.role === 'developer')
      .map((m) => textOf(m.content))
      .join('\n');
    if (rec.toolNames.length === 0 && !lastIsToolResult && /title/i.test(system)) {
      rec.kind = 'title';
    }
  }
  rec.allUserText = userTexts.join('\n');
  rec.lastUserText = lastUser;
  if (rec.kind !== 'title') rec.kind = lastIsToolResult ? 'toolResult' : 'turn';
}

function conversationKey(rec: RecordedRequest): string {
  const b = rec.body;
  return JSON.stringify(rec.api === 'responses' ? b?.input : b?.messages) ?? '';
}

// ------------------------------------------------------------------ tool calls

function shellToolCall(rec: RecordedRequest, command: string): { name: string; args: Record<string, unknown> } {
  if (rec.api === 'responses') {
    if (rec.toolNames.includes('exec_command') || rec.toolNames.length === 0) return { name: 'exec_command', args: { cmd: command } };
    if (rec.toolNames.includes('shell')) return { name: 'shell', args: { command: ['bash', '-lc', command] } };
    return { name: 'exec_command', args: { cmd: command } };
  }
  if (rec.api === 'messages') return { name: 'Bash', args: { command, description: 'Run a shell command' } };
  // chat: opencode and pi both call it `bash`; only opencode's schema has `description`.
  const tool = (Array.isArray(rec.body?.tools) ? rec.body.tools : []).find((t: any) => t?.function?.name === 'bash');
  const props = tool?.function?.parameters?.properties ?? {};
  const args: Record<string, unknown> = { command };
  if ('description' in props) args.description = 'Run a shell command';
  return { name: 'bash', args };
}

// ------------------------------------------------------------------ errors

function authErrorBody(api: Api): unknown {
  if (api === 'messages') return { type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } };
  return { error: { message: 'Incorrect API key provided: sk-test. You can find your API key at https://platform.openai.com/account/api-keys.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } };
}

function usageLimitResponse(api: Api, resetsIn: number): { headers: Record<string, string>; body: unknown } {
  const resetsAt = Math.floor(Date.now() / 1000) + resetsIn;
  if (api === 'responses') {
    return {
      headers: {
        'retry-after': String(resetsIn),
        'x-codex-primary-used-percent': '100',
        'x-codex-primary-window-minutes': '300',
        'x-codex-primary-reset-after-seconds': String(resetsIn),
        'x-codex-primary-reset-at': String(resetsAt),
      },
      body: {
        error: {
          type: 'usage_limit_reached',
          message: 'The usage limit has been reached',
          plan_type: 'plus',
          resets_at: resetsAt,
          resets_in_seconds: resetsIn,
        },
      },
    };
  }
  if (api === 'messages') {
    return {
      headers: {
        'retry-after': String(resetsIn),
        'anthropic-ratelimit-unified-status': 'rejected',
        'anthropic-ratelimit-unified-reset': String(resetsAt),
        'anthropic-ratelimit-unified-representative-claim': 'five_hour',
        'anthropic-ratelimit-unified-5h-status': 'rejected',
        'anthropic-ratelimit-unified-5h-reset': String(resetsAt),
        'anthropic-ratelimit-unified-5h-utilization': '1.0',
      },
      body: { type: 'error', error: { type: 'rate_limit_error', message: 'This request would exceed your account\'s rate limit. Please try again later.' } },
    };
  }
  return {
    headers: { 'retry-after': String(resetsIn) },
    body: {
      error: {
        message: 'You exceeded your current quota, please check your plan and billing details.',
        type: 'insufficient_quota',
        param: null,
        code: 'insufficient_quota',
      },
    },
  };
}

// ------------------------------------------------------------------ SSE encoders

interface Encoder {
  begin(): string[];
  textStart(): string[];
  textDelta(t: string): string;
  textEnd(full: string): string[];
  toolCall(callId: string, name: string, args: string): string[];
  finish(reason: 'stop' | 'tool'): string[];
}

function sse(event: string | null, data: unknown): string {
  return (event ? `event: ${event}\n` : '') + `data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
}

function splitWords(text: string): string[] {
  const parts = text.match(/\S+\s*|\s+/g);
  return parts && parts.length > 0 ? parts : [text];
}

function encoderFor(api: Api, rec: RecordedRequest, id: () => string): Encoder {
  const model = rec.model ?? 'test-model';
  const created = Math.floor(Date.now() / 1000);
  if (api === 'responses') {
    const respId = `resp_${id()}`;
    const msgId = `msg_${id()}`;
    const output: unknown[] = [];
    const usage = { input_tokens: 10, input_tokens_details: { cached_tokens: 0 }, output_tokens: 5, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 15 };
    return {
      begin: () => [sse('response.created', { type: 'response.created', response: { id: respId, object: 'response', created_at: created, status: 'in_progress', model, output: [] } })],
      textStart: () => [
        sse('response.output_item.added', { type: 'response.output_item.added', output_index: 0, item: { id: msgId, type: 'message', role: 'assistant', status: 'in_progress', content: [] } }),
        sse('response.content_part.added', { type: 'response.content_part.added', item_id: msgId, output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } }),
      ],
      textDelta: (t) => sse('response.output_text.delta', { type: 'response.output_text.delta', item_id: msgId, output_index: 0, content_index: 0, delta: t }),
      textEnd: (full) => {
        const item = { id: msgId, type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: full, annotations: [] }] };
        output.push(item);
        return [
          sse('response.output_text.done', { type: 'response.output_text.done', item_id: msgId, output_index: 0, content_index: 0, text: full }),
          sse('response.output_item.done', { type: 'response.output_item.done', output_index: 0, item }),
        ];
      },
      toolCall: (callId, name, args) => {
        const fcId = `fc_${id()}`;
        const item = { id: fcId, type: 'function_call', status: 'completed', name, arguments: args, call_id: callId };
        output.push(item);
        return [
          sse('response.output_item.added', { type: 'response.output_item.added', output_index: 0, item: { ...item, status: 'in_progress', arguments: '' } }),
          sse('response.function_call_arguments.done', { type: 'response.function_call_arguments.done', item_id: fcId, output_index: 0, arguments: args }),
          sse('response.output_item.done', { type: 'response.output_item.done', output_index: 0, item }),
        ];
      },
      finish: () => [sse('response.completed', { type: 'response.completed', response: { id: respId, object: 'response', created_at: created, status: 'completed', model, output, usage } })],
    };
  }
  if (api === 'messages') {
    const msgId = `msg_${id()}`;
    return {
      begin: () => [
        sse('message_start', {
          type: 'message_start',
          message: { id: msgId, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 10, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 } },
        }),
      ],
      textStart: () => [sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }), sse('ping', { type: 'ping' })],
      textDelta: (t) => sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: t } }),
      textEnd: () => [sse('content_block_stop', { type: 'content_block_stop', index: 0 })],
      toolCall: (callId, name, args) => [
        sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: callId, name, input: {} } }),
        sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: args } }),
        sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
      ],
      finish: (reason) => [
        sse('message_delta', { type: 'message_delta', delta: { stop_reason: reason === 'tool' ? 'tool_use' : 'end_turn', stop_sequence: null }, usage: { output_tokens: 5 } }),
        sse('message_stop', { type: 'message_stop' }),
      ],
    };
  }
  const chatId = `chatcmpl-${id()}`;
  const chunk = (delta: unknown, finish: string | null, extra: Record<string, unknown> = {}): string =>
    sse(null, { id: chatId, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }], ...extra });
  return {
    begin: () => [chunk({ role: 'assistant', content: '' }, null)],
    textStart: () => [],
    textDelta: (t) => chunk({ content: t }, null),
    textEnd: () => [],
    toolCall: (callId, name, args) => [
      chunk({ tool_calls: [{ index: 0, id: callId, type: 'function', function: { name, arguments: '' } }] }, null),
      chunk({ tool_calls: [{ index: 0, function: { arguments: args } }] }, null),
    ],
    finish: (reason) => [
      chunk({}, reason === 'tool' ? 'tool_calls' : 'stop'),
      sse(null, { id: chatId, object: 'chat.completion.chunk', created, model, choices: [], usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } }),
      sse(null, '[DONE]'),
    ],
  };
}
