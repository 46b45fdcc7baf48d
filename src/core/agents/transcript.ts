import type { Usage } from '../model/record';
import { sumUsage } from '../model/record';
import { usageText } from '../model/usage';
import type { AgentAdapter } from './types';
import { clip } from './types';

/**
 * What one of an agent's JSON events means to a person, as its adapter reads it. The adapter knows
 * its agent's events; this module knows nothing of any agent: it turns readings into the lines a
 * person reads (the pane, `logs`, the output channel) and folds them into an attempt's summary.
 */
export interface EventReading {
  /** What to show; [] for bookkeeping a person does not need (stream deltas, step markers). */
  lines: string[];
  /** An agent message: the attempt's last one is its last word. */
  message?: string;
  /**
   * Tokens this event reports. `key`: the same key again replaces the earlier count (a message
   * reported twice is counted once). `total`: the attempt's whole use so far, replacing every count.
   * `ofSession`: the whole session's so far, every earlier run of it included.
   */
  usage?: { tokens: Usage; key?: string; total?: boolean; ofSession?: boolean };
  /** A turn ended here: the transcript shows the attempt's token use so far. */
  endsTurn?: boolean;
}

/** The adapter did not recognise the event: shown compactly, never dropped and never fatal. */
export const UNKNOWN: undefined = undefined;

// The marks a transcript uses, one per kind of line, so a person learns them once for every agent.
const MARK = { message: '●', tool: '▶', result: '⎿', error: '✗', note: '·', retry: '↻' } as const;

// Terminal control sequences (CSI, OSC, DCS/PM/APC/SOS, other escapes; their 8-bit forms too) and
// the other control characters but tab and newline. An agent's words, a tool's output, a prompt:
// text to read, never commands to the terminal that shows them (a clipboard write, a title, a
// cleared screen, a line overwritten by a carriage return).
// eslint-disable-next-line no-control-regex
const ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]?|\x9b[0-?]*[ -/]*[@-~]?|[\x1b][\]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|[\x90\x98\x9d\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|\x1b[ -/]*[0-~]?/g;
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

/** Text as it can be shown in a terminal: escape sequences left out, other control characters as �. */
export function printable(text: string): string {
  return text.replace(ESCAPES, '').replace(CONTROLS, '\ufffd');
}

/** An agent message: the text as it is, its first line marked. */
export function messageLines(text: string): string[] {
  const lines = text.replace(/\s+$/, '').split('\n');
  return lines.map((l, i) => (i === 0 ? `${MARK.message} ${l}` : `  ${l}`));
}

/** What a person asked (a prompt typed into an agent, or given to a task): `›`, then its lines. */
export function promptLines(text: string): string[] {
  return printable(text).split('\n').map((l, i) => (i === 0 ? `› ${l}` : `  ${l}`));
}

/** A tool call: which tool and on what (a command, a file, a query), on one line. */
export function toolLine(tool: string, detail?: string): string {
  return `${MARK.tool} ${tool}${detail ? `: ${clip(detail, 200)}` : ''}`;
}

/** A tool's result, shortened to its first lines. */
export function resultLines(output: string, failed = false, maxLines = 4): string[] {
  const lines = output.replace(/\s+$/, '').split('\n').filter((l, i, all) => l.trim() !== '' || i < all.length - 1);
  if (lines.length === 0 || (lines.length === 1 && lines[0].trim() === '')) return [`  ${MARK.result} ${failed ? 'failed, no output' : 'no output'}`];
  const shown = lines.slice(0, maxLines).map((l, i) => `  ${i === 0 ? MARK.result : ' '} ${clip(l, 200)}`);
  if (failed) shown[0] = `  ${MARK.result} failed: ${clip(lines[0], 190)}`;
  if (lines.length > maxLines) shown.push(`    … ${lines.length - maxLines} more line${lines.length - maxLines === 1 ? '' : 's'}`);
  return shown;
}

export function errorLine(text: string): string {
  return `${MARK.error} ${clip(text, 300)}`;
}

export function retryLine(attempt: number | undefined, max: number | undefined, why?: string): string {
  const count = attempt !== undefined ? ` (${attempt}${max !== undefined ? `/${max}` : ''})` : '';
  return `${MARK.retry} retrying${count}${why ? `: ${clip(why, 200)}` : ''}`;
}

export function noteLine(text: string): string {
  return `${MARK.note} ${clip(text, 200)}`;
}

export function usageLine(u: Usage): string {
  return noteLine(`tokens: ${usageText(u)}`);
}

/** A number from an event field, 0 when absent (agents leave out what they did not count). */
export function count(x: unknown): number {
  return typeof x === 'number' && Number.isFinite(x) && x > 0 ? x : 0;
}

function compact(ev: unknown): string {
  const type = ev && typeof ev === 'object' && typeof (ev as { type?: unknown }).type === 'string' ? (ev as { type: string }).type : 'event';
  return noteLine(`${type} ${clip(JSON.stringify(ev), 120)}`);
}

/** What a tool was called on, from the usual names of its arguments (a command, a file, a query). */
export function toolDetail(input: unknown): string | undefined {
  if (typeof input === 'string') return input;
  if (!input || typeof input !== 'object') return undefined;
  const o = input as Record<string, unknown>;
  for (const k of ['command', 'cmd', 'file_path', 'filePath', 'path', 'pattern', 'url', 'query', 'description', 'prompt']) {
    const v = o[k];
    if (typeof v === 'string' && v.trim()) return v;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.join(' ');
  }
  const json = JSON.stringify(o);
  return json === '{}' ? undefined : json;
}

type Parsed =
  | { kind: 'text'; text: string }
  | { kind: 'cut'; text: string }
  | { kind: 'event'; event: unknown; reading: EventReading | undefined };

function parse(adapter: AgentAdapter, line: string): Parsed {
  const t = line.replace(/\r$/, '');
  if (!t.trimStart().startsWith('{')) return { kind: 'text', text: t };
  let event: unknown;
  try {
    event = JSON.parse(t);
  } catch {
    return { kind: 'cut', text: t };
  }
  let reading: EventReading | undefined;
  try {
    reading = event && typeof event === 'object' && !Array.isArray(event) ? adapter.readEvent(event as Record<string, unknown>) : UNKNOWN;
  } catch {
    reading = UNKNOWN;
  }
  return { kind: 'event', event, reading };
}

export interface AttemptSummary {
  /** The agent's last message, when it said one. */
  lastMessage?: string;
  usage?: Usage;
}

/**
 * An attempt's last word and token use, folded over its events one line at a time. `baseline`: the
 * session's use before this attempt, for agents whose counts cover the whole session (a resumed
 * codex thread counts from its first run), so that each attempt keeps only its own.
 */
export class Summarizer {
  private lastMessage: string | undefined;
  private readonly parts = new Map<string, Usage>();
  private anonymous = 0;
  /** Earlier events were not read: the counts kept add up to less than the attempt used. */
  private partial = false;

  constructor(private readonly adapter: AgentAdapter, private readonly baseline?: Usage) {}

  /** Events were left unread here (a transcript read from the middle of its file). */
  skipped(): void {
    this.partial = true;
  }

  /** The counts are the attempt's whole use: none were left unread, or a total came since. */
  whole(): boolean {
    return !this.partial;
  }

  /** One line of the events file. */
  add(line: string): void {
    const p = parse(this.adapter, line);
    if (p.kind === 'event' && p.reading) this.take(p.reading);
  }

  take(reading: EventReading): void {
    if (reading.message !== undefined && reading.message.trim() !== '') this.lastMessage = reading.message.trim();
    const u = reading.usage;
    if (!u) return;
    if (u.total || u.ofSession) {
      this.parts.clear();
      this.partial = false;
    }
    const tokens = sane(u.ofSession && this.baseline ? minus(u.tokens, this.baseline) : u.tokens);
    this.parts.set(u.total || u.ofSession ? 'total' : (u.key ?? `#${++this.anonymous}`), tokens);
  }

  summary(): AttemptSummary {
    const usage = sumUsage([...this.parts.values()]);
    return { ...(this.lastMessage !== undefined ? { lastMessage: keptMessage(this.lastMessage) } : {}), ...(usage ? { usage } : {}) };
  }
}

/**
 * Counts a record can keep, whatever an event said: finite, not negative, at most
 * Number.MAX_SAFE_INTEGER (a sum that reached Infinity would make the record invalid, and its end
 * could never be written).
 */
function sane(u: Usage): Usage {
  const n = (x: number): number => (x > 0 ? Math.min(x, Number.MAX_SAFE_INTEGER) : 0);
  return { inputTokens: n(u.inputTokens), cachedInputTokens: n(u.cachedInputTokens), outputTokens: n(u.outputTokens), ...(u.costUsd !== undefined ? { costUsd: n(u.costUsd) } : {}) };
}

function minus(a: Usage, b: Usage): Usage {
  const d = (x: number, y: number): number => Math.max(0, x - y);
  const cost = a.costUsd !== undefined ? d(a.costUsd, b.costUsd ?? 0) : undefined;
  return { inputTokens: d(a.inputTokens, b.inputTokens), cachedInputTokens: d(a.cachedInputTokens, b.cachedInputTokens), outputTokens: d(a.outputTokens, b.outputTokens), ...(cost !== undefined ? { costUsd: cost } : {}) };
}

/** Summarizes one events file's lines. */
export function summarize(adapter: AgentAdapter, lines: Iterable<string>, baseline?: Usage): AttemptSummary {
  const s = new Summarizer(adapter, baseline);
  for (const line of lines) s.add(line);
  return s.summary();
}

/**
 * Turns an events file into what a person reads, line by line: the agent's messages, its tool
 * calls and their results shortened, errors and retries, and its token use when a turn ends.
 * Lines that are not JSON are the agent's own text, shown as they are; unknown events compactly.
 */
export class Renderer {
  private readonly summarizer: Summarizer;

  constructor(private readonly adapter: AgentAdapter, baseline?: Usage) {
    this.summarizer = new Summarizer(adapter, baseline);
  }

  /** What to show for one line of the events file, printable. */
  line(raw: string): string[] {
    return this.read(raw).map(printable);
  }

  private read(raw: string): string[] {
    const p = parse(this.adapter, raw);
    if (p.kind === 'text') return p.text.trim() === '' ? [] : [p.text];
    // A line cut off (the agent was killed while writing it): said, not fatal.
    if (p.kind === 'cut') return [noteLine(`an event cut off: ${clip(p.text, 100)}`)];
    if (!p.reading) return [compact(p.event)];
    this.summarizer.take(p.reading);
    // Counts that add up are not shown from part of them (events before were not read).
    const usage = p.reading.endsTurn && this.summarizer.whole() ? this.summarizer.summary().usage : undefined;
    return usage ? [...p.reading.lines, usageLine(usage)] : p.reading.lines;
  }

  /** Events were left unread here: token use is shown again only once an event gives it whole. */
  skipped(): void {
    this.summarizer.skipped();
  }

  summary(): AttemptSummary {
    return this.summarizer.summary();
  }
}

/** Kept in the record: long enough to read, short enough for a record. */
export const LAST_MESSAGE_MAX = 4000;

export function keptMessage(text: string): string {
  return text.length > LAST_MESSAGE_MAX ? `${text.slice(0, LAST_MESSAGE_MAX - 1)}…` : text;
}
