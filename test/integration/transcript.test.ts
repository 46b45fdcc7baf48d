import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AGENT_IDS } from '../../src/core/model/names';
import { CLI, harnessPerTest, waitFor } from './harness';

/** Pids of processes whose argv holds every one of these elements. */
function processesWith(...parts: string[]): number[] {
  const found: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      const state = fs.readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]?.[0];
      if (state !== 'Z' && parts.every((p) => argv.includes(p))) found.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return found;
}

const JSON_LINE = /^\s*\{"/m;

/** What a person reads of an agent: its transcript in the pane, `logs`, `status`; the raw events stay. */
describe('transcripts, last words and tokens', function () {
  this.timeout(60_000);
  const h = harnessPerTest();

  const done = (session: string) => waitFor(async () => (await h.status(session)).state === 'done', `${session} done`);

  for (const agent of AGENT_IDS) {
    it(`${agent}: logs, the pane and status show what the agent said, not its JSON; --events and the events file keep it`, async () => {
      const project = h.project('p', ['ok']);
      await h.ok(['start', agent, 'read', '--dir', project, '--prompt', 'Read the parser.']);
      await done(`${agent}-read`);
      const said = `done: ${'Read the parser.'.length} characters of prompt`;
      const logs = await h.ok(['logs', 'read']);
      assert.doesNotMatch(logs, JSON_LINE, logs);
      assert.match(logs, new RegExp(`^── attempt 1: started at .*──$`, 'm'));
      assert.match(logs, new RegExp(`^● ${said}$`, 'm'));
      assert.match(logs, /^· tokens: 100 in \(40 cached\) · 10 out/m);
      const pane = await h.ok(['logs', 'read', '--raw']);
      assert.match(pane, new RegExp(`^● ${said}$`, 'm'), `the pane shows the transcript:\n${pane}`);
      assert.doesNotMatch(pane, JSON_LINE, pane);
      const events = await h.ok(['logs', 'read', '--events']);
      assert.match(events, JSON_LINE);
      assert.ok(events.split('\n').filter(Boolean).every((l) => JSON.parse(l)), 'every line an event');
      const status = await h.ok(['status', 'read']);
      assert.match(status, new RegExp(`^last message:\\n  ${said}$`, 'm'));
      const list = await h.ok(['list']);
      assert.match(list, /TOKENS/);
      assert.match(list, new RegExp(`^${agent}-read\\s+done\\s+1\\s+\\S+\\s+100 in / 10 out`, 'm'));
    });

    it(`${agent}: status --json has each attempt's last message and tokens after a crash and a resume, and their sum`, async () => {
      const project = h.project('p', ['crash', 'ok']);
      const monitor = h.monitor(['--interval', '0.2']);
      await h.ok(['start', agent, 'sum', '--dir', project, '--prompt', 'Sum it up.']);
      await done(`${agent}-sum`);
      await h.stop(monitor);
      const s = JSON.parse(await h.ok(['status', 'sum', '--json']));
      assert.deepEqual(s.attempts.map((a: { cause: string }) => a.cause), ['start', 'crash']);
      assert.equal(s.attempts[0].lastMessage, 'about to crash');
      const said = `done: ${'Continue the previous task from where it stopped.'.length} characters of prompt`;
      assert.equal(s.attempts[1].lastMessage, said);
      assert.equal(s.lastMessage, said);
      // One model call per run, 100 tokens in (40 cached) and 10 out. codex counts its whole thread
      // (it reports nothing until a turn ends): its resumed attempt reports both calls.
      const first = agent === 'codex' ? null : { inputTokens: 100, cachedInputTokens: 40, outputTokens: 10, ...(agent === 'claude' ? {} : { costUsd: 0.01 }) };
      const second = agent === 'codex' ? { inputTokens: 200, cachedInputTokens: 80, outputTokens: 20 } : { inputTokens: 100, cachedInputTokens: 40, outputTokens: 10, costUsd: 0.01 };
      assert.deepEqual(s.attempts[0].usage, first);
      assert.deepEqual(s.attempts[1].usage, second);
      const cost = agent === 'codex' ? undefined : agent === 'claude' ? 0.01 : 0.02;
      assert.deepEqual({ ...s.usage, costUsd: s.usage.costUsd === undefined ? undefined : Math.round(s.usage.costUsd * 1000) / 1000 }, { inputTokens: 200, cachedInputTokens: 80, outputTokens: 20, costUsd: cost });
      if (agent !== 'claude') return;
      // Read from the end attempt by attempt: any number of last lines is the whole transcript's last lines.
      const whole = (await h.ok(['logs', 'sum', '--lines', '1000'])).replace(/\n$/, '').split('\n');
      assert.match(whole[0], /^── attempt 1: started/);
      for (let n = 1; n <= whole.length + 1; n++) assert.deepEqual((await h.ok(['logs', 'sum', '--lines', String(n)])).replace(/\n$/, '').split('\n'), whole.slice(-n), `--lines ${n}`);
    });
  }

  // A Node `render` per pane: what panes ran before the render hub (and still do where there is no /proc).
  const perPane = () => ({ ...h.env, RESILIENT_AGENT_PANE_RENDERER: 'process' });

  it('a per-pane transcript killed with -9 mid-task: the agent runs on, every event is recorded, and it ends done', async () => {
    const project = h.project('p', ['ask']);
    await h.ok(['start', 'codex', 'robust', '--dir', project, '--prompt', 'Ask first.'], { env: { ...perPane(), FIXTURE_ASK_AFTER_MS: '1500' } });
    const attemptDir = h.store.paths.attemptDir('codex-robust', 1);
    const [renderer] = await waitFor(() => {
      const pids = processesWith('render', attemptDir);
      return pids.length ? pids : undefined;
    }, 'the transcript process');
    process.kill(renderer, 'SIGKILL');
    await waitFor(() => processesWith('render', attemptDir).length === 0, 'the transcript process gone');
    const monitor = h.monitor(['--interval', '0.2']);
    await waitFor(async () => (await h.status('robust')).state === 'waiting', 'the agent to ask');
    await h.ok(['send', 'robust', 'y']);
    await done('codex-robust');
    await h.stop(monitor);
    const events = fs.readFileSync(path.join(attemptDir, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(events.map((e) => e.type), ['thread.started', 'item.completed', 'item.completed', 'turn.completed']);
    assert.equal(events[2].item.text, 'answered: y', 'what the agent said after its transcript died');
    const s = JSON.parse(await h.ok(['status', 'robust', '--json']));
    assert.equal(s.lastMessage, 'answered: y');
    assert.equal(s.attempts[0].exitCode, 0);
    assert.match(await h.ok(['logs', 'robust']), /^● answered: y$/m, 'logs reads the file, not the pane');
    // bash reports a background job killed by a signal once its foreground command ends: not in the pane.
    const pane = await h.ok(['logs', 'robust', '--raw']);
    assert.match(pane, /__TASK_DONE__/, pane);
    assert.doesNotMatch(pane, /Killed/, pane);
  });
  it('a per-pane transcript stopped with SIGSTOP: the runner still ends (its pane dies) once the agent has', async () => {
    const project = h.project('p', ['ask']);
    await h.ok(['start', 'codex', 'frozen', '--dir', project, '--prompt', 'Ask first.'], { env: { ...perPane(), FIXTURE_ASK_AFTER_MS: '1500' } });
    const attemptDir = h.store.paths.attemptDir('codex-frozen', 1);
    const [renderer] = await waitFor(() => {
      const pids = processesWith('render', attemptDir);
      return pids.length ? pids : undefined;
    }, 'the transcript process');
    process.kill(renderer, 'SIGSTOP');
    const monitor = h.monitor(['--interval', '0.2']);
    await waitFor(async () => (await h.status('frozen')).state === 'waiting', 'the agent to ask');
    await h.ok(['send', 'frozen', 'y']);
    await done('codex-frozen');
    await h.stop(monitor);
    await waitFor(async () => (await h.tmux(['list-panes', '-t', '=codex-frozen', '-F', '#{pane_dead}'])).stdout.trim() === '1', 'the pane dead', 20_000);
    assert.deepEqual(processesWith('render', attemptDir), []);
    assert.match((await h.ok(['logs', 'frozen', '--raw'])).trim(), /__TASK_DONE__/);
  });
  it('logs of a long attempt (a hundred thousand events and more): its last lines, not a stack overflow', async () => {
    const project = h.project('p', ['ok']);
    await h.ok(['start', 'codex', 'long', '--dir', project, '--prompt', 'Talk a lot.']);
    await done('codex-long');
    const line = `${JSON.stringify({ type: 'item.completed', item: { type: 'agent_message', text: 'again' } })}\n`;
    fs.appendFileSync(path.join(h.store.paths.attemptDir('codex-long', 1), 'events.jsonl'), line.repeat(200_000));
    assert.equal((await h.ok(['logs', 'long', '--lines', '2'])).trim(), '● again\n● again');
    assert.equal((await h.ok(['logs', 'long', '--lines', '2', '--events'])).trim(), `${line}${line}`.trim());
  });

  /** Appends `mb` MiB of whole event lines, fast: one block of lines written again and again. */
  function appendEvents(file: string, line: string, mb: number): void {
    const block = Buffer.from(line.repeat(Math.ceil((4 * 1024 * 1024) / line.length)));
    const fd = fs.openSync(file, 'a');
    try {
      for (let written = 0; written < mb * 1024 * 1024; written += block.length) fs.writeSync(fd, block);
    } finally {
      fs.closeSync(fd);
    }
  }

  const say = (text: string) => `${JSON.stringify({ type: 'item.completed', item: { type: 'agent_message', text } })}\n`;

  it('logs --lines 3 of a 256 MB events file reads only its end: in a 64 MB heap, transcript and --events', async () => {
    const project = h.project('p', ['ok']);
    await h.ok(['start', 'codex', 'big', '--dir', project, '--prompt', 'Talk a lot.']);
    await done('codex-big');
    // Its end recorded (a supervisor's pass): the file is not read again for the attempt's summary.
    await h.ok(['monitor', '--once']);
    assert.ok(h.record('codex-big')!.attempts[0].endedAt);
    const file = path.join(h.store.paths.attemptDir('codex-big', 1), 'events.jsonl');
    appendEvents(file, say('filler'), 256);
    fs.appendFileSync(file, say('the end'));
    // A whole read holds the file's lines in the heap: past 64 MB it dies.
    const small = { env: { ...h.env, NODE_OPTIONS: '--max-old-space-size=64' } };
    const t0 = Date.now();
    const logs = await h.cli(['logs', 'big', '--lines', '3'], small);
    const took = Date.now() - t0;
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout.trim(), /^● filler\n● the end\n── attempt 1 exited 0 after .* ──$/);
    const events = await h.cli(['logs', 'big', '--lines', '2', '--events'], small);
    assert.equal(events.code, 0, events.stderr);
    assert.equal(events.stdout.trim(), `${say('filler')}${say('the end')}`.trim());
    // More lines than the first window holds: it grows until they are read.
    const more = (await h.cli(['logs', 'big', '--lines', '5000'], small)).stdout.trim().split('\n');
    assert.deepEqual([more.length, more.filter((l) => l === '● filler').length, more.at(-2)], [5000, 4998, '● the end']);
    const raw = (await h.cli(['logs', 'big', '--lines', '5000', '--events'], small)).stdout.trim().split('\n');
    assert.deepEqual([raw.length, raw.filter((l) => `${l}\n` === say('filler')).length], [5000, 4999]);
    assert.ok(took < 10_000, `logs took ${took} ms`);
  });

  it('the pane\'s transcript under a burst (300 MB written while it reads): it skips ahead, stays alive and small', async () => {
    const dir = path.join(h.root, 'burst');
    fs.mkdirSync(dir);
    const file = path.join(dir, 'events.jsonl');
    fs.writeFileSync(file, say('before'));
    const child = spawn(process.execPath, [CLI, 'render', dir, '--agent', 'codex', '--follow'], {
      env: { ...h.env, NODE_OPTIONS: '--max-old-space-size=64' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const ended = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(() => out.includes('● before'), 'the first event shown');
      // Short lines, written faster than they can be read: a reader that follows the file to its
      // end while it grows reads all of it at once.
      appendEvents(file, say('x'), 300);
      fs.appendFileSync(file, say('after the burst'));
      await waitFor(() => out.includes('● after the burst') || child.exitCode !== null, 'the event after the burst shown');
      assert.equal(child.exitCode, null, `the transcript died: ${err.slice(-500)}`);
      const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) * 1024;
      assert.ok(hwm < 256 * 1024 * 1024, `its peak RSS ${Math.round(hwm / 1024 / 1024)} MB`);
      assert.match(out, /· [\d,]+ bytes of events not shown here \(resilient-agent logs shows them all\)/);
      fs.writeFileSync(path.join(dir, 'exit'), '0\n');
      assert.equal(await ended, 0, err);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
