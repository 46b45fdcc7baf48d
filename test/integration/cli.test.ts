import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Harness, waitFor } from './harness';

describe('the resilient-agent CLI', function () {
  let h: Harness;
  beforeEach(() => {
    h = new Harness();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  async function nothingCreated(): Promise<void> {
    assert.deepEqual(h.store.sessions(), [], 'no task record');
    const sessions = await h.tmux(['list-sessions', '-F', '#{session_name}']);
    assert.equal(sessions.stdout.trim(), '', 'no tmux session');
  }

  const badInputs: [string, string[], RegExp][] = [
    ['an invalid name', ['start', 'codex', 'Bad.Name', '--prompt', 'x'], /invalid task name "Bad\.Name"/],
    ['a name with a colon', ['start', 'codex', 'a:b', '--prompt', 'x'], /invalid task name/],
    ['a name too long', ['start', 'codex', 'x'.repeat(65), '--prompt', 'x'], /at most 64 characters/],
    // Shown escaped: a newline would make it two lines, an escape sequence would act on the terminal.
    ['a name with a newline and a terminal escape', ['start', 'codex', 'a\nb\x1b]0;t\x07', '--prompt', 'x'], /^resilient-agent: invalid task name "a\\nb\\u001b\]0;t\\u0007": /],
    ['an unknown flag with a newline', ['list', '--a\nb'], /^resilient-agent: unknown option "--a\\nb" for "list"$/],
    ['an unknown agent', ['start', 'gpt', 'ok', '--prompt', 'x'], /unknown agent "gpt": choose one of codex, claude, opencode, pi/],
    ['a missing folder', ['start', 'codex', 'ok', '--dir', '/nonexistent/folder', '--prompt', 'x'], /folder not found: \/nonexistent\/folder/],
    ['an empty prompt', ['start', 'codex', 'ok', '--prompt', '  \n'], /the prompt is empty/],
    ['no prompt', ['start', 'codex', 'ok'], /a prompt is required/],
    ['an unknown command', ['frobnicate'], /unknown command "frobnicate"/],
    ['an unknown flag', ['start', 'codex', 'ok', '--prompt', 'x', '--yolo'], /unknown option --yolo/],
    ['a bad interval', ['monitor', '--interval', 'soon'], /--interval must be a positive number/],
    ['a missing prompt file', ['start', 'codex', 'ok', '--prompt-file', '/nonexistent/p.txt'], /cannot read the prompt file/],
  ];
  for (const [what, args, message] of badInputs) {
    it(`bad input (${what}) exits 2 with one clear line and creates nothing`, async () => {
      const r = await h.cli(args);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, '');
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], message);
      assert.match(lines[0], /^resilient-agent: /);
      await nothingCreated();
    });
  }

  it('no task of a name with a terminal escape in it: said on one line, the escape shown, not sent', async () => {
    const r = await h.cli(['status', 'x\x1b[2J']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'resilient-agent: no task named "x\\u001b[2J"\n');
  });

  it('a name already in use exits non-zero and leaves the running task alone', async () => {
    const project = h.project('p', ['hang']);
    await h.ok(['start', 'codex', 'busy', '--dir', project, '--prompt', 'first']);
    await waitFor(() => h.invocations(project).length === 1, 'the first run');
    const r = await h.cli(['start', 'codex', 'busy', '--dir', project, '--prompt', 'second']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /a task named codex-busy already exists/);
    const s = await h.status('codex-busy');
    assert.equal(s.state, 'running');
    assert.equal(s.attempts.length, 1);
    assert.equal(h.invocations(project).length, 1);
    assert.equal(h.record('codex-busy')!.prompt, 'first');
  });

  it('a hand-made tmux session of the same name is not clobbered', async () => {
    await h.tmux(['new-session', '-d', '-s', 'claude-mine', 'sleep', '60']);
    const r = await h.cli(['start', 'claude', 'mine', '--dir', h.project('p'), '--prompt', 'x']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /a tmux session named claude-mine already exists/);
    assert.deepEqual(h.store.sessions(), []);
  });

  it("a hand-made session killed is a change a host's list snapshot sees: tasks/.changed is touched though it has no record to write", async () => {
    await h.tmux(['new-session', '-d', '-s', 'claude-mine', 'sleep', '60']);
    h.store.init();
    const changed = path.join(h.store.paths.tasksDir, '.changed');
    fs.writeFileSync(changed, '');
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(changed, old, old);
    await h.ok(['kill', 'mine']);
    assert.ok(fs.statSync(changed).mtimeMs > old.getTime() + 30_000, 'a snapshot written before the kill would still be served, showing it running');
  });

  it('tmux missing: one line saying to install it, nothing created', async () => {
    const env = { ...h.env, PATH: h.bin };
    const r = await h.cli(['start', 'codex', 'ok', '--dir', h.project('p'), '--prompt', 'x'], { env });
    assert.equal(r.code, 1);
    assert.match(r.stderr.trim(), /^resilient-agent: tmux is not installed: install it/);
    assert.deepEqual(h.store.sessions(), []);
  });

  it('the agent missing: one line saying what to install', async () => {
    const env = { ...h.env, PATH: (h.env.PATH ?? '').split(':').filter((p) => p !== h.bin).join(':') };
    const r = await h.cli(['start', 'opencode', 'ok', '--dir', h.project('p'), '--prompt', 'x'], { env });
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), 'resilient-agent: opencode was not found on PATH: install OpenCode (npm install -g opencode-ai) or set agents.opencode.executable');
    await nothingCreated();
  });

  it('a prompt full of shell syntax reaches the agent byte-exact and runs nothing', async () => {
    const marker = path.join(h.root, 'pwned');
    const prompt = `-n --help $(touch ${marker}) \`touch ${marker}\` "double" 'single' \\back ; rm -rf / && echo | cat\nsecond line\ttab\r\n  ünïcödé 🚀 — ${'$'}{HOME} $$ !! *`;
    const project = h.project('p');
    const out = await h.ok(['start', 'claude', 'exact', '--dir', project, '--prompt', prompt]);
    assert.match(out, /started claude-exact/);
    await waitFor(async () => (await h.status('exact')).state === 'done', 'done');
    assert.equal(h.invocations(project)[0].prompt, prompt);
    assert.equal(fs.existsSync(marker), false, 'nothing was executed');
  });

  it('reads the prompt from stdin and from a file', async () => {
    const project = h.project('p');
    await h.ok(['start', 'pi', 'stdin', '--dir', project, '--prompt', '-'], { input: 'from stdin\n' });
    const file = path.join(h.root, 'prompt.txt');
    fs.writeFileSync(file, 'from a file');
    await h.ok(['start', 'codex', 'file', '--dir', project, '--prompt-file', file]);
    await waitFor(() => h.invocations(project).length === 2, 'both runs');
    assert.deepEqual(h.invocations(project).map((i) => i.prompt).sort(), ['from a file', 'from stdin\n']);
  });

  it('a prompt file that is not UTF-8 is refused (it could not reach the agent byte for byte), and nothing is made', async () => {
    const file = path.join(h.root, 'latin1.txt');
    fs.writeFileSync(file, Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]));
    const r = await h.cli(['start', 'codex', 'latin', '--dir', h.project('latin'), '--prompt-file', file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^resilient-agent: the prompt file .*latin1\.txt is not UTF-8 text/);
    assert.deepEqual(h.store.sessions(), []);
  });

  it('the one-character prompt "-" is given on stdin or in a file; an empty stdin is refused', async () => {
    const project = h.project('dash');
    await h.ok(['start', 'codex', 'dash-stdin', '--dir', project, '--prompt', '-'], { input: '-' });
    const file = path.join(h.root, 'dash.txt');
    fs.writeFileSync(file, '-');
    await h.ok(['start', 'codex', 'dash-file', '--dir', project, '--prompt-file', file]);
    await waitFor(() => h.invocations(project).length === 2, 'both runs');
    assert.deepEqual(h.invocations(project).map((i) => i.prompt), ['-', '-']);
    const empty = await h.cli(['start', 'codex', 'dash-empty', '--dir', project, '--prompt', '-']);
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /prompt is empty/);
    assert.equal(h.store.sessions().includes('codex-dash-empty'), false);
  });

  it('status and list speak JSON with the documented fields', async () => {
    const project = h.project('p');
    const started = JSON.parse(await h.ok(['start', 'codex', 'json', '--dir', project, '--prompt', 'x', '--json']));
    assert.equal(started.session, 'codex-json');
    await waitFor(async () => (await h.status('codex-json')).state === 'done', 'done');
    const s = JSON.parse(await h.ok(['status', 'json', '--json']));
    for (const key of ['name', 'session', 'agent', 'state', 'agentSessionId', 'dir', 'attempts']) assert.ok(key in s, key);
    assert.deepEqual([s.name, s.session, s.agent, s.state, s.dir], ['json', 'codex-json', 'codex', 'done', project]);
    assert.match(s.agentSessionId, /^[0-9a-f-]{36}$/);
    for (const key of ['startedAt', 'endedAt', 'exitCode', 'cause']) assert.ok(key in s.attempts[0], key);
    const list = JSON.parse(await h.ok(['list', '--json']));
    assert.deepEqual(list.map((t: { session: string }) => t.session), ['codex-json']);
    assert.match(await h.ok(['list']), /codex-json\s+done/);
  });

  it('a session started by hand the seed\'s way is listed as adopted and resumed by its id file', async () => {
    const name = `seed${process.pid}`;
    const idFile = `/tmp/codex-${name}.codex-session-id`;
    const project = h.project('seed', ['ok']);
    fs.mkdirSync(path.join(h.env.FIXTURE_HOME!, 'codex'), { recursive: true });
    fs.writeFileSync(path.join(h.env.FIXTURE_HOME!, 'codex', 'th-seed.json'), JSON.stringify({ id: 'th-seed', cwd: project, prompts: ['by hand'] }));
    fs.writeFileSync(idFile, 'th-seed\n');
    try {
      await h.tmux(['new-session', '-d', '-s', `codex-${name}`, '-c', project, 'sh', '-c', 'echo codex crashed; exec sleep 600']);
      await h.tmux(['new-session', '-d', '-s', 'notes', 'sleep', '600']);
      const list = JSON.parse(await h.ok(['list', '--json']));
      assert.equal(list.length, 1, 'only seed-named sessions');
      assert.deepEqual([list[0].session, list[0].adopted, list[0].agentSessionId], [`codex-${name}`, true, 'th-seed']);
      await h.tmux(['respawn-pane', '-k', '-t', `=codex-${name}:`, '-c', project, 'sh', '-c', 'echo "codex crashed"; printf "user@host:~/proj$ "; exec sleep 600']);
      await waitFor(async () => JSON.parse(await h.ok(['list', '--json']))[0].state === 'failed', 'the shell prompt seen');
      const out = await h.ok(['resume', name]);
      assert.match(out, /attempt 1 resumes session th-seed/);
      await waitFor(async () => (await h.status(`codex-${name}`)).state === 'done', 'done');
      const run = h.invocations(project)[0];
      assert.equal(run.mode, 'resume');
      assert.equal(run.sessionId, 'th-seed');
    } finally {
      fs.rmSync(idFile, { force: true });
    }
  });

  it('send types text then Enter into the pane; logs shows it', async () => {
    await h.tmux(['new-session', '-d', '-s', 'claude-ask', '-x', '80', '-y', '10', 'sh', '-c', 'printf "Do you want to proceed? "; read answer; echo "answer=[$answer]"; exec sleep 600']);
    await h.ok(['send', 'claude-ask', 'yes $(touch pwned)']);
    await waitFor(async () => /answer=\[yes \$\(touch pwned\)\]/.test(await h.ok(['logs', 'ask', '--lines', '5'])), 'the answer echoed');
  });

  it('doctor reports tmux, the state dir and the agents', async () => {
    const r = await h.cli(['doctor']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^tmux: tmux \d/m);
    assert.match(r.stdout, /^state dir: .* \(writable, mode 700\)$/m);
    assert.match(r.stdout, new RegExp(`^codex: ${h.bin}/codex`, 'm'));
  });
});
