import * as assert from 'node:assert/strict';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RenderHub } from '../../src/core/ops/hub';
import { descendantsOf, processAlive, processesWithEnv } from '../../src/core/platform/processes';
import { LockManager } from '../../src/core/store/lock';
import { ATTEMPT_ENV } from '../../src/core/store/runner';
import { StatePaths } from '../../src/core/store/paths';
import { LEGACY_HUB_LOCK, writeEntry } from '../../src/core/store/transcripts';
import { hostIdentity, tmuxServerPath } from '../../src/core/platform/host';
import type { Harness } from './harness';
import { harnessPerTest, waitFor } from './harness';

/** The world's render hubs: processes of its state dir running `render-hub`. */
function hubs(h: Harness): number[] {
  return processesWithEnv(`RESILIENT_AGENT_HOME=${h.home}`).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('render-hub') && processAlive(pid);
    } catch {
      return false;
    }
  });
}

/** The pid the hub's lock names, when a live process holds it. */
function lockHolder(h: Harness): number | undefined {
  try {
    const file = fs.readdirSync(h.store.paths.locksDir).find((f) => /^render-hub@[0-9a-f]+\.lock$/.test(f));
    if (!file) return undefined;
    const pid = (JSON.parse(fs.readFileSync(path.join(h.store.paths.locksDir, file), 'utf8')) as { pid: number }).pid;
    return processAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function pane(h: Harness, session: string): Promise<string> {
  return (await h.tmux(['capture-pane', '-p', '-J', '-S', '-', '-t', `=${session}:`])).stdout;
}

const paneDead = async (h: Harness, session: string) => (await h.tmux(['list-panes', '-t', `=${session}`, '-F', '#{pane_dead}'])).stdout.trim() === '1';

const count = (text: string, line: string) => text.split('\n').filter((l) => l === line).length;

/** The pane's transcript comes from one render hub per state dir: nothing runs beside the agent in its pane. */
describe('the render hub', function () {
  this.timeout(90_000);
  const h = harnessPerTest();
  const asking = () => ({ ...h.env, FIXTURE_ASK_AFTER_MS: '1500' });

  it('shows the transcript live with no supervisor, and nothing but the runner runs beside the agent', async () => {
    const project = h.project('p', ['ask']);
    await h.ok(['start', 'codex', 'live', '--dir', project, '--prompt', 'Ask first.'], { env: asking() });
    await waitFor(async () => /^● working\.\.\.$/m.test(await pane(h, 'codex-live')), 'the first message in the pane');
    const attemptDir = h.store.paths.attemptDir('codex-live', 1);
    assert.equal(fs.existsSync(path.join(attemptDir, 'exit')), false, 'shown while the agent runs');
    const runner = await h.runnerPid('codex-live', 1);
    const agent = processesWithEnv(`${ATTEMPT_ENV}=${attemptDir}`);
    const agentTree = new Set([...agent, ...descendantsOf(agent)]);
    assert.deepEqual(descendantsOf([runner]).filter((pid) => !agentTree.has(pid)), [], 'nothing beside the agent');
    assert.equal(hubs(h).length, 1, 'one hub');
    assert.ok(lockHolder(h), 'the hub holds its lock');
    await waitFor(async () => (await h.status('live')).state === 'waiting' || /\[y\/n\]/.test(await pane(h, 'codex-live')), 'the question');
    await h.ok(['send', 'live', 'y']);
    await waitFor(() => paneDead(h, 'codex-live'), 'the pane to end');
    const text = await pane(h, 'codex-live');
    // The whole run shown before the runner's last word.
    assert.match(text, /^● working\.\.\.$[\s\S]*^● answered: y$[\s\S]*^· tokens: [\s\S]*__TASK_DONE__/m, text);
    assert.doesNotMatch(text, /^\s*\{"/m, text);
  });

  it('killed with -9 mid-run: the agent runs on, the next supervisor pass starts another hub, which goes on where the first stopped', async () => {
    const project = h.project('p', ['ask']);
    await h.ok(['start', 'codex', 'robust', '--dir', project, '--prompt', 'Ask first.'], { env: asking() });
    await waitFor(async () => /^● working\.\.\.$/m.test(await pane(h, 'codex-robust')), 'the first message in the pane');
    const [hub] = hubs(h);
    // Its offset saved (within a second of what it showed): what the next hub goes on from.
    const dir = h.store.paths.attemptDir('codex-robust', 1);
    await waitFor(() => {
      try {
        return JSON.parse(fs.readFileSync(path.join(dir, 'shown-offset'), 'utf8')).offset === fs.statSync(path.join(dir, 'events.jsonl')).size;
      } catch {
        return false;
      }
    }, 'the shown offset saved');
    process.kill(hub, 'SIGKILL');
    await waitFor(() => !processAlive(hub), 'the hub gone');
    await h.ok(['monitor', '--once']);
    const next = await waitFor(() => lockHolder(h), 'a new hub');
    assert.notEqual(next, hub);
    await waitFor(async () => /\[y\/n\]/.test(await pane(h, 'codex-robust')), 'the question');
    await h.ok(['send', 'robust', 'y']);
    await waitFor(async () => (await h.status('robust')).state === 'done' || paneDead(h, 'codex-robust'), 'the agent done');
    await waitFor(async () => /__TASK_DONE__/.test(await pane(h, 'codex-robust')), 'the runner\'s end');
    const text = await pane(h, 'codex-robust');
    assert.equal(count(text, '● answered: y'), 1, text);
    assert.equal(count(text, '● working...'), 1, `nothing shown twice:\n${text}`);
    const events = fs.readFileSync(path.join(h.store.paths.attemptDir('codex-robust', 1), 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(events.map((e) => e.type), ['thread.started', 'item.completed', 'item.completed', 'turn.completed']);
    assert.equal(fs.readFileSync(path.join(h.store.paths.attemptDir('codex-robust', 1), 'exit'), 'utf8').trim(), '0');
  });

  it('dead at the end of a run: the runner does not wait for it, its pane ends at once', async () => {
    const project = h.project('p', ['ask']);
    await h.ok(['start', 'codex', 'orphan', '--dir', project, '--prompt', 'Ask first.'], { env: asking() });
    await waitFor(async () => /^● working\.\.\.$/m.test(await pane(h, 'codex-orphan')), 'the first message in the pane');
    for (const pid of hubs(h)) process.kill(pid, 'SIGKILL');
    await waitFor(() => hubs(h).length === 0, 'the hub gone');
    await waitFor(async () => /\[y\/n\]/.test(await pane(h, 'codex-orphan')), 'the question');
    await h.ok(['send', 'orphan', 'y']);
    const exitFile = path.join(h.store.paths.attemptDir('codex-orphan', 1), 'exit');
    await waitFor(() => fs.existsSync(exitFile), 'the agent\'s exit');
    const exitAt = Date.now();
    // It waits up to 10 s for a live hub; for a dead one, not at all (the second it may take to look).
    await waitFor(() => paneDead(h, 'codex-orphan'), 'the pane to end', 20_000);
    const took = Date.now() - exitAt;
    assert.ok(took < 3_000, `the pane ended ${took} ms after the agent`);
    assert.match(await pane(h, 'codex-orphan'), /__TASK_DONE__/);
  });

  it('stopped with SIGSTOP at the end of a run: the runner still ends (its pane dies), and the hub continued writes nowhere', async () => {
    const project = h.project('p', ['ask']);
    await h.ok(['start', 'codex', 'frozen', '--dir', project, '--prompt', 'Ask first.'], { env: asking() });
    await waitFor(async () => /^● working\.\.\.$/m.test(await pane(h, 'codex-frozen')), 'the first message in the pane');
    const [hub] = hubs(h);
    await waitFor(async () => /\[y\/n\]/.test(await pane(h, 'codex-frozen')), 'the question');
    process.kill(hub, 'SIGSTOP');
    try {
      await h.ok(['send', 'frozen', 'y']);
      await waitFor(() => paneDead(h, 'codex-frozen'), 'the pane to end', 20_000);
      assert.match(await pane(h, 'codex-frozen'), /__TASK_DONE__/);
    } finally {
      process.kill(hub, 'SIGCONT');
    }
    // Continued, it finds the pane closed: nothing after the runner's last word.
    await waitFor(() => fs.readdirSync(h.store.paths.transcriptsDir).length === 0, 'the hub to let the attempt go');
    const text = (await pane(h, 'codex-frozen')).trimEnd();
    assert.match(text.split('\n').filter((l) => l.trim() && !/^Pane is dead/.test(l)).at(-1) ?? '', /__TASK_DONE__/, text);
    assert.ok(processAlive(hub), 'the hub lives on');
  });

  it('twenty tasks share one hub, each pane showing its own agent', async () => {
    // All twenty running at once (the queue's default limit would hold four of them back).
    h.configure({ 'supervisor.mode': 'window', 'queue.maxRunning': 1000 });
    const names = Array.from({ length: 20 }, (_, i) => `t${i}`);
    for (let i = 0; i < names.length; i += 5) {
      await Promise.all(names.slice(i, i + 5).map((n) => h.ok(['start', 'codex', n, '--dir', h.project(n, ['hang']), '--prompt', `Task ${n}.`])));
    }
    await waitFor(async () => (await Promise.all(names.map(async (n) => /^● working\.\.\.$/m.test(await pane(h, `codex-${n}`))))).every(Boolean), 'every pane to show its transcript', 60_000);
    // The runner's own `> file` writes hold its standard output for a moment: the hub, opening the
    // pane through it, must never have written the transcript into one of those files instead.
    for (const n of names) {
      const d = h.store.paths.attemptDir(`codex-${n}`, 1);
      for (const f of ['pid', 'tmux']) assert.match(fs.readFileSync(path.join(d, f), 'utf8'), /^[^\n]*\n$/, `${n}: ${f} holds one line`);
    }
    assert.equal(hubs(h).length, 1, `one hub: ${hubs(h).join(', ')}`);
    for (const n of names) {
      const runner = await h.runnerPid(`codex-${n}`, 1);
      const attemptDir = h.store.paths.attemptDir(`codex-${n}`, 1);
      const agent = processesWithEnv(`${ATTEMPT_ENV}=${attemptDir}`);
      const agentTree = new Set([...agent, ...descendantsOf(agent)]);
      assert.deepEqual(descendantsOf([runner]).filter((pid) => !agentTree.has(pid)), [], `${n}: nothing beside the agent`);
    }
  });

  it('exits once idle; an attempt started while it decides to exit is still shown', async () => {
    // Idle: the hub a start made exits once its run is over.
    const quick = { ...h.env, RESILIENT_AGENT_HUB_IDLE_MS: '300' };
    await h.ok(['start', 'codex', 'first', '--dir', h.project('first', ['ok']), '--prompt', 'Quick.'], { env: quick });
    await waitFor(async () => /^● done: 6 characters of prompt$/m.test(await pane(h, 'codex-first')), 'the first task shown');
    await waitFor(() => hubs(h).length === 0 && lockHolder(h) === undefined, 'the idle hub to exit and let its lock go');
    // A hub of this process, which a start reaches between its decision to exit and its lock let go:
    // the start sees it alive and starts none.
    let started = false;
    const hub = new RenderHub({
      paths: h.store.paths,
      hostKey: hostIdentity(tmuxServerPath(h.socket, h.env)).key,
      locks: new LockManager(h.store.paths.locksDir, 'test hub'),
      idleMs: 200,
      beforeRelease: async () => {
        if (started) return;
        started = true;
        await h.ok(['start', 'codex', 'late', '--dir', h.project('late', ['ok']), '--prompt', 'Late.']);
      },
    });
    const ran = hub.run();
    try {
      await waitFor(() => started, 'the start during the exit');
      await waitFor(async () => /__TASK_DONE__/.test(await pane(h, 'codex-late')), 'the late task to end', 30_000);
      assert.match(await pane(h, 'codex-late'), /^● done: 5 characters of prompt$/m, 'shown by the hub that was exiting');
      assert.deepEqual(hubs(h), [], 'no other hub was started');
      assert.equal(await ran, 'idle');
    } finally {
      hub.stop();
      await ran;
    }
  });

  it('a pane that takes nothing (its terminal full) never holds up another: the hub writes without blocking', async () => {
    const paths = new StatePaths(path.join(h.root, 'hub-state'));
    const say = (text: string) => `${JSON.stringify({ type: 'item.completed', item: { type: 'agent_message', text } })}\n`;
    // Two runners (as the hub knows them: by their argv), one writing into a FIFO nobody reads.
    const runner = (name: string, stdout: number) => {
      const dir = path.join(h.root, name);
      fs.mkdirSync(dir, { recursive: true });
      const child = spawn('bash', ['-c', 'sleep 1000; :', 'resilient-agent-runner', dir], { stdio: ['ignore', stdout, 'ignore'] });
      fs.writeFileSync(path.join(dir, 'pid'), `${child.pid}\n`);
      return { dir, child };
    };
    const fifo = path.join(h.root, 'stuck.fifo');
    execFileSync('mkfifo', [fifo]);
    const held = fs.openSync(fifo, 'r+'); // open for reading, never read
    const stuck = runner('stuck', held);
    // The other pane's output: a FIFO a reader copies into a file (a socket, as Node's pipes are,
    // cannot be opened through /proc; a file the hub takes for one of the runner's own writes).
    const out = path.join(h.root, 'live.out');
    const liveFifo = path.join(h.root, 'live.fifo');
    execFileSync('mkfifo', [liveFifo]);
    const outFd = fs.openSync(out, 'a');
    const reader = spawn('cat', [liveFifo], { stdio: ['ignore', outFd, 'ignore'] });
    const liveFd = fs.openSync(liveFifo, 'r+');
    const live = runner('live', liveFd);
    const seen = () => fs.readFileSync(out, 'utf8');
    // Three MB of messages for the stuck pane (far more than its terminal holds), one for the other.
    fs.writeFileSync(path.join(stuck.dir, 'events.jsonl'), say('x'.repeat(100)).repeat(30_000));
    writeEntry(paths, 'codex-stuck', 1, { host: 'test', attemptDir: stuck.dir, agent: 'codex' });
    const hub = new RenderHub({ paths, hostKey: 'test', locks: new LockManager(paths.locksDir, 'test hub'), idleMs: 60_000 });
    const ran = hub.run();
    try {
      // The hub has the stuck pane's terminal open (this process's second descriptor of the FIFO).
      const opened = () => fs.readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return fs.readlinkSync(`/proc/self/fd/${fd}`) === fifo;
        } catch {
          return false;
        }
      }).length;
      await waitFor(() => opened() >= 2, 'the hub writing to the stuck pane');
      fs.writeFileSync(path.join(live.dir, 'events.jsonl'), say('hello'));
      writeEntry(paths, 'codex-live', 1, { host: 'test', attemptDir: live.dir, agent: 'codex' });
      await waitFor(() => seen().includes('● hello'), 'the other pane shown', 10_000);
      fs.appendFileSync(path.join(live.dir, 'events.jsonl'), say('again'));
      await waitFor(() => seen().includes('● again'), 'and again', 10_000);
    } finally {
      hub.stop();
      await ran;
      stuck.child.kill('SIGKILL');
      live.child.kill('SIGKILL');
      reader.kill('SIGKILL');
      fs.closeSync(held);
      fs.closeSync(outFd);
      fs.closeSync(liveFd);
    }
  });

  it('a runner caught while its standard output is one of its own files for a moment: the hub opens the pane again later, and writes nothing into that file', async () => {
    const paths = new StatePaths(path.join(h.root, 'hub-state'));
    const say = (text: string) => `${JSON.stringify({ type: 'item.completed', item: { type: 'agent_message', text } })}\n`;
    const fifoReader = (name: string) => {
      const fifo = path.join(h.root, `${name}.fifo`);
      const out = path.join(h.root, `${name}.out`);
      execFileSync('mkfifo', [fifo]);
      const outFd = fs.openSync(out, 'a');
      const reader = spawn('cat', [fifo], { stdio: ['ignore', outFd, 'ignore'] });
      fs.closeSync(outFd);
      return { fd: fs.openSync(fifo, 'r+'), seen: () => fs.readFileSync(out, 'utf8'), reader };
    };
    const pane = fifoReader('pane');
    const other = fifoReader('other');
    const go = path.join(h.root, 'go.fifo');
    execFileSync('mkfifo', [go]);
    const dirs = { busy: path.join(h.root, 'busy'), other: path.join(h.root, 'other') };
    for (const d of Object.values(dirs)) fs.mkdirSync(d);
    const written = path.join(dirs.busy, 'tmux.tmp');
    // As the runner's `put`: its standard output is a file of its folder until told to go on.
    const busy = spawn('bash', ['-c', 'exec 3>&1 1>"$2"; read -r _ < "$3"; exec 1>&3 3>&-; sleep 1000; :', 'resilient-agent-runner', dirs.busy, written, go], { stdio: ['ignore', pane.fd, 'ignore'] });
    const calm = spawn('bash', ['-c', 'sleep 1000; :', 'resilient-agent-runner', dirs.other], { stdio: ['ignore', other.fd, 'ignore'] });
    await waitFor(() => fs.existsSync(written), 'the busy runner writing its file');
    fs.writeFileSync(path.join(dirs.busy, 'pid'), `${busy.pid}\n`);
    fs.writeFileSync(path.join(dirs.other, 'pid'), `${calm.pid}\n`);
    fs.writeFileSync(path.join(dirs.busy, 'events.jsonl'), say('busy pane'));
    fs.writeFileSync(path.join(dirs.other, 'events.jsonl'), say('other pane'));
    writeEntry(paths, 'codex-busy', 1, { host: 'test', attemptDir: dirs.busy, agent: 'codex' });
    writeEntry(paths, 'codex-other', 1, { host: 'test', attemptDir: dirs.other, agent: 'codex' });
    const hub = new RenderHub({ paths, hostKey: 'test', locks: new LockManager(paths.locksDir, 'test hub'), idleMs: 60_000 });
    const ran = hub.run();
    try {
      // The hub has looked at both entries (the same first rescan) once the other pane shows.
      await waitFor(() => other.seen().includes('● other pane'), 'the other pane shown', 10_000);
      assert.equal(fs.readFileSync(written, 'utf8'), '', 'nothing written into the runner\'s file');
      fs.writeFileSync(go, 'go\n');
      await waitFor(() => pane.seen().includes('● busy pane'), 'the busy pane shown once its output is the pane again', 10_000);
      assert.equal(fs.readFileSync(written, 'utf8'), '');
    } finally {
      hub.stop();
      await ran;
      for (const c of [busy, calm, pane.reader, other.reader]) c.kill('SIGKILL');
      fs.closeSync(pane.fd);
      fs.closeSync(other.fd);
    }
  });
  it('after an upgrade: an entry of the older build (one hub for every host) is left to that build\'s hub while it runs, then shown here', async () => {
    const paths = new StatePaths(path.join(h.root, 'hub-state'));
    const say = (text: string) => `${JSON.stringify({ type: 'item.completed', item: { type: 'agent_message', text } })}\n`;
    const made: { runner: ChildProcess; reader: ChildProcess; fd: number }[] = [];
    // A runner (as the hub knows it: by its argv) whose pane is a FIFO a reader copies into a file.
    const attempt = (name: string, text: string) => {
      const fifo = path.join(h.root, `${name}.fifo`);
      const out = path.join(h.root, `${name}.out`);
      execFileSync('mkfifo', [fifo]);
      const outFd = fs.openSync(out, 'a');
      const reader = spawn('cat', [fifo], { stdio: ['ignore', outFd, 'ignore'] });
      fs.closeSync(outFd);
      const fd = fs.openSync(fifo, 'r+');
      const dir = path.join(h.root, name);
      fs.mkdirSync(dir);
      const runner = spawn('bash', ['-c', 'sleep 1000; :', 'resilient-agent-runner', dir], { stdio: ['ignore', fd, 'ignore'] });
      made.push({ runner, reader, fd });
      fs.writeFileSync(path.join(dir, 'pid'), `${runner.pid}\n`);
      fs.writeFileSync(path.join(dir, 'events.jsonl'), say(text));
      return { dir, seen: () => fs.readFileSync(out, 'utf8') };
    };
    const old = attempt('old', 'from the older build');
    const now = attempt('new', 'from this build');
    // As the older build wrote it: version 1, no host; its hub (alive: this process) holds the one lock of then.
    fs.mkdirSync(paths.transcriptsDir, { recursive: true });
    fs.writeFileSync(path.join(paths.transcriptsDir, 'codex-old.1.json'), JSON.stringify({ version: 1, attemptDir: old.dir, agent: 'codex' }));
    writeEntry(paths, 'codex-new', 1, { host: 'test', attemptDir: now.dir, agent: 'codex' });
    const oldHub = new LockManager(paths.locksDir, 'older hub').tryAcquire(LEGACY_HUB_LOCK)!;
    const hub = new RenderHub({ paths, hostKey: 'test', locks: new LockManager(paths.locksDir, 'test hub'), idleMs: 60_000 });
    const ran = hub.run();
    try {
      // Both entries looked at in the same rescan: this build's shown, the older one left to its hub.
      await waitFor(() => now.seen().includes('● from this build'), 'this build\'s pane shown', 10_000);
      assert.equal(old.seen(), '', 'shown by the older build\'s hub only, not twice');
      oldHub.release();
      await waitFor(() => old.seen().includes('● from the older build'), 'shown here once the older hub is gone', 10_000);
    } finally {
      hub.stop();
      await ran;
      for (const m of made) {
        m.runner.kill('SIGKILL');
        m.reader.kill('SIGKILL');
        fs.closeSync(m.fd);
      }
    }
  });
});
