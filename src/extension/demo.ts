import { spawn } from 'node:child_process';
import vscode = require('vscode');
import { cliEnvironment } from '../core/ops/supervisor';
import type { TaskModel } from './model';

/**
 * "Watch a crash and a resume": the CLI's `demo`, run from the window. Its timeline goes to the
 * output channel, its task shows in the tree and the status bar as any task does, and the end says
 * how it went.
 */
export async function runDemo(model: TaskModel, log: vscode.LogOutputChannel): Promise<number> {
  const { node, cli } = model.launcher;
  log.show(true);
  log.info('demo: a task with the demo agent (no network, no key) is started, killed with -9 mid-reply, and resumed by the supervisor');
  const child = spawn(node, [cli, 'demo'], { env: cliEnvironment(model.service, model.launcher), stdio: ['ignore', 'pipe', 'pipe'] });
  let last = '';
  const lines = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      last = line.trim();
      log.info(`demo: ${last}`);
      void model.refresh('demo');
    }
  };
  child.stdout.on('data', lines);
  child.stderr.on('data', lines);
  const code = await new Promise<number>((resolve) => {
    child.on('error', (e) => {
      last = e.message;
      resolve(1);
    });
    child.on('close', (c) => resolve(c ?? 1));
  });
  await model.refresh('demo ended');
  if (code === 0) {
    void vscode.window.showInformationMessage('Demo done: the agent killed mid-reply was resumed by its exact session id and finished. The timeline is in the output.');
  } else {
    void vscode.window.showErrorMessage(`The demo did not finish: ${last}`, 'Show Output').then((c) => c && log.show());
  }
  return code;
}
