/**
 * An interactive task end to end with the real OpenCode TUI (the pinned version) in tmux, against
 * the scripted model server: its first prompt reaches the model, its tool call asks a permission
 * (its config says bash: ask) -> waiting within 2 s, answered with `send` -> working -> idle, all
 * from its own server's events (held by the supervisor); kill -9 resumes it in its pane by the exact
 * session id and the model sees the first conversation on the next request; so does a tmux
 * kill-server; Esc ends a turn as idle; /exit stops it for good; its config file is untouched; a
 * follow-up resumes it by id and is said through its server's API.
 * OpenCode runs in the test's own XDG dirs and HOME.
 *
 *   npx mocha --timeout 300000 out/test/e2e/interactive-opencode.test.js
 *
 * E2E_AGENTS_BIN=dir uses a folder holding `opencode` instead of installing the pinned CLIs.
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

const FIRST = 'Create out.txt containing hi (task 7201).';
const SECOND = 'What did I ask you first? (task 7202)';
const WAIT_MS = 90_000;

describe('end to end: an interactive OpenCode task (its real TUI in tmux, its state from its server)', function () {
  this.timeout(300_000);
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
    await endTuiWorld({ root, socket, session: 'opencode-i', server, service, monitor }, this.currentTest?.state !== 'passed');
  });

  it('first prompt -> a permission: waiting within 2 s -> send -> working -> idle; kill -9, kill-server -> resumed by id with its conversation; Esc -> idle; /exit -> stopped', async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'ra-e2e-oc-tui-'));
    const project = path.join(root, 'project');
    fs.mkdirSync(project);
    socket = `ra-e2e-oc-tui-${process.pid}`;
    server = await ModelServer.start({ fallback: { kind: 'text', text: 'OK.' } });
    server.script([
      { match: match.lastUser('task 7201'), behaviour: { kind: 'toolCall', command: 'echo hi > out.txt', then: 'Created out.txt.' } },
      { match: match.lastUser('task 7202'), behaviour: { kind: 'text', text: 'You asked me to create out.txt.' } },
      { match: match.lastUser('task 7203'), behaviour: { kind: 'streamForever', text: 'thinking ', intervalMs: 2000 } },
    ]);
    const setup = agentEnv('opencode', path.join(root, 'agent'), server.port, { extraPath: [bin, path.dirname(process.execPath)] });
    // Its own config (in the test's XDG_CONFIG_HOME): every shell command asks first.
    const own = path.join(setup.env.XDG_CONFIG_HOME!, 'opencode', 'opencode.json');
    fs.writeFileSync(own, `${JSON.stringify({ ...JSON.parse(fs.readFileSync(own, 'utf8')) as object, permission: { bash: 'ask' } }, null, 2)}\n`);
    const before = fs.readFileSync(own);
    const values: Record<string, unknown> = {
      'tmux.socket': socket, 'monitor.intervalSeconds': 5, 'supervisor.mode': 'window',
      'agents.opencode.executable': path.join(bin, 'opencode'),
    };
    service = tuiService(root, values, setup.env);
    const svc = service;
    const startedAt = Date.now();
    await svc.start({ agent: 'opencode', name: 'i', dir: project, prompt: FIRST, interactive: true });
    monitor = tuiMonitor(svc);
    const session = 'opencode-i';
    const { until, hooks } = watchTask(svc, session, WAIT_MS);

    // The permission its tool call asks: waiting, from permission.asked (or from its current state, had it come before the connection).
    const waiting = await until((r) => r.state === 'waiting', 'waiting for the permission');
    const asked = hooks(1).find((h) => h.state === 'waiting')!;
    const after = Date.parse(waiting.stateSince) - asked.at;
    console.log(`      waiting recorded ${after} ms after ${asked.event} reached the supervisor (${Math.round((asked.at - startedAt) / 1000)} s after the start): ${waiting.stateReason}`);
    assert.equal(asked.event, 'permission.asked');
    assert.ok(after < 2000, `${after} ms`);
    assert.match(waiting.stateReason ?? '', /permission to use bash: echo hi > out\.txt/);
    const id = waiting.agentSessionId!;
    assert.match(id, /^ses_/);
    assert.ok(server.requests.some((q) => q.lastUserText.includes('task 7201')), 'the first prompt reached the model');
    const info = JSON.parse(fs.readFileSync(path.join(svc.store.paths.attemptDir(session, 1), 'server.json'), 'utf8')) as { port: number; password: string };
    assert.equal((await fetch(`http://127.0.0.1:${info.port}/session`)).status, 401, 'its server wants the password');
    assert.equal((await fetch(`http://127.0.0.1:${info.port}/session`, { headers: { Authorization: `Basic ${Buffer.from(`opencode:${info.password}`).toString('base64')}` } })).status, 200);

    await svc.send(session, '');
    await until((r) => r.state === 'running', 'working again, once answered');
    const idle = await until((r) => r.state === 'idle', 'idle after its first turn');
    assert.ok(fs.existsSync(path.join(project, 'out.txt')), 'the tool ran once allowed');
    assert.equal(idle.agentSessionId, id);
    const events = hooks(1).map((h) => `${h.event}:${h.state}`);
    console.log(`      attempt 1 heard: ${events.join(' ')}`);
    assert.ok(events.includes('permission.replied:working'));

    // kill -9 of OpenCode (every process of the attempt, found by its environment).
    for (const pid of processesWithEnv(`RESILIENT_AGENT_ATTEMPT=${svc.store.paths.attemptDir(session, 1)}`)) process.kill(pid, 'SIGKILL');
    const killed = Date.now();
    const resumed = await until((r) => r.attempts.length === 2 && r.state === 'idle' && hooks(2).length > 0, 'resumed and idle');
    console.log(`      resumed ${Date.parse(resumed.attempts[1].startedAt) - killed} ms after kill -9; idle (its current status asked) ${Date.now() - killed} ms after`);
    assert.deepEqual([resumed.attempts[1].cause, resumed.attempts[1].mode, resumed.attempts[0].exitCode], ['crash', 'resume', 137]);
    const argv = fs.readFileSync(path.join(svc.store.paths.attemptDir(session, 2), 'argv'), 'utf8').split('\0').filter(Boolean);
    assert.deepEqual(argv.slice(5, 7), ['--session', id]);
    assert.equal(argv.at(-1), project, 'nothing typed on the person\'s behalf (no prompt)');
    const requestsBefore = server.requests.length;
    // Its server answers (and says idle) a few seconds before its TUI has drawn the session and takes keys.
    const drawn = async (text: RegExp) => {
      await waitFor(async () => text.test(await tmux(socket, ['capture-pane', '-p', '-t', `=${session}:`])) || undefined, `its TUI showing ${text}`, WAIT_MS);
    };
    await drawn(/Created out\.txt\.[\s\S]*ctrl\+p commands/);
    console.log(`      its TUI showed the conversation ${Date.now() - killed} ms after kill -9`);

    await svc.send(session, SECOND);
    const turn = await waitFor(() => server!.requests.find((q) => q.lastUserText.includes('task 7202')), 'the next prompt at the model', WAIT_MS);
    assert.ok(turn.allUserText.includes('task 7201'), 'the resumed session holds the first conversation');
    assert.equal(server.requests.slice(requestsBefore).filter((q) => q.kind === 'turn' && !q.lastUserText.includes('task 7202')).length, 0, 'the resume asked the model nothing by itself');
    await until((r) => r.state === 'idle' && hooks(2).some((h) => h.event === 'session.status' && h.state === 'idle'), 'idle again');
    assert.equal(svc.store.get(session)!.agentSessionId, id);

    assert.equal(svc.store.get(session)!.attempts.length, 2);
    // The tmux server killed: OpenCode is back in a new pane, with the same session.
    await tmux(socket, ['kill-server']);
    const back = await until((r) => r.attempts.length === 3 && r.state === 'idle' && hooks(3).length > 0, 'back after kill-server');
    assert.deepEqual([back.attempts[2].cause, back.attempts[2].mode, back.agentSessionId], ['lost', 'resume', id]);
    await drawn(/You asked me to create out\.txt\.[\s\S]*ctrl\+p commands/);

    // Esc: session.error MessageAbortedError, then idle.
    await svc.send(session, 'Write forever (task 7203).');
    await until((r) => r.state === 'running', 'at work on the stream');
    await server.waitForStreamStart(WAIT_MS);
    // OpenCode interrupts at the second Esc (the first asks for it again).
    await tmux(socket, ['send-keys', '-t', `=${session}:`, 'Escape']);
    await drawn(/esc again to interrupt/i);
    await tmux(socket, ['send-keys', '-t', `=${session}:`, 'Escape']);
    const pressed = Date.now();
    const interrupted = await until((r) => r.state === 'idle' && /interrupted/.test(r.stateReason ?? ''), 'idle after Esc');
    console.log(`      idle recorded ${Date.parse(interrupted.stateSince) - pressed} ms after Esc: ${interrupted.stateReason}`);

    await svc.send(session, '/exit');
    const held = await until((r) => r.state === 'held', 'stopped by the person');
    assert.match(held.stateReason ?? '', /^stopped by the user: OpenCode exited with status 0/);
    assert.equal(held.attempts.length, 3);
    assert.equal(held.attempts[2].exitCode, 0);
    await monitor.pass('check');
    assert.equal(svc.store.get(session)!.attempts.length, 3, 'never resumed');
    assert.ok(fs.readFileSync(own).equals(before), "OpenCode's own config was changed");

    // A follow-up: resumed by id (OpenCode drops --prompt with -s), the follow-up said through its server.
    await svc.followUp(session, 'And now? (task 7204)');
    const asked4 = Date.now();
    const followed = await waitFor(() => server!.requests.find((q) => q.lastUserText.includes('task 7204')), 'the follow-up at the model', WAIT_MS);
    console.log(`      follow-up at the model ${Date.now() - asked4} ms after continue (a resume, then its server's API)`);
    assert.ok(followed.allUserText.includes('task 7201'), 'in the same conversation');
    // Launched by this process, whose monitor's timer is 60 s: listened to at once all the same.
    assert.ok(Date.now() - asked4 < 45_000, 'its server listened to without waiting for a pass');
    const r4 = await until((r) => r.attempts.length === 4 && r.state === 'idle' && hooks(4).some((h) => h.event === 'session.idle'), 'idle after the follow-up');
    assert.deepEqual([r4.attempts[3].cause, r4.attempts[3].mode, r4.agentSessionId], ['follow-up', 'resume', id]);
    assert.equal(server.requests.filter((q) => q.kind === 'turn' && q.lastUserText.includes('task 7204')).length, 1, 'said once');
  });
});
