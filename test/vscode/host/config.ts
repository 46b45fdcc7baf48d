// Configuration: the run, read from the environment (the variables are listed in host.ts), and the
// preflight that checks what the run needs.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CHROMIUM } from './browser';
import { HostError } from './helpers';

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
  // This file runs as out/test/vscode/host/config.js.
  const repoRoot = path.resolve(__dirname, '..', '..', '..', '..');
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

export function isTrue(value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes)$/i.test(value);
}

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
