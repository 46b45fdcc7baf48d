// code-server: on a free loopback port, in its own process group (stopped as a whole), with a fixed
// environment and quiet user settings.

import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as path from 'path';
import { processesWithEnv } from '../../tools/processes';
import { RESULTS_ENV } from '../suite/index';
import type { HostConfig } from './config';
import { PREFIX, runCommand, safeReaddir, say, waitFor } from './helpers';
import type { Tools } from './install';
import type { RunDirs } from './runDirs';

const CODE_SERVER_FLAGS = [
  '--auth', 'none',
  '--disable-telemetry',
  '--disable-update-check',
  '--disable-workspace-trust',
  '--ignore-last-opened',
  // Without the smoke-test driver the workbench ignores the test payload and nothing runs.
  '--vscode-option', 'enable-smoke-test-driver',
];

// A quiet, predictable workbench for UI tests and screenshots: no welcome page, no AI side panel,
// no update checks. (The workbench still asks open-vsx.org about extensions; offline that fails
// at once and is only logged.)
const USER_SETTINGS = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'chat.disableAIFeatures': true,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'update.mode': 'none',
  'telemetry.telemetryLevel': 'off',
};

// Only these (and RESILIENT_AGENT_*) reach code-server and so the extension host: a run must not
// depend on, or leak into, whatever the developer's shell has set (TMUX, VSCODE_*, ...).
const PASSED_ENV = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'TZ', 'TERM'];

/** The extension host's environment: fixed, per run, plus the caller's RESILIENT_AGENT_*. */
function serverEnv(dirs: RunDirs, cfg: HostConfig): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (PASSED_ENV.includes(key) || key.startsWith('LC_') || key.startsWith('RESILIENT_AGENT_')) {
      env[key] = value;
    }
  }
  return {
    ...env,
    // Tests must not see the developer's tasks; a caller may still point them elsewhere.
    RESILIENT_AGENT_HOME: process.env.RESILIENT_AGENT_HOME ?? dirs.agentHome,
    ...dirs.xdg,
    TMPDIR: dirs.tmp,
    // tmux puts its default socket under TMUX_TMPDIR, not TMPDIR: keep stray servers in the run.
    TMUX_TMPDIR: dirs.tmux,
    [RESULTS_ENV]: dirs.results,
    RESILIENT_AGENT_TEST_ARTIFACTS: dirs.artifacts,
    RESILIENT_AGENT_TEST_WORKSPACE: dirs.workspace,
    RESILIENT_AGENT_TEST_EXTENSION_DIR: cfg.extensionDir,
  };
}

export interface Server {
  child: ChildProcess;
  port: number;
  /** Resolves when the process exits, with its code or signal. */
  exited: Promise<string>;
}

/** What a caller adds to a run: environment for code-server (wins over serverEnv), user settings, flags. */
export interface ServerExtras {
  env?: NodeJS.ProcessEnv;
  settings?: Record<string, unknown>;
  args?: string[];
  /** Open the workspace untrusted (workspace trust on, no startup prompt). */
  untrusted?: boolean;
}

/** With RESILIENT_AGENT_TEST_UNTRUSTED=1 the suite runs in an untrusted workspace. */
export const UNTRUSTED_ENV = 'RESILIENT_AGENT_TEST_UNTRUSTED';

const UNTRUSTED_SETTINGS = {
  'security.workspace.trust.enabled': true,
  'security.workspace.trust.startupPrompt': 'never',
  'security.workspace.trust.banner': 'never',
};

export async function startServer(dirs: RunDirs, cfg: HostConfig, tools: Tools, extras: ServerExtras = {}): Promise<Server> {
  const port = await freePort();
  fs.writeFileSync(dirs.config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  fs.mkdirSync(path.join(dirs.userData, 'User'), { recursive: true });
  fs.writeFileSync(
    path.join(dirs.userData, 'User', 'settings.json'),
    JSON.stringify({ ...USER_SETTINGS, ...(extras.untrusted ? UNTRUSTED_SETTINGS : {}), ...extras.settings }, null, 2),
  );
  const log = fs.openSync(dirs.serverLog, 'a');
  const args = [
    tools.codeServerEntry,
    '--bind-addr', `127.0.0.1:${port}`,
    '--config', dirs.config,
    '--user-data-dir', dirs.userData,
    '--extensions-dir', dirs.extensions,
    ...CODE_SERVER_FLAGS.filter((f) => !(extras.untrusted && f === '--disable-workspace-trust')),
    ...(extras.args ?? []),
  ];
  fs.writeSync(log, `> ${tools.node} ${args.join(' ')}\n`);
  // detached: its own process group, so the extension host and its children stop with it.
  const child = spawn(tools.node, args, {
    cwd: dirs.workspace,
    env: { ...serverEnv(dirs, cfg), ...extras.env },
    detached: true,
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ?? String(code)));
    child.once('error', (err) => resolve(`spawn error: ${err.message}`));
  });
  if (child.pid) {
    liveGroups.add(child.pid);
  }
  const started = Date.now();
  try {
    await waitFor(
      'code-server to answer on /healthz',
      () => httpOk(`http://127.0.0.1:${port}/healthz`),
      { timeoutMs: 60_000, intervalMs: 100, abort: exited.then((how) => `code-server exited (${how}) before it was ready`) },
    );
  } catch (err) {
    await stopGroup(child.pid);
    throw err;
  }
  say(`${PREFIX} code-server ready on 127.0.0.1:${port} in ${Date.now() - started} ms`);
  return { child, port, exited };
}

const liveGroups = new Set<number>();

/** Stops the whole process group: TERM, then KILL whatever is left after a grace period. */
export async function stopGroup(pid: number | undefined): Promise<void> {
  if (!pid) {
    return;
  }
  signalGroup(pid, 'SIGTERM');
  try {
    await waitFor('code-server to stop', async () => !groupAlive(pid), { timeoutMs: 5000, intervalMs: 100 });
  } catch {
    signalGroup(pid, 'SIGKILL');
  }
  liveGroups.delete(pid);
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Tests should stop their own tmux servers; this catches the ones that did not, and the processes
 * of the run that live outside tmux (a background supervisor is nobody's child), found by the
 * run's state dir in their environment.
 */
export async function killStrayTmux(dirs: RunDirs): Promise<void> {
  for (const pid of processesWithEnv(`RESILIENT_AGENT_HOME=${dirs.agentHome}`)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone already */
    }
  }
  for (const userDir of safeReaddir(dirs.tmux)) {
    for (const socket of safeReaddir(path.join(dirs.tmux, userDir))) {
      await runCommand('tmux', ['-S', path.join(dirs.tmux, userDir, socket), 'kill-server'], {
        logFile: dirs.serverLog,
      }).catch(() => undefined);
    }
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function httpOk(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
  });
}

// Last resort if the process dies without reaching the finally blocks (uncaught error, exit()).
process.on('exit', () => {
  for (const pid of liveGroups) {
    signalGroup(pid, 'SIGKILL');
  }
});
