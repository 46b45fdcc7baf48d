import type { ChildProcess } from 'node:child_process';
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
 * Node's own spawn, not a library: every tmux call of a pass and of a CLI command goes through
 * here, and loading and running a general-purpose wrapper cost a CLI start more than the call.
 * Settles when the process has exited and its output has closed; a spawn failure (ENOENT) or a
 * process killed by a signal rejects, with the code on the error.
 */
export const defaultExec: Exec = (file, args, env, options = {}) => new Promise<ExecResult>((resolve, reject) => {
  let child: ChildProcess;
  try {
    child = spawn(file, [...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    reject(e);
    return;
  }
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on('data', (d: Buffer) => out.push(d));
  child.stderr?.on('data', (d: Buffer) => err.push(d));
  let timer: NodeJS.Timeout | undefined;
  let settled = false;
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
      child.stdout?.destroy();
      child.stderr?.destroy();
      const e = new Error(`${file} did not answer in ${options.timeoutMs} ms`) as Error & { code?: string };
      e.code = 'ETIMEDOUT';
      reject(e);
    }), options.timeoutMs);
  }
  child.on('error', (e) => settle(() => reject(e)));
  child.on('close', (code, signal) => settle(() => {
    if (code === null) {
      reject(new Error(`${file} was killed by ${signal ?? 'a signal'}`));
      return;
    }
    resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), exitCode: code });
  }));
});

/**
 * Runs one argv with this process's terminal (`attach`) or output (`--on-change`): resolves with
 * its exit code, or rejects when it could not be started (ENOENT) or was killed by a signal.
 */
export function runAttached(file: string, args: readonly string[], env: NodeJS.ProcessEnv, stdin: 'inherit' | 'ignore'): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(file, [...args], { env, stdio: [stdin, 'inherit', 'inherit'] });
    } catch (e) {
      reject(e);
      return;
    }
    child.once('error', reject);
    child.once('close', (code, signal) => (code === null ? reject(new Error(`${file} was killed by ${signal ?? 'a signal'}`)) : resolve(code)));
  });
}
