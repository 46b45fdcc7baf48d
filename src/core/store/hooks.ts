import fs = require('node:fs');
import type { HookReading, HookState } from '../model/interactive';
import { isHookState } from '../model/interactive';
import { writeFileAtomic } from '../platform/files';
import { attemptFile } from './attempt';

/** What an interactive attempt's hooks said last; undefined before the first (or unreadable). */
export function readHookState(attemptDir: string): HookState | undefined {
  try {
    const parsed: unknown = JSON.parse(fs.readFileSync(attemptFile(attemptDir, 'hook'), 'utf8'));
    return isHookState(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One hook's reading, written where the supervisor reads it: appended to the attempt's hook log,
 * and the attempt's hook file replaced whole (temp file and rename, no fsync: a reboot ends the
 * attempt, and the next has its own). The agent runs its hooks one event after another, but a
 * hook process of its own may still be starting when the next event's begins: a reading older
 * than the one in the file is logged, never put in its place. `changed`: what a supervisor reads
 * of it changed (a tool call's PreToolUse after a prompt's UserPromptSubmit, both "working", did not).
 */
export function recordHook(attemptDir: string, reading: HookReading, event: string, at: number): { state: HookState; changed: boolean } {
  const state: HookState = { ...reading, event, at };
  fs.appendFileSync(attemptFile(attemptDir, 'hooks'), `${JSON.stringify(state)}\n`, { mode: 0o600 });
  const current = readHookState(attemptDir);
  if (current && current.at > at) return { state: current, changed: false };
  writeFileAtomic(attemptFile(attemptDir, 'hook'), `${JSON.stringify(state)}\n`, { durable: false });
  return { state, changed: !current || !sameReading(current, state) };
}

/** What a supervisor reads of a hook state (not which event said it, nor when). */
function sameReading(a: HookReading, b: HookReading): boolean {
  return a.state === b.state && a.reason === b.reason && a.sessionId === b.sessionId && a.byPerson === b.byPerson;
}
