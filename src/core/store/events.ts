import type { AgentAdapter } from '../agents/types';
import type { AttemptSummary } from '../agents/transcript';
import { Renderer, Summarizer } from '../agents/transcript';
import type { Usage } from '../model/record';
import { readLinesFrom } from '../platform/files';

interface Followed {
  ino: number;
  offset: number;
  summarizer: Summarizer;
}

/**
 * Attempts' summaries (last word, token use) read from their events files, each byte once: a file
 * is read on from where the last look stopped, so a long task's growing file costs only what it grew.
 */
export class EventSummaries {
  private readonly files = new Map<string, Followed>();

  constructor(private readonly maxFiles = 256) {}

  /** `finished`: the attempt is over, so a last line without its newline counts too. */
  summary(file: string, adapter: AgentAdapter, baseline: Usage | undefined, finished: boolean): AttemptSummary {
    let f = this.files.get(file);
    let read = readLinesFrom(file, f?.offset ?? 0, finished);
    if (!read) return {};
    if (f && (f.ino !== read.ino || read.next < f.offset)) {
      // Replaced or truncated: from its start.
      f = undefined;
      read = readLinesFrom(file, 0, finished);
      if (!read) return {};
    }
    f ??= { ino: read.ino, offset: 0, summarizer: new Summarizer(adapter, baseline) };
    for (const line of read.lines) f.summarizer.add(line);
    f.offset = read.next;
    // Most recently used last; the oldest goes first.
    this.files.delete(file);
    this.files.set(file, f);
    if (this.files.size > this.maxFiles) this.files.delete(this.files.keys().next().value as string);
    return f.summarizer.summary();
  }
}
/** An events file as a person reads it (the whole of it), with what it adds up to. */
export function renderEvents(file: string, adapter: AgentAdapter, baseline?: Usage): { lines: string[]; summary: AttemptSummary } {
  const read = readLinesFrom(file, 0, true);
  const r = new Renderer(adapter, baseline);
  const lines = read ? read.lines.flatMap((l) => r.line(l)) : [];
  return { lines, summary: r.summary() };
}
