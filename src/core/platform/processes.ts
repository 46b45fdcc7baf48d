import fs = require('node:fs');

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

/**
 * Stopped by a signal (SIGSTOP, Ctrl-Z) or a tracer: alive, but it acts on nothing until it is
 * continued. False where there is no /proc to say.
 */
export function processStopped(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'T' || state === 't';
  } catch {
    return false;
  }
}

/** A process's name as the kernel keeps it (what a program may set itself, 15 bytes at most); null when it is gone. */
export function processName(pid: number): string | null {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').replace(/\n$/, '');
  } catch {
    return null;
  }
}

/** The pid namespace a process lives in (null when it is gone or not ours to look at). */
export function processPidNamespace(pid: number): string | null {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return null;
  }
}

/** Every process whose /proc `file` (NUL-separated fields) passes `test`; none where there is no /proc (macOS). */
function processesWhere(file: 'environ' | 'cmdline', test: (fields: string[]) => boolean): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return out;
  }
  for (const pid of entries) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (test(fs.readFileSync(`/proc/${pid}/${file}`, 'utf8').split('\0'))) out.push(Number(pid));
    } catch {
      /* exited, or not ours to read */
    }
  }
  return out;
}

/** Processes whose environment holds this exact entry. */
export function processesWithEnv(entry: string): number[] {
  return processesWhere('environ', (env) => env.includes(entry));
}

/** Processes whose argv holds `arg` and at least one of `anyOf` (each a whole argument). */
export function processesWithArgs(arg: string, anyOf: readonly string[]): number[] {
  return processesWhere('cmdline', (argv) => argv.includes(arg) && anyOf.some((a) => argv.includes(a)));
}

/**
 * One look at every process's environment, for many entries at once: the processes holding each
 * value of the variable `name` (value -> pids). A pass that resumes many tasks reads /proc once,
 * not once per task (O(processes), not O(tasks x processes)). Empty where there is no /proc.
 */
export function processesByEnv(name: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return out; // no /proc (macOS)
  }
  const prefix = `${name}=`;
  for (const pid of entries) {
    if (!/^\d+$/.test(pid)) continue;
    let environ: string;
    try {
      environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8');
    } catch {
      continue; // exited, or not ours to read
    }
    if (!environ.includes(prefix)) continue;
    for (const e of environ.split('\0')) {
      if (!e.startsWith(prefix)) continue;
      const value = e.slice(prefix.length);
      const pids = out.get(value) ?? [];
      if (!pids.includes(Number(pid))) out.set(value, [...pids, Number(pid)]);
    }
  }
  return out;
}

/**
 * Every process descended from these (children, theirs, ...), by the parent pid in /proc: what a
 * process started with an environment of its own (codex starts its MCP servers with a cleared one)
 * still is. Empty where there is no /proc.
 */
export function descendantsOf(roots: readonly number[]): number[] {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return [];
  }
  for (const pid of entries) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      // The parent is the second field after the command's closing parenthesis.
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(pid)]);
    } catch {
      /* exited meanwhile */
    }
  }
  const out = new Set<number>();
  const todo = [...roots];
  while (todo.length) {
    for (const c of children.get(todo.pop()!) ?? []) {
      if (!out.has(c) && !roots.includes(c)) {
        out.add(c);
        todo.push(c);
      }
    }
  }
  return [...out];
}

/** Whether any process of this process group is still running (a zombie does not count). */
export function groupAlive(pgid: number): boolean {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return false;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // pid (comm) state ppid pgrp …; comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') return true;
  }
  return false;
}

/**
 * The process that listens on a unix socket (a tmux server on its socket), from /proc/net/unix
 * and the processes' open files; null where there is no /proc or no such listener is ours to see.
 */
export function socketListener(socketPath: string): number | null {
  let inode: string | undefined;
  try {
    for (const line of fs.readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // Num RefCount Protocol Flags Type St Inode Path; flags 00010000 is __SO_ACCEPTCON (listening).
      if (f[7] === socketPath && f[3] === '00010000') inode = f[6];
    }
  } catch {
    return null;
  }
  if (!inode) return null;
  const target = `socket:[${inode}]`;
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
        if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === target) return Number(pid);
      }
    } catch {
      /* exited, or not ours to read */
    }
  }
  return null;
}
