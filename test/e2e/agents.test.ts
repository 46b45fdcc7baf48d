/**
 * End to end with the real agent CLIs (codex, claude, opencode, pi) at pinned versions, driven
 * through our core exactly as a user's task is: TaskService.start with settings from
 * resolveSettings (a private tmux socket, the CLI's absolute path, the model flags as extraArgs),
 * an in-process Monitor (event driven), and a scripted model server on 127.0.0.1 (modelServer.ts).
 * Nothing of the user's agent configuration is read or written (agentEnv.ts builds a private HOME,
 * CODEX_HOME, CLAUDE_CONFIG_DIR, XDG dirs and pi agent dir per test).
 *
 *   npx tsc -p . && npx mocha --timeout 300000 out/test/e2e/agents.test.js
 *
 * The `before` hook installs the CLIs once into ~/.cache/resilient-agent-e2e-agents (install.ts).
 * E2E_AGENTS=codex,pi limits the agents; E2E_KEEP=1 keeps a failed test's temp folder.
 */
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { adapterFor } from '../../src/core/agents/registry';
import { heldByAgent } from '../../src/core/model/holds';
import { resolveSettings } from '../../src/core/model/settings';
import type { TaskRecord, Usage } from '../../src/core/model/record';
import { sumUsage } from '../../src/core/model/record';
import { PER_REQUEST } from './model/types';
import { TaskService } from '../../src/core/ops/service';
import type { StateChange } from '../../src/core/ops/monitor';
import { Monitor } from '../../src/core/ops/monitor';
import { CLI, waitFor } from '../integration/harness';
import type { AgentEnvOptions, AgentName, AgentSetup } from './agentEnv';
import { AGENT_NAMES, agentEnv } from './agentEnv';
import { AGENT_PACKAGES, ensureAgents } from './install';
import type { RecordedRequest, Rule } from './modelServer';
import { match, ModelServer } from './modelServer';

const ORIGINAL = 'Write a long essay about tmux (task 7431).';
const CONTINUE = 'Continue the previous task from where it stopped.';
/** Shell syntax everywhere, a leading '-', a newline, a tab, non-ASCII, and things that look like flags. */
const NASTY_PROMPT = `-n $(touch pwned1) \`touch pwned2\`; echo "$HOME" 'it''s' && rm -rf ./nothing | cat > /dev/null # ü✓ %s \\x\n\t-- --help -p @out.txt`;
const WAIT_MS = 90_000;

/** The token counts of a usage (its cost aside: only some agents report one). */
function tokens(u: Usage | undefined): Omit<Usage, 'costUsd'> | undefined {
  return u ? { inputTokens: u.inputTokens, cachedInputTokens: u.cachedInputTokens, outputTokens: u.outputTokens } : undefined;
}

const only = process.env.E2E_AGENTS?.split(',').filter(Boolean);
const AGENTS: readonly AgentName[] = only ? AGENT_NAMES.filter((a) => only.includes(a)) : AGENT_NAMES;

/** What the suite learnt, printed at the end (which CLI took `--`, held-until times, leftovers). */
const notes: string[] = [];
const timings: string[] = [];
let worldCounter = 0;

function execFileAsync(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, encoding: 'utf8', timeout: 30_000 }, (e, stdout, stderr) => resolve({ code: e ? 1 : 0, out: `${stdout}${stderr}` }));
  });
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Live (not zombie) processes of a process group, as "pid command". */
function liveGroupMembers(pgid: number): string[] {
  const out: string[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const [state, , pgrp] = stat.slice(close + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z') out.push(`${name} ${stat.slice(stat.indexOf('(') + 1, close)}`);
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Pids of processes whose environment holds this exact HOME: only agents this test started. */
function processesWithHome(home: string): number[] {
  const needle = Buffer.from(`\0HOME=${home}\0`);
  const found: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const env = Buffer.concat([Buffer.from('\0'), fs.readFileSync(`/proc/${name}/environ`)]);
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      if (env.includes(needle) && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z') found.push(Number(name));
    } catch {
      /* gone, or not ours */
    }
  }
  return found;
}

function findFile(dir: string, test: (name: string) => boolean): string | undefined {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return undefined;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      const f = findFile(p, test);
      if (f) return f;
    } else if (test(e.name)) return p;
  }
  return undefined;
}

/** Every user text part of a request, one string per part (for byte-exact comparisons). */
function userTextParts(r: RecordedRequest): string[] {
  const out: string[] = [];
  const push = (content: unknown): void => {
    if (typeof content === 'string') out.push(content);
    else if (Array.isArray(content)) {
      for (const p of content) {
        if (p && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'string' && ['text', 'input_text'].includes((p as { type?: string }).type ?? '')) {
          out.push((p as { text: string }).text);
        }
      }
    }
  };
  const body = r.body as { input?: unknown; messages?: unknown } | undefined;
  const items = r.api === 'responses' ? body?.input : body?.messages;
  if (Array.isArray(items)) {
    for (const m of items) if (m && typeof m === 'object' && (m as { role?: string }).role === 'user') push((m as { content?: unknown }).content);
  }
  return out;
}

/**
 * One isolated world per test: a model server, a private agent environment, a state dir, a private
 * tmux socket, a TaskService and an in-process Monitor. `dispose` removes all of it.
 */
class World {
  readonly root: string;
  readonly project: string;
  readonly socket: string;
  readonly session: string;
  readonly log: string[] = [];
  readonly changes: StateChange[] = [];
  readonly errors: unknown[] = [];
  server!: ModelServer;
  setup!: AgentSetup;
  service!: TaskService;
  monitor: Monitor | undefined;
  leftovers: string[] = [];

  constructor(readonly agent: AgentName, readonly bin: string) {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), `ra-e2e-${agent}-`));
    this.project = path.join(this.root, 'project');
    fs.mkdirSync(this.project);
    this.socket = `ra-e2e-${process.pid}-${++worldCounter}`;
    this.session = `${agent}-t`;
  }

  async init(rules: Rule[], opts: AgentEnvOptions = {}, settings: Record<string, unknown> = {}): Promise<this> {
    this.server = await ModelServer.start();
    this.server.script(rules);
    this.setup = agentEnv(this.agent, path.join(this.root, 'agent'), this.server.port, {
      ...opts,
      extraPath: [this.bin, path.dirname(process.execPath)],
    });
    const values: Record<string, unknown> = {
      'tmux.socket': this.socket,
      'monitor.intervalSeconds': 1,
      'supervisor.mode': 'window',
      [`agents.${this.agent}.executable`]: path.join(this.bin, this.agent),
      [`agents.${this.agent}.extraArgs`]: this.setup.modelArgs,
      ...settings,
    };
    const sink = (level: string) => (m: string): void => {
      this.log.push(`${new Date().toISOString()} ${level} ${m}`);
    };
    this.service = new TaskService({
      home: path.join(this.root, 'state'),
      settings: resolveSettings((k) => values[k]),
      env: this.setup.env,
      logger: { debug: sink('debug'), info: sink('info'), warn: sink('warn'), error: sink('error') },
      owner: 'e2e test',
      // As the CLI and the extension do: each pane shows its agent's transcript.
      launcher: { node: process.execPath, cli: CLI },
    });
    return this;
  }

  /** Starts the task the way a user does, then the supervisor. */
  async start(prompt: string): Promise<TaskRecord> {
    const r = await this.service.start({ agent: this.agent, name: 't', dir: this.project, prompt });
    this.monitor = new Monitor(this.service, {
      intervalMs: this.service.settings.intervalMs,
      eventDriven: true,
      probeMs: 100,
      onChange: (c) => {
        this.changes.push(c);
      },
      onError: (e) => {
        this.errors.push(e);
        this.log.push(`monitor error: ${(e as Error).stack ?? e}`);
      },
    });
    this.monitor.start();
    return r;
  }

  record(): TaskRecord | undefined {
    return this.service ? this.service.store.get(this.session) : undefined;
  }

  until(check: (r: TaskRecord) => boolean, what: string, timeoutMs = WAIT_MS): Promise<TaskRecord> {
    return waitFor(() => {
      const r = this.record();
      return r && check(r) ? r : undefined;
    }, `${what} (${this.session})`, timeoutMs);
  }

  attemptDir(n: number): string {
    return this.service.store.paths.attemptDir(this.session, n);
  }

  argv(n: number): string[] {
    return fs.readFileSync(path.join(this.attemptDir(n), 'argv'), 'utf8').split('\0').slice(0, -1);
  }

  events(n: number): string[] {
    const f = path.join(this.attemptDir(n), 'events.jsonl');
    return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n') : [];
  }

  runnerPid(n: number): number | undefined {
    try {
      return Number.parseInt(fs.readFileSync(path.join(this.attemptDir(n), 'pid'), 'utf8'), 10) || undefined;
    } catch {
      return undefined;
    }
  }

  /** kill -9 of the attempt's whole process group (the runner leads it), as the OOM killer would. */
  async crash(n: number): Promise<void> {
    const pid = await waitFor(() => this.runnerPid(n), `runner pid of attempt ${n}`);
    process.kill(-pid, 'SIGKILL');
  }

  tmux(args: string[]): Promise<{ code: number; out: string }> {
    const env = { ...process.env };
    delete env.TMUX;
    delete env.TMUX_PANE;
    return execFileAsync('tmux', ['-L', this.socket, ...args], env);
  }

  /** The agent's session is on disk (what its own resume needs), so killing it now tests resume, not restart. */
  async sessionSaved(): Promise<void> {
    const id = (await this.until((r) => r.agentSessionId !== null, 'the session id known')).agentSessionId!;
    const r = this.record()!;
    switch (this.agent) {
      case 'claude':
        // Where this suite's own setup has Claude Code keep sessions (CLAUDE_CONFIG_DIR/projects).
        await waitFor(() => fs.existsSync(path.join(this.setup.sessionsDir, r.dir.replace(/[^a-zA-Z0-9]/g, '-'), `${id}.jsonl`)), 'the claude transcript');
        return;
      case 'pi':
        await waitFor(() => fs.existsSync(r.agentData.sessionFile), 'the pi session file');
        return;
      case 'codex':
        await waitFor(() => findFile(this.setup.sessionsDir, (n) => n.endsWith(`${id}.jsonl`)), 'the codex rollout file');
        return;
      case 'opencode':
        return; // its sqlite db holds the session once the id is printed (checked in smoke.ts)
    }
  }

  /** The id the agent itself reported in one attempt's events. */
  idInEvents(n: number): string | undefined {
    return adapterFor(this.agent).sessionIdFromEvents(this.events(n).slice(0, 200));
  }

  turns(): RecordedRequest[] {
    return this.server.requests.filter((r) => r.kind === 'turn');
  }

  async diagnostics(): Promise<string> {
    const r = this.record();
    const parts = [`---- ${this.session} in ${this.root}`, `record: ${JSON.stringify(r, null, 1)}`];
    parts.push(`requests: ${JSON.stringify(this.server?.requests.map((q) => `${q.seq} ${q.kind}:${q.answeredWith} ${q.status} ${JSON.stringify(q.lastUserText.slice(0, 80))}`), null, 1)}`);
    for (let n = 1; r && n <= r.attempts.length; n++) {
      parts.push(`attempt ${n} argv: ${JSON.stringify(fs.existsSync(path.join(this.attemptDir(n), 'argv')) ? this.argv(n) : null)}`);
      parts.push(`attempt ${n} events (last 15):\n${this.events(n).slice(-15).map((l) => l.slice(0, 400)).join('\n')}`);
    }
    const pane = await this.tmux(['capture-pane', '-p', '-t', `=${this.session}:`, '-S', '-40']);
    parts.push(`pane:\n${pane.out}`, `log:\n${this.log.slice(-40).join('\n')}`);
    return parts.join('\n');
  }

  /**
   * Keeps each attempt's JSON events as `<dir>/<agent>-<test>-<attempt>.jsonl` (E2E_RECORD=dir): how
   * the event streams the transcript tests render (test/fixtures/events/) were recorded.
   */
  saveEvents(dir: string, title: string): void {
    fs.mkdirSync(dir, { recursive: true });
    const slug = title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40);
    for (let n = 1; n <= (this.record()?.attempts.length ?? 0); n++) {
      const f = path.join(this.attemptDir(n), 'events.jsonl');
      if (fs.existsSync(f)) fs.copyFileSync(f, path.join(dir, `${this.agent}-${slug}-${n}.jsonl`));
    }
  }

  /** Everything goes, whatever the test did: supervisor, agents, tmux server, model server, files. */
  async dispose(keep: boolean): Promise<void> {
    this.monitor?.stop();
    const r = this.record();
    for (let n = 1; r && n <= r.attempts.length; n++) {
      const pid = this.runnerPid(n);
      if (pid && groupAlive(pid)) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          /* gone meanwhile */
        }
      }
    }
    await this.tmux(['kill-server']);
    // tmux leaves its socket file behind.
    const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
    fs.rmSync(path.join(process.env.TMUX_TMPDIR || '/tmp', `tmux-${uid}`, this.socket), { force: true });
    if (this.setup) {
      // Whatever is still exiting (the tmux server, reaped children) gets a moment; what stays is a leak.
      const home = this.setup.home;
      const stray = await waitFor(() => processesWithHome(home).length === 0, 'the test\'s processes to end', 3000).then(
        () => [] as number[],
        () => processesWithHome(home),
      );
      this.leftovers = stray.map((pid) => {
        try {
          const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
          const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim().slice(0, 160);
          return `${pid} (${stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))}, state ${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]}) ${args}`;
        } catch {
          return String(pid);
        }
      });
      for (const pid of stray) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    await this.server?.close();
    if (!keep) fs.rmSync(this.root, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  }
}

describe('end to end with the real agent CLIs', function () {
  this.timeout(150_000);
  this.slow(30_000);
  let bin = '';
  let world: World | undefined;

  before(async function () {
    this.timeout(1_200_000);
    bin = await ensureAgents();
  });

  const make = async (agent: AgentName, rules: Rule[], opts?: AgentEnvOptions, settings?: Record<string, unknown>): Promise<World> => {
    world = new World(agent, bin);
    return world.init(rules, opts, settings);
  };

  afterEach(async function () {
    const w = world;
    world = undefined;
    const t = this.currentTest!;
    timings.push(`${((t.duration ?? 0) / 1000).toFixed(1).padStart(6)} s  ${t.state === 'passed' ? 'pass' : 'FAIL'}  ${t.fullTitle()}`);
    if (!w) return;
    const failed = t.state !== 'passed';
    if (failed) console.log(await w.diagnostics().catch((e: Error) => `diagnostics failed: ${e.message}`));
    if (process.env.E2E_RECORD) w.saveEvents(process.env.E2E_RECORD, t.title);
    await w.dispose(failed && process.env.E2E_KEEP === '1');
    if (w.leftovers.length) notes.push(`${t.fullTitle()}: still alive after the runner groups and the tmux server were killed: ${w.leftovers.join('; ')}`);
  });

  after(() => {
    console.log(`\n  versions: ${AGENT_PACKAGES.join(' ')}`);
    console.log(`\n  timings:\n${timings.map((l) => `    ${l}`).join('\n')}`);
    if (notes.length) console.log(`\n  notes:\n${notes.map((n) => `    - ${n}`).join('\n')}`);
  });

  for (const agent of AGENTS) {
    describe(agent, () => {
      it('one shell tool call -> done, and the file exists', async () => {
        const w = await make(agent, [{ behaviour: { kind: 'toolCall', command: 'echo hi > out.txt', then: 'Created out.txt.' } }]);
        await w.start('Create out.txt containing hi.');
        const r = await w.until((x) => x.state !== 'running', 'the task to end');
        assert.equal(r.state, 'done', `state ${r.state}: ${r.stateReason}`);
        assert.equal(fs.readFileSync(path.join(w.project, 'out.txt'), 'utf8').trim(), 'hi');
        assert.equal(r.attempts.length, 1);
        assert.equal(r.attempts[0].exitCode, 0);
        assert.ok(r.agentSessionId, 'the session id was captured');
        assert.ok(w.server.requests.some((q) => q.kind === 'toolResult'), 'the tool result went back to the model');
        // The agent's last word and its tokens, from its own events: every request it made counted once.
        assert.equal(r.attempts[0].lastMessage, 'Created out.txt.');
        const calls = w.server.requests.filter((q) => q.kind === 'turn' || q.kind === 'toolResult').length;
        assert.deepEqual(tokens(r.attempts[0].usage), { inputTokens: PER_REQUEST.input * calls, cachedInputTokens: PER_REQUEST.cached * calls, outputTokens: PER_REQUEST.output * calls });
        notes.push(`${agent}: one tool call, ${calls} model requests -> usage ${JSON.stringify(r.attempts[0].usage)}`);
      });

      it('killed with -9 mid-reply -> resumed by its own command with the exact session id -> done', async () => {
        const w = await make(agent, crashRules(agent));
        await w.start(ORIGINAL);
        await w.server.waitForStreamStart(WAIT_MS);
        await w.sessionSaved();
        const before = w.record()!;
        await w.crash(1);
        const r = await w.until((x) => afterSecond(x, 'failed'), 'done after the resume');
        assertResumed(w, before, r, 'crash');
        // The resumed attempt's own tokens (the continue prompt and the tool result: two requests),
        // not the session's (codex counts its whole thread), and its last word.
        assert.equal(r.attempts[1].lastMessage, 'Finished the task.');
        assert.deepEqual(tokens(r.attempts[1].usage), { inputTokens: PER_REQUEST.input * 2, cachedInputTokens: PER_REQUEST.cached * 2, outputTokens: PER_REQUEST.output * 2 });
        const view = w.service.view(r);
        assert.deepEqual(tokens(view.usage ?? undefined), tokens(sumUsage(r.attempts.map((a) => a.usage))), 'the task\'s use is its attempts\' sum');
      });

      it('a follow-up on a done task: the same session, and the model gets the first conversation and the new prompt', async () => {
        const FOLLOW_UP = 'Now also write b.txt containing two (follow-up 5120).';
        const w = await make(agent, [
          { match: match.lastUser(FOLLOW_UP), behaviour: { kind: 'toolCall', command: 'echo two > b.txt', then: 'Wrote b.txt.' } },
          { behaviour: { kind: 'toolCall', command: 'echo one > a.txt', then: 'Wrote a.txt.' } },
        ]);
        await w.start('Write a.txt containing one (task 5119).');
        const first = await w.until((x) => x.state !== 'running', 'the first prompt done');
        assert.equal(first.state, 'done', `state ${first.state}: ${first.stateReason}`);
        await w.service.followUp(w.session, FOLLOW_UP);
        const r = await w.until((x) => x.attempts.length === 2 && x.state !== 'running', 'the follow-up done');
        assert.equal(r.state, 'done', `state ${r.state}: ${r.stateReason}`);
        assert.deepEqual([r.attempts[1].cause, r.attempts[1].mode], ['follow-up', 'resume']);
        assert.equal(r.agentSessionId, first.agentSessionId, 'the same session id');
        assert.equal(w.idInEvents(2), r.agentSessionId, 'the follow-up run reports the same session id');
        const turn = w.turns().find((t) => t.lastUserText.includes(FOLLOW_UP));
        assert.ok(turn, 'the follow-up reached the model');
        assert.ok(turn.allUserText.includes('task 5119'), 'with the first conversation in the same request');
        assert.equal(fs.readFileSync(path.join(w.project, 'b.txt'), 'utf8').trim(), 'two');
      });

      it('tmux server killed mid-task -> the session is re-created and the agent resumed by id -> done', async () => {
        const w = await make(agent, crashRules(agent));
        await w.start(ORIGINAL);
        await w.server.waitForStreamStart(WAIT_MS);
        await w.sessionSaved();
        const before = w.record()!;
        const firstRunner = w.runnerPid(1)!;
        const killed = await w.tmux(['kill-server']);
        assert.equal(killed.code, 0, killed.out);
        const r = await w.until((x) => afterSecond(x, 'lost'), 'done after the resume');
        assertResumed(w, before, r, 'lost');
        // Zombies are already dead (reaped a moment later): only running processes count.
        const survivors = await waitFor(() => liveGroupMembers(firstRunner).length === 0, 'the first run\'s processes to end', 10_000)
          .then(() => [] as string[], () => liveGroupMembers(firstRunner));
        assert.deepEqual(survivors, [], 'no process of the first run outlived the tmux server');
      });

      it('401 from the model -> held (never resumed), the reason says authentication', async () => {
        const w = await make(agent, [{ match: (q) => q.api !== null, behaviour: { kind: 'authError' }, times: Infinity }], { maxRetries: 0 });
        await w.start('Say hello.');
        const r = await w.until((x) => x.state !== 'running', 'the task to end');
        assert.equal(r.state, 'held', `state ${r.state}: ${r.stateReason}`);
        assert.match(r.stateReason ?? '', /authentication/i);
        assert.equal(r.heldUntil, null, 'held until a person acts');
        await w.monitor!.pass('check');
        await w.monitor!.pass('check again');
        assert.equal(w.record()!.attempts.length, 1, 'not resumed');
      });

      it('usage limit -> held, until its reset time when the agent reports one', async () => {
        // opencode and pi wait retry-after before each of their own retries: keep it short there.
        const chat = agent === 'opencode' || agent === 'pi';
        const w = await make(
          agent,
          [{ match: (q) => q.api !== null, behaviour: { kind: 'usageLimit', resetsInSeconds: 7200, retryAfterSeconds: chat ? 1 : 7200 }, times: Infinity }],
          // claude as a claude.ai subscriber (OAuth) gets the unified rate-limit headers and reports resetsAt; pi retries once.
          agent === 'claude' ? { claudeAuth: 'oauth' } : agent === 'pi' ? { maxRetries: 1 } : {},
        );
        await w.start('Say hello.');
        const held = await waitFor(() => w.changes.find((c) => c.to === 'held' || c.to === 'done' || c.to === 'failed' || c.to === 'gave-up'), 'the task to end', WAIT_MS);
        w.monitor!.stop(); // a short hold (opencode: retry-after) would otherwise end and resume
        const r = held.record;
        assert.equal(r.state, 'held', `state ${r.state}: ${r.stateReason}`);
        assert.match(r.stateReason ?? '', /usage limit/i);
        assert.equal(r.attempts.length, 1);
        const limited = w.server.requests.find((q) => q.status === 429)!;
        const resetsAt = Math.floor(limited.receivedAt / 1000) + 7200;
        notes.push(`${agent} usage limit: heldUntil ${r.heldUntil ?? 'null'}; reason "${r.stateReason}"`);
        if (agent === 'claude') {
          // rate_limit_event.resetsAt, epoch seconds.
          assert.ok(r.heldUntil, 'held until resetsAt');
          assert.ok(Math.abs(Date.parse(r.heldUntil) / 1000 - resetsAt) <= 2, `heldUntil ${r.heldUntil}, resets at ${new Date(resetsAt * 1000).toISOString()}`);
        }
        if (agent === 'codex') {
          // "try again at 11:31 PM": a wall-clock time to the minute.
          assert.ok(r.heldUntil, 'held until the time codex printed');
          assert.ok(Math.abs(Date.parse(r.heldUntil) / 1000 - resetsAt) <= 120, `heldUntil ${r.heldUntil}, resets at ${new Date(resetsAt * 1000).toISOString()}`);
        }
      });

      if (agent === 'claude') {
        it('usage limit with an API key (no reset time reported) -> held, the next try on the schedule (30 min)', async () => {
          const w = await make(agent, [{ match: (q) => q.api !== null, behaviour: { kind: 'usageLimit', resetsInSeconds: 7200 }, times: Infinity }]);
          await w.start('Say hello.');
          const r = await w.until((x) => x.state !== 'running', 'the task to end');
          assert.equal(r.state, 'held', `state ${r.state}: ${r.stateReason}`);
          assert.match(r.stateReason ?? '', /usage limit.*no reset time given, so it is tried again on a schedule \(try 1\)/i);
          const ended = Date.parse(r.attempts[0].endedAt!);
          assert.ok(r.heldUntil && Math.abs(Date.parse(r.heldUntil) - (ended + 30 * 60_000)) < 5_000, `heldUntil ${r.heldUntil}, ended ${r.attempts[0].endedAt}`);
        });
      }

      if (agent !== 'opencode') {
        // opencode prints nothing while it retries (see its adapter): nothing to show.
        it('its own retries of failed requests -> running with "retrying (n/max)", then done in one attempt', async () => {
          const failures = { codex: 12, claude: 4, pi: 4, opencode: 0 }[agent];
          const w = await make(agent, [{ match: (q) => q.api !== null && q.kind !== 'title', behaviour: { kind: 'httpError', status: 500, body: { type: 'error', error: { type: 'api_error', message: 'boom' } } }, times: failures }]);
          await w.start('Say hello.');
          const max = { codex: 5, claude: 10, pi: 3, opencode: 0 }[agent];
          const retrying = await w.until((x) => x.state === 'running' && new RegExp(`^retrying \\(\\d+/${max}\\)$`).test(x.stateReason ?? ''), 'retrying shown');
          notes.push(`${agent} retrying: "${retrying.stateReason}"`);
          const r = await w.until((x) => x.state !== 'running', 'the task to end');
          assert.equal(r.state, 'done', `state ${r.state}: ${r.stateReason}`);
          assert.equal(r.stateReason, null);
          assert.equal(r.attempts.length, 1, 'its own retries, not ours');
        });
      }

      if (agent === 'claude') {
        it('claude waiting out a usage limit by itself (CLAUDE_CODE_RETRY_WATCHDOG) -> held by the agent until the reset, no second continue, done by itself', async () => {
          const w = await make(agent, [{ behaviour: { kind: 'usageLimit', resetsInSeconds: 8 } }], { claudeAuth: 'oauth', claudeWaitsOutLimits: true });
          await w.start('Say hello.');
          const held = await w.until((x) => x.state === 'held', 'held by the agent');
          const limited = w.server.requests.find((q) => q.status === 429)!;
          assert.ok(heldByAgent(held), `held by the agent: ${held.stateReason}`);
          assert.ok(held.heldUntil && Math.abs(Date.parse(held.heldUntil) / 1000 - (Math.floor(limited.receivedAt / 1000) + 8)) <= 2, `heldUntil ${held.heldUntil}`);
          await assert.rejects(w.service.resume(w.session), /goes on by itself/);
          const r = await w.until((x) => x.state === 'done' || x.attempts.length > 1, 'done by itself');
          assert.equal(r.state, 'done', `state ${r.state}: ${r.stateReason}`);
          assert.equal(r.attempts.length, 1, 'never resumed on top of the agent');
          assert.ok(!w.turns().some((t) => t.lastUserText.includes(CONTINUE)), 'no continue prompt was sent');
          // Held while it waited, then on by itself (running again, or done between two passes).
          assert.deepEqual(w.changes.map((c) => c.to).filter((s, i, all) => s !== all[i - 1]).slice(0, 1), ['held'], JSON.stringify(w.changes.map((c) => `${c.from}->${c.to}`)));
          notes.push(`claude waiting out a limit: "${held.stateReason}" until ${held.heldUntil}; ${w.server.requests.filter((q) => q.api).length} requests`);
        });

        it('claude killed while it waited out a usage limit -> held until the reset, then resumed by its exact id -> done', async () => {
          const w = await make(agent, [{ behaviour: { kind: 'usageLimit', resetsInSeconds: 8 } }], { claudeAuth: 'oauth', claudeWaitsOutLimits: true });
          await w.start('Say hello.');
          const held = await w.until((x) => heldByAgent(x), 'held by the agent');
          await w.sessionSaved();
          await w.crash(1);
          const ours = await w.until((x) => x.state === 'held' && x.attempts[0].endedAt !== null, 'held by the supervisor');
          assert.equal(ours.heldUntil, held.heldUntil);
          assert.equal(ours.attempts.length, 1, 'not resumed before the reset');
          const r = await w.until((x) => x.attempts.length === 2 && !['running', 'resuming', 'failed'].includes(x.state), 'done after the resume');
          assert.equal(r.state, 'done', `state ${r.state}: ${r.stateReason}`);
          assert.deepEqual([r.attempts[1].cause, r.attempts[1].mode], ['crash', 'resume']);
          assert.ok(Date.parse(r.attempts[1].startedAt) >= Date.parse(held.heldUntil!), 'resumed at the reset');
          assert.ok(w.argv(2).includes(r.agentSessionId!), w.argv(2).join(' '));
          assert.equal(w.idInEvents(2), r.agentSessionId, 'the same session');
        });
      }

      if (agent !== 'opencode') {
        // opencode backs off 75 s by itself before it reports a 429 with no retry-after (its adapter).
        it('a usage limit with no reset time -> held, tried again on schedule, then done', async () => {
          const limit: Rule = agent === 'codex'
            ? { behaviour: { kind: 'httpError', status: 429, body: { error: { type: 'rate_limit_exceeded', message: 'Rate limit reached' } } } }
            : { behaviour: { kind: 'usageLimit', resetsInSeconds: 7200, retryAfterSeconds: null } };
          const w = await make(agent, [{ ...limit, match: (q) => q.api !== null && q.kind === 'turn' && q.turnIndex === 0 }], { maxRetries: 0 }, { 'monitor.usageLimitRetryMinutes': 0.05 });
          await w.start('Say hello.');
          const held = await w.until((x) => x.state !== 'running', 'held');
          assert.equal(held.state, 'held', `state ${held.state}: ${held.stateReason}`);
          assert.match(held.stateReason ?? '', /no reset time given, so it is tried again on a schedule \(try 1\)/);
          const r = await w.until((x) => x.attempts.length === 2 && !['running', 'resuming', 'failed'].includes(x.state), 'done after the scheduled try');
          assert.equal(r.state, 'done', `state ${r.state}: ${r.stateReason}`);
          assert.ok(Date.parse(r.attempts[1].startedAt) >= Date.parse(held.heldUntil!), 'tried at the time it said');
          notes.push(`${agent} limit with no reset time: "${held.stateReason}"; the try: ${r.attempts[1].mode}${r.attempts[1].note ? ` (${r.attempts[1].note})` : ''}`);
        });
      }

      it('a prompt full of shell syntax and starting with "-" reaches the model byte for byte', async () => {
        const w = await make(agent, [], {}, { 'monitor.maxAttempts': 1 });
        await w.start(NASTY_PROMPT);
        const r = await w.until((x) => ['done', 'held', 'gave-up'].includes(x.state), 'the task to end');
        const argv = w.argv(1);
        const sep = argv.indexOf('--');
        const turn = w.turns()[0];
        const exact = turn ? userTextParts(turn).includes(NASTY_PROMPT) : false;
        notes.push(
          `${agent}: argv ${sep >= 0 && argv[sep + 1] === NASTY_PROMPT ? 'has "--" before the prompt' : `has no "--" (prompt given as ${JSON.stringify(argv[argv.length - 1].slice(0, 60))})`}; ` +
            `run ${r.state}${r.stateReason ? ` (${r.stateReason})` : ''}; prompt reached the model ${exact ? 'byte-exact' : turn ? `altered: ${JSON.stringify(turn.lastUserText.slice(0, 200))}` : 'never'}`,
        );
        assert.equal(fs.existsSync(path.join(w.project, 'pwned1')) || fs.existsSync(path.join(w.project, 'pwned2')), false, 'no shell ran the prompt');
        assert.equal(r.state, 'done', `state ${r.state}: ${r.stateReason}`);
        assert.ok(turn, 'the model was asked');
        assert.ok(exact, `the prompt arrived altered: ${JSON.stringify(userTextParts(turn))}`);
        // Not in the argv, where every local user can read it (ps). pi trims a prompt it reads from
        // stdin, so it gets one there only when the argv would misread it (a leading "-" or "@").
        assert.ok(!w.argv(1).some((a) => a.includes('touch pwned1')), 'the prompt is not in the argv');
      });

      if (agent === 'pi') {
        it('pi killed during its first reply (nothing on disk) -> started again from its prompt, and says why', async () => {
          const w = await make(agent, [{ behaviour: { kind: 'streamForever', intervalMs: 200 } }, { behaviour: { kind: 'text', text: 'Done.' } }]);
          await w.start(ORIGINAL);
          await w.server.waitForStreamStart(WAIT_MS);
          const first = await w.until((x) => x.agentSessionId !== null, 'pi printed its session id');
          assert.equal(fs.existsSync(first.agentData.sessionFile), false, 'pi has written nothing yet');
          await w.crash(1);
          const r = await w.until((x) => afterSecond(x, 'failed'), 'done after the restart');
          assert.equal(r.state, 'done', `state ${r.state}: ${r.stateReason}`);
          assert.equal(r.attempts.length, 2);
          assert.deepEqual([r.attempts[1].cause, r.attempts[1].mode], ['restart', 'start']);
          assert.match(r.attempts[1].note ?? '', /started again from its prompt: pi had not saved its session/);
          const turns = w.turns();
          assert.equal(turns.length, 2);
          assert.deepEqual(userTextParts(turns[1]), [ORIGINAL], 'the second run was asked the original prompt, alone');
          assert.ok(fs.existsSync(r.agentData.sessionFile), 'the second run saved its session');
          const newId = w.idInEvents(2);
          assert.ok(newId && newId !== first.agentSessionId, 'the restart is a new pi session');
          assert.equal(r.agentSessionId, newId, 'the record names the session that exists, not the one never saved');
        });

        it('pi: a prompt starting with "@" reaches the model as text (not read as a file)', async () => {
          const prompt = '@docs please summarise the README';
          const w = await make(agent, [], {}, { 'monitor.maxAttempts': 1 });
          await w.start(prompt);
          const r = await w.until((x) => ['done', 'held', 'gave-up'].includes(x.state), 'the task to end');
          assert.equal(r.state, 'done', `state ${r.state}: ${r.stateReason}`);
          assert.deepEqual(w.turns().map((t) => userTextParts(t).includes(prompt)), [true]);
        });
      }
    });
  }
});

/**
 * The first reply streams forever (pi: after a first tool call, since pi saves nothing before a
 * first assistant message ends); the continue prompt gets a tool call that proves the resumed run
 * works, then a final text.
 */
function crashRules(agent: AgentName): Rule[] {
  const forever = { kind: 'streamForever' as const, intervalMs: 200 };
  const resumed: Rule = { match: match.lastUser(CONTINUE), behaviour: { kind: 'toolCall', command: 'echo resumed > resumed.txt', then: 'Finished the task.' } };
  if (agent === 'pi') {
    return [
      resumed,
      { match: match.lastUser('task 7431'), behaviour: { kind: 'toolCall', command: 'echo step1 > step1.txt', then: 'unused' } },
      { match: (r) => r.kind === 'toolResult' && !r.allUserText.includes(CONTINUE), behaviour: forever },
    ];
  }
  return [resumed, { match: match.lastUser('task 7431'), behaviour: forever }];
}

/** The second attempt has ended one way or another (or a third began: it failed). */
function afterSecond(x: TaskRecord, failedState: 'failed' | 'lost'): boolean {
  if (x.attempts.length > 2) return true;
  return x.attempts.length === 2 && !['resuming', 'running', failedState].includes(x.state);
}

function assertResumed(w: World, before: TaskRecord, r: TaskRecord, cause: 'crash' | 'lost'): void {
  assert.equal(r.state, 'done', `state ${r.state}: ${r.stateReason}`);
  assert.equal(r.attempts.length, 2);
  assert.deepEqual([r.attempts[1].cause, r.attempts[1].mode], [cause, 'resume']);
  assert.equal(r.agentSessionId, before.agentSessionId, 'the same session id');
  const argv = w.argv(2);
  const handle = w.agent === 'pi' ? r.agentData.sessionFile : r.agentSessionId!;
  assert.ok(argv.includes(handle), `the resume names the exact session: ${argv.join(' ')}`);
  // The continue prompt is the last argument, or the run's stdin for an agent that takes it there.
  const stdin = path.join(w.service.store.paths.attemptDir(r.session, 2), 'stdin');
  if (fs.existsSync(stdin)) assert.equal(fs.readFileSync(stdin, 'utf8'), CONTINUE);
  else assert.equal(argv[argv.length - 1], CONTINUE);
  assert.equal(w.idInEvents(2), r.agentSessionId, 'the resumed run reports the same session id');
  const resumedTurn = w.turns().find((t) => t.lastUserText.includes(CONTINUE));
  assert.ok(resumedTurn, 'the resumed run asked the model');
  assert.ok(resumedTurn.allUserText.includes(ORIGINAL), 'the resumed request holds the original prompt');
  assert.equal(fs.readFileSync(path.join(w.project, 'resumed.txt'), 'utf8').trim(), 'resumed');
}
