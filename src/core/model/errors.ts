/** Bad usage or bad input: the CLI exits 2 and nothing was created. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A well-formed request that cannot be done now (name in use, task not found, tool missing): exit 1. */
export class TaskError extends Error {
  constructor(message: string, readonly code: 'not-found' | 'conflict' | 'missing-tool' | 'refused' | 'failed' = 'failed') {
    super(message);
    this.name = 'TaskError';
  }
}

/**
 * Words a person gave (a task name, an option), as an error shows them: on one line, in quotes,
 * with newlines and other control characters escaped (never sent to the terminal as they are).
 */
export function quoted(text: string): string {
  // eslint-disable-next-line no-control-regex
  return JSON.stringify(text).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The same, left bare when it is printable ASCII with no space or quote (an option, a plain name). */
export function word(text: string): string {
  return /^[!#-~]+$/.test(text) ? text : quoted(text);
}
