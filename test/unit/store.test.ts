import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { LockManager } from '../../src/core/store/lock';
import { stateHome } from '../../src/core/store/paths';
import type { TaskRecord } from '../../src/core/model/record';
import { TaskStore } from '../../src/core/store/store';
import { testRecord } from '../tools/records';
import { RECORD_VERSION } from '../../src/core/model/record';

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'ra-store-'));
}

const record: TaskRecord = testRecord({ prompt: 'secret prompt' });

describe('state dir', () => {
  it('RESILIENT_AGENT_HOME, else XDG_STATE_HOME, else ~/.local/state — never /tmp', () => {
    assert.equal(stateHome({ RESILIENT_AGENT_HOME: '/a', XDG_STATE_HOME: '/b', HOME: '/h' }), '/a');
    assert.equal(stateHome({ XDG_STATE_HOME: '/b', HOME: '/h' }), '/b/resilient-agent');
    assert.equal(stateHome({ HOME: '/h' }), '/h/.local/state/resilient-agent');
  });
});

describe('task store', () => {
  it('writes a versioned record privately and reads it back', () => {
    const store = new TaskStore(path.join(tmp(), 'home'));
    store.init();
    store.write(record);
    assert.deepEqual(store.get('codex-fix'), record);
    const file = store.paths.recordFile('codex-fix');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.statSync(store.paths.home).mode & 0o777, 0o700);
    assert.equal(JSON.parse(fs.readFileSync(file, 'utf8')).version, RECORD_VERSION);
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ['task.json'], 'no temp file left behind');
  });

  it('refuses to write an invalid record', () => {
    const store = new TaskStore(tmp());
    assert.throws(() => store.write({ ...record, state: 'exploded' as never }));
    assert.equal(store.exists('codex-fix'), false);
  });

  it('reports a corrupt or truncated record and keeps it aside, never drops it silently', () => {
    const store = new TaskStore(tmp());
    store.write(record);
    store.write({ ...record, session: 'codex-two', name: 'two' });
    const file = store.paths.recordFile('codex-fix');
    const full = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, full.slice(0, full.length / 2));
    const { records, corrupt } = store.list();
    assert.deepEqual(records.map((r) => r.session), ['codex-two']);
    assert.equal(corrupt.length, 1);
    assert.match(corrupt[0].problem, /not JSON/);
    const kept = store.quarantine('codex-fix')!;
    assert.equal(fs.readFileSync(kept, 'utf8'), full.slice(0, full.length / 2));
  });

  it('a record from a newer version is not misread', () => {
    const store = new TaskStore(tmp());
    store.write(record);
    const next = RECORD_VERSION + 1;
    fs.writeFileSync(store.paths.recordFile('codex-fix'), JSON.stringify({ ...record, version: next }));
    assert.deepEqual(store.read('codex-fix'), { kind: 'newer', version: next });
    assert.deepEqual(store.list().newer, [{ session: 'codex-fix', version: next }]);
    assert.deepEqual(store.list().corrupt, [], 'not corruption');
  });

  it('a record of version 1 (before worktrees and follow-ups) is read as this version\'s, and written as it', () => {
    const store = new TaskStore(tmp());
    const { worktree: _none, ...v1 } = { ...record, version: 1 };
    fs.mkdirSync(store.paths.taskDir('codex-fix'), { recursive: true });
    fs.writeFileSync(store.paths.recordFile('codex-fix'), JSON.stringify(v1));
    const read = store.read('codex-fix');
    assert.equal(read.kind, 'ok');
    assert.deepEqual(read.kind === 'ok' ? read.record : undefined, { ...record, version: RECORD_VERSION });
    store.write(store.get('codex-fix')!);
    assert.equal(JSON.parse(fs.readFileSync(store.paths.recordFile('codex-fix'), 'utf8')).version, RECORD_VERSION);
  });

  it('a record that cannot be read just now (an I/O error) is not corruption', () => {
    const store = new TaskStore(tmp());
    store.write(record);
    const file = store.paths.recordFile('codex-fix');
    fs.renameSync(file, `${file}.saved`);
    fs.mkdirSync(file); // reading it fails (EISDIR), as EIO or EMFILE would
    assert.equal(store.read('codex-fix').kind, 'unreadable');
    assert.deepEqual(store.list().corrupt, []);
  });

  it('a task forgotten while the render hub writes its pane\'s shown offset into its attempt (tmp + rename, no lock): gone whole, no ENOTEMPTY', async () => {
    const store = new TaskStore(path.join(tmp(), 'home'));
    store.init();
    for (let i = 0; i < 15; i++) {
      store.write(record);
      const dir = store.paths.attemptDir('codex-fix', 2);
      fs.mkdirSync(dir, { recursive: true });
      for (let j = 0; j < 200; j++) fs.writeFileSync(path.join(dir, `f${j}`), 'x');
      // As the hub does it (transcripts.ts writeShownOffset), as fast as it can.
      const writer = spawn('bash', ['-c', 'while :; do echo 1 > "$1/o.tmp" 2>/dev/null && mv -f "$1/o.tmp" "$1/shownOffset" 2>/dev/null; done', 'hub', dir], { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 20));
      try {
        store.remove('codex-fix');
      } finally {
        writer.kill('SIGKILL');
      }
      assert.equal(fs.existsSync(store.paths.taskDir('codex-fix')), false, `round ${i}: its folder`);
      assert.deepEqual(store.sessions(), [], `round ${i}: listed`);
    }
  });
});

describe('task lock', () => {
  it('one holder at a time; released locks can be taken', () => {
    const dir = tmp();
    const a = new LockManager(dir, 'a');
    const b = new LockManager(dir, 'b');
    const la = a.tryAcquire('codex-fix');
    assert.ok(la);
    assert.equal(b.tryAcquire('codex-fix'), undefined);
    assert.equal(b.readHolder('codex-fix')?.owner, 'a');
    la.release();
    const lb = b.tryAcquire('codex-fix');
    assert.ok(lb);
    lb.release();
  });

  it('a lock whose holder died is taken over', () => {
    const dir = tmp();
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    fs.writeFileSync(path.join(dir, 'codex-fix.lock'), JSON.stringify({ pid: Number(dead), host: os.hostname(), pidStart: null, owner: 'dead', acquiredAt: new Date().toISOString() }));
    const lock = new LockManager(dir, 'alive').tryAcquire('codex-fix');
    assert.ok(lock, 'stale lock taken over');
    assert.equal(new LockManager(dir, 'x').readHolder('codex-fix')?.owner, 'alive');
  });

  it('a live holder is never robbed', () => {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'codex-fix.lock'), JSON.stringify({ pid: process.ppid, host: os.hostname(), pidStart: null, owner: 'parent', acquiredAt: new Date().toISOString() }));
    assert.equal(new LockManager(dir, 'me').tryAcquire('codex-fix'), undefined);
  });
});
