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
