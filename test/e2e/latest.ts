/**
 * `npm run test:e2e:latest`: the end-to-end suite against whatever the npm registry serves as the
 * newest release of each agent CLI today, not the pins: the way to see an agent release break us
 * before users do. Not part of `npm test` (its result depends on the day).
 *
 * It asks the registry (`npm view <package> version`, the ordinary client) for each of the four
 * packages, installs exactly those versions into a cache folder of their own (keyed by the
 * resolved versions, beside the pinned one: install.ts), runs the same suite, and prints the
 * versions it tested, before and after. Extra arguments go to mocha (`-- -g claude`).
 */
import { execFile, spawn } from 'node:child_process';
import * as path from 'node:path';
import { cleanNpmEnv } from '../tools/npmEnv';
import { AGENT_PACKAGE_BINS, PINNED_PACKAGES, splitSpec } from './install';

function newest(pkg: string): Promise<string> {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  return new Promise((resolve, reject) => {
    execFile(npm, ['view', pkg, 'version'], { env: cleanNpmEnv(process.env), encoding: 'utf8', timeout: 120_000 }, (e, stdout, stderr) => {
      const version = stdout.trim().split('\n').pop()?.trim() ?? '';
      if (e || !/^\d+\.\d+\.\d+/.test(version)) reject(new Error(`npm view ${pkg} version failed: ${(stderr || e?.message || stdout).trim()}`));
      else resolve(version);
    });
  });
}

async function main(): Promise<number> {
  const names = Object.keys(AGENT_PACKAGE_BINS);
  const versions = await Promise.all(names.map(newest));
  const specs = names.map((n, i) => `${n}@${versions[i]}`);
  const pinned = new Map(PINNED_PACKAGES.map((s) => splitSpec(s)));
  const table = names.map((n, i) => {
    const was = pinned.get(n);
    return `  ${AGENT_PACKAGE_BINS[n].padEnd(9)}${n}@${versions[i]}${was === versions[i] ? '  (the pin)' : `  (pinned: ${was})`}`;
  }).join('\n');
  process.stdout.write(`test:e2e:latest: the registry's newest releases\n${table}\n\n`);
  const mocha = path.join(path.dirname(require.resolve('mocha/package.json')), 'bin', 'mocha.js');
  const suites = [path.join(__dirname, 'agents.test.js'), path.join(__dirname, 'interactive.test.js'), path.join(__dirname, 'interactive-pi.test.js'), path.join(__dirname, 'interactive-codex.test.js'), path.join(__dirname, 'interactive-opencode.test.js')];
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, [mocha, '--timeout', '300000', ...suites, ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: { ...process.env, RESILIENT_AGENT_E2E_PACKAGES: specs.join(',') },
    });
    child.on('close', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
  });
  process.stdout.write(`\ntest:e2e:latest: ${code === 0 ? 'passed' : `FAILED (mocha exit ${code})`} against\n${table}\n`);
  return code;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: Error) => {
    process.stderr.write(`test:e2e:latest: ${e.message}\n`);
    process.exitCode = 1;
  },
);
