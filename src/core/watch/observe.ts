import * as fs from 'node:fs';
import * as path from 'node:path';
import type { PaneInfo } from '../tmux/commands';
import { readHead, readTail } from '../tasks/fsutil';

/** What the runner left in an attempt's folder. */
export interface AttemptFiles {
  /** The runner wrote its pid: the attempt really began. */
  started: boolean;
  pid: number | null;
  exitCode: number | null;
  exitAt: Date | null;
  /** The pid of the tmux server the runner ran in (from its $TMUX), when it said. */
  serverPid: number | null;
  /** The runner saw Ctrl-C (or Ctrl-\\) in its pane: a person stopped the agent. */
  interrupted?: boolean;
}

export function readAttemptFiles(attemptDir: string): AttemptFiles {
  let pid: number | null = null;
  try {
    pid = Number.parseInt(fs.readFileSync(path.join(attemptDir, 'pid'), 'utf8'), 10);
    if (!Number.isFinite(pid)) pid = null;
  } catch {
    pid = null;
  }
  let exitCode: number | null = null;
  let exitAt: Date | null = null;
  try {
    const file = path.join(attemptDir, 'exit');
    const text = fs.readFileSync(file, 'utf8').trim();
    const n = Number.parseInt(text, 10);
    if (Number.isInteger(n)) {
      exitCode = n;
      exitAt = fs.statSync(file).mtime;
    }
  } catch {
    /* not finished */
  }
  let serverPid: number | null = null;
  try {
    // $TMUX is "socket path,server pid,session index".
    const n = Number.parseInt(fs.readFileSync(path.join(attemptDir, 'tmux'), 'utf8').trim().split(',').at(-2) ?? '', 10);
    serverPid = Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    serverPid = null;
  }
  return { started: pid !== null, pid, exitCode, exitAt, serverPid, interrupted: fs.existsSync(path.join(attemptDir, 'interrupted')) };
}

export function eventsFile(attemptDir: string): string {
  return path.join(attemptDir, 'events.jsonl');
}

/** The session id is in the first lines: a few KiB are enough. */
export function eventsHead(attemptDir: string, lines = 50): string[] {
  return readHead(eventsFile(attemptDir), lines, 8 * 1024);
}

export function eventsTail(attemptDir: string, lines = 40, maxBytes = 64 * 1024): string[] {
  return readTail(eventsFile(attemptDir), lines, maxBytes);
}

/** Everything the classifier needs about one task, gathered without deciding anything. */
export interface Observation {
  /** The session's first pane, or undefined when tmux has no such session. */
  pane: PaneInfo | undefined;
  attempt: AttemptFiles;
  /** The last lines of the pane, when they were captured this time. */
  paneTail?: string[];
  /** The first and the last lines of the current attempt's JSON events (the id is early, the end late). */
  eventsHead?: string[];
  eventsTail?: string[];
  /** The pid of the tmux server that holds the tasks now; undefined when none runs. */
  serverPid?: number;
  /** When the pane was first seen dead without its status (ms; the monitor remembers). */
  deadSince?: number;
  /** How many passes in a row saw a prompt for a person (the monitor remembers). */
  waitingStreak?: number;
}
