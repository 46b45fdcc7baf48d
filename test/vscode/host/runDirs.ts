// One run: a temp dir holding everything code-server and the extension host write.
// Read back when the run is over: the diagnostics of a failed run, the artifacts, the workbench's logs.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { HostConfig } from './config';
import { findFiles, say, tail } from './helpers';

export interface RunDirs {
  root: string;
  userData: string;
  extensions: string;
  config: string;
  xdg: { XDG_CONFIG_HOME: string; XDG_DATA_HOME: string; XDG_CACHE_HOME: string; XDG_STATE_HOME: string };
  tmp: string;
  tmux: string;
  agentHome: string;
  workspace: string;
  artifacts: string;
  results: string;
  serverLog: string;
  browserLog: string;
}

export function makeRunDirs(cfg: HostConfig): RunDirs {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'resilient-agent-vscode-'));
  const sub = (name: string): string => {
    const dir = path.join(root, name);
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  };
  const logs = sub('logs');
  return {
    root,
    userData: sub('user-data'),
    extensions: sub('extensions'),
    config: path.join(root, 'code-server.yaml'),
    xdg: {
      XDG_CONFIG_HOME: sub('xdg/config'),
      XDG_DATA_HOME: sub('xdg/data'),
      XDG_CACHE_HOME: sub('xdg/cache'),
      XDG_STATE_HOME: sub('xdg/state'),
    },
    tmp: sub('tmp'),
    tmux: sub('tmux'),
    agentHome: sub('agent-home'),
    workspace: cfg.workspace ?? sub('workspace'),
    artifacts: sub('artifacts'),
    results: path.join(root, 'results.json'),
    serverLog: path.join(logs, 'code-server.log'),
    browserLog: path.join(logs, 'browser-console.log'),
  };
}

/** codeAutomationExit's second argument: the workbench's own logs, as {relativePath, contents}. */
export function saveWorkbenchLogs(dirs: RunDirs, logs: unknown): void {
  if (!Array.isArray(logs)) {
    return;
  }
  const outDir = path.join(dirs.root, 'logs', 'workbench');
  for (const entry of logs as Array<{ relativePath?: unknown; contents?: unknown }>) {
    if (typeof entry?.relativePath !== 'string' || typeof entry.contents !== 'string') {
      continue;
    }
    const target = path.resolve(outDir, entry.relativePath);
    if (target.startsWith(outDir + path.sep)) {
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, entry.contents);
    }
  }
}

export function printDiagnostics(dirs: RunDirs): void {
  say(`----- code-server log (tail) ${dirs.serverLog}`);
  say(tail(dirs.serverLog, 40));
  for (const file of findFiles(dirs.userData, (name) => /^(remote)?exthost\.log$/i.test(name))) {
    say(`----- extension host log (tail) ${file}`);
    say(tail(file, 40));
  }
  for (const file of findFiles(dirs.userData, (name) => /Resilient Agent\.log$/.test(name))) {
    say(`----- the extension's own log (tail) ${file}`);
    say(tail(file, 60));
  }
  say(`----- browser console (tail) ${dirs.browserLog}`);
  say(tail(dirs.browserLog, 30));
  say('-----');
}

export function copyArtifacts(from: string, to: string): number {
  const files = findFiles(from, () => true);
  if (files.length > 0) {
    fs.mkdirSync(to, { recursive: true });
    fs.cpSync(from, to, { recursive: true });
  }
  return files.length;
}
