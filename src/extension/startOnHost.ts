import vscode = require('vscode');
import { adapterFor } from '../core/agents/registry';
import { TaskError, UsageError } from '../core/model/errors';
import { AGENT_IDS, AgentId, sessionName } from '../core/model/names';
import type { HostsModel } from './hosts';
import type { TaskModel } from './model';
import { askPrompt, nameMessage, startTask, StartArgs, UNTRUSTED_MESSAGE } from './startTask';

/** What a start on another host gives back (its CLI's `start --json`, with the host named). */
export interface RemoteStart {
  host: string;
  session: string;
  state: string;
}

/** Where the task runs: this machine, or a registered host (asked only when there are hosts). */
async function pickWhere(hosts: HostsModel): Promise<string | undefined> {
  type Item = vscode.QuickPickItem & { host: string };
  const items: Item[] = [
    { host: 'local', label: '$(vm) This machine', detail: 'In this window\'s workspace folder' },
    ...hosts.hosts.map((s): Item => ({
      host: s.host.name,
      label: `$(remote) ${s.host.name}`,
      description: s.host.target,
      detail: s.reachable === false ? `unreachable${s.error ? `: ${s.error}` : ''}: the start is tried all the same` : 'Over ssh, in a folder of that host; it supervises the task itself',
    })),
  ];
  const picked = await vscode.window.showQuickPick(items, { title: 'Start resilient agent task: where does it run?' });
  return picked?.host;
}

/**
 * "Start resilient agent task": on this machine (the workspace flow), or, with hosts registered,
 * on the host the person picks (or the host node it was started from).
 */
export async function startAnywhere(model: TaskModel, hosts: HostsModel | undefined, args: StartArgs & { host?: string } = {},
  writePrompt?: (agent: string, name: string) => Promise<void>): Promise<unknown> {
  const where = args.host ?? (hosts && hosts.hosts.length > 0 && !args.folder ? await pickWhere(hosts) : 'local');
  if (where === undefined) return undefined;
  if (where === 'local' || !hosts) return startTask(model, args, writePrompt);
  return startOnHost(hosts, where, args);
}

/**
 * A task started on another host: the same questions (the folder is one of that host's, typed),
 * then its CLI over ssh, the prompt on stdin. Bad input is refused before anything is sent.
 */
export async function startOnHost(hosts: HostsModel, host: string, args: StartArgs = {}): Promise<RemoteStart | undefined> {
  if (!vscode.workspace.isTrusted) {
    void vscode.window.showErrorMessage(UNTRUSTED_MESSAGE);
    return undefined;
  }
  if (!hosts.hosts.some((s) => s.host.name === host)) {
    void vscode.window.showErrorMessage(`No host named "${host}": add it first (Add host…).`);
    return undefined;
  }
  const title = (step: string) => `Start resilient agent task on ${host} (${step})`;
  let agent = args.agent;
  if (agent === undefined) {
    const picked = await vscode.window.showQuickPick(AGENT_IDS.map((a) => ({ agent: a, label: adapterFor(a).displayName })), { title: title('1/4: agent'), placeHolder: `Which coding agent runs the task on ${host}?` });
    agent = picked?.agent;
  }
  if (agent === undefined) return undefined;
  if (!AGENT_IDS.includes(agent as AgentId)) {
    void vscode.window.showErrorMessage(`Unknown agent "${agent}": one of ${AGENT_IDS.join(', ')}.`);
    return undefined;
  }
  const name = args.name ?? (await vscode.window.showInputBox({
    title: title('2/4: name'),
    prompt: `The tmux session on ${host} will be ${agent}-<name>`,
    placeHolder: 'refactor-auth',
    validateInput: (v) => nameMessage(agent as AgentId, v),
  }));
  if (name === undefined) return undefined;
  const problem = nameMessage(agent as AgentId, name);
  if (problem) {
    void vscode.window.showErrorMessage(`Task name "${name}": ${problem}`);
    return undefined;
  }
  const prompt = args.prompt ?? (await askPrompt(title('3/4: prompt')));
  if (prompt === undefined) return undefined;
  const given = typeof args.folder === 'string' ? args.folder : args.folder?.fsPath;
  const dir = given ?? (await vscode.window.showInputBox({
    title: title('4/4: folder'),
    prompt: `The folder on ${host} the agent works in (an absolute path, or one under the home folder there: ~/project)`,
    placeHolder: '~/project',
    validateInput: (v) => (v.trim() === '' ? 'A folder is required' : undefined),
  }));
  if (dir === undefined || dir.trim() === '') return undefined;
  const worktree = args.worktree ?? (await vscode.window.showQuickPick([
    { worktree: false, label: '$(folder) In the folder itself', detail: dir },
    { worktree: true, label: '$(git-branch) In a worktree of its own', detail: 'A new branch from HEAD (the folder must be a git repository on that host)' },
  ], { title: `Start resilient agent task on ${host}: where does it work?` }))?.worktree;
  if (worktree === undefined) return undefined;
  try {
    const r = await hosts.remote.call(hosts.remote.host(host), [
      'start', '--dir', dir, '--prompt', '-', ...(worktree ? ['--worktree'] : []), ...(args.branch ? ['--branch', args.branch] : []), '--json', '--', agent, name,
    ], { input: prompt }) as { session?: unknown; state?: unknown };
    const started: RemoteStart = { host, session: typeof r?.session === 'string' ? r.session : sessionName(agent as AgentId, name), state: typeof r?.state === 'string' ? r.state : 'running' };
    void hosts.poll(host);
    const node = { kind: 'task', host, view: { session: started.session, name } };
    void vscode.window.showInformationMessage(`${started.state === 'queued' ? 'Queued' : 'Started'} agent task "${name}" (${agent}) on host ${host}.`, 'Attach').then((choice) => {
      if (choice === 'Attach') void vscode.commands.executeCommand('resilientAgent.attach', node);
    });
    return started;
  } catch (e) {
    if (e instanceof UsageError || e instanceof TaskError) {
      void vscode.window.showErrorMessage(`Could not start the task on ${host}: ${e.message}`);
      return undefined;
    }
    throw e;
  }
}
