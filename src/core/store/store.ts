import fs = require('node:fs');
import path = require('node:path');
import { randomBytes } from 'node:crypto';
import { StatePaths } from './paths';
import { ensurePrivateDir, readFileIfExists, writeFileAtomic, writeFileAtomicAsync } from '../platform/files';
import { attemptFile, readAttemptFiles } from './attempt';
import { OLDEST_READABLE_VERSION, RECORD_VERSION, TaskRecord, TaskRecordSchema } from '../model/record';

export type ReadResult =
  | { kind: 'ok'; record: TaskRecord }
  | { kind: 'missing' }
  /** Not a record this or any version can read: kept aside for a person. */
  | { kind: 'corrupt'; problem: string }
  /** Written by a newer version: left exactly as it is, and shown as such. */
  | { kind: 'newer'; version: number }
  /** Could not be read just now (EIO, EMFILE, EACCES): not corruption; read again next time. */
  | { kind: 'unreadable'; problem: string };

/** A task whose record a newer resilient-agent wrote. */
export interface NewerRecord {
  session: string;
  version: number;
}

export interface CorruptRecord {
  session: string;
  problem: string;
  /** Where the unreadable file was kept aside, if it was moved. */
  keptAt?: string;
}

/** The copy of a task's record beside its current attempt's files. */
export const RECORD_COPY = 'task.json';

/** In a task folder: the copy beside its latest attempt is older than its record (it could not be written). */
export const STALE_COPY = 'copy-stale';

/** Rewritten after each record write, so that one folder watch sees every change. */
export const CHANGED_FILE = '.changed';

/** One record per task, `<home>/tasks/<session>/task.json`, versioned and written atomically. */
export class TaskStore {
  readonly paths: StatePaths;

  constructor(home: string) {
    this.paths = new StatePaths(home);
  }

  init(): void {
    ensurePrivateDir(this.paths.home);
    ensurePrivateDir(this.paths.tasksDir);
    ensurePrivateDir(this.paths.locksDir);
  }

  read(session: string): ReadResult {
    let text: string | undefined;
    try {
      text = readFileIfExists(this.paths.recordFile(session));
    } catch (e) {
      return { kind: 'unreadable', problem: (e as Error).message };
    }
    if (text === undefined) return { kind: 'missing' };
    return parseRecord(text);
  }

  get(session: string): TaskRecord | undefined {
    const r = this.read(session);
    return r.kind === 'ok' ? r.record : undefined;
  }

  exists(session: string): boolean {
    return fs.existsSync(this.paths.taskDir(session));
  }

  write(record: TaskRecord): void {
    const valid = TaskRecordSchema.parse(record);
    const text = JSON.stringify(valid, null, 2) + '\n';
    // The copy first: one that is newer than the record (this process dies in between, or the
    // record cannot be written) errs towards what the writer meant (a kill is kept); one older
    // than the record could revive a task the user stopped, so it is never left standing.
    const copy = this.copyFile(valid);
    let copied = true;
    if (copy) {
      try {
        writeFileAtomic(copy, text);
        this.copyWritten(valid);
      } catch {
        copied = false;
      }
    }
    writeFileAtomic(this.paths.recordFile(record.session), text);
    this.written(valid, copied);
  }

  /** write, without blocking the event loop: the launches of one pass overlap their fsyncs. Same order, same guarantees. */
  async writeAsync(record: TaskRecord): Promise<void> {
    const valid = TaskRecordSchema.parse(record);
    const text = JSON.stringify(valid, null, 2) + '\n';
    const copy = this.copyFile(valid);
    let copied = true;
    if (copy) {
      try {
        await writeFileAtomicAsync(copy, text);
        this.copyWritten(valid);
      } catch {
        copied = false;
      }
    }
    await writeFileAtomicAsync(this.paths.recordFile(record.session), text);
    this.written(valid, copied);
  }

  private written(record: TaskRecord, copied: boolean): void {
    if (!copied) this.markStale(record);
    this.changed(record.session);
  }

  /**
   * One file in the tasks folder itself changes with every record written, removed or kept aside:
   * a watch on that folder (each VS Code window) sees a record change wherever it was made, and a
   * host's list snapshot older than it is not served (ops/listSnapshot.ts). Also said of a change
   * with no record to write (a hand-made session killed).
   */
  changed(session: string): void {
    try {
      const mark = path.join(this.paths.tasksDir, CHANGED_FILE);
      fs.writeFileSync(mark, `${session}\n`, { mode: 0o600 });
      // The clock set back since a list snapshot was renamed into its folder would date this mark
      // before that snapshot, which would then be served without this change: dated after the
      // folder's last change instead (one stat per record write; a later date only costs answers
      // from the CLI until the clock passes it or the next change).
      const last = fs.statSync(this.paths.snapshotsDir, { throwIfNoEntry: false })?.mtimeMs;
      if (last !== undefined && last >= fs.statSync(mark).mtimeMs) fs.utimesSync(mark, new Date(last + 1), new Date(last + 1));
    } catch {
      /* a ping only: the record itself is written */
    }
  }

  /**
   * Where the copy of the record beside its current attempt's files goes: what the task is rebuilt
   * from if its record becomes unreadable. Undefined when there is no attempt folder to keep it in.
   * A copy that cannot be written makes the record mark it stale.
   */
  private copyFile(record: TaskRecord): string | undefined {
    const last = record.attempts[record.attempts.length - 1];
    // A task with no attempt yet (queued) keeps its copy in folder 0: a queued task whose record
    // is damaged is rebuilt from it, never lost. A folder that cannot be made fails the copy.
    const dir = this.paths.attemptDir(record.session, last?.n ?? 0);
    if (!last && record.state === 'queued') {
      try {
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      } catch {
        return path.join(dir, RECORD_COPY);
      }
    }
    return fs.existsSync(dir) ? path.join(dir, RECORD_COPY) : undefined;
  }

  private copyWritten(record: TaskRecord): void {
    try {
      fs.rmSync(path.join(this.paths.taskDir(record.session), STALE_COPY), { force: true });
    } catch {
      /* left: the task is held rather than rebuilt, the safe side */
    }
  }

  /**
   * A copy that could not be written costs only that, but it must not stay behind older than the
   * record (it could revive a task the user stopped): it is removed and the task folder marked, so
   * that the task is held for a person rather than rebuilt from it. Done only once the record is
   * written: a record that cannot be written either leaves the copy as it was, still its equal.
   */
  private markStale(record: TaskRecord): void {
    const last = record.attempts[record.attempts.length - 1];
    try {
      fs.rmSync(path.join(this.paths.attemptDir(record.session, last?.n ?? 0), RECORD_COPY), { force: true });
    } catch {
      /* the mark below says it */
    }
    try {
      writeFileAtomic(path.join(this.paths.taskDir(record.session), STALE_COPY), `${last?.n ?? 0}\n`);
    } catch {
      /* the copy is gone (a full disk), or it is marked */
    }
  }

  /** Every task folder's session name, sorted. */
  sessions(): string[] {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(this.paths.tasksDir, { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  }

  /** All readable records; the others reported, never silently dropped. */
  list(): { records: TaskRecord[]; corrupt: CorruptRecord[]; newer: NewerRecord[]; unreadable: CorruptRecord[] } {
    const records: TaskRecord[] = [];
    const corrupt: CorruptRecord[] = [];
    const newer: NewerRecord[] = [];
    const unreadable: CorruptRecord[] = [];
    for (const session of this.sessions()) {
      const r = this.read(session);
      if (r.kind === 'ok') records.push(r.record);
      else if (r.kind === 'corrupt') corrupt.push({ session, problem: r.problem });
      else if (r.kind === 'newer') newer.push({ session, version: r.version });
      else if (r.kind === 'unreadable') unreadable.push({ session, problem: r.problem });
    }
    return { records, corrupt, newer, unreadable };
  }

  /**
   * A task's record as last written, from the copy beside its latest attempt's files (the latest
   * one that can be read): what an unreadable record is rebuilt from. Undefined when there is none.
   */
  fromAttempts(session: string): { record: TaskRecord; attempt: number } | undefined {
    let names: string[];
    try {
      names = fs.readdirSync(path.join(this.paths.taskDir(session), 'attempts'));
    } catch {
      return undefined;
    }
    // A copy that could not be written when the record last was: every copy here is older.
    if (fs.existsSync(path.join(this.paths.taskDir(session), STALE_COPY))) return undefined;
    const ns = names.filter((n) => /^\d+$/.test(n)).map(Number).sort((x, y) => y - x);
    for (const n of ns) {
      const dir = this.paths.attemptDir(session, n);
      let text: string | undefined;
      try {
        text = readFileIfExists(path.join(dir, RECORD_COPY));
      } catch {
        return undefined;
      }
      // Only a folder whose attempt never began and was never written down (its launcher died
      // before its record) is passed over: an earlier attempt's copy is older than the record.
      if (text === undefined && !readAttemptFiles(dir).started && !fs.existsSync(attemptFile(dir, 'events'))) continue;
      const r = text === undefined ? undefined : parseRecord(text);
      return r?.kind === 'ok' && r.record.session === session ? { record: r.record, attempt: n } : undefined;
    }
    return undefined;
  }

  /** Task folders whose record is missing though attempts ran in them (a record kept aside, unrebuilt). */
  orphans(): string[] {
    return this.sessions().filter((s) => !fs.existsSync(this.paths.recordFile(s)) && fs.existsSync(path.join(this.paths.taskDir(s), 'attempts')));
  }

  /** Where this task's unreadable records were kept aside, newest last. */
  keptAside(session: string): string[] {
    try {
      return fs.readdirSync(this.paths.quarantineDir).filter((f) => f.startsWith(`${session}.`) && f.endsWith('.task.json')).sort().map((f) => path.join(this.paths.quarantineDir, f));
    } catch {
      return [];
    }
  }

  /** Keeps an unreadable record aside (a copy under `corrupt/`) so a person can look at it. */
  quarantine(session: string): string | undefined {
    const file = this.paths.recordFile(session);
    if (!fs.existsSync(file)) return undefined;
    ensurePrivateDir(this.paths.quarantineDir);
    const dest = path.join(this.paths.quarantineDir, `${session}.${Date.now()}.task.json`);
    fs.renameSync(file, dest);
    this.changed(session);
    return dest;
  }

  remove(session: string): void {
    // Out of the tasks folder first, in one step: the render hub writes a pane's shown offset into
    // its attempt's folder every second (it holds no task's lock), and a file it made in the middle
    // of the removal failed it (ENOTEMPTY; `kill --forget` said so and left half a task). What it
    // writes to the old path afterwards finds no folder; what it had begun is retried away.
    let gone = this.paths.taskDir(session);
    try {
      ensurePrivateDir(this.paths.removingDir);
      const moved = path.join(this.paths.removingDir, `${session}.${process.pid}.${randomBytes(4).toString('hex')}`);
      fs.renameSync(gone, moved);
      gone = moved;
    } catch {
      /* not there (the removal below is a no-op), or not movable: removed in place */
    }
    fs.rmSync(gone, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
    // A forgotten task is a change too: a list snapshot still showing it is stale.
    this.changed(session);
  }
}

/** A record's text as this version reads it. */
function parseRecord(text: string): ReadResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { kind: 'corrupt', problem: `not JSON (${(e as Error).message})` };
  }
  const version = (json as { version?: unknown } | null)?.version;
  if (typeof version === 'number' && Number.isInteger(version) && version > RECORD_VERSION) return { kind: 'newer', version };
  // An older version's record is this version's without what came since (see RECORD_VERSION).
  if (typeof version === 'number' && version >= OLDEST_READABLE_VERSION && version < RECORD_VERSION) json = { ...(json as object), version: RECORD_VERSION };
  const parsed = TaskRecordSchema.safeParse(json);
  if (!parsed.success) {
    return { kind: 'corrupt', problem: parsed.error.issues.map((i) => `${i.path.join('.') || 'record'}: ${i.message}`).join('; ') };
  }
  return { kind: 'ok', record: parsed.data };
}
