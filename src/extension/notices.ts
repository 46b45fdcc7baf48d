import * as vscode from 'vscode';
import type { StateChange } from '../core/watch/monitor';
import { readUiSettings } from './config';
import { Disposable } from './lifecycle';
import type { TaskModel } from './model';

/** Notifications with actions on done, waiting, gave-up and held; each can be turned off. */
export class Notices extends Disposable {
  /** What was shown, for tests and the log. */
  readonly shown: { session: string; state: string; message: string }[] = [];

  constructor(model: TaskModel, private readonly log: vscode.LogOutputChannel) {
    super();
    this.register(model.onDidChangeState((c) => void this.notify(c)));
  }

  private async notify(c: StateChange): Promise<void> {
    const { notify } = readUiSettings();
    let message: string;
    let actions: string[];
    let show: (m: string, ...a: string[]) => Thenable<string | undefined>;
    switch (c.to) {
      case 'done':
        if (!notify.done) return;
        message = `Agent task ${c.session} is done.`;
        actions = ['Show Output'];
        show = vscode.window.showInformationMessage;
        break;
      case 'waiting':
        if (!notify.waiting) return;
        message = `Agent task ${c.session} is waiting for input.`;
        actions = ['Send Input', 'Attach'];
        show = vscode.window.showWarningMessage;
        break;
      case 'held':
        if (!notify.held || c.reason === 'killed by the user') return;
        message = `Agent task ${c.session} is held: ${c.reason ?? 'not resumed'}.`;
        actions = ['Resume Now', 'Show Output'];
        show = vscode.window.showWarningMessage;
        break;
      case 'gave-up':
        if (!notify.gaveUp) return;
        message = `Agent task ${c.session} was given up: ${c.reason ?? ''}`;
        actions = ['Resume Now', 'Show Output'];
        show = vscode.window.showErrorMessage;
        break;
      default:
        return;
    }
    this.shown.push({ session: c.session, state: c.to, message });
    this.log.info(`notice: ${message}`);
    const choice = await show(message, ...actions);
    const command = {
      'Show Output': 'resilientAgent.showOutput', 'Send Input': 'resilientAgent.sendInput',
      Attach: 'resilientAgent.attach', 'Resume Now': 'resilientAgent.resume',
    }[choice ?? ''];
    if (command) await vscode.commands.executeCommand(command, c.session);
  }
}
