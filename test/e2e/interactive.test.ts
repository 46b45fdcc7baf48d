/**
 * An interactive task end to end with the real Claude Code TUI (the pinned version) in tmux,
 * against the scripted model server: its first prompt reaches the model, a permission prompt is
 * "waiting" through its own hooks, answered with send, then idle; kill -9 resumes it in its pane by
 * the exact id and the model sees the first conversation on the next request; so does a tmux
 * kill-server; an API error and Esc end a turn as idle; /exit stops it for good; the Claude settings in its config dir are untouched. First-run dialogs are answered in the
 * test's own CLAUDE_CONFIG_DIR, never the person's.
 *
 *   npx mocha --timeout 300000 out/test/e2e/interactive.test.js
 *
 * E2E_AGENTS_BIN=dir uses a folder holding `claude` instead of installing the pinned CLIs.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Monitor } from '../../src/core/ops/monitor';
import type { TaskService } from '../../src/core/ops/service';
import { waitFor } from '../integration/harness';
import { processesWithEnv } from '../tools/processes';
import { agentEnv } from './agentEnv';
import { ensureAgents } from './install';
import { match, ModelServer } from './modelServer';
import { endTuiWorld, tmux, tuiMonitor, tuiService, watchTask } from './tuiWorld';

const FIRST = 'Create out.txt containing hi (task 6101).';
const SECOND = 'What did I ask you first? (task 6102)';
const WAIT_MS = 90_000;

describe('end to end: an interactive Claude Code task (its real TUI in tmux)', function () {
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
    await endTuiWorld({ root, socket, session: 'claude-i', server, service, monitor }, this.currentTest?.state !== 'passed');
  });

  it('first prompt -> waiting on a permission (its hooks) -> send -> idle; kill -9, kill-server -> resumed by id with its conversation; an API error, Esc -> idle; /clear -> the new id; /exit -> stopped', async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'ra-e2e-tui-'));
    const project = path.join(root, 'project');
    fs.mkdirSync(project);
    socket = `ra-e2e-tui-${process.pid}`;
    server = await ModelServer.start({ fallback: { kind: 'text', text: 'OK.' } });
    server.script([
      { match: match.lastUser('task 6101'), behaviour: { kind: 'toolCall', command: 'echo hi > out.txt', then: 'Created out.txt.' } },
      { match: match.lastUser('task 6102'), behaviour: { kind: 'text', text: 'You asked me to create out.txt.' } },
      { match: match.lastUser('task 6103'), behaviour: { kind: 'streamForever', text: 'thinking ', intervalMs: 2000 } },
      { match: match.lastUser('task 6104'), behaviour: { kind: 'httpError', status: 400, body: { type: 'error', error: { type: 'invalid_request_error', message: 'bad request 6104' } } }, times: 10 },
    ]);
    const setup = agentEnv('claude', path.join(root, 'agent'), server.port, { extraPath: [bin, path.dirname(process.execPath)] });
    const configDir = setup.env.CLAUDE_CONFIG_DIR!;
    // The first-run dialogs, answered in this test's own config dir: onboarding, folder trust, the key.
    fs.writeFileSync(path.join(configDir, '.claude.json'), JSON.stringify({
      hasCompletedOnboarding: true, lastOnboardingVersion: '2.1.332', theme: 'dark', numStartups: 1,
      customApiKeyResponses: { approved: [String(setup.env.ANTHROPIC_API_KEY).slice(-20)], rejected: [] },
      projects: { [project]: { hasTrustDialogAccepted: true, hasCompletedProjectOnboarding: true } },
    }));
    const own = path.join(configDir, 'settings.json');
    // Claude Code 2.1.332 defaults to "auto" mode, which runs a harmless command unasked: this test's
    // person asks to be asked.
    fs.writeFileSync(own, '{\n  "theme": "dark",\n  "permissions": { "defaultMode": "default" }\n}\n');
    const before = fs.readFileSync(own);
    const values: Record<string, unknown> = {
      'tmux.socket': socket, 'monitor.intervalSeconds': 60, 'supervisor.mode': 'window',
      'agents.claude.executable': path.join(bin, 'claude'),
    };
    service = tuiService(root, values, setup.env);
    const svc = service;
    await svc.start({ agent: 'claude', name: 'i', dir: project, prompt: FIRST, interactive: true });
    monitor = tuiMonitor(svc);
    const session = 'claude-i';
    const { until, hooks } = watchTask(svc, session, WAIT_MS);

    const waiting = await until((r) => r.state === 'waiting', 'waiting on the permission');
    const asked = hooks(1).find((h) => h.state === 'waiting')!;
    const after = Date.parse(waiting.stateSince) - asked.at;
    console.log(`      waiting recorded ${after} ms after our hook command (run by Claude Code's ${asked.event} hook) started`);
    assert.ok(after < 2000, `${after} ms`);
    assert.match(waiting.stateReason ?? '', /permission to use Bash/);
    assert.ok(server.requests.some((q) => q.lastUserText.includes('task 6101')), 'the first prompt reached the model');

    await svc.send(session, '1');
    await waitFor(() => fs.existsSync(path.join(project, 'out.txt')), 'the tool ran', WAIT_MS);
    const idle = await until((r) => r.state === 'idle', 'idle after its turn');
    const id = idle.agentSessionId!;
    // Claude Code writes its session log in batches (every 100 ms: FLUSH_INTERVAL_MS in 2.1.332), after its
    // Stop hook: a kill -9 in that moment loses its last reply, which the resumed session then lacks (it shows
    // "No response requested."). This crash comes after the reply is in its log, as the transcript shows it.
    await waitFor(async () => (await svc.logs(session, 200)).split('\n').includes('● Created out.txt.'), 'its reply in its session log', WAIT_MS);

    // kill -9 of Claude Code (every process of the attempt, found by its environment).
    for (const pid of processesWithEnv(`RESILIENT_AGENT_ATTEMPT=${svc.store.paths.attemptDir(session, 1)}`)) process.kill(pid, 'SIGKILL');
    const resumed = await until((r) => r.attempts.length === 2 && r.state === 'idle', 'resumed and idle');
    assert.deepEqual([resumed.attempts[1].cause, resumed.attempts[1].mode], ['crash', 'resume']);
    assert.equal(resumed.agentSessionId, id);
    const argv = fs.readFileSync(path.join(svc.store.paths.attemptDir(session, 2), 'argv'), 'utf8').split('\0');
    assert.deepEqual(argv.slice(1, 3), ['--resume', id]);

    await svc.send(session, SECOND);
    const turn = await waitFor(() => server!.requests.find((q) => q.lastUserText.includes('task 6102')), 'the next prompt at the model', WAIT_MS);
    assert.ok(turn.allUserText.includes('task 6101'), 'the resumed session holds the first conversation');
    await until((r) => r.state === 'idle' && hooks(2).filter((h) => h.event === 'Stop').length > 0, 'idle again');
    // Its transcript: the conversation from Claude Code's own session log, as its hooks name it, across both runs.
    const transcript = (await svc.logs(session, 200)).split('\n');
    assert.match(transcript[0], new RegExp(`Claude Code's own log of the session: .*${id}\\.jsonl`));
    const said = transcript.filter((l) => /^[›●] /.test(l));
    for (const line of ['› Create out.txt containing hi (task 6101).', '● Created out.txt.', '› What did I ask you first? (task 6102)', '● You asked me to create out.txt.']) {
      assert.ok(said.includes(line), `"${line}" in the transcript:\n${transcript.join('\n')}`);
    }
    // Its tokens and last words: the conversation's, from the same log.
    const seen = await svc.find(session);
    assert.equal(seen.lastMessage, 'You asked me to create out.txt.');
    assert.ok(seen.usage && seen.usage.outputTokens > 0 && seen.usage.inputTokens > 0, `tokens counted: ${JSON.stringify(seen.usage)}`);
    console.log(`      transcript from its own session log; tokens ${JSON.stringify(seen.usage)}`);

    // The tmux server killed: the TUI is back in a new pane, resumed by the same id.
    await tmux(socket, ['kill-server']);
    const back = await until((r) => r.attempts.length === 3 && r.state === 'idle', 'back after kill-server');
    assert.deepEqual([back.attempts[2].cause, back.attempts[2].mode, back.agentSessionId], ['lost', 'resume', id]);

    // An API error ends the turn with StopFailure (Stop does not fire): idle, saying so.
    await svc.send(session, 'This one fails (task 6104).');
    const failed = await until((r) => r.state === 'idle' && /error/.test(r.stateReason ?? ''), 'idle after an API error');
    console.log(`      after an API error: ${failed.stateReason}`);

    // Esc fires no hook: the pane going still says the turn is over.
    await svc.send(session, 'Write forever (task 6103).');
    await until((r) => r.state === 'running', 'at work on the third prompt');
    await server.waitForStreamStart(WAIT_MS);
    await tmux(socket, ['send-keys', '-t', `=${session}:`, 'Escape']);
    const pressed = Date.now();
    const interrupted = await until((r) => r.state === 'idle' && /interrupted/.test(r.stateReason ?? ''), 'idle after Esc');
    console.log(`      idle recorded ${Date.parse(interrupted.stateSince) - pressed} ms after Esc: ${interrupted.stateReason}`);

    // /clear starts another session: its hooks give the new id, which the record takes (a resume then resumes that one).
    await svc.send(session, '/clear');
    const cleared = await until((r) => r.agentSessionId !== id, 'the new session id after /clear');
    const started = hooks(3).filter((h) => h.event === 'SessionStart').at(-1) as { sessionId?: string } | undefined;
    assert.equal(cleared.agentSessionId, started?.sessionId);
    console.log(`      /clear: session ${id} -> ${cleared.agentSessionId}`);

    await svc.send(session, '/exit');
    const held = await until((r) => r.state === 'held', 'stopped by the person');
    assert.match(held.stateReason ?? '', /^stopped by the user/);
    assert.equal(held.attempts.length, 3);
    await monitor.pass('check');
    assert.equal(svc.store.get(session)!.attempts.length, 3, 'never resumed');
    assert.ok(fs.readFileSync(own).equals(before), "Claude Code's own settings were changed");
    assert.equal(fs.existsSync(path.join(setup.home, '.claude', 'settings.json')), false);
  });
});
