/**
 * An interactive task end to end with the real Pi TUI (the pinned version) in tmux, against the
 * scripted model server: its first prompt reaches the model and its turn (a tool call) is working
 * then idle through its extension events; kill -9 resumes it in its pane with the same session file
 * and the model sees the first conversation on the next request; so does a tmux kill-server; an
 * API error and Esc end a turn as idle; a SIGTERM (Pi's exit 0 made 143) is resumed; /quit stops it for good; Pi's own settings in its agent
 * dir are untouched and no extension is left there. Pi runs in the test's own PI_CODING_AGENT_DIR.
 *
 *   npx mocha --timeout 300000 out/test/e2e/interactive-pi.test.js
 *
 * E2E_AGENTS_BIN=dir uses a folder holding `pi` instead of installing the pinned CLIs.
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

const FIRST = 'Create out.txt containing hi (task 7101).';
const SECOND = 'What did I ask you first? (task 7102)';
const WAIT_MS = 90_000;

describe('end to end: an interactive Pi task (its real TUI in tmux)', function () {
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
    await endTuiWorld({ root, socket, session: 'pi-i', server, service, monitor }, this.currentTest?.state !== 'passed');
  });

  it('first prompt -> working -> idle (its extension events); kill -9, kill-server -> resumed with the same session file and its conversation; an API error, Esc -> idle; SIGTERM -> resumed; /new -> its new session file; /quit -> stopped', async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'ra-e2e-pi-tui-'));
    const project = path.join(root, 'project');
    fs.mkdirSync(project);
    socket = `ra-e2e-pi-tui-${process.pid}`;
    server = await ModelServer.start({ fallback: { kind: 'text', text: 'OK.' } });
    server.script([
      { match: match.lastUser('task 7101'), behaviour: { kind: 'toolCall', command: 'echo hi > out.txt', then: 'Created out.txt.' } },
      { match: match.lastUser('task 7102'), behaviour: { kind: 'text', text: 'You asked me to create out.txt.' } },
      { match: match.lastUser('task 7103'), behaviour: { kind: 'streamForever', text: 'thinking ', intervalMs: 2000 } },
      // A 400 is no error Pi retries by itself.
      { match: match.lastUser('task 7104'), behaviour: { kind: 'httpError', status: 400, body: { error: { message: 'bad request 7104', type: 'invalid_request_error' } } }, times: 10 },
    ]);
    const setup = agentEnv('pi', path.join(root, 'agent'), server.port, { extraPath: [bin, path.dirname(process.execPath)] });
    const agentDir = setup.env.PI_CODING_AGENT_DIR!;
    const own = path.join(agentDir, 'settings.json');
    const values: Record<string, unknown> = {
      // The crash policy's interval (the monitor's own timer is 60 s, below): the second crash in a row (SIGTERM,
      // after the kill -9) is resumed after 5 s, not 60.
      'tmux.socket': socket, 'monitor.intervalSeconds': 5, 'supervisor.mode': 'window',
      'agents.pi.executable': path.join(bin, 'pi'),
    };
    service = tuiService(root, values, setup.env);
    const svc = service;
    await svc.start({ agent: 'pi', name: 'i', dir: project, prompt: FIRST, interactive: true });
    monitor = tuiMonitor(svc);
    const session = 'pi-i';
    const { until, hooks } = watchTask(svc, session, WAIT_MS);

    const idle = await until((r) => r.state === 'idle' && hooks(1).some((h) => h.event === 'agent_end'), 'idle after its first turn');
    assert.ok(fs.existsSync(path.join(project, 'out.txt')), 'the tool ran (Pi asks no permission)');
    assert.ok(server.requests.some((q) => q.lastUserText.includes('task 7101')), 'the first prompt reached the model');
    assert.deepEqual(hooks(1).map((h) => `${h.event}:${h.state}`), ['session_start:idle', 'agent_start:working', 'agent_end:idle']);
    const ended = hooks(1).find((h) => h.event === 'agent_end')!;
    console.log(`      idle recorded ${Date.parse(idle.stateSince) - ended.at} ms after our hook command (run at Pi's agent_end) started`);
    const file = path.join(svc.store.paths.taskDir(session), 'pi-session.jsonl');
    assert.equal(idle.agentSessionId, file);
    assert.ok(fs.existsSync(file), 'Pi saved its session in the file chosen up front');
    // Pi itself adds lastChangelogVersion to its settings at its first run: compared from here on.
    const before = fs.readFileSync(own);

    // The crash comes once its reply is in its session log (an agent may write that log a moment after its
    // turn-end hook, as Claude Code does in 100 ms batches: a kill in between loses the reply, not ours to keep).
    await waitFor(async () => (await svc.logs(session, 200)).split('\n').includes('● Created out.txt.'), 'its reply in its session log', WAIT_MS);
    // kill -9 of Pi (every process of the attempt, found by its environment).
    for (const pid of processesWithEnv(`RESILIENT_AGENT_ATTEMPT=${svc.store.paths.attemptDir(session, 1)}`)) process.kill(pid, 'SIGKILL');
    const resumed = await until((r) => r.attempts.length === 2 && r.state === 'idle', 'resumed and idle');
    assert.deepEqual([resumed.attempts[1].cause, resumed.attempts[1].mode, resumed.attempts[0].exitCode], ['crash', 'resume', 137]);
    const argv = fs.readFileSync(path.join(svc.store.paths.attemptDir(session, 2), 'argv'), 'utf8').split('\0').filter(Boolean);
    assert.deepEqual(argv.slice(1, 3), ['--session', file]);
    assert.equal(argv.length, 5, 'nothing typed on the person\'s behalf (no prompt argument)');
    const requestsBefore = server.requests.length;

    await svc.send(session, SECOND);
    const turn = await waitFor(() => server!.requests.find((q) => q.lastUserText.includes('task 7102')), 'the next prompt at the model', WAIT_MS);
    assert.ok(turn.allUserText.includes('task 7101'), 'the resumed session holds the first conversation');
    assert.equal(server.requests.slice(requestsBefore).filter((q) => !q.lastUserText.includes('task 7102')).length, 0, 'the resume asked the model nothing by itself');
    await until((r) => r.state === 'idle' && hooks(2).some((h) => h.event === 'agent_end'), 'idle again');
    // Its transcript: the conversation from Pi's own session file, across both runs.
    const transcript = (await svc.logs(session, 200)).split('\n');
    assert.match(transcript[0], /Pi's own log of the session: .*\.jsonl/);
    const said = transcript.filter((l) => /^[›●▶] /.test(l));
    for (const line of ['› Create out.txt containing hi (task 7101).', '● Created out.txt.', `› ${SECOND}`, '● You asked me to create out.txt.']) {
      assert.ok(said.includes(line), `"${line}" in the transcript:\n${transcript.join('\n')}`);
    }
    // Its tokens and last words: the conversation's, from the same log.
    const seen = await svc.find(session);
    assert.equal(seen.lastMessage, 'You asked me to create out.txt.');
    assert.ok(seen.usage && seen.usage.outputTokens > 0 && seen.usage.inputTokens > 0, `tokens counted: ${JSON.stringify(seen.usage)}`);
    console.log(`      transcript from its own session log; tokens ${JSON.stringify(seen.usage)}`);

    // The tmux server killed: Pi is back in a new pane, with the same session file.
    await tmux(socket, ['kill-server']);
    const back = await until((r) => r.attempts.length === 3 && r.state === 'idle', 'back after kill-server');
    assert.deepEqual([back.attempts[2].cause, back.attempts[2].mode, back.agentSessionId], ['lost', 'resume', file]);

    // An API error ends the turn: idle, saying so.
    await svc.send(session, 'This one fails (task 7104).');
    const failed = await until((r) => r.state === 'idle' && /error/.test(r.stateReason ?? ''), 'idle after an API error');
    console.log(`      after an API error: ${failed.stateReason}`);

    // Esc: agent_end says the turn was aborted.
    await svc.send(session, 'Write forever (task 7103).');
    await until((r) => r.state === 'running', 'at work on the stream');
    await server.waitForStreamStart(WAIT_MS);
    await tmux(socket, ['send-keys', '-t', `=${session}:`, 'Escape']);
    const pressed = Date.now();
    const interrupted = await until((r) => r.state === 'idle' && /interrupted/.test(r.stateReason ?? ''), 'idle after Esc');
    console.log(`      idle recorded ${Date.parse(interrupted.stateSince) - pressed} ms after Esc: ${interrupted.stateReason}`);

    // SIGTERM (a shutdown's): Pi quits as on /quit, with status 0; its extension makes it 143, so it is no person's exit.
    await until((r) => r.state === 'idle' && hooks(3).filter((h) => h.event === 'agent_end').length >= 2, 'idle after Esc, as its hooks said');
    for (const pid of processesWithEnv(`RESILIENT_AGENT_ATTEMPT=${svc.store.paths.attemptDir(session, 3)}`)) process.kill(pid, 'SIGTERM');
    const termAt = Date.now();
    const termed = await until((r) => r.attempts.length === 4 && r.state === 'idle', 'resumed after SIGTERM');
    console.log(`      SIGTERM: Pi exited ${Math.round(fs.statSync(path.join(svc.store.paths.attemptDir(session, 3), 'exit')).mtimeMs - termAt)} ms after it; resumed (after the policy's 5 s backoff: the second crash in a row) and idle ${Date.now() - termAt} ms after`);
    assert.deepEqual([termed.attempts[2].exitCode, termed.attempts[3].cause, termed.attempts[3].mode], [143, 'crash', 'resume']);
    assert.equal(hooks(3).at(-1)?.reason, 'Pi ended on SIGTERM');

    // /new starts another session: session_start names its file, which the record takes (a resume then opens that one).
    await svc.send(session, '/new');
    const renewed = await until((r) => r.agentSessionId !== file, 'the new session file after /new');
    console.log(`      /new: session ${renewed.agentSessionId}`);
    assert.ok(path.isAbsolute(renewed.agentSessionId ?? ''));
    assert.equal(hooks(4).at(-1)?.event, 'session_start');

    await svc.send(session, '/quit');
    const held = await until((r) => r.state === 'held', 'stopped by the person');
    assert.match(held.stateReason ?? '', /^stopped by the user: the person exited Pi/);
    assert.equal(held.attempts.length, 4);
    assert.equal(held.attempts[3].exitCode, 0);
    await monitor.pass('check');
    assert.equal(svc.store.get(session)!.attempts.length, 4, 'never resumed');
    assert.ok(fs.readFileSync(own).equals(before), "Pi's own settings were changed");
    assert.deepEqual(Object.keys(JSON.parse(fs.readFileSync(own, 'utf8')) as object).filter((k) => k === 'extensions' || k === 'packages'), []);
    assert.equal(fs.existsSync(path.join(agentDir, 'extensions')), false, 'no extension left in Pi\'s own folder');
  });
});
