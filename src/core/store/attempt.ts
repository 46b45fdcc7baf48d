import fs = require('node:fs');
import path = require('node:path');
import { readHead, readTail } from '../platform/files';

/**
 * The files of one attempt's folder. Core writes argv and stdin before the run; the pane runner
 * (./runner.ts) writes the rest, each by rename, so a reader sees a whole file or none.
 */
export const ATTEMPT_FILES = {
  argv: 'argv',
  stdin: 'stdin',
  /** The argv of what shows the events readable in the pane (NUL-separated). */
  render: 'render',
  /** The render hub's lock file, for the runner to tell a live hub from a dead one (./transcripts.ts). */
  hub: 'hub',
  /** A FIFO the runner holds open: the hub writes a line into it once the pane shows the whole run. */
  shown: 'shown',
  /** How far into events.jsonl the pane shows (a restarted hub goes on from there). */
  shownOffset: 'shown-offset',
  pid: 'pid',
  tmux: 'tmux',
  exit: 'exit',
  interrupted: 'interrupted',
  events: 'events.jsonl',
  /** An interactive attempt: the agent's settings holding the hooks (Claude Code's --settings). */
  settings: 'agent-settings.json',
  /** An interactive attempt: what its agent's hooks said last (./hooks.ts). */
  hook: 'hook.json',
  /** An interactive attempt: every hook reading, one JSON line each. */
  hooks: 'hooks.jsonl',
  /** An interactive attempt whose agent serves its events (OpenCode): its loopback port and password (../ops/agentServer.ts). */
  server: 'server.json',
  /** Written right before the follow-up in server.json is sent to the agent's server: it is sent once at most. */
  promptSent: 'prompt-sent',
  /** Environment entries for this attempt's agent only (NUL-separated), after the task's own: its server's password. */
  agentEnv: 'agent-env',
} as const;

export function attemptFile(attemptDir: string, file: keyof typeof ATTEMPT_FILES): string {
  return path.join(attemptDir, ATTEMPT_FILES[file]);
}

/** The runner's pid, once it wrote it. */
export function readRunnerPid(attemptDir: string): number | null {
  try {
    const pid = Number.parseInt(fs.readFileSync(attemptFile(attemptDir, 'pid'), 'utf8'), 10);
    return Number.isFinite(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

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
  const pid = readRunnerPid(attemptDir);
  let exitCode: number | null = null;
  let exitAt: Date | null = null;
  try {
    const file = attemptFile(attemptDir, 'exit');
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
    const n = Number.parseInt(fs.readFileSync(attemptFile(attemptDir, 'tmux'), 'utf8').trim().split(',').at(-2) ?? '', 10);
    serverPid = Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    serverPid = null;
  }
  return { started: pid !== null, pid, exitCode, exitAt, serverPid, interrupted: fs.existsSync(attemptFile(attemptDir, 'interrupted')) };
}

export function eventsFile(attemptDir: string): string {
  return attemptFile(attemptDir, 'events');
}

/** The session id is in the first lines: a few KiB are enough. */
export function eventsHead(attemptDir: string, lines = 50): string[] {
  return readHead(eventsFile(attemptDir), lines, 8 * 1024);
}

export function eventsTail(attemptDir: string, lines = 40, maxBytes = 64 * 1024): string[] {
  return readTail(eventsFile(attemptDir), lines, maxBytes);
}
