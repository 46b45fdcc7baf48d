import * as assert from 'node:assert/strict';
import { ADAPTERS } from '../../src/core/agents/registry';
import { resolveSettings } from '../../src/core/model/settings';
import * as cmd from '../../src/core/tmux/commands';
import type { TaskRecord } from '../../src/core/model/record';
import { testRecord } from '../tools/records';

const settings = resolveSettings();

function task(over: Partial<TaskRecord>): TaskRecord {
  return testRecord({ dir: '/home/dev/proj', prompt: '-n $(rm -rf ~) "quoted"\nline', executable: '/usr/bin/codex', ...over });
}

describe('agent argv', () => {
  const cont = { text: settings.continuePrompt };
  const p = (t: TaskRecord) => ({ text: t.prompt });

  it('codex: exec --json with a sandbox, never --full-auto; resume by thread id; the prompt on stdin ("-"), never in argv', () => {
    const t = task({ agent: 'codex' });
    assert.ok(ADAPTERS.codex.promptOnStdin(t.prompt));
    assert.deepEqual(ADAPTERS.codex.startArgs(t, settings.agents.codex, p(t)),
      ['exec', '--json', '-s', 'workspace-write', '--skip-git-repo-check', '-C', '/home/dev/proj', '--', '-']);
    // exec resume refuses -s and -C: they go before "resume".
    assert.deepEqual(ADAPTERS.codex.resumeArgs({ ...t, agentSessionId: 'th-1' }, settings.agents.codex, cont),
      ['exec', '--json', '-s', 'workspace-write', '--skip-git-repo-check', '-C', '/home/dev/proj', 'resume', 'th-1', '--', '-']);
    assert.ok(!ADAPTERS.codex.startArgs(t, settings.agents.codex, p(t)).includes('--full-auto'));
  });

  it('claude: a minted --session-id up front, --resume <id> later, never a bare --resume; the prompt on stdin, never in argv', () => {
    const prepared = ADAPTERS.claude.prepare({ dir: '/p', taskDir: '/s', env: { HOME: '/h' } });
    assert.match(prepared.agentSessionId ?? '', /^[0-9a-f-]{36}$/);
    assert.deepEqual(prepared.agentData, {}, 'no guess of where Claude Code keeps its sessions');
    assert.deepEqual(ADAPTERS.claude.canResume(task({ agent: 'claude', agentSessionId: prepared.agentSessionId })), { ok: true }, 'its own --resume decides');
    const t = task({ agent: 'claude', agentSessionId: prepared.agentSessionId });
    const start = ADAPTERS.claude.startArgs(t, settings.agents.claude, p(t));
    assert.deepEqual(start.slice(0, 6), ['-p', '--output-format', 'stream-json', '--verbose', '--session-id', prepared.agentSessionId]);
    assert.ok(ADAPTERS.claude.promptOnStdin(t.prompt));
    assert.ok(!start.includes(t.prompt));
    const resume = ADAPTERS.claude.resumeArgs(t, settings.agents.claude, cont);
    assert.equal(resume[resume.indexOf('--resume') + 1], prepared.agentSessionId);
    assert.ok(!resume.includes(cont.text));
  });

  it('opencode: always --dir; resume with --session <id>', () => {
    const t = task({ agent: 'opencode', agentSessionId: 'ses_1' });
    // opencode quotes a message argument: the prompt goes on stdin instead.
    assert.ok(ADAPTERS.opencode.promptOnStdin(t.prompt));
    assert.deepEqual(ADAPTERS.opencode.startArgs(t, settings.agents.opencode, p(t)),
      ['run', '--dir', '/home/dev/proj', '--format', 'json', '--auto']);
    assert.deepEqual(ADAPTERS.opencode.resumeArgs(t, settings.agents.opencode, cont),
      ['run', '--dir', '/home/dev/proj', '--session', 'ses_1', '--format', 'json', '--auto']);
  });

  it('pi: its session file chosen up front, the same file to resume', () => {
    const prepared = ADAPTERS.pi.prepare({ dir: '/p', taskDir: '/state/tasks/pi-x', env: {} });
    const t = task({ agent: 'pi', agentData: prepared.agentData, prompt: 'Write the docs' });
    assert.deepEqual(ADAPTERS.pi.startArgs(t, settings.agents.pi, p(t)),
      ['-p', '--mode', 'json', '--session', '/state/tasks/pi-x/pi-session.jsonl', 'Write the docs']);
    assert.deepEqual(ADAPTERS.pi.resumeArgs(t, settings.agents.pi, cont),
      ['-p', '--mode', 'json', '--session', '/state/tasks/pi-x/pi-session.jsonl', cont.text]);
  });

  it('pi has no "--": a prompt that starts with "-" or "@" goes on stdin, not in the argv', () => {
    for (const prompt of ['--help me', '@README.md fix it']) {
      const t = task({ agent: 'pi', agentData: { sessionFile: '/s.jsonl' }, prompt });
      assert.ok(ADAPTERS.pi.promptOnStdin(prompt));
      assert.deepEqual(ADAPTERS.pi.startArgs(t, settings.agents.pi, p(t)), ['-p', '--mode', 'json', '--session', '/s.jsonl']);
    }
    assert.equal(ADAPTERS.pi.promptOnStdin('Write the docs'), false);
  });

  it('configured mode and extra args replace the defaults', () => {
    const t = task({ agent: 'codex' });
    const args = ADAPTERS.codex.startArgs(t, { executable: 'codex', modeArgs: ['--dangerously-bypass-approvals-and-sandbox'], extraArgs: ['-m', 'o3'] }, p(t));
    assert.deepEqual(args, ['exec', '--json', '--dangerously-bypass-approvals-and-sandbox', '--skip-git-repo-check', '-C', '/home/dev/proj', '-m', 'o3', '--', '-']);
  });
});

describe('tmux argv', () => {
  it('targets sessions exactly, panes with the trailing colon', () => {
    assert.deepEqual(cmd.killSessionArgs('codex-a'), ['kill-session', '-t', '=codex-a']);
    assert.deepEqual(cmd.hasSessionArgs('codex-a'), ['has-session', '-t', '=codex-a']);
    assert.deepEqual(cmd.capturePaneArgs('codex-a', 200), ['capture-pane', '-p', '-J', '-t', '=codex-a:', '-S', '-200']);
    assert.deepEqual(cmd.sendLiteralArgs('codex-a', '-y'), ['send-keys', '-l', '-t', '=codex-a:', '--', '-y']);
    assert.deepEqual(cmd.sendEnterArgs('codex-a'), ['send-keys', '-t', '=codex-a:', 'Enter']);
  });

  it('starts the pane command without a shell and keeps the dead pane in the same invocation', () => {
    const args = cmd.newSessionArgs({ session: 's', cwd: '/d', command: ['/bin/bash', '-c', 'x', 'a b'] });
    assert.deepEqual(args, ['new-session', '-d', '-s', 's', '-c', '/d', '-x', '200', '-y', '50', '--', '/bin/bash', '-c', 'x', 'a b',
      ';', 'set-option', '-t', '=s:', 'remain-on-exit', 'on']);
  });

  it('parses list-panes, keeping each session\'s first pane', () => {
    const sep = cmd.FIELD_SEPARATOR;
    const line = (s: string, w: number, p: number, dead: string, status: string, signal: string, wake = '') =>
      [s, w, p, `%${w}${p}`, 100 + p, dead, status, signal, 1700000000, 'bash', 1690000000, 1680000000, wake].join(sep);
    const out = [line('codex-a', 0, 1, '0', '', ''), line('codex-a', 0, 0, '1', '', '9', 'resilient-agent-1a2b'), line('pi-b', 1, 0, '1', '3', ''), 'garbage'].join('\n');
    const panes = cmd.parseListPanes(out);
    assert.equal(panes.size, 2);
    assert.deepEqual({ ...panes.get('codex-a') }, {
      session: 'codex-a', windowIndex: 0, paneIndex: 0, paneId: '%00', pid: 100, dead: true, deadStatus: null, deadSignal: 9,
      activity: 1700000000, currentCommand: 'bash', created: 1690000000, serverPid: 1680000000, wakeChannel: 'resilient-agent-1a2b',
    });
    assert.equal(panes.get('pi-b')?.deadStatus, 3);
    assert.equal(panes.get('pi-b')?.wakeChannel, '');
  });

  it('sets the pane-died hook on the session\'s own window, signalling a channel with no shell', () => {
    assert.deepEqual(cmd.wakeHookArgs('codex-a', 'resilient-agent-1a2b'), [
      ['set-hook', '-t', '=codex-a:', 'pane-died', 'wait-for -S resilient-agent-1a2b'],
      ['set-option', '-w', '-t', '=codex-a:', '@resilient-agent-wake', 'resilient-agent-1a2b'],
    ]);
    assert.throws(() => cmd.wakeHookArgs('codex-a', 'x; kill-server'));
    assert.deepEqual(cmd.respawnPaneArgs('s', '/d', ['bash'], cmd.wakeHookArgs('s', 'c')), ['respawn-pane', '-k', '-t', '=s:', '-c', '/d', '--', 'bash',
      ';', 'set-hook', '-t', '=s:', 'pane-died', 'wait-for -S c', ';', 'set-option', '-w', '-t', '=s:', '@resilient-agent-wake', 'c']);
  });
});

describe('session ids from the JSON events', () => {
  it('codex: thread.started on line 1', () => {
    assert.equal(ADAPTERS.codex.sessionIdFromEvents(['{"type":"thread.started","thread_id":"0199-abc"}', '{"type":"turn.started"}']), '0199-abc');
    assert.equal(ADAPTERS.codex.sessionIdFromEvents(['Reading additional input from stdin...']), undefined);
  });
  it('claude: system init', () => {
    assert.equal(ADAPTERS.claude.sessionIdFromEvents(['{"type":"system","subtype":"init","session_id":"u-1"}']), 'u-1');
  });
  it('opencode: the first sessionID, which may come late', () => {
    assert.equal(ADAPTERS.opencode.sessionIdFromEvents(['noise', '{"type":"step_start","sessionID":"ses_9"}']), 'ses_9');
    assert.equal(ADAPTERS.opencode.sessionIdFromEvents([]), undefined);
  });
  it('pi: the session header', () => {
    assert.equal(ADAPTERS.pi.sessionIdFromEvents(['{"type":"session","version":3,"id":"p-1","cwd":"/x"}']), 'p-1');
  });
});

describe('capturing many panes in one tmux call', () => {
  it('chains captures with separator lines and splits them back', () => {
    assert.deepEqual(cmd.captureManyArgs(['a', 'b'], 40, 'SEP'), [
      'capture-pane', '-p', '-J', '-t', '=a:', '-S', '-40', ';', 'display-message', '-p', 'SEP', ';',
      'capture-pane', '-p', '-J', '-t', '=b:', '-S', '-40', ';', 'display-message', '-p', 'SEP',
    ]);
    const parsed = cmd.parseCaptureMany('one\ntwo\nSEP\n\nthree\nSEP\n', ['a', 'b'], 'SEP');
    assert.deepEqual([...parsed], [['a', 'one\ntwo\n'], ['b', '\nthree\n']]);
  });
});

describe('capturing more panes than one tmux command can hold', () => {
  it('splits the captures to stay under tmux\'s message size', async () => {
    const { Tmux, CAPTURE_BUDGET } = await import('../../src/core/tmux/tmux');
    const calls: string[][] = [];
    const tmux = new Tmux({
      exec: async (_f, args) => {
        calls.push([...args]);
        const sep = args[args.indexOf('display-message') + 2];
        const n = args.filter((a) => a === 'capture-pane').length;
        return { stdout: Array.from({ length: n }, (_, i) => `pane ${i}\n${sep}\n`).join(''), stderr: '', exitCode: 0 };
      },
    });
    const sessions = Array.from({ length: 300 }, (_, i) => `codex-task-${i}`);
    const got = await tmux.captureMany(sessions, 40);
    assert.ok(calls.length >= 3 && calls.length <= 4, `${calls.length} tmux calls`);
    for (const c of calls) assert.ok(c.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0) <= CAPTURE_BUDGET + 64);
    assert.ok(calls[0].filter((a) => a === 'capture-pane').length >= 90, 'about a hundred panes per call');
    assert.equal(got.size, 300);
    const lastCall = calls[calls.length - 1].filter((a) => a === 'capture-pane').length;
    assert.equal(got.get('codex-task-299'), `pane ${lastCall - 1}\n`);
  });
});
