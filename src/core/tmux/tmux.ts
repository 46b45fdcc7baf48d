import { spawn } from 'node:child_process';
import fs = require('node:fs');
import path = require('node:path');
import type { Logger } from '../platform/log';
import { silentLogger } from '../platform/log';
import type { Exec, ExecResult } from '../platform/exec';
import { defaultExec } from '../platform/exec';
import { resolveExecutable } from '../platform/executables';
import { pidNamespace, processPidNamespace, socketListener } from '../platform/processes';
import * as cmd from './commands';
import { classifyTmuxFailure, TmuxError } from './errors';

export type { Exec, ExecResult } from '../platform/exec';

const NOT_INSTALLED = 'tmux is not installed: install it with your package manager (e.g. apt-get install tmux, brew install tmux).';

/**
 * tmux refuses a command line larger than its message size (16 KiB, with headers): captures are
 * chained into one process up to this many bytes of arguments (about 100 panes with short names).
 */
export const CAPTURE_BUDGET = 12 * 1024;

/**
 * How long one tmux command may take: a healthy server answers in milliseconds even on a loaded
 * machine; one that is stopped (SIGSTOP, a frozen cgroup) never does. RESILIENT_AGENT_TMUX_TIMEOUT_MS
 * sets it (tests).
 */
export const TMUX_TIMEOUT_MS = 10_000;

function timeoutFrom(env: NodeJS.ProcessEnv): number {
  const ms = Number(env.RESILIENT_AGENT_TMUX_TIMEOUT_MS);
  return Number.isFinite(ms) && ms > 0 ? ms : TMUX_TIMEOUT_MS;
}

export interface TmuxOptions {
  /** `tmux -L NAME`: a private server. Empty or undefined: the user's default server. */
  socket?: string;
  executable?: string;
  logger?: Logger;
  exec?: Exec;
  env?: NodeJS.ProcessEnv;
  /** The deadline of each tmux command (default TMUX_TIMEOUT_MS, or the environment's). */
  timeoutMs?: number;
}

/** tmux must never see TMUX/TMUX_PANE: started from inside tmux it would talk to the wrong server. */
export function tmuxEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = { ...env };
  delete clean.TMUX;
  delete clean.TMUX_PANE;
  return clean;
}

export class Tmux {
  readonly socket: string | undefined;
  readonly executable: string;
  private readonly logger: Logger;
  private readonly exec: Exec;
  private readonly env: NodeJS.ProcessEnv;
  readonly timeoutMs: number;
  /** How many tmux processes this driver has started; read by benchmarks. */
  spawned = 0;
  /**
   * Whether this server takes the pane-died hook (cmd.wakeHookArgs): unknown until a harmless
   * try says (setWakeHooks); launches chain it only once known, so an older tmux never fails one.
   */
  wakeHooks: boolean | undefined;

  constructor(options: TmuxOptions = {}) {
    this.socket = options.socket || undefined;
    this.executable = options.executable ?? 'tmux';
    this.logger = options.logger ?? silentLogger;
    this.exec = options.exec ?? defaultExec;
    this.env = tmuxEnvironment(options.env);
    this.timeoutMs = options.timeoutMs ?? timeoutFrom(options.env ?? process.env);
  }

  /** Where tmux keeps this server's socket ($TMUX_TMPDIR or /tmp, tmux-UID, the -L name). */
  socketPath(): string {
    const uid = process.getuid?.() ?? 0;
    return path.join(this.env.TMUX_TMPDIR || '/tmp', `tmux-${uid}`, this.socket ?? 'default');
  }

  /** The argv prefix that reaches this server: `tmux` or `tmux -L socket`. */
  baseArgv(): string[] {
    return this.socket ? [this.executable, '-L', this.socket] : [this.executable];
  }

  async run(args: readonly string[]): Promise<string> {
    const full = this.socket ? ['-L', this.socket, ...args] : [...args];
    const started = Date.now();
    let result: ExecResult;
    this.spawned++;
    try {
      result = await this.exec(this.executable, full, this.env, { timeoutMs: this.timeoutMs });
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'ETIMEDOUT') {
        const pid = socketListener(this.socketPath());
        const server = pid ? `its server (pid ${pid}) may be stopped (kill -CONT ${pid}) or overloaded` : 'its server may be stopped or overloaded';
        this.logger.debug(`> tmux ${args[0]} [no answer in ${this.timeoutMs}ms]`);
        throw new TmuxError('timeout', `tmux is not answering: ${args[0]} had no reply in ${Math.round(this.timeoutMs / 100) / 10}s; ${server}`, full);
      }
      if (code === 'ENOENT') {
        throw new TmuxError('not-installed', NOT_INSTALLED, full);
      }
      throw new TmuxError('failed', `tmux could not be run: ${(e as Error).message}`, full);
    }
    this.logger.debug(`> tmux ${args[0]} [${Date.now() - started}ms]${result.exitCode ? ` exit ${result.exitCode}` : ''}`);
    if (result.exitCode !== 0) {
      const stderr = result.stderr.trim();
      throw new TmuxError(classifyTmuxFailure(stderr), `tmux ${args[0]} failed: ${stderr || `exit ${result.exitCode}`}`, full, result.exitCode, stderr);
    }
    return result.stdout;
  }

  /**
   * Throws the not-installed TmuxError when tmux is not on the PATH, without running it: a start
   * says so before anything is made, and a start that finds it does not pay for a process.
   */
  requireInstalled(): void {
    // An injected runner (tests) runs whatever it likes.
    if (this.exec === defaultExec && !resolveExecutable(this.executable, this.env)) {
      throw new TmuxError('not-installed', NOT_INSTALLED, this.baseArgv());
    }
  }

  async version(): Promise<string> {
    return (await this.run(['-V'])).trim();
  }

  /** Every session's first pane in one call. No server running is an empty list, not a failure. */
  async listPanes(): Promise<Map<string, cmd.PaneInfo>> {
    try {
      return cmd.parseListPanes(await this.run(cmd.listPanesArgs()));
    } catch (e) {
      // A server with no session left (or one shutting down) has nothing to list.
      if (e instanceof TmuxError && (e.cause === 'no-server' || e.cause === 'no-such-session')) return new Map();
      throw e;
    }
  }

  async hasSession(session: string): Promise<boolean> {
    try {
      await this.run(cmd.hasSessionArgs(session));
      return true;
    } catch (e) {
      if (e instanceof TmuxError && (e.cause === 'no-such-session' || e.cause === 'no-server')) return false;
      throw e;
    }
  }

  async newSession(spec: cmd.NewSessionSpec): Promise<void> {
    try {
      await this.run(cmd.newSessionArgs(spec));
    } catch (e) {
      // A failure after new-session itself succeeded leaves a half-made session: remove it. Not a
      // deadline: the server may have run the whole command (its client only hung), and the
      // record already names the attempt it runs; the caller decides (a pass finds it running).
      if (e instanceof TmuxError && e.cause !== 'duplicate-session' && e.cause !== 'not-installed' && e.cause !== 'timeout') {
        await this.killSession(spec.session).catch(() => undefined);
      }
      throw e;
    }
  }

  async respawnPane(session: string, cwd: string, command: readonly string[], then: readonly (readonly string[])[] = []): Promise<void> {
    await this.run(cmd.respawnPaneArgs(session, cwd, command, then));
  }

  /**
   * Gives these sessions the pane-died hook that signals `channel`, in as few calls as tmux's
   * message size allows. Learns whether this tmux has the hook at all (wakeHooks). A session gone
   * meanwhile stops its chain: the rest are tried again by the caller's next look.
   */
  async setWakeHooks(sessions: readonly string[], channel: string): Promise<void> {
    let chunk: string[] = [];
    const flush = async () => {
      if (chunk.length === 0) return;
      const args = chunk.flatMap((s, i) => cmd.wakeHookArgs(s, channel).flatMap((c, j) => (i || j ? [';', ...c] : c)));
      chunk = [];
      try {
        await this.run(args);
        this.wakeHooks = true;
      } catch (e) {
        // An older tmux names the hook it does not know; anything else says nothing about support.
        if (e instanceof TmuxError && /pane-died/.test(e.stderr)) this.wakeHooks = false;
        throw e;
      }
    };
    let bytes = 0;
    for (const s of sessions) {
      const size = cmd.wakeHookArgs(s, channel).flat().reduce((n, a) => n + Buffer.byteLength(a) + 1, 4);
      if (bytes + size > CAPTURE_BUDGET) await flush();
      chunk.push(s);
      bytes += size;
    }
    await flush();
  }

  /**
   * One `tmux wait-for CHANNEL` client, blocked until a pane-died hook signals the channel or the
   * server exits (both end it with status 0; no server at all: status 1 at once). No deadline: it
   * waits by design. Not counted as keeping this process alive.
   */
  waitFor(channel: string): { ended: Promise<{ code: number | null; stderr: string }>; stop: () => void } {
    this.spawned++;
    const child = spawn(this.executable, [...this.baseArgv().slice(1), ...cmd.waitForArgs(channel)], { env: this.env, stdio: ['ignore', 'ignore', 'pipe'] });
    child.unref();
    (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const ended = new Promise<{ code: number | null; stderr: string }>((resolve) => {
      child.on('error', (e) => resolve({ code: null, stderr: e.message }));
      child.on('exit', (code) => resolve({ code, stderr }));
    });
    return { ended, stop: () => child.kill('SIGTERM') };
  }

  /**
   * tmux can miss the SIGCHLD of a pane's process (libutempter's handler takes it when the pane's
   * terminal closes first, tmux issue 311): the pane is dead, its process an unreaped zombie, its
   * status unknown and its pane-died hook never fires. A SIGCHLD makes the server reap it now.
   * Only a tmux server of this pid namespace is ever signalled.
   */
  nudge(serverPid: number): void {
    if (!(serverPid > 1) || processPidNamespace(serverPid) !== pidNamespace()) return;
    try {
      if (!fs.readFileSync(`/proc/${serverPid}/comm`, 'utf8').startsWith('tmux')) return;
      process.kill(serverPid, 'SIGCHLD');
    } catch {
      /* gone, or no /proc to be sure: the status comes with the next child tmux reaps */
    }
  }

  /** Kills the session; a session that is already gone is not an error. */
  async killSession(session: string): Promise<boolean> {
    try {
      await this.run(cmd.killSessionArgs(session));
      return true;
    } catch (e) {
      if (e instanceof TmuxError && (e.cause === 'no-such-session' || e.cause === 'no-server')) return false;
      throw e;
    }
  }

  async capturePane(session: string, lines: number): Promise<string> {
    return this.run(cmd.capturePaneArgs(session, lines));
  }

  /** The last lines of many panes, in as few tmux processes as tmux's message size allows. */
  async captureMany(sessions: readonly string[], lines: number): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const separator = `__resilient_agent_capture_${process.pid}_${Date.now()}__`;
    let chunk: string[] = [];
    let bytes = 0;
    const flush = async () => {
      if (chunk.length === 0) return;
      for (const [s, text] of await this.captureChunk(chunk, lines, separator)) out.set(s, text);
      chunk = [];
      bytes = 0;
    };
    for (const session of sessions) {
      const size = cmd.captureManyArgs([session], lines, separator).reduce((n, a) => n + Buffer.byteLength(a) + 1, 2);
      if (bytes + size > CAPTURE_BUDGET) await flush();
      chunk.push(session);
      bytes += size;
    }
    await flush();
    return out;
  }

  private async captureChunk(sessions: readonly string[], lines: number, separator: string): Promise<Map<string, string>> {
    try {
      return cmd.parseCaptureMany(await this.run(cmd.captureManyArgs(sessions, lines, separator)), sessions, separator);
    } catch (e) {
      if (!(e instanceof TmuxError) || e.cause !== 'no-such-session') throw e;
      // One session vanished mid-pass and tmux stopped the chain: take the others one by one.
      const out = new Map<string, string>();
      for (const s of sessions) {
        try {
          out.set(s, await this.capturePane(s, lines));
        } catch {
          /* gone */
        }
      }
      return out;
    }
  }

  /**
   * The text, then Enter. `enterAfterMs`: Enter in a call of its own, that long after the text and
   * not before the pane shows it (or `ECHO_WAIT_MS` passed): a TUI reads a burst of input as a
   * paste and keeps an Enter inside it as a newline in its prompt, and one that is still starting
   * (just resumed) reads what waited for it as one burst.
   */
  async sendLine(session: string, text: string, enterAfterMs = 0): Promise<void> {
    if (text && enterAfterMs > 0) {
      // A key or two (an answer to a menu, which acts on it and shows no echo): Enter after the delay.
      const tail = echoTail(text);
      const watch = tail.length >= 4;
      const before = watch ? countEcho(await this.capturePane(session, 1), tail) : 0;
      const typed = Date.now();
      await this.run(cmd.sendLiteralArgs(session, text));
      while (watch && Date.now() - typed < ECHO_WAIT_MS && countEcho(await this.capturePane(session, 1), tail) <= before) {
        await new Promise((r) => setTimeout(r, ECHO_POLL_MS));
      }
      const left = enterAfterMs - (Date.now() - typed);
      if (left > 0) await new Promise((r) => setTimeout(r, left));
    } else if (text) {
      await this.run(cmd.sendLiteralArgs(session, text));
    }
    await this.run(cmd.sendEnterArgs(session));
  }

  async panePath(session: string): Promise<string> {
    return (await this.run(cmd.panePathArgs(session))).trim();
  }
}

/** How long `sendLine` waits for a TUI to show what was typed before it sends Enter anyway. */
const ECHO_WAIT_MS = 3000;
const ECHO_POLL_MS = 40;

/**
 * What a pane's text is compared by: white space and the frame a TUI draws around its prompt
 * (box-drawing and block characters: side borders, a gutter bar) left out, wherever it wraps.
 */
const NOT_TEXT = /[\s\u2500-\u259f]+/g;

/** The end of a text as a pane shows it wherever it wraps: its last 24 characters that are not white space (nor a frame's). */
export function echoTail(text: string): string {
  return text.replace(NOT_TEXT, '').slice(-24);
}

/** How often a pane's text (white space and frames aside) holds `tail`. */
export function countEcho(pane: string, tail: string): number {
  if (!tail) return 0;
  const flat = pane.replace(NOT_TEXT, '');
  let n = 0;
  for (let i = flat.indexOf(tail); i >= 0; i = flat.indexOf(tail, i + 1)) n++;
  return n;
}
