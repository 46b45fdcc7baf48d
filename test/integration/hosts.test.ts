import * as assert from 'node:assert/strict';
import { ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RECORD_VERSION } from '../../src/core/model/record';
import { processAlive } from '../../src/core/platform/processes';
import { CLI, Harness, REPO, waitFor } from './harness';
import { processesWithEnv } from '../tools/processes';

interface SupervisorJson {
  running: boolean;
  background: boolean;
  holder: { pid: number; owner: string; epoch?: number; version?: string; recordVersion?: number } | null;
}

/**
 * A second host sharing the state dir: a pid, mount and UTS namespace of its own (a container on
 * this kernel), with its own host name and its own /tmp for tmux. Its first process is its
 * supervisor (a CLI monitor); `run` runs a CLI command inside it. Killing it ends everything in it,
 * as a container that goes away.
 */
class OtherHost {
  readonly env: NodeJS.ProcessEnv;
  readonly init: ChildProcess;
  private log = '';

  constructor(h: Harness, readonly name: string) {
    const tmux = path.join(h.root, `tmux-${name}`);
    fs.mkdirSync(tmux, { mode: 0o700 });
    this.env = { ...h.env, TMUX_TMPDIR: tmux };
    const script = path.join(h.root, 'as-host.sh');
    fs.writeFileSync(script, '#!/bin/sh\nhostname "$1" || exit 1\nshift\nexec "$@"\n', { mode: 0o755 });
    this.init = spawn('unshare', ['--pid', '--fork', '--mount-proc', '--uts', '--', script, name, process.execPath, CLI, 'monitor', '--interval', '180'], {
      env: this.env, stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.init.stdout!.on('data', (d) => (this.log += d));
    this.init.stderr!.on('data', (d) => (this.log += d));
  }

  output(): string {
    return this.log;
  }

  /** The host pid of the namespace's first process (its supervisor). */
  async initPid(): Promise<number> {
    return waitFor(() => {
      const kids = fs.readFileSync(`/proc/${this.init.pid}/task/${this.init.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      return kids.find((pid) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('monitor'));
    }, `the supervisor of ${this.name}`);
  }

  async run(args: string[]): Promise<string> {
    const pid = await this.initPid();
    return execFileSync('nsenter', ['-t', String(pid), '-p', '-m', '-u', '--', process.execPath, CLI, ...args], { env: this.env, encoding: 'utf8' });
  }

  /** The container goes away: its first process killed, and with it everything in its namespace. */
  async destroy(): Promise<void> {
    const pid = await this.initPid();
    process.kill(pid, 'SIGKILL');
    await waitFor(() => this.init.exitCode !== null || this.init.signalCode !== null, `${this.name} gone`);
  }
}

/** Ages a file as a clock that moved on would: its last change `ms` ago. */
function age(file: string, ms: number): void {
  const t = new Date(Date.now() - ms);
  fs.utimesSync(file, t, t);
}

describe('a state dir shared by two hosts (a second pid, mount and UTS namespace)', function () {
  this.timeout(90_000);
  let h: Harness;
  let b: OtherHost | undefined;
  beforeEach(() => {
    h = new Harness();
  });
  afterEach(async () => {
    if (b && b.init.exitCode === null && b.init.signalCode === null) await b.destroy().catch(() => undefined);
    b = undefined;
    await h.cleanup();
  });

  it('a task the other host runs is never started, killed or declared lost here; once that host is gone for a lease, it is resumed here by its exact id', async () => {
    const project = h.project('p', ['hang', 'hang']);
    b = new OtherHost(h, 'host-b');
    await b.run(['start', 'claude', 'shared', '--dir', project, '--prompt', 'Long job']);
    const id = await h.sessionIdKnown('claude-shared');
    const attemptDir = h.store.paths.attemptDir('claude-shared', 1);
    const agentsOfB = () => processesWithEnv(`RESILIENT_AGENT_ATTEMPT=${attemptDir}`);
    assert.ok(agentsOfB().length > 0, 'its agent runs in the other namespace');

    // This host looks, again and again: its tmux has no such session, its /proc shows the agent.
    for (let i = 0; i < 3; i++) await h.ok(['monitor', '--once']);
    assert.equal(h.invocations(project).length, 1, 'never started here');
    assert.ok(agentsOfB().length > 0, 'never killed from here');
    const seen = JSON.parse(await h.ok(['list', '--json'])) as { session: string; state: string; host: string | null }[];
    const task = seen.find((t) => t.session === 'claude-shared')!;
    assert.equal(task.state, 'running');
    assert.equal(task.host, 'host-b');
    assert.match(await h.ok(['status', 'shared']), /running on host-b/);
    const kill = await h.cli(['kill', 'shared']);
    assert.equal(kill.code, 1);
    assert.match(kill.stderr, /runs on host-b, whose supervisor is alive: kill it there/);
    assert.equal(h.record('claude-shared')!.state, 'running', 'the refusal changed nothing');

    // The container goes away with its agent and its tmux. Its lease still runs: nobody acts yet.
    await b.destroy();
    await h.ok(['monitor', '--once']);
    assert.equal(h.invocations(project).length, 1, 'not while the lease of host-b may still be renewed');
    // A minute later (its lease and its files as they would be by then): recovered here, by id.
    for (const lock of fs.readdirSync(h.store.paths.locksDir).filter((f) => f.startsWith('supervisor'))) age(path.join(h.store.paths.locksDir, lock), 120_000);
    age(path.join(attemptDir, 'events.jsonl'), 120_000);
    await h.ok(['monitor', '--once']);
    await waitFor(() => h.invocations(project).length === 2, 'resumed here');
    const runs = h.invocations(project);
    assert.deepEqual(runs.map((r) => r.mode), ['start', 'resume']);
    assert.equal(runs[1].sessionId, id, 'by its exact session id');
    const rec = h.record('claude-shared')!;
    assert.equal(rec.attempts[1].host?.name, os.hostname(), 'it runs on this host now');
    assert.equal(rec.attempts[1].mode, 'resume');
  });

  it('each host shows its own panes\' transcripts (a render hub on each): neither hub takes the other\'s panes, nor ends their transcripts', async () => {
    b = new OtherHost(h, 'host-b');
    const asking = { FIXTURE_ASK_AFTER_MS: '1500' };
    await b.run(['start', 'codex', 'there', '--dir', h.project('there', ['ask']), '--prompt', 'Ask first.']);
    // Host b's hub runs (and holds its lock) before this host starts a task of its own.
    await waitFor(() => fs.readdirSync(h.store.paths.locksDir).some((f) => /^render-hub\S*\.lock$/.test(f)), 'the hub of host-b');
    await h.ok(['start', 'codex', 'here', '--dir', h.project('here', ['ask']), '--prompt', 'Ask first.'], { env: { ...h.env, ...asking } });
    const paneB = async () => execFileSync('tmux', ['-S', path.join(b!.env.TMUX_TMPDIR!, `tmux-${process.getuid!()}`, h.socket), 'capture-pane', '-p', '-J', '-t', '=codex-there:'], { encoding: 'utf8' });
    const paneHere = async () => (await h.tmux(['capture-pane', '-p', '-J', '-t', '=codex-here:'])).stdout;
    await waitFor(async () => /^● working\.\.\.$/m.test(await paneHere()), 'this host\'s pane showing its agent');
    await waitFor(async () => /^● working\.\.\.$/m.test(await paneB()), 'the pane on host-b showing its agent');
    const locks = fs.readdirSync(h.store.paths.locksDir).filter((f) => /^render-hub@[0-9a-f]+\.lock$/.test(f));
    assert.equal(locks.length, 2, `one hub per host: ${locks.join(', ')}`);
    // Each run's transcript entry stays until its own run ends: neither hub took the other's for gone.
    await h.ok(['monitor', '--once']);
    const entries = fs.readdirSync(h.store.paths.transcriptsDir).sort();
    assert.deepEqual(entries, ['codex-here.1.json', 'codex-there.1.json']);
    await waitFor(async () => /\[y\/n\]/.test(await paneHere()), 'the question here');
    await h.ok(['send', 'here', 'y']);
    await waitFor(async () => /^● answered: y$/m.test(await paneHere()), 'the answer shown here');
  });

  it('this host renamed (DHCP, hostnamectl) still takes its tasks for its own: listed here, killed here', async () => {
    const project = h.project('p', ['hang']);
    const sup = spawn(process.execPath, [CLI, 'monitor', '--interval', '180'], { env: h.env, stdio: 'ignore' });
    try {
      await waitFor(() => fs.existsSync(h.store.paths.locksDir) && fs.readdirSync(h.store.paths.locksDir).some((f) => f.startsWith('supervisor@')), 'this host\'s supervisor');
      await h.ok(['start', 'claude', 'named', '--dir', project, '--prompt', 'x']);
      await waitFor(() => h.invocations(project).length === 1, 'the agent started');
      // The same kernel, pid namespace and tmux server, under a new host name (a UTS namespace of its own).
      const script = path.join(h.root, 'renamed.sh');
      fs.writeFileSync(script, '#!/bin/sh\nhostname renamed-host || exit 1\nexec "$@"\n', { mode: 0o755 });
      const renamed = (args: string[]) => spawnSync('unshare', ['--uts', '--', script, process.execPath, CLI, ...args], { env: h.env, encoding: 'utf8' });
      const listed = JSON.parse(renamed(['list', '--json']).stdout) as { session: string; host: string | null }[];
      assert.equal(listed.find((t) => t.session === 'claude-named')!.host, null, 'not another host\'s task');
      const kill = renamed(['kill', 'named']);
      assert.equal(kill.status, 0, kill.stderr);
      assert.match(kill.stdout, /claude-named: killed; it will not be resumed/);
      assert.equal(h.record('claude-named')!.killedByUser, true);
    } finally {
      sup.kill('SIGKILL');
    }
  });

  it('a host away past its lease whose task was resumed here ends its own run of it when it comes back: one agent per session', async () => {
    const project = h.project('p', ['hang', 'hang']);
    b = new OtherHost(h, 'host-d');
    await b.run(['start', 'claude', 'roam', '--dir', project, '--prompt', 'Long job']);
    await h.sessionIdKnown('claude-roam');
    const ofAttempt = (n: number) => processesWithEnv(`RESILIENT_AGENT_ATTEMPT=${h.store.paths.attemptDir('claude-roam', n)}`);
    assert.ok(ofAttempt(1).length > 0, 'its agent runs on host-d');
    // host-d is away (its supervisor stopped, as a suspended laptop's) for longer than a lease.
    const away = await b.initPid();
    process.kill(away, 'SIGSTOP');
    try {
      for (const lock of fs.readdirSync(h.store.paths.locksDir).filter((f) => f.startsWith('supervisor'))) age(path.join(h.store.paths.locksDir, lock), 120_000);
      age(path.join(h.store.paths.attemptDir('claude-roam', 1), 'events.jsonl'), 120_000);
      await h.ok(['monitor', '--once']);
      await waitFor(() => h.invocations(project).length === 2, 'resumed here');
      await waitFor(() => ofAttempt(2).length > 0, 'the resumed agent running here');
      assert.ok(ofAttempt(1).length > 0, 'nothing here ends what runs on host-d');
    } finally {
      process.kill(away, 'SIGCONT');
    }
    // Back, host-d looks (woken by the state dir's signal): the task runs here now.
    fs.writeFileSync(h.store.paths.wakeFile, `${process.pid} ${Date.now()}\n`);
    await waitFor(() => ofAttempt(1).length === 0, 'host-d ending its own run of the task', 30_000);
    assert.ok(ofAttempt(2).length > 0, 'the run here goes on');
    assert.deepEqual(h.invocations(project).map((r) => r.mode), ['start', 'resume'], 'resumed once, by this host only');
    assert.equal(h.record('claude-roam')!.attempts.length, 2, 'host-d wrote nothing');
    assert.match(b.output(), /claude-roam: \S+ runs it now \(attempt 2\); ending what still ran of it here/);
  });

  it('a task whose host is gone and that cannot be resumed by id is held, never started again from its prompt', async () => {
    const project = h.project('p', ['silent', 'ok']);
    b = new OtherHost(h, 'host-c');
    // No session id yet (the agent has not said one): a restart from the prompt would be the only way.
    await b.run(['start', 'codex', 'early', '--dir', project, '--prompt', 'x']);
    await waitFor(() => h.invocations(project).length === 1, 'the agent started on host-c');
    await b.destroy();
    for (const lock of fs.readdirSync(h.store.paths.locksDir).filter((f) => f.startsWith('supervisor'))) age(path.join(h.store.paths.locksDir, lock), 120_000);
    const events = path.join(h.store.paths.attemptDir('codex-early', 1), 'events.jsonl');
    age(events, 120_000);
    await h.ok(['monitor', '--once']);
    const status = await h.status('early');
    assert.equal(h.invocations(project).length, 1, 'not started again from its prompt');
    assert.equal(status.state, 'held');
    assert.match(status.reason ?? '', /ran on host-c, which is gone, and cannot be resumed by id/);
  });
});

describe('the supervisor stopped, replaced, and an upgrade (default settings: the background supervisor)', function () {
  this.timeout(120_000);
  let h: Harness;
  beforeEach(() => {
    h = new Harness();
    h.configure({ 'supervisor.mode': 'background' });
  });
  afterEach(async () => {
    await h.cleanup();
  });

  const supervisor = async (cli = CLI): Promise<SupervisorJson> => {
    const r = execFileSync(process.execPath, [cli, 'supervisor', 'status', '--json'], { env: h.env, encoding: 'utf8' });
    return JSON.parse(r);
  };
  const logOf = () => fs.readFileSync(path.join(h.home, 'supervisor.log'), 'utf8');

  it('a stopped (SIGSTOP) supervisor is replaced by the next command; woken, it acts no more and leaves', async () => {
    const project = h.project('p', ['hang', 'hang']);
    await h.ok(['start', 'claude', 'night', '--dir', project, '--prompt', 'Long job']);
    const first = await waitFor(async () => (await supervisor()).holder, 'the background supervisor');
    const id = await h.sessionIdKnown('claude-night');
    process.kill(first.pid, 'SIGSTOP');
    try {
      const stopped = await supervisor();
      assert.equal(stopped.running, false, 'a stopped process is no supervisor');
      assert.match(await h.ok(['supervisor', 'status']), new RegExp(`^supervisor: none: background supervisor pid ${first.pid} \\(pid ${first.pid}\\) still holds the lease, but it is stopped`, 'm'));
      await h.crash('claude-night', 1);
      await h.ok(['list']); // a person looks: the stopped one is replaced
      const second = await waitFor(async () => {
        const s = await supervisor();
        return s.running && s.holder!.pid !== first.pid ? s.holder : undefined;
      }, 'a new supervisor');
      assert.ok((second.epoch ?? 0) > (first.epoch ?? 0), `a later lease epoch (${first.epoch} then ${second.epoch})`);
      await waitFor(() => h.invocations(project).length === 2, 'the crash resumed by the new one');
    } finally {
      process.kill(first.pid, 'SIGCONT');
    }
    // Woken, the old one finds its lease taken over: it acts on nothing and leaves.
    await waitFor(() => !processAlive(first.pid), 'the woken supervisor gone', 30_000);
    const runs = h.invocations(project);
    assert.deepEqual(runs.map((r) => r.mode), ['start', 'resume'], 'resumed once');
    assert.equal(runs[1].sessionId, id);
    assert.equal(h.record('claude-night')!.attempts.length, 2);
    assert.match(logOf(), new RegExp(`another background supervisor \\(pid ${(await supervisor()).holder!.pid}\\) supervises this state dir: this one exits`));
  });

  it('after an upgrade (a second build, its record version bumped) the newer build leads, the older hands over, and a crash of either is resumed', async () => {
    const newer = buildUpgrade(h.root);
    const oldProject = h.project('old', ['hang', 'hang']);
    await h.ok(['start', 'claude', 'before', '--dir', oldProject, '--prompt', 'x']);
    const old = await waitFor(async () => (await supervisor()).holder, 'the older build\'s supervisor');
    const newProject = h.project('new', ['hang', 'hang']);
    execFileSync(process.execPath, [newer, 'start', 'claude', 'after', '--dir', newProject, '--prompt', 'y'], { env: h.env });
    const lead = await waitFor(async () => {
      const s = await supervisor(newer);
      return s.holder?.version === '99.0.0' ? s.holder : undefined;
    }, 'the newer build leading');
    assert.notEqual(lead.pid, old.pid);
    await waitFor(() => !processAlive(old.pid), 'the older supervisor gone');
    assert.match(logOf(), /a newer resilient-agent \(99\.0\.0, pid \d+\) supervises this host's tasks: this one hands over and exits/);
    const newer0 = JSON.parse(fs.readFileSync(h.store.paths.recordFile('claude-after'), 'utf8')) as { version: number };
    assert.equal(newer0.version, RECORD_VERSION + 1, 'the newer build wrote its own record version');
    // The older build cannot read the newer record: each task is looked at with the newer build.
    const idOf = (name: string) => (JSON.parse(execFileSync(process.execPath, [newer, 'status', name, '--json'], { env: h.env, encoding: 'utf8' })) as { agentSessionId: string | null }).agentSessionId;
    for (const [session, project] of [['claude-after', newProject], ['claude-before', oldProject]] as const) {
      const events = path.join(h.store.paths.attemptDir(session, 1), 'events.jsonl');
      await waitFor(() => fs.existsSync(events) && fs.readFileSync(events, 'utf8').includes('working...'), `${session} mid-reply`);
      await waitFor(() => idOf(session.slice('claude-'.length)), `the session id of ${session}`);
      await h.crash(session, 1);
      await waitFor(() => h.invocations(project).length === 2, `${session} resumed by the newer build`);
      assert.deepEqual(h.invocations(project).map((r) => r.mode), ['start', 'resume']);
    }
    assert.match(logOf(), /claude-after: attempt 2 \(crash, resume\) launched/);
  });
});

/**
 * A second build of the product, as an upgrade makes it: the same sources with the record version
 * one higher and a higher version number, bundled as the real build bundles them.
 */
function buildUpgrade(root: string): string {
  const src = path.join(root, 'upgrade');
  fs.cpSync(path.join(REPO, 'src'), path.join(src, 'src'), { recursive: true });
  for (const f of ['package.json', 'tsconfig.json']) fs.copyFileSync(path.join(REPO, f), path.join(src, f));
  fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(src, 'node_modules'));
  const record = path.join(src, 'src', 'core', 'model', 'record.ts');
  const text = fs.readFileSync(record, 'utf8');
  const m = /export const RECORD_VERSION = (\d+);/.exec(text);
  assert.ok(m, 'the record version is where the build keeps it');
  fs.writeFileSync(record, text.replace(m[0], `export const RECORD_VERSION = ${Number(m[1]) + 1};`));
  const pkg = JSON.parse(fs.readFileSync(path.join(src, 'package.json'), 'utf8')) as { version: string };
  pkg.version = '99.0.0';
  fs.writeFileSync(path.join(src, 'package.json'), JSON.stringify(pkg));
  const out = path.join(src, 'dist', 'cli.js');
  execFileSync(path.join(REPO, 'node_modules', '.bin', 'esbuild'), [
    'src/cli/main.ts', '--bundle', '--platform=node', '--target=node18', '--format=cjs', '--define:navigator=undefined', `--outfile=${out}`, '--log-level=warning',
  ], { cwd: src });
  return out;
}
