import * as assert from 'node:assert/strict';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compareBuilds, LEASE_MS, LockManager, selfIdentity } from '../../src/core/store/lock';
import { processAlive } from '../../src/core/platform/processes';
import { REPO } from './harness';

const LOCK_MODULE = path.join(REPO, 'out', 'src', 'core', 'store', 'lock.js');

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'ra-lock-'));
}

/** A real unrelated process (the "reused pid"), ended after the test. */
function bystander(): ChildProcess {
  return spawn('sleep', ['600'], { stdio: 'ignore' });
}

function writeLock(dir: string, name: string, holder: object, ageMs = 0): void {
  const file = path.join(dir, `${name}.lock`);
  fs.writeFileSync(file, JSON.stringify(holder));
  const t = new Date(Date.now() - ageMs);
  fs.utimesSync(file, t, t);
}

describe('locks as leases, holders identified by pid, start time, boot and pid namespace', function () {
  this.timeout(60_000);
  const children: ChildProcess[] = [];
  after(() => children.forEach((c) => c.kill('SIGKILL')));

  it('a lock temp file left by a taker killed mid-create is removed; one a live taker may still be writing is not', () => {
    const dir = tmp();
    fs.mkdirSync(dir, { recursive: true });
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const old = new Date(Date.now() - 5_000);
    const left = path.join(dir, `supervisor.lock.${dead}.0123abcd.tmp`);
    const fresh = path.join(dir, `supervisor.lock.${dead}.4567cdef.tmp`);
    const live = path.join(dir, `supervisor.lock.${process.pid}.89abcdef.tmp`);
    for (const f of [left, fresh, live]) fs.writeFileSync(f, '{}');
    fs.utimesSync(left, old, old);
    fs.utimesSync(live, old, old);
    const lock = new LockManager(dir, 'me').tryAcquire('supervisor');
    assert.ok(lock);
    assert.equal(fs.existsSync(left), false, 'its writer is gone: removed');
    assert.equal(fs.existsSync(fresh), true, 'a second old at most: maybe in flight, kept');
    assert.equal(fs.existsSync(live), true, 'its writer lives: kept');
    lock.release();
  });

  it('a pid reused by another process is not the holder: the lock is taken over and the process untouched', () => {
    const dir = tmp();
    const other = bystander();
    children.push(other);
    // The lock outlived its holder (a reboot); the pid now belongs to an unrelated process.
    writeLock(dir, 'supervisor', { ...selfIdentity('background supervisor pid 1'), pid: other.pid, pidStart: '1' });
    const locks = new LockManager(dir, 'me');
    assert.equal(locks.liveHolder('supervisor'), undefined, 'not reported as the supervisor');
    const lock = locks.tryAcquire('supervisor');
    assert.ok(lock, 'taken over');
    assert.equal(locks.readHolder('supervisor')?.owner, 'me');
    assert.ok(processAlive(other.pid!), 'the unrelated process lives on');
    lock.release();
  });

  it('builds compare by record version, then by version as semver orders it (a pre-release before its release, build metadata ignored)', () => {
    const b = (version: string | undefined, recordVersion = 4) => ({ recordVersion, ...(version === undefined ? {} : { version }) });
    assert.ok(compareBuilds(b('1.3.0'), b('1.3.0-beta.2')) > 0, 'a release is newer than its pre-release');
    assert.ok(compareBuilds(b('1.3.0-beta.2'), b('1.2.9')) > 0);
    assert.ok(compareBuilds(b('1.3.0-beta.10'), b('1.3.0-beta.2')) > 0);
    assert.equal(compareBuilds(b('1.3.0+abc'), b('1.3.0')), 0);
    assert.ok(compareBuilds(b('1.10.0'), b('1.9.9')) > 0);
    assert.ok(compareBuilds(b('0.1.0', 5), b('9.0.0', 4)) > 0, 'the record version first');
    assert.ok(compareBuilds(b('0.0.1'), b(undefined)) > 0);
    assert.equal(compareBuilds(b('garbage'), b('0.0.0')), 0);
  });

  it('a dead holder with the largest epoch a lock can name is taken over into a lock still readable, never taken from its live holder', () => {
    const dir = tmp();
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeLock(dir, 'supervisor', { ...selfIdentity('garbage'), pid: dead, pidStart: null, epoch: Number.MAX_SAFE_INTEGER });
    const locks = new LockManager(dir, 'me');
    const lock = locks.tryAcquire('supervisor');
    assert.ok(lock, 'taken over');
    assert.equal(locks.readHolder('supervisor')?.owner, 'me', 'the new lock can be read');
    // Seconds later (a lock that cannot be read is taken for a dead writer's after 5 s): still ours.
    const t = new Date(Date.now() - 8_000);
    fs.utimesSync(lock.file, t, t);
    assert.equal(new LockManager(dir, 'another').tryAcquire('supervisor'), undefined, 'its live holder keeps it');
    assert.equal(lock.check(), 'held');
    lock.release();
  });

  it('a lock from another host or a recreated container expires with its lease, whoever wrote it', () => {
    const dir = tmp();
    const foreign = { pid: 4242, host: 'old-host', pidStart: '77', bootId: 'another-boot', pidNs: 'pid:[1]', owner: 'background supervisor pid 4242', acquiredAt: new Date().toISOString() };
    writeLock(dir, 'supervisor', foreign, 5_000);
    const locks = new LockManager(dir, 'me');
    assert.equal(locks.tryAcquire('supervisor'), undefined, 'a lease renewed 5 s ago is respected');
    assert.equal(locks.liveHolder('supervisor')?.host, 'old-host');
    writeLock(dir, 'supervisor', foreign, LEASE_MS + 1_000);
    const lock = locks.tryAcquire('supervisor');
    assert.ok(lock, 'an expired lease is taken over');
    lock.release();
  });

  it('a holder that cannot read its lock for a moment keeps it; one whose lock was taken knows', () => {
    const dir = tmp();
    const locks = new LockManager(dir, 'me');
    const lock = locks.tryAcquire('supervisor')!;
    const file = locks.file('supervisor');
    // A read that fails (EIO, EMFILE): here the way a directory in its place fails (EISDIR).
    fs.renameSync(file, `${file}.saved`);
    fs.mkdirSync(file);
    assert.equal(lock.check(), 'unknown', 'an I/O error is not a lost lock');
    fs.rmdirSync(file);
    fs.renameSync(`${file}.saved`, file);
    assert.equal(lock.check(), 'held');
    assert.equal(lock.renew(), true);
    fs.rmSync(file);
    writeLock(dir, 'supervisor', { ...selfIdentity('someone else'), pid: process.ppid, pidStart: null });
    assert.equal(lock.check(), 'lost');
    assert.equal(lock.renew(), false);
    lock.release();
    assert.equal(locks.readHolder('supervisor')?.owner, 'someone else', 'release leaves the new holder alone');
  });

  it('a holder that lost track of its own lock takes it back instead of deferring to itself', () => {
    const dir = tmp();
    const locks = new LockManager(dir, 'me');
    locks.tryAcquire('supervisor');
    assert.equal(locks.tryAcquire('supervisor'), undefined);
    assert.ok(locks.reclaim('supervisor'));
    fs.rmSync(locks.file('supervisor'));
    writeLock(dir, 'supervisor', { ...selfIdentity('parent'), pid: process.ppid, pidStart: null });
    assert.equal(locks.reclaim('supervisor'), undefined, 'never another process\'s lock');
  });

  it('takers racing for one stale lock: exactly one wins, every round', async () => {
    const dir = tmp();
    const rounds = 40;
    const takers = 6;
    for (let r = 0; r < rounds; r++) writeLock(dir, `r${r}`, { pid: 999_999_999, host: os.hostname(), pidStart: null, owner: 'dead', acquiredAt: '' });
    const start = Date.now() + 1500;
    const script = `
      const { LockManager } = require(${JSON.stringify(LOCK_MODULE)});
      const locks = new LockManager(${JSON.stringify(dir)}, 'taker ' + process.pid);
      const won = [];
      (async () => {
        for (let r = 0; r < ${rounds}; r++) {
          while (Date.now() < ${start} + r * 40) await new Promise((res) => setImmediate(res));
          if (locks.tryAcquire('r' + r)) won.push(r);
        }
        process.stdout.write(JSON.stringify(won) + '\\n');
        // Every taker lives until all are done: a winner that exited would leave a stale lock that
        // a taker running late (a loaded machine) rightly takes over.
        process.stdin.resume();
        process.stdin.on('end', () => process.exit(0));
      })();`;
    const children: ChildProcess[] = [];
    const results = await Promise.all(
      Array.from({ length: takers }, () => new Promise<number[]>((resolve, reject) => {
        const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
        children.push(child);
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
          if (out.endsWith('\n')) resolve(JSON.parse(out));
        });
        child.on('exit', (code) => reject(new Error(`taker exited ${code} before it was done`)));
      })),
    ).finally(() => children.forEach((c) => c.stdin!.end()));
    for (let r = 0; r < rounds; r++) {
      const winners = results.filter((won) => won.includes(r)).length;
      assert.equal(winners, 1, `round ${r}: ${winners} holders`);
    }
  });

  it('a full disk leaves no empty lock and no temp file behind (a small tmpfs: the tests run as root)', () => {
    const dir = tmp();
    const { execFileSync } = require('node:child_process') as typeof import('node:child_process');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
    try {
      fs.writeFileSync(path.join(dir, 'fill'), Buffer.alloc(64 * 1024));
    } catch {
      /* full now */
    }
    try {
      const locks = new LockManager(path.join(dir), 'me');
      assert.throws(() => locks.tryAcquire('supervisor'), /ENOSPC/);
      assert.deepEqual(fs.readdirSync(dir).filter((f) => f !== 'fill'), [], 'nothing half-made');
      fs.rmSync(path.join(dir, 'fill'));
      const lock = locks.tryAcquire('supervisor');
      assert.ok(lock, 'works again once there is space');
      assert.equal(locks.readHolder('supervisor')?.owner, 'me');
    } finally {
      execFileSync('umount', [dir]);
    }
  });
});
