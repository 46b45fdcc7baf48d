import fs = require('node:fs');
import path = require('node:path');
import { randomBytes } from 'node:crypto';

/** State files hold prompts and transcripts: folders 0700, files 0600. */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/**
 * Temp file + fsync + rename: a reader sees the old content or the new, never half. `durable`
 * false skips the fsync (still whole or absent for every reader): for files nothing reads again
 * after a power loss, such as an attempt's inputs (a reboot ends the attempt; the next has its own).
 */
export function writeFileAtomic(file: string, data: string | Buffer, options: { durable?: boolean } = {}): void {
  const { tmp, fd } = openTemp(file);
  settle(file, tmp, fd, () => {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    if (options.durable !== false) fs.fsyncSync(fd);
  });
}

/**
 * writeFileAtomic whose fsync does not block the event loop: several writers under way at once (a
 * pass launching many tasks) have their fsyncs overlap, and the file system commits them together.
 * Only the fsync leaves the loop: each step that does costs a wait for the loop to run again,
 * long on a machine busy with the agents just started.
 */
export async function writeFileAtomicAsync(file: string, data: string | Buffer): Promise<void> {
  const { tmp, fd } = openTemp(file);
  let failed: unknown;
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    await new Promise<void>((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve())));
  } catch (e) {
    failed = e ?? new Error('write failed');
  }
  settle(file, tmp, fd, () => {
    if (failed !== undefined) throw failed;
  });
}

/** A private temp file beside `file`, open for writing. */
function openTemp(file: string): { tmp: string; fd: number } {
  ensurePrivateDir(path.dirname(file));
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    return { tmp, fd: fs.openSync(tmp, 'w', 0o600) };
  } catch (e) {
    throw namedError(e, file);
  }
}

/** Writes (by `write`), closes and renames the temp file into place; on any failure removes it. */
function settle(file: string, tmp: string, fd: number, write: () => void): void {
  try {
    try {
      write();
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    // A full disk (ENOSPC) or a quota: nothing half-written stays behind.
    fs.rmSync(tmp, { force: true });
    throw namedError(e, file);
  }
}

/** Node's write errors name no file ("ENOSPC: no space left on device, write"): say which. */
export function namedError(e: unknown, file: string): unknown {
  const err = e as NodeJS.ErrnoException;
  if (!err?.code || err.message.includes(file)) return e;
  const named = new Error(`cannot write ${file}: ${err.message}`) as NodeJS.ErrnoException;
  named.code = err.code;
  named.errno = err.errno;
  named.syscall = err.syscall;
  named.path = file;
  return named;
}

export function readFileIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** A file opened for reading; undefined when it does not exist. */
function openIfExists(file: string): number | undefined {
  try {
    return fs.openSync(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Reads up to `maxBytes` of a file from its start or its end: the bytes, and the file's size. [] when absent. */
function readSlice(file: string, maxBytes: number, from: 'start' | 'end'): { text: string; cut: boolean } | undefined {
  const fd = openIfExists(file);
  if (fd === undefined) return undefined;
  try {
    const size = fs.fstatSync(fd).size;
    if (size === 0) return undefined;
    const length = Math.min(size, maxBytes);
    const buf = Buffer.alloc(length);
    const n = fs.readSync(fd, buf, 0, length, from === 'end' ? size - length : 0);
    return { text: buf.subarray(0, n).toString('utf8'), cut: length < size };
  } finally {
    fs.closeSync(fd);
  }
}

/** The last `maxLines` lines of a file, reading at most `maxBytes` from its end. */
export function readTail(file: string, maxLines: number, maxBytes = 64 * 1024): string[] {
  const slice = readSlice(file, maxBytes, 'end');
  if (!slice) return [];
  const lines = slice.text.split('\n');
  if (slice.cut) lines.shift(); // the first line read is only the end of one
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines.slice(-maxLines);
}

/** The first `maxLines` lines of a file, reading at most `maxBytes`. */
export function readHead(file: string, maxLines: number, maxBytes = 64 * 1024): string[] {
  const slice = readSlice(file, maxBytes, 'start');
  if (!slice) return [];
  return slice.text.split('\n').slice(0, maxLines).filter((l) => l !== '');
}

/**
 * The whole lines of a file from byte `offset` on, read in chunks, and the offset after the last
 * one. `andRest`: a last line without its newline counts too (the file is finished). A line longer
 * than `maxLine` bytes is skipped whole (nothing a person reads is that long). `maxBytes`: read no
 * further than this many bytes on (a file growing fast while it is read is not followed to its end).
 */
export function readLinesFrom(file: string, offset: number, andRest = false, maxLine = 8 * 1024 * 1024, maxBytes = Infinity): { lines: string[]; next: number; ino: number } | undefined {
  const lines: string[] = [];
  const read = eachLineFrom(file, offset, (l) => lines.push(l), andRest, maxLine, undefined, maxBytes);
  return read && { lines, ...read };
}

/**
 * As readLinesFrom, each line handed to `each` as it is read, none kept: a file of any size in
 * little memory. `reset`: told before the first line when `offset` was past the end (the file was
 * truncated or replaced), so the lines come from its start.
 */
export function eachLineFrom(file: string, offset: number, each: (line: string) => void, andRest = false, maxLine = 8 * 1024 * 1024, reset?: () => void, maxBytes = Infinity): { next: number; ino: number } | undefined {
  const fd = openIfExists(file);
  if (fd === undefined) return undefined;
  try {
    const st = fs.fstatSync(fd);
    if (offset > st.size) reset?.();
    let pos = offset > st.size ? 0 : offset;
    const end = pos + maxBytes;
    let carry: Buffer[] = [];
    let carried = 0;
    let start = pos;
    let atEnd = false;
    // As large as what is left to read (a short events file, the common case, costs no megabyte), at most 1 MiB; never zeroed.
    const chunk = Buffer.allocUnsafe(Math.min(1024 * 1024, Math.max(64 * 1024, st.size - pos)));
    for (;;) {
      const want = Math.min(chunk.length, end - pos);
      const n = want > 0 ? fs.readSync(fd, chunk, 0, want, pos) : 0;
      if (n === 0) {
        // The file's end, or as far as it went when it was opened.
        atEnd = want > 0 || pos >= st.size;
        break;
      }
      let from = 0;
      // Only what was read is searched (past it: the last read's bytes, or none).
      const read = chunk.subarray(0, n);
      for (let i = read.indexOf(10, 0); i !== -1; i = read.indexOf(10, i + 1)) {
        if (carried + (i - from) <= maxLine) each(Buffer.concat([...carry, read.subarray(from, i)]).toString('utf8'));
        carry = [];
        carried = 0;
        from = i + 1;
        start = pos + from;
      }
      if (n - from > 0) {
        carried += n - from;
        if (carried <= maxLine) carry.push(Buffer.from(chunk.subarray(from, n)));
      }
      pos += n;
    }
    // Stopped at `maxBytes`, the line read last may go on past it: it is read next time.
    if (andRest && atEnd && carried > 0 && carried <= maxLine) {
      each(Buffer.concat(carry).toString('utf8'));
      start = pos;
    }
    return { next: start, ino: st.ino };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A file's last lines, read backwards from its end only as far as they are needed: a window of
 * `first` bytes, four times larger each time `enough` says its lines were too few, up to `max`.
 * `enough` is given each window's whole lines in order (the first, cut by the window, left out)
 * and whether the window holds the whole file. The file's size at the first look bounds every
 * window: lines written meanwhile wait for the next read. False when the file does not exist.
 */
export function linesFromEnd(file: string, enough: (lines: string[], whole: boolean) => boolean, first = 64 * 1024, max = 32 * 1024 * 1024): boolean {
  const size = fs.statSync(file, { throwIfNoEntry: false })?.size;
  if (size === undefined) return false;
  for (let window = Math.min(first, max); ; window = Math.min(window * 4, max)) {
    const from = Math.max(0, size - window);
    const lines: string[] = [];
    // The byte before the window is read too: a window starting just after a newline loses no line.
    const read = eachLineFrom(file, Math.max(0, from - 1), (l) => lines.push(l), true, undefined, undefined, size - Math.max(0, from - 1));
    if (!read) return false;
    if (from > 0) lines.shift();
    if (enough(lines, from === 0) || from === 0 || window >= max) return true;
  }
}

/**
 * Creates `file` holding `content` only if it does not exist, and never half-written: the content
 * goes to a temp file first, linked into place (a full disk fails before the lock exists).
 */
export function exclusiveCreate(file: string, content: string): boolean {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    try {
      fs.writeFileSync(tmp, content, { mode: 0o600, flag: 'wx' });
    } catch (e) {
      throw namedError(e, file);
    }
    try {
      fs.linkSync(tmp, file);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw e;
    }
    return createInPlace(file, content); // a file system without hard links
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

function createInPlace(file: string, content: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    fs.writeSync(fd, content);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
    throw namedError(e, file);
  }
  fs.closeSync(fd);
  return true;
}
