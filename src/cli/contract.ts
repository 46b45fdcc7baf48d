import type { Io } from './context';

/**
 * `resilient-agent --contract N COMMAND …`: how a CLI on another machine is driven. Whatever the
 * command prints becomes one JSON envelope on stdout (its JSON as is, its words as `{ text }`);
 * a failure is an envelope too, with the exit status the command would have had. A CLI asked for a
 * contract it does not speak says which it speaks, and nothing runs.
 */
export function contractAsked(argv: readonly string[]): { asked: number; rest: readonly string[] } | undefined {
  if (argv[0] !== '--contract') return undefined;
  return { asked: Number(argv[1]), rest: argv.slice(2) };
}

export function envelopeIo(err: Io): { io: Io; printed: () => string; meta: Record<string, unknown> } {
  const out: string[] = [];
  const meta: Record<string, unknown> = {};
  return {
    io: { out: (t) => out.push(t.endsWith('\n') ? t.slice(0, -1) : t), err: (t) => err.err(t), meta: (fields) => Object.assign(meta, fields) },
    printed: () => out.join('\n'),
    meta,
  };
}

/** The command's output as the envelope's result: JSON when it printed JSON, else its words. */
export function resultOf(printed: string): unknown {
  const trimmed = printed.trim();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      return JSON.parse(trimmed);
    } catch {
      /* words that begin with a bracket */
    }
  }
  return { text: printed };
}
