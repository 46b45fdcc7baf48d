import fs = require('node:fs');
import path = require('node:path');
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
  if (!(await repoOf(git, wt))) throw new TaskError(`cannot read the changes of ${record.session}: ${moved(wt)}, then try again`, 'not-found');
  return gitOrTask(async () => ({
    diff: await git.diff(wt.path, wt.base),
    untracked: await git.untracked(wt.path),
    files: await git.changedFiles(wt.path, wt.base),
  }), `could not read the changes of ${record.session}`);
}

/**
 * The task's repository: where it was when the task started, or where the worktree's own git link
 * now leads (the repository moved and `git worktree repair` was run there). Undefined when neither
 * is there: git cannot read the worktree at all.
 */
async function repoOf(git: Git, wt: Worktree): Promise<string | undefined> {
  const linked = fs.existsSync(wt.path) ? await git.repoOf(wt.path).catch(() => undefined) : undefined;
  return linked ?? (fs.existsSync(wt.repo) ? wt.repo : undefined);
}

/** What a person is told when the worktree's repository is not where git's link says. */
function moved(wt: Worktree): string {
  return `its repository is no longer at ${wt.repo} (moved or deleted) and git cannot read the worktree ${wt.path}; if the repository moved, run \`git worktree repair\` in it`;
}

/** The branch as it is now: deleted by hand is said, not "kept". */
async function branchNote(git: Git, repo: string | undefined, branch: string): Promise<string> {
  if (repo && !(await git.branchExists(repo, branch).catch(() => true))) return `branch ${branch} was already deleted`;
  return `branch ${branch} kept`;
}

/**
 * When a task is forgotten: its worktree goes only when nothing in it is uncommitted (or `force`);
 * its branch always stays, since the work lives there. Says what was kept.
 */
export async function releaseWorktree(core: Core, wt: Worktree, force: boolean): Promise<string> {
  const git = new Git(core.env);
  if (!fs.existsSync(wt.path)) {
    // Removed by hand: git still lists it (and keeps its branch checked out) until pruned.
    const repo = fs.existsSync(wt.repo) ? wt.repo : undefined;
    if (repo) await git.prune(repo).catch(() => undefined);
    return `its worktree was already gone; ${await branchNote(git, repo, wt.branch)}`;
  }
  const repo = await repoOf(git, wt);
  if (!repo) {
    // Its changes cannot be read: nothing is discarded unasked, and "uncommitted changes" would be a guess.
    if (!force) return `worktree ${wt.path} kept: ${moved(wt)}, then \`git worktree remove ${wt.path}\`; branch ${wt.branch} kept`;
    fs.rmSync(wt.path, { recursive: true, force: true });
    return `worktree removed (its repository is no longer at ${wt.repo})`;
  }
  // A worktree whose changes cannot be read is treated as holding some: nothing is discarded unasked.
  const dirty = await git.changes(wt.path).catch(() => ['?']);
  if (dirty.length && !force) {
    return `worktree ${wt.path} kept: it has uncommitted changes (commit them there; to discard them: git -C ${repo} worktree remove --force ${wt.path}); ${await branchNote(git, repo, wt.branch)}`;
  }
  await gitOrTask(() => git.removeWorktree(repo, wt.path, force), `could not remove the worktree ${wt.path}`);
  return `worktree removed${dirty.length ? ' with its uncommitted changes discarded' : ''}; ${await branchNote(git, repo, wt.branch)}`;
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
