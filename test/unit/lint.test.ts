import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';

const script = path.resolve('test/lint/check.mjs');

/** A src tree in a temp folder: { 'core/store/a.ts': '...' }. */
function tree(files: Record<string, string>): string {
  const src = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ra-lint-')), 'src');
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(src, name)), { recursive: true });
    fs.writeFileSync(path.join(src, name), text);
  }
  return src;
}

function lint(src: string): { status: number | null; stderr: string } {
  return spawnSync(process.execPath, [script, src], { encoding: 'utf8' });
}

describe('lint: core is plain Node, in layers that import only downward', () => {
  it('the project passes', () => {
    const r = lint('src');
    assert.equal(r.status, 0, r.stderr);
  });

  it('fails on an import of vscode in core', () => {
    const r = lint(tree({ 'core/model/bad.ts': "import * as vscode from 'vscode';\n" }));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /bad\.ts:1: src\/core must not import 'vscode'/);
  });

  it('fails on an import that climbs a layer, and passes the same import downward', () => {
    const up = lint(tree({
      'core/store/store.ts': "import { decide } from '../decide/classify';\n",
      'core/decide/classify.ts': 'export const decide = 1;\n',
    }));
    assert.equal(up.status, 1);
    assert.match(up.stderr, /store\.ts:1: \.\.\/decide\/classify: layer store imports decide, a layer above it/);
    const down = lint(tree({
      'core/decide/classify.ts': "import { store } from '../store/store';\n",
      'core/store/store.ts': 'export const store = 1;\n',
    }));
    assert.equal(down.status, 0, down.stderr);
  });

  it('fails on core importing the CLI, the CLI importing the extension, and a file outside the layers', () => {
    const r = lint(tree({
      'core/ops/a.ts': "import { main } from '../../cli/main';\n",
      'cli/main.ts': "import { activate } from '../extension/extension';\nexport const main = 1;\n",
      'extension/extension.ts': 'export const activate = 1;\n',
      'core/loose.ts': 'export const x = 1;\n',
    }));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /a\.ts:1: \.\.\/\.\.\/cli\/main: src\/core must not import src\/cli/);
    assert.match(r.stderr, /main\.ts:1: \.\.\/extension\/extension: src\/cli must not import src\/extension/);
    assert.match(r.stderr, /loose\.ts: every file of src\/core is in one of its layers/);
  });
});
