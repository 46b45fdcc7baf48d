import fs = require('node:fs');
import path = require('node:path');
import * as z from 'zod/mini';
import { AGENT_IDS } from '../model/names';
import { UsageSchema } from '../model/record';
import { ensurePrivateDir, writeFileAtomic } from '../platform/files';
import { attemptFile } from './attempt';
import type { StatePaths } from './paths';

/**
 * The panes whose transcript the render hub shows (one Node process per state dir, instead of one
 * per pane). Each attempt started that way has an entry here, written before its pane starts and
 * removed by the hub once the pane has shown the whole run (or the run is gone).
 */

/**
 * The hub's lock (in the locks dir): held by the one live hub of each host sharing the state dir.
 * Only a host's own hub can open its panes (/proc), so each host has one, showing its own entries.
 */
export function hubLock(hostKey: string): string {
  return `render-hub@${hostKey}`;
}

/** The one hub of every host, before hubs were per host (a build of then may still run one). */
export const LEGACY_HUB_LOCK = 'render-hub';

const ENTRY_VERSION = 2;

const EntrySchema = z.object({
  version: z.union([z.literal(1), z.literal(ENTRY_VERSION)]),
  /** The host whose hub shows it (its key); absent in version 1 (shown by the one hub of then). */
  host: z.optional(z.string()),
  attemptDir: z.string(),
  agent: z.enum(AGENT_IDS),
  /** The session's use before this attempt (a resume), as `render --baseline` takes it. */
  baseline: z.optional(UsageSchema),
});
export type TranscriptEntry = z.infer<typeof EntrySchema>;

/** An entry's file: named by the session and the attempt, which no two attempts share. */
export function entryFile(paths: StatePaths, session: string, n: number): string {
  return path.join(paths.transcriptsDir, `${session}.${n}.json`);
}

export function writeEntry(paths: StatePaths, session: string, n: number, entry: Omit<TranscriptEntry, 'version'> & { host: string }): void {
  ensurePrivateDir(paths.transcriptsDir);
  // The hub's entry for a live attempt: a power loss ends the attempt, so no sync to the disk.
  writeFileAtomic(entryFile(paths, session, n), JSON.stringify({ version: ENTRY_VERSION, ...entry }), { durable: false });
}

/** Every entry, by file; an unreadable one (damaged, a newer version) as undefined. */
export function readEntries(paths: StatePaths): Map<string, TranscriptEntry | undefined> {
  const found = new Map<string, TranscriptEntry | undefined>();
  let names: string[];
  try {
    names = fs.readdirSync(paths.transcriptsDir);
  } catch {
    return found;
  }
  for (const name of names) {
    if (!name.endsWith('.json')) continue;
    const file = path.join(paths.transcriptsDir, name);
    try {
      const parsed = EntrySchema.safeParse(JSON.parse(fs.readFileSync(file, 'utf8')));
      found.set(file, parsed.success ? parsed.data : undefined);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') found.set(file, undefined);
    }
  }
  return found;
}

/** Whether this host's hub is the one to show the entry (one of version 1 has no host: any host's). */
export function shownBy(entry: TranscriptEntry, hostKey: string): boolean {
  return entry.host === undefined || entry.host === hostKey;
}

/** Whether any entry is for this host's hub to show. */
export function hasEntries(paths: StatePaths, hostKey: string): boolean {
  try {
    if (!fs.readdirSync(paths.transcriptsDir).some((n) => n.endsWith('.json'))) return false;
  } catch {
    return false;
  }
  return [...readEntries(paths).values()].some((e) => e !== undefined && shownBy(e, hostKey));
}

const OffsetSchema = z.object({ version: z.literal(1), offset: z.int() });

/** How far into the events the pane shows (0 when not said). */
export function readShownOffset(attemptDir: string): number {
  try {
    const parsed = OffsetSchema.safeParse(JSON.parse(fs.readFileSync(attemptFile(attemptDir, 'shownOffset'), 'utf8')));
    return parsed.success && parsed.data.offset > 0 ? parsed.data.offset : 0;
  } catch {
    return 0;
  }
}

/** Whole or not at all (renamed into place), but not synced: written every second a run shows, and only a hint. */
export function writeShownOffset(attemptDir: string, offset: number): void {
  const file = attemptFile(attemptDir, 'shownOffset');
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, JSON.stringify({ version: 1, offset }), { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch {
    fs.rmSync(tmp, { force: true }); // a full disk: a restarted hub shows a little again
  }
}
