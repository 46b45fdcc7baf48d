import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import * as z from 'zod/mini';
import { ensurePrivateDir, exclusiveCreate } from '../platform/files';
import { RECORD_VERSION } from '../model/record';
import { bootId, pidNamespace, processAlive, processStartTime, processStopped } from '../platform/processes';

const HolderSchema = z.object({
  pid: z.int(),
  host: z.string(),
  /** The holder's start time from /proc, so a reused pid is not taken for the holder. */
  pidStart: z.nullable(z.string()),
  /** The kernel's boot id and the holder's pid namespace: a pid means something only inside both. */
  bootId: z.optional(z.nullable(z.string())),
  pidNs: z.optional(z.nullable(z.string())),
  owner: z.string(),
  acquiredAt: z.string(),
  /**
   * The fencing token: one more than the holder it took the lock over from. A holder checks that
   * the lock still names it (epoch and all) before each action, so one that wakes after being
   * replaced (SIGSTOP, a frozen cgroup, a suspended laptop) acts no more.
   */
  epoch: z.optional(z.int()),
  /** The build that holds it: the record version it writes and its own version. A newer build leads. */
  recordVersion: z.optional(z.int()),
  version: z.optional(z.string()),
});
export type LockHolder = z.infer<typeof HolderSchema>;

/**
 * A lock is a lease: its holder renews it (the file's mtime) while it holds it. A holder whose
 * process this machine cannot see (another host, a container that is gone, a kernel since
 * rebooted) is stale once it has not renewed for this long, whoever wrote it.
 */
export const LEASE_MS = 60_000;
/** How often a long-lived holder (the supervisor) renews its lease. */
export const RENEW_EVERY_MS = 10_000;
/** An unreadable lock this old was left by a writer that died (an older version, a full disk). */
const UNREADABLE_STALE_MS = 5_000;

/** Who this process is, as a lock file names it. */
export function selfIdentity(owner: string, version?: string, epoch = 1): LockHolder {
  return {
    pid: process.pid,
    host: os.hostname(),
    pidStart: processStartTime(process.pid),
    bootId: bootId(),
    pidNs: pidNamespace(),
    owner,
    acquiredAt: new Date().toISOString(),
    epoch,
    recordVersion: RECORD_VERSION,
    ...(version ? { version } : {}),
  };
}

function numbers(v: string): number[] {
  return v.split('.').map((p) => Number.parseInt(p, 10)).map((n) => (Number.isFinite(n) ? n : 0));
}

/** Semver's order: numbers first, then a pre-release (`-beta.2`) before its release; build metadata (`+…`) ignored. */
function compareVersions(a: string | undefined, b: string | undefined): number {
  const [ca, pa] = (a ?? '0').split('+')[0].split(/-(.*)/s);
  const [cb, pb] = (b ?? '0').split('+')[0].split(/-(.*)/s);
  const d = compareNumbers(numbers(ca), numbers(cb));
  if (d !== 0) return d;
  if (pa === undefined || pb === undefined) return pa === pb ? 0 : pa === undefined ? 1 : -1;
  return compareNumbers(numbers(pa), numbers(pb));
}

function compareNumbers(va: number[], vb: number[]): number {
  for (let i = 0; i < Math.max(va.length, vb.length); i++) {
    const d = (va[i] ?? 0) - (vb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Which of two builds is newer: the record version each writes first, then its own version.
 * A holder from before builds said either is the oldest. Positive: `a` is newer.
 */
export function compareBuilds(a: Pick<LockHolder, 'recordVersion' | 'version'>, b: Pick<LockHolder, 'recordVersion' | 'version'>): number {
  const r = (a.recordVersion ?? 0) - (b.recordVersion ?? 0);
  if (r !== 0) return r;
  return compareVersions(a.version, b.version);
}

/**
 * Whether the holder's pid can be looked up here: same host name, same kernel boot and same pid
 * namespace. A record from before boot ids were kept is judged by host name, as it was written.
 */
function visibleHere(h: LockHolder): boolean {
  if (h.host !== os.hostname()) return false;
  if (h.bootId !== undefined && h.bootId !== bootId()) return false;
  if (h.pidNs !== undefined && h.pidNs !== pidNamespace()) return false;
  return true;
}

/**
 * The holder is this very process, or another process identified by pid, start time, boot and
 * pid namespace. Only such a process may be signalled.
 */
export function identified(h: LockHolder): boolean {
  if (!visibleHere(h) || !processAlive(h.pid)) return false;
  if (h.pidStart === null) return true;
  const now = processStartTime(h.pid);
  return now === null || now === h.pidStart;
}

/**
 * Alive: its lease renewed within LEASE_MS, and, where its pid can be looked up, that very process
 * running. A process that exists but is stopped (SIGSTOP, Ctrl-Z) acts on nothing: stale at once,
 * as one that stopped renewing (a frozen cgroup) is once its lease runs out.
 */
export function holderAlive(h: LockHolder, renewedAtMs: number, nowMs = Date.now()): boolean {
  if (nowMs - renewedAtMs >= LEASE_MS) return false;
  if (visibleHere(h)) return identified(h) && !processStopped(h.pid);
  return true;
}

export interface Lock {
  readonly file: string;
  release(): void;
  /** Extends the lease; false when the lock is no longer ours. */
  renew(): boolean;
  /** Whether the lock file is still ours: `unknown` when it could not be read (EIO, EMFILE). */
  check(): 'held' | 'lost' | 'unknown';
  /** The fencing token this holder was given. */
  readonly epoch: number;
}

/** Thrown before an action by a holder that finds its lock taken over: it must act no more. */
export class FencedError extends Error {
  constructor(readonly lock: string) {
    super(`${path.basename(lock)} was taken over by another holder: acting no more`);
  }
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

/**
 * One supervisor acts on a task at a time, across VS Code windows, CLI processes, hosts and
 * containers sharing a state dir. A lock file naming its holder, created whole (a temp file
 * linked into place: a full disk never leaves an empty lock); a holder that is gone is taken over
 * atomically (the stale file is renamed aside, so only one taker can remove it).
 */
export class LockManager {
  private lastSweep = 0;

  /** `version`: this build's own version, written into its locks (a newer build leads). */
  constructor(private readonly locksDir: string, private readonly owner: string, private readonly version?: string) {}

  /** This process as its locks name it. */
  identity(epoch = 1): LockHolder {
    return selfIdentity(this.owner, this.version, epoch);
  }

  /**
   * A taker killed between writing its lock's temp file and removing it (kill -9, the OOM killer)
   * leaves the temp behind: removed here once its writer is gone (or it is a minute old: a writer
   * on another host), never while a creation may be in flight. At most every few seconds.
   */
  private sweepTemps(now = Date.now()): void {
    if (now - this.lastSweep < 5_000) return;
    this.lastSweep = now;
    let names: string[];
    try {
      names = fs.readdirSync(this.locksDir);
    } catch {
      return;
    }
    for (const n of names) {
      const m = /\.lock\.(\d+)\.[0-9a-f]{8}\.tmp$/.exec(n);
      if (!m) continue;
      const file = path.join(this.locksDir, n);
      try {
        const age = now - fs.statSync(file).mtimeMs;
        if (age > 1_000 && (!processAlive(Number(m[1])) || age > 60_000)) fs.rmSync(file, { force: true });
      } catch {
        /* gone meanwhile */
      }
    }
  }

  /** The holder named in the lock file; undefined when there is none or it is unreadable. Throws on I/O errors. */
  readHolder(name: string): LockHolder | undefined {
    return this.read(this.file(name))?.holder;
  }

  /** The holder, if it is alive (identified here, or a lease renewed in time). Throws on I/O errors. */
  liveHolder(name: string): LockHolder | undefined {
    const current = this.read(this.file(name));
    return current?.holder && holderAlive(current.holder, current.mtimeMs) ? current.holder : undefined;
  }

  file(name: string): string {
    return path.join(this.locksDir, `${name}.lock`);
  }

  /**
   * Takes the lock now or returns undefined; never waits. `supersede`: a live holder for which it
   * says true is taken over all the same (an older build, when a newer one starts).
   */
  tryAcquire(name: string, supersede?: (holder: LockHolder) => boolean): Lock | undefined {
    ensurePrivateDir(this.locksDir);
    this.sweepTemps();
    const file = this.file(name);
    let mine = this.create(file, 1);
    if (mine === undefined) {
      const epoch = this.takeOverIfStale(file, supersede);
      if (epoch !== undefined) mine = this.create(file, epoch);
    }
    return mine === undefined ? undefined : this.lockFor(file, mine);
  }

  /**
   * The lock as this process holds it, when its file names this very process (a holder that
   * lost track of its own lock, e.g. after a failed read, takes it back instead of deferring to itself).
   */
  reclaim(name: string): Lock | undefined {
    const file = this.file(name);
    const current = this.read(file);
    const me = this.identity();
    const h = current?.holder;
    if (!h || h.pid !== me.pid || h.pidStart !== me.pidStart || !visibleHere(h)) return undefined;
    return this.lockFor(file, current!.raw);
  }

  /** Waits up to `timeoutMs` for the lock, retrying with short growing pauses. */
  async acquire(name: string, timeoutMs: number): Promise<Lock | undefined> {
    const deadline = Date.now() + timeoutMs;
    let pause = 5;
    for (;;) {
      const lock = this.tryAcquire(name);
      if (lock || Date.now() >= deadline) return lock;
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(pause * 2, 100);
    }
  }

  private read(file: string): { raw: string; holder: LockHolder | undefined; mtimeMs: number; ino: number } | undefined {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (e) {
      if (errno(e) === 'ENOENT') return undefined;
      throw e;
    }
    try {
      const st = fs.fstatSync(fd);
      const raw = fs.readFileSync(fd, 'utf8');
      let holder: LockHolder | undefined;
      try {
        holder = HolderSchema.parse(JSON.parse(raw));
      } catch {
        holder = undefined;
      }
      return { raw, holder, mtimeMs: st.mtimeMs, ino: st.ino };
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Creates the lock file with its whole content (returned), or returns undefined when it exists. */
  private create(file: string, epoch: number): string | undefined {
    const content = JSON.stringify(this.identity(epoch));
    return exclusiveCreate(file, content) ? content : undefined;
  }

  /**
   * A lock as its holder has it. Every holder renews its lease while it holds the lock (a timer,
   * unref'd): a lock held by a process that stopped renewing (stopped, frozen) goes stale with it.
   */
  private lockFor(file: string, mine: string): Lock {
    let released = false;
    let epoch = 1;
    try {
      epoch = (JSON.parse(mine) as { epoch?: number }).epoch ?? 1;
    } catch {
      /* an older holder's content: epoch 1 */
    }
    const check = (): 'held' | 'lost' | 'unknown' => {
      try {
        return fs.readFileSync(file, 'utf8') === mine ? 'held' : 'lost';
      } catch (e) {
        return errno(e) === 'ENOENT' ? 'lost' : 'unknown';
      }
    };
    const renew = (): boolean => {
      if (released) return false;
      const state = check();
      if (state === 'lost') return false;
      try {
        const now = new Date();
        fs.utimesSync(file, now, now);
      } catch {
        /* kept: a transient failure; the lease has seconds left */
      }
      return true;
    };
    const timer = setInterval(() => {
      if (!renew()) clearInterval(timer);
    }, RENEW_EVERY_MS);
    timer.unref?.();
    return {
      file,
      check,
      epoch,
      renew,
      release: () => {
        if (released) return;
        released = true;
        clearInterval(timer);
        // Remove only our own lock: if it was (wrongly) taken over, leave the new holder's alone.
        if (check() === 'held') fs.rmSync(file, { force: true });
      },
    };
  }

  /**
   * Removes a stale lock so that a new one can be created. Takers of one stale file (one inode)
   * first take a guard named after that inode, exclusively: only the guard's holder moves the file,
   * so a fresh lock made meanwhile by someone else is never moved. A guard whose taker died in
   * the middle is superseded by the next numbered one.
   */
  private takeOverIfStale(file: string, supersede?: (holder: LockHolder) => boolean): number | undefined {
    const judged = this.read(file);
    if (judged === undefined) return 1; // released meanwhile
    if (judged.holder) {
      if (holderAlive(judged.holder, judged.mtimeMs) && !supersede?.(judged.holder)) return undefined;
    } else if (!(Date.now() - judged.mtimeMs > UNREADABLE_STALE_MS)) {
      return undefined; // being written by an older version, which creates and then writes
    }
    this.removeOldGuards(file, judged.ino);
    const guard = this.takeGuard(`${file}.takeover.${judged.ino}`);
    if (!guard) return undefined;
    const current = fs.statSync(file, { throwIfNoEntry: false });
    // Never past the largest safe integer: a lock naming more could not be read back (the schema
    // wants an int), and an unreadable lock is taken from its live holder seconds later.
    const next = Math.min((judged.holder?.epoch ?? 1) + 1, Number.MAX_SAFE_INTEGER);
    // The guard goes once the stale file is gone: the next lock file may get the same inode (it
    // was just freed), and a guard left for it held off the next takeover for seconds.
    const done = (epoch: number | undefined) => {
      fs.rmSync(guard, { force: true });
      return epoch;
    };
    if (!current) return done(next);
    // Replaced or renewed meanwhile. A renewal's time may also land in the same millisecond as the
    // look: the content is compared too.
    if (current.ino !== judged.ino || current.mtimeMs !== judged.mtimeMs) return done(undefined);
    fs.rmSync(file, { force: true });
    return done(next);
  }

  private takeGuard(base: string): string | undefined {
    for (let k = 0; ; k++) {
      const guard = `${base}.${k}`;
      if (exclusiveCreate(guard, String(process.pid))) return guard;
      const st = fs.statSync(guard, { throwIfNoEntry: false });
      if (st && Date.now() - st.mtimeMs < UNREADABLE_STALE_MS) return undefined; // another taker is at it
    }
  }

  /** Guards of earlier generations, once nobody can still be acting on them. */
  private removeOldGuards(file: string, currentIno: number): void {
    const prefix = `${path.basename(file)}.takeover.`;
    for (const name of fs.readdirSync(path.dirname(file))) {
      if (!name.startsWith(prefix) || name.startsWith(`${prefix}${currentIno}.`)) continue;
      const guard = path.join(path.dirname(file), name);
      const st = fs.statSync(guard, { throwIfNoEntry: false });
      if (st && Date.now() - st.mtimeMs > LEASE_MS) fs.rmSync(guard, { force: true });
    }
  }
}
