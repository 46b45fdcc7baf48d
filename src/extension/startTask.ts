import vscode = require('vscode');
import { adapterFor } from '../core/agents/registry';
import { TaskError, UsageError } from '../core/model/errors';
import { AGENT_IDS, AgentId, nameProblem, sessionName } from '../core/model/names';
import type { TaskRecord } from '../core/model/record';
import { resolveExecutable } from '../core/platform/executables';
import { Git } from '../core/platform/git';
import type { TaskModel } from './model';

/** Inputs a caller (a test, another extension, a keybinding) may give to skip the prompts. */
export interface StartArgs {
  agent?: string;
  name?: string;
  prompt?: string;
  folder?: vscode.Uri | string;
  /** In a git worktree of its own (asked when the folder is in a repository and this is not given). */
  worktree?: boolean;
  branch?: string;
  /** A name to offer (from the prompt file's name). */
  suggestedName?: string;
  /** The agent's own TUI in the pane, you talk to it (asked for an agent that can, when the agent is picked here). */
  interactive?: boolean;
}

/** The start flow left to let the person write the prompt in an editor (see promptDocs.ts). */
export const WRITE_IN_EDITOR = Symbol('write the prompt in an editor');

export const UNTRUSTED_MESSAGE = 'Starting an agent task runs a program in this workspace: trust the workspace first (Manage Workspace Trust).';

async function pickAgent(model: TaskModel): Promise<AgentId | undefined> {
  const settings = model.service.settings;
  type Item = vscode.QuickPickItem & { agent: AgentId; found?: string };
  const items: Item[] = AGENT_IDS.map((agent) => {
    const exe = settings.agents[agent].executable;
    const found = resolveExecutable(exe, model.service.env);
    return {
      agent,
      found,
      label: `${found ? '$(check)' : '$(warning)'} ${adapterFor(agent).displayName}`,
      detail: found ? found : `not available: "${exe}" is not on PATH (install it, or set resilientAgent.agents.${agent}.executable)`,
    };
  });
  items.sort((a, b) => Number(!!b.found) - Number(!!a.found));
  const picked = await vscode.window.showQuickPick(items, { title: 'Start resilient agent task (1/3): agent', placeHolder: 'Which coding agent runs the task?', matchOnDetail: false });
  if (!picked) return undefined;
  if (!picked.found) {
    void vscode.window.showErrorMessage(`${adapterFor(picked.agent).displayName} is not available: ${picked.detail}`);
    return undefined;
  }
  return picked.agent;
}

async function askName(model: TaskModel, agent: AgentId, suggested?: string): Promise<string | undefined> {
  const offer = suggested && !nameProblem(suggested) && !model.service.store.exists(sessionName(agent, suggested)) ? suggested : undefined;
  return vscode.window.showInputBox({
    ...(offer ? { value: offer } : {}),
    title: 'Start resilient agent task (2/3): name',
    prompt: `The tmux session will be ${agent}-<name>`,
    placeHolder: 'refactor-auth',
    validateInput: (value) => nameMessage(agent, value, (session) => model.service.store.exists(session)),
  });
}

/** What the name box says of a name (undefined: fine), on this machine and on a host alike. */
export function nameMessage(agent: AgentId, value: string, taken?: (session: string) => boolean): string | undefined {
  const problem = nameProblem(value);
  if (problem) return value === '' ? 'A name is required' : `Invalid: ${problem}`;
  if (taken?.(sessionName(agent, value))) return `A task named ${sessionName(agent, value)} already exists`;
  return undefined;
}

export async function askPrompt(title?: string): Promise<string | undefined>;
export async function askPrompt(title: string | undefined, offerEditor: true): Promise<string | typeof WRITE_IN_EDITOR | undefined>;
export async function askPrompt(title = 'Start resilient agent task (3/3): prompt', offerEditor = false): Promise<string | typeof WRITE_IN_EDITOR | undefined> {
  const editor = vscode.window.activeTextEditor;
  const selection = editor && !editor.selection.isEmpty ? editor.document.getText(editor.selection) : undefined;
  type Item = vscode.QuickPickItem & { from: 'type' | 'selection' | 'file' | 'editor' };
  const items: Item[] = [{ from: 'type', label: '$(edit) Type the prompt', detail: 'One line' }];
  if (offerEditor) items.push({ from: 'editor', label: '$(new-file) Write the prompt in an editor…', detail: 'A Markdown document: write as much as the task needs, then start it from the document' });
  if (selection) items.push({ from: 'selection', label: '$(selection) Use the selection', detail: selection.slice(0, 120) });
  if (editor) items.push({ from: 'file', label: '$(file) Use the active file', detail: vscode.workspace.asRelativePath(editor.document.uri) });
  const source = items.length === 1 ? items[0] : await vscode.window.showQuickPick(items, { title });
  if (!source) return undefined;
  if (source.from === 'editor') return WRITE_IN_EDITOR;
  if (source.from === 'selection') return selection;
  if (source.from === 'file') return editor!.document.getText();
  return vscode.window.showInputBox({
    title,
    prompt: 'What should the agent do? It reaches the agent exactly as typed, never through a shell.',
    validateInput: (v) => (v.trim() === '' ? 'The prompt is empty' : undefined),
  });
}

/** Interactive (its TUI, you talk to it) or unattended (it works alone), for an agent that can run either way. */
async function askMode(agent: AgentId): Promise<boolean | undefined> {
  type Item = vscode.QuickPickItem & { interactive: boolean };
  const name = adapterFor(agent).displayName;
  const items: Item[] = [
    { interactive: true, label: '$(comment-discussion) Interactive: you talk to it', detail: `${name}'s own TUI in its tmux pane, opened in a terminal here; waiting for you and idle come from its hooks; a crash resumes it by id` },
    { interactive: false, label: '$(run-all) Unattended: it works alone', detail: 'No questions asked; its transcript in the pane; a crash resumes it by id with the continue prompt' },
  ];
  const picked = await vscode.window.showQuickPick(items, { title: 'Start resilient agent task: how does it run?' });
  return picked?.interactive;
}

/** An interactive task's first prompt: optional (empty: you type it in its TUI). */
async function askFirstPrompt(): Promise<string | undefined> {
  return vscode.window.showInputBox({
    title: 'Start resilient agent task (3/3): first prompt (optional)',
    prompt: 'What should the agent do first? Leave it empty to type it in its TUI. It reaches the agent exactly as typed, never through a shell.',
  });
}

async function pickFolder(given?: vscode.Uri | string): Promise<string | undefined> {
  if (given) return typeof given === 'string' ? given : given.fsPath;
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (folders.length === 0) {
    void vscode.window.showErrorMessage('Open a folder first: an agent task works in a workspace folder.');
    return undefined;
  }
  if (folders.length === 1) return folders[0].uri.fsPath;
  const picked = await vscode.window.showWorkspaceFolderPick({ placeHolder: 'Which folder does the agent work in?' });
  return picked?.uri.fsPath;
}

/** In a repository: a worktree of its own, or the folder itself (the setting picks the first choice). */
async function askWorktree(model: TaskModel, dir: string, name: string): Promise<boolean | undefined> {
  const repo = await new Git(model.service.env).topLevel(dir).catch(() => undefined);
  if (!repo) return false;
  const branch = `${model.service.settings.worktreeBranchPrefix}${name}`;
  type Item = vscode.QuickPickItem & { worktree: boolean };
  const own: Item = { worktree: true, label: '$(git-branch) In a worktree of its own', detail: `A new branch ${branch} from HEAD; your checkout is not touched, and tasks at once never collide` };
  const here: Item = { worktree: false, label: '$(folder) In the folder itself', detail: dir };
  const items = model.service.settings.worktreeByDefault ? [own, here] : [here, own];
  const picked = await vscode.window.showQuickPick(items, { title: 'Start resilient agent task: where does it work?' });
  return picked?.worktree;
}

/**
 * The palette's "Start resilient agent task". Returns the record, or undefined when cancelled or
 * refused. `writePrompt`: how the flow hands over to a prompt written in an editor.
 */
export async function startTask(model: TaskModel, args: StartArgs = {}, writePrompt?: (agent: string, name: string) => Promise<void>): Promise<TaskRecord | undefined> {
  if (!vscode.workspace.isTrusted) {
    void vscode.window.showErrorMessage(UNTRUSTED_MESSAGE);
    return undefined;
  }
  const agent = args.agent ?? (await pickAgent(model));
  if (!agent) return undefined;
  // Asked only in the person's own flow (an agent picked here) for an agent that can run either way.
  const canAsk = args.agent === undefined && AGENT_IDS.includes(agent as AgentId) && adapterFor(agent as AgentId).interactive !== undefined;
  const interactive = args.interactive ?? (canAsk ? await askMode(agent as AgentId) : false);
  if (interactive === undefined) return undefined;
  const name = args.name ?? (AGENT_IDS.includes(agent as AgentId) ? await askName(model, agent as AgentId, args.suggestedName) : '');
  if (name === undefined) return undefined;
  const prompt = args.prompt ?? (interactive ? await askFirstPrompt() : writePrompt ? await askPrompt(undefined, true) : await askPrompt());
  if (prompt === undefined) return undefined;
  if (prompt === WRITE_IN_EDITOR) {
    await writePrompt?.(agent, name);
    return undefined;
  }
  const dir = await pickFolder(args.folder);
  if (!dir) return undefined;
  const worktree = args.worktree ?? (await askWorktree(model, dir, name));
  if (worktree === undefined) return undefined;
  try {
    const record = await model.service.start({ agent, name, dir, prompt, worktree, branch: args.branch, interactive });
    model.ensureMonitor();
    await model.refresh('started');
    if (record.state === 'queued') {
      // Beyond this machine's limits: it starts the moment a slot frees.
      void vscode.window.showInformationMessage(`Queued agent task "${record.name}" (${record.agent}): ${(record.stateReason ?? 'waiting for a slot').replace(/^queued: /, '')}. It starts the moment a slot frees.`, 'Start Now').then((choice) => {
        if (choice === 'Start Now') void vscode.commands.executeCommand('resilientAgent.startNow', record.session);
      });
      return record;
    }
    if (interactive) {
      // You talk to it: its TUI opens in a terminal at once.
      void vscode.commands.executeCommand('resilientAgent.attach', record.session);
      return record;
    }
    void vscode.window.showInformationMessage(`Started agent task "${record.name}" (${record.agent}) in tmux session ${record.session}.`, 'Attach', 'Show Transcript').then((choice) => {
      if (choice === 'Attach') void vscode.commands.executeCommand('resilientAgent.attach', record.session);
      if (choice === 'Show Transcript') void vscode.commands.executeCommand('resilientAgent.showOutput', record.session);
    });
    return record;
  } catch (e) {
    if (e instanceof UsageError || e instanceof TaskError) {
      void vscode.window.showErrorMessage(`Could not start the task: ${e.message}`);
      return undefined;
    }
    throw e;
  }
}
