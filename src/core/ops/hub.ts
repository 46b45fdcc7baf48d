import fs = require('node:fs');
import { adapterFor } from '../agents/registry';
import type { Logger } from '../platform/log';
import { silentLogger } from '../platform/log';
import { ensurePrivateDir } from '../platform/files';
import { attemptFile, eventsFile, readRunnerPid } from '../store/attempt';
import type { Lock, LockManager } from '../store/lock';
import type { StatePaths } from '../store/paths';
import { RUNNER_NAME } from '../store/runner';
import type { TranscriptEntry } from '../store/transcripts';
import { hubLock, LEGACY_HUB_LOCK, readEntries, readShownOffset, shownBy, writeShownOffset } from '../store/transcripts';
import { EventFollower } from './transcript';

/**
 * The render hub: one Node process per state dir shows every running attempt's events readable in
 * its pane, instead of a Node process per pane (tens of MB each). It writes into the pane's own
 * terminal, opened through the runner's standard output (/proc/PID/fd/1, the runner checked by
 * its argv before and after), never by a terminal's name: a name can be reused by another
 * terminal once the pane is gone, an open file cannot. Writes never block: a pane that does not
 * keep up keeps its text pending (and reads no further events meanwhile: the events file is its
 * buffer, and the 4 MB skip-ahead bounds it), so one slow pane never holds up another.
 *
 * It is no supervisor and needs none: started by whatever launches an attempt (and again by the
 * supervisor's passes, should it have died), it leads a session of its own (a pane killed does
 * not take it along), and exits after a while with no attempt to show.
 */

/** With no attempt to show for this long, the hub exits. */
export const HUB_IDLE_MS = 60_000;
/** The safety net under the file watches: entries and runners looked at again this often. */
const RESCAN_MS = 2_000;
/** A pane that cannot take more just now is written to again this soon. */
const RETRY_MS = 50;
/** Once the run is over, what is left is shown within this long, or not at all (as `render`). */
const LAST_READ_MS = 2_000;
/** An entry whose runner never started (its pane could not be made) is dropped after this long. */
const START_MS = 60_000;
/** The shown offset is saved at most this often while a run goes on (a restarted hub repeats at most this much). */
const SAVE_MS = 1_000;

interface Pane {
  file: string;
  entry: TranscriptEntry;
  follower: EventFollower;
  seenAt: number;
  runnerPid: number | null;
  /** The pane's terminal, once opened. */
  fd: number | null;
  /** Nothing to write to (the pane closed, or no /proc to open it through): events are still followed to the end. */
  noSink: boolean;
  /** The terminal is to be opened again no sooner than this (the runner's output was a file for a moment). */
  openAgainAt: number | null;
  pending: Buffer | null;
  /** Once the run is over: the time by which what is left is shown. */
  endBy: number | null;
  /** How far the pane shows, and how far the saved offset says. */
  shown: number;
  saved: number;
  savedAt: number;
  watcher?: fs.FSWatcher;
}

export interface HubOptions {
  paths: StatePaths;
  locks: LockManager;
  /** The host it runs on (its key): it shows that host's panes only, the one hub there. */
  hostKey: string;
  logger?: Logger;
  idleMs?: number;
  now?: () => number;
  /** Told once the hub has decided to exit, before it lets its lock go (a test starts an attempt then). */
  beforeRelease?: () => Promise<void>;
}

/** Whether `pid` is the runner of this attempt (its argv names the folder), where /proc says. */
function isRunner(pid: number, attemptDir: string): boolean {
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv.includes(RUNNER_NAME) && argv.includes(attemptDir);
  } catch {
    return false;
  }
}

export class RenderHub {
  private readonly panes = new Map<string, Pane>();
  private readonly dirty = new Set<Pane>();
  private readonly now: () => number;
  private readonly logger: Logger;
  private wake: (() => void) | undefined;
  private woken = false;
  private rescanAt = 0;
  private stopped = false;

  constructor(private readonly options: HubOptions) {
    this.now = options.now ?? Date.now;
    this.logger = options.logger ?? silentLogger;
  }

  /** Runs until idle (or another hub holds the lock); resolves with why it stopped. */
  async run(): Promise<'idle' | 'taken' | 'stopped'> {
    let lock: Lock | undefined = this.options.locks.tryAcquire(hubLock(this.options.hostKey));
    if (!lock) return 'taken';
    ensurePrivateDir(this.options.paths.transcriptsDir);
    let dirWatch: fs.FSWatcher | undefined;
    try {
      dirWatch = fs.watch(this.options.paths.transcriptsDir, { persistent: false }, () => this.poke(true));
      dirWatch.on('error', () => undefined);
    } catch {
      /* the rescan */
    }
    let idleSince: number | undefined;
    try {
      for (;;) {
        if (this.stopped) return 'stopped';
        // Frozen past its lease and replaced: the other hub shows the panes now.
        const now = this.now();
        const rescan = now >= this.rescanAt;
        if (rescan && lock.check() === 'lost') return 'taken';
        if (rescan) {
          this.rescan(now);
          this.rescanAt = now + RESCAN_MS;
        }
        // Only the panes something happened to (their folder changed, text still to write, a run
        // ending): one agent's burst of events does not make every pane's file read again.
        const due = [...this.panes.values()].filter((p) => rescan || p.pending || p.endBy !== null || p.runnerPid === null || p.openAgainAt !== null || p.shown !== p.saved || this.dirty.has(p));
        this.dirty.clear();
        for (const p of due) {
          try {
            this.step(p, now, rescan);
          } catch (e) {
            this.logger.warn(`${p.entry.attemptDir}: ${(e as Error).message}`);
          }
        }
        if (this.panes.size > 0) {
          idleSince = undefined;
        } else if (idleSince === undefined) {
          idleSince = now;
        } else if (now - idleSince >= (this.options.idleMs ?? HUB_IDLE_MS)) {
          await this.options.beforeRelease?.();
          lock.release();
          // An attempt registered while the hub was deciding to exit would have seen it alive and
          // started none: looked for once more after the lock is gone, and shown by this hub if no
          // new one took the lock meanwhile.
          if (![...readEntries(this.options.paths).values()].some((e) => e !== undefined && shownBy(e, this.options.hostKey))) return 'idle';
          lock = this.options.locks.tryAcquire(hubLock(this.options.hostKey));
          if (!lock) return 'taken';
          idleSince = undefined;
          this.rescanAt = 0;
          continue;
        }
        let until = this.rescanAt;
        for (const p of this.panes.values()) {
          if (p.pending) until = Math.min(until, now + RETRY_MS);
          if (p.openAgainAt !== null) until = Math.min(until, p.openAgainAt);
          if (p.shown !== p.saved) until = Math.min(until, p.savedAt + SAVE_MS);
        }
        await this.sleep(Math.max(10, until - this.now()));
      }
    } finally {
      dirWatch?.close();
      for (const p of this.panes.values()) this.close(p);
      lock?.release();
    }
  }

  stop(): void {
    this.stopped = true;
    this.poke(false);
  }

  private poke(rescan: boolean): void {
    if (rescan) this.rescanAt = 0;
    this.woken = true;
    this.wake?.();
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    }).finally(() => {
      this.wake = undefined;
      this.woken = false;
    });
  }

  /** New entries followed, removed ones dropped. */
  private rescan(now: number): void {
    const entries = readEntries(this.options.paths);
    for (const [file, p] of this.panes) {
      if (!entries.has(file)) this.drop(p);
    }
    // Another host's panes are its own hub's (this one cannot open them, and would take their runs
    // for gone); an entry of before hubs were per host is the old build's hub's while that runs.
    let legacyHub: boolean | undefined;
    const legacyShown = (): boolean => (legacyHub ??= this.legacyHubAlive());
    for (const [file, entry] of entries) {
      if (!entry || this.panes.has(file) || !shownBy(entry, this.options.hostKey)) continue;
      if (entry.host === undefined && legacyShown()) continue;
      if (!fs.existsSync(entry.attemptDir)) {
        fs.rmSync(file, { force: true }); // forgotten with its task
        continue;
      }
      const follower = new EventFollower(eventsFile(entry.attemptDir), adapterFor(entry.agent), entry.baseline, readShownOffset(entry.attemptDir));
      const p: Pane = { file, entry, follower, seenAt: now, runnerPid: null, fd: null, noSink: false, openAgainAt: null, pending: null, endBy: null, shown: follower.offset, saved: follower.offset, savedAt: 0 };
      try {
        // Its events growing, its exit file appearing.
        p.watcher = fs.watch(entry.attemptDir, { persistent: false }, () => {
          this.dirty.add(p);
          this.poke(false);
        });
        p.watcher.on('error', () => undefined);
      } catch {
        /* the rescan */
      }
      this.panes.set(file, p);
    }
  }

  private legacyHubAlive(): boolean {
    try {
      return this.options.locks.liveHolder(LEGACY_HUB_LOCK) !== undefined;
    } catch {
      return true; // unreadable just now: looked at again at the next rescan
    }
  }

  private step(p: Pane, now: number, rescan: boolean): void {
    const dir = p.entry.attemptDir;
    if (p.runnerPid === null) {
      p.runnerPid = readRunnerPid(dir);
      if (p.runnerPid === null) {
        if (now - p.seenAt > START_MS || !fs.existsSync(dir)) this.finish(p);
        return;
      }
    }
    if (p.fd === null && !p.noSink) {
      if (p.openAgainAt !== null && now < p.openAgainAt) return;
      p.openAgainAt = null;
      this.open(p);
      if (p.openAgainAt !== null) return;
    }
    if (p.endBy === null && (fs.existsSync(attemptFile(dir, 'exit')) || (rescan && !isRunner(p.runnerPid, dir)))) p.endBy = now + LAST_READ_MS;
    const over = p.endBy !== null;
    this.flush(p);
    let moved = false;
    if (!p.pending) {
      const before = p.follower.offset;
      const text = p.follower.step(over);
      moved = p.follower.offset !== before || text !== '';
      if (text) p.pending = Buffer.from(text);
      this.flush(p);
    }
    if (!p.pending) p.shown = p.follower.offset;
    // The first change at once, then at most every SAVE_MS (a later look, the rescan at the latest).
    if (p.shown !== p.saved && now - p.savedAt >= SAVE_MS) this.save(p, now);
    if (over && ((!p.pending && !moved) || now >= p.endBy!)) this.finish(p);
    else if (over) this.poke(false);
  }

  /** The pane's terminal, through the runner's standard output, when the runner is this attempt's. */
  private open(p: Pane): void {
    const pid = p.runnerPid!;
    const dir = p.entry.attemptDir;
    if (!isRunner(pid, dir)) {
      p.noSink = true;
      return;
    }
    try {
      const { O_WRONLY, O_NONBLOCK, O_NOCTTY } = fs.constants;
      const fd = fs.openSync(`/proc/${pid}/fd/1`, O_WRONLY | O_NONBLOCK | O_NOCTTY);
      // The runner gone between the look and the open, its pid taken by another process: not its terminal.
      if (!isRunner(pid, dir)) {
        fs.closeSync(fd);
      } else if (fs.fstatSync(fd).isFile()) {
        // Caught while one of its own writes (a builtin's `> file`) had its standard output for a
        // moment: that file, not the pane. Opened again a little later.
        fs.closeSync(fd);
        p.openAgainAt = this.now() + RETRY_MS;
        return;
      } else {
        p.fd = fd;
      }
    } catch {
      /* gone */
    }
    p.noSink = p.fd === null;
  }

  /** Writes what is pending, never waiting: what the pane cannot take now is tried again soon. */
  private flush(p: Pane): void {
    if (!p.pending) return;
    if (p.fd === null) {
      if (p.noSink) p.pending = null;
      return;
    }
    try {
      const n = fs.writeSync(p.fd, p.pending);
      p.pending = n < p.pending.length ? p.pending.subarray(n) : null;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return;
      // EIO: the pane is closed. Nothing more to show there.
      this.closeSink(p);
      p.pending = null;
    }
  }

  private closeSink(p: Pane): void {
    if (p.fd !== null) {
      try {
        fs.closeSync(p.fd);
      } catch {
        /* closed */
      }
    }
    p.fd = null;
    p.noSink = true;
  }

  private save(p: Pane, now: number): void {
    writeShownOffset(p.entry.attemptDir, p.shown);
    p.saved = p.shown;
    p.savedAt = now;
  }

  private close(p: Pane): void {
    p.watcher?.close();
    this.dirty.delete(p);
    this.closeSink(p);
  }

  /** Stops following an entry another hub finished (or removed by hand). */
  private drop(p: Pane): void {
    this.close(p);
    this.panes.delete(p.file);
  }

  /** The run is over and shown: the runner is told (it then ends its pane), and the entry goes. */
  private finish(p: Pane): void {
    this.close(p);
    if (p.runnerPid !== null) {
      this.save(p, this.now());
      try {
        const fd = fs.openSync(attemptFile(p.entry.attemptDir, 'shown'), fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
        try {
          if (fs.fstatSync(fd).isFIFO()) fs.writeSync(fd, 'shown\n');
        } finally {
          fs.closeSync(fd);
        }
      } catch {
        /* no runner holds it: gone, or one that waits for no hub */
      }
    }
    fs.rmSync(p.file, { force: true });
    this.panes.delete(p.file);
  }
}
