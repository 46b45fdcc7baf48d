import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { cleanNpmEnv } from '../tools/npmEnv';

describe('the environment of a nested npm install', () => {
  const systemPath = [path.dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(path.delimiter);
  // What `npm test` hands its scripts (npm 11): the outer npm's settings as variables.
  const underNpmTest: NodeJS.ProcessEnv = {
    ...process.env,
    npm_config_user_agent: 'npm/11.19.1 node/v20.20.2 linux x64 workspaces/false',
    npm_config_nodedir: '/nonexistent/node20-headers',
    npm_lifecycle_event: 'test',
    npm_package_name: 'resilient-coding-agent',
    npm_execpath: '/usr/lib/node_modules/npm/bin/npm-cli.js',
    NODE: '/usr/bin/node',
    PATH: ['/repo/node_modules/.bin', '/usr/lib/node_modules/npm/node_modules/@npmcli/run-script/lib/node-gyp-bin', systemPath].join(path.delimiter),
  };

  it('drops what the outer npm exported and keeps the rest', () => {
    const env = cleanNpmEnv(underNpmTest, { npm_config_nodedir: '/node24' });
    assert.equal(Object.keys(env).some((k) => /^npm_(lifecycle|package)_/.test(k) || k === 'npm_execpath' || k === 'NODE'), false);
    assert.equal(env.npm_config_user_agent, undefined);
    assert.equal(env.npm_config_nodedir, '/node24', 'what the caller sets wins');
    assert.equal(env.PATH, systemPath, "npm's own entries are gone, the rest is kept in order");
    assert.equal(env.HOME, process.env.HOME);
  });

  it('a real npm given the clean environment reads its own settings, not the outer npm\'s', () => {
    const read = (env: NodeJS.ProcessEnv): string => execFileSync('npm', ['config', 'get', 'nodedir'], { env, encoding: 'utf8' }).trim();
    assert.equal(read(underNpmTest), '/nonexistent/node20-headers', 'the inherited variable is what breaks nested installs');
    assert.notEqual(read(cleanNpmEnv(underNpmTest)), '/nonexistent/node20-headers');
  });
});
