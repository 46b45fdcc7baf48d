export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface ExecOptions {
  /** Killed when it has not answered by then; the promise rejects with code ETIMEDOUT. */
  timeoutMs?: number;
}

/** Runs one argv. Injected so tests can record calls; the default uses execa without a shell. */
export type Exec = (file: string, args: readonly string[], env: NodeJS.ProcessEnv, options?: ExecOptions) => Promise<ExecResult>;

export const defaultExec: Exec = async (file, args, env, options = {}) => {
  // Loaded on first use: most of a cold start (the CLI, the extension's activation) is not spent on it.
  const { execa } = await import('execa');
  const sub = execa(file, args, { env, extendEnv: false, reject: false, stdin: 'ignore', stripFinalNewline: false });
  let timer: NodeJS.Timeout | undefined;
  const late = options.timeoutMs
    ? new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), options.timeoutMs);
    })
    : undefined;
  const r = await (late ? Promise.race([sub, late]) : sub).finally(() => clearTimeout(timer));
  if (r === 'timeout') {
    // Not execa's own timeout: it waits for the output to close, and a tmux client hands its
    // stdout to the server, so a stopped server keeps it open after the client is gone.
    sub.kill('SIGKILL');
    sub.stdout?.destroy();
    sub.stderr?.destroy();
    sub.catch(() => undefined);
    const err = new Error(`${file} did not answer in ${options.timeoutMs} ms`) as Error & { code?: string };
    err.code = 'ETIMEDOUT';
    throw err;
  }
  if (r.failed && r.exitCode === undefined) {
    const code = (r as unknown as { code?: string }).code;
    const err = new Error(r.message) as Error & { code?: string };
    err.code = code;
    throw err;
  }
  return { stdout: r.stdout ?? '', stderr: r.stderr ?? '', exitCode: r.exitCode ?? 1 };
};
