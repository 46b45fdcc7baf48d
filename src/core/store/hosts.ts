import fs = require('node:fs');
import path = require('node:path');
import * as z from 'zod/mini';
import { TaskError, UsageError } from '../model/errors';
import { readFileIfExists, writeFileAtomic } from '../platform/files';

/** The machine this command runs on: always a host, never in the registry. */
export const LOCAL_HOST = 'local';

export const HOSTS_VERSION = 1;

const HostSchema = z.object({
  name: z.string(),
  /** Anything `ssh` takes as its destination: an alias of ~/.ssh/config, user@host, ssh://user@host:port. */
  target: z.string(),
  addedAt: z.string(),
});
export type Host = z.infer<typeof HostSchema>;

const HostsFileSchema = z.object({ version: z.literal(HOSTS_VERSION), hosts: z.array(HostSchema) });

/** A host's last answer to `list`: shown, with when, while it cannot be reached. */
const SeenSchema = z.object({
  version: z.literal(HOSTS_VERSION),
  at: z.string(),
  tasks: z.array(z.record(z.string(), z.unknown())),
  /** The last failure since that answer, if any. */
  failedAt: z.optional(z.string()),
  error: z.optional(z.string()),
  /** Where the host keeps its list ready (its answer said so): read with cat while fresh. */
  snapshot: z.optional(z.object({ hostKey: z.string(), home: z.string() })),
});
export type Seen = z.infer<typeof SeenSchema>;

const HOST_NAME = /^[a-z0-9][a-z0-9_-]*$/;

export function hostNameProblem(name: string): string | undefined {
  if (!name) return 'a host name is required';
  if (name.length > 64) return `a host name has at most 64 characters (this one has ${name.length})`;
  if (!HOST_NAME.test(name)) return `a host name uses only lowercase letters, digits, "-" and "_", and starts with a letter or digit (not "${name}")`;
  return undefined;
}

export function targetProblem(target: string): string | undefined {
  if (!target) return 'an ssh target is required (an alias of ~/.ssh/config, user@host, or ssh://user@host:port)';
  if (target.startsWith('-')) return `an ssh target cannot start with "-" ("${target}" would be read by ssh as an option)`;
  // eslint-disable-next-line no-control-regex
  if (/[\s\x00-\x1f\x7f]/.test(target)) return `an ssh target has no spaces or control characters ("${JSON.stringify(target).slice(1, -1)}")`;
  if (target.length > 255) return 'an ssh target has at most 255 characters';
  return undefined;
}

/** The registry of hosts (`hosts.json`) and each host's last answer (`hosts/NAME.json`). */
export class HostRegistry {
  constructor(readonly home: string) {}

  get file(): string { return path.join(this.home, 'hosts.json'); }
  private seenFile(name: string): string { return path.join(this.home, 'hosts', `${name}.json`); }

  /** The registered hosts (not local), in the order added. */
  list(): Host[] {
    const text = readFileIfExists(this.file);
    if (text === undefined) return [];
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new TaskError(`${this.file} is not JSON (${(e as Error).message}); fix or remove it`);
    }
    const version = (json as { version?: unknown })?.version;
    if (typeof version === 'number' && version > HOSTS_VERSION) {
      throw new TaskError(`${this.file} was written by a newer resilient-agent (version ${version}); update this one`);
    }
    const parsed = HostsFileSchema.safeParse(json);
    if (!parsed.success) throw new TaskError(`${this.file} is not a hosts file this version reads; fix or remove it`);
    return parsed.data.hosts;
  }

  get(name: string): Host {
    const problem = hostNameProblem(name);
    if (problem) throw new UsageError(problem);
    const host = this.list().find((h) => h.name === name);
    if (!host) {
      throw new UsageError(`no host named "${name}" (${[LOCAL_HOST, ...this.list().map((h) => h.name)].join(', ')}; add one: resilient-agent hosts add NAME SSH_TARGET)`);
    }
    return host;
  }

  add(name: string, target: string, now = new Date()): Host {
    if (name === LOCAL_HOST) throw new UsageError('"local" is this machine, always a host: it cannot be added');
    const problem = hostNameProblem(name) ?? targetProblem(target);
    if (problem) throw new UsageError(problem);
    const hosts = this.list();
    if (hosts.some((h) => h.name === name)) throw new UsageError(`a host named "${name}" exists already (${hosts.find((h) => h.name === name)!.target}); remove it first`);
    const host = { name, target, addedAt: now.toISOString() };
    this.write([...hosts, host]);
    return host;
  }

  remove(name: string): Host {
    if (name === LOCAL_HOST) throw new UsageError('"local" is this machine, always a host: it cannot be removed');
    const host = this.get(name);
    this.write(this.list().filter((h) => h.name !== name));
    fs.rmSync(this.seenFile(name), { force: true });
    return host;
  }

  private write(hosts: Host[]): void {
    writeFileAtomic(this.file, `${JSON.stringify({ version: HOSTS_VERSION, hosts }, null, 2)}\n`);
  }

  /** The host's last answer; undefined when none was kept (or it cannot be read). */
  seen(name: string): Seen | undefined {
    const text = readFileIfExists(this.seenFile(name));
    if (text === undefined) return undefined;
    try {
      const parsed = SeenSchema.safeParse(JSON.parse(text));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  /** Keeps a host's answer (at once replacing the last). */
  remember(name: string, tasks: Record<string, unknown>[], now = new Date(), snapshot?: Seen['snapshot']): void {
    // Whole or absent, never synced: a view to show while the host is away, asked again on its return
    // (an fsync per host per list held every other host's answer up).
    writeFileAtomic(this.seenFile(name), JSON.stringify({ version: HOSTS_VERSION, at: now.toISOString(), tasks, ...(snapshot ? { snapshot } : {}) }), { durable: false });
  }

  /** Notes a failure beside the last answer kept. */
  failed(name: string, error: string, now = new Date()): Seen | undefined {
    const seen = this.seen(name);
    const next = { version: HOSTS_VERSION, at: seen?.at ?? '', tasks: seen?.tasks ?? [], failedAt: now.toISOString(), error, ...(seen?.snapshot ? { snapshot: seen.snapshot } : {}) };
    try {
      writeFileAtomic(this.seenFile(name), JSON.stringify(next));
    } catch {
      /* the view goes on without the note */
    }
    return seen && { ...seen, failedAt: next.failedAt, error };
  }
}
