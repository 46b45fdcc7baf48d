/**
 * One model API, as the server needs it: how its requests read (classification), the shell tool
 * call its agents expect, its error bodies, and its SSE encoder. Adding an API: its name in `Api`
 * (script.ts), one file beside this one, one line in registry.ts and its path in ModelServer's
 * dispatch (modelServer.ts). The wire helpers the API files share are here too.
 */
import type { RecordedRequest } from './script';

/** What a request of this API carries: its user texts, the latest one, and whether it ends with tool results. */
export interface Reading {
  userTexts: string[];
  lastUser: string;
  lastIsToolResult: boolean;
}

export interface ModelApi {
  /**
   * Classification: sets the request's `toolNames` and `toolResultIds` (and `kind` for a title
   * request) from its JSON body, and returns what it carries.
   */
  read(rec: RecordedRequest): Reading;
  /** The part of the body that is the conversation (the same one again is a retry). */
  conversation(body: any): unknown;
  /** The shell tool call this API's agents run `command` with. */
  shellToolCall(rec: RecordedRequest, command: string): { name: string; args: Record<string, unknown> };
  /** Prefix of the ids of the tool calls made. */
  toolCallIdPrefix: string;
  /** The body of a 401. */
  authErrorBody(): unknown;
  /** The headers and body of a 429 "usage limit" that resets in `resetsIn` seconds. */
  usageLimitResponse(resetsIn: number): { headers: Record<string, string>; body: unknown };
  /** The SSE events of one reply; `id` makes a fresh id. */
  encoder(rec: RecordedRequest, id: () => string): Encoder;
}

// ------------------------------------------------------------------ SSE encoders

export interface Encoder {
  begin(): string[];
  textStart(): string[];
  textDelta(t: string): string;
  textEnd(full: string): string[];
  toolCall(callId: string, name: string, args: string): string[];
  finish(reason: 'stop' | 'tool'): string[];
}

/**
 * What every answered request reports it used, in each API's own fields: 10 tokens in (4 of them
 * read from the cache) and 5 out. Each agent's transcript sums them its own way; the tests check
 * that what the record says matches the requests the model server answered.
 */
export const PER_REQUEST = { input: 10, cached: 4, output: 5 } as const;

export function sse(event: string | null, data: unknown): string {
  return (event ? `event: ${event}\n` : '') + `data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
}

export function splitWords(text: string): string[] {
  const parts = text.match(/\S+\s*|\s+/g);
  return parts && parts.length > 0 ? parts : [text];
}

// ------------------------------------------------------------- classification

export function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((p: any) => {
      if (typeof p === 'string') return p;
      if (p && typeof p === 'object' && (p.type === 'text' || p.type === 'input_text' || p.type === 'output_text') && typeof p.text === 'string') return p.text;
      return '';
    })
    .filter((s) => s.length > 0)
    .join('\n');
}

/** Codex and claude inject context as user messages; don't treat those as the user's prompt. */
export function isInjectedContext(text: string): boolean {
  const t = text.trim();
  return /^<(environment_context|user_instructions|system-reminder|permissions instructions|INSTRUCTIONS|skills_instructions|turn_aborted)\b/i.test(t) || /^# AGENTS\.md instructions/.test(t);
}

// ------------------------------------------------------------------ errors

/** The OpenAI APIs' 401 body (responses and chat). */
export function openAiAuthErrorBody(): unknown {
  return { error: { message: 'Incorrect API key provided: sk-test. You can find your API key at https://platform.openai.com/account/api-keys.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } };
}
