import * as z from 'zod/mini';

/**
 * The version of what the CLI's `--json` answers hold and how a remote CLI is driven
 * (`resilient-agent --contract N COMMAND …`, answered with one envelope on stdout). A change that
 * an older reader would misread bumps it; a remote of another contract is refused with the fix.
 */
export const CONTRACT = 1;

/** What a CLI driven with `--contract` prints on stdout, whatever happened. */
export const EnvelopeSchema = z.object({
  contract: z.int(),
  ok: z.boolean(),
  /** The answer: the command's JSON, or `{ text }` for a command that answers in words. */
  result: z.optional(z.unknown()),
  error: z.optional(z.string()),
  /** The exit status the command would have had (1 failure, 2 bad usage or input). */
  exit: z.optional(z.int()),
  version: z.optional(z.string()),
  /** `list --host local` only: what its host's list snapshot is called (ops/listSnapshot.ts). */
  snapshot: z.optional(z.object({ hostKey: z.string(), home: z.string() })),
});
export type Envelope = z.infer<typeof EnvelopeSchema>;

/** One envelope, as a CLI driven with `--contract` prints it (a version unknown is left out). */
export function envelope(version: string | undefined, ok: boolean, body: { result?: unknown; error?: string; exit?: number }, meta: Record<string, unknown> = {}): string {
  return JSON.stringify({ contract: CONTRACT, ok, version, ...body, ...meta });
}
