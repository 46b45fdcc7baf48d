import fs = require('node:fs');
import type { AgentAdapter } from '../agents/types';
import type { AttemptSummary } from '../agents/transcript';
import { Summarizer } from '../agents/transcript';
import type { Usage } from '../model/record';
import { eachLineFrom } from '../platform/files';

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
    const st = fs.statSync(file, { throwIfNoEntry: false });
    if (!st) return {};
    const fresh = (): Followed => ({ ino: st.ino, offset: 0, summarizer: new Summarizer(adapter, baseline) });
    const known = this.files.get(file);
    // Replaced: from its start.
    let f = known && known.ino === st.ino ? known : fresh();
    // Each line folded in as it is read, none kept: a long attempt's file costs no more memory.
    const read = eachLineFrom(file, f.offset, (line) => f.summarizer.add(line), finished, undefined, () => {
      // Truncated (seen by the read itself): from its start.
      f = fresh();
    });
    if (!read) return {};
    f.offset = read.next;
    // Most recently used last; the oldest goes first.
    this.files.delete(file);
    this.files.set(file, f);
    if (this.files.size > this.maxFiles) this.files.delete(this.files.keys().next().value as string);
    return f.summarizer.summary();
  }
}
