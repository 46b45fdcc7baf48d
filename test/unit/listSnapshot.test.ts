import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
// The module itself (its namespace import has getters only): one of its calls replaced in a test.
import fsModule = require('node:fs');
import * as os from 'node:os';
import * as path from 'node:path';
import { FRESH_SECONDS, ListSnapshot, snapshotFile, untilFile } from '../../src/core/ops/listSnapshot';
import type { Core } from '../../src/core/ops/core';
import { snapshotShell } from '../../src/core/ops/remote';
import { TaskStore } from '../../src/core/store/store';
import { testRecord } from '../tools/records';

/**
 * The shells' stdin: not a pipe of Node's (a socket pair). A `bash -c` whose stdin is a socket and
 * whose SHLVL is unset or 0 takes itself for one sshd started and runs this user's ~/.bashrc
 * first; a slow one (pyenv's rehash waits on a lock, up to 60 s) outlasted the 5 s a snapshot here
 * is fresh for, and the CLI answered.
 */
const SHELL_STDIO: ['ignore', 'pipe', 'pipe'] = ['ignore', 'pipe', 'pipe'];

/** What a host's shell answers to `list` with the snapshot rule first, the CLI's list being `echo CLI`. */
function ask(home: string, env: NodeJS.ProcessEnv = { ...process.env, RESILIENT_AGENT_HOME: home }, shell = '/bin/sh'): string {
  return execFileSync(shell, ['-c', `${snapshotShell({ hostKey: 'abcdef012345', home })} echo CLI`], { encoding: 'utf8', stdio: SHELL_STDIO, env });
}

/** What ListSnapshot needs of a host's supervisor: no tasks, no panes; `onList` runs as its records are read. */
function supervisorCore(home: string, tasksDir: string, onList: () => void = () => undefined): Core {
  return {
    store: {
      paths: { home, tasksDir },
      list: () => {
        onList();
        return { records: [], corrupt: [], newer: [], unreadable: [] };
      },
      orphans: () => [],
    },
    tmux: { listPanes: async () => new Map() },
    host: { key: 'abcdef012345' },
    locks: { identity: () => ({ version: 'test' }) },
    logger: { debug: () => undefined },
  } as unknown as Core;
}

describe("a host's list snapshot, as its shell judges it (its own test, no process but cat)", () => {
  let home: string;
  let file: string;
  let changed: string;
  const at = (f: string, msAgo: number) => fs.utimesSync(f, new Date(Date.now() - msAgo), new Date(Date.now() - msAgo));
  /** A snapshot written `msAgo`, fresh for FRESH_SECONDS from then (its supervisor dates its `.until` file so). */
  const written = (f: string, msAgo: number) => {
    at(f, msAgo);
    fs.writeFileSync(untilFile(f), '');
    at(untilFile(f), msAgo - FRESH_SECONDS * 1000);
  };

  beforeEach(() => {
    // A state dir whose path a shell would misread if it were not quoted.
    home = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ra-snap-')), 'state $(touch pwned) \'q\' "d" `x`');
    fs.mkdirSync(path.join(home, 'tasks'), { recursive: true });
    file = snapshotFile(home, 'abcdef012345');
    fs.mkdirSync(path.dirname(file));
    changed = path.join(home, 'tasks', '.changed');
    fs.writeFileSync(changed, '');
    fs.writeFileSync(file, '{"snapshot":1}');
  });
  afterEach(() => fs.rmSync(path.dirname(home), { recursive: true, force: true }));

  it('served while written after the last record change and within 6 s; the question marks it wanted', () => {
    at(changed, 3000);
    written(file, 1000);
    assert.equal(ask(home), '{"snapshot":1}');
    assert.ok(fs.existsSync(path.join(path.dirname(file), 'wanted')), 'marked wanted');
    assert.ok(!fs.existsSync(path.join(path.dirname(path.dirname(home)), 'pwned')) && !fs.existsSync('pwned'));
  });

  it('a record changed after it, a snapshot 7 s old or ahead of the clock, none, or no record ever changed: the CLI answers', () => {
    at(changed, 500);
    written(file, 1000);
    assert.equal(ask(home), 'CLI\n', 'a change it does not hold');
    at(changed, 20_000);
    written(file, 7000);
    assert.equal(ask(home), 'CLI\n', 'its supervisor stopped renewing it');
    written(file, -60_000);
    assert.equal(ask(home), 'CLI\n', 'written ahead of the clock (a clock set back since)');
    fs.rmSync(changed);
    written(file, 1000);
    assert.equal(ask(home), 'CLI\n', 'no record change known');
    fs.writeFileSync(changed, '');
    at(changed, 3000);
    fs.rmSync(file);
    assert.equal(ask(home), 'CLI\n', 'no snapshot');
  });

  it('each question marks it wanted again, in dash or bash, even with noclobber set (set -C) in the login shell; set -e, set -u, its folder gone: the CLI answers', () => {
    at(changed, 3000);
    written(file, 1000);
    const mark = path.join(path.dirname(file), 'wanted');
    for (const shell of ['/bin/sh', '/bin/bash']) {
      fs.writeFileSync(mark, '');
      at(mark, 60_000);
      const out = execFileSync(shell, ['-C', '-c', `${snapshotShell({ hostKey: 'abcdef012345', home })} echo CLI`], { encoding: 'utf8', stdio: SHELL_STDIO, env: { ...process.env, RESILIENT_AGENT_HOME: home } });
      assert.equal(out, '{"snapshot":1}', shell);
      assert.ok(Date.now() - fs.statSync(mark).mtimeMs < 10_000, `${shell}: the mark not renewed (the supervisor stops keeping it 5 minutes on)`);
    }
    fs.rmSync(path.dirname(file), { recursive: true });
    for (const shell of ['/bin/sh', '/bin/bash']) {
      const out = execFileSync(shell, ['-C', '-e', '-u', '-c', `${snapshotShell({ hostKey: 'abcdef012345', home })} echo CLI`], { encoding: 'utf8', stdio: SHELL_STDIO, env: { PATH: process.env.PATH, HOME: process.env.HOME, RESILIENT_AGENT_HOME: home } });
      assert.equal(out, 'CLI\n', shell);
    }
  });

  it("in bash as in dash (bash's `-nt` takes a missing file for an old one): no .until, or no record change known: the CLI answers", () => {
    for (const shell of ['/bin/sh', '/bin/bash']) {
      const env = { ...process.env, RESILIENT_AGENT_HOME: home };
      fs.writeFileSync(changed, '');
      at(changed, 3000);
      written(file, 1000);
      assert.equal(ask(home, env, shell), '{"snapshot":1}', shell);
      fs.rmSync(untilFile(file));
      assert.equal(ask(home, env, shell), 'CLI\n', `${shell}: no .until`);
      written(file, 1000);
      fs.rmSync(changed);
      assert.equal(ask(home, env, shell), 'CLI\n', `${shell}: no .changed`);
    }
  });

  it("a `cat` of the login shell's own (a function, or an alias in zsh's .zshenv) is not the one that serves it", () => {
    at(changed, 3000);
    written(file, 1000);
    const rc = path.join(path.dirname(home), 'rc');
    fs.mkdirSync(rc);
    // What bash sources for a command over ssh (its .bashrc; BASH_ENV here), and zsh's .zshenv.
    fs.writeFileSync(path.join(rc, 'env.sh'), 'cat() { echo "$@" | tr a-z A-Z; }\n');
    fs.writeFileSync(path.join(rc, '.zshenv'), "alias cat='cat -n'\n");
    const env = { ...process.env, RESILIENT_AGENT_HOME: home, BASH_ENV: path.join(rc, 'env.sh'), ZDOTDIR: rc };
    assert.equal(ask(home, env, '/bin/bash'), '{"snapshot":1}', 'bash');
    if (fs.existsSync('/usr/bin/zsh')) assert.equal(ask(home, env, '/usr/bin/zsh'), '{"snapshot":1}', 'zsh');
  });

  it('the same in zsh and busybox sh where they are installed (busybox compares file times to the second)', () => {
    const shells = [['/usr/bin/zsh'], ['/usr/bin/busybox', 'sh'], ['/bin/busybox', 'sh']].filter(([b]) => fs.existsSync(b));
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, RESILIENT_AGENT_HOME: home };
    const run = ([bin, ...args]: string[]) => execFileSync(bin, [...args, '-C', '-e', '-u', '-c', `${snapshotShell({ hostKey: 'abcdef012345', home })} echo CLI`], { encoding: 'utf8', stdio: SHELL_STDIO, env });
    for (const shell of shells) {
      const name = shell.join(' ');
      at(changed, 3000);
      written(file, 1000);
      assert.equal(run(shell), '{"snapshot":1}', name);
      fs.rmSync(untilFile(file));
      assert.equal(run(shell), 'CLI\n', `${name}: no .until`);
      written(file, 8000);
      assert.equal(run(shell), 'CLI\n', `${name}: 8 s old`);
      written(file, -60_000);
      assert.equal(run(shell), 'CLI\n', `${name}: ahead of the clock`);
      written(file, 3000);
      at(changed, 500);
      assert.equal(run(shell), 'CLI\n', `${name}: a record changed after it`);
      at(changed, 3000);
      fs.rmSync(changed);
      assert.equal(run(shell), 'CLI\n', `${name}: no record change known`);
      fs.writeFileSync(changed, '');
    }
  });

  it("served only while the host's CLI would use that state dir: one its environment now names elsewhere has its own tasks", () => {
    at(changed, 3000);
    written(file, 1000);
    const bare = { ...process.env };
    delete bare.RESILIENT_AGENT_HOME;
    delete bare.XDG_STATE_HOME;
    assert.equal(ask(home, { ...bare, RESILIENT_AGENT_HOME: `${home}/` }), '{"snapshot":1}', 'a trailing slash');
    assert.equal(ask(home, { ...bare, RESILIENT_AGENT_HOME: path.join(path.dirname(home), 'elsewhere') }), 'CLI\n', 'RESILIENT_AGENT_HOME elsewhere');
    assert.equal(ask(home, { ...bare, XDG_STATE_HOME: path.dirname(home) }), 'CLI\n', 'XDG_STATE_HOME naming another');
    // The state dir XDG_STATE_HOME names, or HOME's default one.
    const xdg = path.join(path.dirname(home), 'xdg');
    const xdgHome = path.join(xdg, 'resilient-agent');
    fs.mkdirSync(path.join(xdgHome, 'tasks'), { recursive: true });
    fs.mkdirSync(path.dirname(snapshotFile(xdgHome, 'abcdef012345')));
    fs.writeFileSync(path.join(xdgHome, 'tasks', '.changed'), '');
    fs.writeFileSync(snapshotFile(xdgHome, 'abcdef012345'), '{"snapshot":2}');
    at(path.join(xdgHome, 'tasks', '.changed'), 3000);
    written(snapshotFile(xdgHome, 'abcdef012345'), 1000);
    assert.equal(ask(xdgHome, { ...bare, XDG_STATE_HOME: `${xdg}/` }), '{"snapshot":2}', 'XDG_STATE_HOME');
    const user = path.join(path.dirname(home), 'user');
    const userHome = path.join(user, '.local', 'state', 'resilient-agent');
    fs.mkdirSync(path.join(userHome, 'tasks'), { recursive: true });
    fs.mkdirSync(path.dirname(snapshotFile(userHome, 'abcdef012345')));
    fs.writeFileSync(path.join(userHome, 'tasks', '.changed'), '');
    fs.writeFileSync(snapshotFile(userHome, 'abcdef012345'), '{"snapshot":3}');
    at(path.join(userHome, 'tasks', '.changed'), 3000);
    written(snapshotFile(userHome, 'abcdef012345'), 1000);
    assert.equal(ask(userHome, { ...bare, HOME: user }), '{"snapshot":3}', 'HOME');
    assert.equal(ask(userHome, { ...bare, HOME: user, RESILIENT_AGENT_HOME: home }), 'CLI\n', 'HOME, and RESILIENT_AGENT_HOME elsewhere');
    // "/" is a state dir too (the CLI's path.resolve keeps it): not one unset, read as HOME's.
    assert.equal(ask(userHome, { ...bare, HOME: user, RESILIENT_AGENT_HOME: '/' }), 'CLI\n', 'RESILIENT_AGENT_HOME=/ (the CLI uses /)');
    assert.equal(ask(userHome, { ...bare, HOME: user, XDG_STATE_HOME: '/' }), 'CLI\n', 'XDG_STATE_HOME=/ (the CLI uses /resilient-agent)');
  });

  it('a task forgotten (its record removed) or its record kept aside after the snapshot was written: the CLI answers', () => {
    const store = new TaskStore(home);
    store.init();
    const record = testRecord({ prompt: 'p' });
    store.write(record);
    at(changed, 3000);
    written(file, 1000);
    assert.equal(ask(home), '{"snapshot":1}');
    // kill --forget, a start undone: the task is gone, the snapshot still shows it.
    store.remove(record.session);
    assert.equal(ask(home), 'CLI\n', 'a snapshot holding a forgotten task');
    store.write(record);
    at(changed, 3000);
    written(file, 1000);
    assert.equal(ask(home), '{"snapshot":1}');
    store.quarantine(record.session);
    assert.equal(ask(home), 'CLI\n', 'a snapshot holding a record since kept aside');
  });

  it("its supervisor stopped, then the host's clock set back by less than its age: once a question found it expired, the CLI answers", () => {
    at(changed, 3000);
    written(file, 1000);
    // A question 100 s on found it expired (its mark is past the .until date); then the clock went back 100 s.
    const mark = path.join(path.dirname(file), 'wanted');
    fs.writeFileSync(mark, '');
    at(mark, -100_000);
    for (const shell of ['/bin/sh', '/bin/bash']) {
      assert.equal(ask(home, { ...process.env, RESILIENT_AGENT_HOME: home }, shell), 'CLI\n', `${shell}: a snapshot served 100 s after it expired`);
      assert.ok(fs.statSync(mark).mtimeMs < Date.now() + 10_000, `${shell}: marked wanted all the same`);
      at(mark, -100_000);
    }
    // Its supervisor again: a new snapshot is served (the earlier question's mark is not past its .until).
    fs.writeFileSync(mark, '');
    written(file, 500);
    assert.equal(ask(home), '{"snapshot":1}');
    assert.equal(ask(home), '{"snapshot":1}', 'the mark of the question before');
  });

  it("a record changed after it, with the host's clock set back since it was written (by less than its age): the CLI answers", async () => {
    const store = new TaskStore(home);
    store.init();
    // Written just before the clock went back 300 ms (dated ahead of the clock now, and so is the
    // snapshots folder it was renamed into), then a record written: its mark is dated before it.
    at(changed, 3000);
    written(file, -300);
    at(path.dirname(file), -300);
    store.write(testRecord({ prompt: 'p' }));
    // A question once the clock is past the snapshot's date again (still before its .until).
    const past = fs.statSync(file).mtimeMs + 50;
    while (Date.now() < past) await new Promise((r) => setTimeout(r, 10));
    assert.equal(ask(home), 'CLI\n', 'a snapshot older than a record change served');
  });
});

describe("a host's list snapshot, as its supervisor keeps it", () => {
  it('a snapshots folder it cannot look into (ELOOP here; EIO, ESTALE on a shared disk) never throws into its pass or its timer', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ra-snap-'));
    try {
      fs.symlinkSync('snapshots', path.join(home, 'snapshots'));
      const core = { store: { paths: { home, tasksDir: path.join(home, 'tasks') } }, host: { key: 'abcdef012345' }, logger: { debug: () => undefined } } as unknown as Core;
      // A throw here would end the supervisor (its timer calls it with no catch).
      await new ListSnapshot(core, () => true).keep();
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});

describe("a host's list snapshot that cannot be written", () => {
  it('nor its leftovers removed (a read-only or failing disk): keep() still resolves (a rejection would end the supervisor)', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ra-snap-'));
    try {
      const file = snapshotFile(home, 'abcdef012345');
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(path.join(path.dirname(file), 'wanted'), '');
      // Its temp file's name taken by a folder: the write fails, and so does the removal that follows.
      fs.mkdirSync(`${file}.${process.pid}.tmp`);
      const core = supervisorCore(home, path.join(home, 'tasks'));
      await new ListSnapshot(core, () => true).keep();
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});

describe("a host's list snapshot on a disk whose clock is not the host's (a state dir shared over the network)", () => {
  it('a record written while its view was being made makes it stale though the host clock runs ahead of the disk', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ra-snap-'));
    const realNow = Date.now;
    try {
      const tasksDir = path.join(home, 'tasks');
      fs.mkdirSync(tasksDir);
      const file = snapshotFile(home, 'abcdef012345');
      fs.mkdirSync(path.dirname(file));
      fs.writeFileSync(path.join(path.dirname(file), 'wanted'), '');
      // The records read, then one written (by another process) before the snapshot is done: the disk's clock times its mark.
      const core = supervisorCore(home, tasksDir, () => fs.writeFileSync(path.join(tasksDir, '.changed'), 'codex-x\n'));
      // This host's clock 1 s ahead of the disk's (an NFS server's clock times what is written there).
      Date.now = () => realNow() + 1000;
      await new ListSnapshot(core, () => true).keep();
      Date.now = realNow;
      assert.ok(fs.existsSync(file), 'written');
      assert.equal(ask(home), 'CLI\n', 'a snapshot older than a record change served');
    } finally {
      Date.now = realNow;
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});

describe("a host's list snapshot after the host's clock was set forward, then back", () => {
  it("a question's mark dated an hour ahead keeps no new snapshot expired: its supervisor dates it now", async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ra-snap-'));
    try {
      const tasksDir = path.join(home, 'tasks');
      fs.mkdirSync(tasksDir);
      fs.writeFileSync(path.join(tasksDir, '.changed'), '');
      const old = new Date(Date.now() - 3000);
      fs.utimesSync(path.join(tasksDir, '.changed'), old, old);
      const file = snapshotFile(home, 'abcdef012345');
      fs.mkdirSync(path.dirname(file));
      const mark = path.join(path.dirname(file), 'wanted');
      fs.writeFileSync(mark, '');
      const ahead = new Date(Date.now() + 3600_000);
      fs.utimesSync(mark, ahead, ahead);
      const core = supervisorCore(home, tasksDir);
      await new ListSnapshot(core, () => true).keep();
      assert.match(ask(home), /"snapshot":/, 'served');
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});

describe("a host's list snapshot whose supervisor dies between writing it and dating its .until", () => {
  it('an earlier .until dated later (the clock set back since) never keeps the new snapshot fresh past its 6 s', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ra-snap-'));
    const realRename = fsModule.renameSync;
    try {
      const tasksDir = path.join(home, 'tasks');
      fs.mkdirSync(tasksDir);
      fs.writeFileSync(path.join(tasksDir, '.changed'), '');
      const back = (f: string, ms: number) => {
        const t = fs.statSync(f).mtimeMs - ms;
        fs.utimesSync(f, new Date(t), new Date(t));
      };
      back(path.join(tasksDir, '.changed'), 3000);
      const file = snapshotFile(home, 'abcdef012345');
      fs.mkdirSync(path.dirname(file));
      fs.writeFileSync(path.join(path.dirname(file), 'wanted'), '');
      // Left by the previous write, before this host's clock was set back an hour.
      fs.writeFileSync(untilFile(file), '');
      const later = new Date(Date.now() + 3600_000);
      fs.utimesSync(untilFile(file), later, later);
      const core = supervisorCore(home, tasksDir);
      // The supervisor killed just after the snapshot took its name: what is on disk then, 7 s later.
      let died: string | undefined;
      fsModule.renameSync = (from, to) => {
        realRename(from, to);
        if (to !== file) return;
        for (const f of [file, path.join(tasksDir, '.changed'), untilFile(file)]) if (fs.existsSync(f)) back(f, 7000);
        died = ask(home);
      };
      await new ListSnapshot(core, () => true).keep();
      assert.equal(died, 'CLI\n', 'a snapshot served 7 s after its supervisor died');
    } finally {
      fsModule.renameSync = realRename;
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
