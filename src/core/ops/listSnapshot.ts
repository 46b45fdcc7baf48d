import fs = require('node:fs');
import path = require('node:path');
import { CONTRACT, envelope } from '../model/contract';
import { statusJson } from '../model/taskJson';
import { ensurePrivateDir } from '../platform/files';
import { SNAPSHOT_DIR } from '../store/paths';
import { CHANGED_FILE } from '../store/store';
import type { Core } from './core';
import { views } from './observe';

/**
 * A host's list, kept ready for `list` over ssh (ops/remote.ts): answered by `cat` of a file
 * instead of a Node start per question. Its supervisor writes it (after each pass and every
 * `REFRESH_MS`) while someone asked for it within `WANTED_MS`; it is served only while it is
 * trustworthy, judged on the host by the shell's own \`test\` (no process started but \`cat\`), against
 * the time of the question's own mark (\`wanted\`, touched just before: the disk's "now"):
 * - written after the last change of any record (the store touches \`tasks/.changed\` with each);
 * - within \`FRESH_SECONDS\`: its \`.until\` file is dated that long after it (a supervisor that died, or
 *   stopped, stops renewing it, and the question's mark passes that date);
 * - not dated after the question (a clock set back since would keep it young), and no earlier
 *   question's mark past its \`.until\` (one that found it expired: a clock set back by less than its
 *   age would make it look fresh again); the store dates its record change mark after the snapshots
 *   folder's last change for the same reason.
 * Otherwise the host's CLI answers as before. Its file's time is when its view began (by the host's
 * clock or the disk's, the earlier), less a margin for the coarse clock of file times: a record
 * written while it was being made makes it stale.
 */
export const FRESH_SECONDS = 6;
const REFRESH_MS = 2_000;
const WANTED_MS = 5 * 60_000;
const CLOCK_MARGIN_MS = 50;

/** Touched by each question over ssh (and each answer of the CLI there): the supervisor keeps a snapshot while it is. */
export function wantedFile(home: string): string {
  return path.join(home, SNAPSHOT_DIR, 'wanted');
}

/** Where a host keeps its snapshot: a state dir shared by hosts has one per host, and per contract. */
export function snapshotFile(home: string, hostKey: string, contract = CONTRACT): string {
  return path.join(home, SNAPSHOT_DIR, `list@${hostKey}.c${contract}.json`);
}

/** Beside a snapshot: an empty file whose time says until when it is fresh. */
export function untilFile(snapshot: string): string {
  return `${snapshot}.until`;
}

/** Someone asks this host for its list: keep a snapshot of it for a while. Best effort. */
export function markWanted(home: string): void {
  try {
    ensurePrivateDir(path.join(home, SNAPSHOT_DIR));
    fs.writeFileSync(wantedFile(home), '', { mode: 0o600 });
  } catch {
    /* no snapshot: the CLI answers */
  }
}

function wanted(home: string, now: number): boolean {
  let at: number | undefined;
  try {
    at = fs.statSync(wantedFile(home), { throwIfNoEntry: false })?.mtimeMs;
  } catch {
    // EIO, ESTALE (a shared disk), EACCES, ELOOP: no snapshot (the CLI answers), never a throw into the supervisor's pass or timer.
    return false;
  }
  return at !== undefined && now - at < WANTED_MS;
}

/** The answer `resilient-agent --contract N list --host local --json` gives, as one envelope. */
export function listEnvelope(version: string | undefined, tasks: unknown[], hostKey: string, home: string): string {
  return envelope(version, true, { result: tasks }, { snapshot: { hostKey, home } });
}

/** The supervisor's side: writes the snapshot after its passes and on a timer, while it leads and it is wanted. */
export class ListSnapshot {
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;

  constructor(private readonly core: Core, private readonly leads: () => boolean) {}

  start(): void {
    this.timer ??= setInterval(() => void this.keep(), REFRESH_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Writes it now if it is wanted (one write at a time; a call during one is served by it). */
  keep(): Promise<void> {
    if (this.writing) return this.writing;
    const home = this.core.store.paths.home;
    if (!this.leads() || !wanted(home, Date.now())) return Promise.resolve();
    this.writing = this.write(home).finally(() => (this.writing = undefined));
    return this.writing;
  }

  private async write(home: string): Promise<void> {
    const file = snapshotFile(home, this.core.host.key);
    const tmp = `${file}.${process.pid}.tmp`;
    const changedFile = path.join(this.core.store.paths.tasksDir, CHANGED_FILE);
    const lastChange = () => fs.statSync(changedFile, { throwIfNoEntry: false })?.mtimeMs ?? 0;
    try {
      // A record written just now (this pass's own) would make it stale at once: begin past the margin.
      const wait = lastChange() + 2 * CLOCK_MARGIN_MS - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, Math.min(wait, 2 * CLOCK_MARGIN_MS)));
      ensurePrivateDir(path.dirname(file));
      // Timed by the disk's clock too, the earlier of the two: on a state dir shared over the network
      // the server's clock times every record's mark, and a host clock ahead of it would date the
      // snapshot after a change its view missed.
      const probe = path.join(path.dirname(file), `clock@${this.core.host.key}`);
      fs.writeFileSync(probe, `${process.pid}\n`, { mode: 0o600 });
      const stamp = new Date(Math.min(Date.now(), fs.statSync(probe).mtimeMs) - CLOCK_MARGIN_MS);
      const { views: all } = await views(this.core);
      fs.writeFileSync(tmp, listEnvelope(this.core.locks.identity().version, all.map(statusJson), this.core.host.key, home), { mode: 0o600 });
      // Its time is set before it takes the name: never, even for a moment, newer than what it shows.
      fs.utimesSync(tmp, stamp, stamp);
      // The earlier .until goes first: its date is not always earlier than this one's (the clock set
      // back since), and a supervisor dying before it dates the new one would leave this snapshot
      // fresh until then. With none, the CLI answers meanwhile.
      const until = untilFile(file);
      fs.rmSync(until, { force: true });
      // A question's mark past the new .until date keeps it expired (ops/remote.ts): one dated ahead
      // of the clock (set forward, then back) is dated now, or no snapshot would be served till the
      // clock passed it. This one is new: a stopped supervisor's is what that rule keeps expired.
      const mark = wantedFile(home);
      if ((fs.statSync(mark, { throwIfNoEntry: false })?.mtimeMs ?? 0) > Date.now() + 1000) fs.utimesSync(mark, new Date(), new Date());
      fs.renameSync(tmp, file);
      // Then fresh until FRESH_SECONDS after its view began.
      fs.closeSync(fs.openSync(until, 'a', 0o600));
      const end = new Date(stamp.getTime() + FRESH_SECONDS * 1000);
      fs.utimesSync(until, end, end);
    } catch (e) {
      // Never one left behind that could be served stale (one that cannot be removed either, on a
      // read-only or failing disk, is served no more 6 s on). Never a throw: the supervisor's pass and timer call this uncaught.
      for (const f of [tmp, file, untilFile(file)]) {
        try {
          fs.rmSync(f, { force: true });
        } catch {
          /* see above */
        }
      }
      this.core.logger.debug(`the list snapshot was not written: ${(e as Error).message}`);
    }
  }
}
