import * as assert from 'assert';
import * as fs from 'fs';
import * as vscode from 'vscode';

const EXTENSION_ID = 'resilient-coding-agent.resilient-coding-agent';

describe('extension host smoke', () => {
  it('finds and activates the extension under development', async () => {
    const extension = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(extension, `${EXTENSION_ID} is not loaded (check engines.vscode and extensionKind)`);
    await extension.activate();
    assert.strictEqual(extension.isActive, true);
  });

  it('opens the test workspace folder', () => {
    const folders = vscode.workspace.workspaceFolders;
    assert.ok(folders && folders.length > 0, 'no workspace folder is open');
    // The harness says which folder it opened; compare real paths (a temp dir may be a symlink).
    const expected = process.env.RESILIENT_AGENT_TEST_WORKSPACE;
    if (expected) {
      assert.strictEqual(fs.realpathSync(folders[0].uri.fsPath), fs.realpathSync(expected));
    }
  });
});
