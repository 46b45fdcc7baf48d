// The project's lint: src/core must stay plain Node (never import 'vscode').
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const IMPORTS_VSCODE = /(?:from\s+['"]vscode['"]|require\(\s*['"]vscode['"]\s*\)|import\(\s*['"]vscode['"]\s*\)|import\s+['"]vscode['"])/;

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else if (/\.(ts|js|mjs|cjs)$/.test(name)) yield p;
  }
}

export function coreViolations(root = 'src/core') {
  const bad = [];
  for (const f of files(root)) {
    readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
      if (IMPORTS_VSCODE.test(line)) bad.push(`${f}:${i + 1}: src/core must not import 'vscode' (adapt it in src/extension)`);
    });
  }
  return bad;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const bad = coreViolations(process.argv[2] ?? 'src/core');
  for (const b of bad) console.error(b);
  process.exit(bad.length ? 1 : 0);
}
