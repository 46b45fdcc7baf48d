import * as fs from 'node:fs';
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
 * than the one in the file is logged, never put in its place.
 */
export function recordHook(attemptDir: string, reading: HookReading, event: string, at: number): HookState {
  const state: HookState = { ...reading, event, at };
  fs.appendFileSync(attemptFile(attemptDir, 'hooks'), `${JSON.stringify(state)}\n`, { mode: 0o600 });
  const current = readHookState(attemptDir);
  if (current && current.at > at) return current;
  writeFileAtomic(attemptFile(attemptDir, 'hook'), `${JSON.stringify(state)}\n`, { durable: false });
  return state;
}
