// Builds the .vsix with @vscode/vsce, which needs Node 22 or later: it runs on the Node 24 that the
// test host installs from the npm registry (the machine's own Node may be older). With --install,
// the .vsix is then installed into VS Code or code-server when one is found on PATH.
//   node out/test/vscode/package.js [--install]
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { cleanNpmEnv } from '../tools/npmEnv';
import { ensureInstalled, readConfig } from './host';

const VSCE_PACKAGE = '@vscode/vsce@4.1.0';
const repoRoot = path.resolve(__dirname, '..', '..', '..');

function run(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env, cwd: repoRoot, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${path.basename(file)} ${args.join(' ')} failed: ${stderr || stdout || error.message}`));
      else resolve(stdout);
    });
  });
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

async function ensureVsce(cacheDir: string, node: string): Promise<string> {
  const dir = path.join(cacheDir, 'vsce');
  const marker = path.join(dir, '.resilient-agent-installed');
  const bin = path.join(dir, 'node_modules', '@vscode', 'vsce', 'vsce');
  if (fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === VSCE_PACKAGE) return bin;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'resilient-agent-vsce', private: true }));
  const plain = cleanNpmEnv(process.env);
  const env = { ...plain, PATH: `${path.dirname(node)}${path.delimiter}${plain.PATH ?? ''}` };
  console.log(`package: installing ${VSCE_PACKAGE} (first run only)`);
  await run('npm', ['install', '--prefix', dir, '--no-audit', '--no-fund', '--ignore-scripts', VSCE_PACKAGE], env);
  fs.writeFileSync(marker, VSCE_PACKAGE);
  return bin;
}

async function main(): Promise<number> {
  const install = process.argv.includes('--install');
  const editor = onPath('code') ?? onPath('code-server') ?? onPath('codium');
  if (install && !editor) {
    console.log('package: no VS Code (code, code-server or codium) on PATH: the extension was not installed; the CLI is.');
    return 0;
  }
  const cfg = readConfig(process.env);
  const tools = await ensureInstalled(cfg.cacheDir);
  const vsce = await ensureVsce(cfg.cacheDir, tools.node);
  const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { name: string; version: string };
  const out = path.join(repoRoot, `${manifest.name}-${manifest.version}.vsix`);
  const env = { ...process.env, PATH: `${path.dirname(tools.node)}${path.delimiter}${process.env.PATH ?? ''}` };
  await run(tools.node, [vsce, 'package', '--no-dependencies', '--skip-license', '--allow-missing-repository', '--out', out], env);
  console.log(`package: ${path.relative(repoRoot, out)} (${Math.round(fs.statSync(out).size / 1024)} KB)`);
  if (install && editor) {
    await run(editor, ['--install-extension', out, '--force']);
    console.log(`package: installed into ${path.basename(editor)}`);
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`package: ${(e as Error).message}`);
    process.exit(1);
  },
);
