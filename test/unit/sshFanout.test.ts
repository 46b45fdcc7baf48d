import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runSsh, runSshMany, SshBatch, SshError } from '../../src/core/platform/ssh';
import type { SshResult } from '../../src/core/platform/ssh';

/** An `ssh` that does what its first argument says (the fan-out never looks inside an argv); -p: a BASH_ENV is not its concern. */
const FAKE_SSH = `#!/bin/bash -p
case "$1" in
  argv) printf '%s\\0' "$@" ;;
  big) head -c 1048576 /dev/zero | tr '\\0' a ;;
  auth) echo 'Permission denied (publickey).' >&2; exit 255 ;;
  code) echo out; echo err >&2; exit 3 ;;
  stdin) cat; echo "[end]" ;;
  slow) echo "start" >> "$2"; for _ in $(seq 200); do [ "$(grep -c start "$2")" -ge 4 ] && break; sleep 0.05; done; echo "end" >> "$2"; echo "ok $2" ;;
  group) read -r stat < /proc/$$/stat; set -- \${stat##*) }; echo "$3" ;;
  hang) echo $$ > "$2"; exec sleep 30 ;;
  signal) kill -KILL $$ ;;
  late) sleep 1.5; echo late ;;
esac
`;

const CORPUS = ["'", '"', '\\', '$HOME', '$(id)', '`id`', '*', '~', '-n', '-e', 'a\nb', '\t', ' ', '', '!', '%s', "a'b'c", 'é 🚀', '--', ';', '&&', '|'];

/** Running (a zombie no reaper took yet has ended). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('hosts asked at once: one bash starts their ssh side by side', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ra-fanout-'));
    fs.mkdirSync(path.join(dir, 'bin'));
    fs.writeFileSync(path.join(dir, 'bin', 'ssh'), FAKE_SSH, { mode: 0o755 });
    // HOME: this user's own ~/.bashrc never runs in a test's bash (see the test of it below).
    env = { ...process.env, HOME: dir, PATH: `${path.join(dir, 'bin')}:${process.env.PATH}` };
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('each ssh gets its own argv byte for byte, its own output whole, its status, an empty stdin; ssh failing is an SshError as runSsh says it', async () => {
    const [argv, short, big, auth, code, stdin] = await runSshMany(
      [['argv', ...CORPUS], ['argv', 'x y'], ['big'], ['auth'], ['code'], ['stdin']], env, { whats: ['h0', 'h1', 'h2', 'h3', 'h4', 'h5'] });
    assert.deepEqual((argv as SshResult).stdout.split('\0').slice(0, -1), ['argv', ...CORPUS]);
    assert.deepEqual((short as SshResult).stdout.split('\0').slice(0, -1), ['argv', 'x y']);
    assert.equal((big as SshResult).stdout.length, 1024 * 1024, 'a large answer read to its end');
    assert.ok(auth instanceof SshError && auth.cause === 'auth' && /^h3: Permission denied/.test(auth.message), String(auth));
    assert.deepEqual(code, { stdout: 'out\n', stderr: 'err\n', exitCode: 3 });
    assert.equal((stdin as SshResult).stdout, '[end]\n', 'nothing on its stdin');
  });

  it('they run at the same time (every one started before the first ended)', async () => {
    const log = path.join(dir, 'log');
    const results = await runSshMany([1, 2, 3, 4].map(() => ['slow', log]), env);
    assert.ok(results.every((r) => !(r instanceof Error) && r.stdout === `ok ${log}\n`));
    const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
    assert.deepEqual(lines.slice(0, 4), ['start', 'start', 'start', 'start'], lines.join(' '));
  });

  it('one deadline: what has not answered by then is a timeout and is killed, the others answer', async () => {
    const pidFile = path.join(dir, 'pid');
    const [hang, quick] = await runSshMany([['hang', pidFile], ['argv', 'q']], env, { timeoutMs: 1500, whats: ['host slow', 'host quick'] });
    assert.ok(hang instanceof SshError && hang.cause === 'timeout' && /^host slow did not answer in 1\.5 s/.test(hang.message), String(hang));
    assert.deepEqual((quick as SshResult).stdout.split('\0').slice(0, -1), ['argv', 'q']);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(alive(pid), false, 'the hanging ssh is killed');
  });

  it('no ssh on PATH: every host says so, nothing started', async () => {
    const results = await runSshMany([['argv'], ['argv']], { ...env, PATH: path.join(dir, 'nothing') });
    assert.ok(results.every((r) => r instanceof SshError && r.cause === 'no-ssh'));
  });

  it('a batch: runs asked in the same moment go out through one bash (one process group), one alone through its own ssh', async () => {
    const batch = new SshBatch(env, 10_000);
    const [a, b] = await Promise.all([batch.run(['group']), batch.run(['group'])]);
    assert.equal(a.stdout, b.stdout, 'one group');
    assert.notEqual(Number(a.stdout), process.pid, 'not ours: the fan-out bash leads it');
    const alone = await batch.run(['argv', '1']);
    assert.deepEqual(alone.stdout.split('\0').slice(0, -1), ['argv', '1']);
    await assert.rejects(Promise.all([batch.run(['auth']), batch.run(['argv'])]), (e: unknown) => e instanceof SshError && e.cause === 'auth');
  });

  const waitForFile = async (file: string) => {
    for (let i = 0; i < 250 && !(fs.existsSync(file) && fs.readFileSync(file, 'utf8')); i++) await new Promise((r) => setTimeout(r, 20));
  };

  /** Settles within `ms`, else fails (a promise that never settles would hold mocha to its own timeout). */
  const within = <T>(p: Promise<T>, ms: number, what: string) => Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: not settled in ${ms} ms`)), ms).unref())]);

  it('100 hosts: each answers (the script closes every other pipe by number, and one argument has at most 128 KiB on Linux)', async () => {
    const argvs = Array.from({ length: 100 }, (_, k) => ['argv', `host ${k}`]);
    const results = await within(runSshMany(argvs, env, { timeoutMs: 20_000 }), 25_000, 'runSshMany');
    results.forEach((r, k) => assert.deepEqual((r as SshResult).stdout.split('\0').slice(0, -1), ['argv', `host ${k}`], String(r)));
    const batch = new SshBatch(env, 20_000);
    const viaBatch = await within(Promise.all(argvs.map((argv) => batch.run(argv))), 25_000, 'SshBatch');
    assert.equal(viaBatch.length, 100);
  });

  it('an argument too long for exec (E2BIG): every host fails with it, as runSsh alone does, and a batch settles', async () => {
    const long = ['argv', 'x'.repeat(200 * 1024)];
    await assert.rejects(runSsh(long, env), /E2BIG/);
    const results = await within(runSshMany([long, ['argv']], env, { timeoutMs: 5_000 }), 6_000, 'runSshMany');
    assert.ok(results.every((r) => r instanceof Error && /E2BIG/.test(r.message)), String(results));
    const batch = new SshBatch(env, 5_000);
    const settled = await within(Promise.allSettled([batch.run(long), batch.run(['argv'])]), 6_000, 'SshBatch');
    assert.ok(settled.every((s) => s.status === 'rejected' && /E2BIG/.test(String(s.reason))), JSON.stringify(settled));
  });

  it('no host: an empty answer, at once', async () => {
    assert.deepEqual(await within(runSshMany([], env, { timeoutMs: 5_000 }), 2_000, 'runSshMany([])'), []);
  });

  it("the caller's bash settings (BASH_ENV, exported functions, TMOUT) do not reach the fan-out script", async () => {
    // A BASH_ENV that prints (a line like a status) and sets errexit; a function named as a builtin the script uses.
    const rc = path.join(dir, 'bash_env');
    fs.writeFileSync(rc, 'echo "1 0"\nset -e\n');
    const odd = { ...env, BASH_ENV: rc, 'BASH_FUNC_shift%%': '() { :; }' };
    const [auth, code] = await within(runSshMany([['auth'], ['code']], odd, { timeoutMs: 10_000, whats: ['h0', 'h1'] }), 12_000, 'runSshMany');
    assert.ok(auth instanceof SshError && auth.cause === 'auth' && /^h0: Permission denied/.test(auth.message), String(auth));
    assert.deepEqual(code, { stdout: 'out\n', stderr: 'err\n', exitCode: 3 });
    // TMOUT (a hardened profile's idle logout) is also the default timeout of bash's read.
    const [late] = await runSshMany([['late'], ['argv']], { ...env, TMOUT: '1' }, { timeoutMs: 10_000 });
    assert.deepEqual(late, { stdout: 'late\n', stderr: '', exitCode: 0 });
  });

  it("the caller's ~/.bashrc does not run in the fan-out bash either (its stdin is a socket: a bash with SHLVL unset or 0 takes itself for sshd's)", async () => {
    // What pyenv's `pyenv init` in a ~/.bashrc does (a rehash under a lock, up to 60 s) made the
    // deadline pass with no host asked; this one marks that it ran, prints a line like a status, and waits.
    const mark = path.join(dir, 'bashrc-ran');
    fs.writeFileSync(path.join(dir, '.bashrc'), `touch '${mark}'\necho "1 0"\nsleep 5\n`);
    const started = { ...env }; // as an extension host or a service has it: no shell started it
    delete started.SHLVL;
    const [auth, code] = await within(runSshMany([['auth'], ['code']], started, { timeoutMs: 3_000, whats: ['h0', 'h1'] }), 4_000, 'runSshMany');
    assert.equal(fs.existsSync(mark), false, '~/.bashrc ran');
    assert.ok(auth instanceof SshError && auth.cause === 'auth' && /^h0: Permission denied/.test(auth.message), String(auth));
    assert.deepEqual(code, { stdout: 'out\n', stderr: 'err\n', exitCode: 3 });
  });

  it('an ssh killed by a signal: the same exit status (128 + its number) alone or with others', async () => {
    const alone = await runSsh(['signal'], env);
    const [together] = await runSshMany([['signal'], ['argv']], env);
    assert.equal(alone.exitCode, 128 + 9);
    assert.deepEqual(together, alone);
  });

  it('an environment without PATH: hosts asked at once find ssh where one alone does (the system\'s default path)', async function () {
    const bare = { HOME: env.HOME };
    const alone = await runSsh(['-V'], bare).catch((e: unknown) => e);
    if (alone instanceof SshError) this.skip(); // no ssh in the default path here
    assert.deepEqual(await runSshMany([['-V'], ['-V']], bare), [alone, alone]);
  });

  it('no bash that runs (Alpine, a minimal container: ssh without bash): each host asked through its own ssh, as before the fan-out', async () => {
    // A bash on PATH whose interpreter is not there: starting it fails with ENOENT, as /bin/bash missing does.
    const broken = path.join(dir, 'broken');
    fs.mkdirSync(broken);
    fs.writeFileSync(path.join(broken, 'bash'), '#!/nonexistent/interpreter\n', { mode: 0o755 });
    const results = await runSshMany([['argv', 'a'], ['argv', 'b'], ['code']], { ...env, PATH: `${broken}:${env.PATH}` }, { timeoutMs: 10_000 });
    assert.deepEqual((results[0] as SshResult).stdout.split('\0').slice(0, -1), ['argv', 'a'], String(results[0]));
    assert.deepEqual((results[1] as SshResult).stdout.split('\0').slice(0, -1), ['argv', 'b'], String(results[1]));
    assert.deepEqual(results[2], { stdout: 'out\n', stderr: 'err\n', exitCode: 3 });
    // And no bash on PATH at all (the fake ssh names its own interpreter).
    const [alone, auth] = await runSshMany([['argv', 'c'], ['auth']], { ...env, PATH: path.join(dir, 'bin') }, { whats: ['h0', 'h1'] });
    assert.deepEqual((alone as SshResult).stdout.split('\0').slice(0, -1), ['argv', 'c'], String(alone));
    assert.ok(auth instanceof SshError && auth.cause === 'auth' && /^h1: Permission denied/.test(auth.message), String(auth));
  });

  it('the process that asked dies mid-batch (Ctrl-C in a terminal, the extension host gone): its hosts\' ssh end with it, not when they end on their own', async () => {
    // The batch's group is its own session (detached, for the deadline's kill): a terminal's SIGINT
    // no longer reaches its ssh, and nothing is left to kill it at a deadline.
    const pidFile = path.join(dir, 'pid');
    const asker = spawn(process.execPath, ['-e', `require(${JSON.stringify(require.resolve('../../src/core/platform/ssh'))}).runSshMany([['hang', ${JSON.stringify(pidFile)}], ['argv']], process.env, { timeoutMs: 60000 })`], { env, stdio: 'ignore' });
    await waitForFile(pidFile);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    assert.ok(alive(pid));
    asker.kill('SIGKILL');
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    const left = alive(pid);
    if (left) process.kill(pid, 'SIGKILL');
    assert.equal(left, false, 'the hanging ssh ended with the process that asked');
  });

  it('out of file descriptors (EMFILE): one host alone and hosts at once fail with it; the process does not crash', function () {
    // A Node whose descriptors are all taken (prlimit keeps that quick); before, reading the null
    // pipes of a spawn that failed threw before its 'error' had a listener: an unhandled 'error' ended the process.
    if (!spawnSync('prlimit', ['--version']).stdout) this.skip();
    const script = `const { runSsh, runSshMany } = require(${JSON.stringify(require.resolve('../../src/core/platform/ssh'))});
      const held = []; try { for (;;) held.push(require('node:fs').openSync('/dev/null', 'r')); } catch {}
      Promise.all([runSsh(['argv'], process.env).then(() => 'answered', String), runSshMany([['argv'], ['argv']], process.env).then((rs) => rs.map(String))])
        .then((r) => { process.stdout.write(JSON.stringify(r)); process.exit(0); });`;
    const r = spawnSync('prlimit', ['--nofile=200', process.execPath, '-e', script], { env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const [alone, together] = JSON.parse(r.stdout) as [string, string[]];
    assert.match(alone, /EMFILE/);
    assert.equal(together.length, 2);
    for (const said of together) assert.match(said, /EMFILE/);
  });

  it('the fan-out bash killed from outside (SIGKILL): every host still settles once, with its own status; no descriptor left open after many batches', async () => {
    const pidFile = path.join(dir, 'pid');
    const asked = runSshMany([['hang', pidFile], ['code']], env, { timeoutMs: 20_000 });
    await waitForFile(pidFile);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    const bash = Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[2]); // its group: the fan-out bash's
    process.kill(bash, 'SIGKILL');
    process.kill(pid, 'SIGKILL');
    const [hang, code] = await within(asked, 5_000, 'runSshMany');
    assert.deepEqual(hang, { stdout: '', stderr: '', exitCode: 128 + 9 }, 'its subshell outlives bash and says its status');
    assert.deepEqual(code, { stdout: 'out\n', stderr: 'err\n', exitCode: 3 });

    // Each descriptor by number and what it is (a pipe's or socket's inode). Counted, the first
    // batch's own pipes (its stdin ended, its status pipe read to its end, closed on later turns)
    // could still be open when `before` was taken and close during the batches: fewer at the end
    // than before (21 !== 22, 3 runs in 17). What was open then may close; nothing made since may stay.
    const open = () => new Set(fs.readdirSync('/proc/self/fd').flatMap((fd) => {
      try {
        return [`${fd} ${fs.readlinkSync(`/proc/self/fd/${fd}`)}`];
      } catch {
        return []; // the listing's own, closed once it is read
      }
    }));
    const before = open();
    for (let i = 0; i < 10; i++) await runSshMany([['hang', path.join(dir, `p${i}`)], ['code'], ['auth']], env, { timeoutMs: 100 });
    for (let i = 0; i < 10; i++) await runSshMany([['code'], ['auth']], env, { timeoutMs: 5_000 });
    const left = () => [...open()].filter((d) => !before.has(d));
    // A destroyed pipe's descriptor is closed on a later turn of the event loop.
    for (let i = 0; i < 100 && left().length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(left(), [], 'every pipe of every batch closed');
  });
});
