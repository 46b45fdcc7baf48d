import * as assert from 'node:assert/strict';
import { opencode, readOpencodeServerEvent } from '../../src/core/agents/opencode';
import { testRecord } from '../tools/records';

const ID = 'ses_1';

describe("OpenCode's server events read as states", () => {
  const read = (type: string, properties: Record<string, unknown>, known: string | undefined = ID) => readOpencodeServerEvent({ id: 'evt_1', type, properties }, known);

  it('working while busy or retrying, idle at the end of a turn; the id from session.created (not a subagent\'s)', () => {
    assert.deepEqual(read('session.created', { sessionID: 'ses_2', info: { id: 'ses_2' } }), { state: 'working', sessionId: 'ses_2' });
    assert.equal(read('session.created', { sessionID: 'ses_3', info: { id: 'ses_3', parentID: ID } }), undefined);
    assert.deepEqual(read('session.status', { sessionID: ID, status: { type: 'busy' } }), { state: 'working', sessionId: ID });
    assert.match(read('session.status', { sessionID: ID, status: { type: 'retry', attempt: 2, message: 'overloaded', next: 1 } })?.reason ?? '', /^retrying \(attempt 2\): overloaded/);
    assert.deepEqual(read('session.status', { sessionID: ID, status: { type: 'idle' } }), { state: 'idle', sessionId: ID });
    assert.deepEqual(read('session.idle', { sessionID: ID }), { state: 'idle', sessionId: ID });
    // Another session's (a subagent's) says nothing of the TUI's own.
    assert.equal(read('session.status', { sessionID: 'ses_9', status: { type: 'idle' } }), undefined);
    assert.equal(read('server.heartbeat', {}), undefined);
    assert.equal(read('server.instance.disposed', { directory: '/p' }), undefined);
  });

  it('a permission or a question: waiting, saying what it asks; answered: working', () => {
    const asked = read('permission.asked', { id: 'per_1', sessionID: ID, permission: 'bash', patterns: ['echo hi > out.txt'], metadata: { command: 'echo hi > out.txt' }, always: [] });
    assert.deepEqual(asked, { state: 'waiting', reason: 'permission to use bash: echo hi > out.txt', sessionId: ID });
    assert.equal(read('permission.replied', { sessionID: ID, requestID: 'per_1', reply: 'once' })?.state, 'working');
    assert.equal(read('question.asked', { id: 'que_1', sessionID: ID, questions: [{ question: 'Which one?', header: 'Pick' }] })?.reason, 'a question: Which one?');
    assert.equal(read('question.rejected', { sessionID: ID, requestID: 'que_1' })?.state, 'working');
  });

  it('Esc and an API error: idle, saying why', () => {
    assert.equal(read('session.error', { sessionID: ID, error: { name: 'MessageAbortedError', data: { message: 'Aborted' } } })?.reason, 'its turn was interrupted (Esc)');
    assert.equal(read('session.error', { sessionID: ID, error: { name: 'APIError', data: { message: 'bad request', statusCode: 400 } } })?.reason, 'its turn ended on an error: bad request');
  });

  it('argv: its server on a loopback port, the first prompt as one element, -s/--session ID to resume; the password only in its environment', () => {
    const tui = opencode.interactive!;
    const task = testRecord({ agent: 'opencode', dir: '/p', agentSessionId: ID });
    const s = { executable: 'opencode', modeArgs: ['--auto'], extraArgs: ['-m', 'x/y'], continuePrompt: 'c' };
    assert.deepEqual(tui.startArgs(task, s, '/a/agent-settings.json', '-n 3 things', undefined, 4242), ['--port', '4242', '--hostname', '127.0.0.1', '-m', 'x/y', '--prompt=-n 3 things', '/p']);
    assert.deepEqual(tui.resumeArgs(task, s, '/a/agent-settings.json', undefined, undefined, 4243), ['--port', '4243', '--hostname', '127.0.0.1', '--session', ID, '-m', 'x/y', '/p']);
    // OpenCode drops --prompt with -s: a follow-up goes through its API instead.
    assert.deepEqual(tui.resumeArgs(task, s, '/a/agent-settings.json', 'more', undefined, 4243), tui.resumeArgs(task, s, '/a/agent-settings.json', undefined, undefined, 4243));
    const posted: [string, unknown][] = [];
    void tui.server!.sendPrompt!((p, body) => Promise.resolve(void posted.push([p, body])), '/a b', ID, 'more');
    assert.deepEqual(posted, [[`/session/${ID}/prompt_async?directory=%2Fa%20b`, { parts: [{ type: 'text', text: 'more' }] }]]);
    assert.deepEqual(tui.server!.env('pw'), { OPENCODE_SERVER_PASSWORD: 'pw', OPENCODE_SERVER_USERNAME: 'opencode' });
    assert.equal(tui.server!.authorization('pw'), `Basic ${Buffer.from('opencode:pw').toString('base64')}`);
  });

  it('its current state on (re)connecting: a pending permission first, else its status; an unknown id from its newest session since the attempt began', async () => {
    const server = opencode.interactive!.server!;
    const answers: Record<string, unknown> = { '/session/status': {}, '/permission': [], '/question': [], '/session': [
      { id: 'ses_old', time: { created: 50 } }, { id: 'ses_new', time: { created: 200 } }, { id: 'ses_sub', parentID: 'ses_new', time: { created: 300 } },
    ] };
    const get = (p: string) => Promise.resolve(answers[p.split('?')[0]]);
    assert.deepEqual(await server.currentState(get, '/p', undefined, 100), { state: 'idle', sessionId: 'ses_new' });
    answers['/session/status'] = { [ID]: { type: 'busy' } };
    assert.deepEqual(await server.currentState(get, '/p', ID, 100), { state: 'working', sessionId: ID });
    answers['/permission'] = [{ id: 'per_1', sessionID: ID, permission: 'edit', patterns: ['a.txt'], metadata: {} }];
    assert.deepEqual(await server.currentState(get, '/p', ID, 100), { state: 'waiting', reason: 'permission to use edit: a.txt', sessionId: ID });
  });
});
