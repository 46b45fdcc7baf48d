// Small helpers shared by the parts of the host: its one-line failures and output, external
// commands, polling, and file reads that do not throw.

import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

/** Starts every line the host prints about its own steps. */
export const PREFIX = 'vscode-host:';

/** A failure the user can act on: printed as one line, without a stack. */
export class HostError extends Error {}

export function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

// ---------------------------------------------------------------------------------------------
// External commands: argv arrays, each call logged as `> cmd args [N ms]`.

interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Append stdout and stderr here instead of inheriting them. */
  logFile?: string;
}

export function runCommand(file: string, args: string[], opts: RunOptions = {}): Promise<void> {
  const started = Date.now();
  const fd = opts.logFile ? fs.openSync(opts.logFile, 'a') : undefined;
  if (fd !== undefined) {
    fs.writeSync(fd, `\n> ${file} ${args.join(' ')}\n`);
  }
  return new Promise<void>((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: fd !== undefined ? ['ignore', fd, fd] : 'inherit',
    });
    const done = (err?: Error): void => {
      if (fd !== undefined) {
        fs.closeSync(fd);
      }
      say(`> ${path.basename(file)} ${args.join(' ')} [${Date.now() - started} ms]`);
      if (err) {
        reject(err);
      } else {
        resolve();
      }
    };
    child.once('error', (err) => done(new HostError(`could not run ${file}: ${err.message}`)));
    child.once('exit', (code, signal) =>
      done(code === 0 ? undefined : new HostError(`${path.basename(file)} ${args.join(' ')} exited with ${signal ?? code}`)),
    );
  });
}

// ---------------------------------------------------------------------------------------------
// Small helpers

export async function waitFor(
  what: string,
  condition: () => Promise<boolean>,
  opts: { timeoutMs: number; intervalMs: number; abort?: Promise<string> },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let aborted: string | undefined;
  void opts.abort?.then((why) => (aborted = why));
  for (;;) {
    if (aborted !== undefined) {
      throw new HostError(aborted);
    }
    if (await condition()) {
      return;
    }
    if (Date.now() > deadline) {
      throw new HostError(`timed out after ${opts.timeoutMs} ms waiting for ${what}`);
    }
    await delay(opts.intervalMs);
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

export function tail(file: string, lines: number): string {
  const text = readText(file);
  return text ? text.trimEnd().split('\n').slice(-lines).join('\n') : '(empty or missing)';
}

export function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

export function findFiles(dir: string, match: (name: string) => boolean): string[] {
  const found: string[] = [];
  for (const entry of safeReaddir(dir)) {
    const full = path.join(dir, entry);
    const stat = fs.statSync(full, { throwIfNoEntry: false });
    if (stat?.isDirectory()) {
      found.push(...findFiles(full, match));
    } else if (stat?.isFile() && match(entry)) {
      found.push(full);
    }
  }
  return found;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
