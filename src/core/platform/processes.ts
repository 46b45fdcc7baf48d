import * as fs from 'node:fs';

/** Facts about processes on this machine, read from /proc where there is one (Linux); each null where not. */

function readOnce<T>(read: () => T): () => T | null {
  let value: T | null | undefined;
  return () => {
    if (value === undefined) {
      try {
        value = read();
      } catch {
        value = null;
      }
    }
    return value;
  };
}

export const bootId = readOnce(() => fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
export const pidNamespace = readOnce(() => fs.readlinkSync('/proc/self/ns/pid'));

export function processStartTime(pid: number): string | null {
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
