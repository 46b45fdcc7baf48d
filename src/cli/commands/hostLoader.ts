/**
 * What the launcher on a host runs: the CLI beside it (cli.js), compiled with V8's code cache kept
 * in a file beside it, so a command over ssh (a `list` every few seconds, from every window) does
 * not compile the bundle again each time (Node 20 has no compile cache of its own; 22 has). The
 * cache is named for the bundle's size and time, written once (whole, then renamed) after the first
 * command that found none or had it refused by V8 (another node), with what that command compiled;
 * `hosts install` removes the old ones. Node's own module loader runs the bundle as its main module
 * (require.main is it, argv[1] names it), exactly as `node cli.js` would. Plain CommonJS for any Node 20+.
 */
export const HOST_LOADER = `'use strict';
// resilient-agent's loader (written by \`resilient-agent hosts install\`): runs cli.js beside it with
// V8's code cache kept in cli.js.SIZE.TIME.cache. Safe to remove: the launcher can run cli.js itself.
const fs = require('fs');
const path = require('path');
const vm = require('vm');
const Module = require('module');
const file = path.join(__dirname, 'cli.js');
const st = fs.statSync(file);
const cacheFile = file + '.' + st.size + '.' + Math.floor(st.mtimeMs) + '.cache';
const source = fs.readFileSync(file, 'utf8');
let cachedData;
try { cachedData = fs.readFileSync(cacheFile); } catch (e) { cachedData = undefined; }
const script = new vm.Script(Module.wrap(source.startsWith('#!') ? '//' + source.slice(2) : source), cachedData ? { filename: file, cachedData } : { filename: file });
if (!cachedData || script.cachedDataRejected) {
  process.once('exit', () => {
    const tmp = cacheFile + '.' + process.pid + '.tmp';
    try {
      fs.writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
      fs.renameSync(tmp, cacheFile);
    } catch (e) {
      try { fs.unlinkSync(tmp); } catch (e2) { /* never made */ }
    }
  });
}
const main = new Module(file, null);
main.filename = file;
const req = Module.createRequire(file);
req.main = main;
process.argv[1] = file;
script.runInThisContext().call(main.exports, main.exports, req, main, file, __dirname);
`;
