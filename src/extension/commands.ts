import fs = require('node:fs');
import vscode = require('vscode');
import { runDemo } from './demo';
import { reviewChanges } from './review';
import { supervisorLog } from '../core/ops/supervisor';
import { TaskError, UsageError } from '../core/model/errors';
import { TmuxError } from '../core/tmux/errors';
import { attachArgs } from '../core/tmux/commands';
import type { PaneMirror } from './mirror';
import type { TaskModel } from './model';
import { nameFromFile } from './promptDocs';
import type { PromptDocuments } from './promptDocs';
import { askPrompt, startTask, StartArgs } from './startTask';
import { startAnywhere } from './startOnHost';
import type { HostsModel } from './hosts';
import { addHost, isRemoteNode, remoteAction } from './remoteCommands';
import type { Node } from './tree';

/** A command's target: a tree node, or a session / task name (from notifications, tests, keybindings). */
function sessionOf(model: TaskModel, arg: unknown): string | undefined {
  if (typeof arg === 'string') return model.find(arg)?.session ?? model.views.find((v) => v.name === arg)?.session ?? arg;
  const node = arg as Node | undefined;
  if (node?.kind === 'task') return node.view.session;
  return undefined;
}

async function pickTask(model: TaskModel, arg: unknown, title: string): Promise<string | undefined> {
  const session = sessionOf(model, arg);
  if (session) return session;
  if (model.views.length === 0) {
    void vscode.window.showInformationMessage('There are no agent tasks yet: start one with "Start resilient agent task".');
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(model.views.map((v) => ({ label: v.name, description: `${v.agent} · ${v.state}`, session: v.session })), { title });
  return picked?.session;
}

export interface CommandOptions {
  /** Skips the confirmation of kill / forget / clean up (tests, scripted use). */
  noConfirm?: boolean;
}

async function confirm(message: string, action: string, options?: CommandOptions): Promise<boolean> {
  if (options?.noConfirm) return true;
  return (await vscode.window.showWarningMessage(message, { modal: true }, action)) === action;
}

export function registerCommands(context: vscode.ExtensionContext, model: TaskModel, mirror: PaneMirror, log: vscode.LogOutputChannel, docs: PromptDocuments, hosts?: HostsModel): void {
  /** Every command: errors are caught, logged, and shown once with a way to the log. */
  const register = (id: string, fn: (...args: unknown[]) => unknown) => {
    context.subscriptions.push(vscode.commands.registerCommand(id, async (...args: unknown[]) => {
      try {
        // A task of another host: the same action through its CLI over ssh.
        if (hosts && isRemoteNode(args[0])) {
          const node = args[0];
          const action = remoteAction(id, hosts, (m, a) => confirm(m, a, args[1] as CommandOptions | undefined));
          if (!action) throw new UsageError(`${id.replace('resilientAgent.', '')} does not work on a task of another host yet (${node.view.session} on host ${node.host}); use the CLI with --host ${node.host}`);
          return await action(node, ...args.slice(1));
        }
        return await fn(...args);
      } catch (e) {
        const known = e instanceof UsageError || e instanceof TaskError || e instanceof TmuxError;
        log.error(`${id}: ${(e as Error).stack ?? e}`);
        // What fixes it, as VS Code's git extension offers from its error codes.
        const fix = e instanceof TmuxError && e.cause === 'not-installed' ? 'How to Install tmux'
          : e instanceof TaskError && e.code === 'missing-tool' ? 'Open Settings' : undefined;
        const choice = await vscode.window.showErrorMessage(known ? (e as Error).message : `Resilient Agent: ${(e as Error).message}`, ...(fix ? [fix] : []), 'Open Log');
        if (choice === 'Open Log') log.show();
        if (choice === 'Open Settings') void vscode.commands.executeCommand('workbench.action.openSettings', 'resilientAgent.agents');
        if (choice === 'How to Install tmux') void vscode.env.openExternal(vscode.Uri.parse('https://github.com/tmux/tmux/wiki/Installing'));
        return undefined;
      } finally {
        if (id !== 'resilientAgent.refresh' && id !== 'resilientAgent.showLog') void model.refresh(id);
      }
    }));
  };

  const writePrompt = async (agent: string, name: string) => {
    await docs.write({ agent, name });
  };
  register('resilientAgent.start', (args) => startAnywhere(model, hosts, (args ?? {}) as StartArgs & { host?: string }, writePrompt));
  // From a host's node in the tree (or with { host } from a keybinding or a test).
  register('resilientAgent.startOnHost', (arg) => {
    const host = (arg as { name?: unknown; host?: unknown } | undefined);
    const name = typeof host?.name === 'string' && (arg as { kind?: unknown }).kind === 'host' ? host.name : typeof host?.host === 'string' ? host.host : undefined;
    return startAnywhere(model, hosts, { ...(arg && (arg as { kind?: unknown }).kind !== 'host' ? arg as StartArgs : {}), ...(name ? { host: name } : {}) }, writePrompt);
  });
  // The whole document, byte for byte (unsaved edits included), is the prompt.
  register('resilientAgent.startFromFile', async (arg) => {
    const uri = arg instanceof vscode.Uri ? arg : vscode.window.activeTextEditor?.document.uri;
    if (!uri) {
      void vscode.window.showInformationMessage('Open the Markdown or text file that holds the prompt first.');
      return undefined;
    }
    const doc = await vscode.workspace.openTextDocument(uri);
    const prompt = doc.getText();
    if (prompt.trim() === '') {
      void vscode.window.showErrorMessage('The document is empty: write the prompt in it first.');
      return undefined;
    }
    const pending = docs.pendingFor(doc);
    const record = await startTask(model, { ...(pending ?? {}), prompt, suggestedName: nameFromFile(uri) });
    if (!record) return undefined;
    docs.settle(doc);
    // A document opened only to write this prompt goes (the record keeps the prompt); a file stays.
    if (pending && doc.isUntitled) {
      await vscode.window.showTextDocument(doc);
      await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    }
    return record;
  });
  register('resilientAgent.refresh', () => Promise.all([model.refresh('manual'), hosts?.refresh()]));
  register('resilientAgent.addHost', (args) => hosts && addHost(hosts, args as { target?: string; name?: string }));
  register('resilientAgent.showLog', () => log.show());

  register('resilientAgent.attach', async (arg) => {
    const session = await pickTask(model, arg, 'Attach to which task?');
    if (!session) return undefined;
    const tmux = model.service.tmux;
    const terminal = vscode.window.createTerminal({
      name: `agent: ${session}`,
      shellPath: tmux.executable,
      shellArgs: [...tmux.baseArgv().slice(1), ...attachArgs(session)],
      env: { TMUX: null, TMUX_PANE: null },
      iconPath: new vscode.ThemeIcon('hubot'),
    });
    terminal.show();
    return terminal;
  });

  register('resilientAgent.showOutput', async (arg) => {
    const session = await pickTask(model, arg, 'Show the output of which task?');
    if (session) await mirror.show(session);
  });

  register('resilientAgent.resume', async (arg) => {
    const session = await pickTask(model, arg, 'Resume which task?');
    if (!session) return undefined;
    const record = await model.service.resume(session);
    model.ensureMonitor();
    const last = record.attempts[record.attempts.length - 1];
    void vscode.window.showInformationMessage(
      `${record.session}: attempt ${last.n} ${last.mode === 'resume' ? `resumes session ${record.agentSessionId}` : 'starts again from the prompt'}.`);
    return record;
  });

  // A session started by hand taken over as an interactive task: its agent's TUI resumed by id in its pane, supervised by its hooks.
  register('resilientAgent.resumeInTui', async (arg) => {
    const session = await pickTask(model, arg, 'Resume which session in its TUI?');
    if (!session) return undefined;
    const record = await model.service.resume(session, { interactive: true });
    model.ensureMonitor();
    void vscode.commands.executeCommand('resilientAgent.attach', record.session);
    return record;
  });

  register('resilientAgent.sendInput', async (arg, text) => {
    const session = await pickTask(model, arg, 'Send input to which task?');
    if (!session) return;
    const input = typeof text === 'string' ? text : await vscode.window.showInputBox({
      title: `Send input to ${session}`,
      prompt: 'Typed into the pane as it is, followed by Enter (for an approval prompt: y, 1, yes …)',
    });
    if (input === undefined) return;
    await model.service.send(session, input);
    model.wakeMonitor('input sent');
  });

  register('resilientAgent.kill', async (arg, options) => {
    const session = await pickTask(model, arg, 'Kill which task?');
    if (!session) return;
    if (!(await confirm(`Kill ${session}? The agent stops and will not be resumed.`, 'Kill', options as CommandOptions))) return;
    await model.service.kill(session, false);
  });

  register('resilientAgent.forget', async (arg, options) => {
    const session = await pickTask(model, arg, 'Forget which task?');
    if (!session) return;
    const worktree = model.find(session)?.worktree;
    const also = worktree ? ' Its worktree goes too when nothing in it is uncommitted; its branch stays.' : '';
    if (!(await confirm(`Forget ${session}? Its session is killed and its record and logs are removed.${also}`, 'Forget', options as CommandOptions))) return;
    const r = await model.service.kill(session, true);
    if (worktree && r.kept && /uncommitted/.test(r.kept)) {
      const discard = 'Delete Worktree and Its Changes';
      const choice = (options as CommandOptions | undefined)?.noConfirm ? undefined
        : await vscode.window.showWarningMessage(`${session}: ${r.kept}.`, discard, 'Open Worktree');
      if (choice === discard) void vscode.window.showInformationMessage(`${session}: ${await model.service.releaseWorktree(worktree, true)}.`);
      if (choice === 'Open Worktree') await vscode.commands.executeCommand('vscode.openFolder', vscode.Uri.file(worktree.path), { forceNewWindow: true });
    }
    return r;
  });

  register('resilientAgent.demo', () => runDemo(model, log));

  register('resilientAgent.reviewChanges', async (arg) => {
    const session = await pickTask(model, arg, 'Review the changes of which task?');
    return session ? reviewChanges(model, session) : undefined;
  });

  register('resilientAgent.followUp', async (arg, text) => {
    const session = await pickTask(model, arg, 'Continue which task?');
    if (!session) return undefined;
    const prompt = typeof text === 'string' ? text : await askPrompt(`Continue ${session} with a follow-up`);
    if (prompt === undefined) return undefined;
    const record = await model.service.followUp(session, prompt);
    model.ensureMonitor();
    await model.refresh('follow-up');
    void vscode.window.showInformationMessage(record.state === 'queued'
      ? `${record.session}: the follow-up is queued (${(record.stateReason ?? 'waiting for a slot').replace(/^queued: /, '')}); it starts the moment a slot frees.`
      : `${record.session}: the follow-up runs in the same ${record.agent} session (${record.agentSessionId}).`);
    return record;
  });

  register('resilientAgent.startNow', async (arg, options) => {
    const session = await pickTask(model, arg, 'Start which queued task now?');
    if (!session) return undefined;
    if (!(await confirm(`Start ${session} now? It runs beyond the limit of agents at once (resilientAgent.queue settings).`, 'Start Now', options as CommandOptions))) return undefined;
    const record = await model.service.startQueuedNow(session);
    model.ensureMonitor();
    await model.refresh('started now');
    return record;
  });

  register('resilientAgent.cleanUp', async (options) => {
    const done = model.views.filter((v) => v.state === 'done' && !v.adopted);
    if (done.length === 0) {
      void vscode.window.showInformationMessage('No finished tasks to clean up.');
      return;
    }
    if (!(await confirm(`Remove ${done.length} finished task${done.length === 1 ? '' : 's'} (sessions, records and logs)?`, 'Clean Up', options as CommandOptions))) return;
    for (const v of done) await model.service.kill(v.session, true);
  });

  register('resilientAgent.copySessionId', async (arg) => {
    const session = await pickTask(model, arg, 'Copy the session id of which task?');
    const id = session ? model.find(session)?.agentSessionId : undefined;
    if (!id) {
      void vscode.window.showWarningMessage(`The agent session id of ${session ?? 'this task'} is not known yet.`);
      return;
    }
    await vscode.env.clipboard.writeText(id);
    void vscode.window.setStatusBarMessage(`Copied ${id}`, 3000);
  });

  register('resilientAgent.openFolder', async (arg) => {
    const session = await pickTask(model, arg, 'Open the folder of which task?');
    const dir = session ? model.find(session)?.dir : undefined;
    if (!dir) {
      void vscode.window.showWarningMessage(`The folder of ${session ?? 'this task'} is not known (started by hand).`);
      return;
    }
    await vscode.commands.executeCommand('vscode.openFolder', vscode.Uri.file(dir), { forceNewWindow: true });
  });

  register('resilientAgent.copyPrompt', async (arg) => {
    const session = await pickTask(model, arg, 'Copy the prompt of which task?');
    const prompt = session ? model.find(session)?.prompt : undefined;
    if (!prompt) {
      void vscode.window.showWarningMessage(`The prompt of ${session ?? 'this task'} is not known (started by hand).`);
      return;
    }
    await vscode.env.clipboard.writeText(prompt);
    void vscode.window.setStatusBarMessage('Copied the prompt', 3000);
  });

  register('resilientAgent.showSupervisorLog', async () => {
    const file = supervisorLog(model.service);
    if (!fs.existsSync(file)) {
      void vscode.window.showInformationMessage('The background supervisor has not written a log yet (it starts with the first task in background mode).');
      return;
    }
    await vscode.window.showTextDocument(vscode.Uri.file(file), { preview: true });
  });

  register('resilientAgent.openEvents', async (arg) => {
    const session = await pickTask(model, arg, 'Open the events of which task?');
    const file = session ? model.find(session)?.eventsFile : undefined;
    if (!file) {
      void vscode.window.showWarningMessage('This task has no events log.');
      return;
    }
    await vscode.window.showTextDocument(vscode.Uri.file(file), { preview: true });
  });
}
