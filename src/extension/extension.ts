import * as vscode from 'vscode';

/** The VS Code layer over src/core. Activation does no work until its view or a command needs it. */
export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Resilient Agent', { log: true });
  context.subscriptions.push(log);
  log.info('Resilient Agent activated');
}

export function deactivate(): void {}
