// The same extension-host suite as test/vscode/host.ts, on desktop VS Code downloaded by
// @vscode/test-electron. Needs network access to Microsoft's servers (not available on the
// project's build machines, which use host.ts) and, on Linux without a display, xvfb-run.
//
//   node out/test/vscode/electron.js
//
// Environment:
//   RESILIENT_AGENT_TEST_VSCODE_VERSION     VS Code to download (default: stable)
//   RESILIENT_AGENT_TEST_VSCODE_EXECUTABLE  use this VS Code binary instead of downloading
//   RESILIENT_AGENT_TEST_WORKSPACE          folder to open (default: a fresh empty temp folder)
//   RESILIENT_AGENT_TEST_KEEP=1             keep the per-run temp dir

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { formatSuiteResults, readSuiteResults, RESULTS_ENV } from './suite/index';

// The part of @vscode/test-electron's API used here, declared locally so the project compiles
// whether or not the package is installed (it is only needed to run this file).
interface TestElectron {
  runTests(options: {
    version?: string;
    vscodeExecutablePath?: string;
    extensionDevelopmentPath: string;
    extensionTestsPath: string;
    extensionTestsEnv?: Record<string, string | undefined>;
    launchArgs?: string[];
  }): Promise<number>;
}

function loadTestElectron(): TestElectron {
  try {
    return require('@vscode/test-electron') as TestElectron;
  } catch {
    throw new Error('@vscode/test-electron is not installed: run `npm install` (it is a devDependency)');
  }
}

async function main(): Promise<number> {
  const { runTests } = loadTestElectron();
  const repoRoot = path.resolve(__dirname, '..', '..', '..');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'resilient-agent-vscode-'));
  const sub = (name: string): string => {
    fs.mkdirSync(path.join(root, name), { recursive: true });
    return path.join(root, name);
  };
  const workspace = process.env.RESILIENT_AGENT_TEST_WORKSPACE
    ? path.resolve(process.env.RESILIENT_AGENT_TEST_WORKSPACE)
    : sub('workspace');
  const artifacts = sub('artifacts');
  const agentHome = sub('agent-home');
  const results = path.join(root, 'results.json');

  let launchError: unknown;
  try {
    await runTests({
      version: process.env.RESILIENT_AGENT_TEST_VSCODE_VERSION || 'stable',
      vscodeExecutablePath: process.env.RESILIENT_AGENT_TEST_VSCODE_EXECUTABLE || undefined,
      extensionDevelopmentPath: repoRoot,
      extensionTestsPath: path.join(__dirname, 'suite', 'index.js'),
      extensionTestsEnv: {
        [RESULTS_ENV]: results,
        RESILIENT_AGENT_TEST_ARTIFACTS: artifacts,
        RESILIENT_AGENT_TEST_WORKSPACE: workspace,
        RESILIENT_AGENT_HOME: process.env.RESILIENT_AGENT_HOME ?? agentHome,
      },
      launchArgs: [workspace, '--disable-extensions'],
    });
  } catch (err) {
    // runTests rejects on any non-zero exit; the results file says more, when there is one.
    launchError = err;
  }

  let ok = launchError === undefined;
  try {
    const r = readSuiteResults(results);
    formatSuiteResults(r).forEach((line) => console.log(line));
    ok = ok && r.failures.length === 0 && r.passes.length > 0;
  } catch (err) {
    console.log(`vscode-electron: ${err instanceof Error ? err.message : String(err)}`);
    if (launchError !== undefined) {
      console.log(`vscode-electron: ${launchError instanceof Error ? launchError.message : String(launchError)}`);
    }
    console.log('0 passed, 0 failed');
    ok = false;
  }

  if (fs.readdirSync(artifacts).length > 0) {
    const out = path.join(repoRoot, '.test-artifacts', 'vscode');
    fs.mkdirSync(out, { recursive: true });
    fs.cpSync(artifacts, out, { recursive: true });
  }
  if (/^(1|true|yes)$/i.test(process.env.RESILIENT_AGENT_TEST_KEEP ?? '')) {
    console.log(`vscode-electron: kept run dir ${root}`);
  } else {
    fs.rmSync(root, { recursive: true, force: true });
  }
  return ok ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.log(`vscode-electron: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
