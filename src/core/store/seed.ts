import fs = require('node:fs');

/**
 * The seed keeps a session id in a file under /tmp, where anyone can put a file first. It is
 * believed only when it is a regular file (not a symlink to something else), owned by this user,
 * writable by nobody else, and holds nothing but an id: else a secret could end up in `list`
 * and in the agent's argv (visible in `ps`).
 */
export function readSeedIdFile(file: string): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch {
    return undefined; // absent, or a symlink (ELOOP)
  }
  try {
    const st = fs.fstatSync(fd);
    const uid = process.getuid?.();
    if (!st.isFile() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o022) !== 0 || st.size > 256) return undefined;
    const id = fs.readFileSync(fd, 'utf8').trim();
    return /^[A-Za-z0-9._:-]{1,200}$/.test(id) ? id : undefined;
  } finally {
    fs.closeSync(fd);
  }
}
