import fs = require('node:fs');
import path = require('node:path');

/** The environment entry naming a file read instead of /proc/meminfo (tests make memory scarce with it). */
export const MEMINFO_ENV = 'RESILIENT_AGENT_MEMINFO';

export interface FreeMemory {
  /** Bytes a new process can still take: MemAvailable, or less where this process's cgroup has a limit. */
  bytes: number;
  /** Where the figure came from, for messages: `MemAvailable` or the cgroup's path. */
  source: string;
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** MemAvailable of a meminfo file, in bytes. */
export function memAvailable(text: string): number | undefined {
  const m = /^MemAvailable:\s+(\d+)\s*kB/m.exec(text);
  return m ? Number(m[1]) * 1024 : undefined;
}

/**
 * What is left under this process's cgroup (v2) limits: the least of `memory.max - memory.current`
 * over its cgroup and every parent that sets a limit. Undefined where none does (or no cgroup v2).
 */
function cgroupRoom(): { bytes: number; source: string } | undefined {
  const self = readText('/proc/self/cgroup');
  const rel = self && /^0::(\/.*)$/m.exec(self)?.[1];
  if (!rel) return undefined;
  let best: { bytes: number; source: string } | undefined;
  for (let dir = rel; ; dir = path.posix.dirname(dir)) {
    const base = path.posix.join('/sys/fs/cgroup', dir);
    const max = readText(path.join(base, 'memory.max'))?.trim();
    const current = Number(readText(path.join(base, 'memory.current'))?.trim());
    if (max && max !== 'max' && Number.isFinite(Number(max)) && Number.isFinite(current)) {
      const room = Math.max(0, Number(max) - current);
      if (!best || room < best.bytes) best = { bytes: room, source: `cgroup ${dir}` };
    }
    if (dir === '/') break;
  }
  return best;
}

/** The machine's free memory as admission sees it; undefined when it cannot be read (then it does not hold a start back). */
export function freeMemory(env: NodeJS.ProcessEnv = process.env): FreeMemory | undefined {
  const fake = env[MEMINFO_ENV];
  const text = readText(fake || '/proc/meminfo');
  const avail = text === undefined ? undefined : memAvailable(text);
  if (fake) return avail === undefined ? undefined : { bytes: avail, source: 'MemAvailable' };
  const cg = cgroupRoom();
  if (avail === undefined) return cg;
  return cg && cg.bytes < avail ? cg : { bytes: avail, source: 'MemAvailable' };
}

/** 1.1 GB, 512 MB: how a person reads an amount of memory. */
export function memoryText(bytes: number): string {
  const mb = bytes / (1024 * 1024);
  return mb >= 1024 ? `${(mb / 1024).toFixed(1)} GB` : `${Math.round(mb)} MB`;
}
