import * as fs from 'node:fs';
import * as path from 'node:path';
import { TaskError, UsageError } from '../model/errors';
import type { TaskRecord, Worktree } from '../model/record';
import { Git, GitError } from '../platform/git';
import type { Core } from './core';

/**
 * A task's own git worktree: a new branch made from the checkout's HEAD, checked out under the
 * state dir (`<state>/worktrees/<session>`), never inside the person's checkout, so that nothing
 * of the task shows up in their `git status`, their editor's search, or their build.
 */
export async function createWorktree(core: Core, dir: string, session: string, name: string, branch?: string): Promise<{ worktree: Worktree; dir: string }> {
  const git = new Git(core.env);
  const repo = await gitOrUsage(() => git.topLevel(dir));
  if (!repo) throw new UsageError(`--worktree needs a git repository, and ${dir} is not in one`);
  const wanted = branch ?? `${core.settings.worktreeBranchPrefix}${name}`;
  if (wanted.startsWith('refs/') || wanted.includes('@{') || wanted === '@' || !(await git.validBranchName(repo, wanted))) {
    throw new UsageError(`"${wanted}" is not a valid branch name`);
  }
  if (await git.branchExists(repo, wanted)) {
    throw new TaskError(`a branch named ${wanted} already exists in ${repo}: give another with --branch`, 'conflict');
  }
  const base = await git.head(repo);
  if (!base) throw new UsageError(`the repository ${repo} has no commit yet: commit once, then start the task`);
  const where = core.store.paths.worktreeDir(session);
  if (fs.existsSync(where)) throw new TaskError(`${where} already exists (a worktree of an earlier task of this name?): remove it or use another name`, 'conflict');
  fs.mkdirSync(path.dirname(where), { recursive: true, mode: 0o700 });
  const inside = path.relative(fs.realpathSync(repo), fs.realpathSync(dir));
  const worktree: Worktree = { path: where, branch: wanted, base, repo };
  try {
    await gitOrTask(() => git.addWorktree(repo, where, wanted, base), `could not make a worktree for ${session}`);
  } catch (e) {
    // `worktree add -b` makes the branch before it can fail later: nothing of a refused start
    // stays. But a branch made meanwhile by another start (git says it exists) is not ours to delete.
    const taken = e instanceof TaskError && /branch named .* already exists/.test(e.message);
    if (taken) throw new TaskError(`a branch named ${wanted} already exists in ${repo}: give another with --branch`, 'conflict');
    await discardWorktree(core, worktree);
    throw e;
  }
  // Started from a subfolder: the agent runs in the same subfolder of its worktree, which has
  // only what HEAD has (the checkout's uncommitted files are not in it).
  const sub = path.join(where, inside);
  if (!fs.existsSync(sub)) {
    await discardWorktree(core, worktree);
    throw new UsageError(`${inside} is not in the repository's last commit (untracked or ignored), so a worktree has no such folder: start from a folder git tracks, or commit it first`);
  }
  return { worktree, dir: sub };
}

/** Undoes createWorktree for a start that failed later: the worktree and the branch it made go. */
export async function discardWorktree(core: Core, wt: Worktree): Promise<void> {
  const git = new Git(core.env);
  await git.removeWorktree(wt.repo, wt.path, true).catch(() => fs.rmSync(wt.path, { recursive: true, force: true }));
  await git.prune(wt.repo).catch(() => undefined);
  await git.deleteBranch(wt.repo, wt.branch).catch(() => undefined);
}

/** What the task changed against its base: committed and not (as `git diff BASE`), and new files by name. */
export async function worktreeDiff(core: Core, record: TaskRecord): Promise<{ diff: string; untracked: string[]; files: string[] }> {
  const wt = record.worktree;
  if (!wt) throw new TaskError(`task ${record.session} runs in ${record.dir}, not in a worktree of its own: use git there`, 'refused');
  if (!fs.existsSync(wt.path)) throw new TaskError(`the worktree of ${record.session} (${wt.path}) is gone; its branch ${wt.branch} holds what was committed`, 'not-found');
  const git = new Git(core.env);
  return gitOrTask(async () => ({
    diff: await git.diff(wt.path, wt.base),
    untracked: await git.untracked(wt.path),
    files: await git.changedFiles(wt.path, wt.base),
  }), `could not read the changes of ${record.session}`);
}

/**
 * When a task is forgotten: its worktree goes only when nothing in it is uncommitted (or `force`);
 * its branch always stays, since the work lives there. Says what was kept.
 */
export async function releaseWorktree(core: Core, wt: Worktree, force: boolean): Promise<string> {
  const git = new Git(core.env);
  const repoGone = !fs.existsSync(wt.repo);
  if (!fs.existsSync(wt.path)) {
    // Removed by hand: git still lists it (and keeps its branch checked out) until pruned.
    if (!repoGone) await git.prune(wt.repo).catch(() => undefined);
    return `its worktree was already gone; branch ${wt.branch} kept`;
  }
  // A worktree whose changes cannot be read is treated as holding some: nothing is discarded unasked.
  const dirty = await git.changes(wt.path).catch(() => ['?']);
  if (dirty.length && !force) {
    const undo = repoGone ? `rm -rf ${wt.path}` : `git -C ${wt.repo} worktree remove --force ${wt.path}`;
    return `worktree ${wt.path} kept: it has uncommitted changes (commit them there; to discard them: ${undo}); branch ${wt.branch} kept`;
  }
  if (repoGone) {
    fs.rmSync(wt.path, { recursive: true, force: true });
    return `worktree removed (its repository ${wt.repo} is gone)`;
  }
  await gitOrTask(() => git.removeWorktree(wt.repo, wt.path, force), `could not remove the worktree ${wt.path}`);
  return `worktree removed${dirty.length ? ' with its uncommitted changes discarded' : ''}; branch ${wt.branch} kept`;
}

async function gitOrUsage<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof GitError) throw new UsageError(e.message);
    throw e;
  }
}

async function gitOrTask<T>(run: () => Promise<T>, what: string): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof GitError) throw new TaskError(`${what}: ${e.message}`, e.stderr ? 'refused' : 'missing-tool');
    throw e;
  }
}
