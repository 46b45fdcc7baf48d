import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pi, piExtension, readPiHook } from '../../src/core/agents/pi';
import { launchAction } from '../../src/core/decide/classify';
import { testRecord } from '../tools/records';

const FILE = '/state/tasks/pi-x/pi-session.jsonl';

describe("Pi's extension events read as states", () => {
  // Every reading names its session file as Pi's own log of the session: the rest compared here.
  const read = (p: Record<string, unknown>) => {
    const r = readPiHook({ session_file: FILE, session_id: 'u-1', cwd: '/p', ...p });
    if (!r) return r;
    assert.equal(r.log, FILE);
    const { log: _log, ...rest } = r;
    return rest;
  };

  it('idle at its start and at the end of a turn, working from agent_start; the session is its file', () => {
    assert.deepEqual(read({ hook_event_name: 'session_start', reason: 'startup' }), { state: 'idle', sessionId: FILE });
    assert.deepEqual(read({ hook_event_name: 'agent_start' }), { state: 'working', sessionId: FILE });
    assert.deepEqual(read({ hook_event_name: 'agent_end', stop_reason: 'stop' }), { state: 'idle', sessionId: FILE });
    assert.equal(read({ hook_event_name: 'agent_end', stop_reason: 'aborted' })?.reason, 'its turn was interrupted (Esc)');
    assert.match(read({ hook_event_name: 'agent_end', stop_reason: 'error', error_message: '500 boom' })?.reason ?? '', /^its turn ended on an error: 500 boom/);
  });

  it("a quit is the person's unless a SIGTERM began it; /new, /resume, /fork end no task", () => {
    assert.deepEqual(read({ hook_event_name: 'session_shutdown', reason: 'quit' }), { state: 'ended', reason: 'the person exited Pi', byPerson: true, sessionId: FILE });
    assert.equal(read({ hook_event_name: 'session_shutdown', reason: 'quit', signal: 'SIGTERM' })?.byPerson, false);
    for (const reason of ['new', 'resume', 'fork', 'reload']) assert.equal(read({ hook_event_name: 'session_shutdown', reason }), undefined);
    assert.equal(read({ hook_event_name: 'turn_end' }), undefined);
    assert.equal(readPiHook({}), undefined);
  });

  it('the extension is a module node accepts, naming the hook argv as given', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ra-pi-ext-'));
    const file = path.join(dir, 'pi-hooks.mjs');
    fs.writeFileSync(file, piExtension(['/usr/bin/node', "/it's/cli.js", 'hook', 'pi', '/a b', '/w']));
    execFileSync(process.execPath, ['--check', file]);
    assert.match(fs.readFileSync(file, 'utf8'), /"\/it's\/cli\.js"/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('argv: --session FILE and -e EXT; a first prompt starting with "-" or "@" after a space (Pi has no "--")', () => {
    const task = testRecord({ agent: 'pi', session: 'pi-x', agentData: { sessionFile: FILE }, mode: 'interactive' }, new Date().toISOString());
    const s = { executable: 'pi', modeArgs: ['--x'], extraArgs: ['--thinking', 'off'] };
    const tui = pi.interactive!;
    assert.equal(tui.settingsName, 'pi-hooks.mjs');
    assert.deepEqual(tui.startArgs(task, s, '/a/pi-hooks.mjs', 'hello'), ['--session', FILE, '-e', '/a/pi-hooks.mjs', '--thinking', 'off', 'hello']);
    assert.deepEqual(tui.startArgs(task, s, '/a/pi-hooks.mjs', '-v please'), ['--session', FILE, '-e', '/a/pi-hooks.mjs', '--thinking', 'off', ' -v please']);
    assert.deepEqual(tui.resumeArgs(task, s, '/a/pi-hooks.mjs', undefined), ['--session', FILE, '-e', '/a/pi-hooks.mjs', '--thinking', 'off']);
    // After /new in its TUI, its hooks named another file: that one is resumed.
    assert.deepEqual(tui.resumeArgs({ ...task, agentSessionId: '/pi/sessions/b.jsonl' }, s, '/e.mjs', undefined).slice(0, 2), ['--session', '/pi/sessions/b.jsonl']);
  });

  it('nothing saved (killed during its first reply): started again with its first prompt; a session saved once: empty', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ra-pi-resume-'));
    const first = path.join(dir, 'pi-session.jsonl');
    const task = testRecord({ agent: 'pi', session: 'pi-x', prompt: 'do it', agentData: { sessionFile: first }, mode: 'interactive' }, new Date().toISOString());
    assert.deepEqual(launchAction(task, pi, 'crash'), {
      kind: 'launch', cause: 'restart', mode: 'start', prompt: 'do it', note: 'started again from its prompt: pi had not saved its session (killed during its first reply)',
    });
    fs.writeFileSync(first, '{}\n');
    assert.deepEqual(launchAction(task, pi, 'crash'), { kind: 'launch', cause: 'crash', mode: 'resume' });
    // Its TUI moved to another session (/new) that was never saved: opened empty, a fresh file.
    const moved = { ...task, agentSessionId: path.join(dir, 'other.jsonl') };
    const action = launchAction(moved, pi, 'crash');
    assert.deepEqual([action.kind, action.kind === 'launch' && action.mode, action.kind === 'launch' && action.prompt], ['launch', 'start', undefined]);
    assert.equal(pi.prepare({ dir: '/p', taskDir: dir, env: {} }).agentData.sessionFile, path.join(dir, 'pi-session-2.jsonl'));
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
