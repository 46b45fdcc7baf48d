/*
 * An interactive agent whose TUI tells what it does over its own HTTP server instead of hooks
 * (OpenCode: its plugins, its own way to run code at its events, hang without network). The
 * product chooses a free loopback port and a password for each attempt (server.json in the
 * attempt folder, private; the password reaches the TUI in its environment, never its argv), and
 * the supervisor holds one Server-Sent Events connection to each live attempt's TUI, in its own
 * process (no process per task), writing what it hears into the attempt's hook files in the same
 * form as the `hook` command: the state derivation is the same for every agent. Each (re)connection
 * first asks the TUI what it does now, since events sent while no one listened are lost (a
 * supervisor restarted, a TUI still starting).
 */
import { randomBytes } from 'node:crypto';
import fs = require('node:fs');
import http = require('node:http');
import net = require('node:net');
import { adapterFor } from '../agents/registry';
import type { AgentServer } from '../agents/types';
import type { HookReading } from '../model/interactive';
import type { TaskRecord } from '../model/record';
import { isFinished, isInteractive } from '../model/record';
import { attemptFile } from '../store/attempt';
import { readHookState, recordHook } from '../store/hooks';
import type { Core } from './core';

/** An attempt's server: where its TUI listens (127.0.0.1 only) and its password. */
export interface ServerInfo {
  v: 1;
  port: number;
  password: string;
  /** A follow-up to say through the server once it answers (a resume that takes no prompt). */
  prompt?: string;
}

/** A loopback port free now (the kernel's choice); the TUI binds it a moment later. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export async function newServerInfo(): Promise<ServerInfo> {
  return { v: 1, port: await freeLoopbackPort(), password: randomBytes(24).toString('base64url') };
}

export function readServerInfo(attemptDir: string): ServerInfo | undefined {
  try {
    const o = JSON.parse(fs.readFileSync(attemptFile(attemptDir, 'server'), 'utf8')) as Partial<ServerInfo>;
    return o.v === 1 && typeof o.port === 'number' && o.port > 0 && typeof o.password === 'string' ? (o as ServerInfo) : undefined;
  } catch {
    return undefined;
  }
}

/** How long a request may wait for its answer's head (the TUI accepts connections some seconds before it answers). */
const HEAD_TIMEOUT_MS = 3000;
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 2000;

interface Connection {
  session: string;
  attemptDir: string;
  dir: string;
  server: AgentServer;
  info?: ServerInfo;
  /** The task's session as known (its record's, then what the events said). */
  sessionId: string | undefined;
  /** When the attempt began (ms). */
  since: number;
  req?: http.ClientRequest;
  timer?: NodeJS.Timeout;
  retryMs: number;
  closed: boolean;
  /** Said once per connection: why it cannot be read. */
  said?: string;
}

/** The supervisor's connections to the servers of its live interactive attempts (one each). */
export class AgentServers {
  private readonly conns = new Map<string, Connection>();

  constructor(private readonly core: Core, private readonly wake: (reason: string) => void) {}

  /** Which attempts to listen to until the next pass: every live interactive attempt of this host whose agent has a server. */
  watch(records: readonly TaskRecord[]): void {
    const want = new Map<string, { record: TaskRecord; attemptDir: string; server: AgentServer }>();
    for (const r of records) {
      const server = adapterFor(r.agent).interactive?.server;
      const a = r.attempts[r.attempts.length - 1];
      if (!server || !isInteractive(r) || isFinished(r.state) || !a || a.endedAt || (a.host && a.host.key !== this.core.host.key)) continue;
      want.set(r.session, { record: r, attemptDir: this.core.store.paths.attemptDir(r.session, a.n), server });
    }
    for (const [session, c] of [...this.conns]) {
      if (want.get(session)?.attemptDir === c.attemptDir) continue;
      this.close(c);
      this.conns.delete(session);
    }
    for (const [session, w] of want) {
      if (this.conns.has(session)) continue;
      const c: Connection = {
        session, attemptDir: w.attemptDir, dir: w.record.dir, server: w.server, sessionId: w.record.agentSessionId ?? undefined,
        since: Date.parse(w.record.attempts[w.record.attempts.length - 1].startedAt) || 0, retryMs: RETRY_MIN_MS, closed: false,
      };
      this.conns.set(session, c);
      this.connect(c);
    }
  }

  /** Every connection ended (the supervisor stops, or no longer leads). */
  closeAll(): void {
    for (const c of this.conns.values()) this.close(c);
    this.conns.clear();
  }

  get size(): number {
    return this.conns.size;
  }

  private close(c: Connection): void {
    c.closed = true;
    if (c.timer) clearTimeout(c.timer);
    c.timer = undefined;
    c.req?.destroy();
    c.req = undefined;
  }

  private retry(c: Connection, why: string): void {
    c.req = undefined;
    if (c.closed || c.timer) return;
    if (c.said !== why) this.core.logger.debug(`${c.session}: its agent's server cannot be read yet (${why}); tried again`);
    c.said = why;
    c.timer = setTimeout(() => {
      c.timer = undefined;
      this.connect(c);
    }, c.retryMs);
    c.retryMs = Math.min(RETRY_MAX_MS, c.retryMs * 2);
  }

  private connect(c: Connection): void {
    if (c.closed) return;
    c.info ??= readServerInfo(c.attemptDir);
    const info = c.info;
    if (!info) return this.retry(c, 'no server.json');
    const req = http.get({
      host: '127.0.0.1', port: info.port, path: c.server.eventsPath(c.dir),
      headers: { Authorization: c.server.authorization(info.password), Accept: 'text/event-stream' },
    });
    c.req = req;
    req.setTimeout(HEAD_TIMEOUT_MS, () => req.destroy(new Error('no answer')));
    req.on('error', (e) => {
      if (c.req === req) this.retry(c, e.message);
    });
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return this.retry(c, `status ${res.statusCode ?? '?'}`);
      }
      req.setTimeout(0);
      res.socket.unref();
      res.setEncoding('utf8');
      let buffer = '';
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (line.startsWith('data:')) this.onData(c, line.slice(5).trim());
        }
      });
      res.on('close', () => {
        if (c.req === req) this.retry(c, 'its event stream ended');
      });
    });
  }

  private onData(c: Connection, data: string): void {
    const at = Date.now();
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(data) as Record<string, unknown>;
    } catch {
      return;
    }
    const type = typeof event.type === 'string' ? event.type : '?';
    if (type === 'server.connected') {
      c.retryMs = RETRY_MIN_MS;
      c.said = undefined;
      void this.askNow(c, at).then(() => this.sayFollowUp(c));
      return;
    }
    let reading: HookReading | undefined;
    try {
      reading = c.server.readEvent(event, c.sessionId);
    } catch {
      reading = undefined;
    }
    if (reading) this.record(c, reading, type, at);
  }

  /** What the TUI does now (events before the connection are lost), as of the moment it was asked. */
  private async askNow(c: Connection, at: number): Promise<void> {
    const info = c.info;
    if (!info) return;
    const get = (path: string) => getJson(info, path, c.server.authorization(info.password));
    try {
      const reading = await c.server.currentState(get, c.dir, c.sessionId, c.since);
      if (reading && !c.closed) this.record(c, reading, 'status', at);
    } catch (e) {
      this.core.logger.debug(`${c.session}: its agent's current state could not be asked (${(e as Error).message})`);
    }
  }

  /**
   * The follow-up of a resume, said once at most: the marker is written before the request (a
   * supervisor that dies in between leaves it unsaid, never said twice; the person sees the TUI).
   */
  private async sayFollowUp(c: Connection): Promise<void> {
    const info = c.info;
    const marker = attemptFile(c.attemptDir, 'promptSent');
    if (!info?.prompt || !c.sessionId || !c.server.sendPrompt || c.closed || fs.existsSync(marker)) return;
    try {
      fs.writeFileSync(marker, `${Date.now()}\n`, { flag: 'wx', mode: 0o600 });
    } catch {
      return; // said already (or being said by another)
    }
    try {
      await c.server.sendPrompt((path, body) => postJson(info, path, c.server.authorization(info.password), body), c.dir, c.sessionId, info.prompt);
    } catch (e) {
      this.core.logger.warn(`${c.session}: its follow-up could not be given to its TUI (${(e as Error).message}); type it there`);
    }
  }

  private record(c: Connection, reading: HookReading, event: string, at: number): void {
    if (c.closed) return;
    if (reading.sessionId) c.sessionId = reading.sessionId;
    const current = readHookState(c.attemptDir);
    // The idle after the error or interrupt that ended the turn says less than the error did.
    if (current?.state === 'idle' && reading.state === 'idle' && current.reason && !reading.reason && current.sessionId === (reading.sessionId ?? current.sessionId)) return;
    try {
      const { changed } = recordHook(c.attemptDir, reading, event, at);
      if (changed) this.wake(`${c.session}: ${event}`);
    } catch (e) {
      this.core.logger.debug(`${c.session}: what its agent's server said could not be written (${(e as Error).message})`);
    }
  }
}

/** One GET to the TUI's server, its JSON answer. */
function getJson(info: ServerInfo, path: string, authorization: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: info.port, path, headers: { Authorization: authorization, Accept: 'application/json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`${path}: status ${res.statusCode ?? '?'}`));
        try {
          resolve(JSON.parse(body));
        } catch (e) {
          reject(e as Error);
        }
      });
    });
    req.setTimeout(HEAD_TIMEOUT_MS, () => req.destroy(new Error(`${path}: no answer`)));
    req.on('error', reject);
  });
}

/** One POST of JSON to the TUI's server; resolves once it is accepted (2xx). */
function postJson(info: ServerInfo, path: string, authorization: string, body: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = http.request({
      host: '127.0.0.1', port: info.port, path, method: 'POST',
      headers: { Authorization: authorization, 'Content-Type': 'application/json', 'Content-Length': data.length },
    }, (res) => {
      res.resume();
      res.on('end', () => ((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300 ? resolve() : reject(new Error(`${path}: status ${res.statusCode ?? '?'}`))));
    });
    req.setTimeout(HEAD_TIMEOUT_MS, () => req.destroy(new Error(`${path}: no answer`)));
    req.on('error', reject);
    req.end(data);
  });
}
