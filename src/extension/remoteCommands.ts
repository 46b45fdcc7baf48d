import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import vscode = require('vscode');
import { UsageError } from '../core/model/errors';
import { sshConfigHosts } from '../core/platform/sshConfigHosts';
import { hostNameProblem, targetProblem } from '../core/store/hosts';
import type { HostsModel } from './hosts';
import type { Node } from './tree';

/** A task node of a registered host (not this machine's). */
export type RemoteNode = { kind: 'task'; view: { session: string; name: string; agentSessionId?: string | null }; host: string };

export function isRemoteNode(arg: unknown): arg is RemoteNode {
  const n = arg as Node | undefined;
  return n?.kind === 'task' && typeof n.host === 'string' && n.host !== 'local';
}

/** Shows what a host answered in a read-only document of its own. */
async function showText(text: string, language = 'plaintext'): Promise<void> {
  const doc = await vscode.workspace.openTextDocument({ content: text, language });
  await vscode.window.showTextDocument(doc, { preview: true });
}

function textOf(result: unknown): string {
  const text = (result as { text?: unknown })?.text;
  return typeof text === 'string' ? text : JSON.stringify(result, null, 2);
}

/**
 * The task actions on a task of another host: its CLI over ssh (the same argv builder and
 * contract as `--host` on the command line). Undefined: this command has no remote form yet.
 */
export function remoteAction(id: string, hosts: HostsModel, confirm: (message: string, action: string) => Promise<boolean>):
  ((node: RemoteNode, ...rest: unknown[]) => Promise<unknown>) | undefined {
  const call = (node: RemoteNode, args: string[], input?: string) =>
    hosts.remote.call(hosts.remote.host(node.host), [...args, '--', node.view.session], input === undefined ? {} : { input });
  const after = (node: RemoteNode) => void hosts.poll(node.host);
  switch (id) {
    case 'resilientAgent.attach':
      return async (node) => {
        const argv = hosts.remote.attachArgv(hosts.remote.host(node.host), node.view.session);
        const terminal = vscode.window.createTerminal({ name: `${node.view.name} @ ${node.host}`, shellPath: 'ssh', shellArgs: argv, env: hosts.remote.options.env as Record<string, string> });
        terminal.show();
        return terminal;
      };
    case 'resilientAgent.kill':
      return async (node) => {
        if (!(await confirm(`Kill ${node.view.name} on host ${node.host}?`, 'Kill'))) return undefined;
        const r = await call(node, ['kill']);
        after(node);
        return r;
      };
    case 'resilientAgent.forget':
      return async (node) => {
        if (!(await confirm(`Forget ${node.view.name} on host ${node.host}? Its session is killed there and its record and logs are removed (a clean worktree too; its branch stays).`, 'Forget'))) return undefined;
        const r = await call(node, ['kill', '--forget']);
        after(node);
        return r;
      };
    case 'resilientAgent.startNow':
      return async (node) => {
        if (!(await confirm(`Start ${node.view.name} on host ${node.host} now? It runs beyond that host's limit of agents at once.`, 'Start Now'))) return undefined;
        const r = await call(node, ['queue', 'start']);
        after(node);
        return r;
      };
    case 'resilientAgent.resume':
      return async (node) => {
        const r = await call(node, ['resume']);
        after(node);
        return r;
      };
    case 'resilientAgent.resumeInTui':
      return async (node) => {
        const r = await call(node, ['resume', '--interactive']);
        after(node);
        void vscode.commands.executeCommand('resilientAgent.attach', node);
        return r;
      };
    case 'resilientAgent.sendInput':
      return async (node, text?: unknown) => {
        const input = typeof text === 'string' ? text : await vscode.window.showInputBox({ title: `Send to ${node.view.name} on host ${node.host}`, prompt: 'Typed into the agent, then Enter' });
        if (input === undefined) return undefined;
        const r = await call(node, ['send', '--stdin'], input);
        after(node);
        return r;
      };
    case 'resilientAgent.showOutput':
      return async (node) => showText(textOf(await call(node, ['status'])));
    case 'resilientAgent.reviewChanges':
      return async (node) => showText(textOf(await call(node, ['diff'])), 'diff');
    case 'resilientAgent.followUp':
      return async (node, prompt?: unknown) => {
        const text = typeof prompt === 'string' ? prompt : await vscode.window.showInputBox({ title: `Follow-up for ${node.view.name} on host ${node.host}` });
        if (!text) return undefined;
        const r = await call(node, ['continue', '--prompt', '-'], text);
        after(node);
        return r;
      };
    case 'resilientAgent.copySessionId':
      // The agent's own session id, as for a task of this machine.
      return async (node) => {
        if (!node.view.agentSessionId) {
          void vscode.window.showWarningMessage(`The agent session id of ${node.view.session} on host ${node.host} is not known yet.`);
          return undefined;
        }
        return vscode.env.clipboard.writeText(node.view.agentSessionId);
      };
  }
  return undefined;
}

/** The ssh config offered by "Add host…": the one named for resilient-agent's ssh, else ~/.ssh/config. */
function sshConfigFile(env: NodeJS.ProcessEnv): string {
  return env.RESILIENT_AGENT_SSH_CONFIG || path.join(os.homedir(), '.ssh', 'config');
}

/** "Add host…": a Host of the ssh config (or any target typed), then a name; the registry of `hosts add`. */
export async function addHost(hosts: HostsModel, args?: { target?: string; name?: string }): Promise<string | undefined> {
  let target = args?.target;
  if (!target) {
    let aliases: string[] = [];
    try {
      aliases = sshConfigHosts(fs.readFileSync(sshConfigFile(hosts.remote.options.env), 'utf8'));
    } catch {
      /* no ssh config: a target is typed */
    }
    const typed = '$(edit) Another target (user@host, ssh://user@host:port)…';
    const picked = await vscode.window.showQuickPick([...aliases.map((a) => ({ label: a, description: 'from your ssh config' })), { label: typed }], { title: 'Add host: which machine?' });
    if (!picked) return undefined;
    target = picked.label === typed
      ? await vscode.window.showInputBox({ title: 'Add host: ssh target', validateInput: (v) => targetProblem(v) })
      : picked.label;
    if (!target) return undefined;
  }
  const suggested = target.replace(/^ssh:\/\//, '').replace(/^[^@]*@/, '').replace(/[:.].*$/, '').toLowerCase().replace(/[^a-z0-9_-]/g, '-');
  const name = args?.name ?? await vscode.window.showInputBox({ title: `Add host: a name for ${target}`, value: suggested, validateInput: (v) => hostNameProblem(v) });
  if (!name) return undefined;
  if (name === 'local') throw new UsageError('"local" is this machine, always a host: it cannot be added');
  hosts.remote.registry.add(name, target);
  hosts.reload();
  return name;
}
