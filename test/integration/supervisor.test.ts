import * as assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveSettings } from '../../src/core/model/settings';
import { processAlive, processesWithEnv } from '../../src/core/platform/processes';
import { TaskService } from '../../src/core/ops/service';
import { Monitor, LEGACY_SUPERVISOR_LOCK as SUPERVISOR_LOCK } from '../../src/core/ops/monitor';
import { systemdQuote, unitText } from '../../src/cli/systemd';
import { CLI, Harness, waitFor } from './harness';

interface Status { running: boolean; background: boolean; holder: { pid: number; owner: string } | null; unfinished: number }

describe('the background supervisor', function () {
  this.timeout(60_000);
  let h: Harness;
  beforeEach(() => {
    h = new Harness();
    h.configure({ 'supervisor.mode': 'background', 'monitor.intervalSeconds': 0.5 });
  });
  afterEach(async () => {
    await h.cleanup();
  });

  const supervisor = async (): Promise<Status> => JSON.parse(await h.ok(['supervisor', 'status', '--json']));

  it('with no editor: a task start brings it up; it resumes a crash by exact id, then exits when idle', async () => {
    const project = h.project('p', ['hang', 'ok']);
    await h.ok(['start', 'codex', 'night', '--dir', project, '--prompt', 'Long job']);
    const up = await waitFor(async () => {
      const s = await supervisor();
      return s.running && s.background ? s : undefined;
    }, 'a background supervisor');
    const panes = (await h.tmux(['list-panes', '-a', '-F', '#{pane_pid}'])).stdout.split('\n').filter(Boolean).map(Number);
    assert.ok(!panes.some((p) => [up.holder!.pid, ...ancestors(up.holder!.pid)].includes(p)), 'not a process of the tasks\' tmux server');
    assert.equal(sessionLeader(up.holder!.pid), up.holder!.pid, 'it leads a session of its own: no terminal hangup reaches it');
    await h.sessionIdKnown('codex-night');
    await h.crash('codex-night', 1);
    await waitFor(() => h.record('codex-night')?.state === 'done', 'done, with no monitor of ours running');
    const runs = h.invocations(project);
    assert.deepEqual(runs.map((r) => r.mode), ['start', 'resume']);
    assert.equal(runs[1].sessionId, runs[0].sessionId);
    // Idle: nothing left to watch, so it exits and leaves nothing running.
    await waitFor(() => !processAlive(up.holder!.pid), 'the supervisor exited when idle');
    assert.equal((await supervisor()).running, false);
    assert.match(fs.readFileSync(path.join(h.home, 'supervisor.log'), 'utf8'), /no unfinished task left/);
  });

  it('tmux server killed, nobody at the keyboard: every unfinished task re-created and resumed by exact id', async () => {
    const names = ['t0', 't1', 't2'];
    const projects = names.map((n) => h.project(n, ['hang', 'ok']));
    for (const [i, n] of names.entries()) await h.ok(['start', 'claude', n, '--dir', projects[i], '--prompt', 'x']);
    const up = await waitFor(async () => ((await supervisor()).background ? (await supervisor()).holder : undefined), 'the background supervisor');
    for (const n of names) await h.sessionIdKnown(`claude-${n}`);
    // SIGHUP first, as a closed terminal sends it: the supervisor stays.
    process.kill(up.pid, 'SIGHUP');
    await h.tmux(['kill-server']);
    // No CLI command and no editor from here on: only the supervisor can bring the tasks back.
    await waitFor(() => names.every((n) => h.record(`claude-${n}`)?.state === 'done'), 'every task resumed and done');
    const log = fs.readFileSync(path.join(h.home, 'supervisor.log'), 'utf8');
    for (const [i, n] of names.entries()) {
      const runs = h.invocations(projects[i]);
      assert.deepEqual(runs.map((r) => r.mode), ['start', 'resume'], `${n}: resumed once`);
      assert.equal(runs[1].sessionId, runs[0].sessionId, `${n}: by its exact id`);
      assert.equal(h.record(`claude-${n}`)!.attempts[1].cause, 'lost');
      assert.match(log, new RegExp(`claude-${n}: attempt 2 \\(lost, resume\\) launched`), `${n}: by the background supervisor`);
    }
  });

  it('killed with -9, it is replaced by the next CLI command and no crash is missed', async () => {
    // The resumed run hangs too: a supervisor with nothing left to do exits, and could do so
    // between two looks of this test.
    const project = h.project('p', ['hang', 'hang']);
    await h.ok(['start', 'claude', 'orphan', '--dir', project, '--prompt', 'x']);
    const first = await waitFor(async () => (await supervisor()).holder, 'a supervisor');
    await h.sessionIdKnown('claude-orphan');
    process.kill(first.pid, 'SIGKILL');
    await h.crash('claude-orphan', 1);
    await waitFor(() => !processAlive(first.pid), 'the supervisor dead');
    await h.ok(['list']); // any command notices and replaces it
    const second = await waitFor(async () => {
      const s = await supervisor();
      return s.running && s.holder!.pid !== first.pid ? s.holder : undefined;
    }, 'a new supervisor');
    assert.notEqual(second.pid, first.pid);
    await waitFor(() => h.invocations(project).length === 2, 'the crash resumed by the new one');
    assert.deepEqual(h.invocations(project).map((r) => r.mode), ['start', 'resume']);
    assert.equal(h.record('claude-orphan')?.attempts[1].cause, 'crash');
  });

  it('two windows, a CLI monitor and the background supervisor: one resume per crash', async () => {
    const projects = ['a', 'b', 'c'].map((n) => h.project(n, ['hang', 'ok']));
    for (const [i, p] of projects.entries()) await h.ok(['start', 'opencode', `many${i}`, '--dir', p, '--prompt', 'x']);
    await waitFor(async () => (await supervisor()).background, 'the background supervisor');
    // Two "windows": in-process monitors as the extension runs them, and a CLI monitor.
    const settings = { ...resolveSettings(), tmuxSocket: h.socket, intervalMs: 100 };
    // What each window launched. A window may take the role once the background supervisor
    // exits (it does when no unfinished task remains), so leadership at the end proves nothing.
    const launchedByWindows: string[] = [];
    const windows = [1, 2].map(
      (n) =>
        new Monitor(new TaskService({ home: h.home, settings, env: h.env, owner: `vscode window ${n}` }), {
          intervalMs: 100,
          onPass: (r) => launchedByWindows.push(...r.launched),
        }),
    );
    windows.forEach((w) => w.start());
    const cli = h.monitor(['--interval', '0.1']);
    try {
      for (let i = 0; i < 3; i++) await h.sessionIdKnown(`opencode-many${i}`);
      for (let i = 0; i < 3; i++) await h.crash(`opencode-many${i}`, 1);
      await waitFor(() => [0, 1, 2].every((i) => h.record(`opencode-many${i}`)?.state === 'done'), 'all done');
      for (const p of projects) assert.deepEqual(h.invocations(p).map((r) => r.mode), ['start', 'resume'], 'one resume per crash');
      assert.deepEqual(launchedByWindows, [], 'the windows deferred to the background supervisor');
    } finally {
      windows.forEach((w) => w.stop());
      await h.stop(cli);
    }
  });

  it('outlives the process that started it (a window that goes away mid-task)', async () => {
    const project = h.project('p', ['hang', 'ok']);
    // A stand-in for an extension host: a separate Node process that starts the task (and so the
    // supervisor), then is killed with -9.
    const host = spawn(process.execPath, [CLI, 'start', 'pi', 'closed', '--dir', project, '--prompt', 'x'], { env: h.env, stdio: 'ignore', detached: true });
    await new Promise((r) => host.on('exit', r));
    const sup = await waitFor(async () => (await supervisor()).holder, 'the supervisor');
    assert.ok(!ancestors(sup.pid).includes(process.pid), 'not a child of the process that started it');
    await h.sessionIdKnown('pi-closed');
    await h.crash('pi-closed', 1);
    await waitFor(() => h.record('pi-closed')?.state === 'done', 'resumed with its starter gone');
  });

  it('several background supervisors started at once: one stays, the others leave, and stop stops supervision', async () => {
    const project = h.project('p', ['hang']);
    h.configure({ 'supervisor.mode': 'window' });
    await h.ok(['start', 'codex', 'crowd', '--dir', project, '--prompt', 'x']);
    // Windows and CLI commands racing to bring one up, each a detached process of its own.
    const started = [0, 1, 2].map(() => spawn(process.execPath, [CLI, 'monitor', '--background', '--interval', '0.2'], { env: h.env, stdio: 'ignore', detached: true }));
    const backgrounds = () => processesWithEnv(`RESILIENT_AGENT_HOME=${h.home}`).filter((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('--background');
      } catch {
        return false;
      }
    });
    await waitFor(() => backgrounds().length === 1, 'one background supervisor left', 20_000);
    const s = await supervisor();
    assert.equal(s.background, true);
    assert.deepEqual(backgrounds(), [s.holder!.pid], 'the one left is the one that leads');
    assert.match(await h.ok(['supervisor', 'stop']), /background supervisor stopped/);
    await waitFor(() => backgrounds().length === 0 && started.every((c) => c.exitCode !== null || c.signalCode !== null), 'none left');
    assert.equal((await supervisor()).running, false, 'nothing supervises after stop');
  });

  it('supervisor start / status / stop', async () => {
    const project = h.project('p', ['hang']);
    h.configure({ 'supervisor.mode': 'window' });
    await h.ok(['start', 'codex', 'manual', '--dir', project, '--prompt', 'x']);
    assert.equal((await supervisor()).running, false, 'window mode starts none');
    assert.match(await h.ok(['supervisor', 'start']), /^background supervisor started: background supervisor pid \d+/);
    assert.match(await h.ok(['supervisor', 'start']), /^already supervised by background supervisor/);
    const s = await supervisor();
    assert.equal(s.unfinished, 1);
    assert.match(await h.ok(['supervisor', 'stop']), /background supervisor stopped/);
    await waitFor(() => !processAlive(s.holder!.pid), 'stopped');
    assert.equal(h.store.paths.home.length > 0 && fs.existsSync(path.join(h.store.paths.locksDir, `${SUPERVISOR_LOCK}.lock`)), false, 'lock released');
  });

  it('a relative HOME: the state dir is taken from where the command ran, and the background supervisor supervises it there', async () => {
    // HOME=rel (no RESILIENT_AGENT_HOME): the state dir is <cwd>/rel/.local/state/resilient-agent.
    const rel = `rel-home-${process.pid}-${Date.now()}`;
    const env: NodeJS.ProcessEnv = { ...h.env, HOME: rel };
    delete env.RESILIENT_AGENT_HOME;
    const home = path.join(h.root, rel, '.local', 'state', 'resilient-agent');
    fs.mkdirSync(home, { recursive: true });
    fs.writeFileSync(path.join(home, 'config.json'), JSON.stringify({ 'supervisor.mode': 'background', 'monitor.intervalSeconds': 0.5 }));
    const cli = async (args: string[]) => {
      const r = await h.cli(args, { env, cwd: h.root });
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    try {
      await cli(['start', 'codex', 'rel', '--dir', h.project('p', ['hang']), '--prompt', 'x']);
      assert.ok(fs.existsSync(path.join(home, 'tasks', 'codex-rel', 'task.json')), 'the record in the state dir under the command\'s folder');
      const s = await waitFor(async () => {
        const st: Status = JSON.parse(await cli(['supervisor', 'status', '--json']));
        return st.running && st.background ? st : undefined;
      }, 'the background supervisor leading the same state dir');
      assert.equal(s.unfinished, 1);
      assert.ok(fs.existsSync(path.join(home, 'locks', `${SUPERVISOR_LOCK}.lock`)), 'its lock in that state dir');
      assert.ok(!fs.existsSync(path.join(home, rel)), 'no state dir nested in the state dir');
    } finally {
      await h.cli(['supervisor', 'stop'], { env, cwd: h.root });
      for (const pid of processesWithEnv(`HOME=${rel}`)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
  });
});

describe('supervisor install (systemd user unit)', function () {
  this.timeout(60_000);
  let h: Harness;
  beforeEach(() => {
    h = new Harness();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  function tree(dir: string): string[] {
    if (!fs.existsSync(dir)) return [];
    const out: string[] = [];
    for (const name of fs.readdirSync(dir).sort()) {
      const p = path.join(dir, name);
      out.push(p);
      if (fs.statSync(p).isDirectory()) out.push(...tree(p));
    }
    return out;
  }

  it('quotes what systemd would otherwise expand', () => {
    assert.equal(systemdQuote('/opt/my app/cli.js'), '"/opt/my app/cli.js"');
    assert.equal(systemdQuote('a"b\\c%d$e'), '"a\\"b\\\\c%%d$$e"');
    assert.match(unitText({ node: '/usr/bin/node', cli: '/x/cli.js' }, { RESILIENT_AGENT_HOME: '/h' }), /^ExecStart="\/usr\/bin\/node" "\/x\/cli.js" "monitor" "--background"$/m);
  });

  it('writes a unit systemd accepts, says how to undo it, and uninstall leaves the files as they were', async () => {
    const home = h.env.HOME!;
    fs.mkdirSync(path.join(home, '.config', 'other'), { recursive: true });
    fs.writeFileSync(path.join(home, '.config', 'other', 'keep.conf'), 'mine');
    const before = tree(home);
    const out = await h.ok(['supervisor', 'install']);
    const unit = path.join(home, '.config', 'systemd', 'user', 'resilient-agent-supervisor.service');
    assert.match(out, new RegExp(`^wrote ${unit.replace(/[.]/g, '\\.')}$`, 'm'));
    assert.match(out, /^undo: resilient-agent supervisor uninstall$/m);
    const text = fs.readFileSync(unit, 'utf8');
    assert.match(text, /^ExecStart=".*node.*" ".*cli\.js" "monitor" "--background"$/m);
    assert.match(text, new RegExp(`^Environment="RESILIENT_AGENT_HOME=${h.home}"$`, 'm'));
    // systemd's own check of the unit (systemd-analyze comes with the systemd package).
    const verify = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile('systemd-analyze', ['verify', '--user', unit], { env: h.env }, (error, _stdout, stderr) => resolve({ code: error ? 1 : 0, stderr }));
    });
    const problems = verify.stderr.split('\n').filter((l) => l.includes(path.basename(unit)) && !/Failed to connect|bus|Permission denied/i.test(l));
    assert.deepEqual(problems, [], verify.stderr);
    const un = await h.ok(['supervisor', 'uninstall']);
    assert.match(un, /^removed /m);
    assert.deepEqual(tree(home), before, 'the user\'s files as they were');
  });

  it('says plainly when systemd is not available, and writes nothing', async () => {
    const nodeOnly = path.join(h.root, 'node-only');
    fs.mkdirSync(nodeOnly);
    fs.symlinkSync(process.execPath, path.join(nodeOnly, 'node'));
    const env = { ...h.env, PATH: [nodeOnly, h.bin].join(':') };
    const r = await h.cli(['supervisor', 'install'], { env });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^systemd is not available here \(no systemctl on PATH\): nothing was written\./);
    assert.equal(fs.existsSync(path.join(h.env.HOME!, '.config', 'systemd')), false);
  });
});

function statFields(pid: number): string[] {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

function ancestors(pid: number): number[] {
  const out: number[] = [];
  for (let p = Number(statFields(pid)[1]); p > 1; p = Number(statFields(p)[1])) out.push(p);
  return out;
}

/** The session id (field 6 of /proc/PID/stat). */
function sessionLeader(pid: number): number {
  return Number(statFields(pid)[3]);
}
