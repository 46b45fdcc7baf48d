import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import type { Api } from '../../../src/extension/extension';
import { writeFixtureBin } from '../../integration/harness';

// Registered only in the harness's untrusted run (RESILIENT_AGENT_TEST_UNTRUSTED=1).
if (process.env.RESILIENT_AGENT_TEST_UNTRUSTED) {
  describe('an untrusted workspace', () => {
    it('refuses to start a task, creates nothing, and still shows the tasks', async () => {
      assert.strictEqual(vscode.workspace.isTrusted, false, 'the harness opened the workspace untrusted');
      const api = await vscode.extensions.getExtension<Api>('resilient-coding-agent.resilient-coding-agent')!.activate();
      // The agent is on PATH: only the workspace's trust stands between the command and a task.
      process.env.PATH = `${writeFixtureBin(fs.mkdtempSync(path.join(os.tmpdir(), 'ra-untrusted-')))}:${process.env.PATH}`;
      const folder = vscode.workspace.workspaceFolders![0].uri.fsPath;
      const result = await vscode.commands.executeCommand('resilientAgent.start', { agent: 'codex', name: 'untrusted', prompt: 'x', folder });
      assert.strictEqual(result, undefined);
      assert.deepStrictEqual(api.model.service.store.sessions(), [], 'no task record');
      await api.model.refresh('test');
      assert.ok(api.model.loaded, 'watching works in restricted mode');
    });
  });
}
