import path = require('node:path');
import vscode = require('vscode');
import { defaultLauncher } from '../core/ops/supervisor';
import { resolveSettings, Settings } from '../core/model/settings';
import { registerCommands } from './commands';
import { PromptDocuments } from './promptDocs';
import { queueLimitsSetByUser, readSettings, readUiSettings, SECTION } from './config';
import { PaneMirror } from './mirror';
import { hostNotices, HostsModel } from './hosts';
import { TaskModel } from './model';
import { Notices } from './notices';
import { needsYou } from './present';
import { BASE_SCHEME, BaseContent } from './review';
import { StatusBar } from './statusBar';
import { TaskTree } from './tree';

/** Set by the bundle's first line (esbuild banner): activation time includes loading the bundle. */
declare const __resilientAgentLoadStart: number | undefined;

/** When this module's body runs: every dependency of the bundle has been evaluated by then. */
const moduleLoadedAt = performance.now();

/** What the extension exports: its parts, for tests and for other extensions. */
export interface Api {
  model: TaskModel;
  mirror: PaneMirror;
  statusBar: StatusBar;
  notices: Notices;
  tree: TaskTree;
  hosts: HostsModel;
  docs: PromptDocuments;
  view: vscode.TreeView<unknown>;
  activationMs: number;
}

export function activate(context: vscode.ExtensionContext): Api {
  const activateStarted = performance.now();
  // Like VS Code's own figures: loading the code plus the activate call (not the host's wait between them).
  const loadMs = typeof __resilientAgentLoadStart === 'number' ? moduleLoadedAt - __resilientAgentLoadStart : 0;
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
  if (queueLimitsSetByUser()) model.shareLimits();
  const ui = readUiSettings();
  const mirror = new PaneMirror(model, ui.mirrorRefreshMs);
  const hosts = new HostsModel(log, process.env);
  const tree = new TaskTree(model, hosts);
  const view = vscode.window.createTreeView('resilientAgent.tasks', { treeDataProvider: tree, showCollapseAll: false });
  const statusBar = new StatusBar(model, hosts);
  const notices = new Notices(model, log, context.workspaceState);
  context.subscriptions.push(hosts, hostNotices(hosts));
  context.subscriptions.push(model, mirror, tree, view, statusBar, notices);
  const docs = new PromptDocuments();
  context.subscriptions.push(docs);
  registerCommands(context, model, mirror, log, docs, hosts);
  context.subscriptions.push(vscode.workspace.registerTextDocumentContentProvider(BASE_SCHEME, new BaseContent(process.env)));
  // A settings change says what it changed (the model itself shows no pop-ups).
  context.subscriptions.push(model.onDidApplyPolicy((changed) => {
    if (changed.length === 0) return;
    void vscode.window.showInformationMessage(
      `Resilient Agent: the new recovery settings apply to ${changed.length} unfinished task${changed.length === 1 ? '' : 's'} now, whoever supervises ${changed.length === 1 ? 'it' : 'them'}.`,
    );
  }));

  context.subscriptions.push(model.onDidKeepCorrupt((c) => {
    void vscode.window.showErrorMessage(`Resilient Agent: the record of ${c.session} was unreadable (${c.problem}). It was kept at ${c.keptAt}.`);
  }));

  // Who supervises, at a glance in the view's title.
  context.subscriptions.push(model.onDidChange(() => {
    // The count of what needs a person, on the view's icon in the activity bar.
    const need = model.views.filter(needsYou).length;
    view.badge = need ? { value: need, tooltip: `${need} agent task${need === 1 ? ' needs' : 's need'} you` } : undefined;
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

  // After activation returns: supervise only when there is something to supervise (a start turns
  // it on), and take the first look at tmux.
  setImmediate(() => {
    if (model.hasTaskRecords()) model.ensureMonitor();
    void model.refresh('activation');
  });

  const activationMs = loadMs + (performance.now() - activateStarted);
  log.info(`activated in ${activationMs.toFixed(1)}ms (loading the bundle ${loadMs.toFixed(1)}ms, activate ${(activationMs - loadMs).toFixed(1)}ms)`);
  return { model, hosts, mirror, statusBar, notices, tree, docs, view: view as vscode.TreeView<unknown>, activationMs };
}

export function deactivate(): void {}
