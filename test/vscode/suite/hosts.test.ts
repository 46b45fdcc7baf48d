import * as assert from 'assert';
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import type { Api } from '../../../src/extension/extension';
import type { Node } from '../../../src/extension/tree';
import { CLI, Harness, waitFor } from '../../integration/harness';
import { SshHost, SshWorld } from '../../integration/sshd';

const EXTENSION_ID = 'resilient-coding-agent.resilient-coding-agent';

function cli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], { env: process.env, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) reject(new Error(`resilient-agent ${args.join(' ')}: ${stderr || error.message}`));
      else resolve(stdout);
    });
  });
}

// Hosts over a real sshd: the tree shows each host with its tasks, and a host that goes away as such.
if (!process.env.RESILIENT_AGENT_TEST_UNTRUSTED) describe('hosts in a real VS Code (a real sshd)', function () {
  this.timeout(90_000);
  let api: Api;
  let root: string;
  let world: SshWorld;
  const savedEnv = { ...process.env };
  const figures: string[] = [];
  /** Awaits `check`, noting how long it took (written to the run's artifacts). */
  const timed = async <T>(what: string, check: () => T, timeoutMs?: number): Promise<NonNullable<T>> => {
    const started = Date.now();
    const r = await waitFor(check, what, timeoutMs);
    figures.push(`${what}: ${Date.now() - started} ms`);
    return r;
  };
  const project = (host: SshHost, name: string) => {
    const dir = path.join(host.dir, 'projects', name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, '.fixture-plan.json'), JSON.stringify(['hang']));
    return dir;
  };

  const roots = () => api.tree.getChildren();
  const hostItem = (name: string) => {
    const node = roots().find((n) => n.kind === 'host' && n.name === name);
    return node && api.tree.getTreeItem(node);
  };
  /** A host's task, in its state's group under the host's node (as this machine's). */
  const taskUnder = (host: string, session: string): Node | undefined =>
    api.tree.getChildren({ kind: 'host', name: host }).flatMap((g) => api.tree.getChildren(g)).find((n) => n.kind === 'task' && n.view.session === session);

  before(async () => {
    api = await vscode.extensions.getExtension<Api>(EXTENSION_ID)!.activate();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'ra-vsc-hosts-'));
    // The sshd harness wants a local side: this extension host's own environment, the CLI beside it.
    const local = { root, env: process.env, ok: (args: string[]) => cli(args) } as unknown as Harness;
    world = new SshWorld(local);
  });

  after(async () => {
    for (const h of api.hosts.hosts) api.hosts.remote.registry.remove(h.host.name);
    api.hosts.reload();
    await world.cleanup();
    for (const k of ['RESILIENT_AGENT_SSH_CONFIG', 'RESILIENT_AGENT_SSH_CONNECT_TIMEOUT', 'RESILIENT_AGENT_HOST_DEADLINE_MS']) {
      if (savedEnv[k] === undefined) delete process.env[k];
      else process.env[k] = savedEnv[k];
    }
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('Add host… registers a Host of the ssh config; its task shows under its node; a stopped sshd shows it unreachable with its tasks as last seen', async () => {
    const alpha: SshHost = await world.host('alpha');
    assert.ok(roots().every((n) => n.kind === 'group'), 'no hosts: the local groups as before, no host node');
    const name = await vscode.commands.executeCommand<string>('resilientAgent.addHost', { target: 'alpha', name: 'alpha' });
    assert.strictEqual(name, 'alpha');
    await cli(['hosts', 'install', 'alpha']);
    assert.deepStrictEqual(roots().map((n) => n.kind === 'host' && n.name), ['local', 'alpha'], 'local first, then each host');
    await waitFor(() => /^reachable/.test(String(hostItem('alpha')?.description)), 'alpha reachable');
    await cli(['start', 'codex', 'job', '--host', 'alpha', '--dir', project(alpha, 'job'), '--prompt', 'on alpha']);
    await timed('a task started on a host -> in the tree (its event stream)', () => taskUnder('alpha', 'codex-job'), 5000);
    await waitFor(() => /^reachable/.test(String(hostItem('alpha')?.description)), `alpha reachable (is "${hostItem('alpha')?.description}")`);
    const item = api.tree.getTreeItem(taskUnder('alpha', 'codex-job')!);
    assert.match(String(item.description), /^codex · running/);
    // Grouped by state under its host, and its menu that of a live task (attach, send, kill), less what needs its files here.
    const groups = api.tree.getChildren({ kind: 'host', name: 'alpha' });
    assert.deepStrictEqual(groups.map((g) => g.kind === 'group' && [g.group, g.count]), [['running', 1]]);
    assert.strictEqual(api.tree.getTreeItem(groups[0]).id, 'group:alpha:running');
    assert.deepStrictEqual(api.tree.getParent(taskUnder('alpha', 'codex-job')!), { kind: 'group', group: 'running', count: 1, host: 'alpha' });
    // Its session seen there (a task just started may be listed a moment before it): a live task's menu.
    await waitFor(() => /^task:state=running:managed:live:agentRuns(:.*)?:remote$/.test(String(api.tree.getTreeItem(taskUnder('alpha', 'codex-job')!).contextValue)), 'the menu of a live task');
    assert.match(String(item.contextValue), /:managed:/, 'Forget offered (kill --forget on the host)');
    assert.doesNotMatch(String(item.contextValue), /:(hasDir|hasEvents|hasPrompt)\b/);
    await waitFor(() => api.statusBar.text.includes('1 running'), `the status bar counts alpha's task (is "${api.statusBar.text}")`);

    // Task actions on the remote task: its CLI over ssh, then the view catches up.
    const stateOn = (host: string, session: string) => {
      const n = taskUnder(host, session);
      return n?.kind === 'task' ? n.view.state : undefined;
    };
    await vscode.commands.executeCommand('resilientAgent.showOutput', taskUnder('alpha', 'codex-job'));
    assert.match(vscode.window.activeTextEditor?.document.getText() ?? '', /codex-job/, 'the status of the remote task, fetched from alpha');
    await vscode.commands.executeCommand('resilientAgent.sendInput', taskUnder('alpha', 'codex-job'), 'y');
    await vscode.commands.executeCommand('resilientAgent.kill', taskUnder('alpha', 'codex-job'), { noConfirm: true });
    await timed('killed over ssh -> seen in the tree', () => stateOn('alpha', 'codex-job') !== 'running', 10_000);
    const killed = stateOn('alpha', 'codex-job');
    const resumed = await vscode.commands.executeCommand('resilientAgent.resume', taskUnder('alpha', 'codex-job'));
    assert.ok(resumed, `resume answered (state ${killed})`);
    // The view follows the host: out of the killed state (resuming, or queued for the host's supervisor).
    await timed('resumed over ssh -> seen in the tree', () => stateOn('alpha', 'codex-job') !== killed, 20_000);
    figures.push(`  (killed: ${killed}; after the resume: ${stateOn('alpha', 'codex-job')})`);

    // Started from VS Code on the host: the same flow, the folder one of the host's, the prompt byte for byte.
    const prompt = 'Fix "it" $(rm -rf ~) `x` \'y\'\nsecond line; & | > <';
    const dir = project(alpha, 'from vs $(code)');
    const started = await vscode.commands.executeCommand<{ host: string; session: string } | undefined>('resilientAgent.start', { host: 'alpha', agent: 'claude', name: 'from-vs', prompt, folder: dir, worktree: false });
    assert.deepStrictEqual(started && { host: started.host, session: started.session }, { host: 'alpha', session: 'claude-from-vs' });
    await timed('a task started from VS Code on a host -> in the tree', () => taskUnder('alpha', 'claude-from-vs'), 5000);
    const runs = await waitFor(() => {
      const file = path.join(dir, '.fixture-invocations.jsonl');
      return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { prompt: string; cwd: string }) : undefined;
    }, 'the agent started on alpha');
    assert.strictEqual(runs[0].prompt, prompt, 'the prompt reached the agent on the host byte for byte');
    assert.strictEqual(fs.realpathSync(runs[0].cwd), fs.realpathSync(dir));
    // Refused before anything is sent: a host that is not registered, a name that is not one.
    const before = fs.readdirSync(path.join(alpha.dir, 'projects')).length;
    assert.strictEqual(await vscode.commands.executeCommand('resilientAgent.start', { host: 'nowhere', agent: 'claude', name: 'x', prompt: 'p', folder: dir, worktree: false }), undefined);
    assert.strictEqual(await vscode.commands.executeCommand('resilientAgent.start', { host: 'alpha', agent: 'claude', name: 'bad name!', prompt: 'p', folder: dir, worktree: false }), undefined);
    assert.strictEqual(taskUnder('alpha', 'claude-x'), undefined);
    assert.strictEqual(fs.readdirSync(path.join(alpha.dir, 'projects')).length, before);

    await alpha.kill();
    await timed('sshd killed -> host shown unreachable', () => /^unreachable since/.test(String(hostItem('alpha')?.description)), 10_000);
    assert.match(String(hostItem('alpha')?.description), /2 tasks as last seen/);
    assert.match(String(api.tree.getTreeItem(taskUnder('alpha', 'codex-job')!).description), /^as last seen: codex · /, 'its task still shown, as last seen');
  });

  it("a task queued on a host (its limit of one agent at once): in the host's queued group; Start now from its menu starts it there", async () => {
    const delta = await world.host('delta');
    fs.writeFileSync(path.join(delta.state, 'config.json'), JSON.stringify({ 'supervisor.mode': 'window', 'queue.maxRunning': 1 }));
    await vscode.commands.executeCommand('resilientAgent.addHost', { target: 'delta', name: 'delta' });
    await cli(['hosts', 'install', 'delta']);
    await cli(['start', 'claude', 'first', '--host', 'delta', '--dir', project(delta, 'first'), '--prompt', 'one']);
    const dir = project(delta, 'second');
    await cli(['start', 'claude', 'second', '--host', 'delta', '--dir', dir, '--prompt', 'two']);
    const stateOf = (session: string) => {
      const n = taskUnder('delta', session);
      return n?.kind === 'task' ? n.view.state : undefined;
    };
    await timed('a task queued on a host -> in its queued group', () => stateOf('claude-second') === 'queued', 10_000);
    const item = api.tree.getTreeItem(taskUnder('delta', 'claude-second')!);
    assert.match(String(item.contextValue), /:queued\b/, 'Start now offered');
    assert.ok(!fs.existsSync(path.join(dir, '.fixture-invocations.jsonl')), 'not started while the other runs');
    await vscode.commands.executeCommand('resilientAgent.startNow', taskUnder('delta', 'claude-second'), { noConfirm: true });
    await timed('Start now over ssh -> running there', () => stateOf('claude-second') === 'running', 10_000);
    const runs = () => fs.existsSync(path.join(dir, '.fixture-invocations.jsonl')) ? fs.readFileSync(path.join(dir, '.fixture-invocations.jsonl'), 'utf8').split('\n').filter(Boolean).length : 0;
    await waitFor(() => runs() > 0, 'its agent started on delta');
    assert.strictEqual(runs(), 1, 'started once');
    assert.strictEqual(stateOf('claude-first'), 'running');
  });

  it('a host that hangs (sshd stopped) does not slow the view of another', async () => {
    process.env.RESILIENT_AGENT_HOST_DEADLINE_MS = '3000';
    const beta = await world.host('beta');
    const gamma = await world.host('gamma');
    for (const name of ['beta', 'gamma']) {
      await vscode.commands.executeCommand('resilientAgent.addHost', { target: name, name });
      await cli(['hosts', 'install', name]);
    }
    await waitFor(() => ['beta', 'gamma'].every((n) => /^reachable/.test(String(hostItem(n)?.description))), 'beta and gamma reachable');
    beta.stop();
    const stoppedAt = Date.now();
    await cli(['start', 'claude', 'quick', '--host', 'gamma', '--dir', project(gamma, 'quick'), '--prompt', 'on gamma']);
    await timed('a task started on a host -> in the tree while another host hangs', () => taskUnder('gamma', 'claude-quick'), 2500);
    // Its event stream silent for two heartbeats and a second (4 s): shown at once, not at the list's deadline.
    await waitFor(() => /^unreachable since/.test(String(hostItem('beta')?.description)), 'beta shown unreachable', 10_000);
    const noticed = Date.now() - stoppedAt;
    figures.push(`a hung host (sshd SIGSTOPped) -> shown unreachable: ${noticed} ms from the stop`);
    assert.ok(noticed < 5_000, `beta shown unreachable ${noticed} ms after its sshd stopped`);
    beta.cont();
    const woke = Date.now();
    await timed('a host that answers again (SIGCONT) -> reachable', () => /^reachable/.test(String(hostItem('beta')?.description)), 10_000).catch((e: Error) => {
      const s = api.hosts.hosts.find((h) => h.host.name === 'beta');
      throw new Error(`${e.message} (${Date.now() - woke} ms after SIGCONT; beta: ${JSON.stringify({ reachable: s?.reachable, error: s?.error, downSince: s?.downSince, seenAt: s?.seenAt })})`);
    });
    // Forget from a remote task's menu: kill --forget on its host; gone from the tree and from the host.
    await vscode.commands.executeCommand('resilientAgent.forget', taskUnder('gamma', 'claude-quick'), { noConfirm: true });
    await timed('forgotten over ssh -> gone from the tree', () => taskUnder('gamma', 'claude-quick') === undefined, 10_000);
    assert.ok(!fs.existsSync(path.join(gamma.state, 'tasks', 'claude-quick')), 'its record removed on gamma');
    const artifacts = process.env.RESILIENT_AGENT_TEST_ARTIFACTS;
    if (artifacts) fs.writeFileSync(path.join(artifacts, 'hosts-ms.txt'), `${figures.join('\n')}\n`);
    console.log(figures.join('\n'));
  });
});
