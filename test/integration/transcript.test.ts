import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AGENT_IDS } from '../../src/core/model/names';
import { harnessPerTest, waitFor } from './harness';

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
    });
  }

  it('the transcript killed with -9 mid-task: the agent runs on, every event is recorded, and it ends done', async () => {
    const project = h.project('p', ['ask']);
    await h.ok(['start', 'codex', 'robust', '--dir', project, '--prompt', 'Ask first.'], { env: { ...h.env, FIXTURE_ASK_AFTER_MS: '1500' } });
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
  });
  it('the transcript stopped with SIGSTOP: the runner still ends (its pane dies) once the agent has', async () => {
    const project = h.project('p', ['ask']);
    await h.ok(['start', 'codex', 'frozen', '--dir', project, '--prompt', 'Ask first.'], { env: { ...h.env, FIXTURE_ASK_AFTER_MS: '1500' } });
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
});
