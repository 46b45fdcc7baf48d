export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Runs one argv. Injected so tests can record calls; the default uses execa without a shell. */
export type Exec = (file: string, args: readonly string[], env: NodeJS.ProcessEnv) => Promise<ExecResult>;

export const defaultExec: Exec = async (file, args, env) => {
  // Loaded on first use: most of a cold start (the CLI, the extension's activation) is not spent on it.
  const { execa } = await import('execa');
  const r = await execa(file, args, { env, extendEnv: false, reject: false, stdin: 'ignore', stripFinalNewline: false });
  if (r.failed && r.exitCode === undefined) {
    const code = (r as unknown as { code?: string }).code;
    const err = new Error(r.message) as Error & { code?: string };
    err.code = code;
    throw err;
  }
  return { stdout: r.stdout ?? '', stderr: r.stderr ?? '', exitCode: r.exitCode ?? 1 };
};
