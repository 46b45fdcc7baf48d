import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';

const script = path.resolve('test/lint/check.mjs');

describe('lint: src/core never imports vscode', () => {
  it('the project passes', () => {
    const r = spawnSync(process.execPath, [script, 'src/core'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });

  it('the rule fails on an import of vscode', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ra-lint-'));
    fs.writeFileSync(path.join(dir, 'bad.ts'), "import * as vscode from 'vscode';\n");
    const r = spawnSync(process.execPath, [script, dir], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /bad\.ts:1: src\/core must not import 'vscode'/);
  });
});
