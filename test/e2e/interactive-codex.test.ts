/**
 * An interactive task end to end with the real Codex TUI (the pinned version) in tmux, against the
 * scripted model server: its first prompt reaches the model, a permission prompt is "waiting"
 * through its own hooks (given per run with -c), answered with send, then idle; kill -9 of its Node
 * wrapper (the native TUI outlives it) ends the native one before the resume, and resumes it in its
 * pane by the exact id (learned from its hooks), the model seeing the first conversation on the
 * next request; so does a tmux kill-server; Esc (its Interrupt hook) is idle; /exit stops it for
 * good; the config.toml in its CODEX_HOME is byte for byte unchanged. First-run notices are
 * answered in the test's own CODEX_HOME, never the person's.
 *
 *   npx mocha --timeout 300000 out/test/e2e/interactive-codex.test.js
 *
 * E2E_AGENTS_BIN=dir uses a folder holding `codex` instead of installing the pinned CLIs.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Monitor } from '../../src/core/ops/monitor';
import type { TaskService } from '../../src/core/ops/service';
import { waitFor } from '../integration/harness';
import { processesWithEnv } from '../tools/processes';
import { agentEnv, CODEX_MODEL } from './agentEnv';
import { ensureAgents } from './install';
import { match, ModelServer } from './modelServer';
import { endTuiWorld, tmux, tuiMonitor, tuiService, watchTask } from './tuiWorld';

const FIRST = 'Create out.txt containing hi (task 7101).';
const SECOND = 'What did I ask you first? (task 7102)';
const WAIT_MS = 90_000;

const cmdline = (pid: number): string => {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
};

describe('end to end: an interactive Codex task (its real TUI in tmux)', function () {
  this.timeout(240_000);
  let bin = '';
  let root = '';
  let socket = '';
  let server: ModelServer | undefined;
  let monitor: Monitor | undefined;
  let service: TaskService | undefined;

  before(async function () {
    this.timeout(1_200_000);
    bin = process.env.E2E_AGENTS_BIN ?? await ensureAgents();
  });

  afterEach(async function () {
    await endTuiWorld({ root, socket, session: 'codex-i', server, service, monitor }, this.currentTest?.state !== 'passed');
  });

  it('first prompt -> waiting on a permission (its hooks) -> send -> idle; kill -9 of its wrapper, kill-server -> resumed by id with its conversation, never two writers; Esc -> idle; /exit -> stopped', async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'ra-e2e-codex-tui-'));
    const project = path.join(root, 'project');
    fs.mkdirSync(project);
    socket = `ra-e2e-codex-tui-${process.pid}`;
    server = await ModelServer.start({ fallback: { kind: 'text', text: 'OK.' } });
    server.script([
      // Asking to leave the sandbox makes Codex ask the person (its on-request approvals).
      { match: match.lastUser('task 7101'), behaviour: { kind: 'toolCall', command: 'echo hi > out.txt', then: 'Created out.txt.', extraArgs: { sandbox_permissions: 'require_escalated', justification: 'Write out.txt' } } },
      { match: match.lastUser('task 7102'), behaviour: { kind: 'text', text: 'You asked me to create out.txt.' } },
      { match: match.lastUser('task 7103'), behaviour: { kind: 'streamForever', text: 'thinking ', intervalMs: 2000 } },
      { match: match.lastUser('task 7104'), behaviour: { kind: 'httpError', status: 400, body: { error: { type: 'invalid_request_error', message: 'bad request 7104' } } }, times: 10 },
    ]);
    // No retries of its own: an API error ends the turn at once.
    const setup = agentEnv('codex', path.join(root, 'agent'), server.port, { extraPath: [bin, path.dirname(process.execPath)], maxRetries: 0 });
    const own = path.join(setup.env.CODEX_HOME!, 'config.toml');
    // This test's person: asked before a command leaves the sandbox; the first-run notices (a newer
    // model offered, the screen reader check) already answered, in this test's own CODEX_HOME.
    const head = fs.readFileSync(own, 'utf8');
    fs.writeFileSync(own, [
      'approval_policy = "on-request"', 'sandbox_mode = "read-only"', head,
      '[tui]', 'screen_reader_detection_done = true', '',
      '[notice.model_migrations]', `"${CODEX_MODEL}" = "gpt-6-sol"`, '',
    ].join('\n'));
    const before = fs.readFileSync(own);
    const values: Record<string, unknown> = {
      'tmux.socket': socket, 'monitor.intervalSeconds': 60, 'supervisor.mode': 'window',
      'agents.codex.executable': path.join(bin, 'codex'),
    };
    service = tuiService(root, values, setup.env);
    const svc = service;
    await svc.start({ agent: 'codex', name: 'i', dir: project, prompt: FIRST, interactive: true });
    monitor = tuiMonitor(svc);
    const session = 'codex-i';
    const T0 = Date.now();
    const step = (what: string) => console.log(`      [${((Date.now() - T0) / 1000).toFixed(1)} s] ${what}`);
    const { until, hooks } = watchTask(svc, session, WAIT_MS);
    const attemptPids = (n: number) => processesWithEnv(`RESILIENT_AGENT_ATTEMPT=${svc.store.paths.attemptDir(session, n)}`);

    const waiting = await until((r) => r.state === 'waiting', 'waiting on the permission');
    const asked = hooks(1).find((h) => h.state === 'waiting')!;
    const after = Date.parse(waiting.stateSince) - asked.at;
    console.log(`      waiting recorded ${after} ms after our hook command (run by Codex's ${asked.event} hook) started: ${waiting.stateReason}`);
    assert.ok(after < 2000, `${after} ms`);
    assert.match(waiting.stateReason ?? '', /permission to use Bash: echo hi > out.txt/);
    assert.ok(server.requests.some((q) => q.lastUserText.includes('task 7101')), 'the first prompt reached the model');
    // The id Codex minted, learned from its hooks (never from where it keeps its files).
    const id = waiting.agentSessionId!;
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.equal(hooks(1).find((h) => h.event === 'SessionStart')?.sessionId, id);

    await svc.send(session, '1');
    await waitFor(() => fs.existsSync(path.join(project, 'out.txt')), 'the tool ran', WAIT_MS);
    await until((r) => r.state === 'idle' && hooks(1).some((h) => h.event === 'Stop'), 'idle after its turn');
    console.log(`      hooks of attempt 1: ${hooks(1).map((h) => `${h.event}:${h.state}`).join(' ')}`);

    // The crash comes once its reply is in its session log (an agent may write that log a moment after its
    // turn-end hook, as Claude Code does in 100 ms batches: a kill in between loses the reply, not ours to keep).
    await waitFor(async () => (await svc.logs(session, 200)).split('\n').includes('● Created out.txt.'), 'its reply in its session log', WAIT_MS);
    // kill -9 of the Node wrapper only: the native TUI outlives it, on the pane's terminal.
    const running = attemptPids(1);
    const wrapper = running.find((p) => /^\S*node /.test(cmdline(p)));
    const native = running.find((p) => /@openai\/codex-/.test(cmdline(p)));
    assert.ok(wrapper && native, `wrapper and native among ${running.map((p) => `${p}: ${cmdline(p).slice(0, 80)}`).join('; ')}`);
    process.kill(wrapper, 'SIGKILL');
    await waitFor(() => svc.store.get(session)!.attempts.length === 2, 'attempt 2', WAIT_MS);
    const resumedAt = Date.now();
    assert.deepEqual(attemptPids(1).filter((p) => p === native), [], 'the native TUI of attempt 1 was ended before its resume');
    const resumed = await until((r) => r.attempts.length === 2 && r.state === 'idle', 'resumed and idle');
    console.log(`      resumed, idle ${Date.parse(resumed.stateSince) - resumedAt} ms after (no hook until a prompt): ${resumed.stateReason}`);
    assert.deepEqual([resumed.attempts[0].exitCode, resumed.attempts[1].cause, resumed.attempts[1].mode], [137, 'crash', 'resume']);
    assert.equal(resumed.agentSessionId, id);
    const argv = fs.readFileSync(path.join(svc.store.paths.attemptDir(session, 2), 'argv'), 'utf8').split('\0').filter(Boolean);
    assert.equal(argv[1], 'resume');
    assert.deepEqual(argv.slice(-2), ['--', id]);

    await svc.send(session, SECOND);
    const turn = await waitFor(() => server!.requests.find((q) => q.lastUserText.includes('task 7102')), 'the next prompt at the model', WAIT_MS);
    assert.ok(turn.allUserText.includes('task 7101'), 'the resumed session holds the first conversation');
    await until((r) => r.state === 'idle' && hooks(2).some((h) => h.event === 'Stop'), 'idle again');
    // Its transcript: the conversation from Codex's own session log (its rollout, as its hooks name it), across both runs.
    const transcript = (await svc.logs(session, 200)).split('\n');
    assert.match(transcript[0], /Codex's own log of the session: .*rollout-.*\.jsonl/);
    const said = transcript.filter((l) => /^[›●▶] /.test(l));
    for (const line of ['› Create out.txt containing hi (task 7101).', '▶ exec_command: echo hi > out.txt', '● Created out.txt.', `› ${SECOND}`, '● You asked me to create out.txt.']) {
      assert.ok(said.includes(line), `"${line}" in the transcript:\n${transcript.join('\n')}`);
    }
    // Its tokens and last words: the conversation's, from the same log.
    const seen = await svc.find(session);
    assert.equal(seen.lastMessage, 'You asked me to create out.txt.');
    assert.ok(seen.usage && seen.usage.outputTokens > 0 && seen.usage.inputTokens > 0, `tokens counted: ${JSON.stringify(seen.usage)}`);
    console.log(`      transcript from its own session log; tokens ${JSON.stringify(seen.usage)}`);
    assert.equal(hooks(2).find((h) => h.event === 'SessionStart')?.sessionId, id);

    // The tmux server killed: the TUI is back in a new pane, resumed by the same id.
    await tmux(socket, ['kill-server']);
    const back = await until((r) => r.attempts.length === 3 && r.state === 'idle', 'back after kill-server');
    assert.deepEqual([back.attempts[2].cause, back.attempts[2].mode, back.agentSessionId], ['lost', 'resume', id]);
    assert.deepEqual(attemptPids(2), [], 'nothing of attempt 2 still runs');

    // Esc fires Codex's Interrupt hook: idle at once.
    step('Esc');
    await svc.send(session, 'Write forever (task 7103).');
    await until((r) => r.state === 'running' && hooks(3).some((h) => h.event === 'UserPromptSubmit'), 'at work on the third prompt');
    await server.waitForStreamStart(WAIT_MS);
    await tmux(socket, ['send-keys', '-t', `=${session}:`, 'Escape']);
    const pressed = Date.now();
    const interrupted = await until((r) => r.state === 'idle' && /interrupted/.test(r.stateReason ?? ''), 'idle after Esc');
    console.log(`      idle recorded ${Date.parse(interrupted.stateSince) - pressed} ms after Esc: ${interrupted.stateReason}`);

    // An API error ends the turn with no hook at all (no Stop): idle once its pane has been still 5 s.
    step('an API error');
    await svc.send(session, 'This one fails (task 7104).');
    await waitFor(() => server!.requests.find((q) => q.lastUserText.includes('task 7104')), 'the failing request', WAIT_MS);
    const erred = Date.now();
    const failed = await until((r) => r.state === 'idle' && /no hook fired/.test(r.stateReason ?? ''), 'idle after an API error');
    console.log(`      after an API error: idle ${Date.parse(failed.stateSince) - erred} ms after the request (hooks since the prompt: ${hooks(3).slice(-2).map((h) => h.event).join(', ')}): ${failed.stateReason}`);
    assert.ok(!hooks(3).some((h) => h.event === 'Stop'), 'no Stop after the error');

    step('/exit');
    await svc.send(session, '/exit');
    const held = await until((r) => r.state === 'held', 'stopped by the person');
    assert.match(held.stateReason ?? '', /^stopped by the user/);
    assert.equal(held.attempts.length, 3);
    assert.equal(held.attempts[2].exitCode, 0);
    await monitor.pass('check');
    assert.equal(svc.store.get(session)!.attempts.length, 3, 'never resumed');
    assert.ok(fs.readFileSync(own).equals(before), "Codex's own config.toml was changed");
    assert.equal(fs.existsSync(path.join(setup.home, '.codex')), false);
  });
});
