/**
 * The environment for an npm install that the tests run themselves (code-server, Node 24,
 * playwright-core, vsce, the e2e agent CLIs).
 *
 * Under `npm test` the parent npm exports its whole configuration as `npm_config_*`, plus
 * `npm_lifecycle_*`, `npm_package_*`, `npm_execpath`, `NODE` and its own `node_modules/.bin`
 * entries on PATH. A nested npm reads those as its own settings: `npm_config_user_agent` names the
 * outer Node (code-server's postinstall then refuses Node 24: "you are on node v20"), and
 * `npm_config_nodedir` points node-gyp at the wrong headers. The nested npm reads the same npmrc
 * files by itself, so dropping the inherited variables loses none of the user's configuration.
 */
import * as path from 'node:path';

const INHERITED = /^(npm_config_|npm_lifecycle_|npm_package_)/i;
const NPM_OWN = new Set(['npm_execpath', 'npm_node_execpath', 'npm_command', 'init_cwd', 'node']);

export function cleanNpmEnv(base: NodeJS.ProcessEnv, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(base)) {
    if (INHERITED.test(key) || NPM_OWN.has(key.toLowerCase())) continue;
    env[key] = value;
  }
  if (env.PATH !== undefined) {
    env.PATH = env.PATH.split(path.delimiter)
      .filter((dir) => !dir.endsWith(`${path.sep}node_modules${path.sep}.bin`) && !dir.includes(`${path.sep}@npmcli${path.sep}run-script${path.sep}`))
      .join(path.delimiter);
  }
  return { ...env, npm_config_update_notifier: 'false', ...extra };
}
