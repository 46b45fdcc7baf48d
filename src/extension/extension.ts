import * as path from 'node:path';
import * as vscode from 'vscode';
import { defaultLauncher } from '../core/supervisor';
import { resolveSettings, Settings } from '../core/config';
import { registerCommands } from './commands';
import { readSettings, readUiSettings, SECTION } from './config';
import { PaneMirror } from './mirror';
import { TaskModel } from './model';
import { Notices } from './notices';
import { StatusBar } from './statusBar';
import { TaskTree } from './tree';

/** Set by the bundle's first line (esbuild banner): activation time includes loading the bundle. */
declare const __resilientAgentLoadStart: number | undefined;

/** What the extension exports: its parts, for tests and for other extensions. */
export interface Api {
  model: TaskModel;
  mirror: PaneMirror;
  statusBar: StatusBar;
  notices: Notices;
  tree: TaskTree;
  view: vscode.TreeView<unknown>;
  activationMs: number;
}

export function activate(context: vscode.ExtensionContext): Api {
  const started = typeof __resilientAgentLoadStart === 'number' ? __resilientAgentLoadStart : performance.now();
  const log = vscode.window.createOutputChannel('Resilient Agent', { log: true });
  context.subscriptions.push(log);

  let settings: Settings;
  try {
    settings = readSettings();
  } catch (e) {
    // One bad setting must not take the extension down: report it and run on the defaults.
    void vscode.window.showErrorMessage(`Resilient Agent: ${(e as Error).message}. Using the defaults until it is fixed.`);
    settings = resolveSettings();
  }
  const model = new TaskModel(settings, log, defaultLauncher(path.join(context.extensionPath, 'dist', 'cli.js'), process.env));
  const ui = readUiSettings();
  const mirror = new PaneMirror(model, ui.mirrorRefreshMs);
  const tree = new TaskTree(model);
  const view = vscode.window.createTreeView('resilientAgent.tasks', { treeDataProvider: tree, showCollapseAll: false });
  const statusBar = new StatusBar(model);
  const notices = new Notices(model, log);
  context.subscriptions.push(model, mirror, tree, view, statusBar, notices);
  registerCommands(context, model, mirror, log);

  // Who supervises, at a glance in the view's title.
  context.subscriptions.push(model.onDidChange(() => {
    const s = model.supervisor;
    view.description = !s?.running ? undefined : s.background ? 'supervised in the background' : s.holder?.pid === process.pid ? 'supervised by this window' : 'supervised elsewhere';
  }));

  // Refresh while the view is visible, and only then.
  const follow = () => model.setAutoRefresh(view.visible ? readUiSettings().viewRefreshMs : 0);
  context.subscriptions.push(view.onDidChangeVisibility(() => {
    follow();
    if (view.visible) void model.refresh('view shown');
  }));
  follow();

  context.subscriptions.push(vscode.workspace.onDidChangeConfiguration((e) => {
    if (!e.affectsConfiguration(SECTION)) return;
    try {
      model.applySettings(readSettings());
    } catch (err) {
      void vscode.window.showErrorMessage(`Resilient Agent: ${(err as Error).message}`);
    }
    mirror.setRefresh(readUiSettings().mirrorRefreshMs);
    follow();
  }));

  // Supervise only when there is something to supervise; a start turns it on.
  if (model.hasTaskRecords()) model.ensureMonitor();
  void model.refresh('activation');

  const activationMs = performance.now() - started;
  log.info(`activated in ${activationMs.toFixed(1)}ms (bundle load included)`);
  return { model, mirror, statusBar, notices, tree, view: view as vscode.TreeView<unknown>, activationMs };
}

export function deactivate(): void {}
