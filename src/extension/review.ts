import path = require('node:path');
import vscode = require('vscode');
import type { Worktree } from '../core/model/record';
import { Git } from '../core/platform/git';
import type { TaskModel } from './model';

/** Files as they were at a task's base commit, for the left side of its diff. */
export const BASE_SCHEME = 'resilient-agent-base';

export class BaseContent implements vscode.TextDocumentContentProvider {
  constructor(private readonly env: NodeJS.ProcessEnv) {}

  provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const { dir, base, file } = JSON.parse(uri.query) as { dir: string; base: string; file: string };
    return new Git(this.env).show(dir, base, file);
  }
}

function baseUri(wt: Worktree, file: string): vscode.Uri {
  return vscode.Uri.from({ scheme: BASE_SCHEME, path: `/${file}`, query: JSON.stringify({ dir: wt.path, base: wt.base, file }) });
}

/**
 * "Review changes": what the task changed against the commit it started from, committed or not,
 * in VS Code's own multi-file diff (one file: the diff editor).
 */
export async function reviewChanges(model: TaskModel, session: string): Promise<number> {
  const view = model.find(session);
  const wt = view?.worktree;
  if (!wt) {
    void vscode.window.showWarningMessage(`${session} runs in its folder, not in a worktree of its own: review it with the Source Control view.`);
    return 0;
  }
  const { files } = await model.service.diff(session);
  if (files.length === 0) {
    void vscode.window.showInformationMessage(`${session} has not changed anything yet (branch ${wt.branch}).`);
    return 0;
  }
  const title = `${view.name}: changes on ${wt.branch}`;
  const pairs = files.map((f) => [vscode.Uri.file(path.join(wt.path, f)), baseUri(wt, f), vscode.Uri.file(path.join(wt.path, f))] as const);
  if (pairs.length === 1) {
    await vscode.commands.executeCommand('vscode.diff', pairs[0][1], pairs[0][2], `${title} — ${files[0]}`);
    return 1;
  }
  try {
    await vscode.commands.executeCommand('vscode.changes', title, pairs);
  } catch {
    // A VS Code without the multi-file diff: one file at a time.
    const file = await vscode.window.showQuickPick(files, { title, placeHolder: `${files.length} changed files` });
    const pair = pairs[files.indexOf(file ?? '')];
    if (pair) await vscode.commands.executeCommand('vscode.diff', pair[1], pair[2], `${title} — ${file}`);
  }
  return files.length;
}
