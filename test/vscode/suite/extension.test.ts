import * as assert from 'assert';
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import type { Api } from '../../../src/extension/extension';
import type { TaskState } from '../../../src/core/model/record';
import { CLI, REPO, waitFor, writeFixtureBin } from '../../integration/harness';

const EXTENSION_ID = 'resilient-coding-agent.resilient-coding-agent';

function run(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: unknown }).code) || 1 : 0, stdout, stderr });
    });
  });
}

// The whole suite runs in a trusted workspace; untrusted.test.ts runs in a second, untrusted one.
if (!process.env.RESILIENT_AGENT_TEST_UNTRUSTED) describe('the extension in a real VS Code', function () {
  this.timeout(60_000);
  let api: Api;
  let root: string;
  let workspace: string;
  let tmuxBase: string[];

  function project(name: string, plan: string[]): string {
    const dir = path.join(workspace, name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, '.fixture-plan.json'), JSON.stringify(plan));
    return dir;
  }

  /**
   * `agent` is its TUI fixture (test/fixtures/FIXTURE, its contract) for the length of `body`; the
   * terminals attached to `session` are closed after it. `inTerminal`: a terminal attached to it.
   */
  async function withTui(agent: string, fixture: string, session: string, body: (inTerminal: (t: vscode.Terminal) => boolean) => Promise<void>): Promise<void> {
    const tui = path.join(root, `tui-bin-${session}`, agent);
    fs.mkdirSync(path.dirname(tui), { recursive: true });
    fs.writeFileSync(tui, `#!/bin/sh\nexec '${process.execPath}' '${path.join(REPO, 'test', 'fixtures', fixture)}' "$@"\n`, { mode: 0o755 });
    const config = vscode.workspace.getConfiguration('resilientAgent');
    await config.update(`agents.${agent}.executable`, tui, vscode.ConfigurationTarget.Global);
    const inTerminal = (t: vscode.Terminal) => ((t.creationOptions as vscode.TerminalOptions).shellArgs ?? []).includes(`=${session}`);
    try {
      await body(inTerminal);
    } finally {
      for (const t of vscode.window.terminals) if (inTerminal(t)) t.dispose();
      await config.update(`agents.${agent}.executable`, undefined, vscode.ConfigurationTarget.Global);
    }
  }

  function invocations(dir: string): { mode: string; sessionId: string; prompt: string }[] {
    const file = path.join(dir, '.fixture-invocations.jsonl');
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
  }

  function itemFor(session: string): vscode.TreeItem | undefined {
    for (const group of api.tree.getChildren()) {
      for (const node of api.tree.getChildren(group)) {
        if (node.kind === 'task' && node.view.session === session) return api.tree.getTreeItem(node);
      }
    }
    return undefined;
  }

  function stateOf(session: string): TaskState | undefined {
    return api.model.find(session)?.state;
  }

  async function crash(session: string, attempt: number): Promise<void> {
    const pidFile = path.join(api.model.service.store.paths.attemptDir(session, attempt), 'pid');
    await waitFor(() => fs.existsSync(pidFile), `the runner of ${session}`);
    process.kill(-Number(fs.readFileSync(pidFile, 'utf8')), 'SIGKILL');
  }

  /** The agent is in the middle of its reply (its session saved): a crash now is resumable. */
  async function midReply(session: string, attempt: number): Promise<void> {
    const events = path.join(api.model.service.store.paths.attemptDir(session, attempt), 'events.jsonl');
    await waitFor(() => fs.existsSync(events) && fs.readFileSync(events, 'utf8').includes('working...'), `${session} mid-reply`);
  }

  async function tmux(args: string[]): Promise<{ code: number; stdout: string }> {
    return run(tmuxBase[0], [...tmuxBase.slice(1), ...args]);
  }

  before(async () => {
    const extension = vscode.extensions.getExtension<Api>(EXTENSION_ID);
    assert.ok(extension, 'extension loaded');
    api = await extension.activate();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'ra-vsc-'));
    // Fixture agents first on PATH; the extension resolves agents on its (live) environment.
    process.env.PATH = `${writeFixtureBin(path.join(root, 'bin'))}:${process.env.PATH}`;
    process.env.FIXTURE_HOME = path.join(root, 'fixture-home');
    workspace = vscode.workspace.workspaceFolders![0].uri.fsPath;
    // This window supervises for these tests; the background supervisor has its own test below.
    await vscode.workspace.getConfiguration('resilientAgent').update('supervisor.mode', 'window', vscode.ConfigurationTarget.Global);
    await vscode.workspace.getConfiguration('resilientAgent').update('monitor.intervalSeconds', 0.2, vscode.ConfigurationTarget.Global);
    await vscode.workspace.getConfiguration('resilientAgent').update('view.refreshSeconds', 0.2, vscode.ConfigurationTarget.Global);
    await waitFor(() => api.model.monitorIntervalMs === 200, 'the interval setting applied');
    tmuxBase = api.model.service.tmux.baseArgv();
  });

  after(async () => {
    await tmux(['kill-server']);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('activates and reports its activation time (bundle load included; measured by npm run bench)', () => {
    assert.strictEqual(typeof api.activationMs, 'number');
    assert.ok(api.activationMs > 0);
    const artifacts = process.env.RESILIENT_AGENT_TEST_ARTIFACTS;
    if (artifacts) fs.writeFileSync(path.join(artifacts, 'activation-ms.txt'), `${api.activationMs.toFixed(1)}\n`);
  });

  it('start creates a task that appears in the tree as running, with the status bar following', async () => {
    const dir = project('tree', ['hang']);
    const record = await vscode.commands.executeCommand<{ session: string }>('resilientAgent.start', {
      agent: 'codex', name: 'tree', prompt: 'Fix the flaky test', folder: dir,
    });
    assert.strictEqual(record?.session, 'codex-tree');
    await waitFor(() => stateOf('codex-tree') === 'running', 'running in the model');
    const item = itemFor('codex-tree');
    assert.ok(item, 'a tree item');
    assert.strictEqual(item.label, 'tree');
    assert.match(String(item.description), /^codex · running/);
    assert.match(String(item.contextValue), /state=running/);
    assert.match(String(item.contextValue), /:live/);
    assert.strictEqual((item.iconPath as vscode.ThemeIcon).id, 'sync~spin');
    await waitFor(() => api.statusBar.text.includes('1 running'), `status bar "1 running" (is "${api.statusBar.text}")`);
    const tooltip = (item.tooltip as vscode.MarkdownString).value;
    assert.match(tooltip, /Fix the flaky test/);
    assert.match(tooltip, /attempt 1/);
  });

  it('a crash is resumed by exact id: running -> failed -> resuming -> running -> done', async () => {
    const dir = project('crash', ['hang', 'ok']);
    const seen: TaskState[] = [];
    const sub = api.model.onDidChangeState((c) => {
      if (c.session === 'claude-crash') seen.push(c.to);
    });
    try {
      await vscode.commands.executeCommand('resilientAgent.start', { agent: 'claude', name: 'crash', prompt: 'Long refactor', folder: dir });
      await midReply('claude-crash', 1);
      await crash('claude-crash', 1);
      await waitFor(() => stateOf('claude-crash') === 'done', 'done after the resume');
      await waitFor(() => itemFor('claude-crash')?.description?.toString().startsWith('claude · done'), 'the tree shows done');
      // The view may read the end before the supervisor records it: wait for the supervisor too.
      await waitFor(() => seen.includes('done'), 'the supervisor saw it done');
    } finally {
      sub.dispose();
    }
    assert.deepStrictEqual(seen.filter((s, i) => s !== seen[i - 1]).slice(0, 2), ['failed', 'resuming']);
    assert.strictEqual(seen[seen.length - 1], 'done');
    const runs = invocations(dir);
    assert.strictEqual(runs.length, 2);
    assert.strictEqual(runs[1].mode, 'resume');
    assert.strictEqual(runs[1].sessionId, runs[0].sessionId);
    assert.deepStrictEqual(api.model.find('claude-crash')!.attempts.map((a) => a.cause), ['start', 'crash']);
    const done = await waitFor(() => api.notices.shown.find((n) => n.session === 'claude-crash' && n.state === 'done'), 'a done notification');
    // The agent's last word, not only "is done".
    assert.match(done.message, /^Agent task "crash" \(claude\) is done: "done: \d+ characters of prompt"$/);
    // The tooltip: the agent's last word and what the task used (the fixture's one model call after the resume).
    // (Markdown as the tooltip has it, its escapes taken out.)
    const tipOf = () => ((itemFor('claude-crash')?.tooltip as vscode.MarkdownString | undefined)?.value ?? '').replace(/\\/g, '');
    await waitFor(() => /Tokens: 100 in \(40 cached\) · 10 out · \$0\.01/.test(tipOf()), 'the tokens in the tooltip');
    const tip = tipOf();
    assert.match(tip, /Last from the agent: done: \d+ characters of prompt/);
  });

  it('the output channel shows the task\'s transcript: what the agent said, not its JSON', async () => {
    await vscode.commands.executeCommand('resilientAgent.showOutput', 'codex-tree');
    await waitFor(() => api.mirror.textOf('codex-tree')?.includes('● working...'), 'the transcript');
    const text = api.mirror.textOf('codex-tree')!;
    assert.match(text, /^── attempt 1: started at /m);
    assert.match(text, /^· codex thread \S+$/m);
    assert.doesNotMatch(text, /^\s*\{"/m, 'no raw JSON');
    assert.doesNotMatch(text, /\x1b\[/, 'no ANSI escapes');
  });

  it('a prompt written in a Markdown document starts the task with the whole document, byte for byte', async () => {
    const text = '# Fix the parser\n\n  Keep `$(touch pwned)` and "quotes" as they are.\n\n- one\n- two   \n\n';
    const doc = await api.docs.write({ agent: 'codex', name: 'doc' });
    assert.strictEqual(doc.languageId, 'markdown');
    assert.ok(doc.isUntitled);
    const edit = new vscode.WorkspaceEdit();
    edit.insert(doc.uri, new vscode.Position(0, 0), text);
    assert.ok(await vscode.workspace.applyEdit(edit));
    const lenses = api.docs.provideCodeLenses(doc);
    assert.strictEqual(lenses.length, 1);
    assert.match(lenses[0].command!.title, /Start task "doc" \(codex\): the whole document is its prompt/);
    const record = await vscode.commands.executeCommand<{ session: string; prompt: string }>(lenses[0].command!.command, ...(lenses[0].command!.arguments ?? []));
    assert.strictEqual(record?.session, 'codex-doc');
    assert.strictEqual(record.prompt, text);
    const run = await waitFor(() => invocations(workspace).find((r) => r.prompt.includes('Fix the parser')), 'the agent started');
    assert.strictEqual(run.prompt, text, 'the agent got the document byte for byte');
    assert.ok(!fs.existsSync(path.join(workspace, 'pwned')), 'nothing in the prompt ran');
    // The document was only for the prompt: it goes, without asking to save it.
    await waitFor(() => !vscode.workspace.textDocuments.some((d) => d.uri.toString() === doc.uri.toString() && !d.isClosed) || !vscode.window.visibleTextEditors.some((e) => e.document === doc), 'the document closed');
  });

  it('attach opens an integrated terminal on the exact session', async () => {
    const terminal = await vscode.commands.executeCommand<vscode.Terminal>('resilientAgent.attach', 'codex-tree');
    assert.ok(terminal);
    const options = terminal.creationOptions as vscode.TerminalOptions;
    assert.deepStrictEqual(options.shellArgs, [...tmuxBase.slice(1), 'attach-session', '-t', '=codex-tree']);
    await waitFor(async () => (await tmux(['list-clients', '-t', '=codex-tree', '-F', '#{session_name}'])).stdout.trim() === 'codex-tree', 'a tmux client attached');
    terminal.dispose();
  });

  // Each agent's TUI here is its fixture (its contract: test/fixtures/tui*.mjs), for this test only.
  for (const [agent, fixture] of [['claude', 'tui.mjs'], ['codex', 'tui-codex.mjs']] as const) {
    it(`an interactive ${agent} task: its TUI opens in a terminal, waiting for you and idle in the tree from its hooks`, async () => {
      const session = `${agent}-tui`;
      await withTui(agent, fixture, session, async (inTerminal) => {
        const dir = project(`tui-${agent}`, []);
        const record = await vscode.commands.executeCommand<{ session: string; mode: string }>('resilientAgent.start', {
          agent, name: 'tui', prompt: 'please ask permission', folder: dir, interactive: true,
        });
        assert.strictEqual(record?.mode, 'interactive');
        await waitFor(() => vscode.window.terminals.some(inTerminal), 'its TUI in a terminal');
        await waitFor(() => stateOf(session) === 'waiting', 'waiting in the model');
        // Notified within 2 s of the permission prompt (when the fixture ran its PermissionRequest hook).
        await waitFor(() => api.notices.shown.some((n) => n.session === session && n.state === 'waiting'), 'the waiting notification', 5_000);
        const asked = fs.readFileSync(path.join(dir, '.fixture-hooks.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; at: number }).find((f) => f.event === 'PermissionRequest')!;
        const notifiedAfter = Date.now() - asked.at;
        console.log(`    ${agent}: waiting notified within ${notifiedAfter} ms of the PermissionRequest hook`);
        assert.ok(notifiedAfter < 2_000, `${notifiedAfter} ms`);
        const waiting = itemFor(session)!;
        assert.match(String(waiting.description), new RegExp(`^waiting for you · ${agent} · permission to use `));
        assert.strictEqual((waiting.iconPath as vscode.ThemeIcon).id, 'bell-dot');
        await api.model.service.send(session, '1');
        await waitFor(() => stateOf(session) === 'idle', 'idle in the model');
        const idle = itemFor(session)!;
        assert.match(String(idle.description), new RegExp(`^${agent} · idle, your move`));
        assert.match(String(idle.contextValue), /agentRuns/);
        // Forgotten: a task left here would be one more unfinished task for the tests after it.
        await api.model.service.kill(session, true);
      });
    });
  }

  it('an interactive pi task: idle in the tree from its extension events; its output and tooltip from its own session file', async () => {
    const session = 'pi-tui';
    await withTui('pi', 'tui-pi.mjs', session, async (inTerminal) => {
      const record = await vscode.commands.executeCommand<{ session: string; mode: string }>('resilientAgent.start', {
        agent: 'pi', name: 'tui', prompt: 'hello pi', folder: project('tui-pi', []), interactive: true,
      });
      assert.strictEqual(record?.mode, 'interactive');
      await waitFor(() => vscode.window.terminals.some(inTerminal), 'its TUI in a terminal');
      await waitFor(() => stateOf(session) === 'idle' && /^pi · idle, your move/.test(String(itemFor(session)?.description)), 'idle in the tree');
      // Its output: the conversation from Pi's own session file, not the pane's screen.
      await vscode.commands.executeCommand('resilientAgent.showOutput', session);
      await waitFor(() => api.mirror.textOf(session)?.includes('● done: hello pi'), 'the conversation in its output');
      const text = api.mirror.textOf(session)!;
      assert.match(text, /^· Pi's own log of the session: /m);
      assert.match(text, /^› hello pi$/m);
      const tipOf = () => ((itemFor(session)?.tooltip as vscode.MarkdownString | undefined)?.value ?? '').replace(/\\/g, '');
      await waitFor(() => /Last from the agent: done: hello pi/.test(tipOf()), 'its last words in the tooltip');
      await api.model.service.kill(session, true);
    });
  });

  it('a Codex session started by hand (its id in its id file): "Resume in Its TUI, Supervised" takes it over, its TUI in a terminal', async () => {
    const name = `byhand${process.pid}`;
    const session = `codex-${name}`;
    const id = '01a24dcf-0000-7000-8000-00000000cafe';
    const sessions = path.join(process.env.FIXTURE_HOME!, 'codex-sessions');
    fs.mkdirSync(sessions, { recursive: true });
    fs.writeFileSync(path.join(sessions, `${id}.jsonl`), '');
    const idFile = `/tmp/${session}.codex-session-id`;
    fs.writeFileSync(idFile, `${id}\n`);
    try {
      await withTui('codex', 'tui-codex.mjs', session, async (inTerminal) => {
        const dir = project('byhand', []);
        await tmux(['new-session', '-d', '-s', session, '-c', dir, 'sh', '-c', 'echo "codex crashed"; printf "user@host:~/proj$ "; exec sleep 600']);
        api.model.wakeMonitor('test');
        await waitFor(async () => {
          await api.model.refresh('test');
          return /:adopted:.*:resumable/.test(String(itemFor(session)?.contextValue));
        }, 'offered to be resumed (started by hand, its id known)');
        const record = await vscode.commands.executeCommand<{ mode: string; adopted: boolean; agentSessionId: string }>('resilientAgent.resumeInTui', session);
        assert.deepStrictEqual([record?.mode, record?.adopted, record?.agentSessionId], ['interactive', true, id]);
        await waitFor(() => vscode.window.terminals.some(inTerminal), 'its TUI in a terminal');
        const run = await waitFor(() => invocations(dir)[0], 'its TUI resumed by id') as unknown as { argv: string[] };
        assert.deepStrictEqual(run.argv.slice(-2), ['--', id]);
        await api.model.service.kill(session, true);
      });
    } finally {
      fs.rmSync(idFile, { force: true });
    }
  });

  it('kill holds the task (never resumed); forget removes it', async () => {
    await vscode.commands.executeCommand('resilientAgent.kill', 'codex-tree', { noConfirm: true });
    await waitFor(() => stateOf('codex-tree') === 'held', 'held');
    assert.match(String(itemFor('codex-tree')?.description), /^stopped by you · codex/);
    assert.notStrictEqual((await tmux(['has-session', '-t', '=codex-tree'])).code, 0);
    api.model.wakeMonitor('test');
    await api.model.refresh('test');
    assert.strictEqual(stateOf('codex-tree'), 'held');
    await vscode.commands.executeCommand('resilientAgent.forget', 'codex-tree', { noConfirm: true });
    await waitFor(() => api.model.find('codex-tree') === undefined, 'gone from the tree');
    assert.strictEqual(api.model.service.store.exists('codex-tree'), false);
  });

  it('a task in a worktree of its own: its changes open in the diff editor; a follow-up continues it in the same session', async () => {
    const dir = project('wt-repo', ['ok', 'ok']);
    fs.writeFileSync(path.join(dir, 'parser.ts'), 'export const parse = 1;\n');
    fs.writeFileSync(path.join(dir, '.gitignore'), '.fixture-*\n');
    const git = (...args: string[]) => run('git', ['-C', dir, '-c', 'user.name=Dev', '-c', 'user.email=dev@example.com', ...args]);
    for (const args of [['init', '--quiet'], ['add', '.'], ['commit', '--quiet', '-m', 'first']]) assert.strictEqual((await git(...args)).code, 0, args.join(' '));
    const record = await vscode.commands.executeCommand<{ session: string; dir: string }>('resilientAgent.start', {
      agent: 'claude', name: 'wt', prompt: 'Fix the parser.', folder: dir, worktree: true,
    });
    assert.ok(record);
    assert.notStrictEqual(record.dir, dir, 'runs in its worktree, not the checkout');
    await waitFor(() => stateOf('claude-wt') === 'done', 'done');
    const item = itemFor('claude-wt')!;
    assert.match(String(item.description), / · agent\/wt$/);
    assert.match(String(item.contextValue), /:hasWorktree/);
    assert.match(String(item.contextValue), /:canFollowUp/);
    fs.writeFileSync(path.join(record.dir, 'parser.ts'), 'export const parse = 2;\n');
    const count = await vscode.commands.executeCommand<number>('resilientAgent.reviewChanges', 'claude-wt');
    assert.strictEqual(count, 1);
    await waitFor(() => vscode.window.tabGroups.all.some((g) => g.tabs.some((t) => t.input instanceof vscode.TabInputTextDiff && t.input.modified.fsPath === path.join(record.dir, 'parser.ts'))), 'the diff editor on parser.ts');
    assert.strictEqual((await git('status', '--porcelain')).stdout, '', 'the checkout is untouched');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await vscode.commands.executeCommand('resilientAgent.followUp', 'claude-wt', 'Now add a test.');
    await waitFor(() => invocations(record.dir).length === 2 && stateOf('claude-wt') === 'done', 'the follow-up done');
    const runs = invocations(record.dir);
    assert.deepStrictEqual(runs.map((r) => r.mode), ['start', 'resume']);
    assert.strictEqual(runs[1].sessionId, runs[0].sessionId);
    assert.strictEqual(runs[1].prompt, 'Now add a test.');
  });

  it('the demo runs from the window: its task shows in the tree, is resumed after its crash, and is cleaned up', async () => {
    const seen = new Set<string>();
    const watch = api.model.onDidChange(() => {
      for (const v of api.model.views) if (v.session.startsWith('codex-demo-')) seen.add(v.state);
    });
    try {
      const code = await vscode.commands.executeCommand<number>('resilientAgent.demo');
      assert.strictEqual(code, 0);
    } finally {
      watch.dispose();
    }
    assert.ok(seen.has('running'), `the tree showed it running (saw ${[...seen].join(', ')})`);
    await api.model.refresh('test');
    assert.ok(!api.model.views.some((v) => v.session.startsWith('codex-demo-')), 'cleaned up');
  });

  it('a task started from the CLI appears in the tree', async () => {
    const dir = project('cli', ['hang']);
    const r = await run(process.execPath, [CLI, 'start', 'pi', 'from-cli', '--dir', dir, '--prompt', 'from the shell']);
    assert.strictEqual(r.code, 0, r.stderr);
    await waitFor(() => itemFor('pi-from-cli'), 'the CLI task in the tree');
    await waitFor(() => stateOf('pi-from-cli') === 'running', 'running');
    await vscode.commands.executeCommand('resilientAgent.forget', 'pi-from-cli', { noConfirm: true });
  });

  it('changing a setting restarts the monitor with the new interval', async () => {
    const config = vscode.workspace.getConfiguration('resilientAgent');
    await config.update('monitor.intervalSeconds', 0.3, vscode.ConfigurationTarget.Global);
    await waitFor(() => api.model.monitorIntervalMs === 300, 'interval 300 ms');
    assert.ok(api.model.monitorRunning);
    await config.update('monitor.intervalSeconds', 0.2, vscode.ConfigurationTarget.Global);
    await waitFor(() => api.model.monitorIntervalMs === 200, 'interval 200 ms');
  });

  it('clean up removes finished tasks only', async () => {
    const dir = project('keep', ['hang']);
    await vscode.commands.executeCommand('resilientAgent.start', { agent: 'opencode', name: 'keep', prompt: 'x', folder: dir });
    await waitFor(() => stateOf('opencode-keep') === 'running', 'running');
    assert.strictEqual(stateOf('claude-crash'), 'done');
    // Menus by state: a done task offers no Send input or Kill; a running one does.
    assert.doesNotMatch(String(itemFor('claude-crash')?.contextValue), /:agentRuns/);
    assert.match(String(itemFor('opencode-keep')?.contextValue), /:agentRuns/);
    await vscode.commands.executeCommand('resilientAgent.copyPrompt', 'claude-crash');
    assert.strictEqual(await vscode.env.clipboard.readText(), 'Long refactor');
    await vscode.commands.executeCommand('resilientAgent.cleanUp', { noConfirm: true });
    await waitFor(() => api.model.find('claude-crash') === undefined, 'the done task cleaned up');
    assert.strictEqual(stateOf('opencode-keep'), 'running');
    await vscode.commands.executeCommand('resilientAgent.forget', 'opencode-keep', { noConfirm: true });
  });

  it('beyond the limit a start is queued: the Queued group in its order, the status bar count, started when a slot frees', async () => {
    const config = vscode.workspace.getConfiguration('resilientAgent');
    const busy = project('q-busy', ['retry']); // runs until released
    await vscode.commands.executeCommand('resilientAgent.start', { agent: 'codex', name: 'q-busy', prompt: 'x', folder: busy });
    await waitFor(() => stateOf('codex-q-busy') === 'running', 'codex-q-busy running');
    const holding = api.model.views.filter((v) => ['running', 'waiting', 'resuming'].includes(v.state)).length;
    try {
      await config.update('queue.maxRunning', holding, vscode.ConfigurationTarget.Global);
      // The window shares the limit with the state dir, where the CLI and any supervisor read it.
      const shared = path.join(api.model.service.store.paths.configFile);
      await waitFor(() => fs.existsSync(shared) && JSON.parse(fs.readFileSync(shared, 'utf8'))['queue.maxRunning'] === holding, 'the limit in the state dir');
      const dirs = ['q-a', 'q-b'].map((n) => project(n, ['ok']));
      for (const [i, n] of ['q-a', 'q-b'].entries()) {
        const r = await vscode.commands.executeCommand<{ state: string }>('resilientAgent.start', { agent: 'claude', name: n, prompt: 'x', folder: dirs[i] });
        assert.strictEqual(r?.state, 'queued', `${n} queued`);
      }
      await waitFor(() => api.statusBar.text.includes('2 queued'), `status bar "2 queued" (is "${api.statusBar.text}")`);
      const group = api.tree.getChildren().find((g) => g.kind === 'group' && g.group === 'queued');
      assert.ok(group, 'a Queued group');
      assert.strictEqual(api.tree.getTreeItem(group).label, 'Queued (2)');
      const rows = api.tree.getChildren(group).map((n) => api.tree.getTreeItem(n));
      assert.deepStrictEqual(rows.map((r) => r.label), ['q-a', 'q-b'], 'first in, first out');
      assert.match(String(rows[0].description), new RegExp(`^1\\. claude · queued · ${holding} of ${holding} running`));
      assert.match(String(rows[1].description), /^2\. claude/);
      assert.match(String(rows[0].contextValue), /:queued/);
      assert.strictEqual(invocations(dirs[0]).length + invocations(dirs[1]).length, 0, 'nothing queued has run');
      fs.writeFileSync(path.join(busy, '.fixture-release'), '');
      await waitFor(() => invocations(dirs[0]).length === 1, 'claude-q-a started when codex-q-busy ended');
      await waitFor(() => invocations(dirs[1]).length === 1, 'claude-q-b started when claude-q-a ended');
      await waitFor(() => !api.statusBar.text.includes('queued'), 'no queued count left');
    } finally {
      await config.update('queue.maxRunning', undefined, vscode.ConfigurationTarget.Global);
    }
  });

  it('in background mode a start brings up a supervisor outside this extension host, which resumes a crash', async () => {
    await vscode.workspace.getConfiguration('resilientAgent').update('supervisor.mode', 'background', vscode.ConfigurationTarget.Global);
    await waitFor(() => api.model.supervisorMode === 'background', 'background mode applied');
    const dir = project('bg', ['hang', 'ok']);
    await vscode.commands.executeCommand('resilientAgent.start', { agent: 'codex', name: 'bg', prompt: 'x', folder: dir });
    const sup = await waitFor(() => (api.model.supervisor?.background ? api.model.supervisor.holder : undefined), 'a background supervisor');
    assert.ok(!api.model.monitorRunning, 'this window does not supervise beside it');
    // Not a descendant of the extension host: closing the window cannot take it down.
    const chain: number[] = [];
    for (let p = sup.pid; p > 1; ) {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      p = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      chain.push(p);
    }
    assert.ok(!chain.includes(process.pid), `supervisor ${sup.pid} descends from the extension host ${process.pid}`);
    assert.strictEqual(api.view.description, 'supervised in the background');
    await midReply('codex-bg', 1);
    await crash('codex-bg', 1);
    await waitFor(async () => { await api.model.refresh('test'); return stateOf('codex-bg') === 'done'; }, 'done by the background supervisor');
    assert.deepStrictEqual(invocations(dir).map((r) => r.mode), ['start', 'resume']);
  });

  it('in background mode, a done, a waiting, a held and a gave-up task each get exactly one notification in this window', async () => {
    await vscode.workspace.getConfiguration('resilientAgent').update('monitor.maxAttempts', 1, vscode.ConfigurationTarget.Global);
    try {
      // The tasks take the window's settings at their start: wait until the window has them.
      await waitFor(() => api.model.service.settings.maxAttempts === 1, 'the attempt limit applied');
      const tasks: [string, string, string[]][] = [
        ['claude', 'n-done', ['ok']], ['claude', 'n-ask', ['ask']], ['claude', 'n-held', ['auth']], ['codex', 'n-gave', ['crash']],
      ];
      for (const [agent, name, plan] of tasks) {
        await vscode.commands.executeCommand('resilientAgent.start', { agent, name, prompt: 'x', folder: project(name, plan) });
      }
      await waitFor(() => api.model.supervisor?.background, 'the background supervisor');
      assert.ok(!api.model.monitorRunning, 'this window\'s own loop does not run');
      const want: Record<string, string> = { 'claude-n-done': 'done', 'claude-n-ask': 'waiting', 'claude-n-held': 'held', 'codex-n-gave': 'gave-up' };
      const count = (session: string) => api.notices.shown.filter((n) => n.session === session && n.state === want[session]).length;
      await waitFor(async () => {
        await api.model.refresh('test');
        return Object.keys(want).every((s) => count(s) >= 1);
      }, 'a notification for each', 30_000).catch((e: Error) => {
        const states = Object.keys(want).map((s) => `${s}=${stateOf(s)}`).join(' ');
        throw new Error(`${e.message}: states ${states}; shown ${JSON.stringify(api.notices.shown)}`);
      });
      await api.model.refresh('test');
      await api.model.refresh('test');
      for (const s of Object.keys(want)) assert.strictEqual(count(s), 1, `${s}: ${JSON.stringify(api.notices.shown.filter((n) => n.session === s))}`);
      // What a person sees: three need them (a question, a sign-in, a spent budget); done is not counted.
      assert.strictEqual(api.view.badge?.value, 3, 'the view\'s badge');
      assert.match(api.statusBar.text, /3 need you/);
      assert.match(String(itemFor('claude-n-held')?.description), /^sign in needed · claude/);
      // Its tooltip says how to fix it: the agent's own sign-in, then resume.
      assert.match(((itemFor('claude-n-held')?.tooltip as vscode.MarkdownString).value).replace(/\\/g, ''), /To fix: sign in \(run "claude", then \/login, or set ANTHROPIC_API_KEY\), then Resume now/);
      assert.match(String(itemFor('codex-n-gave')?.description), /^gave up after 1 attempt · codex/);
      // The question's notice stays up while the agent waits (VS Code hides other toasts by themselves)...
      assert.deepStrictEqual(api.notices.waitingShown, ['claude-n-ask']);
      await tmux(['send-keys', '-t', '=claude-n-ask:', '-l', 'y']);
      await tmux(['send-keys', '-t', '=claude-n-ask:', 'Enter']);
      // ...and goes by itself once it is answered.
      await waitFor(async () => {
        await api.model.refresh('test');
        return api.notices.waitingShown.length === 0;
      }, 'the waiting notice gone once answered', 30_000);
    } finally {
      await vscode.workspace.getConfiguration('resilientAgent').update('monitor.maxAttempts', undefined, vscode.ConfigurationTarget.Global);
      for (const s of ['claude-n-done', 'claude-n-ask', 'claude-n-held', 'codex-n-gave']) {
        await vscode.commands.executeCommand('resilientAgent.forget', s, { noConfirm: true }).then(undefined, () => undefined);
      }
    }
  });

  it('in the default settings (the background supervisor, its 180 s timer), an approval prompt is waiting in the tree and notified within 5 s', async () => {
    const config = vscode.workspace.getConfiguration('resilientAgent');
    await config.update('supervisor.mode', 'background', vscode.ConfigurationTarget.Global);
    await config.update('monitor.intervalSeconds', undefined, vscode.ConfigurationTarget.Global);
    await config.update('view.refreshSeconds', undefined, vscode.ConfigurationTarget.Global);
    await waitFor(() => api.model.supervisorMode === 'background' && api.model.monitorIntervalMs === 180_000, 'the default settings applied');
    // No supervisor left from a test with a fast timer: the one this start brings up has the defaults.
    const stop = await run(process.execPath, [CLI, 'supervisor', 'stop']);
    assert.strictEqual(stop.code, 0, stop.stderr);
    const session = 'claude-n-prompt';
    const dir = project('n-prompt', ['ask']);
    try {
      await vscode.commands.executeCommand('resilientAgent.start', { agent: 'claude', name: 'n-prompt', prompt: 'x', folder: dir });
      await waitFor(() => api.model.supervisor?.background, 'the background supervisor');
      // When the prompt is on the screen (the fixture draws it at a random moment a second or so in).
      const shownAt = await waitFor(async () => ((await tmux(['capture-pane', '-p', '-t', `=${session}:`])).stdout.includes('Do you want to proceed?') ? Date.now() : 0), 'the prompt in the pane');
      const notified = () => api.notices.shown.some((n) => n.session === session && n.state === 'waiting');
      await waitFor(() => /^waiting for you/.test(String(itemFor(session)?.description)) && notified(), 'waiting in the tree and notified', 15_000).catch((e: Error) => {
        throw new Error(`${e.message}: ${stateOf(session)}, ${JSON.stringify(itemFor(session)?.description)}, shown ${JSON.stringify(api.notices.shown.filter((n) => n.session === session))}`);
      });
      const took = Date.now() - shownAt;
      assert.ok(took <= 5_000, `waiting in the tree and notified ${took} ms after the prompt appeared`);
    } finally {
      await config.update('monitor.intervalSeconds', 0.2, vscode.ConfigurationTarget.Global);
      await config.update('view.refreshSeconds', 0.2, vscode.ConfigurationTarget.Global);
      await vscode.commands.executeCommand('resilientAgent.forget', session, { noConfirm: true }).then(undefined, () => undefined);
    }
  });

  it('in background mode, a settings change reaches the background supervisor without a restart: one task, one policy', async () => {
    const dir = project('policy', ['hang', 'crash', 'crash', 'ok']);
    await vscode.commands.executeCommand('resilientAgent.start', { agent: 'codex', name: 'policy', prompt: 'x', folder: dir });
    const sup = await waitFor(() => (api.model.supervisor?.background ? api.model.supervisor.holder : undefined), 'a background supervisor');
    const applied = new Promise<string[]>((resolve) => {
      const sub = api.model.onDidApplyPolicy((changed) => {
        sub.dispose();
        resolve(changed);
      });
    });
    await vscode.workspace.getConfiguration('resilientAgent').update('monitor.maxAttempts', 2, vscode.ConfigurationTarget.Global);
    try {
      assert.deepStrictEqual(await applied, ['codex-policy'], 'written into the unfinished task');
      await midReply('codex-policy', 1);
      await crash('codex-policy', 1);
      const record = await waitFor(() => {
        const r = api.model.service.store.get('codex-policy');
        return r?.state === 'gave-up' ? r : undefined;
      }, 'given up by the background supervisor at the new limit', 30_000);
      assert.match(record.stateReason ?? '', /gave up after 2 attempts \(the limit is 2\)/);
      assert.strictEqual(api.model.supervisor?.holder?.pid ?? sup.pid, sup.pid, 'the same supervisor, not restarted');
    } finally {
      await vscode.workspace.getConfiguration('resilientAgent').update('monitor.maxAttempts', undefined, vscode.ConfigurationTarget.Global);
      await vscode.commands.executeCommand('resilientAgent.forget', 'codex-policy', { noConfirm: true }).then(undefined, () => undefined);
    }
  });

  it('a background supervisor killed with -9 is replaced by the window within a monitor interval', async () => {
    const dir = project('bg2', ['hang']);
    await vscode.commands.executeCommand('resilientAgent.start', { agent: 'pi', name: 'bg2', prompt: 'x', folder: dir });
    const first = await waitFor(() => (api.model.supervisor?.background ? api.model.supervisor.holder : undefined), 'a background supervisor');
    process.kill(first.pid, 'SIGKILL');
    const second = await waitFor(async () => {
      await api.model.refresh('test');
      const h = api.model.supervisor?.holder;
      return api.model.supervisor?.background && h && h.pid !== first.pid ? h : undefined;
    }, 'a replacement');
    assert.notStrictEqual(second.pid, first.pid);
    await vscode.commands.executeCommand('resilientAgent.forget', 'pi-bg2', { noConfirm: true });
  });
});
