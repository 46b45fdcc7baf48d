import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { controlPath, prepareControlDir, shCommand, shQuote, sshArgv } from '../../src/core/platform/ssh';
import type { TaskView } from '../../src/core/model/views';
import { changesBetween } from '../../src/core/ops/events';
import { backoffMs } from '../../src/core/ops/follow';
import { HostRegistry } from '../../src/core/store/hosts';

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'ra-ssh-'));
}

describe('the remote command line', () => {
  it('quotes each argument for sh: single quotes, a quote as \'\\\'\'', () => {
    assert.equal(shQuote(''), "''");
    assert.equal(shQuote('a b'), "'a b'");
    assert.equal(shQuote("it's"), "'it'\\''s'");
    assert.equal(shQuote('$(x) `y` *'), "'$(x) `y` *'");
    assert.equal(shCommand(['-rf', '--', 'a\nb']), "'-rf' '--' 'a\nb'");
    assert.throws(() => shQuote('a\0b'), /NUL/);
  });

  it('a local sh reads every quoted argument back as it was', () => {
    const args = ["'", '"', '\\', '$HOME', '$(id)', '`id`', '*', '~', '-n', '-e', 'a\nb', '\t', ' ', '', '!', '%s', "a'b'c", 'é 🚀'];
    const r = spawnSync('sh', ['-c', `${shCommand(['printf', '%s\\0', ...args])}`], { encoding: 'utf8' });
    assert.deepEqual(r.stdout.split('\0').slice(0, -1), args);
  });

  it('ssh without prompts, a shared connection per host, keep-alives; host keys as the person\'s config says', () => {
    const home = tmp();
    const argv = sshArgv({ home, env: {} }, 'box', 'user@box', "'true'");
    const opts = argv.flatMap((a, i) => (argv[i - 1] === '-o' ? [a] : []));
    assert.ok(opts.includes('BatchMode=yes'));
    assert.ok(opts.some((o) => /^ConnectTimeout=\d+$/.test(o)));
    assert.ok(opts.some((o) => /^ServerAliveInterval=\d+$/.test(o)) && opts.some((o) => /^ServerAliveCountMax=\d+$/.test(o)));
    assert.ok(opts.includes('ControlMaster=auto') && opts.some((o) => /^ControlPersist=\d+$/.test(o)));
    assert.ok(opts.includes(`ControlPath=${controlPath(home, 'box')}`));
    assert.ok(!opts.some((o) => /StrictHostKeyChecking|UserKnownHostsFile/.test(o)), 'host-key checking is never touched');
    assert.deepEqual(argv.slice(-4), ['-T', '--', 'user@box', "'true'"]);
    assert.throws(() => sshArgv({ home, env: {} }, 'x', '-oProxyCommand=x', 'true'), /cannot start with "-"/);
    const tty = sshArgv({ home, env: {} }, 'box', 'box', 'x', { tty: true, shared: false });
    assert.ok(tty.includes('-t') && !tty.includes('BatchMode=yes') && tty.includes('ControlPath=none'));
  });

  it('the socket path fits a unix socket even for a long state dir, in a private folder', () => {
    const short = tmp();
    assert.ok(controlPath(short, 'box').startsWith(path.join(short, 'ssh')));
    const long = path.join(tmp(), 'x'.repeat(120));
    const p = controlPath(long, 'box');
    assert.ok(Buffer.byteLength(p) + 17 < 104, p);
    prepareControlDir(long);
    assert.equal(fs.statSync(path.dirname(p)).mode & 0o777, 0o700);
    prepareControlDir(short);
    assert.equal(fs.statSync(path.join(short, 'ssh')).mode & 0o777, 0o700);
  });
});

describe('the hosts registry', () => {
  it('versioned, written whole, validated; local never in it; bad names and targets refused', () => {
    const home = path.join(tmp(), 'state');
    const reg = new HostRegistry(home);
    assert.deepEqual(reg.list(), []);
    reg.add('gpu-1', 'me@gpu.example:2222');
    assert.deepEqual(JSON.parse(fs.readFileSync(reg.file, 'utf8')).version, 1);
    assert.equal(fs.statSync(reg.file).mode & 0o777, 0o600);
    assert.throws(() => reg.add('local', 'x'), /always a host/);
    assert.throws(() => reg.add('gpu-1', 'y'), /exists already/);
    assert.throws(() => reg.add('x', '-F/etc/passwd'), /cannot start with "-"/);
    assert.throws(() => reg.add('x', 'a\nb'), /no spaces or control characters/);
    assert.throws(() => reg.add('-x', 'a'), /host name/);
    assert.throws(() => reg.get('nope'), /no host named "nope"/);
    assert.deepEqual(reg.list().map((h) => h.name), ['gpu-1']);
    fs.writeFileSync(reg.file, JSON.stringify({ version: 2, hosts: [] }));
    assert.throws(() => reg.list(), /newer resilient-agent/);
    fs.writeFileSync(reg.file, '{"version":1,"hosts":[{"name":1}]}');
    assert.throws(() => reg.list(), /not a hosts file/);
  });

  it('keeps each host\'s last answer and notes a failure beside it', () => {
    const reg = new HostRegistry(path.join(tmp(), 'state'));
    reg.add('a', 'a');
    reg.remember('a', [{ session: 'codex-x' }], new Date('2026-01-01T00:00:00Z'));
    const seen = reg.failed('a', 'unreachable', new Date('2026-01-01T00:05:00Z'));
    assert.equal(seen?.at, '2026-01-01T00:00:00.000Z');
    assert.deepEqual(seen?.tasks, [{ session: 'codex-x' }]);
    assert.equal(reg.seen('a')?.error, 'unreachable');
    reg.remove('a');
    assert.equal(reg.seen('a'), undefined);
  });
});

describe('events of every host', () => {
  const view = (session: string, state: string) => ({ session, state, reason: null }) as unknown as TaskView;

  it('a change is a state that differs from the last look; new and gone tasks too', () => {
    let { changes, now } = changesBetween(new Map(), [view('a', 'running')]);
    assert.deepEqual(changes.map((c) => [c.session, c.from, c.to]), [['a', null, 'running']]);
    ({ changes, now } = changesBetween(now, [view('a', 'running'), view('b', 'queued')]));
    assert.deepEqual(changes.map((c) => [c.session, c.from, c.to]), [['b', null, 'queued']]);
    ({ changes } = changesBetween(now, [view('a', 'done')]));
    assert.deepEqual(changes.map((c) => [c.session, c.from, c.to]), [['a', 'running', 'done'], ['b', 'queued', null]]);
  });

  it('a dropped stream is opened again after 1 s, doubling, at most 30 s', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 20].map((n) => backoffMs(n)), [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });
});
