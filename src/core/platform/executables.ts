import fs = require('node:fs');
import path = require('node:path');

function isExecutableFile(file: string): boolean {
  try {
    if (!fs.statSync(file).isFile()) return false;
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds a program the way the caller's shell would, on the caller's PATH (a tmux server started
 * long ago has a stale PATH, so the pane runs this absolute path).
 */
export function resolveExecutable(name: string, env: NodeJS.ProcessEnv, cwd = process.cwd()): string | undefined {
  if (name.includes('/')) {
    const abs = path.resolve(cwd, name);
    return isExecutableFile(abs) ? abs : undefined;
  }
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.resolve(cwd, dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}
