import * as fs from 'node:fs';
import * as os from 'node:os';
import * as z from 'zod/mini';
import { ensurePrivateDir } from './fsutil';
import * as path from 'node:path';

const HolderSchema = z.object({
  pid: z.int(),
  host: z.string(),
  /** The holder's start time from /proc, so a reused pid is not taken for the holder. */
  pidStart: z.nullable(z.string()),
  owner: z.string(),
  acquiredAt: z.string(),
});
export type LockHolder = z.infer<typeof HolderSchema>;

/** A takeover guard older than this was left by a process that died in the middle of a takeover. */
const GUARD_STALE_MS = 5_000;

function processStartTime(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime) counted after the command name, which may itself contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

/** A process that exists and is not a zombie (dead, waiting for its parent to reap it). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (macOS): signal 0 is all there is
  }
}

function holderAlive(holder: LockHolder): boolean {
  if (holder.host !== os.hostname()) return true; // cannot tell; never steal across hosts
  if (!processAlive(holder.pid)) return false;
  if (holder.pidStart === null) return true;
  const now = processStartTime(holder.pid);
  return now === null || now === holder.pidStart;
}

export interface Lock {
  readonly file: string;
  release(): void;
}

/**
 * One supervisor acts on a task at a time, across VS Code windows and CLI processes.
 * An exclusive-create lock file naming its holder; a holder that died is taken over,
 * under a short-lived guard so two takers cannot both win.
 */
export class LockManager {
  constructor(private readonly locksDir: string, private readonly owner: string) {}

  private holder(): LockHolder {
    return {
      pid: process.pid,
      host: os.hostname(),
      pidStart: processStartTime(process.pid),
      owner: this.owner,
      acquiredAt: new Date().toISOString(),
    };
  }

  readHolder(name: string): LockHolder | undefined {
    try {
      return HolderSchema.parse(JSON.parse(fs.readFileSync(this.file(name), 'utf8')));
    } catch {
      return undefined;
    }
  }

  file(name: string): string {
    return path.join(this.locksDir, `${name}.lock`);
  }

  /** Takes the lock now or returns undefined; never waits. */
  tryAcquire(name: string): Lock | undefined {
    ensurePrivateDir(this.locksDir);
    const file = this.file(name);
    if (this.create(file)) return this.lockFor(file);
    if (!this.takeOverIfStale(file)) return undefined;
    return this.create(file) ? this.lockFor(file) : undefined;
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

  private create(file: string): boolean {
    let fd: number;
    try {
      fd = fs.openSync(file, 'wx', 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    }
    try {
      fs.writeSync(fd, JSON.stringify(this.holder()));
    } finally {
      fs.closeSync(fd);
    }
    return true;
  }

  private lockFor(file: string): Lock {
    let released = false;
    const mine = fs.readFileSync(file, 'utf8');
    return {
      file,
      release: () => {
        if (released) return;
        released = true;
        // Remove only our own lock: if it was (wrongly) taken over, leave the new holder's alone.
        try {
          if (fs.readFileSync(file, 'utf8') === mine) fs.rmSync(file, { force: true });
        } catch {
          /* already gone */
        }
      },
    };
  }

  private takeOverIfStale(file: string): boolean {
    const raw = (() => {
      try {
        return fs.readFileSync(file, 'utf8');
      } catch {
        return undefined;
      }
    })();
    if (raw === undefined) return true; // released meanwhile
    let holder: LockHolder | undefined;
    try {
      holder = HolderSchema.parse(JSON.parse(raw));
    } catch {
      holder = undefined;
    }
    if (holder && holderAlive(holder)) return false;
    if (!holder) {
      // Unreadable: a holder died between create and write, or it is being written right now.
      const age = Date.now() - fs.statSync(file, { throwIfNoEntry: false })!.mtimeMs;
      if (!(age > GUARD_STALE_MS)) return false;
    }
    const guard = `${file}.takeover`;
    try {
      const st = fs.statSync(guard);
      if (Date.now() - st.mtimeMs > GUARD_STALE_MS) fs.rmSync(guard, { force: true });
    } catch {
      /* no guard */
    }
    if (!this.create(guard)) return false;
    try {
      // Under the guard, remove the lock only if it is still the stale one we judged.
      let current: string | undefined;
      try {
        current = fs.readFileSync(file, 'utf8');
      } catch {
        current = undefined;
      }
      if (current === raw) fs.rmSync(file, { force: true });
      return current === raw || current === undefined;
    } finally {
      fs.rmSync(guard, { force: true });
    }
  }
}
