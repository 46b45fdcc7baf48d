import { ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TaskStore } from '../../src/core/store/store';
import type { TaskRecord } from '../../src/core/model/record';
import { processAlive } from '../../src/core/platform/processes';
import { groupAlive, processesWithEnv } from '../tools/processes';

export const REPO = path.resolve(__dirname, '..', '..', '..');
export const CLI = path.join(REPO, 'dist', 'cli.js');
export const FIXTURE = path.join(REPO, 'test', 'fixtures', 'agent.mjs');
export const AGENTS = ['codex', 'claude', 'opencode', 'pi'] as const;

let counter = 0;

/** Wrapper scripts named like the real CLIs that run the fixture agent; returns the folder. */
export function writeFixtureBin(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const agent of AGENTS) {
    fs.writeFileSync(path.join(dir, agent), `#!/bin/sh\nexec '${process.execPath}' '${FIXTURE}' ${agent} "$@"\n`, { mode: 0o755 });
  }
  return dir;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Invocation {
  agent: string;
  argv: string[];
  cwd: string;
  pid: number;
  mode: 'start' | 'resume';
  sessionId: string;
  prompt: string;
  behaviour: string;
  /** When the run began (ms since the epoch). */
  startedAt: number;
}

/**
 * One isolated world per test: a private tmux socket, a state dir, a HOME, and fixture agents
 * on PATH. Nothing of the user's tmux server, agent configuration or state is touched.
 */
export class Harness {
  readonly root: string;
  readonly home: string;
  readonly bin: string;
  readonly socket: string;
  readonly env: NodeJS.ProcessEnv;
  readonly store: TaskStore;
  private readonly children = new Set<ChildProcess>();

  constructor() {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'ra-it-'));
    this.home = path.join(this.root, 'state');
    this.bin = path.join(this.root, 'bin');
    this.socket = `ra-it-${process.pid}-${++counter}`;
    writeFixtureBin(this.bin);
    fs.mkdirSync(path.join(this.root, 'home'));
    const systemPath = (process.env.PATH ?? '/usr/bin:/bin').split(':').filter((p) => p && !p.includes('node_modules')).join(':');
    this.env = {
      PATH: `${this.bin}:${systemPath}`,
      HOME: path.join(this.root, 'home'),
      LANG: 'C.UTF-8',
      RESILIENT_AGENT_HOME: this.home,
      RESILIENT_AGENT_TMUX_SOCKET: this.socket,
      FIXTURE_HOME: path.join(this.root, 'fixture-home'),
      // tmux keeps its sockets here, not under /tmp: every process of the world (a background
      // supervisor too) must be handed it to find the tasks' server.
      TMUX_TMPDIR: path.join(this.root, 'tmux'),
    };
    fs.mkdirSync(path.join(this.root, 'tmux'), { mode: 0o700 });
    this.store = new TaskStore(this.home);
    // Most tests drive supervision themselves (monitor --once, or a monitor they start); the
    // background supervisor has tests of its own that turn it back on.
    this.configure({ 'supervisor.mode': 'window' });
  }

  /** Writes the CLI's config.json (flat setting keys). */
  configure(settings: Record<string, unknown>): void {
    fs.mkdirSync(this.home, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(this.home, 'config.json'), JSON.stringify(settings), { mode: 0o600 });
  }

  /** A project folder for one task, with the fixture's plan: one behaviour per agent run. */
  project(name: string, plan: string[] = []): string {
    const dir = path.join(this.root, 'projects', name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, '.fixture-plan.json'), JSON.stringify(plan));
    return dir;
  }

  cli(args: string[], options: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {}): Promise<CliResult> {
    return new Promise((resolve) => {
      const child = execFile(process.execPath, [CLI, ...args], { env: options.env ?? this.env, cwd: options.cwd ?? this.root, encoding: 'utf8' },
        (error, stdout, stderr) => {
          const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : 1) : 0;
          resolve({ code, stdout, stderr });
        });
      child.stdin?.end(options.input ?? '');
    });
  }

  async ok(args: string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<string> {
    const r = await this.cli(args, options);
    if (r.code !== 0) throw new Error(`resilient-agent ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  async status(name: string): Promise<{ state: string; attempts: { n: number; cause: string; mode: string; exitCode: number | null; signal: number | null; note: string | null }[]; agentSessionId: string | null; reason: string | null }> {
    return JSON.parse(await this.ok(['status', name, '--json']));
  }

  tmux(args: string[]): Promise<CliResult> {
    return new Promise((resolve) => {
      execFile('tmux', ['-L', this.socket, ...args], { env: { ...this.env, TMUX: '' }, encoding: 'utf8' }, (error, stdout, stderr) => {
        resolve({ code: error ? 1 : 0, stdout, stderr });
      });
    });
  }

  record(session: string): TaskRecord | undefined {
    return this.store.get(session);
  }

  /** A background `monitor`, stopped when the test ends. */
  monitor(args: string[] = ['--interval', '0.2']): ChildProcess {
    const child = spawn(process.execPath, [CLI, 'monitor', ...args], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout?.on('data', (d) => (log += d));
    child.stderr?.on('data', (d) => (log += d));
    (child as ChildProcess & { log: () => string }).log = () => log;
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  async stop(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }

  invocations(project: string): Invocation[] {
    const file = path.join(project, '.fixture-invocations.jsonl');
    if (!fs.existsSync(file)) return [];
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  }

  /** The runner's pid for an attempt (its process group holds the agent). */
  async runnerPid(session: string, attempt: number): Promise<number> {
    const file = path.join(this.store.paths.attemptDir(session, attempt), 'pid');
    await waitFor(() => fs.existsSync(file), `runner pid of ${session} attempt ${attempt}`);
    return Number(fs.readFileSync(file, 'utf8'));
  }

  /**
   * Waits until the agent is in the middle of its reply: its session id reported and its session
   * saved (killed before that, there is nothing to resume, and it is started again instead).
   */
  async sessionIdKnown(session: string, attempt = 1): Promise<string> {
    const events = path.join(this.store.paths.attemptDir(session, attempt), 'events.jsonl');
    await waitFor(() => fs.existsSync(events) && fs.readFileSync(events, 'utf8').includes('working...'), `${session} mid-reply`);
    return waitFor(async () => (await this.status(session)).agentSessionId, `the session id of ${session}`);
  }

  /** Kills the agent's whole process group with SIGKILL, as a crash or the OOM killer would. */
  async crash(session: string, attempt: number): Promise<void> {
    const pid = await this.runnerPid(session, attempt);
    process.kill(-pid, 'SIGKILL');
  }

  /** Kills the current attempt's runner group if it is running; false when there was none. */
  killRunning(session: string): boolean {
    const rec = this.record(session);
    const a = rec?.attempts[rec.attempts.length - 1];
    const pidFile = a ? path.join(this.store.paths.attemptDir(session, a.n), 'pid') : '';
    if (!a || a.endedAt || !fs.existsSync(pidFile)) return false;
    try {
      process.kill(-Number(fs.readFileSync(pidFile, 'utf8')), 'SIGKILL');
      return true;
    } catch {
      return false; // already gone
    }
  }

  async cleanup(): Promise<void> {
    await Promise.all([...this.children].map((c) => this.stop(c)));
    // The panes' processes outlive `kill-server` for a moment (a runner still writes its exit
    // file after SIGHUP): remove the folder only once every one of them is gone.
    const panes = (await this.tmux(['list-panes', '-a', '-F', '#{pane_pid}'])).stdout.split('\n').filter(Boolean).map(Number);
    await this.tmux(['kill-server']);
    for (const pgid of panes) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    // The background supervisor is a process of its own, outside tmux: end it and anything else
    // this world started (found by its state dir in their environment).
    const others = processesWithEnv(`RESILIENT_AGENT_HOME=${this.home}`).filter((pid) => pid !== process.pid);
    for (const pid of others) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    await waitFor(() => panes.every((pgid) => !groupAlive(pgid)) && others.every((pid) => !processAlive(pid)), 'the world\'s processes to exit');
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/** Waits for a condition to hold, checking often; fails with what was awaited. Never a fixed sleep. */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 20_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * A fresh Harness for each test of the calling suite, cleaned up after it: the one place of the
 * beforeEach/afterEach every suite would otherwise repeat.
 */
export function harnessPerTest(): Harness {
  let current: Harness | undefined;
  beforeEach(() => {
    current = new Harness();
  });
  afterEach(async () => {
    await current?.cleanup();
    current = undefined;
  });
  return new Proxy({} as Harness, {
    get(_target, key) {
      if (!current) throw new Error('the harness exists only while a test runs');
      const value = Reflect.get(current, key, current) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(current) : value;
    },
  });
}
