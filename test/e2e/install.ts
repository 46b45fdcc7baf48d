/**
 * Installs the four agent CLIs the end-to-end tests drive, at pinned versions, into a cache folder
 * outside the repo: `$RESILIENT_AGENT_E2E_CACHE`, else `${XDG_CACHE_HOME:-~/.cache}/resilient-agent-e2e-agents`,
 * then `<specs hash>/`.
 *
 *   node out/test/e2e/install.js          # installs if needed, prints the bin folder
 *
 * Idempotent: a finished install holds a marker naming exactly these specs, and is reused.
 * Half-install safe: npm installs into a private temp folder beside it, which is renamed into place
 * only once every CLI answers `--version`; an interrupted run leaves only a temp folder, removed by
 * the next run. Two runs at once each install privately; the first rename wins, the other is dropped.
 *
 * Why not devDependencies: together they are about 1.2 GB (codex, claude and opencode each pull a
 * native binary per platform, two by postinstall scripts), so every `npm install` of the extension
 * would download them; only the e2e suite needs them.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cleanNpmEnv } from '../tools/npmEnv';

/** The versions the suite is pinned to. */
export const PINNED_PACKAGES = [
  '@openai/codex@0.171.0',
  '@anthropic-ai/claude-code@2.1.332',
  'opencode-ai@1.18.33',
  '@mariozechner/pi-coding-agent@0.73.1',
] as const;

/** Each package and the executable it puts in node_modules/.bin. */
export const AGENT_PACKAGE_BINS: Record<string, 'codex' | 'claude' | 'opencode' | 'pi'> = {
  '@openai/codex': 'codex',
  '@anthropic-ai/claude-code': 'claude',
  'opencode-ai': 'opencode',
  '@mariozechner/pi-coding-agent': 'pi',
};

/** `name@version` -> [name, version] (scoped names start with "@"). */
export function splitSpec(spec: string): [string, string] {
  const at = spec.lastIndexOf('@');
  return [spec.slice(0, at), spec.slice(at + 1)];
}

/**
 * The specs installed: the pins, or `RESILIENT_AGENT_E2E_PACKAGES` (comma-separated `name@version`
 * of the same four packages), which `npm run test:e2e:latest` sets to the registry's newest.
 */
function packages(env: NodeJS.ProcessEnv = process.env): readonly string[] {
  const given = env.RESILIENT_AGENT_E2E_PACKAGES?.split(',').map((s) => s.trim()).filter(Boolean);
  if (!given?.length) return PINNED_PACKAGES;
  const names = given.map((s) => splitSpec(s)[0]).sort();
  if (JSON.stringify(names) !== JSON.stringify(Object.keys(AGENT_PACKAGE_BINS).sort()) || given.some((s) => !/^\d+\.\d+\.\d+/.test(splitSpec(s)[1]))) {
    throw new Error(`RESILIENT_AGENT_E2E_PACKAGES must name each of ${Object.keys(AGENT_PACKAGE_BINS).join(', ')} once, at an exact version: got ${given.join(',')}`);
  }
  return given;
}

export const AGENT_PACKAGES: readonly string[] = packages();

/** The executables each package puts in node_modules/.bin, and what `--version` must print. */
export const AGENT_BINS = Object.fromEntries(AGENT_PACKAGES.map((spec) => {
  const [name, version] = splitSpec(spec);
  return [AGENT_PACKAGE_BINS[name], new RegExp(`\\b${version.replace(/[.+]/g, '\\$&')}\\b`)];
})) as Record<'codex' | 'claude' | 'opencode' | 'pi', RegExp>;

const MARKER = '.installed.json';

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.RESILIENT_AGENT_E2E_CACHE) return path.resolve(env.RESILIENT_AGENT_E2E_CACHE);
  const base = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(env.HOME || os.homedir(), '.cache');
  return path.join(base, 'resilient-agent-e2e-agents');
}

function specsKey(): string {
  return createHash('sha256').update(AGENT_PACKAGES.join('\n')).digest('hex').slice(0, 12);
}

/** Where the install for these specs lives (complete or not). */
export function installDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(cacheRoot(env), specsKey());
}

/** The bin folder holding codex, claude, opencode and pi. */
export function agentsBinDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(installDir(env), 'node_modules', '.bin');
}

function complete(dir: string): boolean {
  try {
    const marker = JSON.parse(fs.readFileSync(path.join(dir, MARKER), 'utf8')) as { packages?: unknown };
    if (JSON.stringify(marker.packages) !== JSON.stringify(AGENT_PACKAGES)) return false;
  } catch {
    return false;
  }
  return Object.keys(AGENT_BINS).every((b) => fs.existsSync(path.join(dir, 'node_modules', '.bin', b)));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Temp folders of installs whose process is gone. */
function removeStale(root: string): void {
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(root);
  } catch {
    return;
  }
  for (const name of entries) {
    const m = /^\.tmp-(\d+)-/.exec(name);
    if (m && !alive(Number(m[1]))) fs.rmSync(path.join(root, name), { recursive: true, force: true });
  }
}

function run(cmd: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; log: (s: string) => void }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const keep = (d: Buffer): void => {
      tail = (tail + d.toString('utf8')).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else {
        options.log(tail);
        reject(new Error(`${cmd} ${args.join(' ')} failed (${code ?? signal}):\n${tail}`));
      }
    });
  });
}

function versionOf(bin: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve) => {
    execFile(bin, ['--version'], { env, timeout: 60_000, encoding: 'utf8' }, (_e, stdout, stderr) => resolve(`${stdout}${stderr}`.trim()));
  });
}

/**
 * Makes sure the pinned CLIs are installed; returns their bin folder. Async (npm runs as a child
 * process), so it can be called from a mocha `before` hook.
 */
export async function ensureAgents(options: { env?: NodeJS.ProcessEnv; log?: (s: string) => void } = {}): Promise<string> {
  const env = options.env ?? process.env;
  const log = options.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const final = installDir(env);
  if (complete(final)) return agentsBinDir(env);
  const root = cacheRoot(env);
  fs.mkdirSync(root, { recursive: true });
  removeStale(root);
  const tmp = fs.mkdtempSync(path.join(root, `.tmp-${process.pid}-`));
  try {
    fs.writeFileSync(path.join(tmp, 'package.json'), JSON.stringify({ name: 'resilient-agent-e2e-agents', private: true }, null, 2));
    log(`installing ${AGENT_PACKAGES.join(' ')} into ${final} (about 1.2 GB, a minute or two)…`);
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    // Postinstall scripts stay on: claude and opencode pick their platform binary in them.
    await run(npm, ['install', '--no-audit', '--no-fund', '--save-exact', '--loglevel=error', ...AGENT_PACKAGES], {
      cwd: tmp,
      env: cleanNpmEnv(env),
      log,
    });
    const bin = path.join(tmp, 'node_modules', '.bin');
    const binEnv = { ...env, PATH: [bin, path.dirname(process.execPath), env.PATH ?? ''].join(path.delimiter) };
    for (const [name, want] of Object.entries(AGENT_BINS)) {
      const got = await versionOf(path.join(bin, name), binEnv);
      if (!want.test(got)) throw new Error(`${name} --version printed ${JSON.stringify(got.slice(0, 300))}, expected ${want}`);
    }
    fs.writeFileSync(path.join(tmp, MARKER), JSON.stringify({ packages: AGENT_PACKAGES, at: new Date().toISOString() }, null, 2));
    // A leftover without a marker (interrupted before this scheme, or removed by hand) goes first.
    if (fs.existsSync(final) && !complete(final)) fs.rmSync(final, { recursive: true, force: true });
    try {
      fs.renameSync(tmp, final);
    } catch (e) {
      if (!complete(final)) throw e; // another run finished first: use that one
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    return agentsBinDir(env);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

if (require.main === module) {
  ensureAgents().then(
    (bin) => process.stdout.write(`${bin}\n`),
    (e: Error) => {
      process.stderr.write(`${e.message}\n`);
      process.exitCode = 1;
    },
  );
}
