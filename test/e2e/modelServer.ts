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
 *
 * What a test scripts and reads (rules, behaviours, recorded requests, `match`) is in
 * model/script.ts; each API's part (classification, tool call, error bodies, SSE encoder) is one
 * file in model/ (responses.ts, messages.ts, chat.ts, listed in model/registry.ts). This file is
 * the HTTP server and the dispatch: the one class ModelServer, over 300 lines because its script,
 * recording and streaming share the state of one server (rules, pending tool calls, timers, waiters).
 */
import * as http from 'http';
import { AddressInfo } from 'net';
import { apiFor } from './model/registry';
import type { Api, Behaviour, ModelServerOptions, RecordedRequest, Rule } from './model/script';
import { splitWords } from './model/types';

export type { Api, Behaviour, ModelServerOptions, RecordedRequest, RequestKind, Rule } from './model/script';
export { match } from './model/script';

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
        this.sendJson(rec, res, 401, apiFor(rec.api).authErrorBody());
        return;
      case 'usageLimit': {
        const resetsIn = b.resetsInSeconds ?? 3600;
        const { headers, body } = apiFor(rec.api).usageLimitResponse(resetsIn);
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
    const wire = apiFor(api);
    const enc = wire.encoder(rec, () => this.nextId(''));
    const events: string[] = [];
    if (b.kind === 'text') {
      events.push(...enc.begin(), ...enc.textStart(), ...splitWords(b.text).map((w) => enc.textDelta(w)), ...enc.textEnd(b.text), ...enc.finish('stop'));
    } else if (b.kind === 'toolCall') {
      const callId = this.nextId(wire.toolCallIdPrefix);
      const { name, args } = wire.shellToolCall(rec, b.command);
      this.pendingCalls.set(callId, { then: b.then ?? 'Done.' });
      events.push(...enc.begin(), ...enc.toolCall(callId, name, JSON.stringify({ ...args, ...b.extraArgs })), ...enc.finish('tool'));
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

// ------------------------------------------------------------- classification

/** Kind and texts of a request of a known API with a JSON body, read by that API's file. */
function analyse(rec: RecordedRequest): void {
  const { userTexts, lastUser, lastIsToolResult } = apiFor(rec.api!).read(rec);
  rec.allUserText = userTexts.join('\n');
  rec.lastUserText = lastUser;
  if (rec.kind !== 'title') rec.kind = lastIsToolResult ? 'toolResult' : 'turn';
}

function conversationKey(rec: RecordedRequest): string {
  return JSON.stringify(apiFor(rec.api!).conversation(rec.body)) ?? '';
}
