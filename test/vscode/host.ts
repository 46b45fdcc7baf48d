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
// Each lives in host/, one concept a file: config.ts (the environment, the preflight), install.ts
// (Node 24, code-server, playwright-core), runDirs.ts (the per-run temp dir), server.ts
// (code-server), browser.ts (chromium through playwright-core), verdict.ts (the outcome judged)
// and helpers.ts; this file re-exports what ui.ts and package.ts use.

import * as fs from 'fs';
import * as path from 'path';
import { launchBrowser, Playwright, PwBrowser, PwPage, screenshot, testUrl } from './host/browser';
import { isTrue, preflight, readConfig } from './host/config';
import { errorText, HostError, PREFIX, say } from './host/helpers';
import { ensureInstalled } from './host/install';
import { copyArtifacts, makeRunDirs, printDiagnostics, saveWorkbenchLogs } from './host/runDirs';
import { killStrayTmux, Server, startServer, stopGroup, UNTRUSTED_ENV } from './host/server';
import { judge, Outcome } from './host/verdict';
import { readSuiteResults, SuiteResults } from './suite/index';

export type { Playwright, PwBrowser, PwPage } from './host/browser';
export { launchBrowser } from './host/browser';
export type { HostConfig } from './host/config';
export { preflight, readConfig } from './host/config';
export { errorText, HostError, readText, say, waitFor } from './host/helpers';
export type { Tools } from './host/install';
export { ensureInstalled } from './host/install';
export type { RunDirs } from './host/runDirs';
export { copyArtifacts, makeRunDirs, printDiagnostics } from './host/runDirs';
export type { Server, ServerExtras } from './host/server';
export { killStrayTmux, startServer, stopGroup, UNTRUSTED_ENV } from './host/server';

class Interrupted extends Error {
  constructor(readonly outcome: Outcome) {
    super('interrupted');
  }
}

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
