import os = require('node:os');
import path = require('node:path');

export const SNAPSHOT_DIR = 'snapshots';

/**
 * The state dir: records must outlive a reboot, so never /tmp. Always absolute, resolved against
 * the folder the command runs in: a relative HOME handed on as it is would name another folder for
 * the background supervisor, which runs in the state dir.
 */
export function stateHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.RESILIENT_AGENT_HOME) return path.resolve(env.RESILIENT_AGENT_HOME);
  if (env.XDG_STATE_HOME) return path.join(path.resolve(env.XDG_STATE_HOME), 'resilient-agent');
  return path.join(path.resolve(env.HOME || os.homedir()), '.local', 'state', 'resilient-agent');
}

export class StatePaths {
  constructor(readonly home: string) {}
  get tasksDir(): string { return path.join(this.home, 'tasks'); }
  /** Where a host's list snapshots are kept (ops/listSnapshot.ts). */
  get snapshotsDir(): string { return path.join(this.home, SNAPSHOT_DIR); }
  get locksDir(): string { return path.join(this.home, 'locks'); }
  get quarantineDir(): string { return path.join(this.home, 'corrupt'); }
  /** A forgotten task's folder on its way out (./store.ts remove). */
  get removingDir(): string { return path.join(this.home, 'removing'); }
  get configFile(): string { return path.join(this.home, 'config.json'); }
  /** Touched when a task starts or changes, so supervisors look at once instead of at their next tick. */
  get wakeFile(): string { return path.join(this.home, 'wake'); }
  /** One entry per attempt whose pane shows its transcript through the render hub (./transcripts.ts). */
  get transcriptsDir(): string { return path.join(this.home, 'transcripts'); }
  taskDir(session: string): string { return path.join(this.tasksDir, session); }
  /** Where a task's own git worktree is checked out (outside every checkout of the person's). */
  worktreeDir(session: string): string { return path.join(this.home, 'worktrees', session); }
  recordFile(session: string): string { return path.join(this.taskDir(session), 'task.json'); }
  attemptDir(session: string, n: number): string { return path.join(this.taskDir(session), 'attempts', String(n)); }
}
