import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { harnessPerTest, waitFor } from './harness';

/** A git worktree per task, on real git: tasks at once never share a checkout, and the person's is untouched. */
describe('worktrees', function () {
  this.timeout(60_000);
  const h = harnessPerTest();

  const git = (cwd: string, ...args: string[]) =>
    execFileSync('git', ['-C', cwd, '-c', 'user.name=Dev', '-c', 'user.email=dev@example.com', ...args], { env: h.env, encoding: 'utf8' });

  /** A repository with one commit; the fixture agent's plan is committed, so every worktree has it. */
  function repo(plan: string[]): string {
    const dir = h.project('repo', plan);
    fs.mkdirSync(path.join(dir, 'src'));
    fs.writeFileSync(path.join(dir, 'src', 'parser.ts'), 'export const parse = 1;\n');
    fs.writeFileSync(path.join(dir, '.gitignore'), '.fixture-invocations.jsonl\n.fixture-runs\n.fixture-home/\n');
    git(dir, 'init', '--quiet', '--initial-branch=main');
    git(dir, 'add', '.');
    git(dir, 'commit', '--quiet', '-m', 'first');
    return dir;
  }

  /** Every file of the checkout (not .git) with its bytes: to show it was not touched. */
  function snapshot(dir: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const f of fs.readdirSync(dir, { recursive: true }).map(String).sort()) {
      if (f === '.git' || f.startsWith(`.git${path.sep}`)) continue;
      const p = path.join(dir, f);
      if (fs.statSync(p).isFile()) out[f] = fs.readFileSync(p, 'base64');
    }
    return out;
  }

  const status = async (name: string) => JSON.parse(await h.ok(['status', name, '--json']));

  it('two tasks on one repository at once, each in its own worktree and branch; the checkout byte for byte as it was', async () => {
    const dir = repo(['hang', 'ok']);
    const before = snapshot(dir);
    const head = git(dir, 'rev-parse', 'HEAD').trim();
    await h.ok(['start', 'codex', 'parser', '--dir', dir, '--prompt', 'Fix the parser.', '--worktree']);
    await h.ok(['start', 'claude', 'docs', '--dir', path.join(dir, 'src'), '--prompt', 'Document it.', '--worktree', '--branch', 'docs-pass']);
    const a = await status('parser');
    const b = await status('docs');
    assert.deepEqual(a.worktree, { path: path.join(h.home, 'worktrees', 'codex-parser'), branch: 'agent/parser', base: head });
    assert.deepEqual(b.worktree, { path: path.join(h.home, 'worktrees', 'claude-docs'), branch: 'docs-pass', base: head });
    assert.equal(a.dir, a.worktree.path);
    assert.equal(b.dir, path.join(b.worktree.path, 'src'), 'started from a subfolder: the same subfolder of its worktree');
    await waitFor(() => h.invocations(a.dir).length === 1 && h.invocations(b.worktree.path).length === 0 && fs.existsSync(path.join(b.dir, '.fixture-invocations.jsonl')), 'both agents run, each in its worktree');
    // Each agent edits its own tree.
    fs.writeFileSync(path.join(a.dir, 'src', 'parser.ts'), 'export const parse = 2;\n');
    fs.writeFileSync(path.join(b.dir, 'NOTES.md'), 'notes\n');
    const diffA = await h.ok(['diff', 'parser']);
    assert.match(diffA, /^-export const parse = 1;$/m);
    assert.match(diffA, /^\+export const parse = 2;$/m);
    assert.doesNotMatch(diffA, /NOTES/);
    assert.match(await h.ok(['diff', 'docs']), /untracked files:\n {2}src\/NOTES\.md/);
    // A crash is resumed in the worktree, by exact id.
    const monitor = h.monitor(['--interval', '0.2']);
    await h.crash('codex-parser', 1);
    await waitFor(async () => (await h.status('parser')).state === 'done', 'resumed to done');
    await h.stop(monitor);
    const runs = h.invocations(a.dir);
    assert.deepEqual(runs.map((r) => [r.mode, r.cwd]), [['start', a.dir], ['resume', a.dir]]);
    assert.deepEqual(snapshot(dir), before, 'the person\'s checkout is untouched');
    assert.equal(git(dir, 'status', '--porcelain'), '');
    assert.equal(git(dir, 'rev-parse', 'HEAD').trim(), head);
    const list = git(dir, 'worktree', 'list');
    assert.match(list, /codex-parser +\w+ \[agent\/parser\]/);
    assert.match(list, /claude-docs +\w+ \[docs-pass\]/);
  });

  it('every refusal leaves nothing behind: not a repository, no commit yet, a branch that exists, --branch alone', async () => {
    const plain = h.project('plain', ['ok']);
    const empty = h.project('empty', ['ok']);
    git(empty, 'init', '--quiet');
    const dir = repo(['ok']);
    git(dir, 'branch', 'agent/taken');
    const branches = git(dir, 'branch', '--list');
    const refusals: [string[], number, RegExp][] = [
      [['start', 'codex', 'a', '--dir', plain, '--prompt', 'x', '--worktree'], 2, /--worktree needs a git repository, and .*plain is not in one/],
      [['start', 'codex', 'b', '--dir', empty, '--prompt', 'x', '--worktree'], 2, /has no commit yet/],
      [['start', 'codex', 'taken', '--dir', dir, '--prompt', 'x', '--worktree'], 1, /a branch named agent\/taken already exists/],
      [['start', 'codex', 'c', '--dir', dir, '--prompt', 'x', '--worktree', '--branch', 'bad..name'], 2, /"bad\.\.name" is not a valid branch name/],
      [['start', 'codex', 'd', '--dir', dir, '--prompt', 'x', '--branch', 'x'], 2, /--branch names the branch of a worktree: give --worktree too/],
    ];
    for (const [args, code, message] of refusals) {
      const r = await h.cli(args);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    }
    assert.equal(git(dir, 'branch', '--list'), branches, 'no branch made');
    assert.equal(git(dir, 'worktree', 'list').trim().split('\n').length, 1, 'no worktree made');
    assert.deepEqual(fs.existsSync(path.join(h.home, 'worktrees')) ? fs.readdirSync(path.join(h.home, 'worktrees')) : [], []);
    assert.deepEqual(fs.existsSync(h.store.paths.tasksDir) ? fs.readdirSync(h.store.paths.tasksDir) : [], [], 'no record');
    assert.equal((await h.tmux(['list-sessions'])).stdout, '', 'no session');
  });

  it('forget removes a clean worktree, keeps one with uncommitted changes (unless --force), and always keeps the branch', async () => {
    const dir = repo(['ok', 'ok']);
    await h.ok(['start', 'codex', 'clean', '--dir', dir, '--prompt', 'x', '--worktree']);
    await h.ok(['start', 'codex', 'dirty', '--dir', dir, '--prompt', 'x', '--worktree']);
    const clean = (await status('clean')).worktree.path;
    const dirty = (await status('dirty')).worktree.path;
    await waitFor(async () => (await h.status('clean')).state === 'done' && (await h.status('dirty')).state === 'done', 'both done');
    fs.writeFileSync(path.join(dirty, 'src', 'parser.ts'), 'changed\n');
    assert.match(await h.ok(['kill', 'clean', '--forget']), /record removed; worktree removed; branch agent\/clean kept/);
    assert.equal(fs.existsSync(clean), false);
    assert.match(await h.ok(['kill', 'dirty', '--forget']), /worktree (\S+codex-dirty) kept: it has uncommitted changes \(commit them there; to discard them: git -C \S+ worktree remove --force \1\); branch agent\/dirty kept/);
    assert.equal(fs.readFileSync(path.join(dirty, 'src', 'parser.ts'), 'utf8'), 'changed\n', 'the uncommitted work is still there');
    assert.match(git(dir, 'branch', '--list'), /agent\/clean[\s\S]*agent\/dirty/);
  });

  it('refused before anything is made: a subfolder git does not track, odd branch names; a failed add leaves no branch', async () => {
    const dir = repo(['ok']);
    fs.mkdirSync(path.join(dir, 'scratch'));
    fs.writeFileSync(path.join(dir, 'scratch', 'notes.txt'), 'x\n');
    const sub = await h.cli(['start', 'codex', 'sub', '--dir', path.join(dir, 'scratch'), '--prompt', 'x', '--worktree']);
    assert.equal(sub.code, 2, sub.stderr);
    assert.match(sub.stderr, /scratch is not in the repository's last commit/);
    for (const branch of ['@{-1}', 'refs/heads/x', '@']) {
      const r = await h.cli(['start', 'codex', 'odd', '--dir', dir, '--prompt', 'x', '--worktree', '--branch', branch]);
      assert.equal(r.code, 2, `${branch}: ${r.stderr}`);
      assert.match(r.stderr, /is not a valid branch name/);
    }
    // A worktree git still has registered though its folder is gone makes `worktree add` fail after it made the branch.
    fs.mkdirSync(path.join(h.home, 'worktrees'), { recursive: true });
    git(dir, 'worktree', 'add', '--quiet', '-b', 'holder', path.join(h.home, 'worktrees', 'codex-late'));
    fs.rmSync(path.join(h.home, 'worktrees', 'codex-late'), { recursive: true });
    const late = await h.cli(['start', 'codex', 'late', '--dir', dir, '--prompt', 'x', '--worktree', '--branch', 'fresh']);
    assert.equal(late.code, 1, late.stderr);
    assert.doesNotMatch(git(dir, 'branch', '--list'), /fresh/, 'no branch left by the refused start');
    assert.deepEqual(h.store.sessions(), []);
  });

  it('a worktree removed while its task runs: the task is held and says so; forget prunes what git still lists', async () => {
    const dir = repo(['hang', 'ok']);
    await h.ok(['start', 'codex', 'gone', '--dir', dir, '--prompt', 'x', '--worktree']);
    const wt = (await status('gone')).worktree.path;
    await waitFor(() => h.invocations(wt).length === 1, 'the agent runs');
    fs.rmSync(wt, { recursive: true, force: true });
    await h.crash('codex-gone', 1);
    const monitor = h.monitor(['--interval', '0.2']);
    const held = await waitFor(async () => {
      const st = await h.status('gone');
      return st.state === 'held' ? st : undefined;
    }, 'held');
    await h.stop(monitor);
    assert.match(held.reason ?? '', /its folder .*codex-gone is gone \(removed or unmounted\): restore it, then resume/);
    assert.equal(h.record('codex-gone')!.attempts.length, 1, 'no attempt launched into a folder that is not there');
    assert.match(await h.ok(['kill', 'gone', '--forget']), /its worktree was already gone; branch agent\/gone kept/);
    assert.doesNotMatch(git(dir, 'worktree', 'list'), /codex-gone/, 'pruned');
    git(dir, 'checkout', '--quiet', 'agent/gone'); // no longer "checked out elsewhere"
  });

  it('the repository moved: diff and forget say so and how to repair (not "uncommitted changes"); after the repair both work', async () => {
    const dir = repo(['ok', 'ok']);
    await h.ok(['start', 'codex', 'stays', '--dir', dir, '--prompt', 'x', '--worktree']);
    await h.ok(['start', 'codex', 'goes', '--dir', dir, '--prompt', 'x', '--worktree']);
    const stays = (await status('stays')).worktree.path;
    const goes = (await status('goes')).worktree.path;
    await waitFor(async () => (await h.status('stays')).state === 'done' && (await h.status('goes')).state === 'done', 'both done');
    const moved = `${dir}-moved`;
    fs.renameSync(dir, moved);
    const diff = await h.cli(['diff', 'stays']);
    assert.notEqual(diff.code, 0);
    assert.ok(diff.stderr.includes(`its repository is no longer at ${dir} (moved or deleted)`), diff.stderr);
    assert.match(diff.stderr, /if the repository moved, run `git worktree repair` in it/);
    const forgot = await h.ok(['kill', 'goes', '--forget']);
    assert.ok(forgot.includes(`worktree ${goes} kept: its repository is no longer at ${dir} (moved or deleted)`), forgot);
    assert.ok(forgot.includes(`run \`git worktree repair\` in it, then \`git worktree remove ${goes}\`; branch agent/goes kept`), forgot);
    assert.doesNotMatch(forgot, /uncommitted|rm -rf/);
    assert.equal(fs.existsSync(goes), true);
    // The repair the message names: the same commands then work, the repository found where it is now.
    git(moved, 'worktree', 'repair');
    assert.equal((await h.ok(['diff', 'stays'])).includes('not a git repository'), false);
    assert.match(await h.ok(['kill', 'stays', '--forget']), /record removed; worktree removed; branch agent\/stays kept/);
    assert.equal(fs.existsSync(stays), false);
    assert.doesNotMatch(git(moved, 'worktree', 'list'), /codex-stays/);
  });

  it('a branch deleted by hand: forget says it was deleted, not "kept"', async () => {
    const dir = repo(['ok', 'ok']);
    await h.ok(['start', 'codex', 'detached', '--dir', dir, '--prompt', 'x', '--worktree']);
    await h.ok(['start', 'codex', 'removed', '--dir', dir, '--prompt', 'x', '--worktree']);
    const detached = (await status('detached')).worktree.path;
    const removed = (await status('removed')).worktree.path;
    await waitFor(async () => (await h.status('detached')).state === 'done' && (await h.status('removed')).state === 'done', 'both done');
    git(detached, 'checkout', '--quiet', '--detach');
    git(dir, 'branch', '--quiet', '-D', 'agent/detached');
    git(dir, 'worktree', 'remove', removed);
    git(dir, 'branch', '--quiet', '-D', 'agent/removed');
    assert.match(await h.ok(['kill', 'detached', '--forget']), /worktree removed; branch agent\/detached was already deleted/);
    assert.match(await h.ok(['kill', 'removed', '--forget']), /its worktree was already gone; branch agent\/removed was already deleted/);
  });
});
