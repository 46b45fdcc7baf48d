import path = require('node:path');
import type { Exec } from './exec';
import { defaultExec } from './exec';

/** git said no: its own first line of explanation, for one clear message. */
export class GitError extends Error {
  constructor(message: string, readonly stderr: string) {
    super(message);
  }
}

/** Runs git with argv only (no shell), never asking for a password or an editor. */
export class Git {
  constructor(private readonly env: NodeJS.ProcessEnv, private readonly exec: Exec = defaultExec) {}

  private gitEnv(): NodeJS.ProcessEnv {
    return { ...this.env, GIT_TERMINAL_PROMPT: '0', GIT_EDITOR: 'true' };
  }

  async run(cwd: string, args: readonly string[]): Promise<string> {
    let r;
    try {
      r = await this.exec('git', ['-C', cwd, ...args], this.gitEnv());
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') throw new GitError('git is not installed (or not on PATH)', '');
      throw e;
    }
    if (r.exitCode !== 0) {
      const why = r.stderr.split('\n').map((l) => l.replace(/^(fatal|error): /, '').trim()).find((l) => l) ?? `git ${args[0]} exited ${r.exitCode}`;
      throw new GitError(why, r.stderr);
    }
    return r.stdout;
  }

  /** The top of the working tree holding `dir`, or undefined when it is in none. */
  async topLevel(dir: string): Promise<string | undefined> {
    try {
      return (await this.run(dir, ['rev-parse', '--show-toplevel'])).trim();
    } catch (e) {
      if (e instanceof GitError && /not a git repository/i.test(e.stderr)) return undefined;
      throw e;
    }
  }

  /**
   * The repository folder a worktree belongs to (its common git dir's parent), as the worktree's
   * own `.git` file says; undefined when that link is broken (the repository moved or is gone).
   */
  async repoOf(worktree: string): Promise<string | undefined> {
    try {
      const common = path.resolve(worktree, (await this.run(worktree, ['rev-parse', '--git-common-dir'])).trim());
      return path.basename(common) === '.git' ? path.dirname(common) : common;
    } catch (e) {
      if (e instanceof GitError && e.stderr) return undefined;
      throw e;
    }
  }

  async head(repo: string): Promise<string | undefined> {
    try {
      return (await this.run(repo, ['rev-parse', '--verify', '--quiet', 'HEAD^{commit}'])).trim() || undefined;
    } catch {
      return undefined;
    }
  }

  async branchExists(repo: string, branch: string): Promise<boolean> {
    const r = await this.exec('git', ['-C', repo, 'rev-parse', '--verify', '--quiet', `refs/heads/${branch}`], this.gitEnv());
    return r.exitCode === 0;
  }

  async validBranchName(repo: string, branch: string): Promise<boolean> {
    const r = await this.exec('git', ['-C', repo, 'check-ref-format', '--branch', branch], this.gitEnv());
    return r.exitCode === 0 && !branch.startsWith('-');
  }

  /** A new worktree at `path` on a new branch made from `base`. */
  async addWorktree(repo: string, path: string, branch: string, base: string): Promise<void> {
    await this.run(repo, ['worktree', 'add', '--quiet', '-b', branch, '--', path, base]);
  }

  async removeWorktree(repo: string, path: string, force: boolean): Promise<void> {
    await this.run(repo, ['worktree', 'remove', ...(force ? ['--force'] : []), '--', path]);
  }

  /** Forgets worktrees whose folders are gone. */
  async prune(repo: string): Promise<void> {
    await this.run(repo, ['worktree', 'prune']);
  }

  async deleteBranch(repo: string, branch: string): Promise<void> {
    await this.run(repo, ['branch', '-D', '--', branch]);
  }

  /** Uncommitted changes (staged, unstaged, untracked), as `git status --porcelain` lines. */
  async changes(dir: string): Promise<string[]> {
    return (await this.run(dir, ['status', '--porcelain', '--untracked-files=all'])).split('\n').filter(Boolean);
  }

  /** What the working tree changed against `base`, committed or not (no colour, no pager). */
  async diff(dir: string, base: string): Promise<string> {
    return this.run(dir, ['--no-pager', 'diff', '--no-color', '--no-ext-diff', base, '--']);
  }

  /** Files git does not track and does not ignore. */
  async untracked(dir: string): Promise<string[]> {
    return (await this.run(dir, ['ls-files', '--others', '--exclude-standard'])).split('\n').filter(Boolean);
  }

  /** A file as it was at `rev` ('' when it did not exist there). */
  async show(dir: string, rev: string, file: string): Promise<string> {
    try {
      return await this.run(dir, ['--no-pager', 'show', `${rev}:${file}`]);
    } catch (e) {
      if (e instanceof GitError && /does not exist|exists on disk, but not in/.test(e.stderr)) return '';
      throw e;
    }
  }

  /** Files changed against `base`, committed or not, and untracked ones. */
  async changedFiles(dir: string, base: string): Promise<string[]> {
    const tracked = (await this.run(dir, ['--no-pager', 'diff', '--name-only', '--no-ext-diff', base, '--'])).split('\n').filter(Boolean);
    return [...new Set([...tracked, ...(await this.untracked(dir))])].sort();
  }
}
