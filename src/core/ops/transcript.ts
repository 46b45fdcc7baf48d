import fs = require('node:fs');
import { adapterFor } from '../agents/registry';
import { noteLine, promptLines, Renderer } from '../agents/transcript';
import type { AgentAdapter } from '../agents/types';
import type { Attempt, TaskRecord, Usage } from '../model/record';
import { usageBefore } from '../model/record';
import { duration } from '../model/time';
import { usageText } from '../model/usage';
import { linesFromEnd, readLinesFrom } from '../platform/files';
import { attemptFile, eventsFile } from '../store/attempt';
import { readHookState } from '../store/hooks';
import type { Core } from './core';

/**
 * Past this much unread, the pane's transcript skips ahead (`logs` shows everything); no read takes
 * more than this, however fast the file grows while it is read.
 */
const BEHIND_BYTES = 4 * 1024 * 1024;

export interface FollowOptions {
  /** Set once the run is over: show what is left, then return. */
  stopped: () => boolean;
  /** Resolves when something may have changed (the file grew, or a stop). */
  changed: (file: string) => Promise<void>;
}

/**
 * An attempt's events read on from where the last look stopped, rendered readable: what the
 * pane's transcript shows (a per-pane `render`, or the shared render hub). Only reads the events
 * file: slow, stopped or killed, it never holds the agent up.
 */
export class EventFollower {
  private readonly r: Renderer;
  /** Skipped ahead into the middle of a line: its rest is not shown (a fragment of an event). */
  private midLine = false;

  /** `offset`: where to go on from (a restarted hub's last shown event); what came before is not rendered. */
  constructor(private readonly file: string, adapter: AgentAdapter, baseline: Usage | undefined, public offset = 0) {
    this.r = new Renderer(adapter, baseline);
    if (offset > 0) this.r.skipped();
  }

  /** The text of what was written since the last step (empty when nothing); `last`: the file is finished. */
  step(last: boolean): string {
    let text = '';
    let size = 0;
    try {
      size = fs.statSync(this.file).size;
    } catch {
      /* not there yet */
    }
    // Nothing new (the common look: another file in the folder changed).
    if (size === this.offset) return text;
    if (size - this.offset > BEHIND_BYTES) {
      const from = lineStartAfter(this.file, size - BEHIND_BYTES / 4);
      text += `${noteLine(`${(from.offset - this.offset).toLocaleString('en-US')} bytes of events not shown here (resilient-agent logs shows them all)`)}\n`;
      this.offset = from.offset;
      this.midLine = from.midLine;
      this.r.skipped();
    }
    // Bounded: a burst written while this reads (a gigabyte in a second) is not followed to its
    // end in one read; what is past the bound is skipped at the next look.
    const read = readLinesFrom(this.file, this.offset, last, undefined, BEHIND_BYTES);
    if (read) {
      const lines = this.midLine && read.lines.length ? read.lines.slice(1) : read.lines;
      if (read.lines.length) this.midLine = false;
      const out = lines.flatMap((l) => this.r.line(l));
      if (out.length) text += `${out.join('\n')}\n`;
      this.offset = read.next;
    }
    return text;
  }
}

/** Shows an attempt's events readable as they come, until `stopped` says the run is over. */
export async function followEvents(file: string, adapter: AgentAdapter, baseline: Usage | undefined, write: (text: string) => void, opts: FollowOptions): Promise<void> {
  const f = new EventFollower(file, adapter, baseline);
  for (;;) {
    const last = opts.stopped();
    const text = f.step(last);
    if (text) write(text);
    if (last) return;
    await opts.changed(file);
  }
}

/**
 * The offset of the first line that starts at or after `at`; when none does yet (a long last line
 * still being written), the file's end, inside that line (`midLine`). Never past the end: an offset
 * past it reads as a truncated file, from its start.
 */
export function lineStartAfter(file: string, at: number): { offset: number; midLine: boolean } {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    for (let pos = Math.max(0, at - 1); ;) {
      const n = fs.readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) return { offset: pos, midLine: true };
      const nl = buf.subarray(0, n).indexOf(10);
      if (nl !== -1) return { offset: pos + nl + 1, midLine: false };
      pos += n;
    }
  } finally {
    fs.closeSync(fd);
  }
}

function startedLine(a: Attempt): string {
  const why: Record<Attempt['cause'], string> = {
    start: 'started', crash: 'resumed after a crash', lost: 'resumed after its tmux session was lost',
    manual: 'resumed by hand', restart: 'started again from the prompt', 'follow-up': 'a follow-up',
  };
  const how = a.cause === 'start' || a.cause === 'restart' ? '' : a.mode === 'resume' ? ' (same session)' : ' (from the prompt)';
  return `── attempt ${a.n}: ${why[a.cause]}${how} at ${a.startedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z')} ──`;
}

function endedLine(a: Attempt): string | undefined {
  if (!a.endedAt) return undefined;
  const ran = duration(Date.parse(a.endedAt) - Date.parse(a.startedAt));
  const how = a.exitCode === 0 ? 'exited 0' : a.signal !== null ? `killed by signal ${a.signal}` : a.exitCode !== null ? `exited ${a.exitCode}` : 'ended';
  return `── attempt ${a.n} ${how} after ${ran}${a.usage ? ` · ${usageText(a.usage)}` : ''} ──`;
}

/** One by one: spread into push, a long attempt's lines (a hundred thousand) overflow the stack. */
function append(out: string[], lines: readonly string[]): void {
  for (const l of lines) out.push(l);
}

/**
 * The last `maxLines` lines of a task's transcript, attempt by attempt: what `logs` prints and the
 * output channel mirrors. Each events file is read from its end only as far as those lines need.
 */
export function taskTranscript(core: Core, record: TaskRecord, maxLines: number): string[] {
  const adapter = adapterFor(record.agent);
  return lastBlocks(record, maxLines, (i, left) => {
    const a = record.attempts[i];
    const end = endedLine(a);
    const head = [startedLine(a)];
    if (a.prompt) append(head, promptLines(a.prompt));
    const want = left - (end ? 1 : 0);
    const file = eventsFile(core.store.paths.attemptDir(record.session, a.n));
    let events: string[] = [];
    let whole = true;
    linesFromEnd(file, (lines, all) => {
      const r = new Renderer(adapter, usageBefore(record, a.n));
      if (!all) r.skipped();
      events = [];
      for (const l of lines) append(events, r.line(l));
      whole = all;
      return events.length >= want;
    });
    // Read as far as `logs` reads at once and still too few lines: the rest is said, not read.
    const block = whole ? [...head, ...events] : events.length >= want ? events : [noteLine('earlier events of this attempt are not read here (too long)'), ...events];
    if (end) block.push(end);
    // Attempts are apart by a blank line.
    if (i > 0) block.unshift('');
    return { lines: block, whole };
  });
}

/** The last `maxLines` lines of a task's events files, attempt by attempt, as the agent wrote them. */
export function taskEvents(core: Core, record: TaskRecord, maxLines: number): string[] {
  return lastBlocks(record, maxLines, (i, left) => {
    let block: string[] = [];
    let whole = true;
    linesFromEnd(eventsFile(core.store.paths.attemptDir(record.session, record.attempts[i].n)), (lines, all) => {
      block = lines;
      whole = all;
      return lines.length >= left;
    });
    return { lines: block, whole };
  });
}

const readers = new Map<AgentAdapter, AgentAdapter>();

/** The agent's adapter reading its session log's entries as events (for a transcript, its words and tokens); undefined: it keeps none we read. */
export function logReader(adapter: AgentAdapter): AgentAdapter | undefined {
  const readLogLine = adapter.interactive?.readLogLine;
  if (!readLogLine) return undefined;
  let reader = readers.get(adapter);
  if (!reader) readers.set(adapter, (reader = { ...adapter, readEvent: readLogLine }));
  return reader;
}

/** The agent's own log of an interactive task's session, as its latest hook named it (a /clear names another). */
export function interactiveLog(core: Core, record: TaskRecord): string | undefined {
  if (!adapterFor(record.agent).interactive?.readLogLine) return undefined;
  for (let i = record.attempts.length - 1; i >= 0; i--) {
    const log = readHookState(core.store.paths.attemptDir(record.session, record.attempts[i].n))?.log;
    if (log) return fs.existsSync(log) ? log : undefined;
  }
  return undefined;
}

/**
 * The last `maxLines` lines of an interactive task's conversation, read from the end of its
 * agent's own session log (every attempt resumes the same session: one log); undefined where the
 * agent keeps none its hooks name (its transcript is then its pane).
 */
export function interactiveTranscript(core: Core, record: TaskRecord, maxLines: number): string[] | undefined {
  const log = interactiveLog(core, record);
  const adapter = adapterFor(record.agent);
  const reader = logReader(adapter);
  if (!log || !reader) return undefined;
  let out: string[] = [];
  let whole = true;
  linesFromEnd(log, (lines, all) => {
    const r = new Renderer(reader);
    if (!all) r.skipped();
    out = [];
    for (const l of lines) append(out, r.line(l));
    whole = all;
    return out.length >= maxLines;
  });
  if (out.length > maxLines) out = out.slice(-maxLines);
  return [noteLine(`${adapter.displayName}'s own log of the session: ${log}${whole ? '' : ' (its end)'}`), ...out];
}

/** An interactive task's hook log, every attempt's (what its agent's hooks said, one JSON line each). */
export function interactiveHookLog(core: Core, record: TaskRecord, maxLines: number): string[] {
  return lastBlocks(record, maxLines, (i, left) => {
    let block: string[] = [];
    let whole = true;
    linesFromEnd(attemptFile(core.store.paths.attemptDir(record.session, record.attempts[i].n), 'hooks'), (lines, all) => {
      block = lines;
      whole = all;
      return lines.length >= left;
    });
    return { lines: block, whole };
  });
}

/**
 * The last `maxLines` lines of the attempts' blocks, read from the last attempt backwards until
 * there are enough, or an attempt could not be read whole (what came before it is not read).
 */
function lastBlocks(record: TaskRecord, maxLines: number, blockOf: (i: number, left: number) => { lines: string[]; whole: boolean }): string[] {
  const blocks: string[][] = [];
  let count = 0;
  for (let i = record.attempts.length - 1; i >= 0 && count < maxLines; i--) {
    const { lines, whole } = blockOf(i, maxLines - count);
    blocks.push(lines);
    count += lines.length;
    if (!whole) break;
  }
  const out: string[] = [];
  for (const b of blocks.reverse()) append(out, b);
  return out.slice(-maxLines);
}
