// Small helpers of the benchmarks: timing, figures and their formatting, the log, argv runs.
import { execFile } from 'node:child_process';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const nowMs = () => performance.now();

export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil(q * s.length); // nearest rank
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))];
}
export const median = (xs: readonly number[]) => quantile(xs, 0.5);
export const p95 = (xs: readonly number[]) => quantile(xs, 0.95);
export const ms = (x: number, digits = 1) => (Number.isFinite(x) ? `${x.toFixed(digits)} ms` : 'n/a');
export const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
export const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
export const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a');
export const yes = (ok: boolean) => (ok ? 'met' : '**missed**');

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** Runs an argv to its end; wall time in ms, from spawn to exit. */
export function timeArgv(file: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ ms: number; stdout: string; code: number }> {
  return new Promise((resolve) => {
    const t0 = nowMs();
    execFile(file, args, { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (error, stdout) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : 1) : 0;
      resolve({ ms: nowMs() - t0, stdout, code });
    });
  });
}

/** Runs jobs with at most `limit` at once. */
export async function pool<T>(items: readonly T[], limit: number, job: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await job(items[next++]);
  }));
}
