// The project's lint: the layers of ARCHITECTURE.md, checked on every import.
//  - src/core stays plain Node: it never imports 'vscode'.
//  - src/core is in layers, one folder each, and a folder imports only from layers below it:
//      model < platform < tmux < agents < store < decide < ops
//  - src/cli and src/extension sit on top of core and never import each other; core imports neither.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

export const LAYERS = ['model', 'platform', 'tmux', 'agents', 'store', 'decide', 'ops'];
const FRONTS = ['cli', 'extension'];

const IMPORTS_VSCODE = /(?:from\s+['"]vscode['"]|require\(\s*['"]vscode['"]\s*\)|import\(\s*['"]vscode['"]\s*\)|import\s+['"]vscode['"])/;
const RELATIVE_IMPORT = /(?:from\s+|import\s*\(\s*|require\(\s*|import\s+)['"](\.{1,2}\/[^'"]*)['"]/g;

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else if (/\.(ts|js|mjs|cjs)$/.test(name)) yield p;
  }
}

/** Where a file sits: { area: 'core' | 'cli' | 'extension' | 'other', layer?: string } (src = the src folder). */
function place(src, file) {
  const parts = relative(src, file).split(sep);
  if (parts[0] === '..') return { area: 'other' };
  if (parts[0] === 'core') return { area: 'core', layer: parts.length > 2 ? parts[1] : undefined };
  if (FRONTS.includes(parts[0])) return { area: parts[0] };
  return { area: 'other' };
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

/** Every import that climbs a layer, crosses between the CLI and the extension, or leaves core's folders. */
export function layerViolations(src = 'src') {
  const bad = [];
  for (const f of files(src)) {
    const from = place(src, f);
    if (from.area === 'core' && !LAYERS.includes(from.layer)) {
      bad.push(`${f}: every file of src/core is in one of its layers (${LAYERS.join(', ')})`);
      continue;
    }
    readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
      for (const m of line.matchAll(RELATIVE_IMPORT)) {
        const target = resolve(dirname(f), m[1]);
        const to = place(src, target);
        const at = `${f}:${i + 1}: ${m[1]}`;
        if (from.area === 'core') {
          if (to.area !== 'core' && to.area !== 'other') bad.push(`${at}: src/core must not import src/${to.area}`);
          else if (to.area === 'core' && to.layer && LAYERS.indexOf(to.layer) > LAYERS.indexOf(from.layer)) {
            bad.push(`${at}: layer ${from.layer} imports ${to.layer}, a layer above it (order: ${LAYERS.join(' < ')})`);
          }
        } else if (FRONTS.includes(from.area) && FRONTS.includes(to.area) && to.area !== from.area) {
          bad.push(`${at}: src/${from.area} must not import src/${to.area} (share it through src/core)`);
        }
      }
    });
  }
  return bad;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const src = process.argv[2] ?? 'src';
  const bad = [...coreViolations(join(src, 'core')), ...layerViolations(src)];
  for (const b of bad) console.error(b);
  process.exit(bad.length ? 1 : 0);
}
