/**
 * Standalone smoke run (not mocha) of the four real agent CLIs against the
 * scripted model server, offline.
 *
 *   npx tsc -p . && node out/test/e2e/smoke.js [codex|claude|opencode|pi ...] [--only a,b,c,d,e]
 *
 * Env: AGENTS_PREFIX  npm prefix holding the CLIs (default: the pinned CLIs that install.ts puts in
 *                     its cache; run `node out/test/e2e/install.js` first)
 *      SMOKE_OUT      folder for full logs (default a fresh temp folder)
 *
 * Scenarios per agent:
 *  a  one shell tool call `echo hi > out.txt` → exit 0, out.txt exists
 *  b  reply streams forever → capture the session id → kill -9 the process group
 *     → native resume with the exact id → exit 0, same id, resumed request holds
 *     the original prompt (pi: the first reply is a tool call, the kill comes in
 *     the second reply: pi writes nothing before a first assistant message ends)
 *  c  401 → exit code and output recorded
 *  d  usage limit (429) → exit code and output recorded
 *  e  pi only: killed during its FIRST reply → no session file
 */
import { ChildProcess, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { AgentEnvOptions, AgentName, AGENT_NAMES, agentEnv, AgentSetup } from './agentEnv';
import { match, ModelServer, Rule } from './modelServer';
import { parseJsonLines as parseEventLines } from '../../src/core/agents/types';
import { agentsBinDir, installDir } from './install';

const PREFIX = process.env.AGENTS_PREFIX ?? installDir();
const BIN = process.env.AGENTS_PREFIX ? path.join(PREFIX, 'node_modules', '.bin') : agentsBinDir();
const ORIGINAL_PROMPT = 'Write a long essay about tmux (task 7431).';
const CONTINUE_PROMPT = 'Continue the previous task from where it stopped.';

// ------------------------------------------------------------------ processes

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** A running agent: own process group (detached), stdin /dev/null, output captured. */
class Agent {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly started = Date.now();
  readonly done: Promise<RunResult>;
  private listeners: Array<() => void> = [];

  constructor(readonly argv: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number) {
    this.child = spawn(argv[0], argv.slice(1), { cwd, env: { ...env, PWD: cwd }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.child.stdout!.on('data', (d: Buffer) => {
      this.stdout += d.toString('utf8');
      this.fire();
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString('utf8');
      this.fire();
    });
    const timer = setTimeout(() => this.killGroup(), timeoutMs);
    this.done = new Promise<RunResult>((resolve) => {
      this.child.on('close', (code, signal) => {
        clearTimeout(timer);
        this.fire();
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr, ms: Date.now() - this.started });
      });
    });
  }

  get pgid(): number {
    return this.child.pid!;
  }

  /** kill -9 the whole process group. */
  killGroup(): void {
    try {
      process.kill(-this.pgid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }

  /** True while any process of the group is alive. */
  groupAlive(): boolean {
    try {
      process.kill(-this.pgid, 0);
      return true;
    } catch {
      return false;
    }
  }

  jsonLines(): any[] {
    return parseJsonLines(this.stdout);
  }

  /** Resolve with the first truthy value of check(), re-evaluated on output. */
  waitOutput<T>(check: () => T | undefined | null | false, timeoutMs: number): Promise<T | undefined> {
    return new Promise((resolve) => {
      const evaluate = (): boolean => {
        const v = check();
        if (v) {
          finish(v);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => finish(undefined), timeoutMs);
      const listener = (): void => {
        evaluate();
      };
      const finish = (v: T | undefined): void => {
        clearTimeout(timer);
        this.listeners = this.listeners.filter((l) => l !== listener);
        resolve(v);
      };
      if (!evaluate()) this.listeners.push(listener);
    });
  }

  private fire(): void {
    for (const l of [...this.listeners]) l();
  }
}

function parseJsonLines(text: string): any[] {
  return parseEventLines(text.split('\n')) as any[];
}

async function run(argv: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs = 240_000): Promise<RunResult> {
  const a = new Agent(argv, cwd, env, timeoutMs);
  const r = await a.done;
  a.killGroup(); // leftovers (e.g. opencode's children) must not outlive the run
  return r;
}

// ------------------------------------------------------------------ drivers

interface Ctx {
  root: string;
  dir: string;
  setup: AgentSetup;
  /** pi: session file chosen up front. claude: session id chosen up front. */
  preset?: string;
}

interface Driver {
  name: AgentName;
  /** argv + cwd for a fresh turn. */
  start(ctx: Ctx, prompt: string): { argv: string[]; cwd: string };
  /** argv + cwd for the native resume of `id`. */
  resume(ctx: Ctx, id: string, prompt: string): { argv: string[]; cwd: string };
  /** The session id as printed in the JSON output, if any. */
  idFromOutput(ctx: Ctx, events: any[]): string | undefined;
  /** Another way to the id when the output has none yet. */
  idFallback?(ctx: Ctx): Promise<string | undefined>;
}

const bin = (n: string): string => path.join(BIN, n);

const drivers: Record<AgentName, Driver> = {
  codex: {
    name: 'codex',
    start: (ctx, prompt) => ({
      argv: [bin('codex'), 'exec', '--json', '-s', 'workspace-write', '--skip-git-repo-check', '-C', ctx.dir, ...ctx.setup.modelArgs, prompt],
      cwd: ctx.dir,
    }),
    // `exec resume` itself rejects -s/-C: they go on `exec`, before `resume`.
    resume: (ctx, id, prompt) => ({
      argv: [bin('codex'), 'exec', '--json', '-s', 'workspace-write', '--skip-git-repo-check', '-C', ctx.dir, ...ctx.setup.modelArgs, 'resume', id, prompt],
      cwd: ctx.dir,
    }),
    idFromOutput: (_ctx, ev) => ev.find((e) => e.type === 'thread.started')?.thread_id,
  },
  claude: {
    name: 'claude',
    start: (ctx, prompt) => ({
      argv: [bin('claude'), '-p', '--output-format', 'stream-json', '--verbose', '--session-id', ctx.preset!, '--dangerously-skip-permissions', ...ctx.setup.modelArgs, prompt],
      cwd: ctx.dir,
    }),
    resume: (ctx, id, prompt) => ({
      argv: [bin('claude'), '-p', '--resume', id, '--output-format', 'stream-json', '--verbose', '--dangerously-skip-permissions', ...ctx.setup.modelArgs, prompt],
      cwd: ctx.dir,
    }),
    idFromOutput: (_ctx, ev) => ev.find((e) => e.type === 'system' && e.subtype === 'init')?.session_id,
  },
  opencode: {
    name: 'opencode',
    start: (ctx, prompt) => ({ argv: [bin('opencode'), 'run', '--dir', ctx.dir, '--format', 'json', '--auto', ...ctx.setup.modelArgs, prompt], cwd: ctx.dir }),
    resume: (ctx, id, prompt) => ({
      argv: [bin('opencode'), 'run', '--dir', ctx.dir, '--session', id, '--format', 'json', '--auto', ...ctx.setup.modelArgs, prompt],
      cwd: ctx.dir,
    }),
    idFromOutput: (_ctx, ev) => ev.find((e) => typeof e.sessionID === 'string')?.sessionID,
    idFallback: async (ctx) => {
      const r = await run([bin('opencode'), 'session', 'list', '--format', 'json', '-n', '1'], ctx.dir, ctx.setup.env, 60_000);
      try {
        const list = JSON.parse(r.stdout);
        return Array.isArray(list) && list[0] ? String(list[0].id) : undefined;
      } catch {
        return undefined;
      }
    },
  },
  pi: {
    name: 'pi',
    start: (ctx, prompt) => ({ argv: [bin('pi'), '-p', '--mode', 'json', ...ctx.setup.modelArgs, '--session', ctx.preset!, prompt], cwd: ctx.dir }),
    // `--session <id>` only searches the session dir (~/.pi/agent/sessions/--<cwd>--/):
    // a session file chosen up front elsewhere must be resumed by its path
    // (by id: "No session found matching '<id>'", exit 1).
    resume: (ctx, id, prompt) => ({ argv: [bin('pi'), '-p', '--mode', 'json', ...ctx.setup.modelArgs, '--session', ctx.preset ?? id, prompt], cwd: ctx.dir }),
    idFromOutput: (_ctx, ev) => ev.find((e) => e.type === 'session')?.id,
  },
};

// ------------------------------------------------------------------ scenarios

interface Outcome {
  agent: AgentName;
  scenario: string;
  ok: boolean;
  ms: number;
  details: Record<string, unknown>;
}

const outDir = process.env.SMOKE_OUT ?? fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-smoke-'));

function newCtx(agent: AgentName, scenario: string, port: number, opts: AgentEnvOptions = {}): Ctx {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `e2e-${agent}-${scenario}-`));
  const dir = path.join(root, 'work');
  fs.mkdirSync(dir);
  const setup = agentEnv(agent, root, port, opts);
  const preset = agent === 'claude' ? crypto.randomUUID() : agent === 'pi' ? path.join(root, 'pi-sessions', 'task.jsonl') : undefined;
  if (preset && agent === 'pi') fs.mkdirSync(path.dirname(preset), { recursive: true });
  return { root, dir, setup, preset };
}

function log(agent: AgentName, scenario: string, name: string, text: string): void {
  fs.writeFileSync(path.join(outDir, `${agent}-${scenario}-${name}`), text);
}

function dumpRequests(agent: AgentName, scenario: string, s: ModelServer): void {
  log(
    agent,
    scenario,
    'requests.json',
    JSON.stringify(
      s.requests.map((r) => ({ seq: r.seq, method: r.method, url: r.url, kind: r.kind, turnIndex: r.turnIndex, retryOf: r.retryOf, answeredWith: r.answeredWith, status: r.status, lastUserText: r.lastUserText, clientAborted: r.clientAborted, at: r.receivedAt })),
      null,
      1,
    ),
  );
}

/** The last few lines of output, for the report. */
function tail(text: string, n = 4, width = 600): string[] {
  return text
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .slice(-n)
    .map((l) => (l.length > width ? l.slice(0, width) + '…' : l));
}

async function withServer<T>(rules: Rule[], fn: (s: ModelServer) => Promise<T>): Promise<T> {
  const s = await ModelServer.start();
  s.script(rules);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

async function scenarioA(d: Driver): Promise<Outcome> {
  return withServer([{ behaviour: { kind: 'toolCall', command: 'echo hi > out.txt', then: 'Created out.txt.' } }], async (s) => {
    const ctx = newCtx(d.name, 'a', s.port);
    const { argv, cwd } = d.start(ctx, 'Create out.txt containing hi.');
    const r = await run(argv, cwd, ctx.setup.env);
    dumpRequests(d.name, 'a', s);
    log(d.name, 'a', 'stdout', r.stdout);
    log(d.name, 'a', 'stderr', r.stderr);
    const file = path.join(ctx.dir, 'out.txt');
    const exists = fs.existsSync(file);
    return {
      agent: d.name,
      scenario: 'a tool call',
      ok: r.code === 0 && exists && fs.readFileSync(file, 'utf8').trim() === 'hi',
      ms: r.ms,
      details: { exit: r.code, outTxt: exists, argv: argv.slice(1), requests: s.requests.map((q) => `${q.kind}:${q.answeredWith}`) },
    };
  });
}

async function scenarioB(d: Driver): Promise<Outcome> {
  const t0 = Date.now();
  const forever = { kind: 'streamForever' as const, intervalMs: 200 };
  const rules: Rule[] =
    d.name === 'pi'
      ? [
          { match: match.lastUser(CONTINUE_PROMPT), behaviour: { kind: 'toolCall', command: 'echo resumed > resumed.txt', then: 'Finished the task.' } },
          { match: match.lastUser('task 7431'), behaviour: { kind: 'toolCall', command: 'echo step1 > step1.txt', then: 'unused' } },
          // The follow-up to the first tool call streams forever.
          { match: (r) => r.kind === 'toolResult' && !r.allUserText.includes(CONTINUE_PROMPT), behaviour: forever },
        ]
      : [
          { match: match.lastUser(CONTINUE_PROMPT), behaviour: { kind: 'toolCall', command: 'echo resumed > resumed.txt', then: 'Finished the task.' } },
          { match: match.lastUser('task 7431'), behaviour: forever },
        ];
  return withServer(rules, async (s) => {
    const ctx = newCtx(d.name, 'b', s.port);
    const details: Record<string, unknown> = {};
    const { argv, cwd } = d.start(ctx, ORIGINAL_PROMPT);
    details.startArgv = argv.slice(1);
    const a = new Agent(argv, cwd, ctx.setup.env, 120_000);
    const streaming = await s.waitForStreamStart(90_000).catch((e: Error) => e);
    if (streaming instanceof Error) {
      a.killGroup();
      const r = await a.done;
      log(d.name, 'b', 'start-stdout', r.stdout);
      log(d.name, 'b', 'start-stderr', r.stderr);
      dumpRequests(d.name, 'b', s);
      return { agent: d.name, scenario: 'b kill+resume', ok: false, ms: Date.now() - t0, details: { error: streaming.message, exit: r.code } };
    }
    // Let a few chunks arrive so the agent is really mid-reply.
    await new Promise((res) => setTimeout(res, 800));
    let id = d.idFromOutput(ctx, a.jsonLines());
    details.idSource = id ? 'output' : undefined;
    if (!id && d.idFallback) {
      id = await d.idFallback(ctx);
      details.idSource = id ? 'fallback' : 'none';
    }
    if (d.name === 'claude') details.idMatchesPreset = id === ctx.preset;
    const msToKill = Date.now() - a.started;
    a.killGroup();
    const killed = await a.done;
    details.killedAfterMs = msToKill;
    details.killedBy = killed.signal ?? killed.code;
    details.groupGoneAfterKill = !(await waitUntil(() => !a.groupAlive(), 5000).then((ok) => !ok));
    log(d.name, 'b', 'start-stdout', killed.stdout);
    log(d.name, 'b', 'start-stderr', killed.stderr);
    if (d.name === 'pi') details.sessionFileAfterKill = fs.existsSync(ctx.preset!);
    details.id = id;
    if (!id) {
      dumpRequests(d.name, 'b', s);
      return { agent: d.name, scenario: 'b kill+resume', ok: false, ms: Date.now() - t0, details: { ...details, error: 'no session id' } };
    }
    const seqBeforeResume = s.requests.length;
    const res = d.resume(ctx, id, CONTINUE_PROMPT);
    details.resumeArgv = res.argv.slice(1);
    const r = await run(res.argv, res.cwd, ctx.setup.env, 120_000);
    log(d.name, 'b', 'resume-stdout', r.stdout);
    log(d.name, 'b', 'resume-stderr', r.stderr);
    dumpRequests(d.name, 'b', s);
    const resumedId = d.idFromOutput(ctx, parseJsonLines(r.stdout));
    const resumeReq = s.requests.find((q) => q.seq >= seqBeforeResume && q.kind === 'turn' && q.lastUserText.includes(CONTINUE_PROMPT));
    details.resumeExit = r.code;
    details.resumeMs = r.ms;
    details.resumedId = resumedId;
    details.resumeRequestHasOriginalPrompt = resumeReq ? resumeReq.allUserText.includes(ORIGINAL_PROMPT) : false;
    details.resumedToolCallWrote = fs.existsSync(path.join(ctx.dir, 'resumed.txt'));
    if (resumeReq) log(d.name, 'b', 'resume-request.json', JSON.stringify(resumeReq.body, null, 1));
    const ok = r.code === 0 && resumedId === id && details.resumeRequestHasOriginalPrompt === true && details.resumedToolCallWrote === true;
    return { agent: d.name, scenario: 'b kill+resume', ok, ms: Date.now() - t0, details };
  });
}

async function waitUntil(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((res) => setTimeout(res, 50));
  }
  return check();
}

async function errorScenario(d: Driver, key: string, label: string, rules: Rule[], opts: AgentEnvOptions): Promise<Outcome> {
  return withServer(rules, async (s) => {
    const ctx = newCtx(d.name, key, s.port, opts);
    const { argv, cwd } = d.start(ctx, 'Say hello.');
    const r = await run(argv, cwd, ctx.setup.env, 300_000);
    log(d.name, key, 'stdout', r.stdout);
    log(d.name, key, 'stderr', r.stderr);
    dumpRequests(d.name, key, s);
    const events = parseJsonLines(r.stdout);
    const interesting = events.filter((e) =>
      /error|retry|rate_limit|result|turn\.failed/i.test(String(e.type) + String(e.subtype ?? '')) || e.stopReason === 'error' || e.message?.stopReason === 'error' || e.error !== undefined,
    );
    return {
      agent: d.name,
      scenario: label,
      ok: r.code !== null, // it ended by itself
      ms: r.ms,
      details: {
        exit: r.code,
        signal: r.signal,
        env: opts,
        requests: s.requests.filter((q) => q.api).length,
        errorEvents: interesting.slice(-3).map((e) => clip(JSON.stringify(e), 700)),
        stdoutTail: tail(r.stdout, 2, 300),
        stderrTail: tail(r.stderr, 3),
      },
    };
  });
}

function clip(s: string, n: number): string {
  return s.length > n ? s.slice(0, n) + '…' : s;
}

async function scenarioC(d: Driver): Promise<Outcome[]> {
  // Every model request fails (opencode's title request too, as with a real bad key).
  const rules: Rule[] = [{ match: (q) => q.api !== null, behaviour: { kind: 'authError' }, times: Infinity }];
  // claude retries a 401 10 times with backoff (~3 min): cap it here.
  const out = [await errorScenario(d, 'c', 'c 401', rules, d.name === 'claude' ? { maxRetries: 2 } : {})];
  if (d.name === 'claude') out.push(await errorScenario(d, 'c-oauth', 'c 401 (oauth)', rules, { maxRetries: 2, claudeAuth: 'oauth' }));
  return out;
}

async function scenarioD(d: Driver): Promise<Outcome[]> {
  // opencode and pi sleep for retry-after before each retry: keep it short there.
  const chat = d.name === 'opencode' || d.name === 'pi';
  const rules: Rule[] = [{ match: (q) => q.api !== null, behaviour: { kind: 'usageLimit', resetsInSeconds: 7200, retryAfterSeconds: chat ? 1 : 7200 }, times: Infinity }];
  const out = [await errorScenario(d, 'd', 'd usage limit', rules, {})];
  if (d.name === 'claude') out.push(await errorScenario(d, 'd-oauth', 'd usage limit (oauth)', rules, { claudeAuth: 'oauth' }));
  return out;
}

async function scenarioE(d: Driver): Promise<Outcome> {
  return withServer([{ behaviour: { kind: 'streamForever', intervalMs: 200 }, times: Infinity }], async (s) => {
    const ctx = newCtx(d.name, 'e', s.port);
    const { argv, cwd } = d.start(ctx, ORIGINAL_PROMPT);
    const a = new Agent(argv, cwd, ctx.setup.env, 120_000);
    await s.waitForStreamStart(90_000);
    const id = await a.waitOutput(() => d.idFromOutput(ctx, a.jsonLines()), 5000);
    await new Promise((res) => setTimeout(res, 800));
    a.killGroup();
    const r = await a.done;
    log(d.name, 'e', 'stdout', r.stdout);
    const exists = fs.existsSync(ctx.preset!);
    const sessionDirFiles = fs.existsSync(ctx.setup.sessionsDir) ? fs.readdirSync(ctx.setup.sessionsDir, { recursive: true }) : [];
    return {
      agent: d.name,
      scenario: 'e first-reply kill',
      ok: !exists,
      ms: r.ms,
      details: { idPrinted: id, sessionFileExists: exists, sessionsDirEntries: sessionDirFiles.length },
    };
  });
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const onlyIdx = args.indexOf('--only');
  const only = onlyIdx >= 0 ? new Set(args[onlyIdx + 1].split(',')) : new Set(['a', 'b', 'c', 'd', 'e']);
  const agents = args.filter((x, i) => (AGENT_NAMES as readonly string[]).includes(x) && i !== onlyIdx + 1) as AgentName[];
  const list = agents.length > 0 ? agents : [...AGENT_NAMES];
  for (const a of list) {
    if (!fs.existsSync(bin(a))) throw new Error(`${bin(a)} missing: npm i --prefix ${PREFIX} …`);
  }
  console.log(`logs: ${outDir}`);
  const outcomes: Outcome[] = [];
  const report = (o: Outcome): void => {
    outcomes.push(o);
    console.log(`${o.ok ? 'PASS' : 'FAIL'} ${o.agent.padEnd(8)} ${o.scenario.padEnd(24)} ${(o.ms / 1000).toFixed(1)}s ${JSON.stringify(o.details)}`);
  };
  for (const a of list) {
    const d = drivers[a];
    const guard = async (label: string, f: () => Promise<Outcome | Outcome[]>): Promise<void> => {
      try {
        const r = await f();
        (Array.isArray(r) ? r : [r]).forEach(report);
      } catch (e) {
        report({ agent: a, scenario: label, ok: false, ms: 0, details: { error: String((e as Error).stack ?? e) } });
      }
    };
    if (only.has('a')) await guard('a', () => scenarioA(d));
    if (only.has('b')) await guard('b', () => scenarioB(d));
    if (only.has('c')) await guard('c', () => scenarioC(d));
    if (only.has('d')) await guard('d', () => scenarioD(d));
    if (only.has('e') && a === 'pi') await guard('e', () => scenarioE(d));
  }
  fs.writeFileSync(path.join(outDir, 'summary.json'), JSON.stringify(outcomes, null, 1));
  const failed = outcomes.filter((o) => !o.ok);
  console.log(`${outcomes.length - failed.length}/${outcomes.length} passed; summary: ${path.join(outDir, 'summary.json')}`);
  process.exitCode = failed.length > 0 ? 1 : 0;
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 2;
});
