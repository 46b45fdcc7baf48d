import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RemoteHosts } from '../../src/core/ops/remote';
import { controlPath, shCommand } from '../../src/core/platform/ssh';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { CLI, Harness, waitFor } from './harness';
import { Random, seedFromEnv } from './random';
import { processesWithEnv } from '../tools/processes';
import { SshHost, SshWorld } from './sshd';

interface Row { session: string; state: string; hostName: string; stale?: { seenAt: string | null; error: string } }

/** Strings a shell would read as something else, and random ones: each must arrive as it is. */
function corpus(rnd: Random): string[] {
  const fixed = [
    '', ' ', '  two  spaces ', "'", "''", "'\\''", '"', '\\', '\\\\n', '$HOME', '${HOME}', '$(touch pwned)', '`touch pwned`',
    '*', '?', '[a-z]*', '~', '~root', '-', '--', '-rf', '--help', '-o ProxyCommand=touch pwned', ';', '&&', '|', '>', '<', '&',
    '!', '!!', '#comment', 'a\nb', '\n', '\r\n', '\t', 'tab\there', 'é ñ 中文 🚀', '\u0001\u0002\u001b[31m', '%s%n%d', "it's \"quoted\" $(and) `not`",
    'a b\nc\'d"e$f`g\\h', '$((1+1))', '<<EOF\nx\nEOF', 'x=1 y', '{a,b}', 'a;reboot', "'; touch pwned; echo '",
  ];
  const bytes = Array.from({ length: 127 }, (_, i) => String.fromCharCode(i + 1));
  const random = Array.from({ length: 40 }, () => Array.from({ length: rnd.int(1, 40) }, () => rnd.chance(0.1) ? rnd.pick(['é', '中', '🚀', '\u00a0']) : rnd.pick(bytes)).join(''));
  return [...fixed, ...random];
}

describe('hosts over real OpenSSH', function () {
  this.timeout(120_000);
  let h: Harness;
  let world: SshWorld;

  beforeEach(() => {
    h = new Harness();
    world = new SshWorld(h);
  });
  afterEach(async () => {
    await world.cleanup();
    await h.cleanup();
  });

  const list = async (): Promise<Row[]> => JSON.parse(await h.ok(['list', '--json']));
  const remoteStatus = async (host: SshHost, name: string) => JSON.parse(await h.ok(['status', name, '--host', host.name, '--json']));
  const project = (host: SshHost, name: string, plan: string[]) => {
    const dir = path.join(host.dir, 'projects', name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, '.fixture-plan.json'), JSON.stringify(plan));
    return dir;
  };
  const invocations = (dir: string) => fs.existsSync(path.join(dir, '.fixture-invocations.jsonl'))
    ? fs.readFileSync(path.join(dir, '.fixture-invocations.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
    : [];

  it('every argument arrives byte for byte through the remote shell (fuzz corpus, a real sshd)', async () => {
    const a = await world.host('alpha');
    await h.ok(['hosts', 'add', 'alpha', 'alpha']);
    const remote = new RemoteHosts({ home: h.home, env: h.env, version: 'test' });
    const seed = seedFromEnv('SSH_FUZZ_SEED');
    const args = corpus(new Random(seed));
    const echo = 'process.stdout.write(JSON.stringify(process.argv.slice(1)))';
    const r = await remote.shell(remote.host('alpha'), shCommand([process.execPath, '-e', echo, '--', ...args]));
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), args, `seed ${seed}`);
    // Nothing ran: no file made by a `$()`, a backtick or an injected command, in the remote's folders.
    assert.ok(!fs.existsSync(path.join(a.home, 'pwned')) && !fs.existsSync(path.join(h.root, 'pwned')));
  });

  it('hosts add/list/remove: bad input is one clear message and writes nothing; local is always a host', async () => {
    for (const [args, message] of [
      [['hosts', 'add', 'local', 'x'], /"local" is this machine/],
      [['hosts', 'add', 'box', '-oProxyCommand=touch pwned'], /cannot start with "-"/],
      [['hosts', 'add', 'Bad Name', 'x'], /a host name uses only/],
      [['hosts', 'add', 'box', 'a b'], /no spaces/],
      [['hosts', 'remove', 'local'], /cannot be removed/],
      [['hosts', 'remove', 'nope'], /no host named "nope"/],
      [['status', 'x', '--host', 'nope'], /no host named "nope"/],
    ] as const) {
      const r = await h.cli([...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    assert.ok(!fs.existsSync(path.join(h.home, 'hosts.json')), 'nothing written');
    await h.ok(['hosts', 'add', 'box', 'user@example.invalid']);
    assert.equal((await h.cli(['hosts', 'add', 'box', 'other'])).code, 2);
    const hosts = JSON.parse(await h.ok(['hosts', 'list', '--json']));
    assert.deepEqual(hosts.map((x: { name: string }) => x.name), ['local', 'box']);
    assert.equal(JSON.parse(fs.readFileSync(path.join(h.home, 'hosts.json'), 'utf8')).version, 1);
    await h.ok(['hosts', 'remove', 'box']);
    assert.deepEqual(JSON.parse(await h.ok(['hosts', 'list', '--json'])).map((x: { name: string }) => x.name), ['local']);
  });

  it('hosts install and check: the CLI in the user\'s own folder, node, tmux, contract, state dir, supervisor', async () => {
    const a = await world.host('alpha');
    await h.ok(['hosts', 'add', 'alpha', 'alpha']);
    const before = await h.cli(['hosts', 'check', 'alpha']);
    assert.equal(before.code, 1);
    assert.match(before.stdout, /not installed on host alpha.*hosts install alpha/);
    assert.match(await h.ok(['hosts', 'install', 'alpha']), /installed resilient-agent \S+ \(contract 1\) on alpha/);
    assert.ok(fs.existsSync(path.join(a.home, '.local/share/resilient-agent/cli.js')));
    assert.ok(fs.statSync(path.join(a.home, '.local/bin/resilient-agent')).mode & 0o100);
    // A node not on the PATH of ssh commands (nvm and the like) is named; one that is not there is refused.
    const bad = await h.cli(['hosts', 'install', 'alpha', '--node', '/nowhere/node $(touch pwned)']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^could not install on host alpha: \/nowhere\/node \$\(touch pwned\) is not a program on this host\n$/);
    const nodeDir = path.join(a.dir, 'node \'dir\' $(touch pwned) "q"');
    fs.mkdirSync(nodeDir);
    fs.symlinkSync(process.execPath, path.join(nodeDir, 'node'));
    assert.match(await h.ok(['hosts', 'install', 'alpha', '--node', path.join(nodeDir, 'node')]), /installed/);
    assert.match(fs.readFileSync(path.join(a.home, '.local/bin/resilient-agent'), 'utf8'), /^exec '.*\/node '\\''dir'\\'' \$\(touch pwned\) "q"\/node' "\$HOME\/\.local\/share\/resilient-agent\/load\.js" "\$@"$/m);
    assert.ok(!fs.existsSync(path.join(a.home, 'pwned')));
    const check = JSON.parse(await h.ok(['hosts', 'check', 'alpha', '--json']));
    // The launcher runs the CLI through its loader: V8's code cache of the bundle kept beside it after the first command, used by the next.
    const share = path.join(a.home, '.local/share/resilient-agent');
    const caches = () => fs.readdirSync(share).filter((f) => /^cli\.js\.\d+\.\d+\.cache$/.test(f));
    assert.equal(caches().length, 1, fs.readdirSync(share).join(' '));
    const cache = path.join(share, caches()[0]);
    const written = fs.statSync(cache).mtimeMs;
    assert.equal(JSON.parse(await h.ok(['hosts', 'check', 'alpha', '--json'])).cli.contract, 1);
    assert.equal(fs.statSync(cache).mtimeMs, written, 'the cache taken as it is, not written again');
    assert.equal(check.reachable, true);
    assert.equal(check.cli.contract, 1);
    assert.match(check.tmux, /^tmux /);
    assert.equal(check.stateDir, a.state);
    assert.equal(check.supervisor.running, false);
    // With --supervisor, the host's own systemd user unit for its supervisor, as `supervisor install` writes it there.
    const out = await h.ok(['hosts', 'install', 'alpha', '--supervisor']);
    const unit = path.join(a.home, '.config/systemd/user/resilient-agent-supervisor.service');
    assert.match(out, new RegExp(`wrote ${unit.replace(/[.]/g, '\\.')}`));
    const text = fs.readFileSync(unit, 'utf8');
    assert.match(text, /^ExecStart=".*node" ".*\/\.local\/share\/resilient-agent\/cli\.js" "monitor" "--background"$/m);
    assert.match(text, new RegExp(`^Environment="RESILIENT_AGENT_HOME=${a.state}"$`, 'm'));
  });

  it('tasks on two hosts and here in one list, each naming its host; a HOST column', async () => {
    const a = await world.installed('alpha');
    const b = await world.installed('beta');
    await h.ok(['start', 'codex', 'here', '--dir', h.project('here', ['hang']), '--prompt', 'local']);
    await h.ok(['start', 'codex', 'one', '--host', 'alpha', '--dir', project(a, 'one', ['hang']), '--prompt', 'on alpha']);
    await h.ok(['start', 'claude', 'two', '--host', 'beta', '--dir', project(b, 'two', ['hang']), '--prompt', 'on beta']);
    const rows = await list();
    assert.deepEqual(rows.map((r) => [r.hostName, r.session]).sort(), [['alpha', 'codex-one'], ['beta', 'claude-two'], ['local', 'codex-here']]);
    const table = await h.ok(['list']);
    assert.match(table, /^HOST\s+SESSION/);
    assert.match(table, /\nalpha\s+codex-one\s+running/);
    assert.match(table, /\nbeta\s+claude-two\s+running/);
    // Each host keeps its own: alpha's list knows nothing of beta's task.
    assert.deepEqual(JSON.parse(await h.ok(['list', '--host', 'alpha', '--json'])).map((r: Row) => r.session), ['codex-one']);
  });

  it('a remote task: start, status, send, resume, kill, continue, diff; the prompt byte for byte in a folder with spaces and $()', async () => {
    const a = await world.installed('alpha');
    // Every ssh argv recorded (a wrapper in front of the real ssh): no prompt ever in one.
    const spy = path.join(h.root, 'spy');
    fs.mkdirSync(spy);
    const argvLog = path.join(h.root, 'ssh-argv');
    fs.writeFileSync(path.join(spy, 'ssh'), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${argvLog}'\nexec ${execFileSync('sh', ['-c', 'command -v ssh'], { env: h.env, encoding: 'utf8' }).trim()} "$@"\n`, { mode: 0o755 });
    h.env.PATH = `${spy}:${h.env.PATH}`;
    const dir = project(a, 'with space $(touch pwned) `x` \'q\'', ['ask', 'crash', 'ok', 'ok']);
    const prompt = 'Fix "this" and \'that\';\n$(rm -rf ~) `reboot` $HOME *\n\ttabbed -- --help\n';
    await h.ok(['start', 'codex', 'job', '--host', 'alpha', '--dir', dir, '--prompt', '-'], { input: prompt });
    await waitFor(() => invocations(dir).length === 1, 'the agent runs on alpha');
    const first = invocations(dir)[0];
    assert.equal(first.prompt, prompt, 'the prompt byte for byte');
    assert.equal(first.cwd, dir);
    assert.ok(!first.argv.includes(prompt) || first.argv.at(-1) === prompt, 'the agent got it as one argument');
    assert.ok(!fs.existsSync(path.join(a.home, 'pwned')) && !fs.existsSync(path.join(dir, 'pwned')));
    await waitFor(async () => (await h.ok(['logs', 'job', '--host', 'alpha', '--raw'])).includes('Allow command? [y/n]'), 'the approval prompt in the pane');
    assert.equal((await remoteStatus(a, 'job')).hostName, 'alpha');
    await h.ok(['send', 'job', 'y \'$(touch pwned)\' `x`', '--host', 'alpha']);
    await waitFor(async () => (await remoteStatus(a, 'job')).state === 'done', 'answered and done');
    assert.match(await h.ok(['logs', 'job', '--host', 'alpha']), /answered: y '\$\(touch pwned\)' `x`/);
    // A follow-up in the same session (it crashes), then a resume by hand by the exact id.
    const id = (await remoteStatus(a, 'job')).agentSessionId;
    const follow = 'And now: "quotes", \'more\', $(x)\nsecond line';
    assert.match(await h.ok(['continue', 'job', '--host', 'alpha', '--prompt', '-'], { input: follow }), new RegExp(`attempt 2 continues session ${id}`));
    await waitFor(() => invocations(dir).some((r) => r.prompt === follow), 'the follow-up byte for byte');
    await waitFor(async () => (await remoteStatus(a, 'job')).state === 'failed', 'the follow-up crashed');
    assert.match(await h.ok(['resume', 'job', '--host', 'alpha']), new RegExp(`attempt 3 resumes session ${id}`));
    await waitFor(async () => (await remoteStatus(a, 'job')).state === 'done', 'resumed and done');
    assert.deepEqual(invocations(dir).map((r) => [r.mode, r.sessionId]), [['start', id], ['resume', id], ['resume', id]]);
    const diff = await h.cli(['diff', 'job', '--host', 'alpha']);
    assert.equal(diff.code, 1);
    assert.match(diff.stderr, /^resilient-agent: on host alpha: .*worktree/);
    assert.match(await h.ok(['kill', 'job', '--host', 'alpha', '--forget']), /record removed/);
    const argvs = fs.readFileSync(argvLog, 'utf8');
    assert.match(argvs, /'start'/, 'the wrapper saw the commands');
    for (const secret of ['rm -rf', 'reboot', 'second line', '(touch pwned)\' `x`']) assert.ok(!argvs.includes(secret), `"${secret}" never in an ssh argv`);
    assert.deepEqual((await list()).filter((r) => r.hostName === 'alpha'), []);
  });

  it('diff of a remote task in a worktree', async () => {
    const a = await world.installed('alpha');
    const repo = project(a, 'repo', ['ok']);
    const git = (...args: string[]) => require('node:child_process').execFileSync('git', ['-C', repo, ...args], { env: { ...process.env, HOME: a.home, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });
    git('init', '-q');
    fs.writeFileSync(path.join(repo, 'a.txt'), 'one\n');
    fs.writeFileSync(path.join(repo, '.gitignore'), '.fixture-*\n');
    git('add', '-A');
    git('commit', '-qm', 'base');
    await h.ok(['start', 'codex', 'wt', '--host', 'alpha', '--dir', repo, '--prompt', 'x', '--worktree']);
    await waitFor(async () => (await remoteStatus(a, 'wt')).state === 'done', 'done');
    const wt = (await remoteStatus(a, 'wt')).worktree.path;
    fs.writeFileSync(path.join(wt, 'a.txt'), 'two\n');
    const d = JSON.parse(await h.ok(['diff', 'wt', '--host', 'alpha', '--json']));
    assert.equal(d.hostName, 'alpha');
    assert.match(d.diff, /-one\n\+two/);
    assert.match(await h.ok(['diff', 'wt', '--host', 'alpha']), /-one\n\+two/);
  });

  it('a host killed mid-list and one that hangs: the other answers within the deadline, the dead one as last seen, back when it returns', async () => {
    const a = await world.installed('alpha');
    const b = await world.installed('beta');
    await h.ok(['start', 'codex', 'ta', '--host', 'alpha', '--dir', project(a, 'ta', ['hang']), '--prompt', 'x']);
    await h.ok(['start', 'codex', 'tb', '--host', 'beta', '--dir', project(b, 'tb', ['hang']), '--prompt', 'x']);
    assert.equal((await list()).length, 2);
    const deadline = 2_000;
    h.env.RESILIENT_AGENT_HOST_DEADLINE_MS = String(deadline);

    await a.kill();
    let began = Date.now();
    let rows = await list();
    assert.ok(Date.now() - began < deadline + 3_000, `answered in ${Date.now() - began} ms`);
    assert.deepEqual(rows.map((r) => [r.hostName, r.session, !!r.stale]).sort(), [['alpha', 'codex-ta', true], ['beta', 'codex-tb', false]]);
    const table = await h.cli(['list']);
    assert.match(table.stdout, /alpha\s+codex-ta\s+running \(last seen\)/);
    assert.match(table.stdout, /\nhost alpha \(alpha\) is unreachable: .*; its tasks as last seen \d+(ms|s) ago/);
    await a.start();
    await waitFor(async () => (await list()).every((r) => !r.stale), 'alpha back');
    // Its task ran on meanwhile, under its own tmux.
    assert.equal((await list()).find((r) => r.hostName === 'alpha')!.state, 'running');

    b.stop();
    began = Date.now();
    rows = await list();
    const took = Date.now() - began;
    assert.ok(took < deadline + 3_000, `answered in ${took} ms with beta hanging`);
    assert.deepEqual(rows.map((r) => [r.hostName, !!r.stale]).sort(), [['alpha', false], ['beta', true]]);
    b.cont();
    await waitFor(async () => (await list()).every((r) => !r.stale), 'beta back', 60_000);
  });

  it('hosts asked at once whose shared connections are not up: the first list answers without waiting for them to end, and they outlive the deadline that kills a hanging host', async () => {
    await world.installed('alpha');
    const b = await world.installed('beta');
    // The connection each host's ssh shares (ControlPersist: a background ssh that outlives the command).
    const master = (name: string, op: 'check' | 'exit') => spawnSync('ssh', ['-F', world.sshConfig, '-o', `ControlPath=${controlPath(h.home, name)}`, '-O', op, name], { env: h.env }).status === 0;
    for (const name of ['alpha', 'beta']) master(name, 'exit');
    assert.ok(!master('alpha', 'check') && !master('beta', 'check'), 'no shared connection up');
    const remote = new RemoteHosts({ home: h.home, env: h.env, version: 'test' });
    let began = Date.now();
    let answers = await remote.listAll(10_000);
    // A batch whose ssh made the shared connection would wait for it (ControlPersist: minutes) if the
    // background ssh held a pipe of the batch open: the deadline would end it, every host unreachable.
    assert.deepEqual(answers.map((a) => [a.host, a.unreachable]), [['alpha', undefined], ['beta', undefined]]);
    assert.ok(Date.now() - began < 5_000, `answered in ${Date.now() - began} ms`);
    assert.ok(master('alpha', 'check') && master('beta', 'check'), 'both shared connections kept for the next question');

    // beta hangs: the deadline kills the batch's process group; alpha's connection, made in this batch, lives on.
    master('alpha', 'exit');
    b.stop();
    try {
      began = Date.now();
      answers = await remote.listAll(2_000);
      assert.deepEqual(answers.map((a) => [a.host, !!a.unreachable]), [['alpha', false], ['beta', true]]);
      assert.match(answers[1].unreachable!.error, /^host beta \(beta\) did not answer in time \(2\.0 s\)$/);
      assert.ok(Date.now() - began < 4_000, `answered in ${Date.now() - began} ms`);
      assert.ok(master('alpha', 'check'), "alpha's shared connection survives the group kill");
    } finally {
      b.cont();
    }
  });

  it('hosts asked at once fail with the very sentences of one host asked alone: a key refused, an unknown host key, no ssh', async () => {
    await world.installed('alpha');
    await world.installed('beta');
    const remote = new RemoteHosts({ home: h.home, env: h.env, version: 'test' });
    for (const name of ['alpha', 'beta']) spawnSync('ssh', ['-F', world.sshConfig, '-o', `ControlPath=${controlPath(h.home, name)}`, '-O', 'exit', name], { env: h.env });
    const compare = async (r: RemoteHosts, expected: RegExp) => {
      const together = (await r.listAll(10_000)).map((a) => a.unreachable?.error);
      const alone = await Promise.all(['alpha', 'beta'].map((name) => r.list(r.host(name), 10_000).then(() => undefined, (e: Error) => e.message)));
      assert.deepEqual(together, alone);
      for (const said of together) assert.match(said ?? 'answered', expected);
    };
    const authorized = fs.readFileSync(world.authorizedKeys);
    fs.writeFileSync(world.authorizedKeys, '');
    await compare(remote, /^host (alpha|beta) \(\1\) refused the key: ssh could not log in without asking \(BatchMode\)\. .*ssh \1 true$/);
    fs.writeFileSync(world.authorizedKeys, authorized);
    fs.writeFileSync(world.knownHosts, '');
    await compare(remote, /^host (alpha|beta) \(\1\): its host key is not known or has changed; .*ssh \1 true$/);
    const nodeOnly = path.join(h.root, 'node-only');
    fs.mkdirSync(nodeOnly);
    await compare(new RemoteHosts({ home: h.home, env: { ...h.env, PATH: nodeOnly }, version: 'test' }), /^ssh is not installed \(or not on PATH\)/);
  });

  it('a host supervises its own tasks: with the link down, a crash there is resumed by its own background supervisor', async () => {
    const a = await world.installed('alpha');
    fs.writeFileSync(path.join(a.state, 'config.json'), JSON.stringify({ 'supervisor.mode': 'background', 'monitor.intervalSeconds': 0.5 }));
    const dir = project(a, 'night', ['hang', 'ok']);
    const began = Date.now();
    await h.ok(['start', 'claude', 'night', '--host', 'alpha', '--dir', dir, '--prompt', 'x']);
    assert.ok(Date.now() - began < 15_000, 'the start returned: the supervisor it started there holds no pipe of the ssh session');
    // A node not on the PATH of ssh commands (nvm and the like) is named; one that is not there is refused.
    const bad = await h.cli(['hosts', 'install', 'alpha', '--node', '/nowhere/node $(touch pwned)']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^could not install on host alpha: \/nowhere\/node \$\(touch pwned\) is not a program on this host\n$/);
    const nodeDir = path.join(a.dir, 'node \'dir\' $(touch pwned) "q"');
    fs.mkdirSync(nodeDir);
    fs.symlinkSync(process.execPath, path.join(nodeDir, 'node'));
    assert.match(await h.ok(['hosts', 'install', 'alpha', '--node', path.join(nodeDir, 'node')]), /installed/);
    assert.match(fs.readFileSync(path.join(a.home, '.local/bin/resilient-agent'), 'utf8'), /^exec '.*\/node '\\''dir'\\'' \$\(touch pwned\) "q"\/node' "\$HOME\/\.local\/share\/resilient-agent\/load\.js" "\$@"$/m);
    assert.ok(!fs.existsSync(path.join(a.home, 'pwned')));
    const check = JSON.parse(await h.ok(['hosts', 'check', 'alpha', '--json']));
    assert.equal(check.supervisor.running, true);
    assert.equal(check.supervisor.background, true);
    const events = path.join(a.state, 'tasks', 'claude-night', 'attempts', '1', 'events.jsonl');
    await waitFor(() => fs.existsSync(events) && fs.readFileSync(events, 'utf8').includes('working...'), 'mid-reply on alpha');
    await waitFor(async () => (await remoteStatus(a, 'night')).agentSessionId, 'its session id');
    await a.kill();
    process.kill(-Number(fs.readFileSync(path.join(a.state, 'tasks', 'claude-night', 'attempts', '1', 'pid'), 'utf8')), 'SIGKILL');
    await waitFor(() => invocations(dir).length === 2, 'resumed on alpha while unreachable');
    assert.deepEqual(invocations(dir).map((r) => r.mode), ['start', 'resume']);
    await a.start();
    await waitFor(async () => (await list()).find((r) => r.session === 'claude-night' && !r.stale)?.state === 'done', 'seen done once back');
  });

  it("list of a host read from the snapshot its supervisor keeps (no Node started there): never older than a change made there; its supervisor gone, its CLI answers again", async () => {
    const a = await world.installed('alpha');
    // The default supervision there: its background supervisor, with its 3-minute timer.
    fs.writeFileSync(path.join(a.state, 'config.json'), JSON.stringify({ 'supervisor.mode': 'background' }));
    await h.ok(['start', 'codex', 'snap', '--host', 'alpha', '--dir', project(a, 'snap', ['hang']), '--prompt', 'x']);
    await h.ok(['start', 'codex', 'other', '--host', 'alpha', '--dir', project(a, 'other', ['hang']), '--prompt', 'x']);
    const rows = async () => (JSON.parse(await h.ok(['list', '--host', 'alpha', '--json'])) as Row[]).map((r) => [r.session, r.state]).sort();
    assert.deepEqual(await rows(), [['codex-other', 'running'], ['codex-snap', 'running']]);
    const snapshots = path.join(a.state, 'snapshots');
    await waitFor(() => fs.existsSync(snapshots) && fs.readdirSync(snapshots).some((f) => /^list@[0-9a-f]{12}\.c1\.json$/.test(f)), 'the snapshot written by its supervisor');
    // Its CLI taken away: an answer now comes from the snapshot alone.
    const launcher = path.join(a.home, '.local', 'bin', 'resilient-agent');
    fs.renameSync(launcher, `${launcher}.away`);
    await waitFor(async () => (await h.cli(['list', '--host', 'alpha', '--json'])).code === 0, 'an answer without its CLI');
    assert.deepEqual(await rows(), [['codex-other', 'running'], ['codex-snap', 'running']]);
    // Killed there, by its own CLI: the next question never gets "running" (the snapshot is stale at once).
    execFileSync(process.execPath, [CLI, 'kill', 'snap'], { env: a.sessionEnv });
    for (let i = 0; i < 5; i++) {
      const r = await h.cli(['list', '--host', 'alpha', '--json']);
      if (r.code === 0) assert.notEqual(JSON.parse(r.stdout).find((t: Row) => t.session === 'codex-snap').state, 'running', 'a snapshot older than the kill');
      else assert.match(r.stderr, /resilient-agent is not installed on host alpha/);
    }
    await waitFor(async () => (await h.cli(['list', '--host', 'alpha', '--json'])).code === 0, 'a snapshot after the kill');
    assert.notEqual((await rows())[1][1], 'running');
    // Its supervisor killed: within 6 s its snapshot is no longer served.
    const locks = path.join(a.state, 'locks');
    const supervisors = fs.readdirSync(locks).filter((f) => /^supervisor@/.test(f)).map((f) => (JSON.parse(fs.readFileSync(path.join(locks, f), 'utf8')) as { pid: number }).pid);
    assert.ok(supervisors.length > 0 && supervisors.every((pid) => processesWithEnv(`RESILIENT_AGENT_HOME=${a.state}`).includes(pid)), 'its background supervisor runs');
    for (const pid of supervisors) process.kill(pid, 'SIGKILL');
    const killed = Date.now();
    await waitFor(async () => (await h.cli(['list', '--host', 'alpha', '--json'])).code !== 0, 'the snapshot no longer served', 15_000);
    assert.ok(Date.now() - killed < 8_000, `served ${Date.now() - killed} ms after its supervisor died`);
    fs.renameSync(`${launcher}.away`, launcher);
    assert.deepEqual((await rows()).map(([session]) => session), ['codex-other', 'codex-snap'], 'its CLI answers again');
  });

  it('attach opens the pane on the host over ssh -t; detached, the task runs on', async () => {
    const a = await world.installed('alpha');
    await h.ok(['start', 'codex', 'look', '--host', 'alpha', '--dir', project(a, 'look', ['hang']), '--prompt', 'x']);
    // A terminal for the CLI (util-linux's script), as a person's.
    const term = spawn('script', ['-qfec', shCommand([process.execPath, CLI, 'attach', '--host', 'alpha', 'look']), '/dev/null'], { env: { ...h.env, TERM: 'xterm-256color' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    term.stdout!.on('data', (d) => (screen += d));
    term.stderr!.on('data', (d) => (screen += d));
    const exited = new Promise<number | null>((r) => term.once('exit', r));
    await waitFor(() => screen.includes('working...'), 'the pane on the terminal', 8_000).catch((e) => { throw new Error(`${(e as Error).message}: ${JSON.stringify(screen)}`); });
    const tmuxEnv = { ...process.env, TMUX_TMPDIR: a.tmuxDir, TMUX: '' };
    await waitFor(() => execFileSync('tmux', ['-L', a.socket, 'list-clients', '-F', '#{client_session}'], { env: tmuxEnv, encoding: 'utf8' }).includes('codex-look'), 'a client on the host');
    execFileSync('tmux', ['-L', a.socket, 'detach-client', '-s', 'codex-look'], { env: tmuxEnv });
    assert.equal(await exited, 0, screen);
    assert.equal((await remoteStatus(a, 'look')).state, 'running');
  });

  it('20 tasks on a host with MaxSessions 10, started at once', async () => {
    const a = await world.installed('alpha', { maxSessions: 10 });
    const dir = project(a, 'many', ['hang']);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => h.cli(['start', 'codex', `t${i}`, '--host', 'alpha', '--dir', dir, '--prompt', `task ${i}`])));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const rows = await list();
    assert.equal(rows.filter((r) => r.hostName === 'alpha').length, 20);
    assert.deepEqual(invocations(dir).map((r) => r.prompt).sort(), Array.from({ length: 20 }, (_, i) => `task ${i}`).sort());
  });

  it('a remote CLI of another contract, or none: says so and how to fix it', async () => {
    const a = await world.installed('alpha');
    const launcher = path.join(a.home, '.local/bin/resilient-agent');
    fs.writeFileSync(launcher, '#!/bin/sh\necho \'{"contract":2,"ok":false,"version":"9.0.0","error":"contract 1 asked"}\'\nexit 2\n');
    let r = await h.cli(['status', 'x', '--host', 'alpha']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^resilient-agent: host alpha runs a newer resilient-agent \(9\.0\.0\) speaking contract 2, this one \(\S+\) speaks contract 1: put this version there with resilient-agent hosts install alpha/);
    fs.writeFileSync(launcher, '#!/bin/sh\necho \'resilient-agent: unknown command "--contract" (see resilient-agent --help)\' >&2\nexit 2\n');
    r = await h.cli(['list', '--json']);
    assert.equal(r.code, 0);
    assert.match(r.stderr, /^host alpha runs an older resilient-agent .* hosts install alpha; no answer of it kept\n$/);
    fs.rmSync(launcher);
    r = await h.cli(['status', 'x', '--host', 'alpha']);
    assert.match(r.stderr, /not installed on host alpha.*hosts install alpha\n$/);
    await h.ok(['hosts', 'install', 'alpha']);
    assert.equal((await h.cli(['status', 'x', '--host', 'alpha'])).stderr, 'resilient-agent: on host alpha: no task named x\n');
  });

  it('no ssh on PATH, or no key the host takes: one clear message', async () => {
    await world.host('alpha');
    await h.ok(['hosts', 'add', 'alpha', 'alpha']);
    const nodeOnly = path.join(h.root, 'node-only');
    fs.mkdirSync(nodeOnly);
    fs.symlinkSync(process.execPath, path.join(nodeOnly, 'node'));
    const noSsh = await h.cli(['hosts', 'check', 'alpha'], { env: { ...h.env, PATH: nodeOnly } });
    assert.equal(noSsh.code, 1);
    assert.match(noSsh.stdout, /ssh is not installed \(or not on PATH\)/);
    fs.writeFileSync(world.authorizedKeys, '');
    const noKey = await h.cli(['status', 'x', '--host', 'alpha']);
    assert.equal(noKey.code, 1);
    assert.match(noKey.stderr, /^resilient-agent: host alpha \(alpha\) refused the key: .*ssh alpha true\n$/);
  });
});
