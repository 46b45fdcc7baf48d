import { spawn } from 'node:child_process';

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface ExecOptions {
  /** Killed when it has not answered by then; the promise rejects with code ETIMEDOUT. */
  timeoutMs?: number;
}

/** Runs one argv. Injected so tests can record calls; the default spawns it without a shell. */
export type Exec = (file: string, args: readonly string[], env: NodeJS.ProcessEnv, options?: ExecOptions) => Promise<ExecResult>;

/**
 * Node's own spawn, without a shell: one tmux call is a few ms, and a wrapper's own work (execa
 * costs about as much again per call) is on the path from a crash to its resume.
 */
export const defaultExec: Exec = (file, args, env, options = {}) => new Promise<ExecResult>((resolve, reject) => {
  const child = spawn(file, [...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => stdout.push(d));
  child.stderr.on('data', (d: Buffer) => stderr.push(d));
  let settled = false;
  let timer: NodeJS.Timeout | undefined;
  const settle = (then: () => void) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    then();
  };
  if (options.timeoutMs) {
    timer = setTimeout(() => settle(() => {
      // Not waiting for the output to close: a tmux client hands its stdout to the server, so a
      // stopped server keeps it open after the client is gone.
      child.kill('SIGKILL');
      child.stdout.destroy();
      child.stderr.destroy();
      const err = new Error(`${file} did not answer in ${options.timeoutMs} ms`) as Error & { code?: string };
      err.code = 'ETIMEDOUT';
      reject(err);
    }), options.timeoutMs);
  }
  // ENOENT (not installed), EACCES: the error carries its code.
  child.on('error', (e) => settle(() => reject(e)));
  child.on('close', (code) => settle(() => resolve({
    stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8'), exitCode: code ?? 1,
  })));
});
