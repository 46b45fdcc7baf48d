// Each agent's events as a person reads them, and what they add up to (last word, tokens).
// The streams in test/fixtures/events/ were recorded from the real CLIs at the pinned versions
// (codex-cli 0.171.0, Claude Code 2.1.332, opencode 1.18.33, pi 0.73.1) by the end-to-end suite:
//   E2E_RECORD=DIR npx mocha --timeout 300000 out/test/e2e/agents.test.js -g "one shell tool call|killed with -9|follow-up on a done"
// (tool-call: "one shell tool call"; killed / resumed: attempts 1 and 2 of "killed with -9";
// follow-up: attempt 2 of "a follow-up on a done task").
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { adapterFor } from '../../src/core/agents/registry';
import { printable, Renderer, summarize } from '../../src/core/agents/transcript';
import type { AgentId } from '../../src/core/model/names';
import { sumUsage, UsageSchema } from '../../src/core/model/record';
import { followEvents } from '../../src/core/ops/transcript';
import { EventSummaries } from '../../src/core/store/events';

const FIXTURES = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'events');

function lines(file: string): string[] {
  return fs.readFileSync(path.join(FIXTURES, file), 'utf8').split('\n');
}

function render(agent: AgentId, input: string[]): string[] {
  const r = new Renderer(adapterFor(agent));
  return input.flatMap((l) => r.line(l));
}

const TOOL_CALL: Record<AgentId, string[]> = {
  codex: ['· codex thread 01a2347c-a2b9-7840-b412-44b6d786048b', '▶ shell: echo hi > out.txt', '  ⎿ no output', '● Created out.txt.', '· tokens: 20 in · 10 out'],
  claude: ['· Claude Code · model claude-opus-5-5 · session c3b472aa-5ce5-4cdc-85f9-d9b4a67c50b6', '▶ Bash: echo hi > out.txt', '  ⎿ (Bash completed with no output)', '● Created out.txt.', '· tokens: 20 in · 10 out · $0.0003'],
  opencode: ['▶ bash: echo hi > out.txt', '  ⎿ (no output)', '● Created out.txt.', '· tokens: 20 in · 10 out'],
  pi: ['· pi session 01a2347d-2868-7707-9114-4971df1c1a43', '▶ bash: echo hi > out.txt', '  ⎿ (no output)', '● Created out.txt.', '· tokens: 20 in · 10 out'],
};

describe('transcripts: each agent\'s recorded events, readable', () => {
  for (const agent of ['codex', 'claude', 'opencode', 'pi'] as const) {
    describe(agent, () => {
      it('a tool call: the command, its result, the agent\'s message and the turn\'s tokens; no raw JSON', () => {
        const out = render(agent, lines(`${agent}-tool-call.jsonl`));
        assert.deepEqual(out, TOOL_CALL[agent]);
        assert.ok(out.every((l) => !l.includes('{"')), 'no JSON shown');
      });

      it('the last word and the token use of an attempt', () => {
        const s = summarize(adapterFor(agent), lines(`${agent}-tool-call.jsonl`));
        assert.equal(s.lastMessage, 'Created out.txt.');
        // The model server answers each request with 10 tokens in and 5 out; the task took two requests.
        assert.equal(s.usage?.inputTokens, 20);
        assert.equal(s.usage?.outputTokens, 10);
        assert.equal(s.usage?.cachedInputTokens, 0);
        // Only Claude Code reports a cost for this model (opencode and pi say 0: no price known).
        assert.equal(s.usage?.costUsd !== undefined, agent === 'claude');
      });

      it('an attempt killed with -9: what it wrote is shown, a line cut off is said, nothing throws', () => {
        const killed = lines(`${agent}-killed.jsonl`).filter((l) => l !== '');
        const cut = [...killed, '{"type":"item.completed","item":{"id":"item_9","type":"agent_mess'];
        const out = render(agent, cut);
        assert.match(out[out.length - 1], /^· an event cut off: \{"type":"item\.completed"/);
        const s = summarize(adapterFor(agent), cut);
        assert.equal(s.lastMessage, undefined, 'no message: the agent was killed before it said one');
      });
    });
  }

  it('codex counts its whole thread: a resumed attempt keeps only its own tokens', () => {
    // The follow-up's turn.completed says 40 in / 20 out: 20/10 of them were the first attempt's.
    const follow = lines('codex-follow-up.jsonl');
    assert.deepEqual(summarize(adapterFor('codex'), follow).usage, { inputTokens: 40, cachedInputTokens: 0, outputTokens: 20 });
    assert.deepEqual(summarize(adapterFor('codex'), follow, { inputTokens: 20, cachedInputTokens: 0, outputTokens: 10 }).usage, { inputTokens: 20, cachedInputTokens: 0, outputTokens: 10 });
  });

  it('Claude Code\'s cost of a resumed session is the run\'s own, not the session\'s total', () => {
    const result = lines('claude-follow-up.jsonl').map((l) => (l.startsWith('{') ? JSON.parse(l) : undefined)).find((e) => e?.type === 'result');
    assert.ok(result.total_cost_usd > 0.0005, 'the session total counts the first run too');
    const s = summarize(adapterFor('claude'), lines('claude-follow-up.jsonl'));
    assert.ok(Math.abs((s.usage?.costUsd ?? 0) - 0.00028) < 1e-9, `cost ${s.usage?.costUsd}`);
  });

  it('an event no adapter knows is shown compactly, and text that is not JSON as it is', () => {
    for (const agent of ['codex', 'claude', 'opencode', 'pi'] as const) {
      const out = render(agent, ['{"type":"from_a_future_release","payload":{"x":1}}', 'plain text the agent printed', '', '[1,2]', '{"no":"type"}']);
      assert.equal(out[0], '· from_a_future_release {"type":"from_a_future_release","payload":{"x":1}}');
      assert.equal(out[1], 'plain text the agent printed');
      assert.equal(out[2], '[1,2]', 'only JSON objects are events');
      assert.equal(out[3], '· event {"no":"type"}');
      assert.equal(out.length, 4);
    }
  });

  it('odd shapes of known events do not throw (null items, numbers where text was)', () => {
    const odd = ['{"type":"item.completed","item":null}', '{"type":"assistant","message":{"content":"x"}}', '{"type":"tool_use","part":{"state":{"output":7}}}', '{"type":"message_end","message":{"role":"assistant","content":5,"usage":{"input":"a"}}}'];
    for (const agent of ['codex', 'claude', 'opencode', 'pi'] as const) {
      assert.doesNotThrow(() => render(agent, odd));
      assert.doesNotThrow(() => summarize(adapterFor(agent), odd));
    }
  });

  it('errors, retries, failed commands and long output, in each agent\'s own words', () => {
    assert.deepEqual(render('codex', [
      '{"type":"error","message":"Reconnecting... 2/5 (stream disconnected before completion)"}',
      '{"type":"item.completed","item":{"id":"i","type":"command_execution","command":"/bin/bash -lc \'npm test\'","aggregated_output":"1\\n2\\n3\\n4\\n5\\n6\\n","exit_code":1,"status":"failed"}}',
      '{"type":"item.completed","item":{"id":"f","type":"file_change","changes":[{"path":"src/a.ts","kind":"update"},{"path":"src/b.ts","kind":"add"}],"status":"completed"}}',
      '{"type":"turn.failed","error":{"message":"stream error: 500"}}',
    ]), [
      '↻ retrying (2/5): Reconnecting... 2/5 (stream disconnected before completion)',
      '  ⎿ failed: 1', '    2', '    3', '    4', '    … 2 more lines',
      '▶ edit: src/a.ts', '▶ create: src/b.ts',
      '✗ stream error: 500',
    ]);
    assert.deepEqual(render('claude', ['{"type":"system","subtype":"api_retry","attempt":3,"max_retries":10,"retry_delay_ms":4000,"error_status":529,"error":"overloaded_error"}']), ['↻ retrying (3/10): 529 overloaded_error']);
    assert.deepEqual(render('pi', ['{"type":"auto_retry_start","attempt":1,"maxAttempts":3,"delayMs":2000,"errorMessage":"429 rate limited"}', '{"type":"auto_retry_end","success":false,"attempt":3,"finalError":"429 rate limited"}']), ['↻ retrying (1/3): 429 rate limited', '✗ 429 rate limited']);
    assert.deepEqual(render('opencode', ['{"type":"error","error":{"name":"APIError","data":{"message":"Unauthorized","statusCode":401}}}']), ['✗ Unauthorized']);
  });

  it('a summary read on as the file grows counts each line once, and starts again when the file is replaced', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ra-summary-'));
    try {
      const file = path.join(dir, 'events.jsonl');
      const all = lines('opencode-tool-call.jsonl').filter((l) => l !== '');
      const summaries = new EventSummaries();
      fs.writeFileSync(file, `${all.slice(0, 3).join('\n')}\n${all[3].slice(0, 20)}`);
      assert.deepEqual(summaries.summary(file, adapterFor('opencode'), undefined, false).usage, { inputTokens: 10, cachedInputTokens: 0, outputTokens: 5 });
      fs.writeFileSync(file, `${all.join('\n')}\n`);
      const whole = summaries.summary(file, adapterFor('opencode'), undefined, false);
      assert.deepEqual(whole.usage, { inputTokens: 20, cachedInputTokens: 0, outputTokens: 10 });
      assert.equal(whole.lastMessage, 'Created out.txt.');
      // Looked at again with nothing new: the same, not counted twice.
      assert.deepEqual(summaries.summary(file, adapterFor('opencode'), undefined, true), whole);
      fs.rmSync(file);
      fs.writeFileSync(file, `${all.slice(0, 3).join('\n')}\n`);
      assert.deepEqual(summaries.summary(file, adapterFor('opencode'), undefined, true).usage, { inputTokens: 10, cachedInputTokens: 0, outputTokens: 5 });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  it('the pane skips ahead of a long last line still being written once, not re-showing the file from its start', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ra-follow-'));
    try {
      const file = path.join(dir, 'events.jsonl');
      const msg = (text: string): string => JSON.stringify({ type: 'item.completed', item: { type: 'agent_message', text } });
      fs.writeFileSync(file, `${msg('one')}\n${'x'.repeat(6 * 1024 * 1024)}`);
      const out: string[] = [];
      let passes = 0;
      await followEvents(file, adapterFor('codex'), undefined, (t) => out.push(t), {
        stopped: () => passes >= 4,
        changed: async () => {
          if (++passes === 3) fs.appendFileSync(file, `\n${msg('two')}\n`);
        },
      });
      const shown = out.join('');
      assert.equal(shown.split('● one').length - 1, 0, shown.slice(0, 300));
      assert.equal(shown.split('● two').length - 1, 1);
      assert.equal(shown.split('not shown here').length - 1, 1);
      assert.ok(!shown.includes('xxxx'), 'the rest of the skipped line is not shown');
      assert.ok(shown.length < 1000);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  it('escape sequences and control characters in an agent\'s text are shown, never sent to the terminal', () => {
    const nasty = 'a \u001b]52;c;ZWNobyBoaQ==\u0007b \u001b]0;title\u001b\\c \u001b[2J\u001b[31md\u001b[0m \u009b31me\rf\u0000 \u001bPq#0\u001b\\g\tz';
    const events = [
      JSON.stringify({ type: 'item.completed', item: { type: 'agent_message', text: `${nasty}\nsecond ${nasty}` } }),
      JSON.stringify({ type: 'item.started', item: { type: 'command_execution', command: nasty } }),
      JSON.stringify({ type: 'item.completed', item: { type: 'command_execution', aggregated_output: nasty, exit_code: 0 } }),
      `not json ${nasty}`,
    ];
    const out = render('codex', events);
    assert.ok(out.length >= 5);
    for (const l of out) assert.doesNotMatch(l, /[\x00-\x08\x0b-\x1f\x7f-\x9f]/, JSON.stringify(l));
    assert.equal(out[0], '● a b c d e\ufffdf\ufffd g\tz');
    assert.equal(printable('plain text, ünïcode ✓\tand a tab'), 'plain text, ünïcode ✓\tand a tab');
  });
  it('token counts no record can keep (past any real count, Infinity when summed) are capped, so the attempt\'s end can be written', () => {
    const huge = { type: 'step_finish', part: { type: 'step-finish', reason: 'stop', tokens: { input: 1e308, output: 1e308, reasoning: 1e308, cache: { read: 1e308, write: 1e308 } }, cost: 1e308 } };
    const s = summarize(adapterFor('opencode'), [JSON.stringify({ ...huge, part: { ...huge.part, id: 'a' } }), JSON.stringify({ ...huge, part: { ...huge.part, id: 'b' } })]);
    assert.ok(s.usage);
    for (const v of Object.values(s.usage)) assert.ok(Number.isFinite(v) && v <= Number.MAX_SAFE_INTEGER, String(v));
    assert.ok(UsageSchema.safeParse(s.usage).success);
    const total = sumUsage([s.usage, s.usage]);
    assert.ok(total && UsageSchema.safeParse(total).success);
  });
  it('a summary of a file truncated in place (same inode) starts again from its start, and a large file is read without keeping its lines', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ra-summary-'));
    try {
      const file = path.join(dir, 'events.jsonl');
      const msg = (text: string): string => JSON.stringify({ type: 'item.completed', item: { type: 'agent_message', text } });
      const turn = (n: number): string => JSON.stringify({ type: 'turn.completed', usage: { input_tokens: n, cached_input_tokens: 0, output_tokens: 1 } });
      const summaries = new EventSummaries();
      fs.writeFileSync(file, `${msg('one')}\n${turn(5)}\n${msg('two')}\n`);
      assert.equal(summaries.summary(file, adapterFor('codex'), undefined, false).lastMessage, 'two');
      const ino = fs.statSync(file).ino;
      fs.writeFileSync(file, `${msg('three')}\n`);
      assert.equal(fs.statSync(file).ino, ino);
      assert.deepEqual(summaries.summary(file, adapterFor('codex'), undefined, false), { lastMessage: 'three' });
      fs.appendFileSync(file, `${msg('x').repeat(1)}\n`.repeat(200_000) + `${turn(7)}\n${msg('last')}`);
      assert.deepEqual(summaries.summary(file, adapterFor('codex'), undefined, true), { lastMessage: 'last', usage: { inputTokens: 7, cachedInputTokens: 0, outputTokens: 1 } });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
