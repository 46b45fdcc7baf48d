import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { harnessPerTest, waitFor } from './harness';

/**
 * The queue, as a person meets it: the default supervision (the background supervisor, its 180 s
 * timer), limits in the state dir's config.json, fixture agents that run until told to end
 * (`retry`: they wait for .fixture-release in their folder). Nobody runs a command between a slot
 * freeing and the next start: the supervisor starts it by itself, at once.
 */
describe('the queue', function () {
  this.timeout(90_000);
  const h = harnessPerTest();

  /** A task that runs until released, in a folder of its own. */
  function project(name: string, plan = ['retry']): string {
    return h.project(name, plan);
  }

  function release(dir: string): void {
    fs.writeFileSync(path.join(dir, '.fixture-release'), '');
  }

  async function start(agent: string, name: string, dir: string, extra: string[] = []): Promise<string> {
    return h.ok(['start', agent, name, '--dir', dir, '--prompt', `do ${name}`, ...extra]);
  }

  async function state(name: string): Promise<{ state: string; reason: string | null; attempts: { n: number; cause: string; mode: string; note: string | null }[]; queue: { place: number; of: number } | null }> {
    return JSON.parse(await h.ok(['status', name, '--json']));
  }

  /** How many times the fixture agent ran in a folder. */
  function runs(dir: string): number {
    return h.invocations(dir).length;
  }

  it('starts queued tasks first in first out the moment a slot frees, with no command run meanwhile', async () => {
    h.configure({ 'queue.maxRunning': 2 });
    const dirs = ['a', 'b', 'c', 'd'].map((n) => project(n));
    assert.match(await start('codex', 'a', dirs[0]), /^started codex-a/);
    assert.match(await start('claude', 'b', dirs[1]), /^started claude-b/);
    assert.match(await start('codex', 'c', dirs[2]), /^queued codex-c: 2 of 2 running/);
    assert.match(await start('pi', 'd', dirs[3]), /^queued pi-d: 2 of 2 running/);
    const list = await h.ok(['list']);
    assert.match(list, /codex-c\s+queued 1 of 2/);
    assert.match(list, /pi-d\s+queued 2 of 2/);
    assert.equal((await state('c')).queue?.place, 1);
    assert.match(await h.ok(['queue']), /limits: 2 of 2 running[^\n]*\n\s+1\. codex-c\s+queued: 2 of 2 running\n\s+2\. pi-d/);
    assert.equal(runs(dirs[2]) + runs(dirs[3]), 0, 'nothing queued has run');
    // A slot frees by itself (the agent ends): the first queued starts, the second waits.
    release(dirs[0]);
    await waitFor(() => runs(dirs[2]) === 1, 'codex-c started by the supervisor');
    assert.equal(runs(dirs[3]), 0, 'pi-d still waits');
    const d = await state('d');
    assert.equal(d.state, 'queued');
    assert.equal(d.queue?.place, 1);
    release(dirs[1]);
    await waitFor(() => runs(dirs[3]) === 1, 'pi-d started by the supervisor');
    for (const dir of dirs) release(dir);
    await waitFor(async () => (await Promise.all(['a', 'b', 'c', 'd'].map(state))).every((s) => s.state === 'done'), 'all four done');
    assert.deepEqual(dirs.map(runs), [1, 1, 1, 1], 'each ran once');
  });

  it('a per-agent limit lets other agents pass; reordered, killed, and started now by hand', async () => {
    h.configure({ 'queue.maxRunning': 3, 'queue.maxRunningPerAgent': { codex: 1 } });
    const dirs = Object.fromEntries(['a', 'b', 'c', 'e', 'f'].map((n) => [n, project(n)]));
    await start('codex', 'a', dirs.a);
    assert.match(await start('codex', 'b', dirs.b), /^queued codex-b: 1 of 1 codex running/);
    assert.match(await start('claude', 'c', dirs.c), /^started claude-c/, 'another agent is not held back by codex\'s limit');
    assert.match(await start('codex', 'e', dirs.e), /^queued codex-e/);
    assert.match(await start('codex', 'f', dirs.f), /^queued codex-f/);
    assert.match(await h.ok(['queue', 'move', 'f', '1']), /place 1/);
    assert.deepEqual([(await state('f')).queue?.place, (await state('b')).queue?.place, (await state('e')).queue?.place], [1, 2, 3]);
    // Killed while queued: out of the queue, never started; forgotten: gone.
    assert.match(await h.ok(['kill', 'e']), /taken out of the queue before it started/);
    assert.equal((await state('e')).state, 'held');
    await h.ok(['kill', 'e', '--forget']);
    // Started now by hand, beyond the limit, said plainly.
    assert.match(await h.ok(['queue', 'start', 'b']), /started now \(started by hand beyond the limit \(1 of 1 codex running\)\)/);
    await waitFor(() => runs(dirs.b) === 1, 'codex-b runs');
    // Two codex run now (one beyond the limit): f waits for both to end.
    release(dirs.a);
    await waitFor(async () => (await state('a')).state === 'done', 'codex-a done');
    assert.equal((await state('f')).state, 'queued');
    assert.equal(runs(dirs.f), 0);
    release(dirs.b);
    await waitFor(() => runs(dirs.f) === 1, 'codex-f started once both codex ended');
    assert.equal(runs(dirs.e), 0, 'the killed one never ran');
    for (const d of Object.values(dirs)) release(d);
  });

  it('holds starts while memory is below the floor and starts them when it frees; bad limits are refused', async () => {
    const meminfo = path.join(h.root, 'meminfo');
    fs.writeFileSync(meminfo, 'MemTotal: 4000000 kB\nMemAvailable:  300000 kB\n');
    h.configure({ 'queue.minFreeMemoryMB': 1024 });
    const env = { ...h.env, RESILIENT_AGENT_MEMINFO: meminfo };
    const dir = project('m');
    assert.match(await h.ok(['start', 'codex', 'm', '--dir', dir, '--prompt', 'x'], { env }), /^queued codex-m: 293 MB free, 1.0 GB needed/);
    assert.match(await h.ok(['status', 'm'], { env }), /codex-m: queued: 293 MB free, 1.0 GB needed \(place 1 of 1 in the queue\)/);
    // The supervisor was started by that command, with that environment: memory frees.
    fs.writeFileSync(meminfo, 'MemTotal: 4000000 kB\nMemAvailable: 3000000 kB\n');
    await waitFor(() => runs(dir) === 1, 'started once memory freed');
    release(dir);
    for (const [flag, value] of [['--max-running', '0'], ['--max-running', '-1'], ['--max-running', 'two'], ['--min-free-memory-mb', '0'], ['--per-agent', 'codex=0']]) {
      const r = await h.cli(['queue', 'limits', flag, value]);
      assert.equal(r.code, 2, `${flag} ${value}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
      assert.match(r.stderr, /must be a whole number of at least 1/);
    }
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(h.home, 'config.json'), 'utf8')), { 'queue.minFreeMemoryMB': 1024 }, 'nothing written');
  });

  it('a crashed task\'s resume keeps its slot and goes before a queued start', async () => {
    h.configure({ 'queue.maxRunning': 1 });
    const a = project('a', ['hang', 'retry']);
    const b = project('b');
    await start('codex', 'a', a);
    assert.match(await start('codex', 'b', b), /^queued/);
    await h.sessionIdKnown('codex-a');
    await h.crash('codex-a', 1);
    await waitFor(() => runs(a) === 2, 'codex-a resumed');
    assert.equal(h.invocations(a)[1].mode, 'resume');
    assert.equal(runs(b), 0, 'the queued start still waits: the resume kept the slot');
    assert.equal((await state('b')).state, 'queued');
    release(a);
    await waitFor(() => runs(b) === 1, 'codex-b starts once codex-a is done');
    release(b);
  });

  it('queued tasks survive the supervisor\'s death, and one killed -9 while it starts them runs each exactly once', async () => {
    h.configure({ 'queue.maxRunning': 1 });
    const first = project('first');
    await start('codex', 'first', first);
    const names = ['q1', 'q2', 'q3', 'q4'];
    const dirs = names.map((n) => project(n, ['ok']));
    for (const [i, n] of names.entries()) await start('claude', n, dirs[i]);
    const supervisorPid = async () => {
      const s = JSON.parse(await h.ok(['supervisor', 'status', '--json'])) as { running: boolean; background: boolean; holder: { pid: number } | null };
      return s.running && s.background ? s.holder?.pid : undefined;
    };
    // Killed with nothing to do: the queue is all in the records.
    process.kill(await waitFor(supervisorPid, 'the background supervisor'), 'SIGKILL');
    assert.match(await h.ok(['queue']), /1\. claude-q1[\s\S]*4\. claude-q4/);
    // A slot frees; each time the supervisor starts the next one it is killed -9 at some point of it.
    release(first);
    const allRan = () => dirs.every((d) => runs(d) > 0);
    for (let round = 0; round < 8 && !allRan(); round++) {
      // (The supervisor leaves by itself once nothing is left to supervise.)
      const pid = await waitFor(async () => (allRan() ? -1 : await supervisorPid()), 'a background supervisor');
      if (pid === -1) break;
      await new Promise((r) => setTimeout(r, round * 40)); // a different moment of its work each round
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* it ended by itself */
      }
      await h.ok(['list']); // the next command replaces the dead supervisor
    }
    await h.ok(['list']);
    await waitFor(async () => (await Promise.all(names.map(state))).every((s) => s.state === 'done'), 'every queued task done', 60_000);
    assert.deepEqual(dirs.map(runs), [1, 1, 1, 1], 'each queued task ran exactly once');
    // An attempt written but never launched (killed between its record and tmux) is seen as lost and
    // launched again: one attempt whose runner ran, per task.
    for (const n of names) {
      const ran = (await state(n)).attempts.filter((a) => fs.existsSync(path.join(h.store.paths.attemptDir(`claude-${n}`, a.n), 'pid')));
      assert.equal(ran.length, 1, `${n}: one attempt ran`);
    }
  });

  it('a queued task whose record is damaged is rebuilt, still queued, and started once', async () => {
    h.configure({ 'queue.maxRunning': 1, 'supervisor.mode': 'window' });
    const a = project('a');
    const b = project('b', ['ok']);
    await start('codex', 'a', a);
    assert.match(await start('codex', 'b', b), /^queued/);
    fs.writeFileSync(h.store.paths.recordFile('codex-b'), '{"version": 5, "na');
    await h.ok(['monitor', '--once']);
    assert.equal((await state('b')).state, 'queued', 'rebuilt as queued');
    assert.equal(runs(b), 0);
    release(a);
    // No supervisor in this world: each look is one pass of `monitor --once`.
    await waitFor(async () => {
      await h.ok(['monitor', '--once']);
      return runs(b) === 1;
    }, 'codex-a done and codex-b started');
    await h.ok(['monitor', '--once']);
    assert.equal(runs(b), 1);
  });
});
