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

  const roots = () => api.tree.getChildren();
  const hostItem = (name: string) => {
    const node = roots().find((n) => n.kind === 'host' && n.name === name);
    return node && api.tree.getTreeItem(node);
  };
  const taskUnder = (host: string, session: string): Node | undefined =>
    api.tree.getChildren({ kind: 'host', name: host }).find((n) => n.kind === 'task' && n.view.session === session);

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
    for (const k of ['RESILIENT_AGENT_SSH_CONFIG', 'RESILIENT_AGENT_SSH_CONNECT_TIMEOUT']) {
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
    const dir = path.join(alpha.dir, 'projects', 'job');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, '.fixture-plan.json'), JSON.stringify(['hang']));
    await cli(['start', 'codex', 'job', '--host', 'alpha', '--dir', dir, '--prompt', 'on alpha']);

    assert.deepStrictEqual(roots().map((n) => n.kind === 'host' && n.name), ['local', 'alpha'], 'local first, then each host');
    await waitFor(() => taskUnder('alpha', 'codex-job'), 'codex-job under host alpha');
    await waitFor(() => /^reachable/.test(String(hostItem('alpha')?.description)), `alpha reachable (is "${hostItem('alpha')?.description}")`);
    const item = api.tree.getTreeItem(taskUnder('alpha', 'codex-job')!);
    assert.match(String(item.description), /^codex · running/);
    assert.match(String(item.contextValue), /:remote$/);
    await waitFor(() => api.statusBar.text.includes('1 running'), `the status bar counts alpha's task (is "${api.statusBar.text}")`);

    // A task action on the remote task: its CLI over ssh, then the view catches up.
    await vscode.commands.executeCommand('resilientAgent.kill', taskUnder('alpha', 'codex-job'), { noConfirm: true });
    await waitFor(() => {
      const n = taskUnder('alpha', 'codex-job');
      return n?.kind === 'task' && n.view.state !== 'running';
    }, 'killed on alpha, seen in the tree');

    await alpha.kill();
    await waitFor(() => /^unreachable since/.test(String(hostItem('alpha')?.description)), `alpha unreachable (is "${hostItem('alpha')?.description}")`);
    assert.match(String(hostItem('alpha')?.description), /1 task as last seen/);
    assert.ok(taskUnder('alpha', 'codex-job'), 'its task still shown, as last seen');
  });
});
